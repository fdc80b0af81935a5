//! `POST /webhooks/supabase`: Supabase database webhooks, so a sign-up
//! becomes a Stripe customer (ADR-0008). Off unless SUPABASE_WEBHOOK_TOKEN
//! is set (404); the token, compared in constant time, is required (401).
//! A sign-up is stored with its job in one transaction before the answer,
//! exactly like a Stripe event; anything else is acknowledged and ignored.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use tether_shared::supabase::parse_supabase_webhook;

use crate::{body::BufferedBody, error::json_error, state::AppState};

pub async fn receive_supabase_webhook(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    let Some(token) = &state.supabase_token else {
        return json_error(StatusCode::NOT_FOUND, "no such route");
    };
    let (parts, body) = request.into_parts();
    let offered = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(offered.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong Supabase webhook token",
        );
    }
    if let Err(error) = state.body_limits.check_announced(&parts.headers) {
        return error.into_response();
    }
    let BufferedBody { bytes, held } = match state.body_limits.read(&parts.headers, body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let hook = match parse_supabase_webhook(&bytes) {
        Ok(hook) => hook,
        Err(error) => return json_error(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    drop(held);
    let signup = match hook.try_signup() {
        Ok(Some(signup)) => signup,
        Ok(None) => {
            return Json(serde_json::json!({ "received": true, "ignored": true })).into_response();
        }
        Err(error) => return json_error(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    match store(&state, signup.user_id, signup.email.as_deref()).await {
        Ok(new) => Json(serde_json::json!({ "received": true, "duplicate": !new })).into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "sign-up not stored; answering 503");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database could not store the sign-up",
            )
        }
    }
}

/// The sign-up and its job, in one transaction. A repeat is not queued again.
async fn store(state: &AppState, user_id: uuid::Uuid, email: Option<&str>) -> anyhow::Result<bool> {
    let mut tx = state.pool.begin().await?;
    let signup: Option<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO supabase_signups (user_id, email) VALUES ($1, $2)
         ON CONFLICT (user_id) DO NOTHING RETURNING id",
    )
    .bind(user_id)
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(signup) = signup {
        tether_queue::signups::push(&mut tx, &signup.to_string()).await?;
    }
    tx.commit().await?;
    Ok(signup.is_some())
}
