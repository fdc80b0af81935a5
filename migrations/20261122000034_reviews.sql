-- Radar reviews: payments held for a person to look at, why, and how each
-- was closed. Linked by Stripe id to the charge and payment intent; a
-- review is the operator's, so no read-own-rows policy reaches it.
-- Version guard; private by default.
CREATE TABLE reviews (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_review_id          text NOT NULL UNIQUE,
    stripe_charge_id          text,
    stripe_payment_intent_id  text,
    reason                    text,
    open                      boolean,
    opened_reason             text,
    closed_reason             text,
    livemode                  boolean,
    stripe_created            timestamptz,
    last_event_id             text NOT NULL,
    last_event_created        timestamptz NOT NULL,
    last_event_rank           smallint NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reviews_open_idx ON reviews (open) WHERE open;
CREATE INDEX reviews_charge_idx ON reviews (stripe_charge_id);
CREATE INDEX reviews_payment_intent_idx ON reviews (stripe_payment_intent_id);
CREATE INDEX reviews_last_event_id_idx ON reviews (last_event_id);
ALTER TABLE reviews ENABLE ROW LEVEL SECURITY;
