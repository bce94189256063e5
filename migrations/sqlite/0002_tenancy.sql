-- Plans and what they entitle, registrations and their approval, subscriptions, feature
-- flags (plan and override rows, like tenant_modules), module presets and service tokens.
CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    price_cents BIGINT NOT NULL,
    entitlements TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

INSERT INTO plans (id, name, price_cents, entitlements, created_at) VALUES
  ('6a1f7c0e-3b1d-4c55-9a43-0c7e2f0b9d11', 'Core', 4900,
   '{"modules":["pos"],"featureFlags":[],"limits":{"memoryMb":32,"deadlineMs":500,"fuel":20000000000,"callsPerMinute":600}}', 1),
  ('1ef168c5-66e9-4d11-8f51-32301dbce0d4', 'Pro', 14900,
   '{"modules":["pos","billing","support"],"featureFlags":["pos.reports","support.priority"],"limits":{"memoryMb":64,"deadlineMs":1000,"fuel":50000000000,"callsPerMinute":3000}}', 2),
  ('b7e2d5a4-8c9f-4e3a-a1b6-5d4c3b2a1f00', 'Enterprise', 49900,
   '{"modules":["pos","billing","support"],"featureFlags":["pos.reports","support.priority","support.dedicated_manager"],"limits":{"memoryMb":128,"deadlineMs":2000,"fuel":100000000000,"callsPerMinute":12000}}', 3);

CREATE TABLE registrations (
    id TEXT PRIMARY KEY,
    restaurant_name TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    plan_id TEXT NOT NULL REFERENCES plans(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason TEXT,
    tenant_id TEXT,
    subscription_id TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX registrations_status ON registrations (status, created_at);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    plan_id TEXT NOT NULL REFERENCES plans(id),
    status TEXT NOT NULL CHECK (status IN ('active', 'past_due', 'canceled')),
    billing_cycle TEXT NOT NULL DEFAULT 'monthly',
    cancel_at_period_end BIGINT NOT NULL DEFAULT 0,
    current_period_end BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id, status);

CREATE TABLE tenant_feature_flags (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    flag TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('plan', 'override')),
    enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    updated_by TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, flag, source)
);

CREATE TABLE module_presets (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    modules TEXT NOT NULL,
    feature_flags TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT INTO module_presets (name, description, modules, feature_flags, created_at, updated_at) VALUES
  ('plan-default', 'No overrides: the plan decides', '{}', '{}', 1, 1),
  ('pos-only', 'Point of sale only', '{"pos":true,"billing":false,"support":false}', '{}', 1, 1);

CREATE TABLE service_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);

-- A tenant pinned to one version of a module (a canary) instead of the active one.
CREATE TABLE tenant_module_pins (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    module TEXT NOT NULL,
    version_id TEXT NOT NULL REFERENCES module_versions(id),
    pinned_by TEXT,
    pinned_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, module)
);

-- Token signing keys, shared by every replica. The newest signs; all verify until retired.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Host capabilities a superadmin granted to a module (deny by default).
CREATE TABLE module_grants (
    module TEXT NOT NULL,
    capability TEXT NOT NULL,
    granted_by TEXT,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (module, capability)
);
