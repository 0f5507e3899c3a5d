//! The SQLite store. (Being written.)
