//! What every route shares: the verifier, the committer, the pool, the
//! limits and the settings that switch routes on or off.

use std::collections::HashSet;

use sqlx::PgPool;
use tether_shared::config::Mode;
use tether_stripe::signature::SignatureVerifier;

use crate::{body::BodyLimits, committer::Committer};

pub struct AppState {
    pub verifier: SignatureVerifier,
    pub committer: Committer,
    pub pool: PgPool,
    pub body_limits: BodyLimits,
    /// See `IngestConfig::allowed_hosts`.
    pub allowed_hosts: Option<Vec<String>>,
    /// TETHER_MODE: events of the other mode are refused.
    pub mode: Option<Mode>,
    /// TETHER_ACCOUNTS: events of other connected accounts are refused;
    /// `None` stores every account's.
    pub accounts: Option<HashSet<String>>,
    /// SUPABASE_WEBHOOK_TOKEN; `None` turns `/webhooks/supabase` off.
    pub supabase_token: Option<secrecy::SecretString>,
    /// TETHER_ADMIN_TOKEN; `None` turns the admin API off.
    pub admin_token: Option<secrecy::SecretString>,
    /// The process's metrics, rendered by `GET /metrics`.
    pub metrics: tether_shared::telemetry::metrics::PrometheusHandle,
}
