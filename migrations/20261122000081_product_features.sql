-- Product features: which entitlement feature each product grants, from
-- `tether backfill product-features` (Stripe sends no event for them).
-- Joined to `products` and `features` by Stripe id. Version guard; private
-- by default.
CREATE TABLE product_features (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_product_feature_id   text NOT NULL UNIQUE,
    stripe_product_id           text,
    stripe_feature_id           text,
    lookup_key                  text,
    feature_name                text,
    livemode                    boolean,
    last_event_id               text NOT NULL,
    last_event_created          timestamptz NOT NULL,
    last_event_rank             smallint NOT NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_features_product_idx ON product_features (stripe_product_id);
CREATE INDEX product_features_lookup_key_idx ON product_features (lookup_key);
CREATE INDEX product_features_last_event_id_idx ON product_features (last_event_id);
ALTER TABLE product_features ENABLE ROW LEVEL SECURITY;
