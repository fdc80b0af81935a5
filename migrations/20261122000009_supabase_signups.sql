-- Supabase sign-ups waiting to become Stripe customers: a new user (from
-- auth.users) or a new organization (ADR-0008), posted to
-- /webhooks/supabase or written by the optional sign-up trigger
-- (migrations/optional/signup_trigger.sql) inside the sign-up's own
-- transaction. One row per user or organization; a repeat is a no-op.
CREATE TABLE supabase_signups (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind                text NOT NULL CHECK (kind IN ('user', 'organization')),
    -- The user's or organization's id, as text.
    row_id              text NOT NULL,
    -- schema.table the row was inserted into.
    source              text NOT NULL,
    email               text,
    record              jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at         timestamptz NOT NULL DEFAULT now(),
    stripe_customer_id  text,
    processed_at        timestamptz,
    UNIQUE (kind, row_id)
);
ALTER TABLE supabase_signups ENABLE ROW LEVEL SECURITY;
