-- Exit rules per position: stop-loss, target, trailing stop.
CREATE TABLE exit_rules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account         TEXT    NOT NULL,
    exchange        TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    product         TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('stop_loss', 'target', 'trailing')),
    direction       INTEGER NOT NULL CHECK (direction IN (-1, 1)),
    trigger_price   TEXT    NOT NULL,
    quantity        INTEGER NOT NULL CHECK (quantity >= 0),
    state           TEXT    NOT NULL CHECK (state IN ('ARMED', 'TRIGGERED', 'DONE')),
    trail_value     TEXT,
    trail_percent   INTEGER NOT NULL DEFAULT 0,
    anchor          TEXT,
    band_pct        TEXT    NOT NULL DEFAULT '0',
    dwell_s         REAL    NOT NULL DEFAULT 0,
    entry_order_id  TEXT REFERENCES orders (client_order_id),
    exit_order_id   TEXT REFERENCES orders (client_order_id),
    message         TEXT    NOT NULL DEFAULT '',
    rejections      INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    version         INTEGER NOT NULL DEFAULT 0
);
-- At most one live rule of each kind per position.
CREATE UNIQUE INDEX exit_rules_one_live ON exit_rules (account, exchange, symbol, product, kind)
    WHERE state != 'DONE';
CREATE INDEX exit_rules_by_exit_order ON exit_rules (exit_order_id)
    WHERE exit_order_id IS NOT NULL;
