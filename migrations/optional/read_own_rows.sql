-- Opt-in: a signed-in Supabase user reads exactly their own billing rows.
--
--   psql "$DATABASE_URL" -v schema=public -f migrations/optional/read_own_rows.sql
--
-- (set schema to TETHER_SCHEMA if tether lives in its own schema, and
-- expose that schema in the Supabase API settings). The link is the
-- `users` table: users.id is the Supabase auth user (auth.uid()), and
-- users.customer_id their end_customers row (written by `tether link-user`
-- or by your app). Raw events, webhook logs, settings and the queue never
-- get a policy. Safe to run again.
SET search_path TO :"schema";

DROP POLICY IF EXISTS tether_read_own_user ON users;
CREATE POLICY tether_read_own_user ON users
    FOR SELECT TO authenticated
    USING (id = auth.uid());

DROP POLICY IF EXISTS tether_read_own_customer ON end_customers;
CREATE POLICY tether_read_own_customer ON end_customers
    FOR SELECT TO authenticated
    USING (id IN (SELECT u.customer_id FROM users u WHERE u.id = auth.uid()));

-- Every synced table linked to end_customers reads its own rows, and every
-- list (subscription items, invoice lines) its parent's: derived from the
-- schema (migrations/20261122000018_synced_tables.sql), so a new kind whose
-- table has `customer_id uuid REFERENCES end_customers(id)` is covered.
SELECT format('DROP POLICY IF EXISTS %1$I ON %2$I; '
              'CREATE POLICY %1$I ON %2$I FOR SELECT TO authenticated USING (%3$s)',
              'tether_read_own_' || name, name,
              CASE WHEN replaced_as_set
                   THEN format('%I IN (SELECT p.id FROM %I p JOIN users u ON u.customer_id = p.%I WHERE u.id = auth.uid())',
                               parent_column, parent, customer_column)
                   ELSE format('%I IN (SELECT u.customer_id FROM users u WHERE u.id = auth.uid())',
                               customer_column)
              END)
FROM tether_synced_tables(current_schema())
WHERE customer_column IS NOT NULL
\gexec

-- The catalog is what a public pricing page shows: products and prices
-- that are not deleted are readable by everyone, signed in or not.
DROP POLICY IF EXISTS tether_read_catalog ON products;
CREATE POLICY tether_read_catalog ON products
    FOR SELECT TO anon, authenticated
    USING (deleted_at IS NULL AND NOT is_placeholder);

DROP POLICY IF EXISTS tether_read_catalog ON prices;
CREATE POLICY tether_read_catalog ON prices
    FOR SELECT TO anon, authenticated
    USING (deleted_at IS NULL);

-- Stripe's dispute names no customer: it is the user's through its charge.
DROP POLICY IF EXISTS tether_read_own_disputes ON disputes;
CREATE POLICY tether_read_own_disputes ON disputes
    FOR SELECT TO authenticated
    USING (stripe_charge_id IN (SELECT ch.stripe_charge_id FROM charges ch
                                JOIN users u ON u.customer_id = ch.customer_id WHERE u.id = auth.uid()));

-- The generic store names an object's customer by Stripe id only.
DROP POLICY IF EXISTS tether_read_own_stripe_objects ON stripe_objects;
CREATE POLICY tether_read_own_stripe_objects ON stripe_objects
    FOR SELECT TO authenticated
    USING (stripe_customer_id IN (SELECT c.stripe_customer_id FROM end_customers c
                                  JOIN users u ON u.customer_id = c.id WHERE u.id = auth.uid()));
