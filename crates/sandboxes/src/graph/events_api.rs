//! `/me`, `/me/calendars` and `/me[/calendars/{id}]/events[/{id}]`: the app's own reads
//! and writes, which notify subscribers like a coworker's changes do.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::delta::zone_pref;
use super::error::GraphError;
use super::model::Actor;
use super::oauth::{authenticate, Need};
use super::state::{lock, Shared};
use super::view::{parse_expand, render_full, RenderOpts};

fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}

fn render_opts(req: &HttpRequest) -> Result<RenderOpts, GraphError> {
    let expand = match query_param(req, "$expand") {
        Some(e) => Some(parse_expand(&e).ok_or_else(|| {
            GraphError::bad_request(
                "BadRequest",
                format!("Parsing OData Select and Expand failed: could not parse '{e}'."),
            )
        })?),
        None => None,
    };
    Ok(RenderOpts {
        zone: zone_pref(req)?,
        expand,
    })
}

/// `$select=a,b`: keeps those properties (and `id`, `@odata.etag`).
fn select(req: &HttpRequest, mut v: Value) -> Value {
    if let (Some(sel), Some(obj)) = (query_param(req, "$select"), v.as_object_mut()) {
        let keep: Vec<&str> = sel.split(',').map(str::trim).collect();
        obj.retain(|k, _| {
            k == "id"
                || k == "@odata.etag"
                || k == "singleValueExtendedProperties"
                || keep.iter().any(|s| s.eq_ignore_ascii_case(k))
        });
    }
    v
}

pub async fn me(shared: web::Data<Shared>, req: HttpRequest) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(&shared, &req, Need::Any)?;
    let store = lock(&shared.store);
    let mb = store
        .mailboxes
        .get(&principal.user_id)
        .ok_or_else(GraphError::item_not_found)?;
    Ok(HttpResponse::Ok().json(json!({
        "@odata.context": format!("{}/$metadata#users/$entity", shared.graph_base()),
        "id": mb.user_id,
        "displayName": mb.display_name,
        "mail": mb.upn,
        "userPrincipalName": mb.upn,
    })))
}

pub async fn calendars(
    shared: web::Data<Shared>,
    req: HttpRequest,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(&shared, &req, Need::CalendarsRead)?;
    let store = lock(&shared.store);
    let mb = store
        .mailboxes
        .get(&principal.user_id)
        .ok_or_else(GraphError::item_not_found)?;
    let value: Vec<Value> = mb.calendars.iter().map(|c| mb.calendar_json(c)).collect();
    Ok(HttpResponse::Ok().json(json!({
        "@odata.context": format!("{}/$metadata#users('{}')/calendars", shared.graph_base(), mb.user_id),
        "value": value,
    })))
}

pub async fn default_calendar(
    shared: web::Data<Shared>,
    req: HttpRequest,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(&shared, &req, Need::CalendarsRead)?;
    let store = lock(&shared.store);
    let mb = store
        .mailboxes
        .get(&principal.user_id)
        .ok_or_else(GraphError::item_not_found)?;
    let cal = mb
        .calendars
        .iter()
        .find(|c| c.is_default)
        .ok_or_else(GraphError::item_not_found)?;
    Ok(HttpResponse::Ok().json(mb.calendar_json(cal)))
}

async fn create(
    shared: &Shared,
    req: &HttpRequest,
    calendar: Option<&str>,
    body: Value,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(shared, req, Need::CalendarsWrite)?;
    let opts = render_opts(req)?;
    let now = shared.now();
    let mut store = lock(&shared.store);
    let mb = store
        .mailboxes
        .get_mut(&principal.user_id)
        .ok_or_else(GraphError::item_not_found)?;
    let (inst, change) = mb.create(calendar, &body, Actor::App, now)?;
    if let Some(change) = change {
        shared.changed(&mut store, &principal.user_id, &change);
    }
    Ok(HttpResponse::Created().json(render_full(&inst, &opts)))
}

async fn get(
    shared: &Shared,
    req: &HttpRequest,
    calendar: Option<&str>,
    id: &str,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(shared, req, Need::CalendarsRead)?;
    let opts = render_opts(req)?;
    let store = lock(&shared.store);
    let mb = store
        .mailboxes
        .get(&principal.user_id)
        .ok_or_else(GraphError::item_not_found)?;
    let inst = mb.get(calendar, id)?;
    Ok(HttpResponse::Ok().json(select(req, render_full(&inst, &opts))))
}

async fn update(
    shared: &Shared,
    req: &HttpRequest,
    calendar: Option<&str>,
    id: &str,
    body: Value,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(shared, req, Need::CalendarsWrite)?;
    let opts = render_opts(req)?;
    let now = shared.now();
    let mut store = lock(&shared.store);
    let mb = store
        .mailboxes
        .get_mut(&principal.user_id)
        .ok_or_else(GraphError::item_not_found)?;
    let (inst, change) = mb.update(calendar, id, &body, Actor::App, now)?;
    shared.changed(&mut store, &principal.user_id, &change);
    Ok(HttpResponse::Ok().json(render_full(&inst, &opts)))
}

async fn delete(
    shared: &Shared,
    req: &HttpRequest,
    calendar: Option<&str>,
    id: &str,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(shared, req, Need::CalendarsWrite)?;
    let now = shared.now();
    let mut store = lock(&shared.store);
    let mb = store
        .mailboxes
        .get_mut(&principal.user_id)
        .ok_or_else(GraphError::item_not_found)?;
    let change = mb.delete(calendar, id, now)?;
    shared.changed(&mut store, &principal.user_id, &change);
    Ok(HttpResponse::NoContent().finish())
}

pub async fn create_default(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, GraphError> {
    create(&shared, &req, None, body.into_inner()).await
}

pub async fn create_in(
    shared: web::Data<Shared>,
    req: HttpRequest,
    cal: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, GraphError> {
    create(&shared, &req, Some(&cal), body.into_inner()).await
}

pub async fn get_default(
    shared: web::Data<Shared>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, GraphError> {
    get(&shared, &req, None, &id).await
}

pub async fn get_in(
    shared: web::Data<Shared>,
    req: HttpRequest,
    p: web::Path<(String, String)>,
) -> Result<HttpResponse, GraphError> {
    get(&shared, &req, Some(&p.0), &p.1).await
}

pub async fn update_default(
    shared: web::Data<Shared>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, GraphError> {
    update(&shared, &req, None, &id, body.into_inner()).await
}

pub async fn update_in(
    shared: web::Data<Shared>,
    req: HttpRequest,
    p: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, GraphError> {
    update(&shared, &req, Some(&p.0), &p.1, body.into_inner()).await
}

pub async fn delete_default(
    shared: web::Data<Shared>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, GraphError> {
    delete(&shared, &req, None, &id).await
}

pub async fn delete_in(
    shared: web::Data<Shared>,
    req: HttpRequest,
    p: web::Path<(String, String)>,
) -> Result<HttpResponse, GraphError> {
    delete(&shared, &req, Some(&p.0), &p.1).await
}
