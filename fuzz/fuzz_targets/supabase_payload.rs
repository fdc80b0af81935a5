//! The Supabase database-webhook parser on any body. Besides "never panics",
//! an accepted body must agree with a plain `serde_json::Value` reading, and
//! a signup must come from a users INSERT whose `id` is that uuid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tether_shared::supabase::{RowChange, SupabaseWebhook, parse_supabase_webhook};
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    match parse_supabase_webhook(data) {
        Ok(hook) => check(&hook, data),
        Err(e) => assert!(e.to_string().len() < 1024, "error is one short line"),
    }
});

fn check(hook: &SupabaseWebhook, data: &[u8]) {
    assert!(!hook.schema.is_empty() && !hook.table.is_empty());
    let value: Value = serde_json::from_slice(data).expect("an accepted body is JSON");
    assert_eq!(value["schema"], hook.schema.as_str());
    assert_eq!(value["table"], hook.table.as_str());
    assert_eq!(value["type"], hook.change.kind());
    let image = |name: &str| value[name].as_object().expect("image is an object");
    match &hook.change {
        RowChange::Insert { record } => assert_eq!(image("record"), record),
        RowChange::Update { record, old_record } => {
            assert_eq!(image("record"), record);
            assert_eq!(image("old_record"), old_record);
        }
        RowChange::Delete { old_record } => assert_eq!(image("old_record"), old_record),
    }

    let signup = hook.signup();
    assert_eq!(signup, hook.try_signup().ok().flatten());
    if let Err(e) = hook.try_signup() {
        assert!(e.to_string().len() < 1024, "error is one short line");
    }
    let Some(signup) = signup else {
        return;
    };
    let RowChange::Insert { record } = &hook.change else {
        panic!("a signup from a {}", hook.change.kind());
    };
    assert_eq!(hook.table, "users");
    assert!(hook.schema == "auth" || hook.schema == "public");
    assert!(!signup.user_id.is_nil());
    let id = record["id"].as_str().expect("id is a string");
    assert_eq!(Uuid::try_parse(id).ok(), Some(signup.user_id));
    if let Some(email) = &signup.email {
        assert!(!email.is_empty());
        assert_eq!(record["email"], email.as_str());
    }
}
