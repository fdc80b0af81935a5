//! tether behind a real PgBouncer (Debian's 1.18), in transaction mode (what
//! Supabase serves on port 6543) and in session mode: migrations, ingest and
//! a worker all through the pooler, and 3,000 signed events applied, every
//! one. Through transaction mode nothing keeps session state: the worker
//! polls (or LISTENs on a connection of its own), migrations hold a
//! transaction lock.

use std::{
    os::unix::process::CommandExt,
    process::{Command, Output, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::{
    helpers::{TEST_SECRET, TestDatabase},
    roles::{free_port, spawn, wait_until_ready},
    worker_support::{KillOnDrop, eventually},
};

/// A PgBouncer process in front of the test server, in `mode`.
struct Pooler {
    port: u16,
    dir: std::path::PathBuf,
    _process: KillOnDrop,
}

impl Drop for Pooler {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("id runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a numeric id")
}

impl Pooler {
    async fn start(mode: &str) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tether-pgbouncer-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        let config = dir.join("pgbouncer.ini");
        // Session mode gives each client connection a server session for
        // its lifetime: ingest's, the worker's and bench's pools together
        // need more than transaction mode's few.
        let pool_size = if mode == "session" { 40 } else { 10 };
        std::fs::write(
            &config,
            format!(
                "[databases]\n* = host=127.0.0.1 port=5432\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 auth_type = trust\nauth_file = {}\npool_mode = {mode}\n\
                 default_pool_size = {pool_size}\nunix_socket_dir =\n\
                 ignore_startup_parameters = extra_float_digits,options\n",
                dir.join("users.txt").display()
            ),
        )
        .unwrap();
        // Debian installs it in /usr/sbin, which a user's PATH may lack.
        let program = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("pgbouncer");
        let mut command = Command::new(program);
        command
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // PgBouncer refuses to run as root.
        if id(&["-u"]) == 0 {
            command
                .uid(id(&["-u", "postgres"]))
                .gid(id(&["-g", "postgres"]));
        }
        let process = KillOnDrop(command.spawn().unwrap_or_else(|e| {
            panic!("pgbouncer could not start ({e}); install it: apt-get install pgbouncer")
        }));
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self {
                    port,
                    dir,
                    _process: process,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pgbouncer did not listen on {port}");
    }

    fn url(&self, database: &TestDatabase) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            self.port, database.name
        )
    }
}

fn migrate(url: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn tables(database: &TestDatabase, names: &[&str]) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'
           AND tablename = ANY($1) ORDER BY 1",
    )
    .bind(names)
    .fetch_all(&database.connect().await)
    .await
    .unwrap()
}

/// Two `tether migrate` at once through the pooler, then a third that
/// finds nothing left to do.
async fn migrate_through(mode: &str) {
    let database = TestDatabase::create().await;
    let pooler = Pooler::start(mode).await;
    let url = pooler.url(&database);
    let (first, second) = (migrate(&url), migrate(&url));
    succeeded(&first.wait_with_output().unwrap());
    succeeded(&second.wait_with_output().unwrap());
    succeeded(&migrate(&url).wait_with_output().unwrap());
    assert_eq!(
        tables(&database, &["end_customers", "webhook_logs"]).await,
        ["end_customers", "webhook_logs"]
    );
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&database.connect().await)
        .await
        .unwrap();
    let expected = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
        .count();
    assert_eq!(applied, expected as i64, "every migration once");
}

#[tokio::test]
async fn migrate_works_through_a_transaction_pooler_from_two_processes_at_once() {
    migrate_through("transaction").await;
}

#[tokio::test]
async fn migrate_works_through_a_session_pooler_from_two_processes_at_once() {
    migrate_through("session").await;
}

/// `tether bench` through the pooler: signed events to ingest, then the
/// rows read back and checked against each object's newest event.
fn bench(url: &str, port: u16, events: &str) -> (Output, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("bench")
        .args(["--url", &format!("http://127.0.0.1:{port}/webhooks/stripe")])
        .args(["--json", "--wait-timeout", "120", "--stats-wait", "0"])
        .args(["-n", events, "-c", "8", "--verify"])
        .env("DATABASE_URL", url)
        .env("STRIPE_WEBHOOK_SECRET", TEST_SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .expect("tether bench runs");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "bench printed no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, report)
}

/// Server sessions of this database whose last statement was a LISTEN.
async fn listening(database: &TestDatabase) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT application_name FROM pg_stat_activity
          WHERE datname = $1 AND query LIKE 'LISTEN %' ORDER BY 1",
    )
    .bind(&database.name)
    .fetch_all(&database.connect().await)
    .await
    .unwrap()
}

/// `tether migrate` through `url`, then `tether ingest` on a free port.
fn migrate_and_start_ingest(url: &str) -> (KillOnDrop, u16) {
    succeeded(&migrate(url).wait_with_output().unwrap());
    let port = free_port();
    let ingest = spawn(
        "ingest",
        url.to_owned(),
        &[
            ("STRIPE_WEBHOOK_SECRET", TEST_SECRET.to_owned()),
            ("TETHER_LISTEN", format!("127.0.0.1:{port}")),
        ],
    );
    (ingest, port)
}

/// Migrate, ingest, a worker and `tether bench` all through the pooler:
/// 3,000 signed events, every one acknowledged, stored and applied, and
/// every object holding its newest event. Then, with the processes still
/// running, the sessions that LISTEN (by application name).
async fn the_whole_pipeline_through(mode: &str, worker_env: &[(&str, String)]) -> Vec<String> {
    let database = TestDatabase::create().await;
    let pooler = Pooler::start(mode).await;
    let url = pooler.url(&database);
    let (_ingest, port) = migrate_and_start_ingest(&url);
    let _worker = spawn("worker", url.clone(), worker_env);
    wait_until_ready(&reqwest::Client::new(), port).await;

    let (url_for_bench, events) = (url.clone(), "3000");
    let (output, report) = tokio::task::spawn_blocking(move || bench(&url_for_bench, port, events))
        .await
        .unwrap();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let requests = report["requests"].as_u64().unwrap();
    assert_eq!(report["events"], 3000);
    assert_eq!(report["statuses"]["200"], requests, "{report}");
    assert_eq!(report["acks"], requests);
    assert_eq!(report["applied"]["stored"], 3000);
    assert_eq!(report["applied"]["applied"], 3000);
    assert_eq!(report["verify"]["rows_wrong"], 0);
    assert_eq!(report["verify"]["outcome_count_wrong"], 0);
    assert_eq!(report["verify"]["stored_not_applied"], 0);
    // Read back over a direct connection, not through the pooler.
    let pool = database.connect().await;
    let (stored, applied): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE processed_at IS NOT NULL) FROM stripe_events",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((stored, applied), (3000, 3000));
    let jobs_left: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(jobs_left, 0);
    listening(&database).await
}

#[tokio::test]
async fn three_thousand_events_are_applied_through_a_transaction_pooler() {
    let listening =
        the_whole_pipeline_through("transaction", &[("TETHER_POLL_MS", "50".into())]).await;
    assert_eq!(
        listening,
        Vec::<String>::new(),
        "no LISTEN through a transaction-mode pooler: the worker polls"
    );
}

#[tokio::test]
async fn three_thousand_events_are_applied_through_a_session_pooler() {
    let listening = the_whole_pipeline_through("session", &[]).await;
    assert_eq!(listening, ["tether"], "the worker LISTENs");
}

/// Behind a transaction-mode pooler with TETHER_LISTEN_DATABASE_URL, the
/// worker LISTENs there (a direct connection), and a NOTIFY wakes it long
/// before its poll would.
#[tokio::test]
async fn a_worker_behind_a_transaction_pooler_listens_on_the_connection_it_is_given() {
    let database = TestDatabase::create().await;
    let pooler = Pooler::start("transaction").await;
    let url = pooler.url(&database);
    let (_ingest, port) = migrate_and_start_ingest(&url);
    let _worker = spawn(
        "worker",
        url.clone(),
        &[
            ("TETHER_LISTEN_DATABASE_URL", database.url()),
            ("TETHER_POLL_MS", "600000".into()),
        ],
    );
    wait_until_ready(&reqwest::Client::new(), port).await;
    eventually(Duration::from_secs(10), "the worker LISTENs", || async {
        listening(&database).await == ["tether listener"]
    })
    .await;

    let now = crate::helpers::unix_now();
    let event =
        crate::helpers::fresh_event("customer.created", &crate::helpers::new_event_id(), now)
            .unwrap();
    let body = serde_json::to_vec(&event).unwrap();
    let header = tether_stripe::signature::sign(TEST_SECRET, now, &body);
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/stripe"))
        .header("Stripe-Signature", header)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let pool = database.connect().await;
    // The poll is ten minutes away: only the NOTIFY can wake the worker.
    eventually(Duration::from_secs(30), "the event is applied", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM stripe_events WHERE processed_at IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
            == 1
    })
    .await;
}

/// What TETHER_POOLER=auto makes of each connection: a direct one and a
/// session-mode pooler keep their sessions, a transaction-mode one does not.
#[tokio::test]
async fn the_session_probe_tells_a_transaction_pooler_from_a_session() {
    use tether_shared::{
        config::{DatabaseConfig, Pooler as Declared},
        db::{self, Sessions},
    };
    let database = TestDatabase::create().await;
    let (session, transaction) = (
        Pooler::start("session").await,
        Pooler::start("transaction").await,
    );
    for (url, expected) in [
        (database.url(), Sessions::Kept),
        (session.url(&database), Sessions::Kept),
        (transaction.url(&database), Sessions::PerTransaction),
    ] {
        let config = DatabaseConfig {
            url: url.clone().into(),
            pool_size: 2,
            schema: "public".into(),
            pooler: Declared::Auto,
        };
        let opened = db::open(&config).await.unwrap();
        assert_eq!(opened.sessions, expected, "{url}");
        opened.pool.close().await;
    }
}

/// PgBouncer drops the `options` parameter that carries TETHER_SCHEMA:
/// `tether migrate` stops before creating anything and says how to set
/// the search_path instead; once it is set on the role, tether installs
/// into its schema through the pooler.
#[tokio::test]
async fn tether_schema_through_a_pooler_needs_the_roles_search_path() {
    let database = TestDatabase::create().await;
    let pooler = Pooler::start("transaction").await;
    let url = pooler.url(&database);
    let in_schema = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_tether"))
            .arg("migrate")
            .env("DATABASE_URL", url)
            .env("TETHER_SCHEMA", "billing")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };

    let refused = in_schema(&url);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "TETHER_SCHEMA is billing, but this connection's search_path starts with public"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("SET search_path = billing"), "{stderr}");
    let names = ["end_customers", "webhook_logs"];
    assert_eq!(tables(&database, &names).await, Vec::<String>::new());

    // Per database, so the shared test server's other databases keep theirs.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER ROLE postgres IN DATABASE \"{}\" SET search_path = billing",
        database.name
    )))
    .execute(&database.connect().await)
    .await
    .unwrap();
    // A role's settings reach new server sessions only: a fresh pooler.
    drop(pooler);
    let pooler = Pooler::start("transaction").await;
    succeeded(&in_schema(&pooler.url(&database)));
    let installed: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'billing'
           AND tablename = ANY($1) ORDER BY 1",
    )
    .bind(&names[..])
    .fetch_all(&database.connect().await)
    .await
    .unwrap();
    assert_eq!(installed, names);
}

/// A migration through a transaction-mode pooler waits for one holding
/// sqlx's session lock over a direct connection (the same key, as a
/// transaction lock), and goes on once it is released.
#[tokio::test]
async fn a_migration_through_the_pooler_waits_for_one_over_a_direct_connection() {
    let database = TestDatabase::create().await;
    let pooler = Pooler::start("transaction").await;
    let direct = database.connect().await;
    let mut holder = direct.acquire().await.unwrap();
    // The lock sqlx's migrator takes over a direct connection.
    sqlx::migrate::Migrate::lock(&mut *holder).await.unwrap();

    let migrating = migrate(&pooler.url(&database));
    eventually(
        Duration::from_secs(20),
        "the migration waits for the lock",
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
              WHERE d.datname = $1 AND l.locktype = 'advisory' AND NOT l.granted",
            )
            .bind(&database.name)
            .fetch_one(&direct)
            .await
            .unwrap()
                == 1
        },
    )
    .await;
    assert_eq!(
        tables(&database, &["webhook_logs"]).await,
        Vec::<String>::new()
    );

    sqlx::migrate::Migrate::unlock(&mut *holder).await.unwrap();
    succeeded(&migrating.wait_with_output().unwrap());
    assert_eq!(tables(&database, &["webhook_logs"]).await, ["webhook_logs"]);
}
