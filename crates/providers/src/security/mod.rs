//! Security primitives shared by api, webhook-ingest and sync-worker: OAuth tokens
//! encrypted at rest, signed channel tokens / clientState, and signed OAuth `state`.

mod cipher;
mod state;
mod webhook;

pub use cipher::{CipherError, TokenCipher};
pub use state::{StateError, StatePayload, StateSigner};
pub use webhook::{WebhookAuthError, WebhookSigner};

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `parts` under `secret`. Each use passes its own domain prefix as the
/// first part, so one configured secret never signs two kinds of token alike.
fn hmac_sha256(secret: &SecretString, parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so new_from_slice cannot fail here; an empty
    // fallback keeps this total without a panic path.
    let mut mac = match HmacSha256::new_from_slice(secret.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}
