//! HTTP machinery shared by the Google and Graph clients: sending a request with the
//! error classification of `error.rs`, tracing, and retries of rate limits and 5xx with
//! exponential back-off, full jitter and `Retry-After`.

use crate::error::{classify, Api, ProviderError};
use rand::Rng;
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Tries of one request, the first included.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Back-off before the second try; doubles each time, with full jitter.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(500);
/// Cap of one back-off computed by us (a longer `Retry-After` is still honoured, within
/// the total budget).
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// Most time spent waiting across the retries of one request. Past it the error goes to
/// the caller, whose message is redelivered later: a sync must not pin its connection for
/// minutes inside one call.
pub const DEFAULT_MAX_TOTAL_WAIT: Duration = Duration::from_secs(60);
/// First wait after a rate limit that named no `Retry-After`; doubles each time, with up
/// to a second of jitter on top (Google's documented back-off: 1 + r, 2 + r, 4 + r s).
/// A full jitter from zero would come back sooner than a throttling provider allows.
pub const DEFAULT_RATE_LIMIT_BASE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_total_wait: Duration,
    pub rate_limit_base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: DEFAULT_BASE_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            max_total_wait: DEFAULT_MAX_TOTAL_WAIT,
            rate_limit_base: DEFAULT_RATE_LIMIT_BASE,
        }
    }
}

impl RetryPolicy {
    /// No retries: for callers that do their own (and for tests of a single answer).
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before try number `attempt + 1` (`attempt` ≥ 1), given what failed.
    fn delay(&self, attempt: u32, err: &ProviderError) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let ceiling = exp.min(self.max_delay);
        let mut rng = rand::thread_rng();
        if let ProviderError::RateLimited { retry_after } = err {
            // Never sooner than the provider asked, nor than the doubling floor.
            let floor = self
                .rate_limit_base
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
                .min(self.max_delay);
            let jitter = rng.gen_range(Duration::ZERO..=self.rate_limit_base);
            return retry_after.unwrap_or(Duration::ZERO).max(floor) + jitter;
        }
        let jittered = rng.gen_range(Duration::ZERO..=ceiling);
        match err.retry_after() {
            Some(asked) => asked.max(jittered),
            None => jittered,
        }
    }
}

/// Runs `op` until it succeeds, fails with a non-transient error, runs out of attempts, or
/// the next wait would overrun the policy's total budget.
pub async fn with_retry<T, F, Fut>(
    policy: &RetryPolicy,
    what: &'static str,
    mut op: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut waited = Duration::ZERO;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(err) if err.is_transient() && attempt < policy.max_attempts => {
                let delay = policy.delay(attempt, &err);
                if waited + delay > policy.max_total_wait {
                    tracing::warn!(what, attempt, error.message = %err, "retry budget exhausted");
                    return Err(err);
                }
                tracing::info!(what, attempt, delay_ms = delay.as_millis() as u64, error.message = %err, "retrying provider call");
                tokio::time::sleep(delay).await;
                waited += delay;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// A reqwest client plus the retry policy; cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl HttpClient {
    pub fn new(client: reqwest::Client, retry: RetryPolicy) -> Self {
        Self { client, retry }
    }

    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes (once per try), and decodes a 2xx JSON body.
    pub async fn json<T, B>(
        &self,
        api: Api,
        what: &'static str,
        build: B,
    ) -> Result<T, ProviderError>
    where
        T: DeserializeOwned,
        B: Fn(&reqwest::Client) -> RequestBuilder,
    {
        with_retry(&self.retry, what, || async {
            let resp = self.send(api, what, build(&self.client)).await?;
            let bytes = resp.bytes().await?;
            serde_json::from_slice(&bytes).map_err(|source| ProviderError::Decode {
                context: what,
                source,
            })
        })
        .await
    }

    /// Like `json` for a call that is not idempotent (a code exchange, a channel or
    /// subscription created): retried only when the provider surely did not act on it
    /// (throttled, or the connection never opened). A timeout, a dropped connection or a
    /// 5xx leaves the outcome unknown: `ProviderError::OutcomeUnknown`, for the caller to
    /// reconcile rather than repeat.
    pub async fn json_once<T, B>(
        &self,
        api: Api,
        what: &'static str,
        build: B,
    ) -> Result<T, ProviderError>
    where
        T: DeserializeOwned,
        B: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let result = with_retry(&self.retry, what, || async {
            let outcome = async {
                let resp = self.send(api, what, build(&self.client)).await?;
                let bytes = resp.bytes().await?;
                serde_json::from_slice(&bytes).map_err(|source| ProviderError::Decode {
                    context: what,
                    source,
                })
            }
            .await;
            match outcome {
                Err(e) if e.is_transient() && !e.surely_not_acted_on() => {
                    Err(ProviderError::OutcomeUnknown(Box::new(e)))
                }
                other => other,
            }
        })
        .await;
        if let Err(ProviderError::OutcomeUnknown(e)) = &result {
            tracing::warn!(what, error.message = %e, "outcome of a non-idempotent call unknown; not retried");
        }
        result
    }

    /// Like `json` for answers whose body does not matter (204s).
    pub async fn no_content<B>(
        &self,
        api: Api,
        what: &'static str,
        build: B,
    ) -> Result<(), ProviderError>
    where
        B: Fn(&reqwest::Client) -> RequestBuilder,
    {
        with_retry(&self.retry, what, || async {
            self.send(api, what, build(&self.client)).await.map(drop)
        })
        .await
    }

    /// One try: a 2xx response, or the classified error.
    async fn send(
        &self,
        api: Api,
        what: &'static str,
        req: RequestBuilder,
    ) -> Result<Response, ProviderError> {
        let req = req.build()?;
        // Path only: queries carry sync tokens and page tokens, which do not belong in logs.
        let span = tracing::info_span!(
            "provider.request",
            otel.kind = "client",
            provider.api = api.as_str(),
            provider.call = what,
            http.method = %req.method(),
            http.path = %req.url().path(),
            http.status = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        async move {
            let mut req = req;
            // The provider call joins the trace of the change that caused it (W3C
            // `traceparent`; nothing when traces are not exported).
            let cx =
                tracing_opentelemetry::OpenTelemetrySpanExt::context(&tracing::Span::current());
            opentelemetry::global::get_text_map_propagator(|p| {
                p.inject_context(
                    &cx,
                    &mut opentelemetry_http::HeaderInjector(req.headers_mut()),
                )
            });
            let started = Instant::now();
            let method: Method = req.method().clone();
            let resp = self.client.execute(req).await?;
            let status = resp.status();
            let span = tracing::Span::current();
            span.record("http.status", status.as_u16());
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            if status.is_success() {
                tracing::debug!(%method, "provider call succeeded");
                return Ok(resp);
            }
            let headers = resp.headers().clone();
            let body = resp.text().await.unwrap_or_default();
            let err = classify(api, status, &headers, &body);
            tracing::warn!(error.message = %err, "provider call failed");
            Err(err)
        }
        .instrument(span)
        .await
    }
}

/// `base` with `segments` appended as path segments (percent-encoded: calendar ids carry
/// `@` and `#`). Works whether or not `base` ends in `/`.
pub fn endpoint(base: &url::Url, segments: &[&str]) -> Result<url::Url, ProviderError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| ProviderError::InvalidUrl(format!("{base} cannot be a base URL")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_total_wait: Duration::from_secs(5),
            rate_limit_base: Duration::from_millis(1),
        }
    }

    #[test]
    fn a_rate_limit_is_never_retried_sooner_than_asked_or_than_the_doubling_floor() {
        let p = RetryPolicy::default();
        let no_header = ProviderError::RateLimited { retry_after: None };
        let asked = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        for _ in 0..50 {
            assert!(p.delay(1, &no_header) >= Duration::from_secs(1));
            assert!(p.delay(3, &no_header) >= Duration::from_secs(4));
            assert!(p.delay(1, &asked) >= Duration::from_secs(3));
            assert!(p.delay(1, &asked) <= Duration::from_secs(4));
        }
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let out = with_retry(&fast(), "t", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(ProviderError::Server {
                    status: 503,
                    retry_after: None,
                })
            } else {
                Ok(42)
            }
        })
        .await;
        assert_eq!(out.unwrap(), 42);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = with_retry(&fast(), "t", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ProviderError::RateLimited { retry_after: None })
        })
        .await;
        assert!(matches!(out, Err(ProviderError::RateLimited { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = with_retry(&fast(), "t", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ProviderError::NotFound)
        })
        .await;
        assert!(matches!(out, Err(ProviderError::NotFound)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_total_budget_is_returned_not_waited() {
        let started = Instant::now();
        let out: Result<(), _> = with_retry(&fast(), "t", || async {
            Err(ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(3600)),
            })
        })
        .await;
        assert!(matches!(out, Err(ProviderError::RateLimited { .. })));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn endpoint_appends_encoded_segments_to_a_base_with_a_path() {
        let base = url::Url::parse("http://127.0.0.1:9/calendar/v3").unwrap();
        let u = endpoint(&base, &["calendars", "a@b.c#x", "events"]).unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/calendar/v3/calendars/a@b.c%23x/events"
        );
        let slash = url::Url::parse("http://127.0.0.1:9/v1.0/").unwrap();
        assert_eq!(
            endpoint(&slash, &["me"]).unwrap().as_str(),
            "http://127.0.0.1:9/v1.0/me"
        );
    }
}
