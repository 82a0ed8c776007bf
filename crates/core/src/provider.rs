//! The calendar providers calsync connects to.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The id calsync stores for an account's main calendar: Google takes `primary` in its
/// paths, and Graph's `/me/calendar…` paths name the default calendar; so one alias
/// serves both, whatever the calendar's real id is.
pub const PRIMARY_CALENDAR: &str = "primary";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Google,
    Microsoft,
    Ics,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Google, Provider::Microsoft, Provider::Ics];

    /// The stable spelling used in the database, the API and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Ics => "ics",
        }
    }

    /// Whether the provider pushes changes (and so has a webhook to keep alive).
    pub fn has_webhooks(self) -> bool {
        !matches!(self, Provider::Ics)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown provider {0:?} (expected google, microsoft or ics)")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "google" => Ok(Provider::Google),
            "microsoft" => Ok(Provider::Microsoft),
            "ics" => Ok(Provider::Ics),
            other => Err(UnknownProvider(other.to_owned())),
        }
    }
}

/// Rows store the provider as text; reading one back goes through here.
impl TryFrom<String> for Provider {
    type Error = UnknownProvider;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_round_trips_through_its_name() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>().ok(), Some(p));
        }
        assert!("outlook".parse::<Provider>().is_err());
    }
}
