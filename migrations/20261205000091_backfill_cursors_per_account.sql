-- A backfill cursor per connected account and kind: `tether backfill
-- --account acct_...` resumes each account where it stopped. The
-- platform's own lists keep their cursors under account '' (a key column
-- cannot be null).
ALTER TABLE backfill_cursors ADD COLUMN account text NOT NULL DEFAULT '';
ALTER TABLE backfill_cursors DROP CONSTRAINT backfill_cursors_pkey;
ALTER TABLE backfill_cursors ADD PRIMARY KEY (account, kind);
