-- Teams (issue #13): invitations to a workspace, and workspace_members as the one place roles are
-- read from. An invitation is a row here until it is accepted; only then does the invitee get a
-- workspace_members row (invited_by_user_id and invited_at copied from the invitation, joined_at
-- the acceptance), so every active member row is a joined member and a role check is one probe
-- of a workspace_members index (the unique pair or the per-user one). token_hash is the SHA-256 hex of the link's token:
-- the database never sees a raw token.

CREATE TABLE workspace_invitations (
    id           UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id UUID NOT NULL,
    email        CITEXT NOT NULL,
    role         VARCHAR(20) NOT NULL,
    token_hash   VARCHAR(64) NOT NULL,
    invited_by   UUID,
    expires_at   TIMESTAMP NOT NULL,
    accepted_at  TIMESTAMP,
    accepted_by  UUID,
    revoked_at   TIMESTAMP,
    created_at   TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at   TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT workspace_invitations_token_hash_key UNIQUE (token_hash),
    -- Ownership moves by transfer, never by invitation (one owner per workspace).
    CONSTRAINT workspace_invitations_valid_role CHECK (role IN ('admin', 'member', 'viewer')),
    CONSTRAINT workspace_invitations_email_valid CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'),
    CONSTRAINT workspace_invitations_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE,
    CONSTRAINT workspace_invitations_invited_by_fkey FOREIGN KEY (invited_by)
        REFERENCES users(id) ON DELETE SET NULL,
    CONSTRAINT workspace_invitations_accepted_by_fkey FOREIGN KEY (accepted_by)
        REFERENCES users(id) ON DELETE SET NULL
);
-- At most one open invitation per address and workspace (a new one revokes the old first); also
-- the workspace's list of open invitations.
CREATE UNIQUE INDEX idx_workspace_invitations_open ON workspace_invitations(workspace_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE TRIGGER workspace_invitations_set_updated_at BEFORE UPDATE ON workspace_invitations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Every workspace's owner_user_id has an active owner row (create_workspace always made one; a
-- workspace written by hand may lack it), and no other row says owner.
UPDATE workspace_members m SET role = 'admin'
FROM workspaces w
WHERE w.id = m.workspace_id AND m.role = 'owner' AND m.user_id <> w.owner_user_id;
INSERT INTO workspace_members AS m (workspace_id, user_id, role, joined_at)
SELECT id, owner_user_id, 'owner', created_at FROM workspaces
ON CONFLICT (workspace_id, user_id) DO UPDATE
    SET role = 'owner', deleted_at = NULL, is_active = true, joined_at = COALESCE(m.joined_at, EXCLUDED.joined_at)
    WHERE m.role <> 'owner' OR m.deleted_at IS NOT NULL OR NOT m.is_active OR m.joined_at IS NULL;

-- One owner per workspace (the table specification's v1 rule), held by the database: a transfer
-- demotes the old owner before it promotes the new one.
CREATE UNIQUE INDEX idx_workspace_members_one_owner ON workspace_members(workspace_id)
    WHERE role = 'owner' AND deleted_at IS NULL;
