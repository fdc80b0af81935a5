-- Tax rates an account charges (VAT Germany 19%). Stripe never deletes
-- one; it archives it (`active` false).
CREATE TABLE tax_rates (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_tax_rate_id  text NOT NULL UNIQUE,
    display_name        text,
    description         text,
    percentage          numeric,
    inclusive           boolean,
    active              boolean,
    country             text,
    state               text,
    jurisdiction        text,
    tax_type            text,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode            boolean,
    stripe_created      timestamptz,
    last_event_id       text NOT NULL,
    last_event_created  timestamptz NOT NULL,
    last_event_rank     smallint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tax_rates_last_event_id_idx ON tax_rates (last_event_id);
ALTER TABLE tax_rates ENABLE ROW LEVEL SECURITY;
