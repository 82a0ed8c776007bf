//! `/subscriptions`: create (with the `validationToken` handshake before answering),
//! list, get, renew by PATCH, delete, reauthorize; Graph's limits on each field.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::error::GraphError;
use super::oauth::{authenticate, Need, Principal};
use super::state::{lock, Shared};
use super::tz::format_instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubScope {
    /// `me/events`, `users/{id}/events`: every calendar of the mailbox.
    Mailbox,
    Calendar(String),
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub resource: String,
    pub change_types: Vec<String>,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub expiration: DateTime<Utc>,
    pub client_state: Option<String>,
    pub user_id: String,
    pub application_id: String,
    pub latest_supported_tls_version: String,
    pub scope: SubScope,
}

impl Subscription {
    pub fn covers(&self, calendar_id: &str) -> bool {
        match &self.scope {
            SubScope::Mailbox => true,
            SubScope::Calendar(c) => c == calendar_id,
        }
    }

    pub fn to_json(&self, shared: &Shared) -> Value {
        json!({
            "@odata.context": format!("{}/$metadata#subscriptions/$entity", shared.graph_base()),
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": self.change_types.join(","),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": self.lifecycle_notification_url,
            "expirationDateTime": format_instant(self.expiration),
            "creatorId": self.user_id,
            "includeResourceData": null,
            "latestSupportedTlsVersion": self.latest_supported_tls_version,
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
        })
    }
}

fn extension_error(message: String) -> GraphError {
    GraphError::bad_request("ExtensionError", message)
}

fn not_found() -> GraphError {
    GraphError::new(404, "ResourceNotFound", "The object was not found.")
}

/// https only, except http to a loopback host (the sandbox's one relaxation).
fn check_url(field: &str, value: &str) -> Result<(), GraphError> {
    let ok = match url::Url::parse(value) {
        Ok(u) if u.scheme() == "https" => true,
        Ok(u) if u.scheme() == "http" => u.host_str().is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
                || h == "[::1]"
        }),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(GraphError::invalid_request(format!(
            "The {field} '{value}' is not valid: it must be an absolute https URL."
        )))
    }
}

fn check_expiration(shared: &Shared, raw: Option<&Value>) -> Result<DateTime<Utc>, GraphError> {
    let raw = raw.and_then(Value::as_str).ok_or_else(|| {
        GraphError::invalid_request(
            "expirationDateTime is a required property for subscription creation.",
        )
    })?;
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| GraphError::invalid_request(format!("Invalid expirationDateTime '{raw}'.")))?
        .with_timezone(&Utc);
    let now = shared.now();
    if at <= now {
        return Err(extension_error(format!(
            "Operation: Create; Exception: [Status Code: BadRequest; Reason: The expiration datetime value '{raw}' is in the past.]"
        )));
    }
    let max = shared.cfg.max_subscription_minutes;
    if at > now + chrono::Duration::minutes(max) {
        return Err(extension_error(format!(
            "Subscription expiration can only be {max} minutes in the future."
        )));
    }
    Ok(at)
}

/// RFC 3986 percent-encoding of a query value (spaces as `%20`, as Graph sends them).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POSTs `?validationToken=` and requires 200, text/plain and the decoded token back
/// within the configured time.
async fn handshake(url: &str, timeout: Duration) -> Result<(), GraphError> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let sep = if url.contains('?') { '&' } else { '?' };
    let target = format!("{url}{sep}validationToken={}", encode(&token));
    let fail = |why: &str| {
        GraphError::bad_request(
            "ValidationError",
            format!("Subscription validation request failed. {why}"),
        )
    };
    let request = async {
        let res = reqwest::Client::new()
            .post(&target)
            .header("content-type", "text/plain; charset=utf-8")
            .body("")
            .send()
            .await?;
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = res.text().await?;
        Ok::<_, reqwest::Error>((status, content_type, body))
    };
    match tokio::time::timeout(timeout, request).await {
        Err(_) => Err(fail("The notification endpoint did not answer the validation request in time.")),
        Ok(Err(e)) => Err(fail(&format!("The notification endpoint could not be reached: {e}."))),
        Ok(Ok((status, _, _))) if status != 200 => Err(fail(&format!(
            "Notification endpoint must respond with 200 OK to validation request (it answered {status})."
        ))),
        Ok(Ok((_, ct, _))) if !ct.starts_with("text/plain") => Err(fail(
            "The response to the validation request must have Content-Type text/plain.",
        )),
        Ok(Ok((_, _, body))) if body != token => Err(fail(
            "Response must exactly match validationToken query parameter.",
        )),
        Ok(Ok(_)) => Ok(()),
    }
}

fn parse_scope(
    shared: &Shared,
    principal: &Principal,
    resource: &str,
) -> Result<SubScope, GraphError> {
    let trimmed = resource.trim_start_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    let lower: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
    let (owner_ok, rest) = match lower.first().map(String::as_str) {
        Some("me") => (true, 1),
        Some("users") if parts.len() > 1 => {
            let store = lock(&shared.store);
            (
                store.user_id_of(parts[1]).as_deref() == Some(principal.user_id.as_str()),
                2,
            )
        }
        _ => (false, usize::MAX),
    };
    let unsupported = || {
        GraphError::invalid_request(format!(
            "The resource '{resource}' is not supported for change notifications."
        ))
    };
    if rest == usize::MAX {
        return Err(unsupported());
    }
    if !owner_ok {
        return Err(GraphError::new(
            403,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied. Check credentials and try again.]",
        ));
    }
    let tail: Vec<&str> = lower[rest..].iter().map(String::as_str).collect();
    let store = lock(&shared.store);
    let mailbox = store
        .mailboxes
        .get(&principal.user_id)
        .ok_or_else(not_found)?;
    match tail.as_slice() {
        ["events"] => Ok(SubScope::Mailbox),
        ["calendar", "events"] => Ok(SubScope::Calendar(mailbox.default_calendar().to_owned())),
        ["calendars", _, "events"] => {
            let id = parts[rest + 1];
            mailbox
                .calendar(Some(id))
                .map(SubScope::Calendar)
                .map_err(|_| not_found())
        }
        _ => Err(unsupported()),
    }
}

pub async fn create(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(&shared, &req, Need::CalendarsRead)?;
    let body = body.into_inner();
    let field = |k: &str| body.get(k).and_then(Value::as_str);
    let change_type = field("changeType").ok_or_else(|| {
        GraphError::invalid_request("changeType is a required property for subscription creation.")
    })?;
    let change_types: Vec<String> = change_type
        .split(',')
        .map(|c| c.trim().to_owned())
        .collect();
    if let Some(bad) = change_types
        .iter()
        .find(|c| !["created", "updated", "deleted"].contains(&c.as_str()))
    {
        return Err(GraphError::invalid_request(format!(
            "Invalid 'changeType' attribute: '{bad}'."
        )));
    }
    let notification_url = field("notificationUrl")
        .ok_or_else(|| {
            GraphError::invalid_request(
                "notificationUrl is a required property for subscription creation.",
            )
        })?
        .to_owned();
    check_url("notificationUrl", &notification_url)?;
    let lifecycle = field("lifecycleNotificationUrl").map(str::to_owned);
    if let Some(l) = &lifecycle {
        check_url("lifecycleNotificationUrl", l)?;
    }
    let resource = field("resource")
        .ok_or_else(|| {
            GraphError::invalid_request(
                "resource is a required property for subscription creation.",
            )
        })?
        .to_owned();
    let scope = parse_scope(&shared, &principal, &resource)?;
    let expiration = check_expiration(&shared, body.get("expirationDateTime"))?;
    let client_state = field("clientState").map(str::to_owned);
    if client_state
        .as_ref()
        .is_some_and(|c| c.chars().count() > 128)
    {
        return Err(GraphError::invalid_request(
            "clientState must be at most 128 characters.",
        ));
    }
    let tls = field("latestSupportedTlsVersion")
        .unwrap_or("v1_2")
        .to_owned();
    if !["v1_0", "v1_1", "v1_2", "v1_3"].contains(&tls.as_str()) {
        return Err(GraphError::invalid_request(format!(
            "Invalid latestSupportedTlsVersion '{tls}'."
        )));
    }
    handshake(&notification_url, shared.cfg.validation_timeout).await?;
    if let Some(l) = &lifecycle {
        handshake(l, shared.cfg.validation_timeout).await?;
    }
    let sub = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        resource,
        change_types,
        notification_url,
        lifecycle_notification_url: lifecycle,
        expiration,
        client_state,
        user_id: principal.user_id,
        application_id: principal.client_id,
        latest_supported_tls_version: tls,
        scope,
    };
    let out = sub.to_json(&shared);
    lock(&shared.store)
        .subscriptions
        .insert(sub.id.clone(), sub);
    Ok(HttpResponse::Created().json(out))
}

/// The caller's live subscription `id`, or 404 (expired ones are gone).
fn owned(shared: &Shared, principal: &Principal, id: &str) -> Result<Subscription, GraphError> {
    let now = shared.now();
    lock(&shared.store)
        .subscriptions
        .get(id)
        .filter(|s| {
            s.user_id == principal.user_id
                && s.application_id == principal.client_id
                && s.expiration > now
        })
        .cloned()
        .ok_or_else(not_found)
}

pub async fn list(shared: web::Data<Shared>, req: HttpRequest) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(&shared, &req, Need::Any)?;
    let now = shared.now();
    let value: Vec<Value> = lock(&shared.store)
        .subscriptions
        .values()
        .filter(|s| {
            s.user_id == principal.user_id
                && s.application_id == principal.client_id
                && s.expiration > now
        })
        .map(|s| s.to_json(&shared))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "@odata.context": format!("{}/$metadata#subscriptions", shared.graph_base()),
        "value": value,
    })))
}

pub async fn get(
    shared: web::Data<Shared>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(&shared, &req, Need::Any)?;
    Ok(HttpResponse::Ok().json(owned(&shared, &principal, &id)?.to_json(&shared)))
}

pub async fn patch(
    shared: web::Data<Shared>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(&shared, &req, Need::CalendarsRead)?;
    let mut sub = owned(&shared, &principal, &id)?;
    if let Some(k) = body
        .keys()
        .find(|k| !["expirationDateTime", "notificationUrl"].contains(&k.as_str()))
    {
        return Err(GraphError::invalid_request(format!(
            "The property '{k}' cannot be updated on a subscription."
        )));
    }
    if let Some(raw) = body.get("expirationDateTime") {
        sub.expiration = check_expiration(&shared, Some(raw))?;
    }
    if let Some(url) = body.get("notificationUrl").and_then(Value::as_str) {
        check_url("notificationUrl", url)?;
        handshake(url, shared.cfg.validation_timeout).await?;
        sub.notification_url = url.to_owned();
    }
    let out = sub.to_json(&shared);
    let mut store = lock(&shared.store);
    // Deleted meanwhile (e.g. subscriptionRemoved): the renewal finds nothing.
    let slot = store.subscriptions.get_mut(&sub.id).ok_or_else(not_found)?;
    *slot = sub;
    Ok(HttpResponse::Ok().json(out))
}

pub async fn delete(
    shared: web::Data<Shared>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(&shared, &req, Need::Any)?;
    owned(&shared, &principal, &id)?;
    lock(&shared.store).subscriptions.remove(id.as_str());
    Ok(HttpResponse::NoContent().finish())
}

pub async fn reauthorize(
    shared: web::Data<Shared>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(&shared, &req, Need::CalendarsRead)?;
    owned(&shared, &principal, &id)?;
    // Graph answers the reauthorize action with 204 and no body.
    Ok(HttpResponse::NoContent().finish())
}
