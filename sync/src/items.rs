//! The list a parent object carries (a subscription's items, an invoice's
//! lines), kept as rows of its own table. The list is replaced as a set
//! whenever the parent's row is written, and only then: the rows always
//! match the parent's newest event, and an item the parent no longer lists
//! leaves the table.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::PgConnection;

use super::fields;

/// A Stripe list (`{"data": [...], "has_more": false}`) read from a parent.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    /// One per item id.
    pub items: Vec<T>,
    /// Whether the parent carried the whole list. A truncated list
    /// (`has_more`) adds and updates rows but removes none, since the
    /// missing ones may still belong to the parent.
    pub complete: bool,
}

/// The elements of a Stripe list (`{"data": [...]}`), if it is one.
fn elements(list: &Value) -> Option<&Vec<Value>> {
    list.get("data")?.as_array()
}

/// The first element of a Stripe list (a subscription's first item, whose
/// price stands for the subscription's).
pub fn first_element(list: &Value) -> Option<&Value> {
    elements(list)?.first()
}

impl<T> Listed<T> {
    /// The list under `key`, each element read by `read` (an element it
    /// cannot read is left out). An id listed twice keeps its last element:
    /// a payload that listed one twice would otherwise fail its upsert on
    /// every attempt. An absent or malformed list reads as empty and
    /// incomplete, which changes nothing.
    pub fn read(
        object: &impl fields::Fields,
        key: &str,
        read: impl Fn(&Value) -> Option<T>,
        id: impl Fn(&T) -> &str,
    ) -> Self {
        Self::of_list(object.field(key).as_deref(), read, id)
    }

    /// [`Listed::read`] of a list already parsed (`None`: absent).
    pub fn of_list(
        list: Option<&Value>,
        read: impl Fn(&Value) -> Option<T>,
        id: impl Fn(&T) -> &str,
    ) -> Self {
        let Some(list) = list else {
            return Self::empty();
        };
        let Some(elements) = elements(list) else {
            return Self::empty();
        };
        let mut items: Vec<T> = Vec::with_capacity(elements.len());
        let mut position: HashMap<String, usize> = HashMap::new();
        for item in elements.iter().filter_map(read) {
            match position.get(id(&item)) {
                Some(&seen) => items[seen] = item,
                None => {
                    position.insert(id(&item).to_owned(), items.len());
                    items.push(item);
                }
            }
        }
        Self {
            items,
            complete: list.get("has_more").and_then(Value::as_bool) == Some(false),
        }
    }

    /// Whether writing this list changes anything: a complete list (even
    /// an empty one) replaces the set, a truncated one adds its items; an
    /// absent list does neither.
    pub fn changes_anything(&self) -> bool {
        self.complete || !self.items.is_empty()
    }

    fn empty() -> Self {
        Self {
            items: Vec::new(),
            complete: false,
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
    /// Removes the rows of each parent whose newest list is complete and
    /// no longer names them. `lists` holds (parent id, its list), after the
    /// listed rows were written.
    pub async fn remove_unlisted<T>(
        &self,
        conn: &mut PgConnection,
        lists: &[(&str, &Listed<T>)],
        id: impl Fn(&T) -> &str,
    ) -> Result<u64, sqlx::Error> {
        let complete: Vec<&str> = lists
            .iter()
            .filter(|(_, list)| list.complete)
            .map(|(parent, _)| *parent)
            .collect();
        if complete.is_empty() {
            return Ok(0);
        }
        let (parents, items): (Vec<&str>, Vec<&str>) = lists
            .iter()
            .flat_map(|(parent, list)| list.items.iter().map(|i| (*parent, id(i))))
            .unzip();
        let (table, parent, item) = (self.table, self.parent_column, self.id_column);
        let sql = format!(
            "DELETE FROM {table} r WHERE r.{parent} = ANY($1)
             AND (r.{parent}, r.{item}) NOT IN (SELECT * FROM unnest($2::text[], $3::text[]))"
        );
        // Safe: every part is a compile-time constant of this crate.
        let removed = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(complete)
            .bind(parents)
            .bind(items)
            .execute(conn)
            .await?;
        Ok(removed.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(json: &str) -> Listed<(String, i64)> {
        let object: Value = serde_json::from_str(json).unwrap();
        Listed::read(
            &object,
            "items",
            |v| Some((fields::string(v, "id")?, fields::integer(v, "quantity")?)),
            |(id, _)| id,
        )
    }

    #[test]
    fn an_id_listed_twice_keeps_its_last_element_in_its_first_place() {
        let list = listed(
            r#"{"items":{"has_more":false,"data":[{"id":"si_a","quantity":1},{"id":"si_b","quantity":2},
                                                  {"id":"si_a","quantity":3},{"quantity":4}]}}"#,
        );
        assert_eq!(list.items, [("si_a".into(), 3), ("si_b".into(), 2)]);
        assert!(list.complete);
    }

    #[test]
    fn an_element_of_another_shape_is_left_out_and_the_rest_read() {
        let list = listed(
            r#"{"items":{"has_more":"no","data":[1,{"id":"si_a","quantity":1},null,"si_b"]}}"#,
        );
        assert_eq!(list.items, [("si_a".into(), 1)]);
        assert!(!list.complete, "has_more that is not false");
    }

    #[test]
    fn a_truncated_or_missing_list_is_incomplete() {
        assert!(
            !listed(r#"{"items":{"has_more":true,"data":[{"id":"si_a","quantity":1}]}}"#).complete
        );
        assert_eq!(listed(r#"{"items":[1]}"#), Listed::empty());
        assert_eq!(listed(r#"{"items":{"data":7}}"#), Listed::empty());
        assert_eq!(listed(r#"{}"#), Listed::empty());
    }
}
