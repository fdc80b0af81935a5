-- The payment and subscription facts people query: what was received,
-- the latest charge, why a payment failed or was canceled, Stripe's own
-- creation time; when a subscription ends, was canceled or is on trial.
ALTER TABLE payments
    ADD COLUMN amount_received bigint,
    ADD COLUMN latest_charge text,
    ADD COLUMN stripe_created timestamptz,
    ADD COLUMN canceled_at timestamptz,
    ADD COLUMN cancellation_reason text,
    ADD COLUMN last_payment_error_code text,
    ADD COLUMN last_payment_error_message text;
ALTER TABLE subscriptions
    ADD COLUMN cancel_at timestamptz,
    ADD COLUMN canceled_at timestamptz,
    ADD COLUMN ended_at timestamptz,
    ADD COLUMN trial_start timestamptz,
    ADD COLUMN trial_end timestamptz,
    ADD COLUMN collection_method text,
    ADD COLUMN stripe_created timestamptz;
