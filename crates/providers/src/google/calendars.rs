//! `GET /users/me/calendarList`: the calendars of the account, paged like events.

use super::GoogleClient;
use crate::calendars::CalendarInfo;
use crate::error::{Api, ProviderError};
use crate::http::endpoint;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// A guard against a server that never ends the listing.
const MAX_PAGES: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CalendarListPage {
    #[serde(default)]
    items: Vec<CalendarListEntry>,
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CalendarListEntry {
    id: String,
    summary: Option<String>,
    summary_override: Option<String>,
    #[serde(default)]
    primary: bool,
    access_role: Option<String>,
}

impl GoogleClient {
    /// Every calendar in the user's calendar list, following `nextPageToken`.
    #[tracing::instrument(skip_all)]
    pub async fn list_calendars(
        &self,
        access_token: &SecretString,
    ) -> Result<Vec<CalendarInfo>, ProviderError> {
        let url = endpoint(&self.cfg.api_base, &["users", "me", "calendarList"])?;
        let mut out = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query: Vec<(&str, String)> = vec![("maxResults", "250".into())];
            if let Some(p) = &page_token {
                query.push(("pageToken", p.clone()));
            }
            let page: CalendarListPage = self
                .http
                .json(Api::Google, "google.calendarList.list", |c| {
                    c.get(url.clone())
                        .bearer_auth(access_token.expose_secret())
                        .query(&query)
                })
                .await?;
            out.extend(page.items.into_iter().map(|e| {
                CalendarInfo {
                    name: e
                        .summary_override
                        .or(e.summary)
                        .unwrap_or_else(|| e.id.clone()),
                    can_write: matches!(e.access_role.as_deref(), Some("owner" | "writer")),
                    primary: e.primary,
                    id: e.id,
                }
            }));
            match page.next_page_token {
                Some(next) => page_token = Some(next),
                None => return Ok(out),
            }
        }
        Err(ProviderError::Protocol {
            context: "google.calendarList.list",
            message: format!("no last page after {MAX_PAGES} pages"),
        })
    }
}
