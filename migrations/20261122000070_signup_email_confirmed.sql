-- Whether a user's email was confirmed when they signed up. Anyone can sign
-- up with anyone's address, so only a confirmed email may match an existing
-- Stripe customer (ops/src/link_user.rs). Sign-ups stored before this
-- column count as unconfirmed: they get a customer of their own.
ALTER TABLE supabase_signups ADD COLUMN email_confirmed boolean NOT NULL DEFAULT false;
