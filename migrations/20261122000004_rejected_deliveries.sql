-- Verified deliveries that could not be stored (their content is refused),
-- and redeliveries whose body differs from the stored event: what an
-- operator needs to act on them. `tether rejected` lists them. Row-level
-- security with no policy: only tether's own connection reads them.
CREATE TABLE rejected_deliveries (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    received_at   timestamptz NOT NULL DEFAULT now(),
    event_id      text,
    event_type    text,
    reason        text NOT NULL,
    body_excerpt  text,
    body_bytes    integer NOT NULL
);
CREATE INDEX rejected_deliveries_received_at_idx ON rejected_deliveries (received_at);
ALTER TABLE rejected_deliveries ENABLE ROW LEVEL SECURITY;
