//! A sign-up never takes over another person's billing by email. Anyone
//! can sign up with anyone's address, so an automatic sign-up is matched to
//! an existing Stripe customer only by a confirmed email, and only to a
//! customer no other user is linked to; otherwise it gets a customer of
//! its own and the reason is logged. An operator's `tether link-user` is
//! refused a customer another user holds unless `--force`.

use serde_json::{Value, json};
use tether_shared::config::AppTables;

use crate::{
    fake_stripe::{FakeStripe, KEY},
    helpers::TestApp,
    supabase::{api, post_signup},
};

const TOKEN: &str = "sb-hook-token";

/// A Supabase database webhook for an `auth.users` INSERT, confirmed or not.
fn signup(user: &uuid::Uuid, email: &str, confirmed: bool) -> Value {
    let confirmed_at = confirmed.then_some("2026-03-14T09:26:53.589793+00:00");
    json!({
        "type": "INSERT", "table": "users", "schema": "auth",
        "record": { "id": user.to_string(), "email": email, "email_confirmed_at": confirmed_at },
        "old_record": null
    })
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.supabase_token = Some(TOKEN.to_owned().into())).await
}

/// Posts the sign-up and runs its job, as a worker beside the fake would.
async fn sign_up(
    app: &TestApp,
    fake: &FakeStripe,
    user: &uuid::Uuid,
    email: &str,
    confirmed: bool,
) {
    let (status, answer) = post_signup(app, Some(TOKEN), &signup(user, email, confirmed)).await;
    assert_eq!(status, 200, "{answer}");
    let ran = tether_ops::signups::drain(&app.pool, &api(fake), &AppTables::default(), "t")
        .await
        .unwrap();
    assert_eq!(ran, 1);
}

/// The Stripe customer tether's `users` links `user` to.
async fn linked_customer(app: &TestApp, user: &uuid::Uuid) -> Option<String> {
    sqlx::query_scalar(
        "SELECT c.stripe_customer_id FROM users u JOIN end_customers c ON c.id = u.customer_id
         WHERE u.id = $1",
    )
    .bind(user)
    .fetch_optional(&app.pool)
    .await
    .unwrap()
}

/// The sign-up's logged outcome: status and message.
async fn signup_log(app: &TestApp) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT status, error_message FROM webhook_logs WHERE event_type = 'supabase.signup'
         ORDER BY created_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// A Stripe customer with `email` that `holder` (a Supabase user) owns, as
/// tether's own link-user or sign-up would have created it.
async fn customer_held_by(fake: &FakeStripe, holder: &uuid::Uuid, email: &str) -> String {
    let holder = holder.to_string();
    let created = api(fake)
        .post(
            "/customers",
            &[("email", email), ("metadata[supabase_user_id]", &holder)],
            &format!("test-{holder}"),
        )
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_unconfirmed_email_gets_a_new_customer_and_the_reason_is_logged() {
    let app = spawn().await;
    let fake = FakeStripe::start(5, 0, 0);
    let attacker = uuid::Uuid::new_v4();

    sign_up(&app, &fake, &attacker, "customer3@example.com", false).await;

    let linked = linked_customer(&app, &attacker).await.unwrap();
    assert_ne!(
        linked, "cus_fake0000003",
        "the victim's customer is not handed over"
    );
    assert_eq!(fake.created().await, 1, "a customer of their own");
    let log = signup_log(&app).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].0, "success");
    let reason = log[0].1.as_deref().unwrap_or_default();
    assert!(reason.contains("email not confirmed"), "{reason:?}");
}

#[tokio::test]
async fn a_confirmed_email_of_a_customer_linked_to_another_user_gets_a_new_customer() {
    let app = spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let owner = uuid::Uuid::new_v4();
    let owners = customer_held_by(&fake, &owner, "owner@example.com").await;
    let newcomer = uuid::Uuid::new_v4();

    sign_up(&app, &fake, &newcomer, "owner@example.com", true).await;

    let linked = linked_customer(&app, &newcomer).await.unwrap();
    assert_ne!(linked, owners);
    assert_eq!(fake.created().await, 2, "the owner's and a new one");
    let log = signup_log(&app).await;
    let reason = log[0].1.as_deref().unwrap_or_default();
    assert!(
        reason.contains(&owners) && reason.contains("already linked to another user"),
        "{reason:?}"
    );
}

/// The link tether made itself counts too: a customer found by email for
/// one user (no metadata written to Stripe) is not found again for another.
#[tokio::test]
async fn a_customer_tether_already_linked_by_email_is_not_linked_to_a_second_user() {
    let app = spawn().await;
    let fake = FakeStripe::start(5, 0, 0);
    let first = uuid::Uuid::new_v4();
    let second = uuid::Uuid::new_v4();

    sign_up(&app, &fake, &first, "customer2@example.com", true).await;
    sign_up(&app, &fake, &second, "customer2@example.com", true).await;

    assert_eq!(
        linked_customer(&app, &first).await.as_deref(),
        Some("cus_fake0000002")
    );
    let seconds = linked_customer(&app, &second).await.unwrap();
    assert_ne!(seconds, "cus_fake0000002");
    assert_eq!(fake.created().await, 1);
}

#[tokio::test]
async fn a_confirmed_email_of_an_unlinked_customer_is_linked_to_it() {
    let app = spawn().await;
    let fake = FakeStripe::start(5, 0, 0);
    let user = uuid::Uuid::new_v4();

    sign_up(&app, &fake, &user, "customer3@example.com", true).await;

    assert_eq!(
        linked_customer(&app, &user).await.as_deref(),
        Some("cus_fake0000003")
    );
    assert_eq!(fake.created().await, 0);
    assert_eq!(signup_log(&app).await, [("success".to_owned(), None)]);
}

/// A customer this very user already holds (tether created it for them
/// before, say in another database) is theirs to link.
#[tokio::test]
async fn a_confirmed_email_of_the_users_own_customer_is_linked_to_it() {
    let app = spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let user = uuid::Uuid::new_v4();
    let own = customer_held_by(&fake, &user, "me@example.com").await;

    sign_up(&app, &fake, &user, "me@example.com", true).await;

    assert_eq!(linked_customer(&app, &user).await, Some(own));
    assert_eq!(fake.created().await, 1, "only the customer made above");
}

#[tokio::test]
async fn link_user_refuses_a_customer_linked_to_another_user_unless_forced() {
    let app = spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let owner = uuid::Uuid::new_v4();
    let owners = customer_held_by(&fake, &owner, "owner@example.com").await;
    let user = uuid::Uuid::new_v4().to_string();
    let args = [
        "link-user",
        "--user-id",
        &user,
        "--email",
        "owner@example.com",
    ];

    let refused = fake.tether(&app, KEY, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&owners)
            && stderr.contains(&owner.to_string())
            && stderr.contains("already linked to another user")
            && stderr.contains("--force"),
        "{stderr}"
    );
    let user_id: uuid::Uuid = user.parse().unwrap();
    assert_eq!(
        linked_customer(&app, &user_id).await,
        None,
        "nothing linked"
    );
    assert_eq!(fake.created().await, 1, "no customer created either");

    let forced = fake.run_json(&app, &[&args[..], &["--force"]].concat());
    assert_eq!(forced["stripe_customer_id"], json!(owners));
    assert_eq!(forced["how"], json!("found"));
    assert!(
        forced["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("--force"),
        "{forced}"
    );
    assert_eq!(linked_customer(&app, &user_id).await, Some(owners));
}

/// The operator vouches for the email: an unconfirmed one is no reason to
/// refuse, and an unlinked customer is found as before.
#[tokio::test]
async fn link_user_still_matches_an_unlinked_customer_by_email() {
    let app = spawn().await;
    let fake = FakeStripe::start(5, 0, 0);
    let user = uuid::Uuid::new_v4().to_string();

    let linked = fake.run_json(
        &app,
        &[
            "link-user",
            "--user-id",
            &user,
            "--email",
            "customer1@example.com",
        ],
    );

    assert_eq!(linked["stripe_customer_id"], json!("cus_fake0000001"));
    assert_eq!(linked["how"], json!("found"));
    assert_eq!(linked.get("reason"), None);
}
