//! `events.watch` and `channels.stop`: channel validation as Google does it (id charset
//! and uniqueness, `web_hook` type, HTTPS address, token length, ttl capped), the
//! `sync` message on creation, and stopping.

use super::auth::{prelude, Access};
use super::error::{json_object, ApiError};
use super::push::Notice;
use super::state::{ChannelInfo, GoogleState};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde_json::{json, Value};

fn valid_channel_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_+/=".contains(&b))
}

fn loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

fn check_address(address: &str) -> Result<(), ApiError> {
    let url = url::Url::parse(address).map_err(|_| {
        ApiError::new(
            400,
            "global",
            "push.webhookUrlUnparseable",
            format!("WebHook callback URL is unparseable: {address}"),
        )
    })?;
    let host = url.host().ok_or_else(|| {
        ApiError::new(
            400,
            "global",
            "push.webhookUrlUnparseable",
            format!("WebHook callback URL is unparseable: {address}"),
        )
    })?;
    match url.scheme() {
        "https" => Ok(()),
        // Real Google refuses all plain HTTP; the sandbox allows it on loopback only,
        // where tests and `calsync up` listen.
        "http" if loopback(&host) => Ok(()),
        _ => Err(ApiError::new(
            400,
            "global",
            "push.webhookUrlNotHttps",
            format!("WebHook callback must be HTTPS: {address}"),
        )),
    }
}

/// POST /calendar/v3/calendars/{calendarId}/events/watch
pub(crate) async fn watch(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = prelude(&req, &st, Access::Read).await?;
    let cal_id = caller.calendar(&path)?;
    let body = json_object(&body)?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required("Required").at("parameter", "id"))?;
    if !valid_channel_id(id) {
        return Err(ApiError::invalid_param(
            "id",
            format!("Channel id {id} is invalid. It must match the pattern [A-Za-z0-9\\-_\\+/=]+ and be at most 64 characters."),
        ));
    }
    match body.get("type").and_then(Value::as_str) {
        Some("web_hook") | Some("webhook") => {}
        None => return Err(ApiError::required("Required").at("parameter", "type")),
        Some(other) => {
            return Err(ApiError::invalid_param(
                "type",
                format!("Unknown channel type: {other}"),
            ))
        }
    }
    let address = body
        .get("address")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required("Required").at("parameter", "address"))?;
    check_address(address)?;
    let token = match body.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.len() <= 256 => Some(t.clone()),
        Some(_) => {
            return Err(ApiError::invalid_param(
                "token",
                "Channel token must be a string of at most 256 characters.",
            ))
        }
    };
    let ttl = match body.get("params").and_then(|p| p.get("ttl")) {
        None | Some(Value::Null) => None,
        Some(v) => {
            let parsed = match v {
                Value::String(s) => s.parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            Some(parsed.filter(|n| *n > 0).ok_or_else(|| {
                ApiError::invalid_param("params.ttl", format!("Invalid ttl value for channel: {v}"))
            })?)
        }
    };
    let mut inner = st.lock();
    if inner.used_channel_ids.contains(id) {
        return Err(ApiError::new(
            400,
            "global",
            "channelIdNotUnique",
            "Channel id not unique",
        ));
    }
    let now = inner.now();
    let max = i64::try_from(inner.settings.channel_ttl_max.as_secs()).unwrap_or(i64::MAX);
    let granted = ttl.map_or(max, |t| t.min(max));
    // Channel expirations are whole milliseconds, as Google reports them.
    let expiration = chrono::DateTime::from_timestamp_millis(
        (now + Duration::seconds(granted)).timestamp_millis(),
    )
    .unwrap_or(now);
    let resource_id = inner.calendar_mut(&cal_id).resource_id.clone();
    let resource_uri = format!(
        "{}/calendars/{}/events?alt=json",
        inner.api_base,
        path.as_str()
    );
    let info = ChannelInfo {
        id: id.to_owned(),
        resource_id: resource_id.clone(),
        resource_uri: resource_uri.clone(),
        calendar_id: cal_id,
        address: address.to_owned(),
        token: token.clone(),
        expiration,
        stopped: false,
        client_id: caller.client_id,
        messages_sent: 1,
    };
    inner.used_channel_ids.insert(id.to_owned());
    inner.channels.push((info, 1));
    drop(inner);
    st.spawn_deliveries(vec![Notice {
        channel_id: id.to_owned(),
        token: token.clone(),
        expiration,
        resource_id: resource_id.clone(),
        resource_uri: resource_uri.clone(),
        address: address.to_owned(),
        state: "sync",
        number: 1,
    }]);
    let mut out = json!({
        "kind": "api#channel",
        "id": id,
        "resourceId": resource_id,
        "resourceUri": resource_uri,
        "expiration": expiration.timestamp_millis().to_string(),
    });
    if let Some(t) = token {
        out["token"] = json!(t);
    }
    Ok(HttpResponse::Ok().json(out))
}

/// POST /calendar/v3/channels/stop
pub(crate) async fn stop(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = prelude(&req, &st, Access::Read).await?;
    let body = json_object(&body)?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required("Required").at("parameter", "id"))?;
    let resource_id = body
        .get("resourceId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required("Required").at("parameter", "resourceId"))?;
    let mut inner = st.lock();
    let channel = inner.channels.iter_mut().find(|(c, _)| {
        c.id == id && c.resource_id == resource_id && c.client_id == caller.client_id && !c.stopped
    });
    match channel {
        Some((c, _)) => {
            c.stopped = true;
            Ok(HttpResponse::NoContent().finish())
        }
        None => Err(ApiError::new(
            404,
            "global",
            "notFound",
            format!(
                "Channel '{id}' not found for project '{}'",
                caller.client_id
            ),
        )),
    }
}
