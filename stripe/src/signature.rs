//! `Stripe-Signature` verification, as Stripe documents it and as the
//! official SDKs do it: HMAC-SHA256 of `"{t}.{body}"` keyed with the endpoint
//! secret, compared in constant time against every `v1` signature in the
//! header, for every configured secret (rotation), within a tolerance window.
//!
//! Stricter than stripe-node in one way: a timestamp more than the tolerance
//! in the *future* is rejected too, so a captured header cannot be replayed
//! later by pre-dating the clock.

use crate::secret::WebhookSecrets;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("Stripe-Signature header has no valid timestamp")]
    NoTimestamp,
    #[error("Stripe-Signature header has no v1 signature")]
    NoV1Signature,
    #[error("Stripe-Signature timestamp is outside the tolerance window")]
    OutsideTolerance,
    #[error("no signature matches the body for any configured secret")]
    Mismatch,
}

/// The parts of a `Stripe-Signature` header tether uses.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    pub timestamp: i64,
    pub v1: Vec<&'a str>,
}

/// `t=...,v1=...,v1=...,v0=...`: unknown schemes are ignored, as Stripe asks.
pub fn parse_header(header: &str) -> Result<SignatureHeader<'_>, SignatureError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" => v1.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    Ok(SignatureHeader { timestamp, v1 })
}

pub struct SignatureVerifier {
    /// One keyed MAC per secret, cloned per check instead of re-keyed,
    /// with the signing time from which a retiring one is refused.
    keys: Vec<(HmacSha256, Option<i64>)>,
    tolerance_secs: i64,
}

impl SignatureVerifier {
    /// Accepted clock skew, in seconds.
    pub fn tolerance_secs(&self) -> i64 {
        self.tolerance_secs
    }

    pub fn new(secrets: &WebhookSecrets, tolerance_secs: u64) -> Self {
        let keys = secrets
            .with_ends()
            .map(|(s, until)| {
                let mac = HmacSha256::new_from_slice(s.expose_secret().as_bytes())
                    .expect("HMAC takes a key of any length");
                (mac, until)
            })
            .collect();
        Self {
            keys,
            tolerance_secs: i64::try_from(tolerance_secs).unwrap_or(i64::MAX),
        }
    }

    /// `now` is unix seconds; passed in so tests can pin the clock.
    pub fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let header = self.check_header(header, now)?;
        self.verify_body(&header, body).map(|_| ())
    }

    /// What can be checked without the body: the header is there, parses,
    /// and its time is within the tolerance. Returns it parsed, so the body
    /// is verified against the same parse.
    pub fn check_header<'h>(
        &self,
        header: Option<&'h str>,
        now: i64,
    ) -> Result<SignatureHeader<'h>, SignatureError> {
        let header = parse_header(header.ok_or(SignatureError::Missing)?)?;
        if now.abs_diff(header.timestamp) > self.tolerance_secs.unsigned_abs() {
            return Err(SignatureError::OutsideTolerance);
        }
        Ok(header)
    }

    /// Whether any secret signed `body` with a header that passed
    /// [`check_header`](Self::check_header). Returns the signed time.
    pub fn verify_body(
        &self,
        header: &SignatureHeader<'_>,
        body: &[u8],
    ) -> Result<i64, SignatureError> {
        let signed_prefix = format!("{}.", header.timestamp);
        for (key, until) in &self.keys {
            if until.is_some_and(|until| header.timestamp >= until) {
                continue;
            }
            let mut mac = key.clone();
            mac.update(signed_prefix.as_bytes());
            mac.update(body);
            let expected = hex::encode(mac.finalize().into_bytes());
            // Lengths are public; contents are compared in constant time. Hex
            // is compared as text, so upper-case hex does not match, as in
            // Stripe's SDKs.
            let matched = header
                .v1
                .iter()
                .any(|candidate| bool::from(candidate.as_bytes().ct_eq(expected.as_bytes())));
            if matched {
                return Ok(header.timestamp);
            }
        }
        Err(SignatureError::Mismatch)
    }
}

/// The header Stripe would send for `body` signed with `secret` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests;
