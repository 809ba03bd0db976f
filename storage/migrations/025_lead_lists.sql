-- Lead lists of the management API (issue #13, storage/leads): every list the routes offer is one
-- walk of an index of the workspace's live leads. Each sort key has a (workspace_id, key, id)
-- btree, walked either way for asc/desc with the id as the keyset tiebreaker; the equality
-- filters (status, source, assignee) have (workspace_id, filter, created_at, id), so the default
-- sort under one filter reads exactly one page; tags and text go through GIN indexes that carry
-- the workspace too (btree_gin), so another workspace's rows are never read. Text search is a
-- substring match (LIKE '%q%', at least 3 characters) over one lower-case concatenation of email,
-- name, company and phone, served by pg_trgm; the expression below is written identically in
-- storage/leads.cpp (a different expression would not match the index). The spec's own indexes
-- stay. Both extensions ship with postgresql-15 (contrib) and are trusted.
--
-- Cost: an index on updated_at makes every lead update a non-HOT update (the trigger changes it),
-- the price of an updated_at sort that needs no sort of a whole workspace.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX idx_leads_ws_created ON leads (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_ws_updated ON leads (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_ws_score ON leads (workspace_id, (COALESCE(score, 0)), id) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_ws_name ON leads (workspace_id, (lower(COALESCE(name, ''))), id) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_ws_status_created ON leads (workspace_id, status, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_ws_source_created ON leads (workspace_id, source, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_ws_assigned_created ON leads (workspace_id, assigned_to_user_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_ws_tags ON leads USING gin (workspace_id, tags) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_ws_search ON leads USING gin (
    workspace_id,
    (lower(email::text || ' ' || COALESCE(name, '') || ' ' || COALESCE(company_name, '') || ' ' || COALESCE(phone, '')))
        gin_trgm_ops)
    WHERE deleted_at IS NULL;
