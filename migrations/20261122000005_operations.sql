-- What operator commands need to stay cheap on millions of rows.
--
-- BRIN indexes on the arrival times: a few pages each and nearly free to
-- maintain on append-only tables, yet enough for "the last 15 minutes"
-- (tether status) and "older than the retention window" (tether prune).
CREATE INDEX stripe_events_received_at_brin ON stripe_events USING brin (received_at);
CREATE INDEX webhook_logs_created_at_brin ON webhook_logs USING brin (created_at);

-- prune never removes the event a synced row's version points at.
CREATE INDEX end_customers_last_event_id_idx ON end_customers (last_event_id);
CREATE INDEX payments_last_event_id_idx ON payments (last_event_id);
CREATE INDEX subscriptions_last_event_id_idx ON subscriptions (last_event_id);

-- A dead letter an operator discarded (`tether dlq discard`).
ALTER TABLE webhook_logs DROP CONSTRAINT webhook_logs_status_check;
ALTER TABLE webhook_logs ADD CONSTRAINT webhook_logs_status_check
    CHECK (status IN ('success', 'error', 'dead', 'ignored', 'stale', 'duplicate', 'discarded'));
