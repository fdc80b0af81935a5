-- Checkout sessions: the usual Supabase purchase flow ends in
-- checkout.session.completed, whose client_reference_id is the signed-in
-- user; tether links that user to the session's customer in `users`.
CREATE TABLE checkout_sessions (
    id                           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_checkout_session_id   text NOT NULL UNIQUE,
    customer_id                  uuid REFERENCES end_customers(id),
    stripe_customer_id           text,
    stripe_subscription_id       text,
    stripe_payment_intent_id     text,
    client_reference_id          text,
    mode                         text,
    status                       text,
    payment_status               text,
    amount_total                 bigint,
    currency                     text,
    livemode                     boolean,
    stripe_created               timestamptz,
    last_event_id                text,
    last_event_created           timestamptz,
    last_event_rank              smallint,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checkout_sessions_customer_id_idx ON checkout_sessions (customer_id);
CREATE INDEX checkout_sessions_last_event_id_idx ON checkout_sessions (last_event_id);
ALTER TABLE checkout_sessions ENABLE ROW LEVEL SECURITY;
