-- Core tables: tenants, people, modules, toggles, audit, invocations and module storage.
-- Times are unix milliseconds; ids are UUID text. PostgreSQL has the same shape.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants(id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('superadmin', 'admin', 'staff')),
    created_at BIGINT NOT NULL,
    last_login_at BIGINT
);

CREATE TABLE modules (
    name TEXT PRIMARY KEY,
    active_version_id TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE module_versions (
    id TEXT PRIMARY KEY,
    module TEXT NOT NULL REFERENCES modules(name),
    version BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    component BLOB NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (module, version)
);

CREATE TABLE tenant_modules (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    module TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('plan', 'override')),
    enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    updated_by TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, module, source)
);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT,
    module TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT,
    payload TEXT NOT NULL,
    request_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_events_module_action ON audit_events (module, action, created_at);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, created_at);

CREATE TABLE invocations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    module TEXT NOT NULL,
    version TEXT,
    actor TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    duration_us BIGINT NOT NULL,
    fuel BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX invocations_tenant ON invocations (tenant_id, created_at);
CREATE INDEX invocations_module ON invocations (module, created_at);
CREATE INDEX invocations_request ON invocations (request_id);

CREATE TABLE module_kv (
    tenant_id TEXT NOT NULL,
    module TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, module, key)
);
