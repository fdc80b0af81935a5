/// A queue statement failed. The queue lives in the same database as
/// everything else, so this is a database failure: worth retrying later.
#[derive(Debug, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(#[from] pub sqlx::Error);
