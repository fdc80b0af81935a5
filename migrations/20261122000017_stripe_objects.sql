-- The generic store: every Stripe object of a family without a typed table
-- (issuing, treasury, terminal, identity, climate, ...; sync/src/homes.rs
-- lists them), one row per object with its JSON as its newest event
-- carried it. Version guard and tombstones as on every synced table, so the
-- final row is the same in every delivery order; private by default. A
-- family that later gets a typed table keeps its history here, and
-- `tether replay --type ...` fills the new table from the stored events.
CREATE TABLE stripe_objects (
    -- The object's id; an object without one (balance) is keyed by its type.
    stripe_id           text PRIMARY KEY,
    -- Stripe's `object` (`issuing.card`, `treasury.received_credit`).
    object_type         text NOT NULL,
    -- The connected account whose object it is; null for the platform's own.
    account             text,
    -- The object's `customer`, when it names one.
    stripe_customer_id  text,
    livemode            boolean,
    stripe_created      timestamptz,
    deleted_at          timestamptz,
    -- The object, from its newest event that carried it (null for an
    -- object seen only as a deletion).
    data                jsonb,
    last_event_id       text,
    last_event_created  timestamptz,
    last_event_rank     smallint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_objects_type_idx ON stripe_objects (object_type, stripe_created);
CREATE INDEX stripe_objects_customer_idx ON stripe_objects (stripe_customer_id)
    WHERE stripe_customer_id IS NOT NULL;
CREATE INDEX stripe_objects_account_idx ON stripe_objects (account) WHERE account IS NOT NULL;
CREATE INDEX stripe_objects_last_event_id_idx ON stripe_objects (last_event_id);
ALTER TABLE stripe_objects ENABLE ROW LEVEL SECURITY;
