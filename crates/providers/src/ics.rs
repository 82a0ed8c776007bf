//! ICS feed fetching: `webcal://` and http(s) URLs supplied by users, fetched with
//! conditional GET behind an SSRF guard (see `guard`). Parsing and expansion live in
//! `calsync-ical`.

mod fetch;
pub mod guard;
#[cfg(test)]
mod tests;

pub use fetch::{FetchConfig, FetchOutcome, IcsFetchError, IcsFetcher, Validators};
pub use guard::{refusal_reason, AllowList};
