-- Module 1, identity & access: users, workspaces, workspace_members, oauth_credentials,
-- password_reset_tokens, refresh_tokens, login_attempts.

CREATE TABLE users (
    id                        UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    clerk_user_id             VARCHAR(255) UNIQUE,
    email                     CITEXT NOT NULL UNIQUE,
    first_name                VARCHAR(100),
    last_name                 VARCHAR(100),
    avatar_url                TEXT,
    auth_provider             VARCHAR(20) NOT NULL DEFAULT 'local',
    password_hash             VARCHAR(255),
    password_changed_at       TIMESTAMP,
    email_verification_token  VARCHAR(255) UNIQUE,
    email_verification_expiry TIMESTAMP,
    is_active                 BOOLEAN NOT NULL DEFAULT true,
    email_verified_at         TIMESTAMP,
    deleted_at                TIMESTAMP,
    created_at                TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at                TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT users_email_valid CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'),
    CONSTRAINT users_auth_provider_check CHECK (auth_provider IN ('clerk', 'local'))
);
CREATE INDEX idx_users_clerk_id ON users(clerk_user_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_email ON users(email) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_email_verification_token ON users(email_verification_token) WHERE email_verification_token IS NOT NULL;
CREATE INDEX idx_users_auth_provider ON users(auth_provider);
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE workspaces (
    id              UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    name            VARCHAR(100) NOT NULL,
    slug            VARCHAR(50) NOT NULL UNIQUE,
    intake_email_id VARCHAR(50) NOT NULL UNIQUE,
    owner_user_id   UUID NOT NULL,
    timezone        VARCHAR(50) DEFAULT 'UTC',
    settings        JSONB DEFAULT '{}'::jsonb,
    is_active       BOOLEAN NOT NULL DEFAULT true,
    deleted_at      TIMESTAMP,
    created_at      TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at      TIMESTAMP NOT NULL DEFAULT NOW(),
    -- The spec writes `slug ~* '^[a-z0-9-]+$'`, but ~* is case-insensitive and would let
    -- 'Acme' and 'acme' coexist as distinct slugs. Strict reading of "slug must be
    -- lowercase": the case-sensitive ~.
    CONSTRAINT workspaces_slug_format CHECK (slug ~ '^[a-z0-9-]+$'),
    CONSTRAINT workspaces_owner_user_id_fkey FOREIGN KEY (owner_user_id)
        REFERENCES users(id) ON DELETE RESTRICT
);
CREATE INDEX idx_workspaces_owner ON workspaces(owner_user_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_workspaces_slug ON workspaces(slug) WHERE deleted_at IS NULL;
CREATE INDEX idx_workspaces_intake_email ON workspaces(intake_email_id);
CREATE TRIGGER workspaces_set_updated_at BEFORE UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE workspace_members (
    id                 UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id       UUID NOT NULL,
    user_id            UUID NOT NULL,
    role               VARCHAR(20) NOT NULL DEFAULT 'member',
    permissions        JSONB DEFAULT '{}'::jsonb,
    invited_by_user_id UUID,
    invited_at         TIMESTAMP,
    joined_at          TIMESTAMP,
    is_active          BOOLEAN NOT NULL DEFAULT true,
    deleted_at         TIMESTAMP,
    created_at         TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at         TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT workspace_members_unique_user_workspace UNIQUE (workspace_id, user_id),
    CONSTRAINT workspace_members_valid_role CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    CONSTRAINT workspace_members_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE,
    CONSTRAINT workspace_members_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users(id) ON DELETE CASCADE,
    -- Not in the spec's constraint list: removing the inviter must not remove the membership.
    CONSTRAINT workspace_members_invited_by_user_id_fkey FOREIGN KEY (invited_by_user_id)
        REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX idx_workspace_members_workspace ON workspace_members(workspace_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_workspace_members_user ON workspace_members(user_id) WHERE deleted_at IS NULL;
CREATE TRIGGER workspace_members_set_updated_at BEFORE UPDATE ON workspace_members
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE oauth_credentials (
    id               UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id     UUID NOT NULL,
    provider_type    VARCHAR(50) NOT NULL,
    provider_user_id VARCHAR(255),
    provider_email   CITEXT,
    access_token     TEXT NOT NULL,
    refresh_token    TEXT,
    token_type       VARCHAR(20) DEFAULT 'Bearer',
    expires_at       TIMESTAMP,
    scope            TEXT,
    metadata         JSONB DEFAULT '{}'::jsonb,
    is_active        BOOLEAN NOT NULL DEFAULT true,
    last_used_at     TIMESTAMP,
    deleted_at       TIMESTAMP,
    created_at       TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at       TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT oauth_credentials_unique_workspace_provider UNIQUE (workspace_id, provider_type),
    CONSTRAINT oauth_credentials_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE
);
CREATE INDEX idx_oauth_credentials_workspace ON oauth_credentials(workspace_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_oauth_credentials_provider ON oauth_credentials(provider_type, provider_email) WHERE deleted_at IS NULL;
CREATE INDEX idx_oauth_credentials_expiry ON oauth_credentials(expires_at) WHERE is_active = true;
CREATE TRIGGER oauth_credentials_set_updated_at BEFORE UPDATE ON oauth_credentials
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE password_reset_tokens (
    id         UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id    UUID NOT NULL,
    token      VARCHAR(255) NOT NULL UNIQUE,
    expires_at TIMESTAMP NOT NULL,
    is_used    BOOLEAN NOT NULL DEFAULT false,
    used_at    TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT password_reset_tokens_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX idx_password_reset_token ON password_reset_tokens(token);
CREATE INDEX idx_password_reset_user_expiry ON password_reset_tokens(user_id, expires_at);
CREATE INDEX idx_password_reset_created ON password_reset_tokens(created_at);

CREATE TABLE refresh_tokens (
    id         UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id    UUID NOT NULL,
    token      TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMP NOT NULL,
    is_revoked BOOLEAN NOT NULL DEFAULT false,
    revoked_at TIMESTAMP,
    user_agent TEXT,
    ip_address VARCHAR(45),
    created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT refresh_tokens_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX idx_refresh_token ON refresh_tokens(token);
CREATE INDEX idx_refresh_user ON refresh_tokens(user_id, is_revoked);
CREATE INDEX idx_refresh_expiry ON refresh_tokens(expires_at);

-- Append-only audit trail; deliberately no FK to users (attempts for unknown emails are logged too).
CREATE TABLE login_attempts (
    id             UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    email          CITEXT NOT NULL,
    ip_address     VARCHAR(45) NOT NULL,
    user_agent     TEXT,
    was_successful BOOLEAN NOT NULL DEFAULT false,
    failure_reason VARCHAR(100),
    created_at     TIMESTAMP NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_login_attempts_email ON login_attempts(email, created_at DESC);
CREATE INDEX idx_login_attempts_ip ON login_attempts(ip_address, created_at DESC);
CREATE INDEX idx_login_attempts_created ON login_attempts(created_at);
