//! Provider signatures: header `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
//!
//! The timestamp is inside the signed text, so an old delivery cannot be replayed with a
//! fresh timestamp; deliveries older than [`TOLERANCE_SECS`] are refused.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error_code::ErrorCode;

/// How far a signature's timestamp may be from our clock, either way.
pub(crate) const TOLERANCE_SECS: i64 = 300;

/// Why a signature was refused. Each is a 401 for the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is not t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature timestamp is more than {TOLERANCE_SECS} seconds from now")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    /// The stable error code.
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            SignatureError::Missing | SignatureError::Malformed | SignatureError::Mismatch => {
                ErrorCode::WEBHOOK_SIGNATURE_INVALID
            }
            SignatureError::Stale => ErrorCode::WEBHOOK_TIMESTAMP_OUT_OF_RANGE,
        }
    }
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed at `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Check `header` against `body` at time `now` (unix seconds); the signed timestamp on success.
pub(crate) fn verify(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            // Several v1 entries let a provider sign with an old and a new secret while it
            // rotates them.
            Some(("v1", v)) => tags.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if t.abs_diff(now) > TOLERANCE_SECS as u64 {
        return Err(SignatureError::Stale);
    }
    // `verify_slice` compares in constant time.
    if tags
        .iter()
        .any(|tag| mac(secret, t, body).verify_slice(tag).is_ok())
    {
        Ok(t)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_fresh_signature_verifies() {
        let h = sign("s3cret", NOW, b"{}");
        assert_eq!(verify("s3cret", Some(&h), b"{}", NOW + 10), Ok(NOW));
    }

    #[test]
    fn every_way_to_get_it_wrong_is_refused() {
        let h = sign("s3cret", NOW, b"{\"a\":1}");
        let body = b"{\"a\":1}";
        assert_eq!(
            verify("other", Some(&h), body, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("s3cret", Some(&h), b"{\"a\":2}", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("s3cret", None, body, NOW),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify("s3cret", Some(&h), body, NOW + TOLERANCE_SECS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("s3cret", Some(&h), body, NOW - TOLERANCE_SECS - 1),
            Err(SignatureError::Stale)
        );
        for bad in [
            "",
            "t=x,v1=00",
            "v1=00",
            &format!("t={NOW}"),
            &format!("t={NOW},v1=zz"),
            "garbage",
        ] {
            assert_eq!(
                verify("s3cret", Some(bad), body, NOW),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_rotated_secret_can_sign_alongside_the_old_one() {
        let old = sign("old", NOW, b"x");
        let new = sign("new", NOW, b"x");
        let both = format!("{old},{}", new.split(',').nth(1).unwrap());
        assert_eq!(verify("new", Some(&both), b"x", NOW), Ok(NOW));
        assert_eq!(verify("old", Some(&both), b"x", NOW), Ok(NOW));
    }
}
