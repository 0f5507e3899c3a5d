//! The embedded server (being written).
