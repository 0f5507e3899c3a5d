//! The guides, as rustdoc pages; every Rust example in them is compiled
//! and run as a doc test. Their sources are the markdown files in `docs/`.
