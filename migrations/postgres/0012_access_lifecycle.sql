-- Access lifecycle: a superadmin disables a user (their tokens stop working on every replica,
-- and tokens issued before a disable or a password reset stay dead after it is lifted), and
-- an operator retires a signing key (tokens it signed stop verifying).
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT;
ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT;
-- A service token may be given an expiry; after it the token is refused.
ALTER TABLE service_tokens ADD COLUMN expires_at BIGINT;
