-- Coupons: what a pricing page and a checkout discount with. A promotion
-- code or discount that names a coupon before the coupon's own events get
-- a placeholder row (as a price does its product). A deleted coupon stays
-- as a tombstone: discounts made from it still name it. Version guard as
-- on every synced table; private by default like every tether table.
CREATE TABLE coupons (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Coupon ids are chosen by the account (`SUMMER25`): no prefix.
    stripe_coupon_id    text NOT NULL UNIQUE,
    name                text,
    percent_off         numeric,
    amount_off          bigint,
    currency            text,
    duration            text,
    duration_in_months  integer,
    max_redemptions     bigint,
    times_redeemed      bigint,
    redeem_by           timestamptz,
    valid               boolean,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode            boolean,
    stripe_created      timestamptz,
    deleted_at          timestamptz,
    is_placeholder      boolean NOT NULL DEFAULT false,
    -- Null for a placeholder, or a coupon seen only as a deletion so far.
    last_event_id       text,
    last_event_created  timestamptz,
    last_event_rank     smallint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupons_last_event_id_idx ON coupons (last_event_id);
ALTER TABLE coupons ENABLE ROW LEVEL SECURITY;
