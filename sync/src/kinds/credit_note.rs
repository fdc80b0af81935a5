//! `credit_note.*` -> `credit_notes` and `credit_note_lines`: money given
//! back on an invoice, linked to its customer, its lines replaced as a set
//! whenever the note's row is written.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    items::{ItemTable, Listed},
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
};

const LINES: ItemTable = ItemTable {
    table: "credit_note_lines",
    parent_column: "stripe_credit_note_id",
    id_column: "stripe_credit_note_line_id",
};

#[derive(Debug, Clone, PartialEq)]
pub struct CreditNoteChange {
    pub stripe_credit_note_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_invoice_id: Option<String>,
    pub number: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub note_type: Option<String>,
    pub total: Option<i64>,
    pub memo: Option<String>,
    pub voided_at: Option<i64>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    pub lines: Listed<CreditNoteLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreditNoteLine {
    pub stripe_credit_note_line_id: String,
    pub line_type: Option<String>,
    pub amount: Option<i64>,
    pub quantity: Option<i64>,
    pub description: Option<String>,
    pub stripe_invoice_line_id: Option<String>,
}

/// `credit_notes` and `credit_note_lines`.
pub struct CreditNotes;

impl SyncedKind for CreditNotes {
    const OBJECT: &'static str = "credit_note";
    const ID_PREFIX: &'static str = "cn_";
    const TABLE: &'static str = "credit_notes";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const EVENTS: &'static [&'static str] = &[
        "credit_note.created",
        "credit_note.updated",
        "credit_note.voided",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "credit-notes",
        path: "/credit_notes",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("amount", Shape::Integer),
        required("currency", Shape::Text),
        required("status", Shape::Text),
        required("invoice", Shape::Reference),
        required("customer", Shape::Reference),
    ];
    type Change = CreditNoteChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<CreditNoteChange, Refusal> {
        Ok(CreditNoteChange {
            stripe_credit_note_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_customer_id: customer::linked_customer(object),
            stripe_invoice_id: fields::reference(object, "invoice"),
            number: fields::string(object, "number"),
            amount: fields::integer(object, "amount"),
            currency: fields::string(object, "currency"),
            status: fields::string(object, "status"),
            reason: fields::string(object, "reason"),
            note_type: fields::string(object, "type"),
            total: fields::integer(object, "total"),
            memo: fields::string(object, "memo"),
            voided_at: fields::integer(object, "voided_at"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
            lines: Listed::read(object, "lines", read_line, line_id),
        })
    }

    fn object_id(change: &CreditNoteChange) -> &str {
        &change.stripe_credit_note_id
    }

    fn references(change: &CreditNoteChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a CreditNoteChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

fn read_line(line: &Value) -> Option<CreditNoteLine> {
    Some(CreditNoteLine {
        stripe_credit_note_line_id: fields::string(line, "id")?,
        line_type: fields::string(line, "type"),
        amount: fields::integer(line, "amount"),
        quantity: fields::integer(line, "quantity"),
        description: fields::string(line, "description"),
        stripe_invoice_line_id: fields::reference(line, "invoice_line_item"),
    })
}

fn line_id(line: &CreditNoteLine) -> &str {
    &line.stripe_credit_note_line_id
}

/// The newest change per note where newer than the row, then the lines of
/// the notes written.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &CreditNoteChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let written = upsert_notes(conn, changes).await?;
    let rewritten: Vec<&CreditNoteChange> = changes
        .iter()
        .map(|(_, c)| *c)
        .filter(|c| written.contains(&c.stripe_credit_note_id))
        .collect();
    write_lines(conn, &rewritten).await?;
    Ok(written)
}

async fn upsert_notes(
    conn: &mut PgConnection,
    changes: &[(&Version, &CreditNoteChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO credit_notes AS n (stripe_credit_note_id, customer_id, stripe_customer_id, stripe_invoice_id,
                                    number, amount, currency, status, reason, type, total, memo, voided_at,
                                    metadata, livemode, stripe_created, last_event_id, last_event_created,
                                    last_event_rank)
         SELECT t.id, c.id, t.customer, t.invoice, t.number, t.amount, t.currency, t.status, t.reason, t.type,
                t.total, t.memo, to_timestamp(t.voided_at), t.metadata, t.livemode,
                to_timestamp(t.stripe_created), t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::int8[], $11::text[], $12::int8[], $13::jsonb[],
                     $14::bool[], $15::int8[], $16::text[], $17::int8[], $18::int2[])
              AS t(id, customer, invoice, number, amount, currency, status, reason, type, total, memo,
                   voided_at, metadata, livemode, stripe_created, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_credit_note_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             stripe_invoice_id = EXCLUDED.stripe_invoice_id, number = EXCLUDED.number,
             amount = EXCLUDED.amount, currency = EXCLUDED.currency, status = EXCLUDED.status,
             reason = EXCLUDED.reason, type = EXCLUDED.type, total = EXCLUDED.total, memo = EXCLUDED.memo,
             voided_at = COALESCE(EXCLUDED.voided_at, n.voided_at), metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, n.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, n.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("n"),
        "
         RETURNING stripe_credit_note_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_credit_note_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_invoice_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.number.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.note_type.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.total).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.memo.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.voided_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// Replaces the lines of each note just written with its newest list.
async fn write_lines(
    conn: &mut PgConnection,
    notes: &[&CreditNoteChange],
) -> Result<(), sqlx::Error> {
    let lines: Vec<(&str, &CreditNoteLine)> = notes
        .iter()
        .flat_map(|n| {
            n.lines
                .items
                .iter()
                .map(|l| (n.stripe_credit_note_id.as_str(), l))
        })
        .collect();
    if !lines.is_empty() {
        sqlx::query(
            "INSERT INTO credit_note_lines AS l (credit_note_id, stripe_credit_note_id, stripe_credit_note_line_id,
                                             type, amount, quantity, description, stripe_invoice_line_id)
             SELECT n.id, t.note, t.id, t.type, t.amount, t.quantity, t.description, t.invoice_line
             FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[])
                  AS t(note, id, type, amount, quantity, description, invoice_line)
             JOIN credit_notes n ON n.stripe_credit_note_id = t.note
             ON CONFLICT (stripe_credit_note_id, stripe_credit_note_line_id) DO UPDATE SET
                 type = EXCLUDED.type, amount = EXCLUDED.amount, quantity = EXCLUDED.quantity,
                 description = EXCLUDED.description, stripe_invoice_line_id = EXCLUDED.stripe_invoice_line_id,
                 updated_at = now()",
        )
        .bind(lines.iter().map(|(n, _)| *n).collect::<Vec<_>>())
        .bind(lines.iter().map(|(_, l)| l.stripe_credit_note_line_id.as_str()).collect::<Vec<_>>())
        .bind(lines.iter().map(|(_, l)| l.line_type.as_deref()).collect::<Vec<_>>())
        .bind(lines.iter().map(|(_, l)| l.amount).collect::<Vec<_>>())
        .bind(lines.iter().map(|(_, l)| l.quantity).collect::<Vec<_>>())
        .bind(lines.iter().map(|(_, l)| l.description.as_deref()).collect::<Vec<_>>())
        .bind(lines.iter().map(|(_, l)| l.stripe_invoice_line_id.as_deref()).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    let lists: Vec<(&str, &Listed<CreditNoteLine>)> = notes
        .iter()
        .map(|n| (n.stripe_credit_note_id.as_str(), &n.lines))
        .collect();
    LINES.remove_unlisted(conn, &lists, line_id).await?;
    Ok(())
}
