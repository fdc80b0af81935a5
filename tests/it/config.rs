//! Configuration mistakes are reported clearly, and never by quoting a
//! secret.

use std::process::{Command, Output};

fn tether(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .envs(env.iter().copied())
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
        .output()
        .expect("tether runs")
}

#[test]
fn a_malformed_secret_list_is_refused_without_echoing_it() {
    let out = tether(
        &["ingest"],
        &[(
            "STRIPE_WEBHOOK_SECRET",
            "whsec_FIRSTsecret,,whsec_SECONDsecret",
        )],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("STRIPE_WEBHOOK_SECRET"), "{stderr}");
    assert!(stderr.contains("empty secret"), "{stderr}");
    assert!(
        !stderr.contains("FIRSTsecret") && !stderr.contains("SECONDsecret"),
        "{stderr}"
    );
}

#[test]
fn the_published_development_secret_is_refused_on_a_public_address() {
    let dev = "whsec_tether_local_development_only";
    let out = tether(
        &["ingest"],
        &[
            ("STRIPE_WEBHOOK_SECRET", dev),
            ("TETHER_LISTEN", "0.0.0.0:0"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("development secret"), "{stderr}");
    assert!(!stderr.contains(dev), "{stderr}");
}
