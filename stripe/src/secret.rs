//! Endpoint signing secrets. They verify (ingest) and sign (the clients),
//! and no `Debug`, `Display` or error message ever shows one.

use secrecy::{ExposeSecret, SecretString};

/// One or more `whsec_...` secrets; during a rotation every listed secret
/// is accepted, a retiring one only until its end (unix seconds).
#[derive(Clone)]
pub struct WebhookSecrets {
    secrets: Vec<SecretString>,
    until: Vec<Option<i64>>,
}

impl WebhookSecrets {
    pub fn new(secrets: Vec<SecretString>) -> Result<Self, SecretListError> {
        if secrets.is_empty() || secrets.iter().any(|s| s.expose_secret().trim().is_empty()) {
            return Err(SecretListError::Empty);
        }
        let until = vec![None; secrets.len()];
        Ok(Self { secrets, until })
    }

    pub fn one(secret: &str) -> Self {
        Self {
            secrets: vec![SecretString::from(secret.to_owned())],
            until: vec![None],
        }
    }

    /// `current`, and `previous` accepted for signatures made before `until`.
    pub fn rotating(current: &str, previous: &str, until: i64) -> Self {
        Self {
            secrets: vec![
                SecretString::from(current.to_owned()),
                SecretString::from(previous.to_owned()),
            ],
            until: vec![None, Some(until)],
        }
    }

    /// These secrets and `other`'s, each with its own end (a platform's
    /// endpoint and its Connect endpoint).
    pub fn and(mut self, other: WebhookSecrets) -> Self {
        self.secrets.extend(other.secrets);
        self.until.extend(other.until);
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = &SecretString> {
        self.secrets.iter()
    }

    /// Each secret with the end of its acceptance, if it is retiring.
    pub fn with_ends(&self) -> impl Iterator<Item = (&SecretString, Option<i64>)> {
        self.secrets.iter().zip(self.until.iter().copied())
    }

    /// The secret new signatures are made with: the first listed.
    pub fn signing(&self) -> &SecretString {
        &self.secrets[0]
    }
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets([{} redacted])", self.secrets.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretListError {
    #[error("contains an empty secret (check the commas)")]
    Empty,
}

/// `whsec_a,whsec_b`: every listed secret, trimmed.
pub fn parse_webhook_secrets(raw: &str) -> Result<WebhookSecrets, SecretListError> {
    WebhookSecrets::new(
        raw.split(',')
            .map(|s| SecretString::from(s.trim().to_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_with_an_empty_entry_is_refused_without_quoting_it() {
        let err = parse_webhook_secrets("whsec_A,,whsec_B").unwrap_err();
        assert_eq!(err, SecretListError::Empty);
        assert!(!err.to_string().contains("whsec_A"));
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let secrets = parse_webhook_secrets("whsec_A, whsec_B").unwrap();
        assert_eq!(format!("{secrets:?}"), "WebhookSecrets([2 redacted])");
        assert_eq!(secrets.signing().expose_secret(), "whsec_A");
        assert_eq!(secrets.iter().nth(1).unwrap().expose_secret(), "whsec_B");
    }
}
