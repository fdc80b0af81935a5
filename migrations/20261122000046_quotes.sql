-- Quotes: a priced offer a customer accepts, linked to the customer (a
-- placeholder when the quote comes first) and, by Stripe id, to the
-- subscription and invoice accepting it made.
CREATE TABLE quotes (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_quote_id         text NOT NULL UNIQUE,
    customer_id             uuid REFERENCES end_customers(id),
    stripe_customer_id      text,
    status                  text,
    number                  text,
    amount_subtotal         bigint,
    amount_total            bigint,
    currency                text,
    expires_at              timestamptz,
    stripe_subscription_id  text,
    stripe_invoice_id       text,
    metadata                jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                boolean,
    stripe_created          timestamptz,
    last_event_id           text NOT NULL,
    last_event_created      timestamptz NOT NULL,
    last_event_rank         smallint NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quotes_customer_id_idx ON quotes (customer_id);
CREATE INDEX quotes_last_event_id_idx ON quotes (last_event_id);
ALTER TABLE quotes ENABLE ROW LEVEL SECURITY;
