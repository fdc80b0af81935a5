//! `tether backfill`: import the objects that already exist in Stripe,
//! page by page, through the same guarded upserts the worker uses.
//!
//! A row written from a page takes the time the page was requested as its
//! version (see `snapshot`), so an event created after that moment wins
//! over the page, and one created before it is stale: a page fetched before
//! a webhook and written after it never overwrites the newer state. Each page commits with its kind's cursor, so a run that is
//! interrupted resumes after the last page it wrote. Memory holds one page.
//! A list whose pages do not move on stops the run before that page is
//! written (`Walk`), so its cursor stays at the last page that did.

use std::time::Instant;

use serde::Serialize;
use sqlx::PgPool;
use tether_stripe_api::{ApiError, Page, StripeApi, Walk};
use tether_sync::{self as sync, Kind};

use crate::snapshot;

/// Objects per page: Stripe's maximum.
pub(crate) const PAGE_SIZE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Where one kind stands, after a page or at the end.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KindProgress {
    pub kind: &'static str,
    /// The connected account listed; `None` (left out of JSON) for the
    /// platform's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Objects read from Stripe, over every run since the last `--restart`.
    pub objects: i64,
    /// Rows this run wrote (objects older than a row's event are not).
    pub written: u64,
    /// Objects whose payload could not be read as their kind.
    pub refused: u64,
    pub pages: u64,
    pub objects_per_sec: f64,
    pub resumed: bool,
    pub finished: bool,
}

/// Every kind that has a list endpoint, in registry order (parents first).
pub fn kinds() -> Vec<&'static dyn Kind> {
    sync::KINDS
        .iter()
        .copied()
        .filter(|k| k.list().is_some())
        .collect()
}

/// Whether `kind` is listed inside `account`: a connected account has no
/// connected accounts of its own to list.
pub fn lists_in(kind: &dyn Kind, account: Option<&str>) -> bool {
    account.is_none() || kind.object() != "account"
}

/// The kind named `name` on the command line (`customers`).
pub fn kind(name: &str) -> Option<&'static dyn Kind> {
    kinds()
        .into_iter()
        .find(|k| k.list().is_some_and(|l| l.name == name))
}

pub async fn backfill(
    pool: &PgPool,
    api: &StripeApi,
    kind: &'static dyn Kind,
    restart: bool,
    mut on_page: impl FnMut(&KindProgress),
) -> Result<KindProgress, BackfillError> {
    let list = kind.list().expect("only listable kinds are backfilled");
    if let Some(parent) = list.parent() {
        return crate::backfill_per_parent::backfill(pool, api, kind, parent, restart, on_page)
            .await;
    }
    let cursor = read_cursor(pool, api.account(), list.name, restart).await?;
    let (starting_after, objects, finished) = cursor.clone().unwrap_or((None, 0, false));
    let mut progress = KindProgress {
        kind: list.name,
        account: api.account().map(str::to_owned),
        objects,
        written: 0,
        refused: 0,
        pages: 0,
        objects_per_sec: 0.0,
        resumed: cursor.is_some() && !finished,
        finished,
    };
    let began = Instant::now();
    let mut read_now = 0usize;
    let mut walk = Walk::new(list.path, starting_after);
    let limit = PAGE_SIZE.to_string();
    while !progress.finished {
        let mut query: Vec<(&str, &str)> = vec![("limit", &limit)];
        query.extend(list.params.iter().copied());
        if let Some(after) = walk.after() {
            query.push(("starting_after", after));
        }
        let fetched_at = chrono::Utc::now().timestamp();
        let page = api.list_page(list.path, &query).await?;
        let more = walk.advance(&page)?;
        let (written, refused) = write_page(pool, kind, api.account(), &page, fetched_at).await?;
        progress.objects += page.data.len() as i64;
        progress.written += written;
        progress.refused += refused;
        progress.pages += 1;
        progress.finished = !more;
        read_now += page.data.len();
        progress.objects_per_sec = read_now as f64 / began.elapsed().as_secs_f64().max(1e-3);
        on_page(&progress);
    }
    Ok(progress)
}

/// The cursor's key for `account`'s lists: the platform's own are kept
/// under `''` (migration `backfill_cursors_per_account`).
pub(crate) fn cursor_account(account: Option<&str>) -> &str {
    account.unwrap_or("")
}

/// Where `account`'s list of `kind` stands: `(starting_after, objects,
/// finished)`, or `None` when it was never read (or `restart` clears it).
pub(crate) async fn read_cursor(
    pool: &PgPool,
    account: Option<&str>,
    kind: &str,
    restart: bool,
) -> Result<Option<(Option<String>, i64, bool)>, sqlx::Error> {
    if restart {
        sqlx::query("DELETE FROM backfill_cursors WHERE account = $1 AND kind = $2")
            .bind(cursor_account(account))
            .bind(kind)
            .execute(pool)
            .await?;
    }
    sqlx::query_as(
        "SELECT starting_after, objects, finished_at IS NOT NULL FROM backfill_cursors
         WHERE account = $1 AND kind = $2",
    )
    .bind(cursor_account(account))
    .bind(kind)
    .fetch_optional(pool)
    .await
}

/// One page, its cursor and its rows, in one transaction.
async fn write_page(
    pool: &PgPool,
    kind: &'static dyn Kind,
    account: Option<&str>,
    page: &Page,
    fetched_at: i64,
) -> Result<(u64, u64), BackfillError> {
    let list = kind.list().expect("listable");
    let mut tx = sync::begin(pool).await?;
    let raws: Vec<&str> = page.data.iter().map(|raw| raw.get()).collect();
    let written = snapshot::write(&mut tx, kind, account, &raws, fetched_at).await?;
    sqlx::query(
        "INSERT INTO backfill_cursors (account, kind, starting_after, objects, finished_at)
         VALUES ($5, $1, $2, $3, CASE WHEN $4 THEN now() END)
         ON CONFLICT (account, kind) DO UPDATE SET
             starting_after = COALESCE(EXCLUDED.starting_after, backfill_cursors.starting_after),
             objects = backfill_cursors.objects + EXCLUDED.objects,
             finished_at = EXCLUDED.finished_at",
    )
    .bind(list.name)
    .bind(page.last_id())
    .bind(page.data.len() as i64)
    .bind(!page.has_more)
    .bind(cursor_account(account))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((written.written, written.refused))
}
