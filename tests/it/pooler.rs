//! tether behind a real PgBouncer. Through a transaction-mode pooler (what
//! Supabase serves on port 6543) `tether migrate` stops before changing
//! anything and names the address to use instead; through session mode it
//! migrates as on a direct connection.

use std::{
    os::unix::process::CommandExt,
    process::{Command, Output, Stdio},
    time::Duration,
};

use crate::{helpers::TestDatabase, roles::free_port, worker_support::KillOnDrop};

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
        std::fs::write(
            &config,
            format!(
                "[databases]\n* = host=127.0.0.1 port=5432\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 auth_type = trust\nauth_file = {}\npool_mode = {mode}\n\
                 default_pool_size = 10\nunix_socket_dir =\n\
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

fn migrate(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

async fn public_tables(database: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(&database.connect().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_refuses_a_transaction_pooler_and_names_what_to_use() {
    let database = TestDatabase::create().await;
    let pooler = Pooler::start("transaction").await;
    let out = migrate(&pooler.url(&database));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("goes through a transaction-mode pooler"),
        "{stderr}"
    );
    assert!(stderr.contains("session-mode pooler"), "{stderr}");
    assert!(stderr.contains("port 5432, not 6543"), "{stderr}");
    assert_eq!(public_tables(&database).await, 0, "nothing was created");
}

#[tokio::test]
async fn migrate_works_through_a_session_pooler() {
    let database = TestDatabase::create().await;
    let pooler = Pooler::start("session").await;
    let out = migrate(&pooler.url(&database));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let synced: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'
           AND tablename IN ('end_customers', 'webhook_logs') ORDER BY 1",
    )
    .fetch_all(&database.connect().await)
    .await
    .unwrap();
    assert_eq!(synced, ["end_customers", "webhook_logs"]);
}
