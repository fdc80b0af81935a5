-- What was bought in a checkout session. Stripe includes a session's
-- `line_items` only when the session is expanded, which its webhook events
-- never are: they come from `tether backfill checkout-sessions` (which asks
-- for them) or from an event whose object was expanded. The set is
-- replaced by the newest object that carried it; an object without it
-- changes none of the lines.
CREATE TABLE checkout_session_line_items (
    id                            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    checkout_session_id           uuid NOT NULL REFERENCES checkout_sessions(id) ON DELETE CASCADE,
    stripe_checkout_session_id    text NOT NULL,
    stripe_line_item_id           text NOT NULL,
    stripe_price_id               text,
    stripe_product_id             text,
    description                   text,
    quantity                      bigint,
    currency                      text,
    amount_subtotal               bigint,
    amount_discount               bigint,
    amount_tax                    bigint,
    amount_total                  bigint,
    created_at                    timestamptz NOT NULL DEFAULT now(),
    updated_at                    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stripe_checkout_session_id, stripe_line_item_id)
);
CREATE INDEX checkout_session_line_items_session_idx ON checkout_session_line_items (checkout_session_id);
CREATE INDEX checkout_session_line_items_price_idx ON checkout_session_line_items (stripe_price_id);
ALTER TABLE checkout_session_line_items ENABLE ROW LEVEL SECURITY;

-- The version of the event whose list the line items are, apart from the
-- session's own: the newest event of a session often lacks the list.
ALTER TABLE checkout_sessions
    ADD COLUMN line_items_event_id       text,
    ADD COLUMN line_items_event_created  timestamptz,
    ADD COLUMN line_items_event_rank     smallint;
