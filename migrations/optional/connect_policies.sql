-- Opt-in, for Stripe Connect platforms whose app users each belong to one
-- (or a few) connected accounts: a signed-in Supabase user reads every
-- synced row of their accounts.
--
--   psql "$DATABASE_URL" -v schema=public -f migrations/optional/connect_policies.sql
--
-- The link is `account_members`: one row per (Supabase auth user,
-- connected account), written by your app (for example when a seller
-- finishes Connect onboarding). Rows of the platform's own objects
-- (`account` null) are never reached by these policies. Policies add up:
-- with read_own_rows.sql installed too, a user reads their own customer's
-- rows and their accounts' rows. Safe to run again.
SET search_path TO :"schema";

CREATE TABLE IF NOT EXISTS account_members (
    user_id            uuid NOT NULL,
    stripe_account_id  text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, stripe_account_id)
);
CREATE INDEX IF NOT EXISTS account_members_account_idx ON account_members (stripe_account_id);
ALTER TABLE account_members ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON account_members TO authenticated;

-- A user sees which accounts they belong to, and changes nothing.
DROP POLICY IF EXISTS tether_read_own_memberships ON account_members;
CREATE POLICY tether_read_own_memberships ON account_members
    FOR SELECT TO authenticated
    USING (user_id = auth.uid());

-- Every synced table, read from the schema (every one has `account`), so
-- a new kind is covered.
SELECT format('DROP POLICY IF EXISTS %1$I ON %2$I; '
              'CREATE POLICY %1$I ON %2$I FOR SELECT TO authenticated USING ('
              'account IN (SELECT m.stripe_account_id FROM account_members m WHERE m.user_id = auth.uid()))',
              'tether_read_account_' || name, name)
FROM (SELECT DISTINCT name FROM tether_synced_tables(current_schema())) AS synced
\gexec

-- An account's own row: listed by the platform (`tether backfill
-- accounts`), it belongs to no connected account itself.
DROP POLICY IF EXISTS tether_read_member_account ON accounts;
CREATE POLICY tether_read_member_account ON accounts
    FOR SELECT TO authenticated
    USING (stripe_account_id IN (SELECT m.stripe_account_id FROM account_members m
                                 WHERE m.user_id = auth.uid()));
