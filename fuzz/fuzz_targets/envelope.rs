//! The Stripe envelope parser on any body. Besides "never panics", an
//! accepted body must meet every promise `parse_envelope` documents, and
//! agree field for field with a plain `serde_json::Value` reading.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tether_stripe::envelope::{EventEnvelope, parse_envelope};

fuzz_target!(|data: &[u8]| {
    match parse_envelope(data) {
        Ok(env) => check(&env, data),
        Err(e) => assert!(e.to_string().len() < 1024, "error is one short line"),
    }
});

fn check(env: &EventEnvelope, data: &[u8]) {
    assert!(env.id.starts_with("evt_") && env.id.len() > 4 && env.id.len() <= 255);
    assert!(!env.event_type.is_empty() && env.event_type.len() <= 255);
    assert!(env.created > 0);
    assert!(!env.object_id.is_empty());

    assert!(
        std::str::from_utf8(data).is_ok(),
        "an accepted body is UTF-8"
    );
    let value: Value = match serde_json::from_slice(data) {
        Ok(value) => value,
        // Grammatical JSON that `Value` cannot hold, in a field the envelope
        // skips: a lone surrogate escape (`"\ud800"`) or a float beyond f64
        // (`1e999`). The database refuses such a payload per event.
        Err(e) if is_unrepresentable(&e) => return,
        Err(e) => panic!("an accepted body is JSON: {e}"),
    };
    let text = |v: &Value| v.as_str().map(str::to_owned);
    assert_eq!(text(&value["id"]).as_ref(), Some(&env.id));
    assert_eq!(text(&value["type"]).as_ref(), Some(&env.event_type));
    assert_eq!(value["created"].as_i64(), Some(env.created));
    assert_eq!(
        text(&value["data"]["object"]["id"]).as_ref(),
        Some(&env.object_id)
    );
    assert_eq!(text(&value["api_version"]), env.api_version);
    assert_eq!(text(&value["account"]), env.account);
    assert_eq!(value["livemode"].as_bool().unwrap_or(false), env.livemode);
}

fn is_unrepresentable(e: &serde_json::Error) -> bool {
    let message = e.to_string();
    [
        "lone leading surrogate",
        "unexpected end of hex escape",
        "number out of range",
    ]
    .iter()
    .any(|gap| message.contains(gap))
}
