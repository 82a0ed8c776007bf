//! `GET /me/calendars`: the calendars of the mailbox, following `@odata.nextLink`.

use super::MicrosoftClient;
use crate::calendars::CalendarInfo;
use crate::error::{Api, ProviderError};
use crate::http::endpoint;
use secrecy::SecretString;
use serde::Deserialize;

/// A guard against a server that never ends the listing.
const MAX_PAGES: usize = 50;

#[derive(Debug, Deserialize)]
struct CalendarPage {
    #[serde(default)]
    value: Vec<GraphCalendar>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphCalendar {
    id: String,
    name: Option<String>,
    #[serde(default)]
    is_default_calendar: bool,
    #[serde(default)]
    can_edit: bool,
}

impl MicrosoftClient {
    /// Every calendar of the signed-in user's mailbox.
    #[tracing::instrument(skip_all)]
    pub async fn list_calendars(
        &self,
        access_token: &SecretString,
    ) -> Result<Vec<CalendarInfo>, ProviderError> {
        let mut url = endpoint(&self.cfg.graph_base, &["me", "calendars"])?;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: CalendarPage = self
                .http
                .json(Api::Graph, "graph.calendars.list", |c| {
                    self.get(c, url.clone(), access_token)
                })
                .await?;
            out.extend(page.value.into_iter().map(|c| CalendarInfo {
                name: c.name.unwrap_or_else(|| c.id.clone()),
                primary: c.is_default_calendar,
                can_write: c.can_edit,
                id: c.id,
            }));
            match page.next_link {
                Some(next) => url = self.trusted_link(&next)?,
                None => return Ok(out),
            }
        }
        Err(ProviderError::Protocol {
            context: "graph.calendars.list",
            message: format!("no last page after {MAX_PAGES} pages"),
        })
    }
}
