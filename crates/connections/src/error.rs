//! `ConnectionError`: one variant per decision a caller makes when connection logic fails.

use calsync_core::Provider;
use calsync_db::DbError;
use calsync_providers::security::CipherError;
use calsync_providers::ProviderError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The provider's OAuth app is not configured in this process.
    #[error("{0} is not configured on this server")]
    NotConfigured(Provider),
    /// Asked of a provider that has no such thing (an ICS feed has no tokens or webhook).
    #[error("{provider} connections have no {what}")]
    Unsupported {
        provider: Provider,
        what: &'static str,
    },
    /// The grant is gone: the agent must connect again. Syncing pauses.
    #[error("re-authorisation needed: {0}")]
    Reauth(String),
    /// Another holder has the connection's lease; the caller leaves the work to it.
    #[error("the connection is busy with another worker")]
    Busy,
    /// The lease lapsed while we worked (a stall longer than its life): another holder
    /// may be writing, so nothing more is written.
    #[error("the connection's lease was lost")]
    LeaseLost,
    #[error("stored token unreadable")]
    Cipher(#[from] CipherError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ConnectionError {
    /// Whether the agent must connect again before anything can succeed.
    pub fn needs_reauth(&self) -> bool {
        matches!(
            self,
            Self::Reauth(_) | Self::Provider(ProviderError::InvalidGrant { .. })
        )
    }
}

/// An error and its sources as one line, `outer: inner: …`: what is stored on a
/// connection and shown to operators, where a chain cut at the top would hide the cause.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        // `#[error(transparent)]` and "{0}" wrappers repeat their source's text.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("feed fetch failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_keeps_the_cause_and_skips_transparent_repeats() {
        let e = Outer(std::io::Error::other("is a link-local address"));
        assert_eq!(
            error_chain(&e),
            "feed fetch failed: is a link-local address"
        );
        let db = ConnectionError::Db(DbError::NotFound);
        assert_eq!(error_chain(&db), "not found");
    }
}
