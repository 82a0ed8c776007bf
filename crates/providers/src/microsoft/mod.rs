//! Microsoft Graph client: being written.
