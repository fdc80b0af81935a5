-- Radar's early fraud warnings: a card issuer reporting a charge as
-- fraudulent, usually before a dispute. Linked by Stripe id to the charge
-- and payment intent (like disputes); a fraud signal is the operator's,
-- so no read-own-rows policy reaches it. Version guard; private by default.
CREATE TABLE early_fraud_warnings (
    id                              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_early_fraud_warning_id   text NOT NULL UNIQUE,
    stripe_charge_id                text,
    stripe_payment_intent_id        text,
    fraud_type                      text,
    actionable                      boolean,
    livemode                        boolean,
    stripe_created                  timestamptz,
    last_event_id                   text NOT NULL,
    last_event_created              timestamptz NOT NULL,
    last_event_rank                 smallint NOT NULL,
    created_at                      timestamptz NOT NULL DEFAULT now(),
    updated_at                      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX early_fraud_warnings_charge_idx ON early_fraud_warnings (stripe_charge_id);
CREATE INDEX early_fraud_warnings_payment_intent_idx ON early_fraud_warnings (stripe_payment_intent_id);
CREATE INDEX early_fraud_warnings_last_event_id_idx ON early_fraud_warnings (last_event_id);
ALTER TABLE early_fraud_warnings ENABLE ROW LEVEL SECURITY;
