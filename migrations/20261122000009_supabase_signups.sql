-- Supabase sign-ups waiting to become Stripe customers: posted to
-- /webhooks/supabase, or written by the optional sign-up trigger
-- (migrations/optional/signup_trigger.sql) inside the sign-up's own
-- transaction. One row per user; a repeat is a no-op.
CREATE TABLE supabase_signups (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL UNIQUE,
    email               text,
    received_at         timestamptz NOT NULL DEFAULT now(),
    stripe_customer_id  text,
    processed_at        timestamptz
);
ALTER TABLE supabase_signups ENABLE ROW LEVEL SECURITY;
