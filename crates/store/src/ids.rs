//! Object ids and timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// The alphanumerics in byte order, so that ids made later sort after.
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Characters of an id that spell the time it was made.
const TIME_DIGITS: usize = 8;

/// Characters of an id after the prefix and underscore, as the API has them.
const ID_DIGITS: usize = 24;

/// A new id: the prefix (`asst`, `thread`, `msg`, ...), an underscore and 24
/// alphanumerics, as the API makes them. The first 8 spell the time in
/// milliseconds (base 62, in byte order) and the other 16 are random (95
/// bits). Ids made later sort after those made before, so a store's index
/// of ids grows at its end: a write touches the pages the last writes
/// touched instead of a random one per index, which keeps a SQLite commit
/// to fewer pages (and its cache warm). Clients see 24 alphanumerics, as
/// from the API.
pub fn new_id(prefix: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut id = String::with_capacity(prefix.len() + 1 + ID_DIGITS);
    id.push_str(prefix);
    id.push('_');
    let mut time = [0u8; TIME_DIGITS];
    let mut rest = millis;
    for digit in time.iter_mut().rev() {
        *digit = DIGITS[(rest % 62) as usize];
        rest /= 62;
    }
    id.extend(time.iter().map(|&b| char::from(b)));
    id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(ID_DIGITS - TIME_DIGITS));
    id
}

/// Unix time in seconds.
pub fn now() -> i64 {
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

    #[test]
    fn later_ids_sort_after() {
        let first = new_id("msg");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id("msg");
        assert!(first < second, "{first} then {second}");
    }
}
