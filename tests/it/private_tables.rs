//! Every table in the public schema is private under Supabase's default
//! grants: the anon key and a signed-in user read, change and delete
//! nothing, the migrations table included. The tables are read from the
//! database, so a table a later migration adds is covered unasked.

use sqlx::PgPool;

use crate::{
    helpers::TestApp,
    supabase::{as_role, supabase_shape},
    worker_support::*,
};

/// What a Supabase project grants its API roles on `public`, beyond
/// `supabase_shape`'s tables: sequences, functions, and the same for
/// whatever is created later.
async fn supabase_default_grants(pool: &PgPool) {
    sqlx::raw_sql(
        "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated, service_role;
         GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO anon, authenticated, service_role;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public
             GRANT ALL ON TABLES TO anon, authenticated, service_role;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public
             GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public
             GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// Every table and view in `public`, with one of its columns.
async fn public_tables(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT t.table_name::text,
                (SELECT c.column_name::text FROM information_schema.columns c
                 WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name
                 ORDER BY c.ordinal_position LIMIT 1)
         FROM information_schema.tables t WHERE t.table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// How many rows the owner sees in `table`.
async fn rows(pool: &PgPool, table: &str) -> i64 {
    count(pool, &format!("SELECT count(*) FROM \"{table}\"")).await
}

/// `role` (a signed-in user for `authenticated`) reads no row of `table`:
/// none visible, or not allowed to look.
async fn assert_reads_nothing(pool: &PgPool, role: &str, sub: Option<&str>, table: &str) {
    let read = as_role(
        pool,
        role,
        sub,
        &format!("SELECT count(*)::text FROM \"{table}\""),
    )
    .await;
    match read {
        Ok(seen) => assert_eq!(seen, ["0"], "{role} reads rows of {table}"),
        Err(error) => assert_permission_denied(&error, role, table),
    }
}

/// `role` updates and deletes no row of `table`: none visible, or refused.
async fn assert_changes_nothing(
    pool: &PgPool,
    role: &str,
    sub: Option<&str>,
    (table, column): (&str, &str),
) {
    for write in [
        format!("UPDATE \"{table}\" SET \"{column}\" = \"{column}\" RETURNING 'changed'"),
        format!("DELETE FROM \"{table}\" RETURNING 'deleted'"),
    ] {
        match as_role(pool, role, sub, &write).await {
            Ok(changed) => assert!(changed.is_empty(), "{role}: {write} changed {changed:?}"),
            // A view over several tables cannot be written at all.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55000") => {}
            Err(error) => assert_permission_denied(&error, role, table),
        }
    }
}

#[track_caller]
fn assert_permission_denied(error: &sqlx::Error, role: &str, table: &str) {
    let code = match error {
        sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
        _ => None,
    };
    assert_eq!(code.as_deref(), Some("42501"), "{role} on {table}: {error}");
}

#[tokio::test]
async fn under_supabases_default_grants_no_api_role_reads_or_changes_any_table() {
    let app = TestApp::spawn().await;
    for event in [
        "customer.created",
        "payment_intent.succeeded",
        "customer.subscription.created",
        "invoice.paid",
    ] {
        apply(&app, &fixture(event)).await;
    }
    supabase_shape(&app.pool, "public").await;
    supabase_default_grants(&app.pool).await;
    let tables = public_tables(&app.pool).await;
    let names: Vec<&str> = tables.iter().map(|(t, _)| t.as_str()).collect();
    assert!(names.contains(&"_sqlx_migrations"), "{names:?}");
    assert!(tables.len() >= 20, "{names:?}");
    // Rows to see: each role's writes are rolled back by `as_role`, so a
    // change shows only in what the statement returns.
    assert!(rows(&app.pool, "_sqlx_migrations").await > 0);
    assert!(rows(&app.pool, "end_customers").await > 0);

    let user = uuid::Uuid::new_v4().to_string();
    for (role, sub) in [("anon", None), ("authenticated", Some(user.as_str()))] {
        for (table, column) in &tables {
            assert_reads_nothing(&app.pool, role, sub, table).await;
            assert_changes_nothing(&app.pool, role, sub, (table, column)).await;
        }
    }
}

/// RLS on the migrations table does not stand in the way of its owner.
#[tokio::test]
async fn migrate_runs_again_on_a_private_migrations_table() {
    let app = TestApp::spawn().await;
    supabase_shape(&app.pool, "public").await;
    let applied = rows(&app.pool, "_sqlx_migrations").await;
    tether_shared::db::migrate(&app.pool, tether_shared::db::Sessions::Kept)
        .await
        .expect("migrating again is a no-op");
    let out = tether(&app, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(&app.pool, "_sqlx_migrations").await, applied);
}
