-- Event chunks written from schema version 2 on keep their events
-- compressed, in `body_lz4` (an LZ4 block, its uncompressed size first as a
-- 4-byte little-endian integer), and leave `body` empty. A chunk of streamed
-- deltas is mostly the same JSON keys and ids again and again: compressed,
-- a run's events take a WAL page or two instead of ten or more, which is
-- most of what a streamed run writes. Chunks written before keep `body`,
-- and are read as they are.

ALTER TABLE run_event_chunks ADD COLUMN body_lz4 BLOB;
