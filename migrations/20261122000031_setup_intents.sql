-- Setup intents: saving a payment method for later, and why it failed.
-- Linked to the customer (a placeholder when the intent comes first), the
-- payment method by Stripe id. Version guard; private by default.
CREATE TABLE setup_intents (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_setup_intent_id     text NOT NULL UNIQUE,
    customer_id                uuid REFERENCES end_customers(id),
    stripe_customer_id         text,
    stripe_payment_method_id   text,
    status                     text,
    usage                      text,
    last_setup_error_code      text,
    last_setup_error_message   text,
    cancellation_reason        text,
    metadata                   jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                   boolean,
    stripe_created             timestamptz,
    last_event_id              text NOT NULL,
    last_event_created         timestamptz NOT NULL,
    last_event_rank            smallint NOT NULL,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX setup_intents_customer_id_idx ON setup_intents (customer_id);
CREATE INDEX setup_intents_last_event_id_idx ON setup_intents (last_event_id);
ALTER TABLE setup_intents ENABLE ROW LEVEL SECURITY;
