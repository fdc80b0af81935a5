//! The one tombstone write of every kind Stripe deletes.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::{SyncedKind, Version};

/// Where a kind keeps its tombstones.
pub struct Tombstones {
    pub table: &'static str,
    pub id_column: &'static str,
    /// Whether a row made by the deletion alone is marked a placeholder.
    pub marks_placeholder: bool,
}

impl Tombstones {
    /// Sets `deleted_at` on rows not deleted yet, whatever their version: a
    /// deletion is final. An object seen only as a deletion gets a row with
    /// no version, so its own older events still fill in its details.
    /// Returns the ids written.
    pub async fn write<K: SyncedKind>(
        &self,
        conn: &mut PgConnection,
        changes: &[(&Version, &K::Change)],
    ) -> Result<HashSet<String>, sqlx::Error> {
        let (ids, created): (Vec<&str>, Vec<i64>) = changes
            .iter()
            .map(|(v, c)| (K::object_id(c), v.created))
            .unzip();
        let (table, id) = (self.table, self.id_column);
        let (placeholder_column, placeholder_value) = if self.marks_placeholder {
            (", is_placeholder", ", true")
        } else {
            ("", "")
        };
        let sql = format!(
            "INSERT INTO {table} AS r ({id}, deleted_at{placeholder_column})
             SELECT t.id, to_timestamp(t.created){placeholder_value}
             FROM unnest($1::text[], $2::int8[]) AS t(id, created)
             ON CONFLICT ({id}) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
             WHERE r.deleted_at IS NULL
             RETURNING r.{id}"
        );
        // Safe: every part is a compile-time constant of this crate.
        let written: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .bind(created)
            .fetch_all(conn)
            .await?;
        Ok(written.into_iter().collect())
    }
}
