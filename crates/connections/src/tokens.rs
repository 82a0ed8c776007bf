//! Access tokens of a connection: decrypted from the row, refreshed when about to expire
//! (or after a 401). A refresh takes the connection's `Lease` as proof, so there is one
//! refresh at a time per connection and a rotated Microsoft refresh token is never
//! raced by a second refresher that would store the old one.

use crate::{ConnectionError, Connections, Lease};
use calsync_core::Provider;
use calsync_db::connections::{self, Connection};
use calsync_providers::ProviderError;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
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
    pub fn of(c: &Connection) -> Self {
        Self {
            connection_id: c.id,
            provider: c.provider,
            access_enc: c.access_token_enc.clone(),
            refresh_enc: c.refresh_token_enc.clone(),
            expires_at: c.token_expires_at,
        }
    }

    /// A usable access token; refreshes first when it expires soon or `force` is set.
    pub async fn access(
        &mut self,
        conns: &Connections,
        lease: &Lease,
        force: bool,
    ) -> Result<SecretString, ConnectionError> {
        let fresh = self
            .expires_at
            .is_some_and(|t| t - conns.clock.now() > REFRESH_MARGIN);
        if !force && fresh {
            if let Some(enc) = &self.access_enc {
                return Ok(conns.cipher.decrypt(enc)?);
            }
        }
        self.refresh(conns, lease).await
    }

    async fn refresh(
        &mut self,
        conns: &Connections,
        lease: &Lease,
    ) -> Result<SecretString, ConnectionError> {
        if lease.connection_id() != self.connection_id {
            return Err(ConnectionError::LeaseLost);
        }
        lease.ensure_held()?;
        let enc = self
            .refresh_enc
            .as_ref()
            .ok_or_else(|| ConnectionError::Reauth("no refresh token stored".into()))?;
        let refresh = conns.cipher.decrypt(enc)?;
        let set = conns
            .clients
            .oauth(self.provider)?
            .refresh(&refresh)
            .await
            .map_err(|e| match e {
                ProviderError::InvalidGrant { description } => ConnectionError::Reauth(description),
                other => other.into(),
            })?;
        let access_enc = conns.cipher.encrypt(set.access_token.expose_secret());
        // Google keeps the old refresh token; Microsoft rotates it and we must keep the new.
        let new_refresh = set
            .refresh_token
            .as_ref()
            .map(|r| conns.cipher.encrypt(r.expose_secret()));
        let mut db = conns.pool.get().await.map_err(calsync_db::DbError::from)?;
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
