-- One index for a thread's messages instead of two. `messages_by_run`
-- (thread_id, run_id, seq) served only the lists filtered by run, and every
-- message written cost a WAL page in it besides its page in
-- `messages_by_thread`. The index of a thread's messages now carries the
-- run id after the order key: a list filtered by run walks the thread's
-- messages in the window and tests the run id in the index, reading only
-- the rows it returns. A run's messages are the thread's newest, so the
-- usual query (newest first, `run_id` of the run just done) stops after
-- them.

DROP INDEX messages_by_run;
DROP INDEX messages_by_thread;
CREATE INDEX messages_by_thread ON messages (thread_id, seq, run_id);
