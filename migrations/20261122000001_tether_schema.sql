-- tether's tables. Columns named in the README are fixed; the rest are ours.
--
-- Every synced row remembers the event that last wrote it:
-- (last_event_created, last_event_rank, last_event_id). A write only happens
-- when the incoming event sorts after the stored one, so an older event can
-- never overwrite newer state, whatever the delivery order.

CREATE TABLE stripe_events (
    id            text PRIMARY KEY,              -- Stripe event id, evt_...
    type          text NOT NULL,
    api_version   text,
    created       timestamptz NOT NULL,
    livemode      boolean NOT NULL DEFAULT false,
    account       text,
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz
);

CREATE TABLE end_customers (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_customer_id  text UNIQUE,
    email               text,
    name                text,
    phone               text,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- A deleted Stripe customer stays as a tombstone.
    deleted_at          timestamptz,
    -- A row created for a payment or subscription that arrived before its
    -- customer; the customer's own events fill it in.
    is_placeholder      boolean NOT NULL DEFAULT false,
    last_event_id       text,
    last_event_created  timestamptz,
    last_event_rank     smallint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payments (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id               uuid REFERENCES end_customers(id),
    stripe_payment_intent_id  text NOT NULL UNIQUE,
    amount                    bigint,
    currency                  text,
    status                    text,
    description               text,
    metadata                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_event_id             text NOT NULL,
    last_event_created        timestamptz NOT NULL,
    last_event_rank           smallint NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_customer_id_idx ON payments (customer_id);

CREATE TABLE subscriptions (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id             uuid REFERENCES end_customers(id),
    stripe_subscription_id  text NOT NULL UNIQUE,
    status                  text,
    price_id                text,
    quantity                bigint,
    cancel_at_period_end    boolean,
    current_period_start    timestamptz,
    current_period_end      timestamptz,
    metadata                jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_event_id           text NOT NULL,
    last_event_created      timestamptz NOT NULL,
    last_event_rank         smallint NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_customer_id_idx ON subscriptions (customer_id);

-- Supabase auth users, linked to their Stripe customer.
CREATE TABLE users (
    id           uuid PRIMARY KEY,
    email        text,
    customer_id  uuid REFERENCES end_customers(id),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_customer_id_idx ON users (customer_id);

CREATE TABLE organizations (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text NOT NULL,
    stripe_customer_id  text UNIQUE,
    industry            text,
    region              text,
    size                text,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_logs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_type     text NOT NULL,
    event_id       text NOT NULL,
    status         text NOT NULL CHECK (status IN ('success', 'error', 'dead', 'ignored', 'stale', 'duplicate')),
    error_message  text,
    attempt        integer,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_logs_event_id_idx ON webhook_logs (event_id);
