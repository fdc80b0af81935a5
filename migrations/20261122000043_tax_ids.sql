-- A customer's tax ids (an EU VAT number, say) and Stripe's verification
-- of each, linked to the customer (a placeholder when the tax id comes
-- first). A deleted tax id stays as a tombstone.
CREATE TABLE tax_ids (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_tax_id         text NOT NULL UNIQUE,
    customer_id           uuid REFERENCES end_customers(id),
    stripe_customer_id    text,
    type                  text,
    value                 text,
    country               text,
    verification_status   text,
    livemode              boolean,
    stripe_created        timestamptz,
    deleted_at            timestamptz,
    -- Null for a tax id seen only as a deletion so far.
    last_event_id         text,
    last_event_created    timestamptz,
    last_event_rank       smallint,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tax_ids_customer_id_idx ON tax_ids (customer_id);
CREATE INDEX tax_ids_last_event_id_idx ON tax_ids (last_event_id);
ALTER TABLE tax_ids ENABLE ROW LEVEL SECURITY;
