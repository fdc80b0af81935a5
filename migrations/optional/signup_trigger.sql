-- Opt-in: every Supabase sign-up becomes a Stripe customer, even when
-- tether is down at the time. An AFTER INSERT trigger on auth.users
-- records the sign-up and enqueues its job inside the sign-up's own
-- transaction: if the sign-up commits, the job exists; if it rolls back,
-- neither does. No database webhook is needed.
--
--   psql "$DATABASE_URL" -v schema=public -f migrations/optional/signup_trigger.sql
--   psql "$DATABASE_URL" -v schema=public -v organizations=public.organizations \
--        -f migrations/optional/signup_trigger.sql   # organizations too
--
-- (schema: where tether's tables are, TETHER_SCHEMA). Workers with
-- STRIPE_SECRET_KEY set create the customers. Safe to run again.
CREATE OR REPLACE FUNCTION :"schema".tether_on_signup() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = :"schema", pg_catalog AS $$
DECLARE
    signup uuid;
BEGIN
    -- Only a confirmed email may match an existing Stripe customer.
    INSERT INTO supabase_signups (kind, row_id, source, email, email_confirmed)
    VALUES ('user', NEW.id::text, 'auth.users', NEW.email, NEW.email_confirmed_at IS NOT NULL)
    ON CONFLICT (kind, row_id) DO NOTHING
    RETURNING id INTO signup;
    IF signup IS NOT NULL THEN
        PERFORM apalis.tether_push_job('tether::supabase_signups', convert_to(signup::text, 'UTF8'));
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS tether_on_signup ON auth.users;
CREATE TRIGGER tether_on_signup AFTER INSERT ON auth.users
    FOR EACH ROW EXECUTE FUNCTION :"schema".tether_on_signup();

-- With -v organizations=schema.table (your app's organizations table, as in
-- TETHER_ORGANIZATIONS_TABLE), each new organization is enqueued the same
-- way, inside the transaction that creates it.
\if :{?organizations}
CREATE OR REPLACE FUNCTION :"schema".tether_on_organization() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = :"schema", pg_catalog AS $$
DECLARE
    signup uuid;
BEGIN
    INSERT INTO supabase_signups (kind, row_id, source, record)
    VALUES ('organization', NEW.id::text, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, to_jsonb(NEW))
    ON CONFLICT (kind, row_id) DO NOTHING
    RETURNING id INTO signup;
    IF signup IS NOT NULL THEN
        PERFORM apalis.tether_push_job('tether::supabase_signups', convert_to(signup::text, 'UTF8'));
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS tether_on_organization ON :organizations;
CREATE TRIGGER tether_on_organization AFTER INSERT ON :organizations
    FOR EACH ROW EXECUTE FUNCTION :"schema".tether_on_organization();
\endif
