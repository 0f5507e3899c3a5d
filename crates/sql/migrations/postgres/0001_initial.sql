-- The schema of the PostgreSQL store (src/server/store/postgres.rs).
--
-- The SQLite store's layout (migrations/sqlite/): each object is kept whole,
-- as the API shows it (`object`, JSON), next to the columns it is found,
-- filtered and ordered by. `seq` is the insertion order: lists and their
-- cursors follow it, and replacing an object keeps it. Ids are the server's
-- own random ids, unique across a table.
--
-- `JSON`, not `JSONB`: the store writes an object whole and reads it whole,
-- never looks inside it, so the text is kept as given (no parse into JSONB's
-- binary form on every write; a run rewrites its message with each batch of
-- tokens), and `JSON` accepts every string serde_json writes (`JSONB`
-- refuses `\u0000`). PostgreSQL's JSON operators still read it, for
-- whoever queries the database by hand.
--
-- Deleting a thread deletes everything under it, through the foreign keys
-- and, for the events, `delete_thread`.
--
-- Threads, messages and runs are rewritten in place many times (a run's
-- message with every batch of tokens, the run with every status, the thread
-- when a run locks and unlocks it), none of them in a column an index
-- holds: with room left on their pages (`fillfactor`), PostgreSQL writes
-- the new version beside the old one and touches no index (a HOT update).
--
-- Made for several server processes on one database (not yet done: see the
-- store's module docs): the thread lock is a column the store changes only
-- under the thread row's lock; a run is one row that its writes lock, so a
-- later migration can give it an owner and a lease that those writes check;
-- and a run's events are rows of `run_event_batches` keyed by (run, last
-- sequence number), so another process can follow a run's stream from the
-- table.

CREATE TABLE assistants (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    object JSON NOT NULL
);

CREATE TABLE threads (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    -- The run that locks the thread (it refuses new messages and runs), if any.
    active_run_id TEXT,
    object JSON NOT NULL
) WITH (fillfactor = 70);

CREATE TABLE messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    -- The run that wrote the message, if any (lists filter by it).
    run_id TEXT,
    object JSON NOT NULL
) WITH (fillfactor = 70);
-- A thread's messages in order, with the run id to filter by in the index;
-- also what the cascade from threads deletes by.
CREATE INDEX messages_by_thread ON messages (thread_id, seq) INCLUDE (run_id);

CREATE TABLE runs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    -- The run's status as the API spells it (`queued`, `completed`, ...).
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- When the run first reached a terminal status (Unix seconds): the start
    -- of its events' retention window.
    ended_at BIGINT,
    -- The server's own bookkeeping of the run.
    progress JSON NOT NULL,
    object JSON NOT NULL
) WITH (fillfactor = 70);
CREATE INDEX runs_by_thread ON runs (thread_id, seq);
-- The runs whose events a prune may delete.
CREATE INDEX runs_by_end ON runs (ended_at) WHERE ended_at IS NOT NULL;
-- What a restart resumes, oldest first. The list of terminal statuses is the
-- store's `terminal_statuses!`, which its query repeats word for word.
CREATE INDEX runs_unfinished ON runs (created_at, seq)
    WHERE status NOT IN ('cancelled', 'failed', 'completed', 'incomplete', 'expired');

CREATE TABLE run_steps (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    thread_id TEXT NOT NULL,
    object JSON NOT NULL
);
CREATE INDEX run_steps_by_run ON run_steps (run_id, seq);

-- The events of runs' streams, the source of truth for resuming them: one
-- row per commit of the run (`RunBatch`) that had events, holding them all
-- in order as three arrays of the same length (sequence numbers, names,
-- data), so that a commit writes one row, one index entry and one foreign
-- key check, not one per event. (Measured on PostgreSQL 15: one row per
-- event cost 0.45 ms per 50 events, most of it the foreign key's check of
-- each row; one row per commit, 0.09 ms.) A reader follows a run with
-- `WHERE run_id = $1 AND last_seq > $2 ORDER BY last_seq` and unnests the
-- rows. `data` is each event's data as sent, as bytes: PostgreSQL's text
-- cannot hold a NUL character, and a replayed stream's data is whatever the
-- recording held.
--
-- No foreign key to `runs`: its check is a query of its own for every row
-- written (a commit with events writes one), the largest cost of a commit
-- after its own statement. The store writes a batch only for a run it has
-- just found on a thread whose row it holds locked, and `delete_thread`
-- (below) deletes a thread's batches before the thread.
CREATE TABLE run_event_batches (
    run_id TEXT NOT NULL,
    -- The sequence numbers (the SSE `id`s, from 1) of the batch's first and
    -- last events.
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    seqs BIGINT[] NOT NULL,
    events TEXT[] NOT NULL,
    data BYTEA[] NOT NULL,
    PRIMARY KEY (run_id, last_seq)
);
-- A batch of streamed deltas is mostly the same JSON keys and ids again and
-- again, and past 2 KB PostgreSQL compresses it; LZ4 does that for a
-- fraction of the CPU time of its default (pglz), where the server was
-- built with it (PostgreSQL 14 on, as Debian's and the official images
-- are). Elsewhere the default stays (the statements are run with EXECUTE so
-- that a server older than 14, which cannot parse them, fails them here).
DO $$
BEGIN
    EXECUTE 'ALTER TABLE run_event_batches ALTER COLUMN data SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE messages ALTER COLUMN object SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
    NULL;
END
$$;

-- A new run on an unlocked thread, with the messages it adds, locking the
-- thread; returns a first row saying what the thread was (`found`, and the
-- run that locks it if it was locked, in which case nothing was written),
-- then, if the run went in, the thread's messages in order (`object`), as
-- the run's first turn shows them to the model. One round trip instead of a
-- transaction's five, and exact: a volatile function reads with a fresh
-- snapshot for each statement, so the messages are read after the thread's
-- row is locked, and a message written by a transaction that held the lock
-- before is among them (a single SQL statement would read them with the
-- snapshot it started with, before its wait for the lock).
CREATE FUNCTION insert_run(
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
    INSERT INTO messages (id, thread_id, run_id, object)
        SELECT m.id, p_thread_id, m.run_id, m.object::JSON
        FROM UNNEST(p_message_ids, p_message_runs, p_message_objects)
            WITH ORDINALITY AS m (id, run_id, object, ord)
        ORDER BY m.ord;
    INSERT INTO runs (id, thread_id, status, created_at, progress, object)
        VALUES (p_run_id, p_thread_id, p_status, p_created_at, p_progress, p_object);
    UPDATE threads SET active_run_id = p_run_id WHERE id = p_thread_id;
    RETURN QUERY SELECT TRUE, NULL::TEXT, NULL::TEXT;
    RETURN QUERY SELECT TRUE, NULL::TEXT, m.object::TEXT
        FROM messages m WHERE m.thread_id = p_thread_id ORDER BY m.seq;
END
$$;

-- Deletes a thread with everything under it: its messages, runs and steps
-- through the foreign keys, and first its runs' events (which have no
-- foreign key). The thread's row is locked before the events are deleted:
-- a commit holds it (`FOR KEY SHARE`) while it writes a batch, so a batch
-- is either written before (and deleted here) or finds no thread. Returns
-- whether the thread existed.
CREATE FUNCTION delete_thread(p_thread_id TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM threads WHERE id = p_thread_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    DELETE FROM run_event_batches
        WHERE run_id IN (SELECT id FROM runs WHERE thread_id = p_thread_id);
    DELETE FROM threads WHERE id = p_thread_id;
    RETURN TRUE;
END
$$;
