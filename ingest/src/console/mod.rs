//! The operator console: a few pages under `/console/`, served by ingest
//! from files embedded in the binary, over the same operations as the CLI
//! and the admin API (`tether_ops`; replay, discard and status are the
//! admin API's own handlers). Off (404) without TETHER_ADMIN_TOKEN.
//!
//! - `session.rs`: sign-in, the session cookie, the CSRF check
//! - `headers.rs`: the Content-Security-Policy and the other headers
//! - `assets.rs`: the embedded page, scripts and styles (`ingest/console/`)
//! - one file per page's data: `dead_letters.rs`, `event.rs` (event and
//!   search), `intake.rs` (rejected deliveries, backfill and follow)

mod assets;
mod dead_letters;
mod event;
pub mod headers;
mod intake;
pub mod session;

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};

use crate::{admin, error::json_error, state::AppState};

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let api = Router::new()
        .route("/console/api/session", get(session::current))
        .route("/console/api/session", post(session::sign_in))
        .route("/console/api/session/end", post(session::sign_out))
        .route("/console/api/status", get(admin::get_status))
        .route("/console/api/dead-letters", get(dead_letters::list))
        .route("/console/api/dead-letters/replay", post(admin::replay_dead))
        .route(
            "/console/api/dead-letters/discard",
            post(admin::discard_dead),
        )
        .route("/console/api/events/{id}", get(event::show))
        .route("/console/api/search", get(event::search))
        .route("/console/api/intake", get(intake::show))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::guard,
        ));
    Router::new()
        .route("/console", get(assets::index))
        .route("/console/", get(assets::index))
        .route("/console/assets/{name}", get(assets::asset))
        .merge(api)
        // Unknown console paths answer 404 with the console's headers.
        .route("/console/{*rest}", get(not_found))
        .layer(middleware::from_fn_with_state(state, enabled))
        .layer(middleware::map_response(headers::secure))
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "no such route")
}

/// Without an admin token there is no console: every path is a 404, as
/// for a route that does not exist.
async fn enabled(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if state.admin_token.is_none() {
        return json_error(StatusCode::NOT_FOUND, "no such route");
    }
    next.run(request).await
}
