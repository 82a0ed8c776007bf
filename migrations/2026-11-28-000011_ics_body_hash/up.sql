-- Content hash of the last ICS body expanded: feeds whose servers ignore conditional GET
-- cost no parse, expansion or write when the body has not changed.
ALTER TABLE calendar_connections ADD COLUMN ics_body_sha256 text;
