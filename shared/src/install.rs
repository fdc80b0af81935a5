//! Installing tether into a database that may already hold an app (a
//! Supabase project, say): tether's tables go in their own schema when
//! asked (`TETHER_SCHEMA`), and `tether migrate` stops before changing
//! anything when a table it would create already exists and is not its own.

use anyhow::Context;
use sqlx::PgPool;

use crate::config::AppTables;

/// Every table and view tether's migrations create (or rename to), read
/// from the migrations themselves, so an install never takes over an
/// app's table and a new migration needs no list of its own.
pub fn tether_tables() -> Vec<String> {
    let mut tables: Vec<String> = crate::db::migrator()
        .iter()
        .flat_map(|migration| created_relations(migration.sql.as_str()))
        .collect();
    tables.sort();
    tables.dedup();
    tables
}

/// The names a migration's statements create: `CREATE TABLE`, `CREATE
/// [OR REPLACE] [MATERIALIZED] VIEW`, and `ALTER TABLE x RENAME TO y`.
fn created_relations(sql: &str) -> Vec<String> {
    let words: Vec<String> = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .flat_map(str::split_whitespace)
        .map(str::to_ascii_lowercase)
        .collect();
    let mut names = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let next = |n: usize| words.get(i + n).map(String::as_str);
        let name_at = match (word.as_str(), next(1), next(2)) {
            ("create", Some("table"), Some("if")) => i + 5,
            ("create", Some("table" | "view"), _) => i + 2,
            ("create", Some("or"), Some("replace")) if next(3) == Some("view") => i + 4,
            ("create", Some("materialized"), Some("view")) => i + 3,
            ("table", _, Some("rename")) if next(3) == Some("to") => i + 4,
            _ => continue,
        };
        if let Some(name) = words.get(name_at) {
            let name = name.split(['(', ';']).next().unwrap_or_default();
            names.push(name.trim_matches('"').to_owned());
        }
    }
    names
}

/// The version of tether's first migration: recorded in a schema's
/// `_sqlx_migrations` once tether is installed there.
const FIRST_MIGRATION: i64 = 20261122000001;

/// The schema tether's tables live in: the first entry of the connection's
/// `search_path` (set from TETHER_SCHEMA), `public` by default.
pub async fn schema(pool: &PgPool) -> anyhow::Result<String> {
    let path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
        .fetch_one(pool)
        .await
        .context("cannot read the search_path")?;
    Ok(path
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .find(|s| !s.is_empty() && *s != "$user")
        .unwrap_or("public")
        .to_owned())
}

/// Stops before any change when the connection would install somewhere
/// else than TETHER_SCHEMA. tether sets the search_path with the `options`
/// startup parameter, which a pooler may drop (PgBouncer refuses it unless
/// told to ignore it); the server's default schema would then take
/// tether's tables.
pub async fn check_schema(pool: &PgPool, expected: &str) -> anyhow::Result<()> {
    let actual = schema(pool).await?;
    anyhow::ensure!(
        actual == expected,
        "TETHER_SCHEMA is {expected}, but this connection's search_path starts with {actual} \
         (a pooler in between drops the `options` parameter that sets it); nothing was \
         changed. Set it for tether's role: ALTER ROLE <user> IN DATABASE <database> \
         SET search_path = {expected}"
    );
    Ok(())
}

/// Creates the schema if needed and refuses to install over tables that
/// are not tether's. Tables count as tether's once its first migration
/// is recorded in that schema.
pub async fn prepare(pool: &PgPool, schema: &str) -> anyhow::Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS \"{}\"",
        schema.replace('"', "\"\"")
    )))
    .execute(pool)
    .await
    .with_context(|| format!("cannot create schema {schema}"))?;
    let table = format!("\"{}\"._sqlx_migrations", schema.replace('"', "\"\""));
    let has_history: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&table)
        .fetch_one(pool)
        .await?;
    let history = match has_history {
        false => None,
        true => Some(
            sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(format!(
                "SELECT EXISTS (SELECT 1 FROM {table} WHERE version = $1)"
            )))
            .bind(FIRST_MIGRATION)
            .fetch_one(pool)
            .await?,
        ),
    };
    match history {
        Some(true) => return Ok(()),
        Some(false) => anyhow::bail!(
            "{schema}._sqlx_migrations holds another app's migrations; nothing was changed. \
             Install tether in a schema of its own: TETHER_SCHEMA=tether (or --schema tether)"
        ),
        None => {}
    }
    let clashes: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = $1 AND table_name = ANY($2) ORDER BY 1",
    )
    .bind(schema)
    .bind(tether_tables())
    .fetch_all(pool)
    .await?;
    if let Some(first) = clashes.first() {
        anyhow::bail!(
            "table {schema}.{first} already exists and is not tether's{}; nothing was changed. \
             Install tether in a schema of its own: TETHER_SCHEMA=tether (or --schema tether)",
            if clashes.len() > 1 {
                format!(" (also: {})", clashes[1..].join(", "))
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// Adds `stripe_customer_id text` (nullable) to each app table tether was
/// pointed at, and nothing else; a table that does not exist stops here.
pub async fn link_app_tables(pool: &PgPool, apps: &AppTables) -> anyhow::Result<()> {
    for (variable, table) in [
        ("TETHER_ORGANIZATIONS_TABLE", &apps.organizations),
        ("TETHER_USERS_TABLE", &apps.users),
    ] {
        let Some(table) = table else { continue };
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table.quoted())
            .fetch_one(pool)
            .await?;
        anyhow::ensure!(exists, "{variable}={} does not exist", table.name());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS stripe_customer_id text",
            table.quoted()
        )))
        .execute(pool)
        .await
        .with_context(|| format!("cannot add stripe_customer_id to {}", table.name()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_relations_are_read_from_the_statements() {
        let sql = "CREATE TABLE a (id int); -- CREATE TABLE commented
                   create table if not exists b(id int);
                   CREATE OR REPLACE VIEW c AS SELECT 1;
                   CREATE VIEW d WITH (security_invoker = true) AS SELECT 1;
                   ALTER TABLE a RENAME TO e;
                   ALTER TABLE e RENAME COLUMN id TO key;
                   ALTER INDEX a_pkey RENAME TO e_pkey;";
        assert_eq!(created_relations(sql), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn every_migration_names_its_tables() {
        let tables = tether_tables();
        for table in [
            "end_customers",
            "received_events",
            "stripe_events",
            "webhook_logs",
        ] {
            assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
        }
    }
}
