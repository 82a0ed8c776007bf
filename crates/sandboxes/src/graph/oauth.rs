//! Microsoft identity platform v2.0: the authorize endpoint (auto-consent), the token
//! endpoint (authorization_code, rotating refresh_token), and bearer checks for the API.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::json;

use super::error::{GraphError, OAuthError};
use super::state::{lock, Shared};

/// Codes live ten minutes, as the identity platform's do.
const CODE_TTL_SECS: i64 = 600;
/// Refresh tokens of the identity platform last 90 days (sliding).
const REFRESH_TTL_DAYS: i64 = 90;

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub user_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub expires: DateTime<Utc>,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires: DateTime<Utc>,
    /// Set when the token was redeemed and replaced; it still works for the configured
    /// grace period after that, then answers `invalid_grant`.
    pub superseded_at: Option<DateTime<Utc>>,
}

/// The caller of an API request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub client_id: String,
}

fn token(prefix: &str, n: usize) -> String {
    let body: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect();
    format!("{prefix}{body}")
}

/// `https://graph.microsoft.com/Calendars.Read` → `Calendars.Read`; `.default` → the app's set.
fn normalize_scopes(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in raw.split_whitespace() {
        let s = s.strip_prefix("https://graph.microsoft.com/").unwrap_or(s);
        let items: Vec<&str> = if s == ".default" {
            vec!["Calendars.ReadWrite", "User.Read"]
        } else {
            vec![s]
        };
        for i in items {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(i)) {
                out.push(i.to_owned());
            }
        }
    }
    out
}

fn has(scopes: &[String], name: &str) -> bool {
    scopes.iter().any(|s| s.eq_ignore_ascii_case(name))
}

const OIDC: &[&str] = &["offline_access", "openid", "profile", "email"];

fn error_page(code: u32, text: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<html><body><h1>Sign in</h1><p>AADSTS{code}: {text}</p></body></html>"
        ))
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> HttpResponse {
    let mut url = redirect_uri.to_owned();
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&query);
    HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .finish()
}

fn known_tenant(shared: &Shared, tenant: &str) -> bool {
    ["common", "organizations", "consumers"].contains(&tenant) || tenant == shared.tenant_id
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: validates the request and consents at once for
/// `login_hint` (default `agent@contoso.com`).
pub async fn authorize(
    shared: web::Data<Shared>,
    tenant: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    if !known_tenant(&shared, &tenant) {
        return error_page(90002, &format!("Tenant '{tenant}' not found."));
    }
    let q = query.into_inner();
    let Some(client_id) = q.get("client_id") else {
        return error_page(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    if *client_id != shared.cfg.client_id {
        return error_page(
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        );
    }
    let Some(redirect_uri) = q.get("redirect_uri") else {
        return error_page(
            900144,
            "The request body must contain the following parameter: 'redirect_uri'.",
        );
    };
    let allowed = match url::Url::parse(redirect_uri) {
        Ok(u) if u.scheme() == "https" => true,
        Ok(u) if u.scheme() == "http" => {
            matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
        }
        _ => false,
    } && (shared.cfg.redirect_uris.is_empty()
        || shared.cfg.redirect_uris.contains(redirect_uri));
    if !allowed {
        return error_page(50011, &format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."));
    }
    let state = q.get("state").cloned().unwrap_or_default();
    let fail = |error: &str, code: u32, text: &str| {
        let description = format!("AADSTS{code}: {text}");
        redirect_with(
            redirect_uri,
            &[
                ("error", error),
                ("error_description", &description),
                ("state", &state),
            ],
        )
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return fail(
            "unsupported_response_type",
            700054,
            "response_type must be 'code' for this application.",
        );
    }
    if q.get("response_mode").is_some_and(|m| m != "query") {
        return fail(
            "invalid_request",
            900144,
            "The sandbox supports response_mode=query only.",
        );
    }
    let scopes = normalize_scopes(q.get("scope").map_or("", String::as_str));
    if scopes.is_empty() {
        return fail(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    }
    if state.is_empty() {
        return fail(
            "invalid_request",
            900144,
            "The sandbox requires the 'state' parameter.",
        );
    }
    let upn = q
        .get("login_hint")
        .cloned()
        .unwrap_or_else(|| shared.cfg.default_user.clone());
    let code = token("M.C5_BAY.2.U.", 64);
    let now = shared.now();
    {
        let mut store = lock(&shared.store);
        let user_id = store.mailbox_for(&upn).user_id.clone();
        store.codes.insert(
            code.clone(),
            AuthCode {
                user_id,
                client_id: client_id.clone(),
                redirect_uri: redirect_uri.clone(),
                scopes,
                expires: now + chrono::Duration::seconds(CODE_TTL_SECS),
                used: false,
            },
        );
    }
    let session = uuid::Uuid::new_v4().to_string();
    redirect_with(
        redirect_uri,
        &[
            ("code", &code),
            ("state", &state),
            ("session_state", &session),
        ],
    )
}

/// Client credentials from the form (client_secret_post) or Basic auth (client_secret_basic).
fn client_credentials(
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        ),
    }
}

/// `POST /{tenant}/oauth2/v2.0/token` (form-encoded only).
pub async fn token_endpoint(
    shared: web::Data<Shared>,
    tenant: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    if !known_tenant(&shared, &tenant) {
        return Err(OAuthError::new(
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        ));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    // A JSON body is not read at all, so Entra reports the first missing parameter.
    let form: HashMap<String, String> = if is_form {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        HashMap::new()
    };
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::missing("grant_type"))?;
    let (client_id, secret) = client_credentials(&req, &form);
    let client_id = client_id.ok_or_else(|| OAuthError::missing("client_id"))?;
    if client_id != shared.cfg.client_id {
        return Err(OAuthError::new(
            400,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        ));
    }
    let secret = secret.ok_or_else(|| {
        OAuthError::new(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
    })?;
    if secret != shared.cfg.client_secret {
        return Err(OAuthError::new(401, "invalid_client", 7000215, &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.")));
    }
    let now = shared.now();
    let mut store = lock(&shared.store);
    let (user_id, scopes) = match grant_type.as_str() {
        "authorization_code" => {
            let code = form
                .get("code")
                .ok_or_else(|| OAuthError::missing("code"))?;
            let redirect_uri = form
                .get("redirect_uri")
                .ok_or_else(|| OAuthError::missing("redirect_uri"))?;
            let grant = store
                .codes
                .get_mut(code)
                .filter(|g| g.client_id == client_id)
                .ok_or_else(|| {
                    OAuthError::invalid_grant(
                        9002313,
                        "Invalid request. Request is malformed or invalid.",
                    )
                })?;
            if grant.used {
                return Err(OAuthError::invalid_grant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."));
            }
            if grant.expires <= now {
                return Err(OAuthError::expired_grant());
            }
            if grant.redirect_uri != *redirect_uri {
                return Err(OAuthError::invalid_grant(500112, "The reply address does not match the reply address provided when requesting Authorization code."));
            }
            grant.used = true;
            (grant.user_id.clone(), grant.scopes.clone())
        }
        "refresh_token" => {
            let rt = form
                .get("refresh_token")
                .ok_or_else(|| OAuthError::missing("refresh_token"))?;
            let grace = chrono::Duration::from_std(shared.cfg.refresh_token_reuse_grace)
                .unwrap_or_default();
            let grant = store
                .refresh
                .get_mut(rt)
                .filter(|g| g.client_id == client_id)
                .filter(|g| g.expires > now && g.superseded_at.is_none_or(|at| at + grace > now))
                .ok_or_else(OAuthError::expired_grant)?;
            let requested = normalize_scopes(form.get("scope").map_or("", String::as_str));
            let widening = requested
                .iter()
                .filter(|s| !OIDC.iter().any(|o| o.eq_ignore_ascii_case(s)))
                .any(|s| !has(&grant.scopes, s));
            if widening {
                return Err(OAuthError::new(400, "invalid_grant", 65001, "The user or administrator has not consented to use the application for the requested scopes."));
            }
            grant.superseded_at.get_or_insert(now);
            (grant.user_id.clone(), grant.scopes.clone())
        }
        other => {
            return Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    };
    let ttl = chrono::Duration::from_std(shared.cfg.access_token_ttl).unwrap_or_default();
    let access = token("EwBYA8l6BAAU", 120);
    store.access.insert(
        access.clone(),
        AccessGrant {
            user_id: user_id.clone(),
            client_id: client_id.clone(),
            scopes: scopes.clone(),
            expires: now + ttl,
        },
    );
    let granted: Vec<String> = scopes
        .iter()
        .filter(|s| !OIDC.iter().any(|o| o.eq_ignore_ascii_case(s)))
        .map(|s| format!("https://graph.microsoft.com/{s}"))
        .collect();
    let mut answer = json!({
        "token_type": "Bearer",
        "scope": granted.join(" "),
        "expires_in": ttl.num_seconds(),
        "ext_expires_in": ttl.num_seconds(),
        "access_token": access,
    });
    if has(&scopes, "offline_access") {
        let refresh = token("M.C5_BAY.0.U.-", 160);
        store.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                user_id,
                client_id,
                scopes,
                expires: now + chrono::Duration::days(REFRESH_TTL_DAYS),
                superseded_at: None,
            },
        );
        if let Some(obj) = answer.as_object_mut() {
            obj.insert("refresh_token".into(), json!(refresh));
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store, no-cache"))
        .json(answer))
}

/// What an API call needs of the token's scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Any,
    CalendarsRead,
    CalendarsWrite,
}

/// Checks the bearer token of an API request.
pub fn authenticate(
    shared: &Shared,
    req: &HttpRequest,
    need: Need,
) -> Result<Principal, GraphError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| GraphError::unauthenticated("Access token is empty."))?;
    let store = lock(&shared.store);
    let grant = store.access.get(bearer).ok_or_else(|| {
        GraphError::unauthenticated("Access token validation failure. Invalid audience.")
    })?;
    if grant.expires <= shared.now() {
        return Err(GraphError::unauthenticated(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    let ok = match need {
        Need::Any => true,
        Need::CalendarsRead => {
            has(&grant.scopes, "Calendars.Read") || has(&grant.scopes, "Calendars.ReadWrite")
        }
        Need::CalendarsWrite => has(&grant.scopes, "Calendars.ReadWrite"),
    };
    if !ok {
        return Err(GraphError::access_denied());
    }
    Ok(Principal {
        user_id: grant.user_id.clone(),
        client_id: grant.client_id.clone(),
    })
}
