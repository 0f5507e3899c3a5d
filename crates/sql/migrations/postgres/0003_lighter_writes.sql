-- Changes that spare the database's CPU and writes on every commit.
--
-- LZ4 for every column PostgreSQL may compress. 0001 gave it to the events'
-- data and to messages, but a batch of events also holds its names (a
-- hundred `thread.message.delta` in a row is past the 2 kB at which
-- PostgreSQL compresses a row's largest values), and those went through the
-- default, pglz: a profile of 500 streamed runs at once found pglz at 15 %
-- of the PostgreSQL server's CPU time. Values written before keep their
-- compression; PostgreSQL reads both. As in 0001, a server built without
-- LZ4 keeps its default.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE run_event_batches ALTER COLUMN seqs SET COMPRESSION lz4, '
        'ALTER COLUMN events SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE runs ALTER COLUMN object SET COMPRESSION lz4, '
        'ALTER COLUMN progress SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE run_steps ALTER COLUMN object SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE threads ALTER COLUMN object SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE assistants ALTER COLUMN object SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
    NULL;
END
$$;

-- The unfinished runs are those without an end (`ended_at`, set by the
-- commit that makes a run terminal), not those whose status is not
-- terminal: the same runs, but a column in a partial index's `WHERE`
-- counts as indexed, so with `status` there every status change (`queued`
-- to `in_progress`, to `requires_action`) was an update that could not stay
-- on its page (HOT) and wrote an entry in each of the table's indexes. The
-- SQLite store made the same change (its migration 0004). They need no
-- index of their own: `runs_open_by_owner` (0002) holds exactly the runs
-- not ended, and the few of them are sorted after.
DROP INDEX runs_unfinished;

-- Fewer indexes to write. Every row insert writes an entry in each index
-- of its table, and every write opens and locks them all; a profile of
-- streamed runs found PostgreSQL's time spread over such per-statement
-- set-up. The `seq` primary keys of threads, messages, runs and steps are
-- never looked up: their lists read `(thread_id, seq)` or `(run_id, seq)`
-- indexes, and rows are found by `id`, which stays unique (and is what
-- the foreign keys reference). Assistants keep theirs: their list reads
-- it. Logical replication, which needs a key to identify rows, gets `id`.
ALTER TABLE threads DROP CONSTRAINT threads_pkey;
ALTER TABLE messages DROP CONSTRAINT messages_pkey;
ALTER TABLE runs DROP CONSTRAINT runs_pkey;
ALTER TABLE run_steps DROP CONSTRAINT run_steps_pkey;
ALTER TABLE threads REPLICA IDENTITY USING INDEX threads_id_key;
ALTER TABLE messages REPLICA IDENTITY USING INDEX messages_id_key;
ALTER TABLE runs REPLICA IDENTITY USING INDEX runs_id_key;
ALTER TABLE run_steps REPLICA IDENTITY USING INDEX run_steps_id_key;

-- Every run made terminal got its `ended_at` in that commit; should one
-- have none, it would now count as unfinished, so give it its start.
UPDATE runs SET ended_at = created_at
    WHERE ended_at IS NULL
    AND status IN ('cancelled', 'failed', 'completed', 'incomplete', 'expired');

-- `insert_owned_run` (0002) in one body: the run goes in with its holder,
-- instead of a call of `insert_run` followed by an `UPDATE` of the row just
-- inserted (a second version of the run's row, and a statement more).
CREATE OR REPLACE FUNCTION insert_owned_run(
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
DECLARE
    locked_by TEXT;
BEGIN
    SELECT t.active_run_id INTO locked_by
        FROM threads t WHERE t.id = p_thread_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT FALSE, NULL::TEXT, NULL::TEXT;
        RETURN;
    END IF;
    IF locked_by IS NOT NULL THEN
        RETURN QUERY SELECT TRUE, locked_by, NULL::TEXT;
        RETURN;
    END IF;
    IF cardinality(p_message_ids) > 0 THEN
        INSERT INTO messages (id, thread_id, run_id, object)
            SELECT m.id, p_thread_id, m.run_id, m.object::JSON
            FROM UNNEST(p_message_ids, p_message_runs, p_message_objects)
                WITH ORDINALITY AS m (id, run_id, object, ord)
            ORDER BY m.ord;
    END IF;
    INSERT INTO runs (id, thread_id, status, created_at, progress, object, owner)
        VALUES (p_run_id, p_thread_id, p_status, p_created_at, p_progress, p_object, p_owner);
    UPDATE threads SET active_run_id = p_run_id WHERE id = p_thread_id;
    RETURN QUERY SELECT TRUE, NULL::TEXT, NULL::TEXT;
    RETURN QUERY SELECT TRUE, NULL::TEXT, m.object::TEXT
        FROM messages m WHERE m.thread_id = p_thread_id ORDER BY m.seq;
END
$$;

-- `insert_run` (0001) is `insert_owned_run` with no holder: one body for
-- both.
CREATE OR REPLACE FUNCTION insert_run(
    p_thread_id TEXT,
    p_run_id TEXT,
    p_status TEXT,
    p_created_at BIGINT,
    p_progress JSON,
    p_object JSON,
    p_message_ids TEXT[],
    p_message_runs TEXT[],
    p_message_objects TEXT[]
) RETURNS TABLE (o_found BOOLEAN, o_active_run_id TEXT, o_object TEXT)
LANGUAGE sql VOLATILE AS $$
    SELECT * FROM insert_owned_run(p_thread_id, p_run_id, p_status, p_created_at, p_progress,
        p_object, p_message_ids, p_message_runs, p_message_objects, NULL)
$$;
