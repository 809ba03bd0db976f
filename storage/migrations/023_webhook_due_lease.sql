-- Claiming due webhook deliveries stays cheap however large the backlog.
--
-- 1. A claimed message's lease end is its next due time: the due key becomes
--    COALESCE(claimed_until, next_retry_at, created_at), so the index range itself skips leased
--    messages (the claim used to walk every leased row before the first free one: quadratic in
--    the backlog). Recording an attempt clears claimed_until; a release sets it to when the
--    message may go again.
-- 2. The claim is a function whose planner settings pin the plan to a walk of that index in
--    order, stopping after `n` rows it could lock. Right after a bulk of new messages the
--    statistics still say the range is small, and the planner then chose a bitmap scan of every
--    due row and a sort (185 ms for 1,000 of 183,000 due; the walk takes a few ms).
DROP INDEX idx_webhook_deliveries_due;
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries(COALESCE(claimed_until, next_retry_at, created_at))
    WHERE status = 'pending' OR (status = 'failed' AND next_retry_at IS NOT NULL);

-- Up to `n` due messages, oldest due first, leased for `lease_ms`; due_us is the due time the
-- claim ordered by (RETURNING keeps no order: the caller sorts by it).
CREATE FUNCTION ft_claim_webhook_deliveries(n bigint, lease_ms bigint)
RETURNS TABLE (id uuid, endpoint_id uuid, workspace_id uuid, event_type text, payload text, attempts_made integer,
               max_attempts integer, created_ms bigint, due_us bigint)
LANGUAGE sql VOLATILE
SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off
AS $$
  WITH c AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE (d.status = 'pending' OR (d.status = 'failed' AND d.next_retry_at IS NOT NULL))
      AND COALESCE(d.claimed_until, d.next_retry_at, d.created_at) <= now()
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
