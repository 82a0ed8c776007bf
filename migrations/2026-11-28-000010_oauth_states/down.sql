DROP TABLE oauth_states_used;
