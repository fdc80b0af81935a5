//! What every process of tether needs besides the Stripe contract and the
//! queue: configuration, the database (connecting, creating, migrating),
//! the Supabase webhook payload, logging, and the one cancellation path.

pub mod bounds;
pub mod config;
pub mod db;
pub mod dev_secret;
pub mod duration;
pub mod event_store;
pub mod install;
pub mod pooler;
pub mod settings;
pub mod shutdown;
pub mod supabase;
pub mod telemetry;
