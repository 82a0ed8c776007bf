//! `TokenCipher`: AES-256-GCM encryption of OAuth tokens at rest, with key rotation.
//!
//! Layout of a ciphertext: `[key id (1 byte)][nonce (12 bytes)][ciphertext + tag]`. The key
//! id is the first byte of SHA-256 of the key, so no version number has to be configured:
//! rotating means putting the new key in `CALSYNC__SECURITY__ENCRYPTION_KEY` and the old one
//! in the previous-keys list. Two keys sharing an id byte are both tried; GCM's tag makes a
//! wrong key fail cleanly.

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CipherError {
    #[error("encryption key is not base64 of exactly 32 bytes")]
    InvalidKey,
    #[error("ciphertext is too short or malformed")]
    Malformed,
    #[error("ciphertext was made with a key that is not configured (key id {0})")]
    UnknownKey(u8),
    #[error("ciphertext does not authenticate under any configured key")]
    Decrypt,
    #[error("decrypted token is not UTF-8")]
    NotUtf8,
}

struct Key {
    id: u8,
    cipher: Aes256Gcm,
}

impl Key {
    fn from_base64(b64: &SecretString) -> Result<Self, CipherError> {
        let raw = STANDARD
            .decode(b64.expose_secret().trim())
            .map_err(|_| CipherError::InvalidKey)?;
        if raw.len() != KEY_LEN {
            return Err(CipherError::InvalidKey);
        }
        let id = Sha256::digest(&raw)[0];
        let cipher = Aes256Gcm::new_from_slice(&raw).map_err(|_| CipherError::InvalidKey)?;
        Ok(Self { id, cipher })
    }
}

/// Encrypts with the current key; decrypts with the current or any previous key.
pub struct TokenCipher {
    current: Key,
    previous: Vec<Key>,
}

impl TokenCipher {
    /// `current`: base64 of 32 random bytes (`openssl rand -base64 32`).
    pub fn new(current: &SecretString) -> Result<Self, CipherError> {
        Self::with_previous(current, &[])
    }

    /// Also decrypts what older keys encrypted, so keys can rotate without a migration.
    pub fn with_previous(
        current: &SecretString,
        previous: &[SecretString],
    ) -> Result<Self, CipherError> {
        Ok(Self {
            current: Key::from_base64(current)?,
            previous: previous
                .iter()
                .map(Key::from_base64)
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn encrypt(&self, plaintext: &str) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        #[expect(
            clippy::expect_used,
            reason = "AES-GCM only fails past 64 GiB of plaintext; OAuth tokens are a few KiB"
        )]
        let sealed = self
            .current
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM encryption of a token");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn decrypt(&self, data: &[u8]) -> Result<SecretString, CipherError> {
        // One id byte, a nonce and at least a 16-byte tag.
        if data.len() < 1 + NONCE_LEN + 16 {
            return Err(CipherError::Malformed);
        }
        let (id, rest) = (data[0], &data[1..]);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::from_slice(nonce);
        let mut candidates = std::iter::once(&self.current)
            .chain(self.previous.iter())
            .filter(|k| k.id == id)
            .peekable();
        if candidates.peek().is_none() {
            return Err(CipherError::UnknownKey(id));
        }
        for key in candidates {
            if let Ok(plain) = key.cipher.decrypt(nonce, sealed) {
                let text = String::from_utf8(plain).map_err(|_| CipherError::NotUtf8)?;
                return Ok(SecretString::from(text));
            }
        }
        Err(CipherError::Decrypt)
    }
}

impl fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCipher")
            .field("current_key_id", &self.current.id)
            .field("previous_keys", &self.previous.len())
            .field("keys", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretString {
        SecretString::from(STANDARD.encode([byte; 32]))
    }

    #[test]
    fn a_token_round_trips() {
        let c = TokenCipher::new(&key(1)).unwrap();
        let sealed = c.encrypt("ya29.secret");
        assert_eq!(c.decrypt(&sealed).unwrap().expose_secret(), "ya29.secret");
        assert!(!sealed.windows(11).any(|w| w == b"ya29.secret"));
    }

    #[test]
    fn two_encryptions_of_the_same_token_differ() {
        let c = TokenCipher::new(&key(1)).unwrap();
        assert_ne!(c.encrypt("t"), c.encrypt("t"));
    }

    #[test]
    fn a_tampered_ciphertext_is_refused() {
        let c = TokenCipher::new(&key(1)).unwrap();
        let mut sealed = c.encrypt("token");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(c.decrypt(&sealed).unwrap_err(), CipherError::Decrypt);
        assert_eq!(
            c.decrypt(&sealed[..10]).unwrap_err(),
            CipherError::Malformed
        );
    }

    #[test]
    fn a_token_sealed_with_an_old_key_opens_after_rotation() {
        let old = TokenCipher::new(&key(1)).unwrap();
        let sealed = old.encrypt("refresh");
        let rotated = TokenCipher::with_previous(&key(2), &[key(1)]).unwrap();
        assert_eq!(rotated.decrypt(&sealed).unwrap().expose_secret(), "refresh");
        let without_old = TokenCipher::new(&key(2)).unwrap();
        assert!(without_old.decrypt(&sealed).is_err());
    }

    #[test]
    fn a_key_that_is_not_32_bytes_is_refused() {
        let short = SecretString::from(STANDARD.encode([0u8; 16]));
        assert_eq!(
            TokenCipher::new(&short).unwrap_err(),
            CipherError::InvalidKey
        );
        assert_eq!(
            TokenCipher::new(&SecretString::from("not base64!")).unwrap_err(),
            CipherError::InvalidKey
        );
    }

    #[test]
    fn debug_output_does_not_show_key_material() {
        let c = TokenCipher::new(&key(7)).unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&STANDARD.encode([7u8; 32])));
    }
}
