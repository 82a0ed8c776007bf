//! A tiny ICS feed server for tests: serves feeds set by the test with ETag and
//! Last-Modified, answers 304 to matching conditional requests, counts requests per
//! path, and can be told to fail with a status or to serve garbage.

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Clone)]
struct Feed {
    body: String,
    etag: String,
    last_modified: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Fail(u16),
    Garbage,
}

#[derive(Debug, Default)]
struct State {
    feeds: HashMap<String, Feed>,
    modes: HashMap<String, Mode>,
    requests: HashMap<String, usize>,
    not_modified: HashMap<String, usize>,
    version: u64,
}

/// Stops the server when dropped.
pub struct IcsFeedServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl IcsFeedServer {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(serve))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(IcsFeedServer {
            addr,
            state,
            handle,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The feed's URL, e.g. `url("/agent.ics")`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, normalize(path))
    }

    /// Publishes (or replaces) a feed; a new body gets a new ETag and a later
    /// Last-Modified, so conditional requests see the change.
    pub fn set_feed(&self, path: &str, body: impl Into<String>) {
        let mut st = lock(&self.state);
        st.version += 1;
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_else(Utc::now);
        let previous = st.feeds.get(&normalize(path)).map(|f| f.last_modified);
        // HTTP dates have one-second resolution: keep Last-Modified strictly increasing.
        let last_modified = match previous {
            Some(p) if p >= now => p + Duration::seconds(1),
            _ => now,
        };
        let feed = Feed {
            body: body.into(),
            etag: format!("\"v{}\"", st.version),
            last_modified,
        };
        st.feeds.insert(normalize(path), feed);
    }

    pub fn remove_feed(&self, path: &str) {
        lock(&self.state).feeds.remove(&normalize(path));
    }

    /// Answers every request to `path` with `status` until `heal`.
    pub fn fail(&self, path: &str, status: u16) {
        lock(&self.state)
            .modes
            .insert(normalize(path), Mode::Fail(status));
    }

    /// Answers 200 with bytes that are not iCalendar until `heal`.
    pub fn serve_garbage(&self, path: &str) {
        lock(&self.state)
            .modes
            .insert(normalize(path), Mode::Garbage);
    }

    pub fn heal(&self, path: &str) {
        lock(&self.state).modes.remove(&normalize(path));
    }

    /// Requests received for `path`, whatever the answer.
    pub fn requests(&self, path: &str) -> usize {
        lock(&self.state)
            .requests
            .get(&normalize(path))
            .copied()
            .unwrap_or(0)
    }

    /// Requests for `path` answered 304.
    pub fn not_modified(&self, path: &str) -> usize {
        lock(&self.state)
            .not_modified
            .get(&normalize(path))
            .copied()
            .unwrap_or(0)
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for IcsFeedServer {
    fn drop(&mut self) {
        // The stop command is sent at once; the returned future only waits for it.
        drop(self.handle.stop(false));
    }
}

fn normalize(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// A poisoned lock only means another test thread panicked; the state is still usable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s.trim().replace("GMT", "+0000").as_str())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn serve(req: HttpRequest, state: web::Data<Mutex<State>>) -> HttpResponse {
    let path = req.path().to_string();
    let mut st = lock(&state);
    *st.requests.entry(path.clone()).or_insert(0) += 1;
    match st.modes.get(&path).copied().unwrap_or(Mode::Normal) {
        Mode::Fail(code) => {
            let status = actix_web::http::StatusCode::from_u16(code)
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
            return HttpResponse::build(status).body("failing on purpose");
        }
        Mode::Garbage => {
            let junk: Vec<u8> = (0u32..4096)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect();
            return HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "text/calendar"))
                .body(junk);
        }
        Mode::Normal => {}
    }
    let Some(feed) = st.feeds.get(&path).cloned() else {
        return HttpResponse::NotFound().body("no such feed");
    };
    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let unchanged = match header_str(header::IF_NONE_MATCH) {
        Some(tags) => tags
            .split(',')
            .any(|t| t.trim() == feed.etag || t.trim() == "*"),
        None => header_str(header::IF_MODIFIED_SINCE)
            .and_then(parse_http_date)
            .is_some_and(|since| feed.last_modified <= since),
    };
    if unchanged {
        *st.not_modified.entry(path).or_insert(0) += 1;
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, feed.etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/calendar; charset=utf-8"))
        .insert_header((header::ETAG, feed.etag))
        .insert_header((header::LAST_MODIFIED, http_date(feed.last_modified)))
        .body(feed.body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn feeds_are_served_with_validators_and_304_on_a_match() {
        let server = IcsFeedServer::start().await.unwrap();
        server.set_feed("/a.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n");
        let client = reqwest::Client::new();
        let first = client.get(server.url("/a.ics")).send().await.unwrap();
        assert_eq!(first.status(), 200);
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        let last_modified = first.headers()["last-modified"]
            .to_str()
            .unwrap()
            .to_string();
        let again = client
            .get(server.url("a.ics"))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        let by_date = client
            .get(server.url("/a.ics"))
            .header("If-Modified-Since", &last_modified)
            .send()
            .await
            .unwrap();
        assert_eq!(by_date.status(), 304);
        server.set_feed("/a.ics", "BEGIN:VCALENDAR\r\nX-NEW:1\r\nEND:VCALENDAR\r\n");
        let changed = client
            .get(server.url("/a.ics"))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 200);
        assert_eq!(server.requests("/a.ics"), 4);
        assert_eq!(server.not_modified("/a.ics"), 2);
    }

    #[tokio::test]
    async fn failures_and_garbage_can_be_switched_on_and_off() {
        let server = IcsFeedServer::start().await.unwrap();
        server.set_feed("/b.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n");
        let client = reqwest::Client::new();
        server.fail("/b.ics", 503);
        assert_eq!(
            client
                .get(server.url("/b.ics"))
                .send()
                .await
                .unwrap()
                .status(),
            503
        );
        server.serve_garbage("/b.ics");
        let body = client
            .get(server.url("/b.ics"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(!body.starts_with(b"BEGIN:VCALENDAR"));
        server.heal("/b.ics");
        assert_eq!(
            client
                .get(server.url("/b.ics"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            client
                .get(server.url("/nope.ics"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(server.requests("/b.ics"), 3);
    }
}
