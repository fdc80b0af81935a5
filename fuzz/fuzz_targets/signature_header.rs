//! `Stripe-Signature` parsing and verification on any header and body.
//!
//! Input: the header, then optionally a NUL byte and the body. Besides "never
//! panics", checks verification against an oracle: with an unlimited
//! tolerance, a header verifies exactly when one of its `v1` values is the
//! signature `sign` computes for its timestamp and the body.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tether_stripe::signature::{SignatureError, SignatureVerifier, parse_header, sign};
use tether_stripe::secret::parse_webhook_secrets;

/// The secret of fixtures/stripe/signatures.json, so the seeds verify.
const SECRET: &str = "whsec_test_5f3b8c1d2e4a6b7c8d9e0f1a2b3c4d5e";
const FIXTURE_NOW: i64 = 1_721_954_110;

fn verifier(tolerance_secs: u64) -> SignatureVerifier {
    SignatureVerifier::new(&parse_webhook_secrets(SECRET).unwrap(), tolerance_secs)
}

static USUAL: LazyLock<SignatureVerifier> = LazyLock::new(|| verifier(300));
static ANY_TIME: LazyLock<SignatureVerifier> = LazyLock::new(|| verifier(u64::MAX));

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };

    assert_eq!(
        USUAL.verify(None, body, FIXTURE_NOW),
        Err(SignatureError::Missing)
    );
    let parsed = parse_header(header);
    for now in [FIXTURE_NOW, 0, i64::MIN, i64::MAX] {
        let verdict = USUAL.verify(Some(header), body, now);
        if let Err(e) = &parsed {
            assert_eq!(verdict, Err(*e), "verify must fail as parse_header does");
        }
        let _ = verdict.map_err(|e| e.to_string());
    }
    let Ok(parsed) = parsed else {
        return;
    };
    assert!(!parsed.v1.is_empty());

    let signed = sign(SECRET, parsed.timestamp, body);
    let expected = signed.rsplit_once("v1=").unwrap().1;
    let should_match = parsed.v1.contains(&expected);
    // A u64::MAX tolerance is capped at i64::MAX seconds; clocks further
    // apart than that are out of scope for the oracle.
    let nows = [parsed.timestamp, FIXTURE_NOW, i64::MIN, i64::MAX, 0];
    for now in nows
        .into_iter()
        .filter(|now| now.abs_diff(parsed.timestamp) <= i64::MAX as u64)
    {
        let verdict = ANY_TIME.verify(Some(header), body, now);
        let want = if should_match {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        };
        assert_eq!(verdict, want, "header {header:?} at now={now}");
    }
    // Our own signature of this body at this timestamp always verifies.
    assert_eq!(USUAL.verify(Some(&signed), body, parsed.timestamp), Ok(()));
});
