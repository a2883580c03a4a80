-- Each account's P&L over time, for /pnl and the daily loss limit: one row per account,
-- snapshot time and currency (realised and unrealised summed over the account's positions in
-- that currency). An account that held nothing is recorded with currency '' and zeros, so that
-- "flat" and "not recorded" stay different. ``day`` is the trading day (in the configured time
-- zone) the snapshot belongs to, so old days can be thinned out in SQL.
CREATE TABLE pnl_snapshots (
    account    TEXT NOT NULL,
    taken_at   TEXT NOT NULL,
    day        TEXT NOT NULL,
    currency   TEXT NOT NULL,
    realised   TEXT NOT NULL,
    unrealised TEXT NOT NULL,
    PRIMARY KEY (account, taken_at, currency)
);
CREATE INDEX pnl_snapshots_by_day ON pnl_snapshots (account, day, taken_at);
