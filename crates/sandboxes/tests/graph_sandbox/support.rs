//! Test support: a sandbox with short timeouts, a scriptable webhook endpoint, and the
//! OAuth dance a client does.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use calsync_sandboxes::graph::{GraphSandbox, GraphSandboxConfig};
use serde_json::Value;

pub const REDIRECT: &str = "http://127.0.0.1:9/api/integrations/microsoft/callback";
pub const AGENT: &str = "agent@contoso.com";

pub fn config() -> GraphSandboxConfig {
    GraphSandboxConfig {
        validation_timeout: Duration::from_millis(600),
        delivery_retry_base: Duration::from_millis(50),
        notification_timeout: Duration::from_secs(2),
        max_delivery_attempts: 4,
        ..GraphSandboxConfig::default()
    }
}

pub async fn sandbox() -> GraphSandbox {
    GraphSandbox::start(config()).await.expect("sandbox starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Runs authorize (auto-consent) and returns the code from the redirect.
pub async fn authorize(sb: &GraphSandbox, scope: &str) -> String {
    let cfg = config();
    let res = http()
        .get(sb.auth_url())
        .query(&[
            ("client_id", cfg.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("response_mode", "query"),
            ("scope", scope),
            ("state", "st4te"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let url = url::Url::parse(&location).expect("redirect url");
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q.get("state").map(String::as_str), Some("st4te"));
    q["code"].clone()
}

pub async fn token(sb: &GraphSandbox, form: &[(&str, &str)]) -> (u16, Value) {
    let cfg = config();
    let mut all = vec![
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.as_str()),
    ];
    all.extend_from_slice(form);
    let res = http()
        .post(sb.token_url())
        .form(&all)
        .send()
        .await
        .expect("token");
    (res.status().as_u16(), res.json().await.expect("json"))
}

/// A connected client's tokens: (access, refresh).
pub async fn connect(sb: &GraphSandbox) -> (String, String) {
    let code = authorize(sb, "offline_access Calendars.ReadWrite User.Read").await;
    let (status, body) = token(
        sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().expect("access").to_owned(),
        body["refresh_token"].as_str().expect("refresh").to_owned(),
    )
}

#[derive(Debug, Clone, Copy)]
pub enum Echo {
    Correct,
    WrongToken,
    Slow(Duration),
    JsonContentType,
}

/// A webhook endpoint whose handshake answer and notification status tests choose.
#[derive(Clone)]
pub struct Hook {
    pub echo: Arc<Mutex<Echo>>,
    pub received: Arc<Mutex<Vec<Value>>>,
    pub tokens: Arc<Mutex<Vec<String>>>,
    pub fail_next: Arc<AtomicUsize>,
    /// How long each coming notification POST waits before it is answered, in turn
    /// (then at once).
    pub answer_delays: Arc<Mutex<VecDeque<Duration>>>,
    pub url: String,
}

async fn hook_handler(hook: web::Data<Hook>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let q: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    if let Some(token) = q.get("validationToken") {
        hook.tokens.lock().expect("lock").push(token.clone());
        let echo = *hook.echo.lock().expect("lock");
        return match echo {
            Echo::Correct => HttpResponse::Ok()
                .content_type("text/plain")
                .body(token.clone()),
            Echo::WrongToken => HttpResponse::Ok()
                .content_type("text/plain")
                .body("not-the-token"),
            Echo::JsonContentType => HttpResponse::Ok()
                .content_type("application/json")
                .body(token.clone()),
            Echo::Slow(d) => {
                tokio::time::sleep(d).await;
                HttpResponse::Ok()
                    .content_type("text/plain")
                    .body(token.clone())
            }
        };
    }
    let delay = hook.answer_delays.lock().expect("lock").pop_front();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        hook.received.lock().expect("lock").push(v);
    }
    if hook.fail_next.load(Ordering::SeqCst) > 0 {
        hook.fail_next.fetch_sub(1, Ordering::SeqCst);
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Accepted().finish()
}

impl Hook {
    pub async fn start(echo: Echo) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/webhooks/microsoft",
            listener.local_addr().expect("addr")
        );
        let hook = Self {
            echo: Arc::new(Mutex::new(echo)),
            received: Arc::default(),
            tokens: Arc::default(),
            fail_next: Arc::default(),
            answer_delays: Arc::default(),
            url,
        };
        let data = web::Data::new(hook.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(hook_handler))
        })
        .listen(listener)
        .expect("listen")
        .workers(1)
        .disable_signals()
        .run();
        tokio::spawn(server);
        hook
    }

    pub fn lifecycle_url(&self) -> String {
        format!("{}/lifecycle", self.url)
    }

    pub fn received(&self) -> Vec<Value> {
        self.received.lock().expect("lock").clone()
    }
}

pub fn in_minutes(sb: &GraphSandbox, minutes: i64) -> String {
    (sb.state().now() + chrono::Duration::minutes(minutes)).to_rfc3339()
}

pub async fn subscribe(
    sb: &GraphSandbox,
    access: &str,
    hook: &Hook,
    minutes: i64,
) -> reqwest::Response {
    http()
        .post(format!("{}/subscriptions", sb.graph_base()))
        .bearer_auth(access)
        .json(&serde_json::json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": hook.url,
            "lifecycleNotificationUrl": hook.lifecycle_url(),
            "resource": "me/events",
            "expirationDateTime": in_minutes(sb, minutes),
            "clientState": "conn-1.hmac",
            "latestSupportedTlsVersion": "v1_2",
        }))
        .send()
        .await
        .expect("subscribe")
}

pub fn event(subject: &str, start: &str, end: &str) -> Value {
    serde_json::json!({
        "subject": subject,
        "start": {"dateTime": start, "timeZone": "Europe/Berlin"},
        "end": {"dateTime": end, "timeZone": "Europe/Berlin"},
        "showAs": "busy",
    })
}
