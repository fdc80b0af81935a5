-- The migrations table private too (migration 7 made every other table
-- private). sqlx creates `_sqlx_migrations` in the public schema, where
-- Supabase's default grants let the anon and authenticated roles read,
-- change and delete its rows; a deleted row makes the next `tether migrate`
-- fail. With row-level security on and no policy, those roles see and
-- change nothing. `tether migrate` is unaffected: it runs as the table's
-- owner, to whom RLS does not apply.
ALTER TABLE _sqlx_migrations ENABLE ROW LEVEL SECURITY;
