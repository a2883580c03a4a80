-- Broker sessions from daily logins, the access token encrypted (core.secrets).
CREATE TABLE broker_sessions (
    account         TEXT PRIMARY KEY,
    token_encrypted TEXT NOT NULL,
    user_id         TEXT NOT NULL DEFAULT '',
    logged_in_at    TEXT NOT NULL
);
