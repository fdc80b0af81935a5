use serde_json::json;

use super::*;

/// What a Supabase "Database Webhook" on auth.users INSERT posts, column for
/// column.
const AUTH_USERS_INSERT: &str = include_str!("auth_users_insert.json");

fn parse(body: &Value) -> Result<SupabaseWebhook, SupabaseError> {
    parse_supabase_webhook(body.to_string().as_bytes())
}

#[test]
fn reads_an_auth_users_insert_as_a_signup() {
    let hook = parse_supabase_webhook(AUTH_USERS_INSERT.as_bytes()).unwrap();
    assert_eq!(hook.schema, "auth");
    assert_eq!(hook.table, "users");
    let RowChange::Insert { record } = &hook.change else {
        panic!("expected an insert, got {:?}", hook.change);
    };
    assert_eq!(record.len(), 35);
    assert_eq!(record["aud"], "authenticated");
    assert_eq!(record["raw_app_meta_data"]["provider"], "email");
    assert_eq!(
        hook.signup(),
        Some(UserSignup {
            user_id: Uuid::parse_str("5c1c0a6e-4b8f-4f0e-9a7d-2f3b9d1e8c42").unwrap(),
            email: Some("ada@example.com".into()),
            email_confirmed: false,
        })
    );
}

#[test]
fn a_signup_is_confirmed_only_when_email_confirmed_at_is_set() {
    let signup = |record: Value| {
        parse(&json!({"type": "INSERT", "schema": "auth", "table": "users", "record": record}))
            .unwrap()
            .signup()
            .unwrap()
            .email_confirmed
    };
    let id = "0b6f3c1e-9d2a-4e57-8c0f-1a2b3c4d5e6f";
    assert!(signup(
        json!({"id": id, "email": "a@b.c", "email_confirmed_at": "2026-03-14T09:26:53+00:00"})
    ));
    assert!(!signup(
        json!({"id": id, "email": "a@b.c", "email_confirmed_at": null})
    ));
    assert!(!signup(json!({"id": id, "email": "a@b.c"})));
}

#[test]
fn reads_update_and_delete_with_their_row_images() {
    let hook = parse(&json!({
        "type": "UPDATE", "schema": "public", "table": "organizations",
        "record": {"id": 7, "name": "Acme Ltd"},
        "old_record": {"id": 7, "name": "Acme"},
    }))
    .unwrap();
    assert_eq!(hook.table, "organizations");
    assert_eq!(hook.change.kind(), "UPDATE");
    let RowChange::Update { record, old_record } = &hook.change else {
        panic!("expected an update, got {:?}", hook.change);
    };
    assert_eq!(record["name"], "Acme Ltd");
    assert_eq!(old_record["name"], "Acme");
    assert_eq!(hook.signup(), None);

    let hook = parse(&json!({
        "type": "DELETE", "schema": "auth", "table": "users",
        "record": null,
        "old_record": {"id": "5c1c0a6e-4b8f-4f0e-9a7d-2f3b9d1e8c42"},
    }))
    .unwrap();
    let RowChange::Delete { old_record } = &hook.change else {
        panic!("expected a delete, got {:?}", hook.change);
    };
    assert_eq!(old_record["id"], "5c1c0a6e-4b8f-4f0e-9a7d-2f3b9d1e8c42");
    assert_eq!(hook.signup(), None, "a deleted user is not a signup");
}

#[test]
fn signup_only_from_an_insert_into_a_users_table() {
    let insert = |schema: &str, table: &str, record: Value| {
        parse(&json!({"type": "INSERT", "schema": schema, "table": table, "record": record}))
            .unwrap()
    };
    let id = "0b6f3c1e-9d2a-4e57-8c0f-1a2b3c4d5e6f";
    let user_id = Uuid::parse_str(id).unwrap();

    let phone_user = insert("public", "users", json!({"id": id, "email": null}));
    assert_eq!(
        phone_user.signup(),
        Some(UserSignup {
            user_id,
            email: None,
            email_confirmed: false,
        })
    );
    let blank_email = insert("auth", "users", json!({"id": id, "email": ""}));
    assert_eq!(blank_email.signup().unwrap().email, None);

    let other_schema = insert("storage", "users", json!({"id": id}));
    assert_eq!(other_schema.try_signup(), Ok(None));
    let other_table = insert("auth", "sessions", json!({"id": id}));
    assert_eq!(other_table.try_signup(), Ok(None));
}

#[test]
fn a_users_insert_with_a_bad_id_is_an_error_not_a_no_op() {
    let cases = [
        (json!({"email": "a@b.c"}), "missing"),
        (json!({"id": 42}), "not a string"),
        (json!({"id": "not-a-uuid"}), "not a uuid"),
        (json!({"id": "00000000-0000-0000-0000-000000000000"}), "nil"),
    ];
    for (record, why) in cases {
        let hook = parse(&json!({
            "type": "INSERT", "schema": "auth", "table": "users", "record": record,
        }))
        .unwrap();
        let err = hook.try_signup().unwrap_err();
        assert!(
            matches!(err, SupabaseError::BadUserId(_)),
            "{record}: {err:?}"
        );
        assert!(
            err.to_string().contains(why),
            "{record}: {err} should say {why}"
        );
        assert_eq!(hook.signup(), None);
    }
}

#[test]
fn rejects_what_is_not_a_database_webhook() {
    let base = json!({"type": "INSERT", "schema": "auth", "table": "users", "record": {"id": 1}});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        (json!([1, 2]), SupabaseError::NotAnObject),
        (without("type"), SupabaseError::MissingField("type")),
        (with("type", json!(1)), SupabaseError::MissingField("type")),
        (
            with("schema", json!("")),
            SupabaseError::MissingField("schema"),
        ),
        (without("table"), SupabaseError::MissingField("table")),
        (
            with("type", json!("insert")),
            SupabaseError::UnknownType("insert".into()),
        ),
        (
            with("type", json!("TRUNCATE")),
            SupabaseError::UnknownType("TRUNCATE".into()),
        ),
        (without("record"), SupabaseError::MissingRecord("INSERT")),
        (
            with("record", json!(null)),
            SupabaseError::MissingRecord("INSERT"),
        ),
        (
            with("record", json!([])),
            SupabaseError::MissingRecord("INSERT"),
        ),
        (
            with("type", json!("UPDATE")),
            SupabaseError::MissingOldRecord("UPDATE"),
        ),
        (
            with("type", json!("DELETE")),
            SupabaseError::MissingOldRecord("DELETE"),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(parse(&body), Err(expected), "{body}");
    }
    assert!(matches!(
        parse_supabase_webhook(b"{not json"),
        Err(SupabaseError::NotJson(_))
    ));
    assert!(matches!(
        parse_supabase_webhook(b""),
        Err(SupabaseError::NotJson(_))
    ));
}

#[test]
fn error_messages_say_what_is_wrong() {
    assert_eq!(
        SupabaseError::MissingOldRecord("UPDATE").to_string(),
        "UPDATE webhook has no `old_record` object"
    );
    assert_eq!(
        SupabaseError::MissingField("table").to_string(),
        "`table` is missing, empty or not a string"
    );
}

#[test]
fn an_unknown_type_is_echoed_cut_short_on_a_char_boundary() {
    let long = "é".repeat(100);
    let err = parse(&json!({"type": long, "schema": "a", "table": "b"})).unwrap_err();
    assert_eq!(
        err,
        SupabaseError::UnknownType(format!("{}…", "é".repeat(32)))
    );
}
