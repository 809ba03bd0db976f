-- Hosted inbound providers deliver mail over HTTP: POST /inbound/email with the workspace's
-- inbound token (an extra column), stored only as its SHA-256 like the webhook trigger tokens.
ALTER TABLE workspaces ADD COLUMN inbound_token_hash VARCHAR(64);
CREATE UNIQUE INDEX idx_workspaces_inbound_token ON workspaces(inbound_token_hash) WHERE inbound_token_hash IS NOT NULL;
