-- Invoices: what a billing page reads, with the links Stripe hosts
-- (hosted_invoice_url, invoice_pdf). An invoice links to its customer (a
-- placeholder customer when the invoice arrives first) and names its
-- subscription by Stripe id, so the link holds in any delivery order.
-- Deleted (draft) invoices stay as tombstones. Each invoice's lines are a
-- set replaced whenever the invoice's row is written.
CREATE TABLE invoices (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_invoice_id       text NOT NULL UNIQUE,
    customer_id             uuid REFERENCES end_customers(id),
    stripe_customer_id      text,
    stripe_subscription_id  text,
    status                  text,
    number                  text,
    currency                text,
    amount_due              bigint,
    amount_paid             bigint,
    amount_remaining        bigint,
    subtotal                bigint,
    total                   bigint,
    billing_reason          text,
    collection_method       text,
    period_start            timestamptz,
    period_end              timestamptz,
    due_date                timestamptz,
    paid_at                 timestamptz,
    hosted_invoice_url      text,
    invoice_pdf             text,
    metadata                jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                boolean,
    stripe_created          timestamptz,
    deleted_at              timestamptz,
    -- Null for an invoice seen only as a deletion so far.
    last_event_id           text,
    last_event_created      timestamptz,
    last_event_rank         smallint,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_customer_id_idx ON invoices (customer_id);
CREATE INDEX invoices_stripe_subscription_id_idx ON invoices (stripe_subscription_id);
CREATE INDEX invoices_last_event_id_idx ON invoices (last_event_id);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;

CREATE TABLE invoice_lines (
    id                            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    invoice_id                    uuid NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    stripe_invoice_id             text NOT NULL,
    -- Unique per invoice only: lines of old API versions reuse ids.
    stripe_invoice_line_id        text NOT NULL,
    stripe_price_id               text,
    stripe_subscription_id        text,
    stripe_subscription_item_id   text,
    description                   text,
    amount                        bigint,
    currency                      text,
    quantity                      bigint,
    period_start                  timestamptz,
    period_end                    timestamptz,
    metadata                      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at                    timestamptz NOT NULL DEFAULT now(),
    updated_at                    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stripe_invoice_id, stripe_invoice_line_id)
);
CREATE INDEX invoice_lines_invoice_id_idx ON invoice_lines (invoice_id);
CREATE INDEX invoice_lines_stripe_price_id_idx ON invoice_lines (stripe_price_id);
ALTER TABLE invoice_lines ENABLE ROW LEVEL SECURITY;
