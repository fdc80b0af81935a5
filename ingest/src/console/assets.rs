//! The console's files, compiled into the binary: no CDN, no build step,
//! it works offline. Sources in `ingest/console/`.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::error::json_error;

/// Name, content type, content.
const FILES: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../console/console.css"),
    ),
    ("app.js", JS, include_str!("../../console/app.js")),
    ("overview.js", JS, include_str!("../../console/overview.js")),
    (
        "dead_letters.js",
        JS,
        include_str!("../../console/dead_letters.js"),
    ),
    ("event.js", JS, include_str!("../../console/event.js")),
    ("search.js", JS, include_str!("../../console/search.js")),
    ("intake.js", JS, include_str!("../../console/intake.js")),
];
const JS: &str = "text/javascript; charset=utf-8";

const INDEX: &str = include_str!("../../console/index.html");

/// `GET /console/`: the one page; the scripts draw each view in it.
pub async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
}

/// `GET /console/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, content)) => {
            ([(header::CONTENT_TYPE, *content_type)], *content).into_response()
        }
        None => json_error(StatusCode::NOT_FOUND, "no such route"),
    }
}
