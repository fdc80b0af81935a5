//! `invoice.*` -> `invoices` and `invoice_lines`: the billing page. An
//! invoice links to its customer (a placeholder when the invoice comes
//! first) and names its subscription. A deleted (draft) invoice stays as a
//! tombstone.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    BenchMarker, BenchTokens, ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind,
    Version, fields,
    items::{ItemTable, Listed},
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
    tombstone::Tombstones,
};

const TOMBSTONES: Tombstones = Tombstones {
    table: "invoices",
    id_column: "stripe_invoice_id",
    marks_placeholder: false,
};

const LINES: ItemTable = ItemTable {
    table: "invoice_lines",
    parent_column: "stripe_invoice_id",
    id_column: "stripe_invoice_line_id",
};

#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceChange {
    pub stripe_invoice_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub status: Option<String>,
    pub number: Option<String>,
    pub currency: Option<String>,
    pub amount_due: Option<i64>,
    pub amount_paid: Option<i64>,
    pub amount_remaining: Option<i64>,
    pub subtotal: Option<i64>,
    pub total: Option<i64>,
    pub billing_reason: Option<String>,
    pub collection_method: Option<String>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub due_date: Option<i64>,
    pub paid_at: Option<i64>,
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    pub lines: Listed<InvoiceLine>,
    pub deleted: bool,
    /// A deletion stub, see `SyncedKind::is_stub`.
    pub stub: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceLine {
    pub stripe_invoice_line_id: String,
    pub stripe_price_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub stripe_subscription_item_id: Option<String>,
    pub description: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub quantity: Option<i64>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub metadata: Value,
}

pub struct Invoices;

impl SyncedKind for Invoices {
    const OBJECT: &'static str = "invoice";
    const ID_PREFIX: &'static str = "in_";
    const TABLE: &'static str = "invoices";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const BENCH: Option<BenchMarker> = Some(BenchMarker {
        plant: plant_bench_marker,
        read_rows: "SELECT stripe_invoice_id, last_event_id, amount_due, deleted_at IS NOT NULL
                    FROM invoices WHERE stripe_invoice_id = ANY($1)",
        tombstones: true,
    });
    const EVENTS: &'static [&'static str] = &[
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "invoice.updated",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "invoice.deleted",
        "invoice.finalization_failed",
        "invoice.overdue",
        "invoice.overpaid",
        "invoice.payment_attempt_required",
        "invoice.sent",
        "invoice.will_be_due",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "invoices",
        path: "/invoices",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("status", Shape::Text),
        required("customer", Shape::Reference),
        required("currency", Shape::Text),
        required("amount_due", Shape::Integer),
        required("amount_paid", Shape::Integer),
    ];
    type Change = InvoiceChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<InvoiceChange, Refusal> {
        read(event_type, object)
    }

    fn object_id(change: &InvoiceChange) -> &str {
        &change.stripe_invoice_id
    }

    fn references(change: &InvoiceChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a InvoiceChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn is_terminal(change: &InvoiceChange) -> bool {
        change.deleted
    }

    fn is_stub(change: &InvoiceChange) -> bool {
        change.stub
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a InvoiceChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        TOMBSTONES.write::<Self>(conn, changes)
    }
}

/// The bench's marker is the amount due.
fn plant_bench_marker(object: &mut Value, tokens: &BenchTokens<'_>) {
    object["customer"] = tokens.customer_id.into();
    object["amount_due"] = tokens.marker.into();
}

fn read(event_type: &str, object: &StripeObject) -> Result<InvoiceChange, Refusal> {
    let stripe_invoice_id = object_id(object, Invoices::OBJECT, Invoices::ID_PREFIX)?;
    let transitions = fields::field_value(object, "status_transitions");
    Ok(InvoiceChange {
        stripe_customer_id: customer::linked_customer(object),
        stripe_subscription_id: subscription_of(object),
        status: fields::string(object, "status"),
        number: fields::string(object, "number"),
        currency: fields::string(object, "currency"),
        amount_due: fields::integer(object, "amount_due"),
        amount_paid: fields::integer(object, "amount_paid"),
        amount_remaining: fields::integer(object, "amount_remaining"),
        subtotal: fields::integer(object, "subtotal"),
        total: fields::integer(object, "total"),
        billing_reason: fields::string(object, "billing_reason"),
        collection_method: fields::string(object, "collection_method"),
        period_start: fields::integer(object, "period_start"),
        period_end: fields::integer(object, "period_end"),
        due_date: fields::integer(object, "due_date"),
        paid_at: transitions
            .as_ref()
            .and_then(|t| fields::integer(t, "paid_at")),
        hosted_invoice_url: fields::string(object, "hosted_invoice_url"),
        invoice_pdf: fields::string(object, "invoice_pdf"),
        metadata: fields::metadata(object),
        livemode: fields::boolean(object, "livemode"),
        stripe_created: fields::integer(object, "created"),
        lines: Listed::read(object, "lines", read_line, line_id),
        deleted: event_type == "invoice.deleted"
            || fields::boolean(object, "deleted") == Some(true),
        stub: fields::boolean(object, "deleted") == Some(true),
        stripe_invoice_id,
    })
}

/// Up to 2025-02-24.acacia an invoice names its subscription at the top
/// (`subscription`); from 2025-03-31.basil under
/// `parent.subscription_details.subscription`. Read whichever is there.
pub(crate) fn subscription_of(object: &StripeObject) -> Option<String> {
    let from_parent = fields::field_value(object, "parent")
        .and_then(|p| p.get("subscription_details").cloned())
        .and_then(|d| fields::reference(&d, "subscription"));
    from_parent
        .or_else(|| fields::reference(object, "subscription"))
        .filter(|id| id.starts_with("sub_"))
}

fn line_id(line: &InvoiceLine) -> &str {
    &line.stripe_invoice_line_id
}

/// One line; the price and subscription item moved in 2025-03-31.basil
/// (`price` → `pricing.price_details.price`, `subscription_item` →
/// `parent.subscription_item_details.subscription_item`).
fn read_line(line: &Value) -> Option<InvoiceLine> {
    let id = fields::string(line, "id")?;
    let pricing = line
        .get("pricing")
        .and_then(|p| p.get("price_details"))
        .and_then(|d| fields::reference(d, "price"));
    let item_details = line
        .get("parent")
        .and_then(|p| p.get("subscription_item_details"));
    let period = line.get("period");
    Some(InvoiceLine {
        stripe_invoice_line_id: id,
        stripe_price_id: pricing.or_else(|| fields::reference(line, "price")),
        stripe_subscription_id: item_details
            .and_then(|d| fields::reference(d, "subscription"))
            .or_else(|| fields::reference(line, "subscription"))
            .filter(|id| id.starts_with("sub_")),
        stripe_subscription_item_id: item_details
            .and_then(|d| fields::reference(d, "subscription_item"))
            .or_else(|| fields::reference(line, "subscription_item"))
            .filter(|id| id.starts_with("si_")),
        description: fields::string(line, "description"),
        amount: fields::integer(line, "amount"),
        currency: fields::string(line, "currency"),
        quantity: fields::integer(line, "quantity"),
        period_start: period.and_then(|p| fields::integer(p, "start")),
        period_end: period.and_then(|p| fields::integer(p, "end")),
        metadata: fields::metadata(line),
    })
}

/// The newest change per invoice, where newer than the row, then the lines
/// of the invoices written. A deletion stub keeps what the row knew.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &InvoiceChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let written = upsert_invoices(conn, changes).await?;
    let rewritten: Vec<&InvoiceChange> = changes
        .iter()
        .map(|(_, c)| *c)
        .filter(|c| written.contains(&c.stripe_invoice_id))
        .collect();
    write_lines(conn, &rewritten).await?;
    Ok(written)
}

async fn upsert_invoices(
    conn: &mut PgConnection,
    changes: &[(&Version, &InvoiceChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO invoices AS i (stripe_invoice_id, customer_id, stripe_customer_id, stripe_subscription_id,
                                status, number, currency, amount_due, amount_paid, amount_remaining, subtotal,
                                total, billing_reason, collection_method, period_start, period_end, due_date,
                                paid_at, hosted_invoice_url, invoice_pdf, metadata, livemode, stripe_created,
                                deleted_at, last_event_id, last_event_created, last_event_rank)
         SELECT t.id, c.id, t.customer, t.subscription, t.status, t.number, t.currency, t.amount_due,
                t.amount_paid, t.amount_remaining, t.subtotal, t.total, t.billing_reason, t.collection_method,
                to_timestamp(t.period_start), to_timestamp(t.period_end), to_timestamp(t.due_date),
                to_timestamp(t.paid_at), t.hosted_url, t.pdf, t.metadata, t.livemode,
                to_timestamp(t.stripe_created), CASE WHEN t.deleted THEN to_timestamp(t.created) END,
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[],
                     $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::text[], $13::text[], $14::int8[],
                     $15::int8[], $16::int8[], $17::int8[], $18::text[], $19::text[], $20::jsonb[],
                     $21::bool[], $22::int8[], $23::bool[], $24::text[], $25::int8[], $26::int2[])
              AS t(id, customer, subscription, status, number, currency, amount_due, amount_paid,
                   amount_remaining, subtotal, total, billing_reason, collection_method, period_start,
                   period_end, due_date, paid_at, hosted_url, pdf, metadata, livemode, stripe_created,
                   deleted, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_invoice_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             stripe_subscription_id = EXCLUDED.stripe_subscription_id, status = EXCLUDED.status,
             number = EXCLUDED.number, currency = EXCLUDED.currency, amount_due = EXCLUDED.amount_due,
             amount_paid = EXCLUDED.amount_paid, amount_remaining = EXCLUDED.amount_remaining,
             subtotal = EXCLUDED.subtotal, total = EXCLUDED.total, billing_reason = EXCLUDED.billing_reason,
             collection_method = EXCLUDED.collection_method, period_start = EXCLUDED.period_start,
             period_end = EXCLUDED.period_end, due_date = EXCLUDED.due_date, paid_at = EXCLUDED.paid_at,
             hosted_invoice_url = EXCLUDED.hosted_invoice_url, invoice_pdf = EXCLUDED.invoice_pdf,
             metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, i.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, i.stripe_created),
             deleted_at = COALESCE(i.deleted_at, EXCLUDED.deleted_at),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE i.last_event_id IS NULL OR ",
        crate::stored_is_older!("i"),
        "
         RETURNING stripe_invoice_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_invoice_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_subscription_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.number.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount_due).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount_paid).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount_remaining).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.subtotal).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.total).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.billing_reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.collection_method.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.period_start).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.period_end).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.due_date).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.paid_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.hosted_invoice_url.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.invoice_pdf.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.deleted).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// Replaces the lines of each invoice just written with its newest list.
async fn write_lines(
    conn: &mut PgConnection,
    invoices: &[&InvoiceChange],
) -> Result<(), sqlx::Error> {
    let lines: Vec<(&str, &InvoiceLine)> = invoices
        .iter()
        .flat_map(|i| {
            i.lines
                .items
                .iter()
                .map(|l| (i.stripe_invoice_id.as_str(), l))
        })
        .collect();
    if !lines.is_empty() {
        upsert_lines(conn, &lines).await?;
    }
    let lists: Vec<(&str, &Listed<InvoiceLine>)> = invoices
        .iter()
        .map(|i| (i.stripe_invoice_id.as_str(), &i.lines))
        .collect();
    LINES.remove_unlisted(conn, &lists, line_id).await?;
    Ok(())
}

async fn upsert_lines(
    conn: &mut PgConnection,
    lines: &[(&str, &InvoiceLine)],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO invoice_lines AS l (invoice_id, stripe_invoice_id, stripe_invoice_line_id, stripe_price_id,
                                     stripe_subscription_id, stripe_subscription_item_id, description, amount,
                                     currency, quantity, period_start, period_end, metadata)
         SELECT i.id, t.invoice, t.id, t.price, t.subscription, t.item, t.description, t.amount, t.currency,
                t.quantity, to_timestamp(t.period_start), to_timestamp(t.period_end), t.metadata
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[],
                     $8::text[], $9::int8[], $10::int8[], $11::int8[], $12::jsonb[])
              AS t(invoice, id, price, subscription, item, description, amount, currency, quantity,
                   period_start, period_end, metadata)
         JOIN invoices i ON i.stripe_invoice_id = t.invoice
         ON CONFLICT (stripe_invoice_id, stripe_invoice_line_id) DO UPDATE SET
             stripe_price_id = EXCLUDED.stripe_price_id,
             stripe_subscription_id = EXCLUDED.stripe_subscription_id,
             stripe_subscription_item_id = EXCLUDED.stripe_subscription_item_id,
             description = EXCLUDED.description, amount = EXCLUDED.amount, currency = EXCLUDED.currency,
             quantity = EXCLUDED.quantity, period_start = EXCLUDED.period_start,
             period_end = EXCLUDED.period_end, metadata = EXCLUDED.metadata, updated_at = now()",
    )
    .bind(lines.iter().map(|(i, _)| *i).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.stripe_invoice_line_id.as_str()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.stripe_price_id.as_deref()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.stripe_subscription_id.as_deref()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.stripe_subscription_item_id.as_deref()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.description.as_deref()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.amount).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.currency.as_deref()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.quantity).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.period_start).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.period_end).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| &l.metadata).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
