//! The operator console in a real headless Chromium, against a real
//! ingest, a real worker process and a real database: from an alert to a
//! replayed dead letter; and its guards (sign-in, CSRF, the 404 without a
//! token, the headers).

use serde_json::{Value, json};

use crate::{
    browser::{Browser, ENTER, SPACE},
    helpers::TestApp,
    operators::{dead_letter, exhaust_attempts},
    worker_support::{
        count, fixture_at, let_payment_writes_succeed, make_payment_writes_fail, post_ok,
        spawn_worker,
    },
};

const TOKEN: &str = "console-test-admin-token";

async fn console_app() -> TestApp {
    TestApp::spawn_with(|c| c.admin_token = Some(TOKEN.to_owned().into())).await
}

async fn killed_jobs(app: &TestApp) -> i64 {
    count(
        &app.pool,
        "SELECT count(*) FROM apalis.jobs WHERE status = 'Killed'",
    )
    .await
}

/// Opens the console and signs in with `token`.
async fn sign_in(browser: &Browser, app: &TestApp, token: &str) {
    browser.goto(&format!("http://{}/console/", app.addr)).await;
    browser.clear("#token").await;
    browser.type_into("#token", token).await;
    browser.click("#sign-in").await;
}

#[tokio::test]
async fn an_operator_replays_a_dead_letter_from_the_console() {
    let app = console_app().await;
    let id = dead_letter(&app).await;
    let _worker = spawn_worker(&app, &[]);
    let browser = Browser::start().await;

    sign_in(&browser, &app, "not-the-token").await;
    browser
        .wait_for_text("#signin-message", "wrong admin token")
        .await;
    sign_in(&browser, &app, TOKEN).await;

    // The alert: status --check fails on the dead letter.
    let check = browser.wait_for_text("#check", "fails").await;
    assert!(check.contains("1 dead letter"), "{check}");
    assert_eq!(browser.text("#queue-dead").await, "1");

    // The dead letter, listed with the database's refusal.
    browser.click("#nav a[data-page='dead-letters']").await;
    let row = format!("tr[data-letter='{id}']");
    let listed = browser.text(&row).await;
    assert!(listed.contains("payment_intent.succeeded"), "{listed}");
    assert!(listed.contains("pi_doomed"), "{listed}");
    assert!(
        listed.contains("injected failure for pi_doomed"),
        "{listed}"
    );

    // Its page: the error, the attempts, the body, the link to Stripe.
    browser.click(&format!("{row} a[href^='#/event/']")).await;
    assert_eq!(browser.wait_for_text("#event-id", &id).await, id);
    let error = browser.text("#last-error").await;
    assert!(error.contains("injected failure for pi_doomed"), "{error}");
    let timeline = browser.text("#timeline").await;
    assert!(timeline.matches("error").count() >= 3, "{timeline}");
    assert!(timeline.contains("dead"), "{timeline}");
    let body = browser.text("#event-body").await;
    let shown: Value = serde_json::from_str(&body).expect("the body is shown as JSON");
    assert_eq!(shown["id"], json!(id));
    assert_eq!(shown["data"]["object"]["id"], json!("pi_doomed"));
    assert!(body.contains("\n  \"id\""), "pretty-printed: {body}");
    assert_eq!(
        browser.attribute("#stripe-link", "href").await.as_deref(),
        Some(format!("https://dashboard.stripe.com/test/events/{id}").as_str())
    );

    // The cause fixed, replayed from the page after its confirmation.
    let_payment_writes_succeed(&app.pool).await;
    browser.click("#replay-letter").await;
    let confirmation = browser
        .wait_for_text("#confirm-text", "Replay 1 dead letter")
        .await;
    assert!(confirmation.contains(&id), "{confirmation}");
    browser.click("#confirm-ok").await;
    browser.wait_for_text("#main", "Replayed").await;

    // Applied, as the overview shows.
    browser.click("#nav a[data-page='overview']").await;
    browser.wait_for_text("#check", "passes").await;
    browser
        .wait_for_text("#by-type", "payment_intent.succeeded")
        .await;
    let by_type = browser.wait_for_text("#by-type", "success 1").await;
    assert!(by_type.contains("dead 1"), "{by_type}");
    assert_eq!(browser.text("#queue-dead").await, "0");
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM payments WHERE stripe_payment_intent_id = 'pi_doomed'"
        )
        .await,
        1
    );

    // The event page now says so too.
    browser
        .goto(&format!("http://{}/console/#/event/{id}", app.addr))
        .await;
    browser.wait_for_text("#event-state", "processed").await;
    let row = browser.text("#synced-row").await;
    assert!(row.contains("written by this event"), "{row}");
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_in_the_browser() {
    let app = console_app().await;
    let id = dead_letter(&app).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, TOKEN).await;
    browser.wait_for_text("#check", "dead letter").await;

    let status = |headers: &str| {
        format!(
            "const done = arguments[arguments.length - 1];
             fetch('/console/api/dead-letters/replay', {{ method: 'POST', credentials: 'same-origin',
               headers: {{ 'Content-Type': 'application/json' {headers} }},
               body: JSON.stringify({{ ids: ['{id}'], dry_run: true }}) }})
               .then(r => r.json().then(b => done([r.status, b])));"
        )
    };
    let refused = browser.run_async(&status("")).await;
    assert_eq!(refused[0], json!(403), "{refused}");
    assert!(
        refused[1]["error"].as_str().unwrap().contains("CSRF"),
        "{refused}"
    );
    let forged = browser
        .run_async(&status(", 'X-CSRF-Token': 'forged'"))
        .await;
    assert_eq!(forged[0], json!(403), "{forged}");
    assert_eq!(killed_jobs(&app).await, 1);
}

#[tokio::test]
async fn an_operator_replays_a_dead_letter_with_the_keyboard_alone() {
    let app = console_app().await;
    let id = dead_letter(&app).await;
    let_payment_writes_succeed(&app.pool).await;
    let browser = Browser::start().await;
    browser.goto(&format!("http://{}/console/", app.addr)).await;

    browser.tab_to("#token", false).await;
    browser.press(&format!("{TOKEN}{ENTER}")).await;
    browser.wait_for_text("#check", "dead letter").await;
    browser
        .tab_to("#nav a[data-page='dead-letters']", true)
        .await;
    browser.press(ENTER).await;
    browser.find(&format!("tr[data-letter='{id}']")).await;

    browser
        .tab_to(&format!("input[data-id='{id}']"), false)
        .await;
    browser.press(SPACE).await;
    browser.wait_for_text("#selection", "1 selected").await;
    browser.tab_to("#replay", true).await;
    browser.press(ENTER).await;
    browser
        .wait_for_text("#confirm-text", "Replay 1 dead letter")
        .await;
    // The dialog opens on Cancel: Enter there changes nothing.
    browser.tab_to("#confirm-ok", false).await;
    browser.press(ENTER).await;
    browser.wait_for_text("#dlq-status", "Replayed 1").await;
    assert_eq!(killed_jobs(&app).await, 0);
}

#[tokio::test]
async fn dead_letters_are_filtered_by_connected_account_and_replayed_by_it() {
    let app = console_app().await;
    make_payment_writes_fail(&app.pool, "pi_doomed").await;
    let mut ids = Vec::new();
    for (created, account) in [
        (1_780_000_000, None),
        (1_780_000_010, Some("acct_1Connected")),
    ] {
        let mut event = fixture_at("payment_intent.succeeded", created);
        event["data"]["object"]["id"] = json!("pi_doomed");
        if let Some(account) = account {
            event["account"] = json!(account);
        }
        post_ok(&app, &event).await;
        ids.push(event["id"].as_str().unwrap().to_owned());
    }
    exhaust_attempts(&app).await;
    let (platform, connected) = (&ids[0], &ids[1]);
    let browser = Browser::start().await;
    sign_in(&browser, &app, TOKEN).await;
    browser.wait_for_text("#queue-dead", "2").await;
    browser.click("#nav a[data-page='dead-letters']").await;
    browser.find(&format!("tr[data-letter='{platform}']")).await;
    let listed = browser
        .text(&format!("tr[data-letter='{connected}']"))
        .await;
    assert!(listed.contains("acct_1Connected"), "{listed}");

    browser
        .type_into("#filter-account", "acct_1Connected")
        .await;
    browser.click("#apply-filter").await;
    browser
        .wait_for_text("#selection", "nothing selected")
        .await;
    let table = browser.wait_for_text("#letters", connected).await;
    assert!(!table.contains(platform.as_str()), "{table}");

    browser.click("#select-all-matching").await;
    browser.click("#replay").await;
    browser
        .wait_for_text("#confirm-text", "Replay 1 dead letter")
        .await;
    browser.click("#confirm-ok").await;
    browser.wait_for_text("#dlq-status", "Replayed 1").await;
    let still_dead: Vec<String> = sqlx::query_scalar(
        "SELECT convert_from(job, 'UTF8') FROM apalis.jobs WHERE status = 'Killed'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(still_dead.len(), 1, "{still_dead:?}");
    assert!(still_dead[0].contains(platform.as_str()), "{still_dead:?}");
}

/// A session as a script holds it: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

async fn fresh_session(http: &reqwest::Client, app: &TestApp) -> Session {
    let response = http
        .get(format!("http://{}/console/api/session", app.addr))
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["signed_in"], json!(false));
    Session {
        cookie,
        csrf: body["csrf"].as_str().unwrap().to_owned(),
    }
}

fn set_cookie(response: &reqwest::Response) -> String {
    let header = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=", "Path=/console/"] {
        assert!(header.contains(attribute), "{header} lacks {attribute}");
    }
    header.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn sign_in_needs_the_token_and_every_post_its_csrf_token() {
    let app = console_app().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |path: &str| format!("http://{}{path}", app.addr);
    let session = fresh_session(&http, &app).await;

    let sign_in = |token: &str, csrf: Option<&str>| {
        let mut request = http
            .post(url("/console/api/session"))
            .header("cookie", &session.cookie)
            .json(&json!({ "token": token }));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    assert_eq!(
        sign_in("wrong", Some(&session.csrf))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(sign_in(TOKEN, None).await.unwrap().status(), 403);
    assert_eq!(sign_in(TOKEN, Some("0000")).await.unwrap().status(), 403);
    let signed = sign_in(TOKEN, Some(&session.csrf)).await.unwrap();
    assert_eq!(signed.status(), 200);
    let cookie = set_cookie(&signed);
    let body: Value = signed.json().await.unwrap();
    assert_eq!(body["signed_in"], json!(true));
    let csrf = body["csrf"].as_str().unwrap().to_owned();
    assert_ne!(csrf, session.csrf, "a sign-in makes a new session");

    // Signed out, the data is refused; signed in, it is served.
    let status = http.get(url("/console/api/status")).send().await.unwrap();
    assert_eq!(status.status(), 401);
    let status = http
        .get(url("/console/api/status"))
        .header("cookie", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 401, "a signed-out cookie reads nothing");
    let status: Value = http
        .get(url("/console/api/status"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["queue"]["dead"], json!(0));

    let replay = |csrf: Option<&str>| {
        let mut request = http
            .post(url("/console/api/dead-letters/replay"))
            .header("cookie", &cookie)
            .json(&json!({ "all": true, "dry_run": true }));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    assert_eq!(replay(None).await.unwrap().status(), 403);
    assert_eq!(
        replay(Some(&session.csrf)).await.unwrap().status(),
        403,
        "the signed-out session's token is not this session's"
    );
    let ok: Value = replay(Some(&csrf)).await.unwrap().json().await.unwrap();
    assert_eq!(ok, json!({ "replayed": 0, "ids": [], "dry_run": true }));

    // A tampered cookie is no session.
    let tampered =
        cookie
            .replacen(".1.", ".0.", 1)
            .replacen("tether_console=", "tether_console=9", 1);
    let status = http
        .get(url("/console/api/status"))
        .header("cookie", &tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 401);
}

#[tokio::test]
async fn every_console_answer_carries_a_strict_content_security_policy() {
    let app = console_app().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for path in [
        "/console/",
        "/console/assets/app.js",
        "/console/api/session",
        "/console/api/status",
        "/console/nowhere",
    ] {
        let response = http
            .get(format!("http://{}{path}", app.addr))
            .send()
            .await
            .unwrap();
        let csp = response
            .headers()
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path} has no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let page = http
        .get(format!("http://{}/console/", app.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>"), "no inline script");
    assert!(!page.contains("style="), "no inline style");
    assert!(!page.contains("https://"), "nothing from elsewhere");
}

#[tokio::test]
async fn the_console_is_not_there_without_an_admin_token() {
    let app = TestApp::spawn().await;
    for path in [
        "/console",
        "/console/",
        "/console/assets/app.js",
        "/console/api/session",
        "/console/api/status",
    ] {
        assert_eq!(app.get(path).await.0, 404, "{path}");
    }
    let (status, _) = app
        .send(reqwest::Method::POST, "/console/api/session")
        .await;
    assert_eq!(status, 404);
}

/// Not a test: `scripts/console_screenshots.sh` runs it to draw the
/// README's pictures of the console into TETHER_CONSOLE_SCREENSHOTS.
#[tokio::test]
#[ignore = "writes screenshots; run by scripts/console_screenshots.sh"]
async fn screenshots() {
    use crate::worker_support::apply;
    let dir = std::env::var("TETHER_CONSOLE_SCREENSHOTS")
        .expect("TETHER_CONSOLE_SCREENSHOTS names the folder to write to");
    let app = console_app().await;
    let mut created = 1_780_000_000;
    for event_type in [
        "customer.created",
        "customer.updated",
        "customer.subscription.created",
        "invoice.created",
        "invoice.paid",
        "payment_intent.succeeded",
    ] {
        created += 10;
        apply(&app, &fixture_at(event_type, created)).await;
    }
    let id = dead_letter(&app).await;
    for event_type in ["payment_intent.payment_failed", "payment_intent.succeeded"] {
        created += 10;
        let mut event = fixture_at(event_type, created);
        event["data"]["object"]["id"] = json!("pi_doomed");
        post_ok(&app, &event).await;
    }
    exhaust_attempts(&app).await;
    // The in-process drains above registered workers of their own; the
    // picture shows the one worker process that runs.
    sqlx::query("DELETE FROM apalis.workers")
        .execute(&app.pool)
        .await
        .unwrap();
    let _worker = spawn_worker(&app, &[]);
    let browser = Browser::start().await;
    browser.resize(1366, 1100).await;
    sign_in(&browser, &app, TOKEN).await;
    browser.wait_for_text("#check", "dead letter").await;
    let workers = browser.wait_for_text("#live-workers", "1").await;
    assert_eq!(workers, "1");
    let shoot = |name: &'static str| {
        let browser = &browser;
        let dir = dir.clone();
        async move {
            std::fs::write(format!("{dir}/{name}.png"), browser.screenshot().await)
                .expect("the screenshot is written");
        }
    };
    shoot("overview").await;
    browser.click("#nav a[data-page='dead-letters']").await;
    browser.find(&format!("tr[data-letter='{id}']")).await;
    shoot("dead-letters").await;
    browser
        .goto(&format!("http://{}/console/#/event/{id}", app.addr))
        .await;
    browser.wait_for_text("#event-id", &id).await;
    shoot("event").await;
}
