-- Promotion codes: the customer-facing codes (`FALL20`) of a coupon,
-- linked to it (a placeholder coupon when the code comes first) and, when
-- the code is restricted to one customer, to that customer. Stripe never
-- deletes a promotion code; it deactivates it.
CREATE TABLE promotion_codes (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_promotion_code_id   text NOT NULL UNIQUE,
    code                       text,
    coupon_id                  uuid REFERENCES coupons(id),
    stripe_coupon_id           text,
    active                     boolean,
    -- The only customer who may redeem it, if restricted.
    customer_id                uuid REFERENCES end_customers(id),
    stripe_customer_id         text,
    expires_at                 timestamptz,
    max_redemptions            bigint,
    times_redeemed             bigint,
    metadata                   jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                   boolean,
    stripe_created             timestamptz,
    last_event_id              text NOT NULL,
    last_event_created         timestamptz NOT NULL,
    last_event_rank            smallint NOT NULL,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promotion_codes_code_idx ON promotion_codes (code);
CREATE INDEX promotion_codes_coupon_id_idx ON promotion_codes (coupon_id);
CREATE INDEX promotion_codes_customer_id_idx ON promotion_codes (customer_id);
CREATE INDEX promotion_codes_last_event_id_idx ON promotion_codes (last_event_id);
ALTER TABLE promotion_codes ENABLE ROW LEVEL SECURITY;
