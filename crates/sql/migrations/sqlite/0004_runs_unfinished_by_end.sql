-- The unfinished runs are those without an end (`ended_at`, set in the
-- commit that makes a run terminal), rather than those whose status is not
-- terminal: the same runs, but a status change that does not end the run
-- (`queued` to `in_progress`, to `requires_action`, back to `queued`) no
-- longer rewrites the index entry, a WAL page fewer in most commits of a
-- run. The commits that do not end a run leave `ended_at` out of their
-- `UPDATE`, since SQLite revisits a partial index whenever a column of its
-- `WHERE` is assigned.

DROP INDEX runs_unfinished;
CREATE INDEX runs_unfinished ON runs (created_at, seq) WHERE ended_at IS NULL;

-- Every run made terminal got its `ended_at` in that commit; should one
-- have none, it would now count as unfinished, so give it its start.
UPDATE runs SET ended_at = created_at
    WHERE ended_at IS NULL
    AND status IN ('cancelled', 'failed', 'completed', 'incomplete', 'expired');
