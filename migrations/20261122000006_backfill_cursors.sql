-- Where `tether backfill` is in each kind's list: committed with the rows
-- of each page, so an interrupted run resumes after the last page it wrote.
CREATE TABLE backfill_cursors (
    kind            text PRIMARY KEY,
    starting_after  text,
    objects         bigint NOT NULL DEFAULT 0,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
ALTER TABLE backfill_cursors ENABLE ROW LEVEL SECURITY;
