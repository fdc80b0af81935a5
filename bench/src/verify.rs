//! `bench --verify`: after the queue drains, prove nothing was lost or
//! applied wrongly. The expected tables are rebuilt from the events the
//! database stored, by the documented ordering rule (newest `created`, then
//! lifecycle rank, then event id), and compared row by row.

use std::collections::{HashMap, HashSet};

use sqlx::PgPool;
use tether_stripe::kind::action;
use tether_sync::{Version, order::rank};

use super::{
    settle::SentEventRow,
    workload::{Kind, Workload},
};

#[derive(Debug, Default, serde::Serialize)]
pub struct Verdict {
    /// Acknowledged events the database does not have.
    pub acked_not_stored: u64,
    /// Stored events never applied.
    pub stored_not_applied: u64,
    /// Stored events without exactly one `success`/`stale` outcome in webhook_logs.
    pub outcome_count_wrong: u64,
    /// Events dead-lettered.
    pub dead: u64,
    /// Objects whose row differs from the one the newest event describes.
    pub rows_wrong: u64,
    pub objects_checked: u64,
    /// A few examples of what went wrong.
    pub examples: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.acked_not_stored
            + self.stored_not_applied
            + self.outcome_count_wrong
            + self.dead
            + self.rows_wrong
            == 0
    }

    fn wrong(&mut self, example: String) {
        if self.examples.len() < 10 {
            self.examples.push(example);
        }
    }
}

pub async fn verify(
    pool: &PgPool,
    workload: &Workload,
    acked: &[u64],
    stored: &[SentEventRow],
) -> Result<Verdict, sqlx::Error> {
    let mut verdict = Verdict::default();
    let stored_set: HashSet<u64> = stored.iter().map(|r| r.index).collect();
    for &index in acked {
        if !stored_set.contains(&index) {
            verdict.acked_not_stored += 1;
            verdict.wrong(format!(
                "{} was acknowledged but is not stored",
                workload.event_id(index)
            ));
        }
    }
    for row in stored.iter().filter(|r| r.processed_at.is_none()) {
        verdict.stored_not_applied += 1;
        verdict.wrong(format!(
            "{} is stored but was never applied",
            workload.event_id(row.index)
        ));
    }
    check_outcomes(pool, workload, stored, &mut verdict).await?;
    check_rows(pool, workload, stored, &mut verdict).await?;
    Ok(verdict)
}

async fn check_outcomes(
    pool: &PgPool,
    workload: &Workload,
    stored: &[SentEventRow],
    verdict: &mut Verdict,
) -> Result<(), sqlx::Error> {
    for chunk in stored.chunks(20_000) {
        let ids: Vec<String> = chunk.iter().map(|r| workload.event_id(r.index)).collect();
        let counts: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT id, (SELECT count(*) FROM webhook_logs l
                         WHERE l.event_id = e.id AND l.status IN ('success', 'stale')),
                        (SELECT count(*) FROM webhook_logs l
                         WHERE l.event_id = e.id AND l.status = 'dead')
             FROM unnest($1::text[]) AS e(id)",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        for (id, outcomes, dead) in counts {
            if outcomes != 1 {
                verdict.outcome_count_wrong += 1;
                verdict.wrong(format!("{id} has {outcomes} success/stale outcomes, not 1"));
            }
            if dead > 0 {
                verdict.dead += 1;
                verdict.wrong(format!("{id} was dead-lettered"));
            }
        }
    }
    Ok(())
}

/// What the tables must hold: the newest stored event of every object, and
/// the objects with a stored deletion where the kind keeps tombstones (a
/// tombstone wins whatever follows).
struct Expected {
    winners: HashMap<(Kind, u64), (Version, u64)>,
    deleted: HashSet<(Kind, u64)>,
}

fn expected(workload: &Workload, stored: &[SentEventRow]) -> Expected {
    let mut winners: HashMap<(Kind, u64), (Version, u64)> = HashMap::new();
    let mut deleted = HashSet::new();
    for row in stored {
        let spec = workload.spec(row.index);
        if spec.kind.marker().tombstones && action(spec.event_type) == "deleted" {
            deleted.insert((spec.kind, spec.object));
        }
        let version = Version {
            created: spec.created,
            rank: rank(spec.event_type),
            event_id: workload.event_id(row.index),
        };
        let slot = winners
            .entry((spec.kind, spec.object))
            .or_insert_with(|| (version.clone(), row.index));
        if version > slot.0 {
            *slot = (version, row.index);
        }
    }
    Expected { winners, deleted }
}

async fn check_rows(
    pool: &PgPool,
    workload: &Workload,
    stored: &[SentEventRow],
    verdict: &mut Verdict,
) -> Result<(), sqlx::Error> {
    let Expected { winners, deleted } = expected(workload, stored);
    for kind in Kind::all() {
        let expected: Vec<(u64, u64)> = winners
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, object), (_, index))| (*object, *index))
            .collect();
        let ids: Vec<String> = expected
            .iter()
            .map(|(o, _)| workload.object_id(kind, *o))
            .collect();
        let actual = read_rows(pool, kind, &ids).await?;
        for ((object, index), id) in expected.iter().zip(&ids) {
            verdict.objects_checked += 1;
            let want = Row {
                last_event_id: Some(workload.event_id(*index)),
                marker: Some(Workload::marker(*index)),
                deleted: deleted.contains(&(kind, *object)),
            };
            match actual.get(id) {
                Some(got) if *got == want => {}
                // A tombstone is sticky: what it keeps besides is not ours to check.
                Some(got) if want.deleted && got.deleted => {}
                got => {
                    verdict.rows_wrong += 1;
                    verdict.wrong(format!("{id}: expected {want:?}, found {got:?}"));
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
struct Row {
    last_event_id: Option<String>,
    marker: Option<i64>,
    deleted: bool,
}

async fn read_rows(
    pool: &PgPool,
    kind: Kind,
    ids: &[String],
) -> Result<HashMap<String, Row>, sqlx::Error> {
    let sql = kind.marker().read_rows;
    let rows: Vec<(String, Option<String>, Option<i64>, bool)> =
        sqlx::query_as(sql).bind(ids).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(id, last_event_id, marker, deleted)| {
            (
                id,
                Row {
                    last_event_id,
                    marker,
                    deleted,
                },
            )
        })
        .collect())
}
