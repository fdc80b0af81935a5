-- Credit notes: money given back on an invoice (a refund, a credit to the
-- customer's balance, or both), with their lines. Linked to the customer
-- (a placeholder when the note comes first) and the invoice by Stripe id.
-- Stripe never deletes a credit note; voiding it is a status. Each note's
-- lines are a set replaced whenever the note's row is written.
CREATE TABLE credit_notes (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stripe_credit_note_id   text NOT NULL UNIQUE,
    customer_id             uuid REFERENCES end_customers(id),
    stripe_customer_id      text,
    stripe_invoice_id       text,
    number                  text,
    amount                  bigint,
    currency                text,
    status                  text,
    reason                  text,
    type                    text,
    total                   bigint,
    memo                    text,
    voided_at               timestamptz,
    metadata                jsonb NOT NULL DEFAULT '{}'::jsonb,
    livemode                boolean,
    stripe_created          timestamptz,
    last_event_id           text NOT NULL,
    last_event_created      timestamptz NOT NULL,
    last_event_rank         smallint NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_notes_customer_id_idx ON credit_notes (customer_id);
CREATE INDEX credit_notes_stripe_invoice_id_idx ON credit_notes (stripe_invoice_id);
CREATE INDEX credit_notes_last_event_id_idx ON credit_notes (last_event_id);
ALTER TABLE credit_notes ENABLE ROW LEVEL SECURITY;

CREATE TABLE credit_note_lines (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    credit_note_id              uuid NOT NULL REFERENCES credit_notes(id) ON DELETE CASCADE,
    stripe_credit_note_id       text NOT NULL,
    stripe_credit_note_line_id  text NOT NULL,
    type                        text,
    amount                      bigint,
    quantity                    bigint,
    description                 text,
    stripe_invoice_line_id      text,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stripe_credit_note_id, stripe_credit_note_line_id)
);
CREATE INDEX credit_note_lines_credit_note_id_idx ON credit_note_lines (credit_note_id);
ALTER TABLE credit_note_lines ENABLE ROW LEVEL SECURITY;
