-- Opt-in (Supabase): billing as SQL, for an app's queries and its own
-- row-level security policies.
--
--   psql "$DATABASE_URL" -v schema=public -f migrations/optional/billing_state.sql
--
-- (schema: where tether's tables are, TETHER_SCHEMA). The signed-in user
-- is auth.uid(), linked to their customer by `users` as in
-- read_own_rows.sql. Both functions run as their owner (SECURITY DEFINER,
-- with a fixed search_path so a caller's objects cannot stand in for
-- tether's) and return only the caller's own state, so they work whether
-- or not the read-own-rows policies are installed. Safe to run again.

-- Whether the signed-in user's customer has the feature `lookup_key`
-- active now. For a policy on an app's table:
--   CREATE POLICY pro_exports ON exports FOR SELECT TO authenticated
--       USING ((SELECT has_entitlement('pro-export')));
-- Wrapped in a sub-select PostgreSQL evaluates it once per query rather
-- than once per row. Three index probes: users by id, the customer's
-- summary, its entitlement by lookup key.
CREATE OR REPLACE FUNCTION :"schema".has_entitlement(feature_lookup_key text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = :"schema", pg_catalog AS $$
    SELECT EXISTS (
        SELECT FROM users u
        JOIN entitlement_summaries s ON s.customer_id = u.customer_id
        JOIN active_entitlements e ON e.summary_id = s.id AND e.lookup_key = feature_lookup_key
        WHERE u.id = auth.uid())
$$;

-- The signed-in user's billing in one row (none when not linked): their
-- customer, their current subscriptions (status active, trialing or
-- past_due: Stripe still bills them) with status and period end, and
-- their active entitlements' lookup keys. From supabase-js:
-- `supabase.rpc('billing_state')`.
CREATE OR REPLACE FUNCTION :"schema".billing_state()
RETURNS TABLE (stripe_customer_id text, subscriptions jsonb, entitlements text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = :"schema", pg_catalog AS $$
    SELECT c.stripe_customer_id,
           COALESCE((SELECT jsonb_agg(jsonb_build_object(
                                'stripe_subscription_id', s.stripe_subscription_id,
                                'status', s.status, 'price_id', s.price_id,
                                'current_period_end', s.current_period_end,
                                'cancel_at_period_end', s.cancel_at_period_end)
                            ORDER BY s.stripe_subscription_id)
                     FROM subscriptions s
                     WHERE s.customer_id = c.id AND s.status IN ('active', 'trialing', 'past_due')),
                    '[]'::jsonb),
           ARRAY(SELECT DISTINCT e.lookup_key
                 FROM entitlement_summaries es JOIN active_entitlements e ON e.summary_id = es.id
                 WHERE es.customer_id = c.id AND e.lookup_key IS NOT NULL
                 ORDER BY 1)
    FROM users u JOIN end_customers c ON c.id = u.customer_id
    WHERE u.id = auth.uid()
$$;

-- anon may call them (an anonymous caller has no entitlement and no
-- billing state), so a policy naming has_entitlement also holds for anon.
REVOKE ALL ON FUNCTION :"schema".has_entitlement(text), :"schema".billing_state() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION :"schema".has_entitlement(text), :"schema".billing_state()
    TO anon, authenticated, service_role;
