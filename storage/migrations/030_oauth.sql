-- Google and Outlook integrations (issue #16 item 4): the authorizations under way. A connect
-- makes one row: the `state` the provider sends back is kept only as its SHA-256 (a leaked table
-- gives no usable state), the PKCE code_verifier sealed (crypto/secret_box, bound to the row id).
-- A callback takes the row once (used_at), within its expiry (about 10 minutes). Tokens of a
-- connected account live in oauth_credentials (002), sealed too; the workspace's choice of
-- sender is workspaces.settings->>'emailSender' ('smtp', 'google' or 'outlook').

CREATE TABLE oauth_authorizations (
    id             UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    state_hash     CHAR(64) NOT NULL UNIQUE,       -- lower-case hex SHA-256 of the state
    workspace_id   UUID NOT NULL,
    user_id        UUID NOT NULL,                  -- who started it
    provider_type  VARCHAR(50) NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_verifier  TEXT NOT NULL,                  -- sealed: "oauth_authorizations.code_verifier:" || id
    expires_at     TIMESTAMPTZ NOT NULL,
    used_at        TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT oauth_authorizations_provider CHECK (provider_type IN ('GOOGLE_EMAIL', 'OUTLOOK_EMAIL')),
    CONSTRAINT oauth_authorizations_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE,
    CONSTRAINT oauth_authorizations_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX idx_oauth_authorizations_expiry ON oauth_authorizations(expires_at);

-- Why a credential went inactive (e.g. 'invalid_grant': the grant was revoked at the provider).
ALTER TABLE oauth_credentials ADD COLUMN inactive_reason VARCHAR(100);
