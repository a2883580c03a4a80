-- Where a front-end showed each ticket, so later news of its order edits that message.
CREATE TABLE ticket_messages (
    ticket_id       TEXT    PRIMARY KEY,
    chat_id         INTEGER NOT NULL,
    message_id      INTEGER NOT NULL,
    client_order_id TEXT REFERENCES orders (client_order_id)
);
CREATE INDEX ticket_messages_by_order ON ticket_messages (client_order_id)
    WHERE client_order_id IS NOT NULL;

-- Which chat has been given which alert: delivery to several chats can fail part-way, and
-- a retry must give each chat only what it has not had.
CREATE TABLE alert_deliveries (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id),
    chat_id   INTEGER NOT NULL,
    at        TEXT    NOT NULL,
    PRIMARY KEY (outbox_id, chat_id)
);
