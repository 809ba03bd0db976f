-- Shard ownership (storage/shard_leases.cpp): workspaces map to 256 shards (domain/shard_ring),
-- and a node may act for a shard only while it holds the shard's lease here. The epoch grows by
-- one each time the lease changes hands (or is taken again after it lapsed or was released);
-- every durable write of a shard's runs checks (owner, epoch) in its own transaction, holding the
-- row with FOR KEY SHARE, so a node that lost the lease cannot write, whatever it believes.
-- All times are the database's clock; node clocks never decide who owns a shard.

-- One row a shard, made here for all 256 (the shard count is a durable contract): taking a lease
-- is an UPDATE of an existing row, so two takers always meet on the same row lock.
CREATE TABLE shard_leases (
    shard       INT PRIMARY KEY CHECK (shard >= 0 AND shard < 256),
    owner       TEXT,                                   -- the node holding it, or the last one that did; NULL: never held
    epoch       BIGINT NOT NULL DEFAULT 0 CHECK (epoch >= 0),  -- 0: never held; only ever grows
    expires_at  TIMESTAMPTZ NOT NULL DEFAULT '-infinity',      -- the owner may act until then (database clock)
    acquired_at TIMESTAMPTZ,                            -- when this epoch began
    renewed_at  TIMESTAMPTZ,                            -- the owner's last renewal
    released_at TIMESTAMPTZ                             -- when the owner gave it back (expires_at is then -infinity)
);

INSERT INTO shard_leases (shard) SELECT s FROM generate_series(0, 255) AS s;

-- The fence (storage/shard_leases.cpp fence_many), as a function so that it also works as one
-- command of a pipeline, whose implicit transaction only an error stops: it raises SQLSTATE FTF01
-- (constraint name "shard_lease") unless p_node holds every shard at its epoch, unexpired by the
-- clock now (clock_timestamp: the transaction may be old). It first locks the rows FOR KEY SHARE,
-- in shard order, until the transaction ends: a takeover locks FOR UPDATE and so waits for the
-- write, while the owner's renewals (non-key UPDATEs) do not. The check is a statement of its
-- own, so its snapshot includes a takeover that the lock waited for.
CREATE FUNCTION fence_shard_leases(p_node text, p_shards int[], p_epochs bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    refused text;
BEGIN
    PERFORM 1 FROM shard_leases WHERE shard = ANY(p_shards) ORDER BY shard FOR KEY SHARE;
    SELECT string_agg(format('shard %s at epoch %s: %s', h.shard, h.epoch,
                             CASE WHEN l.shard IS NULL THEN 'no such shard'
                                  WHEN l.owner IS NULL THEN 'never held'
                                  WHEN l.owner <> p_node THEN format('held by %s at epoch %s', l.owner, l.epoch)
                                  WHEN l.epoch IS DISTINCT FROM h.epoch THEN format('this node holds it at epoch %s now', l.epoch)
                                  ELSE 'the lease expired' END),
                      '; ' ORDER BY h.shard)
      INTO refused
      FROM unnest(p_shards, p_epochs) AS h(shard, epoch)
      LEFT JOIN shard_leases l ON l.shard = h.shard
     WHERE l.shard IS NULL OR l.owner IS DISTINCT FROM p_node OR l.epoch IS DISTINCT FROM h.epoch OR l.expires_at <= clock_timestamp();
    IF refused IS NOT NULL THEN
        RAISE EXCEPTION 'fenced out: % no longer holds %', p_node, refused
              USING ERRCODE = 'FTF01', CONSTRAINT = 'shard_lease',
                    DETAIL = 'roll back, drop the shard and let its owner redo the work';
    END IF;
END;
$$;
