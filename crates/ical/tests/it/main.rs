//! Integration tests of calsync-ical: real-world-shaped feeds, RFC examples, DST, hostile input.
