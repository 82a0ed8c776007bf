//! A RabbitMQ topology per test: a random prefix, short retry delays, and every queue
//! and exchange deleted when the value is dropped.

use calsync_mq::Topology;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use std::time::Duration;

const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub fn amqp_url() -> String {
    std::env::var("CALSYNC_TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.into())
}

pub struct TestBroker {
    pub url: String,
    pub topology: Topology,
}

impl TestBroker {
    /// A fresh prefix with retries after 50 ms and 100 ms (three attempts in all).
    pub fn new() -> Self {
        let mut topology = Topology::new(format!("t{}", uuid::Uuid::new_v4().simple()));
        topology.retry_delays = vec![Duration::from_millis(50), Duration::from_millis(100)];
        Self {
            url: amqp_url(),
            topology,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.topology.prefix
    }

    /// Messages ready in `queue` now. Declares the topology first, so a queue nothing
    /// was published to yet counts 0 instead of failing.
    pub async fn depth(&self, queue: &str) -> anyhow::Result<u32> {
        let conn = calsync_mq::connect(&self.url).await?;
        let ch = conn.create_channel().await?;
        calsync_mq::declare(&ch, &self.topology).await?;
        let n = calsync_mq::queue_depth(&ch, queue).await?;
        let _ = conn.close(200, "ok").await;
        Ok(n)
    }
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let url = self.url.clone();
        let t = self.topology.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(conn) = calsync_mq::connect(&url).await else {
                    return;
                };
                let Ok(ch) = conn.create_channel().await else {
                    return;
                };
                // Services under test declare the prefix with the default retry delays,
                // so their retry queues are deleted too (deleting a missing queue is a
                // no-op in RabbitMQ).
                let mut queues = t.all_queues();
                queues.extend(Topology::new(t.prefix.clone()).all_queues());
                queues.sort();
                queues.dedup();
                for q in queues {
                    let _ = ch.queue_delete(&q, QueueDeleteOptions::default()).await;
                }
                let _ = ch
                    .exchange_delete(&t.exchange(), ExchangeDeleteOptions::default())
                    .await;
                let _ = conn.close(200, "ok").await;
            });
        })
        .join();
    }
}
