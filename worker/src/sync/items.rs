//! The list a parent object carries (a subscription's items, an invoice's
//! lines), kept as rows of its own table. The list is replaced as a set
//! whenever the parent's row is written, and only then: the rows always
//! match the parent's newest event, and an item the parent no longer lists
//! leaves the table.

use serde_json::Value;
use sqlx::PgConnection;

use super::fields;

/// A Stripe list (`{"data": [...], "has_more": false}`) read from a parent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listed {
    pub items: Vec<Value>,
    /// Whether the parent carried the whole list. A truncated list
    /// (`has_more`) adds and updates rows but removes none, since the
    /// missing ones may still belong to the parent.
    pub complete: bool,
}

impl Listed {
    /// The list under `key`; absent or malformed reads as an empty,
    /// incomplete list, which changes nothing.
    pub fn read(object: &impl fields::Fields, key: &str) -> Self {
        let Some(list) = object.field(key) else {
            return Self::default();
        };
        let Some(items) = list.get("data").and_then(Value::as_array) else {
            return Self::default();
        };
        Self {
            items: items.iter().filter(|i| i.is_object()).cloned().collect(),
            complete: list.get("has_more").and_then(Value::as_bool) == Some(false),
        }
    }
}

/// Where a kind keeps its list's rows.
pub struct ItemTable {
    pub table: &'static str,
    /// The parent's Stripe id column (`stripe_subscription_id`).
    pub parent_column: &'static str,
    /// The item's Stripe id column, unique per parent.
    pub id_column: &'static str,
}

impl ItemTable {
    /// Removes the rows of `parents` (whose lists are complete) that their
    /// newest lists no longer name. `listed` holds (parent, item) pairs.
    pub async fn remove_unlisted(
        &self,
        conn: &mut PgConnection,
        parents: &[&str],
        listed: &[(&str, &str)],
    ) -> Result<u64, sqlx::Error> {
        if parents.is_empty() {
            return Ok(0);
        }
        let (table, parent, id) = (self.table, self.parent_column, self.id_column);
        let sql = format!(
            "DELETE FROM {table} r WHERE r.{parent} = ANY($1)
             AND (r.{parent}, r.{id}) NOT IN (SELECT * FROM unnest($2::text[], $3::text[]))"
        );
        // Safe: every part is a compile-time constant of this crate.
        let removed = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(parents)
            .bind(listed.iter().map(|(p, _)| *p).collect::<Vec<_>>())
            .bind(listed.iter().map(|(_, i)| *i).collect::<Vec<_>>())
            .execute(conn)
            .await?;
        Ok(removed.rows_affected())
    }
}
