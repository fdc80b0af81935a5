-- Events read from Stripe's event log (`tether follow`, `tether reconcile`)
-- rather than delivered as webhooks: a narrow row each, so the event row
-- is still written once, and pruning an event removes its mark with it.
CREATE TABLE polled_events (
    id         text PRIMARY KEY REFERENCES received_events(id) ON DELETE CASCADE,
    polled_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE polled_events ENABLE ROW LEVEL SECURITY;

CREATE OR REPLACE VIEW stripe_events WITH (security_invoker = true) AS
SELECT r.id, r.type, r.api_version, r.created, r.livemode, r.account,
       tether_event_payload(r.body) AS payload, r.body, r.received_at, p.processed_at,
       q.polled_at
FROM received_events r
LEFT JOIN processed_events p ON p.id = r.id
LEFT JOIN polled_events q ON q.id = r.id;
