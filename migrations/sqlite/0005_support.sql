-- Announcements, maintenance mode and mail.

CREATE TABLE announcements (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    -- 1 when it goes to every tenant; else to the tenants in announcement_targets.
    all_tenants BIGINT NOT NULL,
    window_start BIGINT,
    window_end BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE announcement_targets (
    announcement_id TEXT NOT NULL REFERENCES announcements(id),
    tenant_id TEXT NOT NULL,
    PRIMARY KEY (announcement_id, tenant_id)
);

-- Platform-wide flags (not per tenant), such as support.maintenance_mode.
CREATE TABLE platform_flags (
    name TEXT PRIMARY KEY,
    enabled BIGINT NOT NULL,
    message TEXT,
    updated_by TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE maintenance_periods (
    id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    started_by TEXT NOT NULL,
    ended_at BIGINT,
    ended_by TEXT,
    message TEXT NOT NULL,
    window_start BIGINT,
    window_end BIGINT,
    refused_writes BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    -- queued: waiting for a worker; sent: handed to SMTP; stored: no SMTP configured, kept
    -- here to be read; failed: gave up.
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'stored', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX mail_outbox_created ON mail_outbox (created_at);
