//! Broker errors, split by what a caller does about them.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MqError {
    /// Connection, channel or declare failure: the broker is down or unreachable.
    #[error("broker unavailable: {0}")]
    Unavailable(#[from] lapin::Error),
    /// The broker refused the message (nack) or could not route it.
    #[error("broker did not confirm the message: {0}")]
    NotConfirmed(String),
    #[error("broker did not answer within {0:?}")]
    Timeout(std::time::Duration),
}
