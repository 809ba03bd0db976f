-- Native sign-in (issue #13): what the identity tables of 002 lack for it. TOTP on users (the
-- secret sealed by the caller with crypto::keyring, the last accepted step as a replay guard),
-- refresh-token families (rotation with reuse detection), recovery codes and security events.
-- users.email_verification_token, password_reset_tokens.token and refresh_tokens.token hold the
-- SHA-256 hex of the token: the database never sees a raw token.

ALTER TABLE users
    ADD COLUMN totp_secret     TEXT,                  -- sealed; pending until totp_enabled_at is set
    ADD COLUMN totp_enabled_at TIMESTAMP,
    ADD COLUMN totp_last_step  BIGINT;                -- the last accepted 30 s step: a code is good once

-- A family is one sign-in and every token rotated from it; a revoked token presented again
-- (reuse) revokes its family. Rows older than this migration are each a family of their own.
-- parent_id/replaced_by are lineage only, without foreign keys: the periodic clean-up deletes
-- old generations while their successors live.
ALTER TABLE refresh_tokens
    ADD COLUMN family_id   UUID,
    ADD COLUMN parent_id   UUID,
    ADD COLUMN replaced_by UUID;
UPDATE refresh_tokens SET family_id = id WHERE family_id IS NULL;
ALTER TABLE refresh_tokens ALTER COLUMN family_id SET NOT NULL;
CREATE INDEX idx_refresh_family ON refresh_tokens(family_id);

-- A DEFAULT cannot name another column: an insert that gives no family starts its own.
CREATE FUNCTION refresh_tokens_default_family() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.family_id := COALESCE(NEW.family_id, NEW.id);
    RETURN NEW;
END;
$$;
CREATE TRIGGER refresh_tokens_default_family BEFORE INSERT ON refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION refresh_tokens_default_family();

-- Single-use TOTP recovery codes, stored hashed; replaced whole when TOTP is enabled again.
CREATE TABLE user_recovery_codes (
    id         UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id    UUID NOT NULL,
    code_hash  TEXT NOT NULL,
    used_at    TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT user_recovery_codes_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX idx_user_recovery_codes_user ON user_recovery_codes(user_id, code_hash);

-- What happened to an account (sign-ins, password and TOTP changes, token reuse), kept after the
-- user is gone.
CREATE TABLE security_events (
    id         UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id    UUID,
    kind       VARCHAR(50) NOT NULL,
    ip_address VARCHAR(45),
    user_agent TEXT,
    detail     JSONB DEFAULT '{}'::jsonb,
    created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT security_events_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX idx_security_events_user ON security_events(user_id, created_at DESC);
CREATE INDEX idx_security_events_created ON security_events(created_at);  -- retention purge
