//! `WebhookSigner`: channel tokens (Google `token`) and `clientState` (Graph) that carry the
//! connection id and an HMAC, so webhook-ingest authenticates a push without the database.
//!
//! Format: `v1.<connection uuid, 32 hex>.<base64url HMAC-SHA256, first 18 bytes>` — 60
//! characters, inside Graph's 128-character `clientState` and Google's 256-character token.
//! 144 bits of tag is far beyond what an online forger can guess.

use super::hmac_sha256;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::SecretString;
use std::fmt;
use subtle::ConstantTimeEq;
use uuid::Uuid;

const VERSION: &str = "v1";
const TAG_LEN: usize = 18;
const DOMAIN: &[u8] = b"calsync/channel-token/v1\0";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookAuthError {
    #[error("channel token is malformed")]
    Malformed,
    #[error("channel token version {0:?} is not supported")]
    UnsupportedVersion(String),
    #[error("channel token signature does not match any configured secret")]
    BadSignature,
}

/// Signs with the current secret; verifies against the current and previous secrets, so a
/// secret can rotate while channels signed with the old one are still alive.
pub struct WebhookSigner {
    current: SecretString,
    previous: Vec<SecretString>,
}

impl WebhookSigner {
    pub fn new(current: SecretString) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    pub fn with_previous(current: SecretString, previous: Vec<SecretString>) -> Self {
        Self { current, previous }
    }

    pub fn sign(&self, connection_id: Uuid) -> String {
        let id = connection_id.simple().to_string();
        let tag = tag(&self.current, &id);
        format!("{VERSION}.{id}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The connection id the token was signed for. Constant-time in the tag.
    pub fn verify(&self, token: &str) -> Result<Uuid, WebhookAuthError> {
        let mut parts = token.split('.');
        let (Some(version), Some(id), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(WebhookAuthError::Malformed);
        };
        if version != VERSION {
            return Err(WebhookAuthError::UnsupportedVersion(
                version.chars().take(8).collect(),
            ));
        }
        if id.len() != 32 {
            return Err(WebhookAuthError::Malformed);
        }
        let connection_id = Uuid::try_parse(id).map_err(|_| WebhookAuthError::Malformed)?;
        let given = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| WebhookAuthError::Malformed)?;
        if given.len() != TAG_LEN {
            return Err(WebhookAuthError::Malformed);
        }
        // Check every secret (no early exit) so timing says nothing about which one matched.
        let matched = std::iter::once(&self.current)
            .chain(self.previous.iter())
            .fold(subtle::Choice::from(0), |acc, secret| {
                acc | tag(secret, id).ct_eq(&given[..])
            });
        if bool::from(matched) {
            Ok(connection_id)
        } else {
            Err(WebhookAuthError::BadSignature)
        }
    }
}

fn tag(secret: &SecretString, id: &str) -> [u8; TAG_LEN] {
    let full = hmac_sha256(secret, &[DOMAIN, id.as_bytes()]);
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&full[..TAG_LEN]);
    out
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSigner")
            .field("secrets", &"[redacted]")
            .field("previous", &self.previous.len())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn signer(s: &str) -> WebhookSigner {
        WebhookSigner::new(SecretString::from(s))
    }

    #[test]
    fn a_signed_token_verifies_to_its_connection_id() {
        let id = Uuid::new_v4();
        let token = signer("k1").sign(id);
        assert_eq!(signer("k1").verify(&token), Ok(id));
        assert!(
            token.len() <= 128,
            "fits Graph clientState: {}",
            token.len()
        );
        assert!(token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    }

    #[test]
    fn a_token_for_another_connection_id_is_refused() {
        let token = signer("k1").sign(Uuid::new_v4());
        let other = Uuid::new_v4().simple().to_string();
        let forged = format!("v1.{other}.{}", token.rsplit('.').next().unwrap());
        assert_eq!(
            signer("k1").verify(&forged),
            Err(WebhookAuthError::BadSignature)
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = signer("other").sign(Uuid::new_v4());
        assert_eq!(
            signer("k1").verify(&token),
            Err(WebhookAuthError::BadSignature)
        );
    }

    #[test]
    fn a_token_signed_with_the_previous_secret_verifies_after_rotation() {
        let id = Uuid::new_v4();
        let old_token = signer("old").sign(id);
        let rotated = WebhookSigner::with_previous(
            SecretString::from("new"),
            vec![SecretString::from("old")],
        );
        assert_eq!(rotated.verify(&old_token), Ok(id));
        assert_eq!(rotated.verify(&rotated.sign(id)), Ok(id));
    }

    #[test]
    fn garbage_tokens_are_malformed_not_panics() {
        let s = signer("k1");
        for t in [
            "",
            "v1",
            "v1..",
            "v1.zz.zz",
            "a.b.c.d",
            "v1.00000000000000000000000000000000.!!",
        ] {
            assert_eq!(s.verify(t), Err(WebhookAuthError::Malformed), "{t:?}");
        }
        assert!(matches!(
            s.verify("v2.a.b"),
            Err(WebhookAuthError::UnsupportedVersion(_))
        ));
    }
}
