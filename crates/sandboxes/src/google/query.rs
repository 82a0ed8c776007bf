//! `events.list` query parameters: parsing and validation as Google does it, and the
//! fingerprint a page token is bound to.

use super::error::ApiError;
use super::when::parse_query_time;
use chrono::{DateTime, Utc};

const MAX_RESULTS: usize = 2500;
const DEFAULT_MAX_RESULTS: usize = 250;
/// Parameters Google refuses next to `syncToken`.
const NOT_WITH_SYNC: &[&str] = &[
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "sharedExtendedProperty",
    "q",
    "timeMin",
    "timeMax",
    "updatedMin",
];

#[derive(Debug, Default)]
pub(crate) struct Params {
    pub max_results: usize,
    pub page_token: Option<String>,
    pub sync_token: Option<String>,
    pub single_events: bool,
    pub show_deleted: Option<bool>,
    pub time_min: Option<DateTime<Utc>>,
    pub time_max: Option<DateTime<Utc>>,
    pub order_by: Option<String>,
    pub q: Option<String>,
    pub ical_uid: Option<String>,
    pub updated_min: Option<DateTime<Utc>>,
    pub private_props: Vec<(String, String)>,
    pub shared_props: Vec<(String, String)>,
    pub fingerprint: String,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid_param(
            name,
            format!("Invalid value for {name}: {v}"),
        )),
    }
}

fn parse_prop(name: &str, v: &str) -> Result<(String, String), ApiError> {
    v.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| ApiError::invalid_param(name, format!("Invalid {name} value: {v}")))
}

impl Params {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut p = Params {
            max_results: DEFAULT_MAX_RESULTS,
            ..Default::default()
        };
        for (k, v) in pairs {
            match k.as_str() {
                "maxResults" => {
                    let n: i64 = v.parse().map_err(|_| {
                        ApiError::invalid_param(
                            "maxResults",
                            format!(
                                "Invalid value '{v}'. Values must be within the range: [1, 2500]"
                            ),
                        )
                    })?;
                    if n < 1 {
                        return Err(ApiError::invalid_param(
                            "maxResults",
                            format!(
                                "Invalid value '{v}'. Values must be within the range: [1, 2500]"
                            ),
                        ));
                    }
                    p.max_results = usize::try_from(n).unwrap_or(MAX_RESULTS).min(MAX_RESULTS);
                }
                "pageToken" => p.page_token = Some(v.clone()),
                "syncToken" => p.sync_token = Some(v.clone()),
                "singleEvents" => p.single_events = parse_bool(k, v)?,
                "showDeleted" => p.show_deleted = Some(parse_bool(k, v)?),
                "timeMin" => p.time_min = Some(parse_query_time(k, v)?),
                "timeMax" => p.time_max = Some(parse_query_time(k, v)?),
                "updatedMin" => p.updated_min = Some(parse_query_time(k, v)?),
                "orderBy" => {
                    if !matches!(v.as_str(), "startTime" | "updated") {
                        return Err(ApiError::invalid_param(
                            "orderBy",
                            format!("Invalid value for orderBy: {v}"),
                        ));
                    }
                    p.order_by = Some(v.clone());
                }
                "q" => p.q = Some(v.to_lowercase()),
                "iCalUID" => p.ical_uid = Some(v.clone()),
                "privateExtendedProperty" => p.private_props.push(parse_prop(k, v)?),
                "sharedExtendedProperty" => p.shared_props.push(parse_prop(k, v)?),
                _ => {}
            }
        }
        let mut bound: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k != "pageToken" && k != "maxResults")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        bound.sort();
        p.fingerprint = bound.join("&");
        if let Some(_token) = &p.sync_token {
            if let Some((k, _)) = pairs
                .iter()
                .find(|(k, _)| NOT_WITH_SYNC.contains(&k.as_str()))
            {
                return Err(ApiError::invalid_param(
                    k,
                    "Sync token cannot be used with other request restrictions.",
                ));
            }
            if p.show_deleted == Some(false) {
                return Err(ApiError::invalid_param(
                    "showDeleted",
                    "showDeleted cannot be false when a sync token is used.",
                ));
            }
        }
        if p.order_by.as_deref() == Some("startTime") && !p.single_events {
            return Err(ApiError::invalid_param(
                "orderBy",
                "The requested ordering is not available for the particular query.",
            ));
        }
        if let (Some(a), Some(b)) = (p.time_min, p.time_max) {
            if b <= a {
                return Err(ApiError::time_range_empty());
            }
        }
        Ok(p)
    }
}
