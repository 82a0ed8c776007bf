//! Integration tests of the api service.
