-- Tenant exports: a worker builds one encrypted bundle of everything a tenant has, kept until
-- expires_at (7 days after it is ready) and then dropped, leaving the row as a record.
-- recipient holds the age public key, or the passphrase (sealed with NOVA_MASTER_KEY when
-- set) until the bundle is built; then it keeps only the kind.
CREATE TABLE tenant_exports (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    requested_by TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'failed', 'expired')),
    bundle BLOB,
    bytes BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    ready_at BIGINT,
    expires_at BIGINT NOT NULL,
    downloaded_at BIGINT
);
CREATE INDEX tenant_exports_due ON tenant_exports (status, expires_at);
CREATE INDEX tenant_exports_tenant ON tenant_exports (tenant_id, created_at);

-- One-time password reset links: only the token's SHA-256 is kept.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    requested_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX password_resets_user ON password_resets (user_id, created_at);
-- A mail holding a secret (a reset link): operators' views withhold its body, and it is
-- blanked once an SMTP server took it.
ALTER TABLE mail_outbox ADD COLUMN secret BIGINT NOT NULL DEFAULT 0;

-- Enterprise keeps invocation records 90 days and audit events two years.
UPDATE plans SET entitlements = json_set(entitlements, '$.retention', json('{"invocationsDays":90,"auditDays":730}'))
WHERE name = 'Enterprise';
