-- Products and prices: what a pricing page reads. A price links to its
-- product (a placeholder product when the price arrives first). Deleted
-- ones stay as tombstones (deleted_at). Version guard as on every synced
-- table; private by default like every tether table.
CREATE TABLE products (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_product_id   text NOT NULL UNIQUE,
    name                text,
    description         text,
    active              boolean,
    default_price_id    text,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode            boolean,
    stripe_created      timestamptz,
    deleted_at          timestamptz,
    is_placeholder      boolean NOT NULL DEFAULT false,
    last_event_id       text,
    last_event_created  timestamptz,
    last_event_rank     smallint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_last_event_id_idx ON products (last_event_id);
ALTER TABLE products ENABLE ROW LEVEL SECURITY;

CREATE TABLE prices (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_price_id           text NOT NULL UNIQUE,
    product_id                uuid REFERENCES products(id),
    stripe_product_id         text,
    active                    boolean,
    currency                  text,
    unit_amount               bigint,
    type                      text,
    recurring_interval        text,
    recurring_interval_count  integer,
    nickname                  text,
    lookup_key                text,
    metadata                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                  boolean,
    stripe_created            timestamptz,
    deleted_at                timestamptz,
    -- Null for a price seen only as a deletion stub so far.
    last_event_id             text,
    last_event_created        timestamptz,
    last_event_rank           smallint,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prices_product_id_idx ON prices (product_id);
CREATE INDEX prices_last_event_id_idx ON prices (last_event_id);
ALTER TABLE prices ENABLE ROW LEVEL SECURITY;
