-- Payouts: money moving from the Stripe balance to a bank account or
-- card, for finance to reconcile. The account's own data, not a
-- customer's: no customer link, so no read-own-rows policy reaches it.
-- Version guard; private by default.
CREATE TABLE payouts (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_payout_id        text NOT NULL UNIQUE,
    amount                  bigint,
    currency                text,
    status                  text,
    arrival_date            timestamptz,
    method                  text,
    type                    text,
    automatic               boolean,
    failure_code            text,
    failure_message         text,
    destination             text,
    reconciliation_status   text,
    metadata                jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                boolean,
    stripe_created          timestamptz,
    last_event_id           text NOT NULL,
    last_event_created      timestamptz NOT NULL,
    last_event_rank         smallint NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payouts_status_idx ON payouts (status);
CREATE INDEX payouts_arrival_date_idx ON payouts (arrival_date);
CREATE INDEX payouts_last_event_id_idx ON payouts (last_event_id);
ALTER TABLE payouts ENABLE ROW LEVEL SECURITY;
