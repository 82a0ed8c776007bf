-- OAuth states already used at a callback: a state is single-use, so a replayed
-- callback URL (browser history, a leaked link) is refused. Rows outlive the state's
-- own expiry only until the next callback sweeps them.
CREATE TABLE oauth_states_used (
    nonce text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX oauth_states_used_expires_at ON oauth_states_used (expires_at);
