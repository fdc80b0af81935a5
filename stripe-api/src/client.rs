//! [`StripeApi`]: async-stripe's `StripeClient`, with tether's retries,
//! rate and idempotency.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use stripe_client_core::{
    CustomizedStripeRequest, IdempotencyKey, RequestBuilder, RequestStrategy, StripeClient,
    StripeMethod,
};

use crate::{ApiError, Page, limiter::Limiter};

/// Stripe documents 100 requests/s in live mode and 25 in test mode; the
/// defaults stay under each.
const LIVE_RATE: f64 = 80.0;
const TEST_RATE: f64 = 20.0;
/// Attempts per request, the first included.
const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const LONGEST_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct ApiConfig {
    pub secret_key: SecretString,
    /// `https://api.stripe.com`, or a local fake in tests.
    pub api_base: String,
    /// Requests per second; `None` picks the default for the key's mode.
    pub rate: Option<f64>,
}

/// The client, for the platform's own account or, through
/// [`StripeApi::in_account`], a connected one.
#[derive(Clone)]
pub struct StripeApi {
    shared: Arc<Shared>,
    /// Sent as `Stripe-Account`: requests act in this connected account.
    account: Option<String>,
}

/// What every account's requests share: the connection pool, the key and
/// the rate, so a run over many accounts stays within Stripe's limit
/// together.
struct Shared {
    http: reqwest::Client,
    secret_key: SecretString,
    base: String,
    limiter: Limiter,
}

impl StripeApi {
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let key = config.secret_key.expose_secret();
        if key.trim().is_empty() {
            return Err(ApiError::Config("STRIPE_SECRET_KEY is empty".into()));
        }
        let rate = config.rate.unwrap_or(
            if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
                LIVE_RATE
            } else {
                TEST_RATE
            },
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(80))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ApiError::Config(e.to_string()))?;
        Ok(Self {
            shared: Arc::new(Shared {
                http,
                secret_key: config.secret_key,
                base: config.api_base.trim_end_matches('/').to_owned(),
                limiter: Limiter::new(rate),
            }),
            account: None,
        })
    }

    /// The same client acting in connected account `account` (`acct_...`),
    /// or in the platform's own with `None`; the rate stays shared.
    pub fn in_account(&self, account: Option<&str>) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            account: account.map(str::to_owned),
        }
    }

    /// The connected account requests act in; `None` for the platform.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// One page of a list endpoint (`/customers`), objects kept raw. The
    /// query is pairs, since Stripe repeats keys (`types[]=a&types[]=b`).
    pub async fn list_page(&self, path: &str, query: &[(&str, &str)]) -> Result<Page, ApiError> {
        let mut request = RequestBuilder::new(StripeMethod::Get, path);
        request.query = Some(encode_query(query));
        let value = request
            .customize::<miniserde::json::Value>()
            .send(self)
            .await?;
        serde_json::from_str(&miniserde::json::to_string(&value))
            .map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// A POST of form `pairs` (`metadata[k]` names as Stripe spells them)
    /// with `key` as its idempotency key: sent again with the same key,
    /// Stripe answers with the first result instead of acting twice.
    pub async fn post(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        key: &str,
    ) -> Result<serde_json::Value, ApiError> {
        let key = IdempotencyKey::new(key)
            .map_err(|e| ApiError::Config(format!("idempotency key: {e:?}")))?;
        let mut request = RequestBuilder::new(StripeMethod::Post, path);
        request.body = Some(encode_query(pairs));
        let value = request
            .customize::<miniserde::json::Value>()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(self)
            .await?;
        serde_json::from_str(&miniserde::json::to_string(&value))
            .map_err(|e| ApiError::Decode(e.to_string()))
    }

    async fn attempt(&self, request: &reqwest::Request) -> Result<Attempt, ApiError> {
        self.shared.limiter.wait().await;
        let request = request.try_clone().expect("bodies are in memory");
        let response =
            self.shared
                .http
                .execute(request)
                .await
                .map_err(|source| ApiError::Network {
                    base: self.shared.base.clone(),
                    source,
                })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let should_retry = header("stripe-should-retry").map(|v| v == "true");
        let retry_after = header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(|source| ApiError::Network {
            base: self.shared.base.clone(),
            source,
        })?;
        Ok(Attempt {
            status,
            should_retry,
            retry_after,
            body,
        })
    }
}

struct Attempt {
    status: u16,
    should_retry: Option<bool>,
    retry_after: Option<Duration>,
    body: Bytes,
}

impl Attempt {
    fn retryable(&self) -> bool {
        self.should_retry
            .unwrap_or(matches!(self.status, 409 | 429 | 500..=599))
    }

    fn error(&self) -> ApiError {
        if self.status == 401 {
            return ApiError::Unauthorized;
        }
        #[derive(serde::Deserialize)]
        struct Body {
            error: Message,
        }
        #[derive(serde::Deserialize)]
        struct Message {
            message: Option<String>,
        }
        let message = serde_json::from_slice::<Body>(&self.body)
            .ok()
            .and_then(|b| b.error.message)
            .unwrap_or_else(|| "no message".into());
        ApiError::Status {
            status: self.status,
            message,
        }
    }
}

/// `a=1&types[]=x`, each part percent-encoded except what Stripe's
/// parameter names need as they are.
fn encode_query(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str, keep: &[u8]| -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, b"[]"), encode(v, b"")))
        .collect::<Vec<_>>()
        .join("&")
}

/// The wait before attempt `n + 1`: doubling from `FIRST_BACKOFF`, with up
/// to 50% jitter so clients failing together do not retry together.
fn backoff(n: u32) -> Duration {
    let base = FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(n.saturating_sub(1)));
    let jitter = 1.0 + (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 2000.0;
    base.mul_f64(jitter).min(LONGEST_BACKOFF)
}

impl StripeClient for StripeApi {
    type Err = ApiError;

    async fn execute(&self, request: CustomizedStripeRequest) -> Result<Bytes, ApiError> {
        let (request, config) = request.into_pieces();
        let mut url = format!("{}/v1{}", self.shared.base, request.path);
        if let Some(query) = &request.query {
            url = format!("{url}?{query}");
        }
        let method = match request.method {
            StripeMethod::Get => reqwest::Method::GET,
            StripeMethod::Post => reqwest::Method::POST,
            StripeMethod::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .shared
            .http
            .request(method.clone(), &url)
            .bearer_auth(self.shared.secret_key.expose_secret());
        let account = config
            .account_id
            .map(|id| id.to_string())
            .or_else(|| self.account.clone());
        if let Some(account) = account {
            builder = builder.header("stripe-account", account);
        }
        if method == reqwest::Method::POST {
            // Every POST is keyed, and the key stays the same across retries.
            let key = config
                .request_strategy
                .and_then(|s| s.get_key())
                .map(IdempotencyKey::into_inner)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            builder = builder
                .header("idempotency-key", key)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(request.body.clone().unwrap_or_default());
        }
        let request = builder
            .build()
            .map_err(|e| ApiError::Config(e.to_string()))?;
        let mut tries = 0;
        loop {
            tries += 1;
            let failure = match self.attempt(&request).await {
                Ok(attempt) if (200..300).contains(&attempt.status) => return Ok(attempt.body),
                Ok(attempt) if attempt.status == 401 || !attempt.retryable() => {
                    return Err(attempt.error());
                }
                Ok(attempt) => (attempt.error(), attempt.retry_after),
                Err(error) => (error, None),
            };
            if tries >= ATTEMPTS {
                return Err(failure.0);
            }
            let wait = failure
                .1
                .unwrap_or_else(|| backoff(tries))
                .min(LONGEST_BACKOFF);
            tracing::warn!(error = %failure.0, attempt = tries, retry_in_ms = wait.as_millis() as u64, "Stripe call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_stripes_bracketed_names() {
        let query = encode_query(&[
            ("limit", "100"),
            ("types[]", "customer.created"),
            ("starting_after", "cus a&b"),
        ]);
        assert_eq!(
            query,
            "limit=100&types[]=customer.created&starting_after=cus%20a%26b"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for _ in 0..100 {
            let first = backoff(1).as_millis();
            let third = backoff(3).as_millis();
            assert!((500..=750).contains(&first), "{first}");
            assert!((2000..=3000).contains(&third), "{third}");
            assert_eq!(backoff(20), LONGEST_BACKOFF);
        }
    }
}
