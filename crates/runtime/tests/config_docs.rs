//! The README's Configuration table is the operators' reference: it must name every key
//! `Settings` has, each once, with the committed default, and the README must never
//! mention a `CALSYNC__…` variable that does not exist.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use calsync_runtime::settings::DEFAULTS;
use calsync_runtime::Settings;
use std::collections::BTreeMap;

const README: &str = include_str!("../../../README.md");

/// The README's name for the pattern itself, not a key.
const PATTERN: &str = "CALSYNC__SECTION__KEY";

/// `CALSYNC__…` variable → its default as an environment value (lists comma separated).
fn defaults() -> BTreeMap<String, String> {
    let table = config::Config::builder()
        .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
        .build()
        .expect("defaults parse")
        .try_deserialize::<config::Map<String, config::Value>>()
        .expect("defaults are a table");
    let mut out = BTreeMap::new();
    for (section, value) in table {
        for (key, value) in value.into_table().expect("a section") {
            let shown = match value.clone().into_array() {
                Ok(items) => items
                    .into_iter()
                    .map(|v| v.into_string().expect("a list of strings"))
                    .collect::<Vec<_>>()
                    .join(","),
                Err(_) => value.into_string().expect("a scalar"),
            };
            out.insert(Settings::env_var(&format!("{section}.{key}")), shown);
        }
    }
    out
}

/// Rows of the table under `## Configuration`: (key, default cell).
fn table_rows(readme: &str) -> Vec<(String, String)> {
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("README has a Configuration section");
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter(|l| l.starts_with("| `CALSYNC__"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            assert!(cells.len() >= 3, "row needs key | default | meaning: {l}");
            (cells[0].trim_matches('`').to_owned(), cells[1].to_owned())
        })
        .collect()
}

/// Every `CALSYNC__…` word anywhere in `text` (the bare prefix names the family).
fn mentioned(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("CALSYNC__") && *w != "CALSYNC__" && *w != PATTERN)
        .map(str::to_owned)
        .collect()
}

/// Holds `readme` to `defaults`; returns every disagreement.
fn problems(readme: &str, defaults: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let rows = table_rows(readme);
    let mut documented = BTreeMap::new();
    for (key, default_cell) in &rows {
        if documented
            .insert(key.clone(), default_cell.clone())
            .is_some()
        {
            problems.push(format!("{key} has two rows"));
        }
        let Some(default) = defaults.get(key) else {
            continue; // reported below, with every other mention
        };
        // A value in backticks must be the default; a cell without one (e.g. "none,
        // required") stands for an empty default.
        match default_cell.split('`').nth(1) {
            Some(shown) if shown != default => problems.push(format!(
                "{key}: README says the default is `{shown}`, the code has `{default}`"
            )),
            None if !default.is_empty() => problems.push(format!(
                "{key}: README gives no default, the code has `{default}`"
            )),
            _ => {}
        }
    }
    for word in mentioned(readme) {
        if !defaults.contains_key(&word) {
            problems.push(format!("README names {word}, which is not a setting"));
        }
    }
    for key in defaults.keys() {
        if !documented.contains_key(key) {
            problems.push(format!(
                "{key} is a setting the README's Configuration table lacks"
            ));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

#[test]
fn the_defaults_file_names_exactly_the_settings_fields() {
    Settings::defaults().expect("every field has a default and no default is unknown");
    let keys = Settings::keys().expect("keys");
    assert_eq!(
        keys.iter()
            .map(|k| Settings::env_var(k))
            .collect::<Vec<_>>(),
        defaults().into_keys().collect::<Vec<_>>()
    );
    assert!(keys.contains(&"security.previous_webhook_secrets".to_owned()));
}

#[test]
fn the_readme_documents_every_setting_with_its_default_and_nothing_else() {
    let problems = problems(README, &defaults());
    assert!(problems.is_empty(), "README.md:\n{}", problems.join("\n"));
}

#[test]
fn an_undocumented_setting_is_caught() {
    let mut defaults = defaults();
    defaults.insert("CALSYNC__API__NEW_KNOB".into(), "7".into());
    assert_eq!(
        problems(README, &defaults),
        ["CALSYNC__API__NEW_KNOB is a setting the README's Configuration table lacks"]
    );
}

#[test]
fn a_documented_key_that_is_no_setting_is_caught() {
    let readme = README.replace(
        "\n| `CALSYNC__DATABASE__URL` |",
        "\n| `CALSYNC__API__NOT_A_SETTING` | none | not a setting |\n| `CALSYNC__DATABASE__URL` |",
    );
    assert_ne!(readme, README, "the table starts with the database URL");
    assert_eq!(
        problems(&readme, &defaults()),
        ["README names CALSYNC__API__NOT_A_SETTING, which is not a setting"]
    );
}

#[test]
fn a_wrong_default_is_caught() {
    let mut defaults = defaults();
    defaults.insert("CALSYNC__AMQP__PREFIX".into(), "other".into());
    assert_eq!(
        problems(README, &defaults),
        ["CALSYNC__AMQP__PREFIX: README says the default is `calsync`, the code has `other`"]
    );
}
