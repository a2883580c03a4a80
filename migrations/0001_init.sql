-- Orders as pocketdesk knows them. The broker is the source of truth; this is our record of
-- intent (written before any broker call) and of every state the broker reported.
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY,
    account         TEXT    NOT NULL,
    exchange        TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    order_type      TEXT    NOT NULL,
    price           TEXT,
    trigger_price   TEXT,
    product         TEXT    NOT NULL,
    validity        TEXT    NOT NULL,
    exits           TEXT    NOT NULL DEFAULT '{}',
    purpose         TEXT    NOT NULL DEFAULT 'entry',
    status          TEXT    NOT NULL,
    broker_order_id TEXT,
    filled_quantity INTEGER NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0),
    average_price   TEXT,
    message         TEXT    NOT NULL DEFAULT '',
    sync_misses     INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    version         INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX orders_by_broker_id ON orders (account, broker_order_id)
    WHERE broker_order_id IS NOT NULL;
CREATE INDEX orders_by_status ON orders (status);
CREATE INDEX orders_by_created ON orders (created_at);

-- Every status change, for the order's history and for audits.
CREATE TABLE order_transitions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
    event           TEXT NOT NULL,
    from_status     TEXT NOT NULL,
    to_status       TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    at              TEXT NOT NULL
);
CREATE INDEX order_transitions_by_order ON order_transitions (client_order_id);

-- Executions the broker reported; the key makes a replayed fill a no-op.
CREATE TABLE fills (
    account         TEXT    NOT NULL,
    fill_id         TEXT    NOT NULL,
    broker_order_id TEXT    NOT NULL,
    client_order_id TEXT REFERENCES orders (client_order_id),
    exchange        TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    price           TEXT    NOT NULL,
    at              TEXT    NOT NULL,
    PRIMARY KEY (account, fill_id)
);

-- Pending confirmations (order tickets). Single use: a row leaves PENDING exactly once.
CREATE TABLE confirmations (
    id          TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL,
    chat_id     INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'PENDING'
                CHECK (state IN ('PENDING', 'USED', 'CANCELLED', 'EXPIRED')),
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    decided_at  TEXT
);
CREATE INDEX confirmations_by_state ON confirmations (state, expires_at);

-- Domain events for people, written in the same transaction as the change that caused them.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    account      TEXT NOT NULL DEFAULT '',
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    delivered_at TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL;

-- Who did what, and who was refused.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT    NOT NULL,
    user_id INTEGER,
    action  TEXT    NOT NULL,
    detail  TEXT    NOT NULL DEFAULT ''
);
