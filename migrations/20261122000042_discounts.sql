-- Discounts: a coupon (or promotion code) applied to a customer, one of
-- their subscriptions, or an invoice, from `customer.discount.*`. Linked
-- to the customer and the coupon (placeholders when they come later);
-- the subscription and invoice are kept as Stripe ids. A removed discount
-- stays as a tombstone (`deleted_at`), so "had a discount" stays
-- answerable.
CREATE TABLE discounts (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_discount_id         text NOT NULL UNIQUE,
    customer_id                uuid REFERENCES end_customers(id),
    stripe_customer_id         text,
    coupon_id                  uuid REFERENCES coupons(id),
    stripe_coupon_id           text,
    stripe_promotion_code_id   text,
    stripe_subscription_id     text,
    stripe_invoice_id          text,
    starts_at                  timestamptz,
    -- Null for a discount that lasts forever.
    ends_at                    timestamptz,
    livemode                   boolean,
    deleted_at                 timestamptz,
    -- Null for a discount seen only as a deletion so far.
    last_event_id              text,
    last_event_created         timestamptz,
    last_event_rank            smallint,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX discounts_customer_id_idx ON discounts (customer_id);
CREATE INDEX discounts_coupon_id_idx ON discounts (coupon_id);
CREATE INDEX discounts_subscription_idx ON discounts (stripe_subscription_id);
CREATE INDEX discounts_invoice_idx ON discounts (stripe_invoice_id);
CREATE INDEX discounts_last_event_id_idx ON discounts (last_event_id);
ALTER TABLE discounts ENABLE ROW LEVEL SECURITY;
