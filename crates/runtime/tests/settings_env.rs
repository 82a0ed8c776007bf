//! Loading from the environment as a Kubernetes Secret or a compose file provides it:
//! every key present, the unused ones empty. (Its own test binary: it sets variables.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use calsync_runtime::Settings;
use secrecy::ExposeSecret;

#[test]
fn empty_list_variables_mean_empty_lists_and_lists_split_on_commas() {
    std::env::set_var("CALSYNC__SECURITY__PREVIOUS_WEBHOOK_SECRETS", "");
    std::env::set_var("CALSYNC__SECURITY__PREVIOUS_ENCRYPTION_KEYS", "");
    std::env::set_var("CALSYNC__ICS__ALLOW_HOSTS", "feeds.internal, 10.0.0.0/8");
    std::env::set_var("CALSYNC__DATABASE__POOL_SIZE", "10");
    let s = Settings::load(None).expect("settings load");
    // An empty previous webhook secret would accept tokens signed with the empty key.
    assert!(s.security.previous_webhook_secrets.is_empty());
    assert!(s.security.previous_encryption_keys.is_empty());
    assert_eq!(s.ics.allow_hosts, ["feeds.internal", "10.0.0.0/8"]);
    assert_eq!(s.database.pool_size, 10);

    std::env::set_var(
        "CALSYNC__SECURITY__PREVIOUS_WEBHOOK_SECRETS",
        "old-one, old-two",
    );
    let s = Settings::load(None).expect("settings load");
    let previous: Vec<&str> = s
        .security
        .previous_webhook_secrets
        .iter()
        .map(|s| s.expose_secret())
        .collect();
    assert_eq!(previous, ["old-one", "old-two"]);
}
