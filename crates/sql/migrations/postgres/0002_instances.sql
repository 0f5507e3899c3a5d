-- Several server instances on one database (src/server/cluster.rs, and the
-- shared-store half of the PostgreSQL store, src/server/store/postgres/shared.rs).
--
-- A run not ended is held by at most one instance (`runs.owner`), which
-- alone writes it: its commits lock the run's row and check the owner in
-- their transaction, so an instance that stalled past its lease writes
-- nothing once another took the run. Claims set the owner with one
-- conditional UPDATE (or, for many runs, `FOR NO KEY UPDATE SKIP LOCKED`),
-- so a run is never given to two instances.
ALTER TABLE runs ADD COLUMN owner TEXT;

-- When each instance last said it was alive (Unix milliseconds). An owner
-- missing here, or not heard of for a lease, has lapsed.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
) WITH (fillfactor = 50);

-- The runs a claim of lapsed runs looks at (not ended), by holder: few
-- rows, whatever the size of the history. `ended_at` is set by the commit
-- that ends a run, so the index loses a run as it ends.
CREATE INDEX runs_open_by_owner ON runs (owner, created_at, seq) WHERE ended_at IS NULL;

-- Runs left unfinished by a server of the schema before this one (which
-- resumed its own at start) are given to an instance that never says it
-- is alive: the first instance that looks takes them over and settles
-- them as a restart would. A run waiting for tool outputs stays nobody's.
UPDATE runs SET owner = 'instance_before_0002'
    WHERE ended_at IS NULL AND status <> 'requires_action';

-- `insert_run` (0001) for a run held by `p_owner` from its first moment,
-- in the insert's transaction: no other instance can take it in between.
CREATE FUNCTION insert_owned_run(
    p_thread_id TEXT,
    p_run_id TEXT,
    p_status TEXT,
    p_created_at BIGINT,
    p_progress JSON,
    p_object JSON,
    p_message_ids TEXT[],
    p_message_runs TEXT[],
    p_message_objects TEXT[],
    p_owner TEXT
) RETURNS TABLE (o_found BOOLEAN, o_active_run_id TEXT, o_object TEXT)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY SELECT * FROM insert_run(p_thread_id, p_run_id, p_status, p_created_at,
        p_progress, p_object, p_message_ids, p_message_runs, p_message_objects);
    -- Not inserted (the thread was locked or missing): no such run, no row.
    UPDATE runs SET owner = p_owner WHERE id = p_run_id AND owner IS NULL AND ended_at IS NULL;
END
$$;
