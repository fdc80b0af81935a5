/// Why a call to Stripe failed, after any retries.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: the key is wrong, revoked or of another account. Never retried.
    #[error("Stripe refused the API key (401); check STRIPE_SECRET_KEY")]
    Unauthorized,
    /// Any other non-2xx answer, after the retries it deserved.
    #[error("Stripe answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("cannot reach Stripe at {base}: {source}")]
    Network {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Stripe's answer is not what was expected: {0}")]
    Decode(String),
    #[error("invalid Stripe API configuration: {0}")]
    Config(String),
    /// A list whose pages do not move on (see `page::Walk`). Asking again
    /// would get the same answer.
    #[error("GET {endpoint} does not advance ({why}); stopped {}", stopped_at(.after.as_deref()))]
    Stuck {
        endpoint: String,
        why: String,
        /// The last cursor that moved on, where a resumed run starts.
        after: Option<String>,
    },
}

fn stopped_at(after: Option<&str>) -> String {
    match after {
        Some(after) => format!("with the cursor at starting_after={after}"),
        None => "at the first page".to_owned(),
    }
}

impl ApiError {
    /// Worth trying again later (a command may resume), as opposed to a
    /// refusal that will not change.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Network { .. } => true,
            ApiError::Status { status, .. } => *status == 429 || *status >= 500,
            ApiError::Unauthorized
            | ApiError::Decode(_)
            | ApiError::Config(_)
            | ApiError::Stuck { .. } => false,
        }
    }
}

impl stripe_client_core::StripeClientErr for ApiError {
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        ApiError::Decode(msg.to_string())
    }
}
