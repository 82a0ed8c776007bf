DROP TABLE external_events;
DROP TABLE calendar_connections;
DROP TABLE appointments;
DROP TABLE availability_rules;
DROP TABLE specialists;
