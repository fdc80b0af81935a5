-- Invoice items: a charge or credit added to a customer's next invoice (a
-- one-off fee, a proration). Linked to the customer (a placeholder when the
-- item comes first); the invoice, subscription and price by Stripe id, so
-- a link holds in any delivery order. A deleted item stays as a tombstone.
CREATE TABLE invoice_items (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_invoice_item_id  text NOT NULL UNIQUE,
    customer_id             uuid REFERENCES end_customers(id),
    stripe_customer_id      text,
    stripe_invoice_id       text,
    stripe_subscription_id  text,
    stripe_price_id         text,
    amount                  bigint,
    currency                text,
    quantity                bigint,
    description             text,
    proration               boolean,
    period_start            timestamptz,
    period_end              timestamptz,
    metadata                jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                boolean,
    stripe_created          timestamptz,
    deleted_at              timestamptz,
    -- Null for an item seen only as a deletion so far.
    last_event_id           text,
    last_event_created      timestamptz,
    last_event_rank         smallint,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoice_items_customer_id_idx ON invoice_items (customer_id);
CREATE INDEX invoice_items_stripe_invoice_id_idx ON invoice_items (stripe_invoice_id);
CREATE INDEX invoice_items_stripe_subscription_id_idx ON invoice_items (stripe_subscription_id);
CREATE INDEX invoice_items_last_event_id_idx ON invoice_items (last_event_id);
ALTER TABLE invoice_items ENABLE ROW LEVEL SECURITY;
