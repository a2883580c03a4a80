-- The kill switch: accounts halted for new entries. account '*' halts every account.
CREATE TABLE halts (
    account   TEXT PRIMARY KEY,
    reason    TEXT    NOT NULL,
    user_id   INTEGER,
    halted_at TEXT    NOT NULL
);

-- Broker secrets set with `pocketdesk secrets set`, sealed with the desk's key.
CREATE TABLE secrets (
    account    TEXT NOT NULL,
    name       TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account, name)
);

CREATE INDEX audit_log_at ON audit_log (at);
