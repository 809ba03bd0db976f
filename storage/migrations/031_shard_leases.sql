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
