//! Per-token request budget over fixed windows (an hour, as Vantage documents, unless
//! `--rate-limit-window` says otherwise), reported on every response through Vantage's
//! `x-rate-limit-*` headers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue};

/// Vantage's window: its limits are per hour.
pub const DEFAULT_WINDOW_SECS: u64 = 3600;

/// Budget key for requests without a known token, so garbage tokens cannot grow the table.
pub const ANONYMOUS: &str = "";

pub struct RateLimiter {
    limit: u32,
    window_secs: u64,
    windows: Mutex<HashMap<String, Window>>,
    /// 429s answered because a budget was spent (not throttle faults), since start or reset.
    throttled: AtomicU64,
}

struct Window {
    start: u64,
    used: u32,
}

/// The budget after one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the window ends and the budget refills.
    pub reset: u64,
    pub exceeded: bool,
}

impl RateLimiter {
    /// `limit` requests per `window_secs` (at least 1) for each key.
    pub fn new(limit: u32, window_secs: u64) -> Self {
        Self {
            limit,
            window_secs: window_secs.max(1),
            windows: Mutex::default(),
            throttled: AtomicU64::new(0),
        }
    }

    /// Spends one request of `key`'s budget. A window opens with the key's first request and
    /// lasts `window_secs`.
    pub fn consume(&self, key: &str, now: u64) -> Quota {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let window = windows.entry(key.to_owned()).or_insert(Window { start: now, used: 0 });
        if now >= window.start + self.window_secs {
            *window = Window { start: now, used: 0 };
        }
        window.used = window.used.saturating_add(1);
        Quota {
            limit: self.limit,
            remaining: self.limit.saturating_sub(window.used),
            reset: window.start + self.window_secs,
            exceeded: window.used > self.limit,
        }
    }

    pub fn clear(&self) {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.throttled.store(0, Ordering::Relaxed);
    }

    /// Counts one 429 answered for a spent budget.
    pub fn record_throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// `GET /_devstack/rate-limit`: the settings and the 429s answered so far.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "limit": self.limit,
            "window_secs": self.window_secs,
            "throttled": self.throttled.load(Ordering::Relaxed),
        })
    }
}

impl Quota {
    /// The same window, as if the budget were spent (throttle faults).
    pub fn exhausted(self) -> Self {
        Self {
            remaining: 0,
            exceeded: true,
            ..self
        }
    }

    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("x-rate-limit-limit", HeaderValue::from(self.limit));
        headers.insert("x-rate-limit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-rate-limit-reset", HeaderValue::from(self.reset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_runs_out_then_refills_next_window() {
        let limiter = RateLimiter::new(2, DEFAULT_WINDOW_SECS);
        let first = limiter.consume("t", 1000);
        assert_eq!(
            first,
            Quota {
                limit: 2,
                remaining: 1,
                reset: 4600,
                exceeded: false
            }
        );
        assert!(!limiter.consume("t", 1001).exceeded);
        let third = limiter.consume("t", 1002);
        assert!(third.exceeded);
        assert_eq!(third.remaining, 0);
        // Other tokens have their own budget.
        assert!(!limiter.consume("u", 1002).exceeded);
        let next_window = limiter.consume("t", 4600);
        assert!(!next_window.exceeded);
        assert_eq!(next_window.reset, 8200);
    }

    #[test]
    fn a_short_window_refills_after_its_seconds() {
        let limiter = RateLimiter::new(1, 3);
        assert_eq!(limiter.consume("t", 100).reset, 103);
        assert!(limiter.consume("t", 102).exceeded);
        let next = limiter.consume("t", 103);
        assert!(!next.exceeded);
        assert_eq!(next.reset, 106);
    }

    #[test]
    fn clear_refills_everyone() {
        let limiter = RateLimiter::new(1, DEFAULT_WINDOW_SECS);
        limiter.consume("t", 0);
        assert!(limiter.consume("t", 0).exceeded);
        limiter.record_throttled();
        assert_eq!(limiter.snapshot()["throttled"], 1);
        limiter.clear();
        assert!(!limiter.consume("t", 0).exceeded);
        assert_eq!(limiter.snapshot()["throttled"], 0);
    }
}
