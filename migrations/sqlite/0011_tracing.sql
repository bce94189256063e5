-- Traces (OpenTelemetry): each invocation record names the trace its call belongs to, and the
-- share of traces kept is a platform setting a superadmin changes at runtime.
ALTER TABLE invocations ADD COLUMN trace_id TEXT;

CREATE TABLE platform_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_by TEXT,
    updated_at BIGINT NOT NULL
);
