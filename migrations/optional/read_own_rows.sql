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

DROP POLICY IF EXISTS tether_read_own_payments ON payments;
CREATE POLICY tether_read_own_payments ON payments
    FOR SELECT TO authenticated
    USING (customer_id IN (SELECT u.customer_id FROM users u WHERE u.id = auth.uid()));

DROP POLICY IF EXISTS tether_read_own_subscriptions ON subscriptions;
CREATE POLICY tether_read_own_subscriptions ON subscriptions
    FOR SELECT TO authenticated
    USING (customer_id IN (SELECT u.customer_id FROM users u WHERE u.id = auth.uid()));

DROP POLICY IF EXISTS tether_read_own_subscription_items ON subscription_items;
CREATE POLICY tether_read_own_subscription_items ON subscription_items
    FOR SELECT TO authenticated
    USING (subscription_id IN (SELECT s.id FROM subscriptions s
                               JOIN users u ON u.customer_id = s.customer_id WHERE u.id = auth.uid()));

DROP POLICY IF EXISTS tether_read_own_invoices ON invoices;
CREATE POLICY tether_read_own_invoices ON invoices
    FOR SELECT TO authenticated
    USING (customer_id IN (SELECT u.customer_id FROM users u WHERE u.id = auth.uid()));

DROP POLICY IF EXISTS tether_read_own_invoice_lines ON invoice_lines;
CREATE POLICY tether_read_own_invoice_lines ON invoice_lines
    FOR SELECT TO authenticated
    USING (invoice_id IN (SELECT i.id FROM invoices i
                          JOIN users u ON u.customer_id = i.customer_id WHERE u.id = auth.uid()));

DROP POLICY IF EXISTS tether_read_own_checkout_sessions ON checkout_sessions;
CREATE POLICY tether_read_own_checkout_sessions ON checkout_sessions
    FOR SELECT TO authenticated
    USING (customer_id IN (SELECT u.customer_id FROM users u WHERE u.id = auth.uid()));

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

DROP POLICY IF EXISTS tether_read_own_charges ON charges;
CREATE POLICY tether_read_own_charges ON charges
    FOR SELECT TO authenticated
    USING (customer_id IN (SELECT u.customer_id FROM users u WHERE u.id = auth.uid()));

DROP POLICY IF EXISTS tether_read_own_refunds ON refunds;
CREATE POLICY tether_read_own_refunds ON refunds
    FOR SELECT TO authenticated
    USING (customer_id IN (SELECT u.customer_id FROM users u WHERE u.id = auth.uid()));

-- Stripe's dispute names no customer: it is the user's through its charge.
DROP POLICY IF EXISTS tether_read_own_disputes ON disputes;
CREATE POLICY tether_read_own_disputes ON disputes
    FOR SELECT TO authenticated
    USING (stripe_charge_id IN (SELECT ch.stripe_charge_id FROM charges ch
                                JOIN users u ON u.customer_id = ch.customer_id WHERE u.id = auth.uid()));
