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
        Ok(Some(user)) => Signup {
            kind: "user",
            row_id: user.user_id.to_string(),
            source: format!("{}.{}", hook.schema, hook.table),
            email: user.email,
            email_confirmed: user.email_confirmed,
            record: None,
        },
        Ok(None) => match hook.organization() {
            Some(organization) => Signup {
                kind: "organization",
                row_id: organization.id,
                source: organization.source,
                email: None,
                email_confirmed: false,
                record: Some(serde_json::Value::Object(organization.record)),
            },
            None => {
                return Json(serde_json::json!({ "received": true, "ignored": true }))
                    .into_response();
            }
        },
        Err(error) => return json_error(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    match store(&state, &signup).await {
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

/// A new user or organization to turn into a Stripe customer.
struct Signup {
    kind: &'static str,
    row_id: String,
    source: String,
    email: Option<String>,
    email_confirmed: bool,
    record: Option<serde_json::Value>,
}

/// The sign-up and its job, in one transaction. A repeat is not queued again.
async fn store(state: &AppState, signup: &Signup) -> anyhow::Result<bool> {
    let mut tx = state.pool.begin().await?;
    let id: Option<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO supabase_signups (kind, row_id, source, email, email_confirmed, record)
         VALUES ($1, $2, $3, $4, $5, COALESCE($6, '{}'::jsonb))
         ON CONFLICT (kind, row_id) DO NOTHING RETURNING id",
    )
    .bind(signup.kind)
    .bind(&signup.row_id)
    .bind(&signup.source)
    .bind(&signup.email)
    .bind(signup.email_confirmed)
    .bind(signup.record.as_ref().map(sqlx::types::Json))
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = id {
        tether_queue::signups::push(&mut tx, &id.to_string()).await?;
    }
    tx.commit().await?;
    Ok(id.is_some())
}
