-- A workspace's shard in SQL too (domain::shard_of: the first byte of SHA-256 of the id's
-- lowercase text), so statements can pick a shard's rows themselves: the webhook deliveries a
-- node claims are only those of the shards it holds (webhook endpoint actors live with their
-- workspace), and a new owner of shards adopts their executions and frees their deliveries'
-- claims at once instead of after the old holder's claim ran out.
CREATE FUNCTION ft_shard_of(ws uuid) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT get_byte(sha256(convert_to(ws::text, 'UTF8')), 0) $$;

-- As migration 023's, with `shards`: only deliveries of the workspaces in those shards (NULL: of
-- every workspace, a node outside a cluster). The walk of the due index skips the others.
DROP FUNCTION ft_claim_webhook_deliveries(bigint, bigint);
CREATE FUNCTION ft_claim_webhook_deliveries(n bigint, lease_ms bigint, shards int[])
RETURNS TABLE (id uuid, endpoint_id uuid, workspace_id uuid, event_type text, payload text, attempts_made integer,
               max_attempts integer, created_ms bigint, due_us bigint)
LANGUAGE sql VOLATILE
SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off
AS $$
  WITH c AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE (d.status = 'pending' OR (d.status = 'failed' AND d.next_retry_at IS NOT NULL))
      AND COALESCE(d.claimed_until, d.next_retry_at, d.created_at) <= now()
      AND (shards IS NULL OR ft_shard_of(d.workspace_id) = ANY (shards))
    ORDER BY COALESCE(d.claimed_until, d.next_retry_at, d.created_at)
    LIMIT n
    FOR UPDATE SKIP LOCKED
  )
  UPDATE webhook_deliveries d SET claimed_until = now() + make_interval(secs => lease_ms::double precision / 1000)
  WHERE d.id = ANY (ARRAY(SELECT c.id FROM c))  -- primary-key probes: a join would be planned as a scan of the table
  RETURNING d.id, d.webhook_endpoint_id, d.workspace_id, d.event_type::text, d.payload::text, COALESCE(d.attempt_number, 0),
            COALESCE(d.max_attempts, 1), (extract(epoch FROM d.created_at::timestamptz) * 1000)::bigint,
            (extract(epoch FROM COALESCE(d.next_retry_at, d.created_at)::timestamptz) * 1000000)::bigint
$$;
