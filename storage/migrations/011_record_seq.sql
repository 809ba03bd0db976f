-- Each run record carries (lock token, sequence); a record is applied only when it is newer than
-- the last one applied, so a record sent twice (a writer that crashed after committing) is
-- applied once.
ALTER TABLE workflow_executions ADD COLUMN record_seq INTEGER NOT NULL DEFAULT 0;
