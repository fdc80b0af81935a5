//! Signing in to the console: the admin token, offered once in a POST body,
//! buys an HttpOnly, SameSite=Strict session cookie with an expiry. Every
//! visitor holds a cookie (a signed-out one first), and every POST must
//! carry that cookie's CSRF token in `X-CSRF-Token`, sign-in included.
//!
//! The cookie is stateless: `<expires>.<nonce>.<signed in>.<mac>`, an
//! HMAC-SHA256 under a key derived from TETHER_ADMIN_TOKEN. So any ingest
//! replica accepts it, and rotating the token ends every session. The CSRF
//! token is a second HMAC of the cookie's nonce, so it changes with each
//! sign-in and is worthless without the cookie.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    extract::{Request, State, rejection::JsonRejection},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{admin, error::json_error, state::AppState};

pub const COOKIE: &str = "tether_console";
/// How long a sign-in lasts.
pub const SIGNED_IN_FOR: Duration = Duration::from_secs(8 * 3600);
/// How long a signed-out visitor's cookie (which only carries the CSRF
/// token for signing in) lasts.
const SIGNED_OUT_FOR: Duration = Duration::from_secs(3600);
pub const CSRF_HEADER: &str = "x-csrf-token";

type HmacSha256 = Hmac<Sha256>;

/// A cookie that verified: its nonce, whether it is signed in, when it ends.
#[derive(Debug, Clone)]
pub struct Session {
    nonce: String,
    pub signed_in: bool,
    pub expires: DateTime<Utc>,
}

/// The session key: the admin token, never used as a key directly.
fn key(token: &SecretString) -> HmacSha256 {
    let mut derive = HmacSha256::new_from_slice(token.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    derive.update(b"tether console session key v1");
    HmacSha256::new_from_slice(&derive.finalize().into_bytes())
        .expect("HMAC takes a key of any length")
}

fn mac(token: &SecretString, purpose: &str, message: &str) -> String {
    let mut mac = key(token);
    mac.update(purpose.as_bytes());
    mac.update(b"\0");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl Session {
    fn new(signed_in: bool) -> Self {
        let lifetime = if signed_in {
            SIGNED_IN_FOR
        } else {
            SIGNED_OUT_FOR
        };
        Self {
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            signed_in,
            expires: Utc::now()
                + chrono::TimeDelta::from_std(lifetime).unwrap_or(chrono::TimeDelta::hours(1)),
        }
    }

    fn body(&self) -> String {
        format!(
            "{}.{}.{}",
            self.expires.timestamp(),
            self.nonce,
            u8::from(self.signed_in)
        )
    }

    fn cookie_value(&self, token: &SecretString) -> String {
        let body = self.body();
        let mac = mac(token, "cookie", &body);
        format!("{body}.{mac}")
    }

    /// The CSRF token every POST of this session carries.
    pub fn csrf(&self, token: &SecretString) -> String {
        mac(token, "csrf", &self.nonce)
    }

    /// The session in `headers`' cookie, if its MAC holds and it has not
    /// expired.
    pub fn from_headers(headers: &HeaderMap, token: &SecretString) -> Option<Self> {
        let value = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, value)| value)?;
        let (body, offered_mac) = value.rsplit_once('.')?;
        let expected = mac(token, "cookie", body);
        if !bool::from(expected.as_bytes().ct_eq(offered_mac.as_bytes())) {
            return None;
        }
        let mut parts = body.split('.');
        let expires = DateTime::from_timestamp(parts.next()?.parse().ok()?, 0)?;
        let nonce = parts.next()?.to_owned();
        let signed_in = parts.next()? == "1";
        (expires > Utc::now()).then_some(Session {
            nonce,
            signed_in,
            expires,
        })
    }

    /// The `Set-Cookie` header for this session. `Secure` unless the
    /// console is reached on a loopback name over plain HTTP (development
    /// and tests): anywhere else it must be served over HTTPS.
    fn set_cookie(&self, token: &SecretString, secure: bool) -> HeaderValue {
        let max_age = (self.expires - Utc::now()).num_seconds().max(0);
        cookie_header(&self.cookie_value(token), max_age, secure)
    }
}

fn cookie_header(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("a cookie of hex digits and ASCII attributes is a valid header")
}

/// A cookie is `Secure` unless the request names a loopback host.
fn secure(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name = crate::routes::host_name(host);
    !matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// What the page learns about its session: never the cookie itself.
#[derive(Serialize)]
struct SessionInfo {
    signed_in: bool,
    csrf: String,
    expires_at: DateTime<Utc>,
}

impl SessionInfo {
    fn of(session: &Session, token: &SecretString) -> Json<Self> {
        Json(Self {
            signed_in: session.signed_in,
            csrf: session.csrf(token),
            expires_at: session.expires,
        })
    }
}

fn answer(
    session: &Session,
    token: &SecretString,
    headers: &HeaderMap,
    status: StatusCode,
) -> Response {
    let mut response = (status, SessionInfo::of(session, token)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session.set_cookie(token, secure(headers)),
    );
    response
}

/// `GET /console/api/session`: the visitor's session, a signed-out one
/// made on first sight, so the sign-in form has a CSRF token.
pub async fn current(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(token) = &state.admin_token else {
        return json_error(StatusCode::NOT_FOUND, "no such route");
    };
    match Session::from_headers(&headers, token) {
        Some(session) => SessionInfo::of(&session, token).into_response(),
        None => answer(&Session::new(false), token, &headers, StatusCode::OK),
    }
}

#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

/// `POST /console/api/session`: the admin token in the body (never in a
/// URL); a new session, with a new nonce, on success.
pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Response {
    let Some(token) = &state.admin_token else {
        return json_error(StatusCode::NOT_FOUND, "no such route");
    };
    let Ok(Json(SignIn { token: offered })) = body else {
        return json_error(StatusCode::BAD_REQUEST, "send {\"token\": ...}");
    };
    if !admin::token_matches(token, &offered) {
        tracing::warn!("console sign-in with a wrong admin token");
        return json_error(StatusCode::UNAUTHORIZED, "wrong admin token");
    }
    tracing::info!("console signed in");
    answer(&Session::new(true), token, &headers, StatusCode::OK)
}

/// `POST /console/api/session/end`: the cookie is cleared.
pub async fn sign_out(headers: HeaderMap) -> Response {
    let mut response = Json(serde_json::json!({ "signed_in": false })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie_header("", 0, secure(&headers)));
    response
}

/// The console's guard on `/console/api/`: every POST carries the CSRF
/// token of its cookie's session; everything but the session routes needs
/// a signed-in session.
pub async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(token) = &state.admin_token else {
        return json_error(StatusCode::NOT_FOUND, "no such route");
    };
    let session = Session::from_headers(request.headers(), token);
    let is_session_route = request.uri().path().starts_with("/console/api/session");
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let offered = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let valid = session
            .as_ref()
            .is_some_and(|s| bool::from(s.csrf(token).as_bytes().ct_eq(offered.as_bytes())));
        if !valid {
            return json_error(StatusCode::FORBIDDEN, "missing or wrong CSRF token");
        }
    }
    if !is_session_route && !session.is_some_and(|s| s.signed_in) {
        return json_error(StatusCode::UNAUTHORIZED, "sign in to the console first");
    }
    next.run(request).await
}
