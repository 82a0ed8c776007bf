//! PostgreSQL LISTEN on a session of its own. A LISTEN belongs to one server session, so
//! it cannot live in the pool (whose connections are shared and recycled): `Listener`
//! holds a dedicated connection and hands out the payloads of the notifications it
//! receives, and says so when the session is gone, so that a caller relying on them
//! knows it may have missed some.

use crate::DbError;
use futures::future::poll_fn;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

/// Channel on which the triggers of migration `2026-12-02-000001_availability_notify`
/// announce, on commit, the id of every specialist whose availability inputs changed
/// (zone, working hours, calendar connections' health, external events, appointments).
pub const AVAILABILITY_CHANNEL: &str = "calsync_availability";

/// Payload meaning "anything may have changed" (a `TRUNCATE` of one of those tables).
pub const EVERYTHING: &str = "*";

/// A session listening on one channel.
pub struct Listener {
    client: tokio_postgres::Client,
    payloads: mpsc::UnboundedReceiver<String>,
}

impl Listener {
    /// Connects to `url` and listens on `channel` (a constant of this module). Returns
    /// once LISTEN is in effect: every transaction that notifies `channel` and commits
    /// after this returns is delivered.
    pub async fn connect(
        url: &str,
        application_name: &str,
        channel: &'static str,
    ) -> Result<Self, DbError> {
        // The same transport the pool uses (diesel-async connects with NoTls).
        let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(unavailable)?;
        let (tx, payloads) = mpsc::unbounded_channel();
        // Drives the session: replies to our own statements flow through the same
        // future, so it must run before the LISTEN below can complete. It ends (closing
        // the channel) when the session breaks or the client is dropped.
        tokio::spawn(async move {
            loop {
                match poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if tx.send(n.payload().to_owned()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_notice)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(error.message = %e, "listening session ended");
                        return;
                    }
                    None => return,
                }
            }
        });
        let app = application_name.replace('\'', "");
        client
            .batch_execute(&format!(
                "SET application_name = '{app}'; LISTEN \"{channel}\""
            ))
            .await
            .map_err(unavailable)?;
        Ok(Self { client, payloads })
    }

    /// The next notification's payload; `None` once the session is gone (notifications
    /// may have been missed since).
    pub async fn next(&mut self) -> Option<String> {
        self.payloads.recv().await
    }

    /// A payload already received, if any, without waiting.
    pub fn try_next(&mut self) -> Option<String> {
        self.payloads.try_recv().ok()
    }

    /// A round trip on the session: an error means it can no longer be relied on.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.client.batch_execute("").await.map_err(unavailable)
    }
}

fn unavailable(e: tokio_postgres::Error) -> DbError {
    DbError::Unavailable(Box::new(e))
}
