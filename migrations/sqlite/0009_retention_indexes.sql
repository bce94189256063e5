-- Retention prunes the oldest rows a batch at a time: these serve its range scans.
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);
CREATE INDEX outbox_finished ON outbox (status, updated_at);
