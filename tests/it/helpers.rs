//! The test harness: a real ingest server on a loopback port, backed by a
//! fresh, migrated PostgreSQL database of its own that is dropped when the
//! test ends. Tests run in parallel; nothing is shared between them.

use std::{
    collections::HashMap,
    net::SocketAddr,
    str::FromStr,
    sync::LazyLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use secrecy::ExposeSecret;
use serde_json::Value;
use sqlx::{
    Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tether_ingest::IngestServer;
use tether_queue::JobPayload;
use tether_shared::{
    config::{IngestConfig, LogFormat},
    db,
};
use tether_stripe::{secret::parse_webhook_secrets, signature};
use tokio_util::sync::CancellationToken;

pub use tether_stripe::samples::{SAMPLE_EVENTS, fresh_event, new_event_id, sample_event};

/// The PostgreSQL server the tests use when TEST_DATABASE_URL does not say.
const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// The signing secret of a receiver started with the default test config.
pub const TEST_SECRET: &str = "whsec_tether_integration_tests";

/// Logs go to stderr only when TEST_LOG is set (run with `--nocapture` too).
static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        tether_shared::telemetry::init(LogFormat::Pretty);
    }
});

/// A status code and the JSON body that came with it.
pub type Reply = (u16, Value);

/// A running receiver and the database behind it.
///
/// Dropping it stops the server and drops the database, also when the test
/// panics.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The test database. The server uses this very pool (a clone of it), so
    /// closing it takes the database away from the server.
    pub pool: PgPool,
    pub db_name: String,
    /// The first configured signing secret; `post_signed` signs with it.
    pub secret: String,
    shutdown: CancellationToken,
    http: reqwest::Client,
    // Declared last: dropped after the server has been told to stop.
    database: TestDatabase,
}

impl TestApp {
    /// A receiver with the default test config, see [`test_config`].
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A receiver whose config `configure` adjusts first (secrets, limits).
    pub async fn spawn_with(configure: impl FnOnce(&mut IngestConfig)) -> Self {
        Self::launch(configure, None).await
    }

    /// A receiver that talks to `server_pool` (say, one pointing at a closed
    /// port) instead of the test database. `app.pool` still reaches the fresh
    /// test database, which this server never touches.
    pub async fn spawn_with_server_pool(server_pool: PgPool) -> Self {
        Self::launch(|_| {}, Some(server_pool)).await
    }

    async fn launch(
        configure: impl FnOnce(&mut IngestConfig),
        server_pool: Option<PgPool>,
    ) -> Self {
        LazyLock::force(&TRACING);
        let database = TestDatabase::create().await;
        let pool = database.connect().await;
        db::migrate(&pool, db::Sessions::Kept)
            .await
            .expect("migrations apply to a fresh database");

        let mut config = test_config();
        configure(&mut config);
        let secret = config
            .webhook_secrets
            .as_ref()
            .map(|secrets| secrets.signing())
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default();
        let server = IngestServer::build(&config, server_pool.unwrap_or_else(|| pool.clone()))
            .await
            .expect("the receiver starts");
        let addr = server.local_addr();
        let shutdown = CancellationToken::new();
        tokio::spawn(server.run(shutdown.clone()));

        let http = reqwest::Client::builder()
            // A proxy from the environment must not stand between us and loopback.
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("the HTTP client builds");
        Self {
            addr,
            pool,
            db_name: database.name.clone(),
            secret,
            shutdown,
            http,
            database,
        }
    }

    /// Posts `body` with a valid `Stripe-Signature` made with `self.secret` now.
    pub async fn post_signed(&self, body: &[u8]) -> Reply {
        let header = signature::sign(&self.secret, unix_now(), body);
        self.post_raw(body, Some(&header)).await
    }

    /// Serializes `event` and posts it signed, like Stripe delivers it.
    pub async fn post_event(&self, event: &Value) -> Reply {
        self.post_signed(&serde_json::to_vec(event).expect("a JSON value serializes"))
            .await
    }

    /// Posts `body` to the webhook route with exactly the given
    /// `Stripe-Signature` header, or none.
    pub async fn post_raw(&self, body: &[u8], signature: Option<&str>) -> Reply {
        let mut request = self
            .http
            .post(self.url("/webhooks/stripe"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        into_reply(request.send().await.expect("the receiver answers")).await
    }

    /// Any method, no body.
    pub async fn send(&self, method: reqwest::Method, path: &str) -> Reply {
        into_reply(
            self.http
                .request(method, self.url(path))
                .send()
                .await
                .expect("the receiver answers"),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        into_reply(
            self.http
                .get(self.url(path))
                .send()
                .await
                .expect("the receiver answers"),
        )
        .await
    }

    /// A new pool to the test database, independent of the server's, for
    /// looking at the database after `app.pool` was closed.
    pub async fn connect(&self) -> PgPool {
        self.database.connect().await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The config every test starts from: one known secret, loopback on an
/// ephemeral port, production limits.
pub fn test_config() -> IngestConfig {
    IngestConfig {
        webhook_secrets: Some(parse_webhook_secrets(TEST_SECRET).expect("a valid secret")),
        tolerance_secs: 300,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_body_bytes: 1024 * 1024,
        commit_timeout_ms: 10_000,
        limits: IngestConfig::DEFAULT_LIMITS,
        allowed_hosts: None,
        admin_token: None,
        supabase_token: None,
        mode: None,
        accounts: Vec::new(),
    }
}

pub fn unix_now() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit in i64")
}

/// Ids of every row of `stripe_events`.
pub async fn stored_event_ids(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT id FROM stripe_events ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("stripe_events is readable")
}

/// The events every tether job on the queue names, in the order they were
/// pushed (sizes left out).
pub async fn queued_batches(pool: &PgPool) -> Vec<JobPayload> {
    tether_queue::inspect::jobs(pool)
        .await
        .expect("the queue is readable")
        .into_iter()
        .map(|job| JobPayload {
            events: job.events.expect("a job names events"),
            ..JobPayload::default()
        })
        .collect()
}

/// How many queued jobs name each event id.
pub async fn jobs_per_event(pool: &PgPool) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for batch in queued_batches(pool).await {
        for id in batch.events {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
}

/// Neither an event row nor a job exists.
pub async fn assert_nothing_stored(pool: &PgPool) {
    assert_eq!(
        stored_event_ids(pool).await,
        Vec::<String>::new(),
        "no event should be stored"
    );
    assert_eq!(
        queued_batches(pool).await,
        Vec::new(),
        "no job should be queued"
    );
}

/// `reply` is `status` with a `{"error": "..."}` body whose message contains
/// `mentions`, so the test knows which check refused the request.
#[track_caller]
pub fn assert_refused(reply: &Reply, status: u16, mentions: &str) {
    let (actual, body) = reply;
    assert_eq!(*actual, status, "unexpected status; body: {body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"));
    assert!(
        message.contains(mentions),
        "error {message:?} should mention {mentions:?}"
    );
}

/// Every answer of the receiver is JSON; anything else fails the test.
async fn into_reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("the response body arrives");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{status} answered with a non-JSON body: {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

/// A database created for one test, dropped (with any connection still open
/// to it) when this guard goes away.
pub struct TestDatabase {
    server: PgConnectOptions,
    pub name: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.into());
        let server =
            PgConnectOptions::from_str(&url).expect("TEST_DATABASE_URL is a postgres:// URL");
        let name = format!("tether_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection(&server).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("the test database can be created");
        Self { server, name }
    }

    pub async fn connect(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(self.server.clone().database(&self.name))
            .await
            .expect("the test database accepts connections")
    }
}

impl TestDatabase {
    /// Its URL, for processes of our own binary.
    pub fn url(&self) -> String {
        let server =
            std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.into());
        format!("{}/{}", server.trim_end_matches('/'), self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, where we cannot block on a
        // future, so the DROP gets a thread and a runtime of its own.
        let server = self.server.clone();
        let drop_sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = admin_connection(&server).await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(drop_sql))
                    .execute(&mut admin)
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        // A panic here would abort a test that is already unwinding; a
        // leftover database is only worth a warning.
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error:#}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

async fn admin_connection(server: &PgConnectOptions) -> PgConnection {
    PgConnection::connect_with(&server.clone().database("postgres"))
        .await
        .expect("the PostgreSQL server (TEST_DATABASE_URL) accepts connections")
}

#[tokio::test]
async fn dropping_the_app_drops_its_database() {
    let app = TestApp::spawn().await;
    let name = app.db_name.clone();
    let server = app.database.server.clone();
    let exists = || async {
        let mut admin = admin_connection(&server).await;
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
        )
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("pg_database is readable")
    };
    assert!(exists().await, "{name} exists while the app runs");

    drop(app);

    assert!(!exists().await, "{name} is gone once the app is dropped");
}
