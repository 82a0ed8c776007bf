//! No secrets in logs, ever (issue 13.6): the api binary itself, every log target at
//! TRACE, goes through a Google connect and callback, the agent portal, an ICS feed,
//! a booking and its cancellation; its captured output holds none of the secrets used.

use crate::helpers::signed_token;
use base64::Engine;
use calsync_providers::security::TokenCipher;
use calsync_sandboxes::google::{GoogleSandbox, GoogleSandboxConfig};
use calsync_testkit::{TestBroker, TestDatabase};
use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};

struct Api {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn a_full_flow_logged_at_trace_level_holds_none_of_its_secrets() {
    let google_cfg = GoogleSandboxConfig::default();
    let sandbox = GoogleSandbox::start(GoogleSandboxConfig::default())
        .await
        .unwrap();
    let db = TestDatabase::new().await.unwrap();
    let broker = TestBroker::new();
    let base = format!("http://127.0.0.1:{}", free_port());
    let operator = "op-7f1c9e2d5a8b";
    let jwt_secret = "jwt-4b6e8d0f2a1c3e5b";
    let marketplace = "mkt-9d2f4a6c8e0b1d3f";
    let webhook_secret = "whs-1a3c5e7f9b2d4f6a";
    let key_bytes: Vec<u8> = (0u8..32)
        .map(|b| b.wrapping_mul(37).wrapping_add(11))
        .collect();
    let encryption_key = base64::engine::general_purpose::STANDARD.encode(&key_bytes);
    let feed_secret = "feedsecret-3e5a7c9b1d";

    let log = std::env::temp_dir().join(format!("calsync-api-log-{}.txt", uuid::Uuid::new_v4()));
    let file = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_calsync-api"));
    for (k, _) in std::env::vars() {
        if k.starts_with("CALSYNC") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("CALSYNC__DATABASE__URL", db.url())
        .env("CALSYNC__AMQP__URL", &broker.url)
        .env("CALSYNC__AMQP__PREFIX", broker.prefix())
        .env("CALSYNC__API__BIND", base.trim_start_matches("http://"))
        .env("CALSYNC__API__PUBLIC_URL", &base)
        .env("CALSYNC__API__OPERATOR_TOKEN", operator)
        .env("CALSYNC__API__JWT_SECRET", jwt_secret)
        .env("CALSYNC__API__MARKETPLACE_TOKEN", marketplace)
        .env("CALSYNC__SECURITY__ENCRYPTION_KEY", &encryption_key)
        .env("CALSYNC__SECURITY__WEBHOOK_SECRET", webhook_secret)
        .env("CALSYNC__INGEST__PUBLIC_URL", "http://127.0.0.1:9")
        .env("CALSYNC__GOOGLE__CLIENT_ID", &google_cfg.client_id)
        .env("CALSYNC__GOOGLE__CLIENT_SECRET", &google_cfg.client_secret)
        .env("CALSYNC__GOOGLE__API_BASE", sandbox.api_base())
        .env("CALSYNC__GOOGLE__AUTH_URL", sandbox.auth_url())
        .env("CALSYNC__GOOGLE__TOKEN_URL", sandbox.token_url())
        .env("CALSYNC__LOG__LEVEL", "trace")
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file));
    let api = Api {
        child: cmd.spawn().unwrap(),
        log: log.clone(),
    };
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |p: &str| format!("{base}{p}");
    let mut up = false;
    for _ in 0..300 {
        if client.get(url("/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        up,
        "the api did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The operator creates the specialist and connects their Google calendar.
    let res = client
        .post(url("/api/specialists"))
        .bearer_auth(operator)
        .json(&json!({"userId": "ada", "displayName": "Ada", "timeZone": "UTC",
            "workingHours": (1..=5).map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"})).collect::<Vec<_>>()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .get(url(&format!(
            "/api/integrations/google/connect?specialistId={id}"
        )))
        .bearer_auth(operator)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let consent = res.headers()["location"].to_str().unwrap().to_owned();
    let res = client.get(&consent).send().await.unwrap();
    let callback = res.headers()["location"].to_str().unwrap().to_owned();
    let (code, state) = (
        query_param(&callback, "code"),
        query_param(&callback, "state"),
    );
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let connection: uuid::Uuid = res.json::<Value>().await.unwrap()["connectionId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Replaying the used state is refused (and must not be logged either).
    assert!(client
        .get(&callback)
        .send()
        .await
        .unwrap()
        .status()
        .is_client_error());

    // The agent's portal: header and ?token= links, and an ICS feed with a secret URL.
    let jwt = signed_token("ada", Duration::minutes(10), jwt_secret);
    let res = client
        .get(url("/api/appointments/mine"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .get(url(&format!("/agent/schedule?token={jwt}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .get(url(&format!(
            "/api/integrations/google/connect?specialistId={id}&token={jwt}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let feed =
        format!("https://calendar.invalid/private/{feed_secret}/basic.ics?token={feed_secret}");
    let res = client
        .post(url("/api/integrations/ics"))
        .bearer_auth(&jwt)
        .json(&json!({"specialistId": id, "url": feed}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let wrong = "wrong-token-5c7e9a1b3d";
    let res = client
        .get(url("/api/appointments/mine"))
        .bearer_auth(wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // The marketplace books and cancels.
    let day = crate::helpers::next_monday();
    let res = client
        .post(url("/api/appointments"))
        .bearer_auth(marketplace)
        .header("Idempotency-Key", "order-1")
        .json(
            &json!({"specialistId": id, "start": crate::helpers::at(day, 9, 0).to_rfc3339(),
            "end": crate::helpers::at(day, 10, 0).to_rfc3339(), "customer": {"name": "Bob"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let appointment = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .delete(url(&format!("/api/appointments/{appointment}")))
        .bearer_auth(marketplace)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The provider's tokens as stored (encrypted) for this connection.
    let cipher = TokenCipher::new(&SecretString::from(encryption_key.clone())).unwrap();
    let mut conn = db.pool().get().await.unwrap();
    let c = calsync_db::connections::get(&mut conn, connection)
        .await
        .unwrap();
    let access = cipher.decrypt(&c.access_token_enc.unwrap()).unwrap();
    let refresh = cipher.decrypt(&c.refresh_token_enc.unwrap()).unwrap();

    // Let the last lines reach the file, then stop the process.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    drop(api);
    sandbox.stop().await;

    assert!(
        text.contains("/api/integrations/google/callback?state=REDACTED&code=REDACTED"),
        "the flow is in the log: {}",
        text.lines()
            .filter(|l| l.contains("callback"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(text.contains("appointment booked") && text.contains("appointment cancelled"));
    assert!(
        text.lines().count() > 50,
        "TRACE logs a lot: {} lines",
        text.lines().count()
    );
    for (what, secret) in [
        ("operator token", operator.to_owned()),
        ("JWT secret", jwt_secret.to_owned()),
        ("marketplace token", marketplace.to_owned()),
        ("webhook secret", webhook_secret.to_owned()),
        ("encryption key", encryption_key.clone()),
        ("client secret", google_cfg.client_secret.clone()),
        ("agent JWT", jwt.clone()),
        (
            "agent JWT signature",
            jwt.rsplit('.').next().unwrap().to_owned(),
        ),
        ("OAuth code", code.clone()),
        ("OAuth state", state.clone()),
        ("access token", access.expose_secret().to_owned()),
        ("refresh token", refresh.expose_secret().to_owned()),
        ("feed URL secret", feed_secret.to_owned()),
        ("a wrong token", wrong.to_owned()),
    ] {
        assert!(secret.len() >= 8, "{what} is too short to grep for");
        // Also as the byte list a driver prints bound parameters as.
        let bytes = format!("{:?}", secret.as_bytes());
        let bytes = bytes.trim_start_matches('[').trim_end_matches(']');
        if let Some(line) = text
            .lines()
            .find(|l| l.contains(&secret) || l.contains(bytes))
        {
            panic!("the {what} is in the log: {line}");
        }
    }
}
