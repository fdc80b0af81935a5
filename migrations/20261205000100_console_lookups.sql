-- What the operator console looks things up by, so each page stays fast
-- with millions of stored events and many dead letters.
--
-- An event's object id, written by ingest and reconcile from the envelope
-- they already parsed, so "every event that touched cus_..." is an index
-- scan instead of parsing every stored body. Events stored before this
-- migration have none and are found by their own id only.
ALTER TABLE received_events ADD COLUMN object_id text;
CREATE INDEX received_events_object_id_idx ON received_events (object_id, created)
    WHERE object_id IS NOT NULL;

-- Dead letters newest first, in the order `tether_queue::dead::scan`
-- pages through them (keyset, never OFFSET): the thousandth page of
-- 100,000 letters costs what the first does. Partial, so the index holds
-- only the dead letters, never the moving backlog.
CREATE INDEX tether_dead_letters_idx
    ON apalis.jobs ((coalesce(done_at, '-infinity'::timestamptz)) DESC, id DESC)
    WHERE status = 'Killed';
