//! tether in a Supabase project: private by default (RLS), opt-in
//! read-own-rows policies, and an install beside an existing app that
//! never takes over its tables. Supabase's roles, grants, `auth.users` and
//! `auth.uid()` are recreated in the test database.

use std::process::Command;

use serde_json::json;
use sqlx::{PgPool, Row};

use tether_shared::{config::AppTables, install::tether_tables};

use crate::{
    fake_stripe::{FakeStripe, KEY},
    helpers::{TestApp, TestDatabase},
    worker_support::*,
};

/// Supabase's API roles, its default grants on a schema, and `auth`.
pub async fn supabase_shape(pool: &PgPool, schema: &str) {
    // Roles belong to the cluster: another test may be creating them too.
    for (role, bypass) in [
        ("anon", ""),
        ("authenticated", ""),
        ("service_role", " BYPASSRLS"),
    ] {
        let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {role} NOLOGIN{bypass}"
        )))
        .execute(pool)
        .await;
        if let Err(sqlx::Error::Database(e)) = &created {
            assert!(
                matches!(e.code().as_deref(), Some("42710" | "23505" | "XX000")),
                "{e}"
            );
        }
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS auth;
         CREATE TABLE IF NOT EXISTS auth.users (id uuid PRIMARY KEY, email text, email_confirmed_at timestamptz);
         -- Supabase's own definition: a connection that once had claims set
         -- (even rolled back) reads them as '' afterwards, not as null.
         CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
           SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                           (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$;
         GRANT USAGE ON SCHEMA auth, {schema} TO anon, authenticated, service_role;
         GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
         GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO anon, authenticated, service_role;"
    )))
    .execute(pool)
    .await
    .unwrap();
}

/// Runs `migrations/optional/NAME.sql` with psql, as the README says to.
pub fn run_optional_sql(app: &TestApp, name: &str, variables: &[&str]) {
    let mut command = Command::new("psql");
    command
        .arg(database_url(app))
        .args(["-v", "ON_ERROR_STOP=1", "-q"]);
    for variable in variables {
        command.args(["-v", variable]);
    }
    let file = format!(
        "{}/migrations/optional/{name}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = command.arg("-f").arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `sql` as `role`, with the JWT claims Supabase would set.
pub async fn as_role(
    pool: &PgPool,
    role: &str,
    sub: Option<&str>,
    sql: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows = run_as(&mut tx, role, sub, sql).await;
    // Rolled back here, not on drop, on success and failure alike: a
    // dropped transaction's connection stays idle in it, holding locks a
    // later DDL statement would wait on.
    tx.rollback().await?;
    let rows = rows?;
    Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
}

async fn run_as(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    role: &str,
    sub: Option<&str>,
    sql: &str,
) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET LOCAL ROLE {role}")))
        .execute(&mut **tx)
        .await?;
    if let Some(sub) = sub {
        sqlx::query("SELECT set_config('request.jwt.claims', $1, true)")
            .bind(json!({ "sub": sub }).to_string())
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut **tx)
        .await
}

/// Every table and view tether's migrations created, read from the
/// database, so a new one is covered here without editing this file.
async fn migrated_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `tether migrate` refuses to take over an app's table by the list it
/// reads from the migrations, so that list must name every table they create.
#[tokio::test]
async fn the_install_list_names_every_migrated_table() {
    let app = TestApp::spawn().await;
    assert_eq!(tether_tables(), migrated_tables(&app.pool).await);
}

#[tokio::test]
async fn the_anon_key_sees_and_changes_nothing() {
    let app = TestApp::spawn().await;
    supabase_shape(&app.pool, "public").await;
    for event in [
        "customer.created",
        "payment_intent.succeeded",
        "customer.subscription.created",
    ] {
        apply(&app, &fixture(event)).await;
    }
    let tables = migrated_tables(&app.pool).await;
    assert!(tables.len() >= 14, "{tables:?}");
    for table in tables {
        let seen = as_role(
            &app.pool,
            "anon",
            None,
            &format!("SELECT count(*)::text FROM {table}"),
        )
        .await
        .unwrap();
        assert_eq!(seen, ["0"], "anon reads {table}");
        let seen = as_role(
            &app.pool,
            "authenticated",
            Some(&uuid::Uuid::new_v4().to_string()),
            &format!("SELECT count(*)::text FROM {table}"),
        )
        .await
        .unwrap();
        assert_eq!(
            seen,
            ["0"],
            "a signed-in user reads {table} without the opt-in policies"
        );
    }
    let write = as_role(
        &app.pool,
        "anon",
        None,
        "UPDATE subscriptions SET status = 'active' RETURNING status",
    )
    .await
    .unwrap();
    assert!(write.is_empty(), "no row is visible to change");
    let insert = as_role(
        &app.pool,
        "anon",
        None,
        "INSERT INTO end_customers (stripe_customer_id) VALUES ('cus_x') RETURNING id::text",
    )
    .await;
    assert!(insert.is_err(), "RLS refuses the insert");
    let service = as_role(
        &app.pool,
        "service_role",
        None,
        "SELECT count(*)::text FROM end_customers",
    )
    .await
    .unwrap();
    assert_eq!(service, ["1"], "Supabase's service_role bypasses RLS");
}

#[tokio::test]
async fn with_the_opt_in_policies_a_user_reads_only_their_own_rows() {
    let app = TestApp::spawn().await;
    supabase_shape(&app.pool, "public").await;
    for (customer, payment, subscription) in [
        ("cus_alice", "pi_alice", "sub_alice"),
        ("cus_bob", "pi_bob", "sub_bob"),
    ] {
        let mut c = fixture("customer.created");
        c["data"]["object"]["id"] = json!(customer);
        let mut p = fixture("payment_intent.succeeded");
        p["data"]["object"]["id"] = json!(payment);
        p["data"]["object"]["customer"] = json!(customer);
        let mut s = fixture("customer.subscription.created");
        s["data"]["object"]["id"] = json!(subscription);
        s["data"]["object"]["customer"] = json!(customer);
        s["data"]["object"]["items"]["data"][0]["id"] = json!(format!("si_{customer}"));
        let mut i = fixture("invoice.paid");
        i["data"]["object"]["id"] = json!(format!("in_{customer}"));
        i["data"]["object"]["customer"] = json!(customer);
        for event in [c, p, s, i] {
            apply(&app, &event).await;
        }
    }
    let (alice, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for (user, customer) in [(alice, "cus_alice"), (bob, "cus_bob")] {
        sqlx::query(
            "INSERT INTO users (id, customer_id) SELECT $1, id FROM end_customers WHERE stripe_customer_id = $2",
        )
        .bind(user)
        .bind(customer)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    run_optional_sql(&app, "read_own_rows", &["schema=public"]);

    let alice = alice.to_string();
    let read = |sql: &'static str| as_role(&app.pool, "authenticated", Some(&alice), sql);
    assert_eq!(
        read("SELECT stripe_customer_id FROM end_customers")
            .await
            .unwrap(),
        ["cus_alice"]
    );
    assert_eq!(
        read("SELECT stripe_payment_intent_id FROM payments")
            .await
            .unwrap(),
        ["pi_alice"]
    );
    assert_eq!(
        read("SELECT stripe_subscription_id FROM subscriptions")
            .await
            .unwrap(),
        ["sub_alice"]
    );
    assert_eq!(
        read("SELECT stripe_subscription_item_id FROM subscription_items")
            .await
            .unwrap(),
        ["si_cus_alice"]
    );
    assert_eq!(
        read(
            "SELECT i.stripe_invoice_id || ' ' || count(l.id) FROM invoices i
              LEFT JOIN invoice_lines l ON l.invoice_id = i.id GROUP BY i.stripe_invoice_id"
        )
        .await
        .unwrap(),
        ["in_cus_alice 1"]
    );
    for customer in ["cus_alice", "cus_bob"] {
        let mut charge = fixture("charge.succeeded");
        charge["data"]["object"]["id"] = json!(format!("ch_{customer}"));
        charge["data"]["object"]["customer"] = json!(customer);
        charge["data"]["object"]["payment_intent"] = json!(format!("pi_{}", &customer[4..]));
        let mut dispute = fixture("charge.dispute.created");
        dispute["data"]["object"]["id"] = json!(format!("dp_{customer}"));
        dispute["data"]["object"]["charge"] = json!(format!("ch_{customer}"));
        apply(&app, &charge).await;
        apply(&app, &dispute).await;
    }
    assert_eq!(
        read("SELECT stripe_charge_id FROM charges").await.unwrap(),
        ["ch_cus_alice"]
    );
    assert_eq!(
        read("SELECT stripe_dispute_id FROM disputes")
            .await
            .unwrap(),
        ["dp_cus_alice"]
    );
    apply(&app, &fixture("price.created")).await;
    let catalog = as_role(
        &app.pool,
        "anon",
        None,
        "SELECT stripe_price_id FROM prices",
    )
    .await
    .unwrap();
    assert_eq!(
        catalog,
        ["price_1PgafmB7WZ01zgkW6dKueIc5"],
        "the pricing page is public"
    );
    assert_eq!(
        read("SELECT count(*)::text FROM stripe_events")
            .await
            .unwrap(),
        ["0"],
        "raw events stay private"
    );
    let nobody = as_role(
        &app.pool,
        "anon",
        None,
        "SELECT stripe_customer_id FROM end_customers",
    )
    .await
    .unwrap();
    assert!(nobody.is_empty());
}

/// A starter app already has `users`, `subscriptions` and `organizations`:
/// `tether migrate` stops before changing anything and says how to avoid
/// the clash; with TETHER_SCHEMA it installs beside the app.
#[tokio::test]
async fn migrate_never_takes_over_an_apps_tables() {
    let database = TestDatabase::create().await;
    let pool = database.connect().await;
    sqlx::raw_sql(
        "CREATE SCHEMA auth;
         CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
         CREATE TABLE users (id uuid PRIMARY KEY REFERENCES auth.users, full_name text);
         CREATE TABLE subscriptions (id text PRIMARY KEY, user_id uuid REFERENCES users, status text);
         CREATE TABLE organizations (id uuid PRIMARY KEY, name text);
         INSERT INTO auth.users VALUES ('00000000-0000-0000-0000-000000000001', 'a@example.com');
         INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001', 'Ada');
         INSERT INTO subscriptions VALUES ('sub_app', '00000000-0000-0000-0000-000000000001', 'active');",
    )
    .execute(&pool)
    .await
    .unwrap();
    let migrate = |schema: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
        command.arg("migrate").env("DATABASE_URL", database.url());
        match schema {
            Some(schema) => command.env("TETHER_SCHEMA", schema),
            None => command.env_remove("TETHER_SCHEMA"),
        };
        command.output().unwrap()
    };
    let refused = migrate(None);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("table public.organizations already exists"),
        "{stderr}"
    );
    assert!(stderr.contains("TETHER_SCHEMA"), "{stderr}");
    let tether_tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'received_events'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tether_tables, 0, "nothing was changed");

    let installed = migrate(Some("billing"));
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    assert!(
        migrate(Some("billing")).status.success(),
        "again: idempotent"
    );
    let in_billing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'billing' AND tablename IN ('received_events', 'subscriptions', 'users')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(in_billing, 3);
    let app_rows: (String, String) = sqlx::query_as(
        "SELECT u.full_name, s.status FROM public.users u JOIN public.subscriptions s ON s.user_id = u.id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        app_rows,
        ("Ada".into(), "active".into()),
        "the app's rows are untouched"
    );
    pool.close().await;
}

/// A Supabase database webhook for an `auth.users` INSERT.
pub fn signup_payload(user: &uuid::Uuid, email: &str) -> serde_json::Value {
    json!({
        "type": "INSERT", "table": "users", "schema": "auth",
        "record": { "id": user.to_string(), "email": email }, "old_record": null
    })
}

pub async fn post_signup(
    app: &TestApp,
    token: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}/webhooks/supabase", app.addr))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let reply = request.send().await.unwrap();
    (
        reply.status().as_u16(),
        reply.json().await.unwrap_or_default(),
    )
}

pub fn api(fake: &FakeStripe) -> tether_stripe_api::StripeApi {
    tether_stripe_api::StripeApi::new(tether_stripe_api::ApiConfig {
        secret_key: KEY.to_owned().into(),
        api_base: fake.base.clone(),
        rate: Some(1000.0),
    })
    .unwrap()
}

#[tokio::test]
async fn a_signup_webhook_becomes_exactly_one_stripe_customer() {
    let app =
        TestApp::spawn_with(|c| c.supabase_token = Some("sb-hook-token".to_owned().into())).await;
    let fake = FakeStripe::start(0, 0, 0);
    let user = uuid::Uuid::new_v4();
    let body = signup_payload(&user, "ada@example.com");
    let (status, answer) = post_signup(&app, Some("sb-hook-token"), &body).await;
    assert_eq!(
        (status, answer),
        (200, json!({ "received": true, "duplicate": false }))
    );
    let (_, again) = post_signup(&app, Some("sb-hook-token"), &body).await;
    assert_eq!(
        again["duplicate"],
        json!(true),
        "a repeat is not queued again"
    );

    let api = api(&fake);
    assert_eq!(
        tether_ops::signups::drain(&app.pool, &api, &AppTables::default(), "test-signups")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        tether_ops::signups::drain(&app.pool, &api, &AppTables::default(), "test-signups")
            .await
            .unwrap(),
        0
    );
    assert_eq!(fake.created().await, 1);
    let linked: (String, Option<String>) = sqlx::query_as(
        "SELECT c.stripe_customer_id, c.email FROM users u JOIN end_customers c ON c.id = u.customer_id
         WHERE u.id = $1",
    )
    .bind(user)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(linked.1.as_deref(), Some("ada@example.com"));
    let recorded: Option<String> = sqlx::query_scalar(
        "SELECT stripe_customer_id FROM supabase_signups WHERE row_id = $1::text",
    )
    .bind(user)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(recorded, Some(linked.0));
}

#[tokio::test]
async fn the_signup_webhook_needs_its_token() {
    let off = TestApp::spawn().await;
    let body = signup_payload(&uuid::Uuid::new_v4(), "a@example.com");
    assert_eq!(
        post_signup(&off, Some("anything"), &body).await.0,
        404,
        "off without a token"
    );

    let app =
        TestApp::spawn_with(|c| c.supabase_token = Some("sb-hook-token".to_owned().into())).await;
    for token in [None, Some("wrong")] {
        let (status, answer) = post_signup(&app, token, &body).await;
        assert_eq!(status, 401);
        assert!(answer["error"].as_str().is_some(), "{answer}");
    }
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM supabase_signups").await,
        0,
        "nothing stored"
    );
}

/// The trigger enqueues inside the sign-up's own transaction: a rolled-back
/// sign-up leaves nothing; a committed one becomes a customer, even though
/// no webhook and no tether process saw it happen.
#[tokio::test]
async fn the_signup_trigger_enqueues_inside_the_signups_transaction() {
    let app = TestApp::spawn().await;
    supabase_shape(&app.pool, "public").await;
    run_optional_sql(&app, "signup_trigger", &["schema=public"]);
    let fake = FakeStripe::start(0, 0, 0);
    let api = api(&fake);

    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO auth.users (id, email) VALUES ($1, 'gone@example.com')")
        .bind(uuid::Uuid::new_v4())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM supabase_signups").await,
        0
    );
    assert_eq!(
        tether_ops::signups::drain(&app.pool, &api, &AppTables::default(), "test-signups")
            .await
            .unwrap(),
        0,
        "no job"
    );

    let user = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO auth.users (id, email) VALUES ($1, 'kept@example.com')")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        tether_ops::signups::drain(&app.pool, &api, &AppTables::default(), "test-signups")
            .await
            .unwrap(),
        1
    );
    assert_eq!(fake.created().await, 1);
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM users WHERE customer_id IS NOT NULL"
        )
        .await,
        1
    );
}

/// A phone or anonymous sign-up has no email: it is never matched to some
/// other customer by an empty email, but gets a customer of its own.
#[tokio::test]
async fn a_signup_without_an_email_gets_its_own_customer() {
    let app =
        TestApp::spawn_with(|c| c.supabase_token = Some("sb-hook-token".to_owned().into())).await;
    let fake = FakeStripe::start(3, 0, 0);
    let user = uuid::Uuid::new_v4();
    let mut body = signup_payload(&user, "unused");
    body["record"]["email"] = serde_json::Value::Null;
    assert_eq!(post_signup(&app, Some("sb-hook-token"), &body).await.0, 200);
    tether_ops::signups::drain(
        &app.pool,
        &api(&fake),
        &AppTables::default(),
        "test-signups",
    )
    .await
    .unwrap();
    assert_eq!(fake.created().await, 1);
    let customer: String = sqlx::query_scalar(
        "SELECT c.stripe_customer_id FROM users u JOIN end_customers c ON c.id = u.customer_id WHERE u.id = $1",
    )
    .bind(user)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(customer.starts_with("cus_created"), "{customer}");
}

/// ADR-0008: an organization created by the app's sign-up becomes a Stripe
/// customer with its details, written back to the app's own row. tether
/// adds exactly one nullable column to that table, and nothing else.
#[tokio::test]
async fn a_new_organization_becomes_a_customer_written_back_to_the_apps_row() {
    let app =
        TestApp::spawn_with(|c| c.supabase_token = Some("sb-hook-token".to_owned().into())).await;
    sqlx::raw_sql(
        "CREATE SCHEMA app;
         CREATE TABLE app.organizations (id uuid PRIMARY KEY, name text NOT NULL, industry text,
                                         region text, created_by uuid);",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let columns = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT column_name::text || ' ' || data_type || ' ' || is_nullable FROM information_schema.columns
                 WHERE table_schema = 'app' AND table_name = 'organizations' ORDER BY ordinal_position",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let before = columns(&app.pool).await;
    let migrated = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("migrate")
        .env("DATABASE_URL", database_url(&app))
        .env("TETHER_ORGANIZATIONS_TABLE", "app.organizations")
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let mut expected = before.clone();
    expected.push("stripe_customer_id text YES".into());
    assert_eq!(
        columns(&app.pool).await,
        expected,
        "one nullable column, nothing else"
    );

    let (org, founder) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    sqlx::query("INSERT INTO app.organizations (id, name, industry, region, created_by) VALUES ($1, 'Acme', 'retail', 'eu', $2)")
        .bind(org)
        .bind(founder)
        .execute(&app.pool)
        .await
        .unwrap();
    let body = json!({
        "type": "INSERT", "table": "organizations", "schema": "app", "old_record": null,
        "record": { "id": org.to_string(), "name": "Acme", "industry": "retail", "region": "eu",
                    "created_by": founder.to_string(), "stripe_customer_id": null }
    });
    assert_eq!(post_signup(&app, Some("sb-hook-token"), &body).await.0, 200);
    let fake = FakeStripe::start(0, 0, 0);
    let apps = AppTables {
        organizations: Some(tether_shared::config::parse_table("app.organizations").unwrap()),
        users: None,
    };
    assert_eq!(
        tether_ops::signups::drain(&app.pool, &api(&fake), &apps, "test-signups")
            .await
            .unwrap(),
        1
    );
    assert_eq!(fake.created().await, 1);
    let written: Option<String> =
        sqlx::query_scalar("SELECT stripe_customer_id FROM app.organizations WHERE id = $1")
            .bind(org)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let customer: (Option<String>, serde_json::Value) =
        sqlx::query_as("SELECT name, metadata FROM end_customers WHERE stripe_customer_id = $1")
            .bind(written.as_deref().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        customer,
        (
            Some("Acme".into()),
            json!({ "supabase_organization_id": org.to_string(), "industry": "retail", "region": "eu",
                    "supabase_user_id": founder.to_string() })
        )
    );
}

/// The trigger, given the app's organizations table, enqueues each new
/// organization inside the transaction that creates it.
#[tokio::test]
async fn the_organization_trigger_enqueues_inside_the_creating_transaction() {
    let app = TestApp::spawn().await;
    supabase_shape(&app.pool, "public").await;
    sqlx::raw_sql(
        "CREATE SCHEMA app;
         CREATE TABLE app.organizations (id uuid PRIMARY KEY, name text NOT NULL, stripe_customer_id text);",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    run_optional_sql(
        &app,
        "signup_trigger",
        &["schema=public", "organizations=app.organizations"],
    );
    let fake = FakeStripe::start(0, 0, 0);
    let apps = AppTables {
        organizations: Some(tether_shared::config::parse_table("app.organizations").unwrap()),
        users: None,
    };

    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO app.organizations (id, name) VALUES ($1, 'Gone')")
        .bind(uuid::Uuid::new_v4())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        tether_ops::signups::drain(&app.pool, &api(&fake), &apps, "t")
            .await
            .unwrap(),
        0
    );

    let org = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO app.organizations (id, name) VALUES ($1, 'Kept')")
        .bind(org)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        tether_ops::signups::drain(&app.pool, &api(&fake), &apps, "t")
            .await
            .unwrap(),
        1
    );
    let written: Option<String> =
        sqlx::query_scalar("SELECT stripe_customer_id FROM app.organizations WHERE id = $1")
            .bind(org)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(written.is_some_and(|id| id.starts_with("cus_created")));
}

/// Pointed at the app's users table, `link-user` writes the customer id to
/// the user's row there too (the one column `migrate` added).
#[tokio::test]
async fn link_user_writes_into_the_apps_users_table_when_pointed_at_it() {
    let app = TestApp::spawn().await;
    sqlx::raw_sql("CREATE TABLE profiles (id uuid PRIMARY KEY, full_name text)")
        .execute(&app.pool)
        .await
        .unwrap();
    let user = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO profiles VALUES ($1, 'Ada')")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    let fake = FakeStripe::start(0, 0, 0);
    for args in [
        vec!["migrate"],
        vec![
            "link-user",
            "--user-id",
            &user.to_string(),
            "--email",
            "ada@example.com",
        ],
    ] {
        let out = fake
            .tether(
                &app,
                KEY,
                &args.iter().map(|s| s.as_ref()).collect::<Vec<&str>>(),
            )
            .env("TETHER_USERS_TABLE", "public.profiles")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let written: (String, Option<String>) =
        sqlx::query_as("SELECT full_name, stripe_customer_id FROM profiles WHERE id = $1")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(written.0, "Ada");
    assert!(written.1.is_some_and(|id| id.starts_with("cus_created")));
}

/// A sign-up Stripe refuses is a dead letter like any other: listed,
/// counted by status, replayed once the cause is gone.
#[tokio::test]
async fn a_refused_signup_is_a_dead_letter_operators_can_replay() {
    let app =
        TestApp::spawn_with(|c| c.supabase_token = Some("sb-hook-token".to_owned().into())).await;
    let fake = FakeStripe::start(0, 0, 0);
    let user = uuid::Uuid::new_v4();
    assert_eq!(
        post_signup(
            &app,
            Some("sb-hook-token"),
            &signup_payload(&user, "bo@example.com")
        )
        .await
        .0,
        200
    );
    fake.control(json!({ "failures": [{ "status": 400 }] }))
        .await;
    let apps = AppTables::default();
    tether_ops::signups::drain(&app.pool, &api(&fake), &apps, "t")
        .await
        .unwrap();

    let listed = tether_json(&app, &["dlq", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["event_type"], json!("supabase.signup"));
    assert_eq!(listed[0]["object_id"], json!(format!("user {user}")));
    assert_eq!(tether_json(&app, &["status"])["queue"]["dead"], json!(1));

    assert_eq!(
        tether_json(&app, &["dlq", "replay", "--all"])["replayed"],
        json!(1)
    );
    assert_eq!(
        tether_ops::signups::drain(&app.pool, &api(&fake), &apps, "t")
            .await
            .unwrap(),
        1
    );
    assert_eq!(fake.created().await, 1);
    assert_eq!(tether_json(&app, &["dlq", "list"]), json!([]));
}
