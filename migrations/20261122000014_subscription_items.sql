-- Every item of a subscription (seats plus a metered add-on, say), with
-- its price, quantity and, from API 2025-03-31.basil, its own period. The
-- set is replaced whenever the subscription's row is written, so an item
-- removed from the subscription leaves the table with the next event.
-- `subscriptions.price_id` and `quantity` keep the first item for readers
-- of a single-item subscription.
CREATE TABLE subscription_items (
    id                            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id               uuid NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    stripe_subscription_id        text NOT NULL,
    stripe_subscription_item_id   text NOT NULL,
    stripe_price_id               text,
    stripe_product_id             text,
    quantity                      bigint,
    current_period_start          timestamptz,
    current_period_end            timestamptz,
    metadata                      jsonb NOT NULL DEFAULT '{}'::jsonb,
    stripe_created                timestamptz,
    created_at                    timestamptz NOT NULL DEFAULT now(),
    updated_at                    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stripe_subscription_id, stripe_subscription_item_id)
);
CREATE INDEX subscription_items_subscription_id_idx ON subscription_items (subscription_id);
CREATE INDEX subscription_items_stripe_price_id_idx ON subscription_items (stripe_price_id);
ALTER TABLE subscription_items ENABLE ROW LEVEL SECURITY;
