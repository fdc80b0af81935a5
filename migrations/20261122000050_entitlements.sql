-- Entitlements: what a customer may use. `features` are the account's
-- features (Stripe sends no event for them: they come from backfill);
-- `entitlement_summaries` holds one versioned row per customer, and
-- `active_entitlements` that customer's set, replaced as a whole by each
-- `entitlements.active_entitlement_summary.updated` newer than the row.
-- The version guard applies to the summary, so an older summary delivered
-- late never brings back an entitlement a newer one took away.
CREATE TABLE features (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_feature_id   text NOT NULL UNIQUE,
    lookup_key          text,
    name                text,
    active              boolean,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode            boolean,
    last_event_id       text NOT NULL,
    last_event_created  timestamptz NOT NULL,
    last_event_rank     smallint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX features_lookup_key_idx ON features (lookup_key);
CREATE INDEX features_last_event_id_idx ON features (last_event_id);
ALTER TABLE features ENABLE ROW LEVEL SECURITY;

-- Stripe's summary has no id of its own: the customer is its identity.
CREATE TABLE entitlement_summaries (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_customer_id  text NOT NULL UNIQUE,
    customer_id         uuid REFERENCES end_customers(id),
    livemode            boolean,
    last_event_id       text NOT NULL,
    last_event_created  timestamptz NOT NULL,
    last_event_rank     smallint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entitlement_summaries_customer_id_idx ON entitlement_summaries (customer_id);
CREATE INDEX entitlement_summaries_last_event_id_idx ON entitlement_summaries (last_event_id);
ALTER TABLE entitlement_summaries ENABLE ROW LEVEL SECURITY;

CREATE TABLE active_entitlements (
    id                            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    summary_id                    uuid NOT NULL REFERENCES entitlement_summaries(id) ON DELETE CASCADE,
    stripe_customer_id            text NOT NULL,
    stripe_active_entitlement_id  text NOT NULL,
    stripe_feature_id             text,
    lookup_key                    text,
    livemode                      boolean,
    created_at                    timestamptz NOT NULL DEFAULT now(),
    updated_at                    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stripe_customer_id, stripe_active_entitlement_id)
);
-- `has_entitlement` (migrations/optional/billing_state.sql) is one probe
-- of this index after the user's customer and summary.
CREATE INDEX active_entitlements_summary_lookup_key_idx ON active_entitlements (summary_id, lookup_key);
CREATE INDEX active_entitlements_feature_idx ON active_entitlements (stripe_feature_id);
ALTER TABLE active_entitlements ENABLE ROW LEVEL SECURITY;
