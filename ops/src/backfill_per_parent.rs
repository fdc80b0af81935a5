//! Backfill of a kind Stripe lists one parent at a time
//! (`/customers/{customer}/payment_methods`, `/products/{product}/features`):
//! the parents already synced, in id order, each listed page by page.
//!
//! The cursor is the kind's one `backfill_cursors` row, its
//! `starting_after` holding `<parent>/<last object>` while a parent's
//! list is under way and `<parent>/` once it is done (Stripe ids hold no
//! `/`), so a run that stops resumes inside the parent it was reading.
//! Parents synced after a run finished are read by `--restart`.

use std::time::Instant;

use sqlx::{PgConnection, PgPool};
use tether_stripe_api::{ApiError, Page, StripeApi};
use tether_sync::{Kind, ListEndpoint, ListParent};

use crate::{
    backfill::{BackfillError, KindProgress, PAGE_SIZE, cursor_account},
    snapshot,
};

/// Where a per-parent backfill stands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    parent: String,
    /// The last object written of `parent`'s list; `None` once the
    /// parent's list is done.
    after: Option<String>,
}

impl Position {
    fn parse(cursor: &str) -> Option<Self> {
        let (parent, after) = cursor.split_once('/')?;
        Some(Self {
            parent: parent.to_owned(),
            after: (!after.is_empty()).then(|| after.to_owned()),
        })
    }

    fn cursor(&self) -> String {
        format!("{}/{}", self.parent, self.after.as_deref().unwrap_or(""))
    }
}

pub async fn backfill(
    pool: &PgPool,
    api: &StripeApi,
    kind: &'static dyn Kind,
    parent: &'static ListParent,
    restart: bool,
    mut on_page: impl FnMut(&KindProgress),
) -> Result<KindProgress, BackfillError> {
    let list = kind.list().expect("only listable kinds are backfilled");
    let account = api.account();
    let cursor = crate::backfill::read_cursor(pool, account, list.name, restart).await?;
    let (stored, objects, finished) = cursor.clone().unwrap_or((None, 0, false));
    let mut progress = KindProgress {
        kind: list.name,
        account: account.map(str::to_owned),
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
    // A gathering kind's items so far, and when its first page was asked for.
    let mut gathered: Vec<serde_json::Value> = Vec::new();
    let mut gathered_since: Option<i64> = None;
    while !progress.finished {
        let Some(at) = next_position(pool, parent, account, position.take()).await? else {
            mark_finished(pool, account, list).await?;
            progress.finished = true;
            on_page(&progress);
            break;
        };
        let fetched_at = chrono::Utc::now().timestamp();
        let page = match list_page(api, list, &at).await {
            Err(ApiError::Status { status: 404, .. }) => {
                // Deleted in Stripe since it was synced: nothing to list.
                tracing::warn!(parent = %at.parent, kind = list.name, "parent not found; skipped");
                Page {
                    data: Vec::new(),
                    has_more: false,
                }
            }
            page => page?,
        };
        let next = advance(list, &at, &page)?;
        progress.objects += page.data.len() as i64;
        progress.pages += 1;
        read_now += page.data.len();
        progress.objects_per_sec = read_now as f64 / began.elapsed().as_secs_f64().max(1e-3);
        let (objects, read, version_at) = match kind.gather() {
            None => (
                page.data
                    .iter()
                    .map(|raw| with_parent(raw.get(), parent.field, &at.parent))
                    .collect(),
                page.data.len(),
                fetched_at,
            ),
            Some(gather) => {
                // The parent's whole list makes one object, written (with
                // the cursor past the parent) once its last page is read,
                // versioned at its first page's request.
                let since = *gathered_since.get_or_insert(fetched_at);
                gathered.extend(
                    page.data
                        .iter()
                        .filter_map(|raw| serde_json::from_str(raw.get()).ok()),
                );
                if next.after.is_some() {
                    on_page(&progress);
                    position = Some(next);
                    continue;
                }
                gathered_since = None;
                let read = gathered.len();
                let whole = gather(&at.parent, std::mem::take(&mut gathered));
                (vec![whole.to_string()], read, since)
            }
        };
        let written = write_page(pool, kind, account, &objects, read, &next, version_at).await?;
        progress.written += written.written;
        progress.refused += written.refused;
        on_page(&progress);
        position = Some(next);
    }
    Ok(progress)
}

/// Where to read next: inside the parent under way, or the next synced
/// parent after the last one done; `None` when none is left.
async fn next_position(
    pool: &PgPool,
    parent: &ListParent,
    account: Option<&str>,
    position: Option<Position>,
) -> Result<Option<Position>, sqlx::Error> {
    if let Some(position) = position.as_ref().filter(|p| p.after.is_some()) {
        return Ok(Some(position.clone()));
    }
    let after = position.map(|p| p.parent);
    // Byte order, as Stripe's ids compare, whatever the collation.
    let next: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(parent.next))
        .bind(after)
        .bind(account)
        .fetch_optional(pool)
        .await?;
    Ok(next.map(|parent| Position {
        parent,
        after: None,
    }))
}

async fn list_page(api: &StripeApi, list: &ListEndpoint, at: &Position) -> Result<Page, ApiError> {
    let limit = PAGE_SIZE.to_string();
    let mut query: Vec<(&str, &str)> = vec![("limit", &limit)];
    query.extend(list.params_for(&at.parent));
    if let Some(after) = &at.after {
        query.push(("starting_after", after));
    }
    api.list_page(&list.path_for(&at.parent), &query).await
}

/// The position after `page`. A page that claims more but does not move
/// the cursor would be asked for again forever: refused instead.
fn advance(list: &ListEndpoint, at: &Position, page: &Page) -> Result<Position, ApiError> {
    if !page.has_more {
        return Ok(Position {
            parent: at.parent.clone(),
            after: None,
        });
    }
    match page.last_id() {
        Some(last) if at.after.as_deref() != Some(last.as_str()) => Ok(Position {
            parent: at.parent.clone(),
            after: Some(last),
        }),
        _ => Err(ApiError::Stuck {
            endpoint: format!("/v1{}", list.path_for(&at.parent)),
            why: "a page says has_more but does not advance".into(),
            after: Some(at.cursor()),
        }),
    }
}

/// One page's objects and the cursor after it (counting `read` listed
/// objects), in one transaction.
async fn write_page(
    pool: &PgPool,
    kind: &'static dyn Kind,
    account: Option<&str>,
    objects: &[String],
    read: usize,
    next: &Position,
    fetched_at: i64,
) -> Result<snapshot::Written, BackfillError> {
    let list = kind.list().expect("listable");
    let mut tx = tether_sync::begin(pool).await?;
    let raws: Vec<&str> = objects.iter().map(String::as_str).collect();
    let written = snapshot::write(&mut tx, kind, account, &raws, fetched_at).await?;
    save_cursor(&mut tx, account, list, &next.cursor(), read as i64).await?;
    tx.commit().await?;
    Ok(written)
}

/// `raw` with `field` set to `parent_id` where it is absent or null; any
/// other text (not an object) is left for the kind to refuse.
fn with_parent(raw: &str, field: &str, parent_id: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw) {
        Ok(mut object) if object.get(field).is_none_or(|v| v.is_null()) => {
            object.insert(field.to_owned(), parent_id.into());
            serde_json::Value::Object(object).to_string()
        }
        _ => raw.to_owned(),
    }
}

async fn save_cursor(
    conn: &mut PgConnection,
    account: Option<&str>,
    list: &ListEndpoint,
    cursor: &str,
    objects: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO backfill_cursors (account, kind, starting_after, objects) VALUES ($4, $1, $2, $3)
         ON CONFLICT (account, kind) DO UPDATE SET starting_after = EXCLUDED.starting_after,
             objects = backfill_cursors.objects + EXCLUDED.objects, finished_at = NULL",
    )
    .bind(list.name)
    .bind(cursor)
    .bind(objects)
    .bind(cursor_account(account))
    .execute(conn)
    .await?;
    Ok(())
}

async fn mark_finished(
    pool: &PgPool,
    account: Option<&str>,
    list: &ListEndpoint,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO backfill_cursors (account, kind, finished_at) VALUES ($2, $1, now())
         ON CONFLICT (account, kind) DO UPDATE SET finished_at = now()",
    )
    .bind(list.name)
    .bind(cursor_account(account))
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
                parent: "cus_1".into(),
                after: Some("pm_9".into()),
            },
            Position {
                parent: "cus_1".into(),
                after: None,
            },
        ] {
            assert_eq!(Position::parse(&position.cursor()), Some(position));
        }
        assert_eq!(Position::parse("pm_from_a_flat_list"), None);
    }

    #[test]
    fn a_listed_object_names_its_parent_and_keeps_its_own() {
        let named = with_parent(r#"{"id":"prodft_1"}"#, "product", "prod_1");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&named).unwrap(),
            serde_json::json!({"id": "prodft_1", "product": "prod_1"})
        );
        let own = r#"{"id":"pm_1","customer":"cus_2"}"#;
        assert_eq!(with_parent(own, "customer", "cus_1"), own);
        assert_eq!(with_parent("[1]", "customer", "cus_1"), "[1]");
    }
}
