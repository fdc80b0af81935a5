use std::{collections::BTreeMap, path::PathBuf, process::Command, str::FromStr};

use stripe_shared::event::EventType;

use super::*;

/// Every event type Stripe's API has, as the async-stripe crate this build
/// uses lists them: the string literals of `EventType::as_str`, each
/// checked to parse back into a known variant of the crate's own enum.
fn stripe_event_types() -> Vec<String> {
    let source = std::fs::read_to_string(event_source()).expect("event.rs is readable");
    let start = source
        .find("pub fn as_str(&self)")
        .expect("EventType has as_str");
    let body = &source[start..];
    let body = &body[..body.find("\n    }\n").expect("as_str ends")];
    let types: Vec<String> = body
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    for event_type in &types {
        let parsed = EventType::from_str(event_type).expect("infallible");
        assert!(
            !matches!(parsed, EventType::Unknown(_)) && parsed.as_str() == event_type,
            "{event_type} is not one of async-stripe's event types"
        );
    }
    types
}

/// `src/event.rs` of the async-stripe-shared package in this build.
fn event_source() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only this machine's platform: other platforms' dependencies may not
    // be downloaded, and the tests run offline.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "async-stripe-shared")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("async-stripe-shared is a dependency");
    PathBuf::from(manifest)
        .with_file_name("src")
        .join("event.rs")
}

#[test]
fn every_stripe_event_type_has_exactly_one_home() {
    let types = stripe_event_types();
    assert!(types.len() >= 268, "only {} types read", types.len());
    let mut problems = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for event_type in &types {
        let home = home(event_type);
        let typed = matches!(home, Some(Home::Typed(_)));
        let generic = GENERIC_FAMILIES.contains(&family(event_type));
        match home {
            None => problems.push(format!("{event_type}: no home")),
            Some(_) if typed && generic => problems.push(format!(
                "{event_type}: typed, and its family is also in GENERIC_FAMILIES"
            )),
            Some(Home::Typed(_)) => *counts.entry("typed").or_default() += 1,
            Some(Home::Generic) => *counts.entry("generic").or_default() += 1,
            Some(Home::Nowhere(_)) => *counts.entry("nowhere").or_default() += 1,
        }
    }
    assert_eq!(problems, Vec::<String>::new());
    println!("{} event types: {counts:?}", types.len());
}

#[test]
fn every_declared_home_names_a_real_event_type() {
    let types = stripe_event_types();
    let families: Vec<&str> = types.iter().map(|t| family(t)).collect();
    for generic in GENERIC_FAMILIES {
        assert!(families.contains(generic), "{generic} is no Stripe family");
    }
    for (unhoused, _) in UNHOUSED {
        assert!(
            families.contains(unhoused) || types.iter().any(|t| t == unhoused),
            "{unhoused} is no Stripe event type or family"
        );
    }
    for kind in crate::KINDS {
        for event_type in kind.events() {
            assert!(types.iter().any(|t| t == event_type), "{event_type}");
        }
    }
}

#[test]
fn families_are_the_type_without_its_last_word() {
    assert_eq!(
        family("treasury.received_credit.created"),
        "treasury.received_credit"
    );
    assert_eq!(family("balance.available"), "balance");
    assert_eq!(family("nodot"), "nodot");
}
