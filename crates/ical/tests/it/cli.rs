//! `calsync ics busy` exit codes.

use calsync_ical::cli::run_busy_cli;
use std::path::{Path, PathBuf};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn a_valid_feed_and_window_exit_0() {
    let code = run_busy_cli(
        &fixture_path("google.ics"),
        "2024-03-01T00:00:00Z",
        "2024-04-01T00:00:00Z",
        Some("Europe/Berlin"),
    );
    assert_eq!(code, 0);
}

#[test]
fn bad_arguments_and_malformed_input_exit_2() {
    let google = fixture_path("google.ics");
    assert_eq!(
        run_busy_cli(&google, "yesterday", "2024-04-01T00:00:00Z", None),
        2
    );
    assert_eq!(
        run_busy_cli(
            &google,
            "2024-04-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
            None
        ),
        2
    );
    assert_eq!(
        run_busy_cli(&google, "2024-03-01", "2024-04-01", Some("Mars/Base")),
        2
    );
    assert_eq!(
        run_busy_cli(
            &fixture_path("missing.ics"),
            "2024-03-01",
            "2024-04-01",
            None
        ),
        2
    );
    let garbage =
        std::env::temp_dir().join(format!("calsync-ical-garbage-{}.ics", std::process::id()));
    std::fs::write(&garbage, b"\xff\xfe not a calendar").unwrap();
    assert_eq!(
        run_busy_cli(&garbage, "2024-03-01", "2024-04-01", Some("UTC")),
        2
    );
    let _ = std::fs::remove_file(&garbage);
}

#[test]
fn windows_zone_names_are_accepted_for_tz() {
    let code = run_busy_cli(
        &fixture_path("outlook.ics"),
        "2024-03-01",
        "2024-04-01",
        Some("W. Europe Standard Time"),
    );
    assert_eq!(code, 0);
}
