//! Fetcher tests against a minimal HTTP server on 127.0.0.1 (allowed through the
//! allow-list): 200, 304, size cap, redirects and refused destinations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    /// Omit Content-Length and close the connection to end the body.
    unframed: bool,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_string(),
        unframed: false,
    }
}

type Handler = Arc<dyn Fn(&str, &HashMap<String, String>) -> Reply + Send + Sync>;

/// Serves `handler` on 127.0.0.1 until the test ends; one request per connection.
async fn serve(handler: Handler) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    // A TLS ClientHello (a webcal:// URL tried as https): hang up.
                    if buf.first() == Some(&0x16) {
                        return;
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let mut lines = head.split("\r\n");
                let path = lines
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .unwrap_or("/")
                    .to_string();
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let r = handler(&path, &headers);
                let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", r.status);
                for (k, v) in &r.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                if !r.unframed {
                    out.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
                }
                out.push_str("\r\n");
                out.push_str(&r.body);
                let _ = sock.write_all(out.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

fn routes() -> Handler {
    Arc::new(|path, headers| match path {
        "/feed" => {
            if headers.get("if-none-match").map(String::as_str) == Some("\"v1\"") {
                return reply(304, "");
            }
            let mut r = reply(200, FEED);
            r.headers.push(("ETag", "\"v1\"".to_string()));
            r.headers
                .push(("Last-Modified", "Mon, 04 Mar 2024 10:00:00 GMT".to_string()));
            r
        }
        "/big" => reply(200, &"x".repeat(5000)),
        "/big-unframed" => Reply {
            unframed: true,
            ..reply(200, &"x".repeat(5000))
        },
        "/to-feed" => Reply {
            headers: vec![("Location", "/feed".to_string())],
            ..reply(302, "")
        },
        "/to-private" => Reply {
            headers: vec![("Location", "http://10.0.0.5/feed".to_string())],
            ..reply(302, "")
        },
        "/to-metadata" => Reply {
            headers: vec![(
                "Location",
                "http://[::ffff:169.254.169.254]/latest".to_string(),
            )],
            ..reply(301, "")
        },
        "/loop" => Reply {
            headers: vec![("Location", "/loop".to_string())],
            ..reply(307, "")
        },
        _ => reply(404, "not found"),
    })
}

fn fetcher(allow: &[&str]) -> IcsFetcher {
    IcsFetcher::new(FetchConfig {
        allow_hosts: allow.iter().map(|s| s.to_string()).collect(),
        max_bytes: 1000,
        ..FetchConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_feed_is_fetched_with_its_validators() {
    let addr = serve(routes()).await;
    let got = fetcher(&["127.0.0.1"])
        .fetch(&format!("http://{addr}/feed"), &Validators::default())
        .await;
    match got.unwrap() {
        FetchOutcome::Fetched {
            body,
            etag,
            last_modified,
        } => {
            assert_eq!(body, FEED);
            assert_eq!(etag.as_deref(), Some("\"v1\""));
            assert_eq!(
                last_modified.as_deref(),
                Some("Mon, 04 Mar 2024 10:00:00 GMT")
            );
        }
        other => panic!("expected a body, got {other:?}"),
    }
}

#[tokio::test]
async fn a_matching_etag_gives_not_modified() {
    let addr = serve(routes()).await;
    let previous = Validators {
        etag: Some("\"v1\"".to_string()),
        last_modified: None,
    };
    let got = fetcher(&["127.0.0.0/8"])
        .fetch(&format!("http://{addr}/feed"), &previous)
        .await;
    assert_eq!(got.unwrap(), FetchOutcome::NotModified);
}

#[tokio::test]
async fn oversized_feeds_are_refused_with_or_without_content_length() {
    let addr = serve(routes()).await;
    let f = fetcher(&["127.0.0.1"]);
    for path in ["/big", "/big-unframed"] {
        let got = f
            .fetch(&format!("http://{addr}{path}"), &Validators::default())
            .await;
        assert!(
            matches!(got, Err(IcsFetchError::TooLarge { limit: 1000 })),
            "{path}: {got:?}"
        );
    }
}

#[tokio::test]
async fn redirects_are_followed_to_allowed_hosts() {
    let addr = serve(routes()).await;
    let got = fetcher(&["127.0.0.1"])
        .fetch(&format!("http://{addr}/to-feed"), &Validators::default())
        .await;
    assert!(matches!(got, Ok(FetchOutcome::Fetched { .. })), "{got:?}");
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused_before_connecting() {
    let addr = serve(routes()).await;
    let f = fetcher(&["127.0.0.1"]);
    let got = f
        .fetch(&format!("http://{addr}/to-private"), &Validators::default())
        .await;
    let err = got.unwrap_err();
    assert_eq!(err.to_string(), "refused: 10.0.0.5 is a private address");
    let got = f
        .fetch(
            &format!("http://{addr}/to-metadata"),
            &Validators::default(),
        )
        .await;
    assert!(
        matches!(
            got,
            Err(IcsFetchError::Refused {
                reason: "a link-local address",
                ..
            })
        ),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_redirect_loop_stops_after_five_hops() {
    let addr = serve(routes()).await;
    let got = fetcher(&["127.0.0.1"])
        .fetch(&format!("http://{addr}/loop"), &Validators::default())
        .await;
    assert!(
        matches!(got, Err(IcsFetchError::TooManyRedirects(5))),
        "{got:?}"
    );
}

#[tokio::test]
async fn loopback_is_refused_unless_allow_listed_by_address_or_through_dns() {
    let addr = serve(routes()).await;
    let got = fetcher(&[])
        .fetch(&format!("http://{addr}/feed"), &Validators::default())
        .await;
    assert!(
        matches!(
            got,
            Err(IcsFetchError::Refused {
                reason: "a loopback address",
                ..
            })
        ),
        "{got:?}"
    );
    // "localhost" goes through the guarded resolver rather than the literal check.
    let by_name = format!("http://localhost:{}/feed", addr.port());
    let got = fetcher(&[]).fetch(&by_name, &Validators::default()).await;
    assert!(matches!(got, Err(IcsFetchError::Refused { .. })), "{got:?}");
    let got = fetcher(&["127.0.0.0/8", "::1"])
        .fetch(&by_name, &Validators::default())
        .await;
    assert!(matches!(got, Ok(FetchOutcome::Fetched { .. })), "{got:?}");
}

#[tokio::test]
async fn error_statuses_are_typed_and_classified() {
    let addr = serve(routes()).await;
    let got = fetcher(&["127.0.0.1"])
        .fetch(&format!("http://{addr}/missing"), &Validators::default())
        .await;
    let err = got.unwrap_err();
    assert!(matches!(err, IcsFetchError::Status { status: 404 }));
    assert!(!err.is_transient());
}

#[test]
fn webcal_becomes_https_and_other_schemes_are_rejected() {
    let f = fetcher(&[]);
    assert_eq!(
        f.normalize("webcal://example.com/a.ics").unwrap().as_str(),
        "https://example.com/a.ics"
    );
    assert!(matches!(
        f.normalize("file:///etc/passwd"),
        Err(IcsFetchError::InvalidUrl { .. })
    ));
    assert!(matches!(
        f.normalize("gopher://example.com"),
        Err(IcsFetchError::InvalidUrl { .. })
    ));
    let strict = IcsFetcher::new(FetchConfig {
        allow_http: false,
        ..FetchConfig::default()
    })
    .unwrap();
    assert!(strict.normalize("http://example.com/a.ics").is_err());
}

#[tokio::test]
async fn webcal_falls_back_to_http_only_when_configured() {
    let addr = serve(routes()).await;
    let url = format!("webcal://{addr}/feed");
    let strict = fetcher(&["127.0.0.1"]);
    let got = strict.fetch(&url, &Validators::default()).await;
    assert!(
        matches!(
            got,
            Err(IcsFetchError::Network(_) | IcsFetchError::Timeout(_))
        ),
        "{got:?}"
    );
    let lenient = IcsFetcher::new(FetchConfig {
        allow_hosts: vec!["127.0.0.1".to_string()],
        webcal_http_fallback: true,
        ..FetchConfig::default()
    })
    .unwrap();
    let got = lenient.fetch(&url, &Validators::default()).await;
    assert!(matches!(got, Ok(FetchOutcome::Fetched { .. })), "{got:?}");
}

#[tokio::test]
async fn the_precheck_refuses_what_a_fetch_would_refuse_and_nothing_else() {
    let f = fetcher(&[]);
    let link_local = f
        .precheck("http://169.254.169.254/latest/calendar.ics")
        .await;
    assert!(
        matches!(
            &link_local,
            Err(IcsFetchError::Refused {
                reason: "a link-local address",
                ..
            })
        ),
        "{link_local:?}"
    );
    let by_name = f.precheck("webcal://localhost:8443/a.ics").await;
    assert!(
        matches!(by_name, Err(IcsFetchError::Refused { .. })),
        "{by_name:?}"
    );
    assert!(matches!(
        f.precheck("ftp://example.com/a.ics").await,
        Err(IcsFetchError::InvalidUrl { .. })
    ));
    assert!(fetcher(&["127.0.0.0/8", "::1"])
        .precheck("http://localhost:8443/a.ics")
        .await
        .is_ok());
    // A name that does not resolve now may resolve later: each fetch decides then.
    assert!(f.precheck("https://calendar.invalid/a.ics").await.is_ok());
}
