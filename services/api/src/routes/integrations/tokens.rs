//! A usable access token for a stored connection: decrypted, and refreshed first when it
//! expires within a couple of minutes (the new tokens are stored encrypted again).

use crate::state::AppState;
use calsync_db::connections::{self, Connection};
use calsync_db::{AsyncPgConnection, DbError};
use calsync_providers::security::CipherError;
use calsync_providers::{ProviderError, TokenSet};
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

/// Refresh when the access token has less than this left.
const REFRESH_MARGIN: Duration = Duration::minutes(2);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0} is not configured on this server")]
    NotConfigured(String),
    #[error("the connection has no stored tokens; the agent must connect again")]
    Missing,
    #[error("stored tokens cannot be decrypted: {0}")]
    Cipher(#[from] CipherError),
    #[error("token refresh failed: {0}")]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub async fn access_token(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    c: &Connection,
    now: DateTime<Utc>,
) -> Result<SecretString, TokenError> {
    let fresh = c.token_expires_at.is_some_and(|t| t > now + REFRESH_MARGIN);
    if fresh {
        if let Some(enc) = &c.access_token_enc {
            return Ok(state.cipher.decrypt(enc)?);
        }
    }
    let refresh = state
        .cipher
        .decrypt(c.refresh_token_enc.as_deref().ok_or(TokenError::Missing)?)?;
    let tokens: TokenSet = match c.provider.as_str() {
        "google" => {
            let client = state
                .google
                .as_ref()
                .ok_or_else(|| TokenError::NotConfigured("google".into()))?;
            client.refresh(&refresh).await?
        }
        "microsoft" => {
            let client = state
                .microsoft
                .as_ref()
                .ok_or_else(|| TokenError::NotConfigured("microsoft".into()))?;
            client.refresh(&refresh).await?
        }
        other => return Err(TokenError::NotConfigured(other.to_owned())),
    };
    let access_enc = state
        .cipher
        .encrypt(secrecy::ExposeSecret::expose_secret(&tokens.access_token));
    let refresh_enc = tokens.refresh_token.as_ref().map(|r| {
        state
            .cipher
            .encrypt(secrecy::ExposeSecret::expose_secret(r))
    });
    connections::store_tokens(
        conn,
        c.id,
        &access_enc,
        refresh_enc.as_deref(),
        tokens.expires_at,
    )
    .await?;
    Ok(tokens.access_token)
}
