-- Access lifecycle: a superadmin disables a user (their tokens stop working on every replica),
-- and an operator retires a signing key (tokens it signed stop verifying).
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT;
