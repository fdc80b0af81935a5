//! `webhook_logs`: one row per outcome of an event, written in the same
//! transaction as the outcome itself.

use sqlx::PgConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStatus {
    Success,
    /// This attempt failed; another is scheduled.
    Error,
    Dead,
    Ignored,
    Stale,
    Duplicate,
}

impl LogStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::Success => "success",
            LogStatus::Error => "error",
            LogStatus::Dead => "dead",
            LogStatus::Ignored => "ignored",
            LogStatus::Stale => "stale",
            LogStatus::Duplicate => "duplicate",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogRow {
    pub event_id: String,
    pub event_type: String,
    pub status: LogStatus,
    pub error_message: Option<String>,
    pub attempt: i32,
}

pub(crate) async fn write_logs(
    conn: &mut PgConnection,
    rows: &[LogRow],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO webhook_logs (event_type, event_id, status, error_message, attempt)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[])",
    )
    .bind(
        rows.iter()
            .map(|r| r.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.error_message.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.attempt).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
