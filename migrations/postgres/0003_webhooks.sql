-- Webhook deliveries already accepted, per provider: a delivery id seen twice is a replay.
CREATE TABLE webhook_deliveries (
    source TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
