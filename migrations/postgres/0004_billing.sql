-- Billing provider events, the durable job queue, and invoices.

CREATE TABLE billing_webhook_events (
    id TEXT PRIMARY KEY,
    provider_event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    tenant_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'processed', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    processed_at BIGINT
);
CREATE INDEX billing_webhook_events_status ON billing_webhook_events (status, created_at);

-- Jobs, written in the same transaction as what they act on (the outbox pattern). A worker
-- claims a job by setting a lease; a worker that dies leaves a lease that runs out.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'done', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX outbox_ready ON outbox (queue, status, next_attempt_at);
CREATE INDEX outbox_ref ON outbox (ref_id);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    subscription_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'past_due')),
    amount_cents BIGINT NOT NULL,
    due_at BIGINT,
    paid_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX invoices_status ON invoices (status);

ALTER TABLE subscriptions ADD COLUMN provider_subscription_id TEXT;
