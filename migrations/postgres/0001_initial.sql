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
-- Deleting a thread deletes everything under it through the foreign keys.
--
-- Made for several server processes on one database (not yet done: see the
-- store's module docs): the thread lock is a column the store changes only
-- under the thread row's lock; a run is one row that its writes lock, so a
-- later migration can give it an owner and a lease that those writes check;
-- and each event is a row of `run_events` keyed by (run, sequence number),
-- so another process can follow a run's stream from the table.

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
);

CREATE TABLE messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    -- The run that wrote the message, if any (lists filter by it).
    run_id TEXT,
    object JSON NOT NULL
);
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
);
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
-- row per event, in the order of its sequence number (the SSE `id`, from 1).
-- A commit writes its events with one statement. `data` is the event's data
-- as sent, as bytes: PostgreSQL's text cannot hold a NUL character, and a
-- replayed stream's data is whatever the recording held.
CREATE TABLE run_events (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    event TEXT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (run_id, seq)
);
