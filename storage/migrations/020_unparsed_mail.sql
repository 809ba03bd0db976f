-- Mail to an intake address that could not be read as a lead (no header block, no sender
-- address): kept raw for 30 days so nothing a sender was told we accepted is lost, and the owner
-- is told. One row per workspace and message (the digest of its bytes), so a resend is kept once.
CREATE TABLE unparsed_mail (
    id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id UUID NOT NULL,
    digest CHAR(64) NOT NULL,
    raw BYTEA NOT NULL,
    size_bytes INTEGER NOT NULL,
    reason TEXT NOT NULL,
    channel VARCHAR(10) NOT NULL,
    envelope_from TEXT NULL,
    client_ip VARCHAR(64) NULL,
    received_at TIMESTAMP NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMP NOT NULL DEFAULT NOW() + INTERVAL '30 days',
    owner_notified_at TIMESTAMP NULL,
    CONSTRAINT unparsed_mail_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces(id) ON DELETE CASCADE,
    CONSTRAINT unparsed_mail_valid_channel CHECK (channel IN ('smtp', 'http'))
);
CREATE UNIQUE INDEX idx_unparsed_mail_digest ON unparsed_mail(workspace_id, digest);
CREATE INDEX idx_unparsed_mail_workspace ON unparsed_mail(workspace_id, received_at DESC);
CREATE INDEX idx_unparsed_mail_expires ON unparsed_mail(expires_at);
CREATE INDEX idx_unparsed_mail_notified ON unparsed_mail(workspace_id, owner_notified_at) WHERE owner_notified_at IS NOT NULL;
