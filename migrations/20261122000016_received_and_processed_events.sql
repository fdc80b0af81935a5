-- Events are stored as received and marked processed apart.
--
-- `received_events.body` is the delivery's body byte for byte (text), so a
-- stored event can be re-verified against its signature or handed to an
-- auditor as Stripe sent it; PostgreSQL no longer parses it into jsonb on
-- the ingest path. Marking an event processed inserts a narrow row in
-- `processed_events` instead of writing a new version of the whole event
-- row (payload included) to the heap and the WAL.
--
-- `stripe_events` stays the one place to query events: a view with the
-- documented columns, `payload` as jsonb (cast from the body) and
-- `processed_at` from `processed_events`. It runs with the reader's rights
-- (security_invoker), so row-level security on the two tables still keeps
-- Supabase's anon and authenticated roles out.
--
-- Rows stored before this migration keep the text of their jsonb form.
ALTER TABLE stripe_events RENAME TO received_events;
ALTER TABLE received_events RENAME COLUMN payload TO body;
ALTER TABLE received_events ALTER COLUMN body TYPE text USING body::text;
ALTER INDEX stripe_events_pkey RENAME TO received_events_pkey;
ALTER INDEX stripe_events_received_at_brin RENAME TO received_events_received_at_brin;

CREATE TABLE processed_events (
    id            text PRIMARY KEY,
    processed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO processed_events (id, processed_at)
SELECT id, processed_at FROM received_events WHERE processed_at IS NOT NULL;
ALTER TABLE received_events DROP COLUMN processed_at;
ALTER TABLE processed_events ENABLE ROW LEVEL SECURITY;

DO $$
BEGIN
    ALTER TABLE received_events ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available on this server; event bodies stay pglz-compressed';
END
$$;

-- A body that is valid JSON but not valid jsonb (a `\u0000` or a lone
-- surrogate escape, which PostgreSQL refuses and Stripe may send in a
-- customer's text) reads as a null payload rather than failing every query
-- that touches it. tether itself reads the body, never this cast.
CREATE FUNCTION tether_event_payload(body text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN body::jsonb;
EXCEPTION WHEN invalid_text_representation OR untranslatable_character THEN
    RETURN NULL;
END
$$;

CREATE VIEW stripe_events WITH (security_invoker = true) AS
SELECT r.id, r.type, r.api_version, r.created, r.livemode, r.account,
       tether_event_payload(r.body) AS payload, r.body, r.received_at, p.processed_at
FROM received_events r
LEFT JOIN processed_events p ON p.id = r.id;
