-- Charges, refunds and disputes: what a refund view and support read.
-- Each links to its customer (a placeholder customer when it arrives
-- first, as payments do); the payment intent and charge are kept as Stripe
-- ids, so a link holds whatever order the objects arrive in. Version guard
-- as on every synced table; private by default like every tether table.
CREATE TABLE charges (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_charge_id          text NOT NULL UNIQUE,
    customer_id               uuid REFERENCES end_customers(id),
    stripe_customer_id        text,
    stripe_payment_intent_id  text,
    amount                    bigint,
    amount_captured           bigint,
    -- Never lower than any event of the charge said: a refund only adds.
    amount_refunded           bigint NOT NULL DEFAULT 0,
    currency                  text,
    status                    text,
    paid                      boolean,
    captured                  boolean,
    refunded                  boolean NOT NULL DEFAULT false,
    failure_code              text,
    failure_message           text,
    receipt_url               text,
    description               text,
    metadata                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                  boolean,
    stripe_created            timestamptz,
    last_event_id             text NOT NULL,
    last_event_created        timestamptz NOT NULL,
    last_event_rank           smallint NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charges_customer_id_idx ON charges (customer_id);
CREATE INDEX charges_payment_intent_idx ON charges (stripe_payment_intent_id);
CREATE INDEX charges_last_event_id_idx ON charges (last_event_id);
ALTER TABLE charges ENABLE ROW LEVEL SECURITY;

CREATE TABLE refunds (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_refund_id          text NOT NULL UNIQUE,
    customer_id               uuid REFERENCES end_customers(id),
    stripe_customer_id        text,
    stripe_charge_id          text,
    stripe_payment_intent_id  text,
    amount                    bigint,
    currency                  text,
    status                    text,
    reason                    text,
    failure_reason            text,
    metadata                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                  boolean,
    stripe_created            timestamptz,
    last_event_id             text NOT NULL,
    last_event_created        timestamptz NOT NULL,
    last_event_rank           smallint NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_customer_id_idx ON refunds (customer_id);
CREATE INDEX refunds_charge_idx ON refunds (stripe_charge_id);
CREATE INDEX refunds_payment_intent_idx ON refunds (stripe_payment_intent_id);
CREATE INDEX refunds_last_event_id_idx ON refunds (last_event_id);
ALTER TABLE refunds ENABLE ROW LEVEL SECURITY;

-- Stripe's dispute has no customer field: it is reached through its charge.
CREATE TABLE disputes (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_dispute_id         text NOT NULL UNIQUE,
    stripe_charge_id          text,
    stripe_payment_intent_id  text,
    amount                    bigint,
    currency                  text,
    status                    text,
    reason                    text,
    evidence_due_by           timestamptz,
    is_charge_refundable      boolean,
    metadata                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                  boolean,
    stripe_created            timestamptz,
    last_event_id             text NOT NULL,
    last_event_created        timestamptz NOT NULL,
    last_event_rank           smallint NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disputes_charge_idx ON disputes (stripe_charge_id);
CREATE INDEX disputes_payment_intent_idx ON disputes (stripe_payment_intent_id);
CREATE INDEX disputes_last_event_id_idx ON disputes (last_event_id);
ALTER TABLE disputes ENABLE ROW LEVEL SECURITY;

-- A refund seen from the payment, without a join. NOT NULL DEFAULT 0: a
-- payment nobody refunded reads 0, not "unknown", so `amount -
-- amount_refunded` needs no COALESCE. Kept equal to what `charges` and
-- `refunds` know for the payment intent, whichever arrived first.
ALTER TABLE payments ADD COLUMN amount_refunded bigint NOT NULL DEFAULT 0;
