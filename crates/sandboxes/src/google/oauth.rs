//! Google OAuth 2.0 for web servers: the consent endpoint (automatic consent, 302 back to
//! the app), the token endpoint (authorization_code and refresh_token grants, form
//! bodies only) and the revocation endpoint.

use super::auth::is_known_scope;
use super::state::{random_token, AccessToken, AuthCode, GoogleState, RefreshToken};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};

pub(crate) const DEFAULT_USER: &str = "agent@example.com";
const CODE_TTL_MINUTES: i64 = 10;

fn error_page(status: u16, error: &str, detail: &str) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(code)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><title>Error {status}: {error}</title>\
             <h1>Access blocked: Authorization Error</h1><p>Error {status}: {error}</p><p>{detail}</p>"
        ))
}

fn token_error(status: u16, error: &str, description: &str) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(code).json(json!({"error": error, "error_description": description}))
}

/// GET /o/oauth2/v2/auth
pub(crate) async fn consent(
    st: web::Data<GoogleState>,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let mut inner = st.lock();
    let Some(client_id) = get("client_id").filter(|c| inner.clients.contains_key(*c)) else {
        return error_page(400, "invalid_client", "The OAuth client was not found.");
    };
    let Some(redirect) = get("redirect_uri") else {
        return error_page(
            400,
            "invalid_request",
            "Missing required parameter: redirect_uri",
        );
    };
    let redirect_ok = url::Url::parse(redirect).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.fragment().is_none()
    });
    let Some(mut target) = redirect_ok else {
        return error_page(
            400,
            "invalid_request",
            "Invalid parameter value for redirect_uri",
        );
    };
    let allowed = &inner.settings.allowed_redirect_uris;
    if !allowed.is_empty() && !allowed.iter().any(|a| a == redirect) {
        return error_page(400, "redirect_uri_mismatch", "The redirect URI in the request does not match the ones authorized for the OAuth client.");
    }
    if get("response_type") != Some("code") {
        return error_page(
            400,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    let Some(scope) = get("scope") else {
        return error_page(400, "invalid_request", "Missing required parameter: scope");
    };
    let scopes: Vec<String> = scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() || scopes.iter().any(|s| !is_known_scope(s)) {
        return error_page(400, "invalid_scope", "Some requested scopes were invalid.");
    }
    let Some(state) = get("state") else {
        return error_page(
            400,
            "invalid_request",
            "The sandbox requires a state parameter (CSRF protection).",
        );
    };
    let offline = match get("access_type").unwrap_or("online") {
        "offline" => true,
        "online" => false,
        _ => return error_page(400, "invalid_request", "Invalid access_type"),
    };
    let prompts: Vec<&str> = get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompts
        .iter()
        .any(|p| !matches!(*p, "none" | "consent" | "select_account"))
    {
        return error_page(400, "invalid_request", "Invalid prompt");
    }
    if inner.deny_next_consent {
        inner.deny_next_consent = false;
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", state);
        return HttpResponse::Found()
            .insert_header(("Location", target.to_string()))
            .finish();
    }
    let user = get("login_hint")
        .unwrap_or(DEFAULT_USER)
        .to_ascii_lowercase();
    inner.calendar_mut(&user);
    let key = (user.clone(), client_id.to_owned());
    let first_grant = !inner.grants.contains_key(&key);
    let granted = inner.grants.entry(key).or_default();
    let mut all: BTreeSet<String> = scopes.iter().cloned().collect();
    if get("include_granted_scopes") == Some("true") {
        all.extend(granted.iter().cloned());
    }
    granted.extend(scopes.iter().cloned());
    let code = format!("4/0A{}", random_token(40));
    let expires = inner.now() + Duration::minutes(CODE_TTL_MINUTES);
    inner.codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.to_owned(),
            redirect_uri: redirect.to_owned(),
            user,
            scopes: all.into_iter().collect(),
            with_refresh: offline && (first_grant || prompts.contains(&"consent")),
            expires,
        },
    );
    target
        .query_pairs_mut()
        .append_pair("state", state)
        .append_pair("code", &code)
        .append_pair("scope", scope);
    HttpResponse::Found()
        .insert_header(("Location", target.to_string()))
        .finish()
}

/// Client credentials sent as HTTP Basic (RFC 6749 §2.3.1: each part form-encoded).
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    use base64::Engine;
    let header = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// POST /token
pub(crate) async fn token(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let ctype = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ctype.starts_with("application/x-www-form-urlencoded") {
        return token_error(
            400,
            "invalid_request",
            "Request must be application/x-www-form-urlencoded.",
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let basic = basic_credentials(&req);
    let mut inner = st.lock();
    let from_form = get("client_id").zip(get("client_secret"));
    let from_header = basic.as_ref().map(|(i, s)| (i.as_str(), s.as_str()));
    let (Some(client_id), Some(secret)) = from_form.or(from_header).unzip() else {
        return token_error(
            400,
            "invalid_request",
            "Missing required parameter: client_id or client_secret",
        );
    };
    if inner.clients.get(client_id).map(String::as_str) != Some(secret) {
        return token_error(401, "invalid_client", "Unauthorized");
    }
    let now = inner.now();
    let ttl = inner.settings.access_token_ttl;
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let access = format!("ya29.{}", random_token(60));
    match get("grant_type") {
        Some("authorization_code") => {
            let Some(code) = get("code") else {
                return token_error(400, "invalid_request", "Missing required parameter: code");
            };
            let Some(redirect) = get("redirect_uri") else {
                return token_error(
                    400,
                    "invalid_request",
                    "Missing required parameter: redirect_uri",
                );
            };
            // Codes are single use: whatever happens next, this one is spent.
            let Some(grant) = inner.codes.remove(code) else {
                return token_error(400, "invalid_grant", "Malformed auth code.");
            };
            if grant.expires <= now || grant.client_id != client_id {
                return token_error(400, "invalid_grant", "Bad Request");
            }
            if grant.redirect_uri != redirect {
                return token_error(400, "redirect_uri_mismatch", "Bad Request");
            }
            inner.access_tokens.insert(
                access.clone(),
                AccessToken {
                    user: grant.user.clone(),
                    client_id: client_id.to_owned(),
                    scopes: grant.scopes.clone(),
                    expires: now + Duration::seconds(ttl_secs),
                },
            );
            let mut out = json!({
                "access_token": access,
                "expires_in": ttl_secs,
                "scope": grant.scopes.join(" "),
                "token_type": "Bearer",
            });
            if grant.with_refresh {
                let refresh = format!("1//0{}", random_token(60));
                inner.refresh_tokens.insert(
                    refresh.clone(),
                    RefreshToken {
                        user: grant.user,
                        client_id: client_id.to_owned(),
                        scopes: grant.scopes,
                        issued: now,
                        revoked: false,
                    },
                );
                out["refresh_token"] = json!(refresh);
            }
            HttpResponse::Ok().json(out)
        }
        Some("refresh_token") => {
            let Some(refresh) = get("refresh_token") else {
                return token_error(
                    400,
                    "invalid_request",
                    "Missing required parameter: refresh_token",
                );
            };
            let max_age = inner.settings.refresh_token_ttl;
            let valid = inner.refresh_tokens.get(refresh).filter(|r| {
                !r.revoked
                    && r.client_id == client_id
                    && max_age.is_none_or(|age| {
                        r.issued
                            + Duration::seconds(i64::try_from(age.as_secs()).unwrap_or(i64::MAX))
                            > now
                    })
            });
            let Some(r) = valid.cloned() else {
                return token_error(400, "invalid_grant", "Token has been expired or revoked.");
            };
            inner.access_tokens.insert(
                access.clone(),
                AccessToken {
                    user: r.user,
                    client_id: client_id.to_owned(),
                    scopes: r.scopes.clone(),
                    expires: now + Duration::seconds(ttl_secs),
                },
            );
            HttpResponse::Ok().json(json!({
                "access_token": access,
                "expires_in": ttl_secs,
                "scope": r.scopes.join(" "),
                "token_type": "Bearer",
            }))
        }
        Some(other) => token_error(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        ),
        None => token_error(
            400,
            "invalid_request",
            "Missing required parameter: grant_type",
        ),
    }
}

/// POST /revoke?token=… (or form body): revokes a refresh token with its grant, or one
/// access token.
pub(crate) async fn revoke(
    st: web::Data<GoogleState>,
    q: web::Query<HashMap<String, String>>,
    body: web::Bytes,
) -> HttpResponse {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let Some(token) = q.get("token").or_else(|| form.get("token")).cloned() else {
        return token_error(400, "invalid_request", "Missing required parameter: token");
    };
    let mut inner = st.lock();
    if let Some(r) = inner.refresh_tokens.get(&token).cloned() {
        revoke_grant(&mut inner, &r.user, Some(&r.client_id));
        return HttpResponse::Ok().json(json!({}));
    }
    if inner.access_tokens.remove(&token).is_some() {
        return HttpResponse::Ok().json(json!({}));
    }
    token_error(400, "invalid_token", "Token expired or revoked")
}

/// Revokes what `user` granted (to one client, or all): refresh tokens, the access tokens
/// they produced, and the grant itself, so the next consent issues a new refresh token.
pub(crate) fn revoke_grant(inner: &mut super::state::Inner, user: &str, client: Option<&str>) {
    let hit = |u: &str, c: &str| u.eq_ignore_ascii_case(user) && client.is_none_or(|x| x == c);
    for r in inner.refresh_tokens.values_mut() {
        if hit(&r.user, &r.client_id) {
            r.revoked = true;
        }
    }
    inner
        .access_tokens
        .retain(|_, a| !hit(&a.user, &a.client_id));
    inner.grants.retain(|(u, c), _| !hit(u, c));
}
