//! `tests/fake_stripe/server.py`, a local stand-in for Stripe's API, as the
//! tests drive it.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use serde_json::Value;

use crate::{helpers::TestApp, worker_support::*};

pub const KEY: &str = "sk_test_fake_key_never_shown";

/// `tests/fake_stripe/server.py`, on a free port, killed when dropped.
pub struct FakeStripe {
    _process: KillOnDrop,
    pub base: String,
}

impl FakeStripe {
    pub fn start(customers: u32, subscriptions: u32, payment_intents: u32) -> Self {
        Self::spawn(&[
            ("--customers", customers),
            ("--subscriptions", subscriptions),
            ("--payment-intents", payment_intents),
        ])
    }

    /// A fake whose account holds `products` and `prices` only.
    pub fn start_catalog(products: u32, prices: u32) -> Self {
        Self::spawn(&[("--products", products), ("--prices", prices)])
    }

    /// A fake whose account holds `customers` and `invoices` for them.
    pub fn start_invoices(customers: u32, invoices: u32) -> Self {
        Self::spawn(&[("--customers", customers), ("--invoices", invoices)])
    }

    /// A fake whose account holds customers, payment intents and charges;
    /// charge i pays payment intent i and has i cents refunded.
    pub fn start_charges(customers: u32, payment_intents: u32, charges: u32) -> Self {
        Self::spawn(&[
            ("--customers", customers),
            ("--payment-intents", payment_intents),
            ("--charges", charges),
        ])
    }

    fn spawn(counts: &[(&str, u32)]) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_stripe/server.py");
        let mut command = Command::new("python3");
        command.arg(script).args(["--key", KEY]);
        for (flag, n) in counts {
            command.args([*flag, &n.to_string()]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the fake");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("the fake prints its address");
        Self {
            base: format!("http://{addr}"),
            _process: KillOnDrop(child),
        }
    }

    pub async fn control(&self, body: Value) {
        let reply = reqwest::Client::new()
            .post(format!("{}/_control", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success());
    }

    /// What the fake has seen: its requests and how many objects POSTs made.
    async fn log(&self) -> Value {
        reqwest::get(format!("{}/_control", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Every request the fake has answered: method, path, query, idempotency key.
    pub async fn requests(&self) -> Vec<Value> {
        self.log().await["requests"].as_array().unwrap().clone()
    }

    pub fn tether(&self, app: &TestApp, key: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
        command
            .args(args)
            .env("DATABASE_URL", database_url(app))
            .env("STRIPE_SECRET_KEY", key)
            .env("STRIPE_API_BASE", &self.base)
            .env("TETHER_STRIPE_RATE", "1000")
            .env("RUST_LOG", "warn");
        command
    }

    pub fn run_json(&self, app: &TestApp, args: &[&str]) -> Value {
        let out = self.tether(app, KEY, args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "tether {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl FakeStripe {
    /// How many objects POSTs have created.
    pub async fn created(&self) -> u64 {
        self.log().await["created"].as_u64().unwrap()
    }
}

impl FakeStripe {
    /// Serves `objects` at the list endpoint `path` (`/v1/payment_methods`),
    /// with Stripe's pagination.
    pub async fn serve_list(&self, path: &str, objects: Vec<Value>) {
        self.control(serde_json::json!({ "lists": { path: objects } }))
            .await;
    }
}
