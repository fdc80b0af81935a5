-- Payment methods: the card (or other method) a customer has on file,
-- with what a billing page shows and filters on (brand, last4, expiry,
-- funding, wallet). Linked to its customer while attached; a detach
-- clears the link for good (Stripe never re-attaches a detached payment
-- method) and records when, so the row ends the same in every delivery
-- order. Version guard as on every synced table; private by default.
CREATE TABLE payment_methods (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_payment_method_id  text NOT NULL UNIQUE,
    customer_id               uuid REFERENCES end_customers(id),
    stripe_customer_id        text,
    type                      text,
    card_brand                text,
    card_last4                text,
    card_exp_month            integer,
    card_exp_year             integer,
    card_funding              text,
    card_country              text,
    card_wallet               text,
    billing_email             text,
    billing_name              text,
    detached_at               timestamptz,
    metadata                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                  boolean,
    stripe_created            timestamptz,
    last_event_id             text NOT NULL,
    last_event_created        timestamptz NOT NULL,
    last_event_rank           smallint NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_methods_customer_id_idx ON payment_methods (customer_id);
CREATE INDEX payment_methods_last_event_id_idx ON payment_methods (last_event_id);
ALTER TABLE payment_methods ENABLE ROW LEVEL SECURITY;

-- The customer's default for invoices and subscriptions
-- (`invoice_settings.default_payment_method`), a Stripe id: the payment
-- method may arrive after the customer.
ALTER TABLE end_customers ADD COLUMN default_payment_method text;

-- The cards on file per customer, the default marked: what a billing page
-- lists. security_invoker, so a reader sees only the rows the tables'
-- own policies let them see (none, unless the read-own-rows policies are
-- installed).
CREATE VIEW customer_payment_methods WITH (security_invoker = true) AS
SELECT pm.customer_id, c.stripe_customer_id, pm.stripe_payment_method_id, pm.type,
       pm.card_brand, pm.card_last4, pm.card_exp_month, pm.card_exp_year,
       pm.card_wallet,
       pm.stripe_payment_method_id IS NOT DISTINCT FROM c.default_payment_method AS is_default
FROM payment_methods pm
JOIN end_customers c ON c.id = pm.customer_id;
