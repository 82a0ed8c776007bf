//! A broker stand-in for the publishing tests (`coalesce`, `group`): records what is
//! handed in and holds each publish until the test lets it through, then confirms it,
//! or nacks it once `fail` is set.

use calsync_mq::MqError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tokio::sync::Semaphore;

pub struct Gate<T> {
    seen: Mutex<Vec<T>>,
    /// One permit lets one publish through.
    pub open: Semaphore,
    pub fail: AtomicBool,
}

impl<T> Default for Gate<T> {
    fn default() -> Self {
        Self {
            seen: Mutex::default(),
            open: Semaphore::new(0),
            fail: AtomicBool::new(false),
        }
    }
}

impl<T: Clone> Gate<T> {
    /// Everything handed in so far, in order.
    pub fn seen(&self) -> Vec<T> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// One publish: recorded at once, answered when a permit comes.
    pub async fn pass(&self, item: T) -> Result<(), MqError> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(item);
        let permit = self
            .open
            .acquire()
            .await
            .map_err(|e| MqError::NotConfirmed(e.to_string()))?;
        permit.forget();
        if self.fail.load(Ordering::SeqCst) {
            return Err(MqError::NotConfirmed("nack".into()));
        }
        Ok(())
    }
}
