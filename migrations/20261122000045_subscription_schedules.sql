-- Subscription schedules: planned plan changes ("pro from March"), linked
-- to the customer (a placeholder when the schedule comes first) and, by
-- Stripe id, to the subscription they drive. Their phases are a list
-- replaced as a set whenever the schedule's row is written, as
-- subscription items are.
CREATE TABLE subscription_schedules (
    id                                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_subscription_schedule_id   text NOT NULL UNIQUE,
    customer_id                       uuid REFERENCES end_customers(id),
    stripe_customer_id                text,
    stripe_subscription_id            text,
    status                            text,
    end_behavior                      text,
    current_phase_start               timestamptz,
    current_phase_end                 timestamptz,
    canceled_at                       timestamptz,
    released_at                       timestamptz,
    completed_at                      timestamptz,
    metadata                          jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                          boolean,
    stripe_created                    timestamptz,
    last_event_id                     text NOT NULL,
    last_event_created                timestamptz NOT NULL,
    last_event_rank                   smallint NOT NULL,
    created_at                        timestamptz NOT NULL DEFAULT now(),
    updated_at                        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscription_schedules_customer_id_idx ON subscription_schedules (customer_id);
CREATE INDEX subscription_schedules_subscription_idx ON subscription_schedules (stripe_subscription_id);
CREATE INDEX subscription_schedules_last_event_id_idx ON subscription_schedules (last_event_id);
ALTER TABLE subscription_schedules ENABLE ROW LEVEL SECURITY;

-- A phase has no id of its own: it is the schedule's phase number
-- `position` (0 first), in Stripe's order.
CREATE TABLE subscription_schedule_phases (
    id                                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_schedule_id          uuid NOT NULL REFERENCES subscription_schedules(id) ON DELETE CASCADE,
    stripe_subscription_schedule_id   text NOT NULL,
    position                          integer NOT NULL,
    start_date                        timestamptz,
    end_date                          timestamptz,
    currency                          text,
    -- [{"price": "price_...", "quantity": 1}, ...]
    items                             jsonb NOT NULL DEFAULT '[]'::jsonb,
    metadata                          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at                        timestamptz NOT NULL DEFAULT now(),
    updated_at                        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stripe_subscription_schedule_id, position)
);
CREATE INDEX subscription_schedule_phases_schedule_id_idx
    ON subscription_schedule_phases (subscription_schedule_id);
ALTER TABLE subscription_schedule_phases ENABLE ROW LEVEL SECURITY;
