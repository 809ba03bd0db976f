-- What the execution engine keeps beyond the spec's tables (extra columns and tables are allowed):
-- immutable workflow versions, and each execution's version, checkpoint, resume time and lock.

-- Every saved graph of a workflow, so an execution always runs the version it started with.
CREATE TABLE workflow_versions (
  workflow_id UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  graph JSONB NOT NULL,          -- React Flow JSON: {"nodes":[...],"edges":[...]}
  settings JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at TIMESTAMP NOT NULL DEFAULT NOW(),
  PRIMARY KEY (workflow_id, version)
);

ALTER TABLE workflow_executions
  ADD COLUMN workflow_version INTEGER,      -- the version this execution runs (NULL: the workflow's current)
  ADD COLUMN checkpoint JSONB,              -- runtime checkpoint after the last recorded step
  ADD COLUMN resume_at TIMESTAMP,           -- when a paused execution is due
  ADD COLUMN lock_token BIGINT;             -- fencing token of the last lock holder that wrote

-- The scheduler rebuilds Redis' delay queue from this when Redis lost its data.
CREATE INDEX idx_workflow_executions_resume ON workflow_executions(resume_at) WHERE status = 'paused';
