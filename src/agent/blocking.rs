//! Blocking wrappers (in progress).
