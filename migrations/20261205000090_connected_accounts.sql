-- Stripe Connect. Connected accounts as data, and the account on every
-- synced row.
--
-- `accounts`: one row per connected account, from `account.updated` (its
-- profile, under the usual version guard) and `account.application.*` (its
-- authorization, under a guard of its own, so that the profile and the
-- authorization never overwrite each other and every delivery order ends
-- in the same row). A deauthorized account keeps its row and its objects'
-- rows; `deauthorized_at` marks it. Persons, external accounts and
-- capabilities are in the generic store (`stripe_objects`) with their
-- account.
CREATE TABLE accounts (
    id                           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_account_id            text NOT NULL UNIQUE,
    business_name                text,
    email                        text,
    country                      text,
    default_currency             text,
    type                         text,
    charges_enabled              boolean,
    payouts_enabled              boolean,
    details_submitted            boolean,
    -- `requirements.currently_due`: what Stripe needs before it disables
    -- charges or payouts.
    requirements_due             text[] NOT NULL DEFAULT '{}',
    requirements_disabled_reason text,
    -- `{"card_payments": "active", "transfers": "pending", ...}`
    capabilities                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    metadata                     jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                     boolean,
    stripe_created               timestamptz,
    -- Set by `account.application.deauthorized`, cleared by a newer
    -- `account.application.authorized`.
    deauthorized_at              timestamptz,
    authorization_event_id       text,
    authorization_event_created  timestamptz,
    authorization_event_rank     smallint,
    -- Null while only the authorization is known.
    last_event_id                text,
    last_event_created           timestamptz,
    last_event_rank              smallint,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_last_event_id_idx ON accounts (last_event_id);
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;

-- The connected account whose event the worker is applying, as it sets it
-- for the transaction (`set_config('tether.account', ..., true)`); null for
-- the platform's own events. A synced row takes it when it is inserted:
-- an object never moves between accounts, and a placeholder parent is
-- inserted while its child's account is set, so it gets the child's.
CREATE FUNCTION tether_applying_account() RETURNS text
LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('tether.account', true), '') $$;

-- Every synced table, read from the schema (tether_synced_tables), gets
-- the column; a test checks that every later one has it too. Rows synced
-- before this migration are the platform's own (null): the default is
-- evaluated once here, so no table is rewritten.
DO $$
DECLARE
    synced text;
BEGIN
    FOR synced IN SELECT DISTINCT name FROM tether_synced_tables(current_schema()) LOOP
        IF EXISTS (SELECT FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = synced
                     AND column_name = 'account') THEN
            EXECUTE format('ALTER TABLE %I ALTER COLUMN account SET DEFAULT tether_applying_account()',
                           synced);
        ELSE
            EXECUTE format('ALTER TABLE %I ADD COLUMN account text DEFAULT tether_applying_account()',
                           synced);
        END IF;
        -- Most rows are the platform's own: a partial index costs them nothing.
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (account) WHERE account IS NOT NULL',
                       synced || '_account_idx', synced);
    END LOOP;
END
$$;
