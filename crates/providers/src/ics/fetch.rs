//! The HTTP side of ICS feeds: conditional GET, manual redirects with every hop vetted,
//! timeouts and a size cap enforced while streaming.

use super::guard::{resolve_vetted, vet, AllowList, GuardedResolver, Refusal, Unreachable};
use reqwest::header::{
    HeaderMap, HeaderValue, CONTENT_LENGTH, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    LOCATION, USER_AGENT,
};
use reqwest::{redirect, StatusCode};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// Settings of the fetcher.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub connect_timeout: Duration,
    /// Bound on the whole fetch, redirects and body included.
    pub total_timeout: Duration,
    pub max_bytes: u64,
    pub max_redirects: usize,
    /// Hostnames, addresses or CIDRs that may be reached although private.
    pub allow_hosts: Vec<String>,
    /// Whether plain `http://` feeds (and redirects to them) are fetched.
    pub allow_http: bool,
    /// Whether a `webcal://` feed whose https attempt fails to connect is retried over
    /// plain http (some old publishers serve webcal on port 80 only).
    pub webcal_http_fallback: bool,
    pub user_agent: String,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_bytes: 20 * 1024 * 1024,
            max_redirects: 5,
            allow_hosts: Vec::new(),
            allow_http: true,
            webcal_http_fallback: false,
            user_agent: concat!("calsync/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// What the previous fetch returned, for a conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// 304: the feed is unchanged since the validators were issued.
    NotModified,
    Fetched {
        body: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IcsFetchError {
    #[error("invalid feed URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("refused: {addr} is {reason}")]
    Refused {
        host: String,
        addr: IpAddr,
        reason: &'static str,
    },
    #[error("too many redirects (more than {0})")]
    TooManyRedirects(usize),
    #[error("feed is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("feed answered HTTP {status}")]
    Status { status: u16 },
    #[error("fetch timed out after {0:?}")]
    Timeout(Duration),
    #[error("network error fetching the feed: {0}")]
    Network(#[source] reqwest::Error),
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

impl IcsFetchError {
    /// Whether retrying later may help (network trouble, 5xx, 429), as opposed to a
    /// feed that needs the user's attention.
    pub fn is_transient(&self) -> bool {
        match self {
            IcsFetchError::Network(_) | IcsFetchError::Timeout(_) => true,
            IcsFetchError::Status { status } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl From<Refusal> for IcsFetchError {
    fn from(r: Refusal) -> Self {
        IcsFetchError::Refused {
            host: r.host,
            addr: r.addr,
            reason: r.reason,
        }
    }
}

/// Fetches ICS feeds from user-supplied URLs without letting them reach internal hosts.
/// Cheap to clone; keep one per process.
#[derive(Debug, Clone)]
pub struct IcsFetcher {
    client: reqwest::Client,
    config: Arc<FetchConfig>,
    allow: Arc<AllowList>,
}

impl IcsFetcher {
    pub fn new(config: FetchConfig) -> Result<Self, IcsFetchError> {
        let allow = Arc::new(AllowList::new(&config.allow_hosts));
        let client = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            // A proxy would resolve the target itself, past our resolver.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow: Arc::clone(&allow),
            }))
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .build()
            .map_err(IcsFetchError::Client)?;
        Ok(IcsFetcher {
            client,
            config: Arc::new(config),
            allow,
        })
    }

    /// Whether this fetcher would ever fetch `url`, asked before a feed is connected:
    /// the URL's form, and the addresses its host resolves to now, by the rules of every
    /// fetch. `Err` is the error a fetch would fail with (`InvalidUrl` or `Refused`). A
    /// host that does not resolve, or not within the connect timeout, is not refused:
    /// DNS changes, and each fetch checks again anyway.
    pub async fn precheck(&self, url: &str) -> Result<(), IcsFetchError> {
        let url = self.normalize(url)?;
        self.vet_literal(&url)?;
        let Some(Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        let lookup = resolve_vetted(host, &self.allow);
        match tokio::time::timeout(self.config.connect_timeout, lookup).await {
            Ok(Err(Unreachable::Refused(r))) => Err(r.into()),
            Ok(Ok(_) | Err(Unreachable::Unresolved(_))) | Err(_) => Ok(()),
        }
    }

    /// GETs the feed, conditionally when `previous` carries validators.
    pub async fn fetch(
        &self,
        url: &str,
        previous: &Validators,
    ) -> Result<FetchOutcome, IcsFetchError> {
        let limit = self.config.total_timeout;
        let attempt = async {
            let first = self.fetch_inner(url, previous).await;
            let webcal = url
                .trim()
                .get(..9)
                .is_some_and(|p| p.eq_ignore_ascii_case("webcal://"));
            match first {
                Err(IcsFetchError::Network(_) | IcsFetchError::Timeout(_))
                    if webcal && self.config.webcal_http_fallback && self.config.allow_http =>
                {
                    let plain = format!("http://{}", &url.trim()[9..]);
                    self.fetch_inner(&plain, previous).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(result) => result,
            Err(_) => Err(IcsFetchError::Timeout(limit)),
        }
    }

    async fn fetch_inner(
        &self,
        url: &str,
        previous: &Validators,
    ) -> Result<FetchOutcome, IcsFetchError> {
        let mut current = self.normalize(url)?;
        for _ in 0..=self.config.max_redirects {
            self.vet_literal(&current)?;
            let response = self
                .client
                .get(current.clone())
                .headers(self.request_headers(previous))
                .send()
                .await
                .map_err(|e| map_reqwest(e, self.config.total_timeout))?;
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or(IcsFetchError::Status {
                        status: status.as_u16(),
                    })?;
                let next = current
                    .join(location)
                    .map_err(|e| IcsFetchError::InvalidUrl {
                        url: location.to_string(),
                        reason: e.to_string(),
                    })?;
                current = self.normalize(next.as_str())?;
                continue;
            }
            if status == StatusCode::NOT_MODIFIED {
                return Ok(FetchOutcome::NotModified);
            }
            if !status.is_success() {
                return Err(IcsFetchError::Status {
                    status: status.as_u16(),
                });
            }
            return self.read_body(response).await;
        }
        Err(IcsFetchError::TooManyRedirects(self.config.max_redirects))
    }

    fn request_headers(&self, previous: &Validators) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut put = |name, value: &Option<String>| {
            if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, v);
            }
        };
        put(IF_NONE_MATCH, &previous.etag);
        put(IF_MODIFIED_SINCE, &previous.last_modified);
        put(USER_AGENT, &Some(self.config.user_agent.clone()));
        headers
    }

    /// `webcal://` is `https://`; only http(s) with a host is fetched.
    pub(crate) fn normalize(&self, raw: &str) -> Result<Url, IcsFetchError> {
        let invalid = |reason: &str| IcsFetchError::InvalidUrl {
            url: raw.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = raw.trim();
        let rewritten = match trimmed.get(..9) {
            Some(p) if p.eq_ignore_ascii_case("webcal://") => format!("https://{}", &trimmed[9..]),
            _ => trimmed.to_string(),
        };
        let url = Url::parse(&rewritten).map_err(|e| invalid(&e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.config.allow_http => {}
            "http" => return Err(invalid("plain http is not allowed")),
            other => return Err(invalid(&format!("scheme {other:?} is not fetched"))),
        }
        if url.host().is_none() {
            return Err(invalid("no host"));
        }
        Ok(url)
    }

    /// IP literals never reach the resolver, so they are vetted here.
    fn vet_literal(&self, url: &Url) -> Result<(), IcsFetchError> {
        let ip = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        let host = url.host_str().unwrap_or_default();
        vet(host, ip, &self.allow).map_err(IcsFetchError::from)
    }

    async fn read_body(
        &self,
        mut response: reqwest::Response,
    ) -> Result<FetchOutcome, IcsFetchError> {
        let limit = self.config.max_bytes;
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header(ETAG);
        let last_modified = header(LAST_MODIFIED);
        let declared = header(CONTENT_LENGTH).and_then(|l| l.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(IcsFetchError::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| map_reqwest(e, self.config.total_timeout))?
        {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(IcsFetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        let body = match String::from_utf8(body) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(FetchOutcome::Fetched {
            body,
            etag,
            last_modified,
        })
    }
}

/// Recovers a resolver refusal from reqwest's error chain.
fn map_reqwest(err: reqwest::Error, timeout: Duration) -> IcsFetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return refusal.clone().into();
        }
        source = e.source();
    }
    if err.is_timeout() {
        return IcsFetchError::Timeout(timeout);
    }
    IcsFetchError::Network(err)
}
