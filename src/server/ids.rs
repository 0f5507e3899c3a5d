//! Object ids and timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// A new id: the prefix (`asst`, `thread`, `msg`, ...), an underscore and 24
/// random alphanumerics, as the API makes them.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 25);
    id.push_str(prefix);
    id.push('_');
    id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(24));
    id
}

/// Unix time in seconds.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_random_suffix() {
        let a = new_id("asst");
        let b = new_id("asst");
        assert!(a.starts_with("asst_") && a.len() == 29, "{a}");
        assert_ne!(a, b);
        assert!(a[5..].chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
