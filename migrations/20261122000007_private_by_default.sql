-- Private by default. Supabase serves the public schema through its REST
-- API to anyone holding the project's anon key, and its default grants let
-- the anon and authenticated roles read and write every table there. With
-- row-level security on and no policy, those roles see and change nothing.
-- tether's own connection owns the tables and is not subject to RLS;
-- Supabase's service_role bypasses it.
--
-- Read-own-rows policies for signed-in users are opt-in:
-- migrations/optional/read_own_rows.sql.
ALTER TABLE stripe_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE end_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_logs ENABLE ROW LEVEL SECURITY;
