//! One nested `Settings`, layered: built-in defaults (`config/default.toml`), then an
//! optional file, then `CALSYNC__SECTION__KEY` environment variables. Unknown keys are
//! refused so that a typo fails at start instead of being silently ignored.

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::Path;

/// The committed defaults. Every `Settings` field is required and unknown keys are refused,
/// so `defaults()` deserializing proves this file names exactly the keys there are:
/// `keys()` lists them, and `tests/config_docs.rs` holds the README's table to that list.
pub const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub api: ApiSettings,
    pub ingest: IngestSettings,
    pub worker: WorkerSettings,
    pub security: SecuritySettings,
    pub google: GoogleApp,
    pub microsoft: MicrosoftApp,
    pub availability: AvailabilitySettings,
    pub ics: IcsSettings,
    pub writeback: WritebackSettings,
    pub log: LogSettings,
    pub otel: OtelSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSettings {
    pub url: String,
    pub prefix: String,
    pub prefetch: u16,
    /// Notices the sync-worker takes from the queue at once and coalesces per connection.
    pub batch_size: usize,
    /// How long the first notice of a batch waits for more (milliseconds).
    pub batch_linger_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub bind: String,
    pub public_url: String,
    pub operator_token: SecretString,
    pub jwt_secret: SecretString,
    pub max_body_bytes: usize,
    /// Bearer token of the marketplace for booking and cancelling; empty: both answer 401.
    pub marketplace_token: SecretString,
    /// Browser origins allowed by CORS on the public and portal endpoints; empty: none.
    pub cors_origins: Vec<String>,
    /// Requests per minute one client address may make to the public endpoints; 0: no limit.
    pub rate_limit_per_minute: u32,
    /// How many of those may come at once.
    pub rate_limit_burst: u32,
    /// Proxies (addresses or CIDRs) whose `X-Forwarded-For` names the client address.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    pub bind: String,
    pub public_url: String,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub bind: String,
    pub poll_interval_secs: u64,
    /// Life of a connection lease without a heartbeat; the holder renews it every third.
    pub lease_secs: u64,
    pub scheduler_tick_ms: u64,
    pub window_past_days: i64,
    pub window_future_days: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// base64 of 32 bytes; tokens at rest are encrypted with it.
    pub encryption_key: SecretString,
    /// Older keys still accepted for decryption while tokens are re-encrypted.
    pub previous_encryption_keys: Vec<SecretString>,
    pub webhook_secret: SecretString,
    pub previous_webhook_secrets: Vec<SecretString>,
}

/// The Google OAuth app and its endpoints (whole URLs: a faithful fake can stand in).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub api_base: String,
    pub auth_url: String,
    pub token_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicrosoftApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub graph_base: String,
    pub auth_url: String,
    pub token_url: String,
    /// Longest Graph subscription asked for, in minutes (Graph's documented maximum for
    /// Outlook events is 4230; a longer request is refused, not shortened).
    pub subscription_max_minutes: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StalePolicy {
    /// Offer slots but say they are unverified (`calendarsFresh: false`).
    Flag,
    /// Offer no slots for a specialist whose calendars cannot be vouched for.
    Block,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilitySettings {
    pub stale_policy: StalePolicy,
    pub stale_after_minutes: i64,
    pub step_minutes: i64,
    pub buffer_before_minutes: i64,
    pub buffer_after_minutes: i64,
    pub min_notice_minutes: i64,
    pub tentative_blocks: bool,
    /// Specialists whose availability inputs the api keeps in memory (kept true by
    /// LISTEN/NOTIFY); 0: none, every request reads the database.
    pub cache_specialists: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcsSettings {
    /// Hosts or CIDRs the fetcher may reach although they are private.
    pub allow_hosts: Vec<String>,
    pub poll_interval_secs: u64,
    pub max_bytes: u64,
    pub timeout_secs: u64,
}

/// Write-back of bookings into the agents' calendars.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritebackSettings {
    /// Title of the event written for a booking; `{placeholders}` as in the defaults file.
    pub title_template: String,
    pub description_template: String,
    /// How often sync-worker looks for due writes.
    pub poll_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// OpenTelemetry trace export.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtelSettings {
    /// OTLP/HTTP base URL of a collector (`http://collector:4318`); traces go to
    /// `{endpoint}/v1/traces`. Empty: no export.
    pub endpoint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults, then `file` (or `CALSYNC_CONFIG`), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let env_file = std::env::var_os("CALSYNC_CONFIG").map(std::path::PathBuf::from);
        let mut b = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file.map(Path::to_path_buf).or(env_file) {
            b = b.add_source(File::from(path).required(true));
        }
        b = b.add_source(
            Environment::with_prefix("CALSYNC")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("ics.allow_hosts")
                .with_list_parse_key("api.cors_origins")
                .with_list_parse_key("api.trusted_proxies")
                .with_list_parse_key("security.previous_encryption_keys")
                .with_list_parse_key("security.previous_webhook_secrets")
                .try_parsing(true),
        );
        let mut settings: Settings = b.build()?.try_deserialize()?;
        settings.tidy_lists();
        Ok(settings)
    }

    /// An empty list variable (`CALSYNC__SECURITY__PREVIOUS_WEBHOOK_SECRETS=`, as a
    /// Secret or compose file with every key present has) parses as one empty entry.
    /// An empty previous webhook secret would verify tokens signed with the empty key,
    /// and an empty previous encryption key would refuse to start: an empty entry means
    /// none. Entries are trimmed, so `a, b` lists what it looks like it lists.
    fn tidy_lists(&mut self) {
        fn tidy(list: &mut Vec<SecretString>) {
            *list = list
                .iter()
                .map(|s| s.expose_secret().trim())
                .filter(|s| !s.is_empty())
                .map(SecretString::from)
                .collect();
        }
        tidy(&mut self.security.previous_encryption_keys);
        tidy(&mut self.security.previous_webhook_secrets);
        let hosts = &mut self.ics.allow_hosts;
        *hosts = hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
    }

    /// Every key as `section.key`, sorted.
    pub fn keys() -> Result<Vec<String>, SettingsError> {
        let table = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()?
            .try_deserialize::<config::Map<String, config::Value>>()?;
        let mut keys = Vec::new();
        for (section, value) in table {
            for key in value.into_table()?.into_keys() {
                keys.push(format!("{section}.{key}"));
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// The environment variable that sets `key` (`section.key`): `CALSYNC__SECTION__KEY`.
    pub fn env_var(key: &str) -> String {
        format!("CALSYNC__{}", key.to_ascii_uppercase().replace('.', "__"))
    }

    /// What a service binary does first: `--config FILE` from the arguments (else
    /// `CALSYNC_CONFIG`), load, start tracing, and refuse to start without secrets.
    pub fn for_service(service: &str) -> anyhow::Result<Self> {
        let config = std::env::args().skip_while(|a| a != "--config").nth(1);
        let settings = Self::load(config.as_deref().map(Path::new))?;
        crate::telemetry::init(&settings.log, &settings.otel, service);
        settings.validate()?;
        Ok(settings)
    }

    /// The built-in defaults alone (tests start from these and adjust).
    pub fn defaults() -> Result<Self, SettingsError> {
        Ok(Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()?
            .try_deserialize()?)
    }

    /// Checks what a service needs before it starts; each missing secret is named.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut missing = Vec::new();
        let secrets = [
            ("api.operator_token", &self.api.operator_token),
            ("api.jwt_secret", &self.api.jwt_secret),
            ("security.encryption_key", &self.security.encryption_key),
            ("security.webhook_secret", &self.security.webhook_secret),
        ];
        for (name, s) in secrets {
            if s.expose_secret().is_empty() {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(SettingsError::Invalid(format!(
                "missing secrets: {} (set CALSYNC__SECTION__KEY variables)",
                missing.join(", ")
            )));
        }
        if self.availability.step_minutes <= 0 {
            return Err(SettingsError::Invalid(
                "availability.step_minutes must be positive".into(),
            ));
        }
        Ok(())
    }

    pub fn google_configured(&self) -> bool {
        !self.google.client_id.is_empty()
    }

    pub fn microsoft_configured(&self) -> bool {
        !self.microsoft.client_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_defaults_deserialize_and_name_the_documented_urls() {
        let s = Settings::defaults().map_err(|e| e.to_string());
        let s = match s {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(s.database.url, "postgres://postgres@127.0.0.1:5432/calsync");
        assert_eq!(s.amqp.prefix, "calsync");
        assert_eq!(s.api.bind, "127.0.0.1:8080");
        assert_eq!(s.ingest.bind, "127.0.0.1:8081");
        assert_eq!(s.worker.bind, "127.0.0.1:8082");
        assert_eq!(s.availability.stale_policy, StalePolicy::Flag);
        assert!(s.validate().is_err(), "secrets are not defaulted");
    }
}
