//! When a failed request is tried again, and after how long.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::time::Duration;

/// The longest wait a server may ask for in `retry-after(-ms)` before the
/// client prefers its own backoff (a wait of minutes is better reported than slept).
const MAX_SERVER_DELAY: Duration = Duration::from_secs(60);

/// Exponential backoff with jitter, bounded by a number of retries.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_millis(500);
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(8);

    /// Whether an answer with this status (and these headers) is worth another try.
    ///
    /// The server's `x-should-retry` header, when present, decides.
    pub fn retries_status(status: StatusCode, headers: &HeaderMap) -> bool {
        match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
            Some("true") => return true,
            Some("false") => return false,
            _ => {}
        }
        matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error()
    }

    /// The wait before retry number `retry` (0-based): the server's
    /// `retry-after-ms` or `retry-after` (seconds) when given and sane,
    /// otherwise `initial × 2^retry`, capped, minus up to 25 % jitter.
    pub fn delay(&self, retry: u32, headers: Option<&HeaderMap>) -> Duration {
        if let Some(delay) = headers.and_then(server_delay) {
            return delay;
        }
        let factor = 2u32.saturating_pow(retry.min(30));
        let base = self
            .initial_delay
            .saturating_mul(factor)
            .min(self.max_delay);
        base.mul_f64(1.0 - 0.25 * fastrand::f64())
    }
}

/// The wait the server asked for, if it asked for a sane one.
fn server_delay(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let delay = if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        ms / 1000.0
    } else {
        header("retry-after").and_then(|v| v.parse::<f64>().ok())?
    };
    (delay.is_finite() && delay >= 0.0)
        .then(|| Duration::from_secs_f64(delay))
        .filter(|delay| *delay <= MAX_SERVER_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            initial_delay: RetryPolicy::DEFAULT_INITIAL_DELAY,
            max_delay: RetryPolicy::DEFAULT_MAX_DELAY,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let policy = policy();
        for retry in 0..10 {
            let delay = policy.delay(retry, None);
            let base = Duration::from_millis(500)
                .saturating_mul(1 << retry)
                .min(Duration::from_secs(8));
            assert!(
                delay <= base && delay >= base.mul_f64(0.75),
                "{retry}: {delay:?}"
            );
        }
        assert!(policy.delay(u32::MAX, None) <= Duration::from_secs(8));
    }

    #[test]
    fn server_headers_win() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(policy().delay(0, Some(&headers)), Duration::from_secs(2));
        headers.insert("retry-after-ms", HeaderValue::from_static("15"));
        assert_eq!(policy().delay(0, Some(&headers)), Duration::from_millis(15));
        headers.insert("retry-after-ms", HeaderValue::from_static("9999999"));
        assert!(policy().delay(0, Some(&headers)) <= Duration::from_millis(500));
        let mut headers = HeaderMap::new();
        headers.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert!(policy().delay(0, Some(&headers)) <= Duration::from_millis(500));
    }

    #[test]
    fn retried_statuses() {
        let none = HeaderMap::new();
        for status in [408, 409, 429, 500, 502, 503, 504] {
            assert!(RetryPolicy::retries_status(
                StatusCode::from_u16(status).unwrap(),
                &none
            ));
        }
        for status in [400, 401, 403, 404, 422] {
            assert!(!RetryPolicy::retries_status(
                StatusCode::from_u16(status).unwrap(),
                &none
            ));
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-should-retry", HeaderValue::from_static("false"));
        assert!(!RetryPolicy::retries_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            &headers
        ));
    }
}
