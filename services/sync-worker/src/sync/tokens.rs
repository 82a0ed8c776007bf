//! Access tokens of a connection: decrypted from the row, refreshed when about to
//! expire (or after a 401). Only the lease holder refreshes, so there is one refresh
//! at a time per connection and a rotated Microsoft refresh token is never raced.

use super::SyncError;
use crate::context::WorkerContext;
use calsync_core::Provider;
use calsync_db::connections::{self, Connection};
use calsync_providers::ProviderError;
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use uuid::Uuid;

/// Refresh this long before expiry so a token never lapses mid-sync.
const REFRESH_MARGIN: Duration = Duration::seconds(120);

pub struct Tokens {
    connection_id: Uuid,
    provider: Provider,
    access_enc: Option<Vec<u8>>,
    refresh_enc: Option<Vec<u8>>,
    expires_at: Option<DateTime<Utc>>,
}

impl Tokens {
    pub fn of(c: &Connection, provider: Provider) -> Self {
        Self {
            connection_id: c.id,
            provider,
            access_enc: c.access_token_enc.clone(),
            refresh_enc: c.refresh_token_enc.clone(),
            expires_at: c.token_expires_at,
        }
    }

    /// A usable access token; refreshes first when it expires soon or `force` is set.
    pub async fn access(
        &mut self,
        ctx: &WorkerContext,
        force: bool,
    ) -> Result<SecretString, SyncError> {
        let now = ctx.clock.now();
        let fresh = self.expires_at.is_some_and(|t| t - now > REFRESH_MARGIN);
        if !force && fresh {
            if let Some(enc) = &self.access_enc {
                return ctx
                    .cipher
                    .decrypt(enc)
                    .map_err(|e| SyncError::Crypto(e.to_string()));
            }
        }
        self.refresh(ctx).await
    }

    async fn refresh(&mut self, ctx: &WorkerContext) -> Result<SecretString, SyncError> {
        let enc = self
            .refresh_enc
            .as_ref()
            .ok_or_else(|| SyncError::Reauth("no refresh token stored".into()))?;
        let refresh = ctx
            .cipher
            .decrypt(enc)
            .map_err(|e| SyncError::Crypto(e.to_string()))?;
        let set = match self.provider {
            Provider::Google => {
                ctx.google
                    .as_ref()
                    .ok_or(SyncError::NotConfigured("google"))?
                    .refresh(&refresh)
                    .await
            }
            Provider::Microsoft => {
                ctx.microsoft
                    .as_ref()
                    .ok_or(SyncError::NotConfigured("microsoft"))?
                    .refresh(&refresh)
                    .await
            }
            Provider::Ics => return Err(SyncError::Data("ICS feeds have no tokens".into())),
        }
        .map_err(|e| match e {
            ProviderError::InvalidGrant { description } => SyncError::Reauth(description),
            other => SyncError::Provider(other),
        })?;
        use secrecy::ExposeSecret;
        let access_enc = ctx.cipher.encrypt(set.access_token.expose_secret());
        // Google keeps the old refresh token; Microsoft rotates it and we must keep the new.
        let new_refresh = set
            .refresh_token
            .as_ref()
            .map(|r| ctx.cipher.encrypt(r.expose_secret()));
        let mut db = ctx.pool.get().await.map_err(calsync_db::DbError::from)?;
        connections::store_tokens(
            &mut db,
            self.connection_id,
            &access_enc,
            new_refresh.as_deref(),
            set.expires_at,
        )
        .await?;
        self.access_enc = Some(access_enc);
        if let Some(r) = new_refresh {
            self.refresh_enc = Some(r);
        }
        self.expires_at = Some(set.expires_at);
        Ok(set.access_token)
    }
}
