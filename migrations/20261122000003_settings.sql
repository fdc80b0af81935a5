-- Settings tether keeps for itself, such as the development signing secret
-- `tether up` makes when STRIPE_WEBHOOK_SECRET is not set. Row-level
-- security with no policy: only tether's own (owner) connection reads it.
CREATE TABLE tether_settings (
    key         text PRIMARY KEY,
    value       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tether_settings ENABLE ROW LEVEL SECURITY;
