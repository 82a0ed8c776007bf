//! The title and description of a booking's event, from the configured templates
//! (`writeback.title_template`, `writeback.description_template`). Templates are parsed
//! once at start: an unknown `{placeholder}` refuses to start rather than showing up
//! verbatim in agents' calendars.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// Shown for `{customer_name}` when the marketplace sent no name.
const NO_NAME: &str = "Marketplace customer";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}} in a write-back template")]
    Unknown(String),
    #[error("unclosed '{{' in a write-back template")]
    Unclosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    CustomerName,
    CustomerEmail,
    CustomerPhone,
    AppointmentId,
    Start,
    End,
}

impl Field {
    fn parse(name: &str) -> Option<Self> {
        Some(match name.trim() {
            "customer_name" => Self::CustomerName,
            "customer_email" => Self::CustomerEmail,
            "customer_phone" => Self::CustomerPhone,
            "appointment_id" => Self::AppointmentId,
            "start" => Self::Start,
            "end" => Self::End,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

/// What a template is filled from.
#[derive(Debug, Clone)]
pub struct BookingFacts<'a> {
    pub appointment_id: Uuid,
    pub customer: &'a serde_json::Value,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Template {
    pub fn parse(raw: &str) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = raw;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or(TemplateError::Unclosed)?;
            let name = &after[..close];
            let field =
                Field::parse(name).ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
            pieces.push(Piece::Field(field));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self(pieces))
    }

    pub fn render(&self, b: &BookingFacts<'_>) -> String {
        let customer = |key: &str| {
            b.customer
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(&match f {
                    Field::CustomerName => customer("name").unwrap_or_else(|| NO_NAME.to_owned()),
                    Field::CustomerEmail => customer("email").unwrap_or_default(),
                    Field::CustomerPhone => customer("phone").unwrap_or_default(),
                    Field::AppointmentId => b.appointment_id.to_string(),
                    Field::Start => b.start.to_rfc3339_opts(SecondsFormat::Secs, true),
                    Field::End => b.end.to_rfc3339_opts(SecondsFormat::Secs, true),
                }),
            }
        }
        out.trim().to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn facts(customer: &serde_json::Value) -> BookingFacts<'_> {
        BookingFacts {
            appointment_id: Uuid::nil(),
            customer,
            start: Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 3, 2, 11, 0, 0).unwrap(),
        }
    }

    #[test]
    fn the_default_title_names_the_customer_or_says_who_booked() {
        let t = Template::parse("Booking: {customer_name}").unwrap();
        let ada = serde_json::json!({"name": " Ada "});
        assert_eq!(t.render(&facts(&ada)), "Booking: Ada");
        let nobody = serde_json::json!({"name": 5});
        assert_eq!(t.render(&facts(&nobody)), "Booking: Marketplace customer");
    }

    #[test]
    fn every_placeholder_is_filled_and_unknown_ones_refuse_to_start() {
        let t = Template::parse("{customer_email} {start}–{end} #{appointment_id}").unwrap();
        let c = serde_json::json!({"email": "a@b.c"});
        assert_eq!(
            t.render(&facts(&c)),
            "a@b.c 2026-03-02T10:00:00Z–2026-03-02T11:00:00Z #00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            Template::parse("Hi {name}"),
            Err(TemplateError::Unknown("name".into()))
        );
        assert_eq!(
            Template::parse("Hi {customer_name"),
            Err(TemplateError::Unclosed)
        );
    }
}
