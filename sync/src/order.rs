//! Which of two events about one object is newer.
//!
//! Stripe's `created` has one-second resolution and several events about one
//! object often share a second (created, then updated; a payment failing
//! then succeeding). Within a second, tether orders events by the object's
//! lifecycle: a creation before any update, an update before a deletion, a
//! payment's terminal status (succeeded, canceled) after its intermediate
//! ones. Two events still tied (same second, same stage) are ordered by event
//! id: the payload cannot say which came first, so the rule is at least the
//! same on every worker and every replay, and all of them converge on one row.

/// SQL for "the incoming row (`EXCLUDED`) is newer than the stored row
/// `$alias`": the one version guard of every synced table. Event ids compare
/// byte-wise (`COLLATE "C"`), exactly as [`Version`]'s `Ord` does, so an
/// event that wins inside one job also wins against the stored row, whatever
/// the database's default collation (en_US would order `evt_a` before `evt_B`).
#[macro_export]
macro_rules! stored_is_older {
    ($alias:literal) => {
        concat!(
            "(", $alias, ".last_event_created, ", $alias, ".last_event_rank, ",
            $alias, ".last_event_id COLLATE \"C\")",
            " < (EXCLUDED.last_event_created, EXCLUDED.last_event_rank, EXCLUDED.last_event_id COLLATE \"C\")"
        )
    };
}

use sqlx::{Postgres, postgres::PgArguments, query::QueryScalar};

/// The ordering key stored on every synced row with the event that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub created: i64,
    pub rank: i16,
    pub event_id: String,
}

/// Binds the version columns every guarded upsert takes last: event ids,
/// `created` and ranks, in that order, one element per change.
pub fn bind_versions<'q, O>(
    query: QueryScalar<'q, Postgres, O, PgArguments>,
    versions: &[&'q Version],
) -> QueryScalar<'q, Postgres, O, PgArguments> {
    query
        .bind(
            versions
                .iter()
                .map(|v| v.event_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(versions.iter().map(|v| v.created).collect::<Vec<_>>())
        .bind(versions.iter().map(|v| v.rank).collect::<Vec<_>>())
}

/// The lifecycle stage of an event type, for same-second ties.
pub fn rank(event_type: &str) -> i16 {
    match event_type.rsplit('.').next().unwrap_or_default() {
        "created" => 0,
        "deleted" => 3,
        // Final states: a paid or voided invoice is never reopened.
        "succeeded" | "canceled" | "paid" | "voided" => 3,
        "payment_failed" => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(created: i64, event_type: &str, id: &str) -> Version {
        Version {
            created,
            rank: rank(event_type),
            event_id: id.into(),
        }
    }

    #[test]
    fn a_later_second_always_wins() {
        assert!(v(11, "customer.created", "evt_a") > v(10, "customer.deleted", "evt_z"));
    }

    #[test]
    fn within_a_second_the_lifecycle_decides() {
        assert!(v(10, "customer.updated", "evt_a") > v(10, "customer.created", "evt_z"));
        assert!(v(10, "customer.deleted", "evt_a") > v(10, "customer.updated", "evt_z"));
        assert!(
            v(10, "payment_intent.succeeded", "evt_a")
                > v(10, "payment_intent.payment_failed", "evt_z")
        );
        assert!(
            v(10, "payment_intent.payment_failed", "evt_a")
                > v(10, "payment_intent.processing", "evt_z")
        );
        assert!(
            v(10, "customer.subscription.deleted", "evt_a")
                > v(10, "customer.subscription.paused", "evt_z")
        );
    }

    #[test]
    fn a_full_tie_is_broken_by_event_id() {
        assert!(v(10, "customer.updated", "evt_b") > v(10, "customer.updated", "evt_a"));
    }
}
