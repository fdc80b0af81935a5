-- Top-ups: money added to the Stripe balance from a bank account, for
-- finance to reconcile. The account's own data, not a customer's: no
-- customer link, so no read-own-rows policy reaches it. Version guard;
-- private by default.
CREATE TABLE topups (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_topup_id             text NOT NULL UNIQUE,
    amount                      bigint,
    currency                    text,
    status                      text,
    description                 text,
    expected_availability_date  timestamptz,
    failure_code                text,
    failure_message             text,
    metadata                    jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                    boolean,
    stripe_created              timestamptz,
    last_event_id               text NOT NULL,
    last_event_created          timestamptz NOT NULL,
    last_event_rank             smallint NOT NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX topups_status_idx ON topups (status);
CREATE INDEX topups_last_event_id_idx ON topups (last_event_id);
ALTER TABLE topups ENABLE ROW LEVEL SECURITY;
