-- The secret a partner system presents (X-FlowTrack-Token) to trigger a workflow by webhook,
-- stored as the hex SHA-256 of the token; the token itself is shown once, when made.
ALTER TABLE workflows ADD COLUMN webhook_token_hash TEXT;
