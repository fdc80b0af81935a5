//! Backfill of a kind Stripe lists one customer at a time
//! (`/customers/{customer}/payment_methods`): the customers already synced,
//! in id order, each listed page by page.
//!
//! The cursor is the kind's one `backfill_cursors` row, its
//! `starting_after` holding `<customer>/<last object>` while a customer's
//! list is under way and `<customer>/` once it is done (Stripe ids hold no
//! `/`), so a run that stops resumes inside the customer it was reading.
//! Customers synced after a run finished are read by `--restart`.

use std::time::Instant;

use sqlx::{PgConnection, PgPool};
use tether_stripe_api::{ApiError, Page, StripeApi};
use tether_sync::{Kind, ListEndpoint};

use crate::{
    backfill::{BackfillError, KindProgress, PAGE_SIZE},
    snapshot,
};

/// Where a per-customer backfill stands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    customer: String,
    /// The last object written of `customer`'s list; `None` once the
    /// customer's list is done.
    after: Option<String>,
}

impl Position {
    fn parse(cursor: &str) -> Option<Self> {
        let (customer, after) = cursor.split_once('/')?;
        Some(Self {
            customer: customer.to_owned(),
            after: (!after.is_empty()).then(|| after.to_owned()),
        })
    }

    fn cursor(&self) -> String {
        format!("{}/{}", self.customer, self.after.as_deref().unwrap_or(""))
    }
}

pub async fn backfill(
    pool: &PgPool,
    api: &StripeApi,
    kind: &'static dyn Kind,
    restart: bool,
    mut on_page: impl FnMut(&KindProgress),
) -> Result<KindProgress, BackfillError> {
    let list = kind.list().expect("only listable kinds are backfilled");
    if restart {
        sqlx::query("DELETE FROM backfill_cursors WHERE kind = $1")
            .bind(list.name)
            .execute(pool)
            .await?;
    }
    let cursor: Option<(Option<String>, i64, bool)> = sqlx::query_as(
        "SELECT starting_after, objects, finished_at IS NOT NULL FROM backfill_cursors WHERE kind = $1",
    )
    .bind(list.name)
    .fetch_optional(pool)
    .await?;
    let (stored, objects, finished) = cursor.clone().unwrap_or((None, 0, false));
    let mut progress = KindProgress {
        kind: list.name,
        objects,
        written: 0,
        refused: 0,
        pages: 0,
        objects_per_sec: 0.0,
        resumed: cursor.is_some() && !finished,
        finished,
    };
    let mut position = stored.as_deref().and_then(Position::parse);
    let began = Instant::now();
    let mut read_now = 0usize;
    while !progress.finished {
        let Some(at) = next_position(pool, position.take()).await? else {
            mark_finished(pool, list).await?;
            progress.finished = true;
            on_page(&progress);
            break;
        };
        let fetched_at = chrono::Utc::now().timestamp();
        let page = match list_page(api, list, &at).await {
            Err(ApiError::Status { status: 404, .. }) => {
                // Deleted in Stripe since it was synced: nothing to list.
                tracing::warn!(customer = %at.customer, kind = list.name, "customer not found; skipped");
                Page {
                    data: Vec::new(),
                    has_more: false,
                }
            }
            page => page?,
        };
        let next = advance(list, &at, &page)?;
        let written = write_page(pool, kind, &page, &next, fetched_at).await?;
        progress.objects += page.data.len() as i64;
        progress.written += written.written;
        progress.refused += written.refused;
        progress.pages += 1;
        read_now += page.data.len();
        progress.objects_per_sec = read_now as f64 / began.elapsed().as_secs_f64().max(1e-3);
        on_page(&progress);
        position = Some(next);
    }
    Ok(progress)
}

/// Where to read next: inside the customer under way, or the next synced
/// customer after the last one done; `None` when none is left.
async fn next_position(
    pool: &PgPool,
    position: Option<Position>,
) -> Result<Option<Position>, sqlx::Error> {
    if let Some(position) = position.as_ref().filter(|p| p.after.is_some()) {
        return Ok(Some(position.clone()));
    }
    let after = position.map(|p| p.customer);
    // Byte order, as Stripe's ids compare, whatever the collation.
    let customer: Option<String> = sqlx::query_scalar(
        r#"SELECT stripe_customer_id FROM end_customers
           WHERE deleted_at IS NULL AND ($1::text IS NULL OR stripe_customer_id COLLATE "C" > $1)
           ORDER BY stripe_customer_id COLLATE "C" LIMIT 1"#,
    )
    .bind(after)
    .fetch_optional(pool)
    .await?;
    Ok(customer.map(|customer| Position {
        customer,
        after: None,
    }))
}

async fn list_page(api: &StripeApi, list: &ListEndpoint, at: &Position) -> Result<Page, ApiError> {
    let limit = PAGE_SIZE.to_string();
    let mut query: Vec<(&str, &str)> = vec![("limit", &limit)];
    query.extend(list.params.iter().copied());
    if let Some(after) = &at.after {
        query.push(("starting_after", after));
    }
    api.list_page(&list.path_for(&at.customer), &query).await
}

/// The position after `page`. A page that claims more but does not move
/// the cursor would be asked for again forever: refused instead.
fn advance(list: &ListEndpoint, at: &Position, page: &Page) -> Result<Position, ApiError> {
    if !page.has_more {
        return Ok(Position {
            customer: at.customer.clone(),
            after: None,
        });
    }
    match page.last_id() {
        Some(last) if at.after.as_deref() != Some(last.as_str()) => Ok(Position {
            customer: at.customer.clone(),
            after: Some(last),
        }),
        _ => Err(ApiError::Stuck {
            endpoint: format!("/v1{}", list.path_for(&at.customer)),
            why: "a page says has_more but does not advance".into(),
            after: Some(at.cursor()),
        }),
    }
}

/// One page's rows and the cursor after it, in one transaction.
async fn write_page(
    pool: &PgPool,
    kind: &'static dyn Kind,
    page: &Page,
    next: &Position,
    fetched_at: i64,
) -> Result<snapshot::Written, BackfillError> {
    let list = kind.list().expect("listable");
    let mut tx = pool.begin().await?;
    let raws: Vec<&str> = page.data.iter().map(|raw| raw.get()).collect();
    let written = snapshot::write(&mut tx, kind, &raws, fetched_at).await?;
    save_cursor(&mut tx, list, &next.cursor(), page.data.len() as i64).await?;
    tx.commit().await?;
    Ok(written)
}

async fn save_cursor(
    conn: &mut PgConnection,
    list: &ListEndpoint,
    cursor: &str,
    objects: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO backfill_cursors (kind, starting_after, objects) VALUES ($1, $2, $3)
         ON CONFLICT (kind) DO UPDATE SET starting_after = EXCLUDED.starting_after,
             objects = backfill_cursors.objects + EXCLUDED.objects, finished_at = NULL",
    )
    .bind(list.name)
    .bind(cursor)
    .bind(objects)
    .execute(conn)
    .await?;
    Ok(())
}

async fn mark_finished(pool: &PgPool, list: &ListEndpoint) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO backfill_cursors (kind, finished_at) VALUES ($1, now())
         ON CONFLICT (kind) DO UPDATE SET finished_at = now()",
    )
    .bind(list.name)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_reads_back_as_the_position_it_saved() {
        for position in [
            Position {
                customer: "cus_1".into(),
                after: Some("pm_9".into()),
            },
            Position {
                customer: "cus_1".into(),
                after: None,
            },
        ] {
            assert_eq!(Position::parse(&position.cursor()), Some(position));
        }
        assert_eq!(Position::parse("pm_from_a_flat_list"), None);
    }
}
