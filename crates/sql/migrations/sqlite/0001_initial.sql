-- The schema of the SQLite store (src/server/store/sqlite.rs).
--
-- Each object is kept whole, as the API shows it, as JSON text (`object`),
-- next to the columns it is found, filtered and ordered by. `seq` is the
-- insertion order: lists and their cursors follow it, and replacing an object
-- keeps it. Ids are the server's own random ids, unique across a table.
--
-- Plain types and standard SQL, so that a PostgreSQL store can follow with
-- the same layout: only `seq INTEGER PRIMARY KEY` (SQLite's rowid, the
-- cheapest insertion order it has) would be `BIGINT GENERATED ALWAYS AS
-- IDENTITY PRIMARY KEY` there. Partial indexes exist in both.
--
-- Deleting a thread deletes everything under it through the foreign keys
-- (the store turns `PRAGMA foreign_keys` on for every connection).

CREATE TABLE assistants (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    object TEXT NOT NULL
);

CREATE TABLE threads (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    -- The run that locks the thread (it refuses new messages and runs), if any.
    active_run_id TEXT,
    object TEXT NOT NULL
);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    -- The run that wrote the message, if any (lists filter by it).
    run_id TEXT,
    object TEXT NOT NULL
);
-- A thread's messages in order; also what the cascade from threads deletes by.
CREATE INDEX messages_by_thread ON messages (thread_id, seq);
-- A thread's messages of one run, in order.
CREATE INDEX messages_by_run ON messages (thread_id, run_id, seq);

CREATE TABLE runs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    -- The run's status as the API spells it (`queued`, `completed`, ...).
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- When the run first reached a terminal status (Unix seconds): the start
    -- of its events' retention window.
    ended_at BIGINT,
    -- The server's own bookkeeping of the run (JSON).
    progress TEXT NOT NULL,
    object TEXT NOT NULL
);
CREATE INDEX runs_by_thread ON runs (thread_id, seq);
-- The runs whose events a prune may delete.
CREATE INDEX runs_by_end ON runs (ended_at) WHERE ended_at IS NOT NULL;
-- What a restart resumes, oldest first. The list of terminal statuses is the
-- store's `TERMINAL_STATUSES`, which its query repeats word for word (SQLite
-- uses a partial index only for a query with the same condition).
CREATE INDEX runs_unfinished ON runs (created_at, seq)
    WHERE status NOT IN ('cancelled', 'failed', 'completed', 'incomplete', 'expired');

CREATE TABLE run_steps (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    thread_id TEXT NOT NULL,
    object TEXT NOT NULL
);
CREATE INDEX run_steps_by_run ON run_steps (run_id, seq);

-- The events of runs' streams, kept for resuming them: one row per commit
-- of the run (`RunBatch`) that had events, holding them all, so that a
-- commit writes one row, not one per event (a streamed run has hundreds).
-- `body` packs the events in order, each as `SEQ EVENT_LEN DATA_LEN\n`
-- then the event name and its data (lengths in bytes); the store's
-- `pack_events` and `unpack_events` write and read it.
CREATE TABLE run_event_chunks (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    -- The sequence numbers of the chunk's first and last events (the SSE
    -- `id`s, from 1), and how many events it holds.
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    events BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, last_seq)
);
