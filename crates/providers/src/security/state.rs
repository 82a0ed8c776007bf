//! `StateSigner`: the OAuth `state` parameter, a signed and expiring statement of which
//! specialist started a connect flow for which provider. Format: `<base64url JSON>.<base64url
//! HMAC-SHA256>`; no server-side storage is needed to check it at the callback.

use super::hmac_sha256;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use calsync_core::{Provider, SpecialistId};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::fmt;
use subtle::ConstantTimeEq;

const DOMAIN: &[u8] = b"calsync/oauth-state/v1\0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatePayload {
    pub specialist_id: SpecialistId,
    pub provider: Provider,
    /// Random, so two flows never carry the same state.
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

impl StatePayload {
    /// A payload with a fresh random nonce, valid for `ttl` from `now`.
    pub fn new(
        specialist_id: SpecialistId,
        provider: Provider,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Self {
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        Self {
            specialist_id,
            provider,
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            expires_at: now + ttl,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    #[error("state is malformed")]
    Malformed,
    #[error("state signature is invalid (tampered or signed with another secret)")]
    BadSignature,
    #[error("state expired at {expired_at}")]
    Expired { expired_at: DateTime<Utc> },
}

pub struct StateSigner {
    current: SecretString,
    previous: Vec<SecretString>,
}

impl StateSigner {
    pub fn new(secret: SecretString) -> Self {
        Self {
            current: secret,
            previous: Vec::new(),
        }
    }

    pub fn with_previous(current: SecretString, previous: Vec<SecretString>) -> Self {
        Self { current, previous }
    }

    pub fn sign(&self, payload: &StatePayload) -> String {
        // Serialising these plain fields cannot fail; an empty body would fail verification.
        let json = serde_json::to_vec(payload).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(json);
        let mac = hmac_sha256(&self.current, &[DOMAIN, body.as_bytes()]);
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// The signature is checked before the payload is even parsed, then the expiry.
    pub fn verify(&self, state: &str, now: DateTime<Utc>) -> Result<StatePayload, StateError> {
        let (body, mac) = state.split_once('.').ok_or(StateError::Malformed)?;
        let given = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| StateError::Malformed)?;
        let matched = std::iter::once(&self.current)
            .chain(self.previous.iter())
            .fold(subtle::Choice::from(0), |acc, s| {
                acc | hmac_sha256(s, &[DOMAIN, body.as_bytes()]).ct_eq(&given[..])
            });
        if !bool::from(matched) {
            return Err(StateError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| StateError::Malformed)?;
        let payload: StatePayload =
            serde_json::from_slice(&json).map_err(|_| StateError::Malformed)?;
        if payload.expires_at <= now {
            return Err(StateError::Expired {
                expired_at: payload.expires_at,
            });
        }
        Ok(payload)
    }
}

impl fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateSigner")
            .field("secrets", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn signer() -> StateSigner {
        StateSigner::new(SecretString::from("state-secret"))
    }

    fn payload(now: DateTime<Utc>) -> StatePayload {
        StatePayload::new(
            SpecialistId::new(),
            Provider::Google,
            now,
            Duration::minutes(10),
        )
    }

    #[test]
    fn a_signed_state_verifies_to_its_payload() {
        let now = Utc::now();
        let p = payload(now);
        let s = signer().sign(&p);
        assert_eq!(signer().verify(&s, now), Ok(p));
    }

    #[test]
    fn a_tampered_state_is_refused() {
        let now = Utc::now();
        let s = signer().sign(&payload(now));
        let (body, mac) = s.split_once('.').unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        json["provider"] = "microsoft".into();
        let forged = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(json.to_string()));
        assert_eq!(signer().verify(&forged, now), Err(StateError::BadSignature));
        let other = StateSigner::new(SecretString::from("other")).sign(&payload(now));
        assert_eq!(signer().verify(&other, now), Err(StateError::BadSignature));
    }

    #[test]
    fn an_expired_state_is_refused_with_its_own_error() {
        let now = Utc::now();
        let p = payload(now);
        let s = signer().sign(&p);
        assert_eq!(
            signer().verify(&s, now + Duration::minutes(11)),
            Err(StateError::Expired {
                expired_at: p.expires_at
            })
        );
    }

    #[test]
    fn garbage_state_is_malformed() {
        assert_eq!(
            signer().verify("nodot", Utc::now()),
            Err(StateError::Malformed)
        );
        assert_eq!(
            signer().verify("a.!!", Utc::now()),
            Err(StateError::Malformed)
        );
    }

    #[test]
    fn two_states_for_the_same_flow_differ_by_nonce() {
        let now = Utc::now();
        assert_ne!(signer().sign(&payload(now)), signer().sign(&payload(now)));
    }
}
