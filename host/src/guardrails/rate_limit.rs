//! A sliding-window limiter: at most `max` hits per key within any `window`. Keys are e.g.
//! `ip` or `ip|email`. Memory is bounded by `max` timestamps per active key; idle keys are
//! swept as the map grows.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One limiter. `max == 0` disables it.
#[derive(Debug)]
pub struct SlidingWindow {
    max: u32,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Sweep idle keys whenever the map passes this size.
const SWEEP_AT: usize = 10_000;

impl SlidingWindow {
    /// A limiter allowing `max` hits per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the limiter is on.
    pub fn enabled(&self) -> bool {
        self.max > 0 && !self.window.is_zero()
    }

    /// Records a hit for `key` at `now` if allowed; otherwise returns how long until the
    /// oldest hit leaves the window.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        self.with_key(key, now, |times| {
            self.wait(times, now)?;
            times.push_back(now);
            Ok(())
        })
    }

    /// Whether a hit for `key` would be allowed at `now`, without recording one.
    pub fn peek(&self, key: &str, now: Instant) -> Result<(), Duration> {
        self.with_key(key, now, |times| self.wait(times, now))
    }

    /// Records a hit for `key` at `now` unconditionally (e.g. a failure after an admitted
    /// attempt). Only the newest `max` hits are kept: older ones cannot change the answer.
    pub fn hit(&self, key: &str, now: Instant) {
        let _ = self.with_key(key, now, |times| {
            if times.len() >= self.max as usize {
                times.pop_front();
            }
            times.push_back(now);
            Ok(())
        });
    }

    fn wait(&self, times: &VecDeque<Instant>, now: Instant) -> Result<(), Duration> {
        if times.len() >= self.max as usize {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(self
                .window
                .saturating_sub(now.duration_since(oldest))
                .max(Duration::from_secs(1)));
        }
        Ok(())
    }

    /// Runs `f` on `key`'s hits inside the window; a no-op when the limiter is off.
    fn with_key(
        &self,
        key: &str,
        now: Instant,
        f: impl FnOnce(&mut VecDeque<Instant>) -> Result<(), Duration>,
    ) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        if hits.len() >= SWEEP_AT {
            let window = self.window;
            hits.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < window)
            });
        }
        let times = hits.entry(key.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|first| now.duration_since(*first) >= self.window)
        {
            times.pop_front();
        }
        f(times)
    }

    /// Forgets `key` (e.g. after a successful login).
    pub fn reset(&self, key: &str) {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_per_window_then_reports_the_wait() {
        let limiter = SlidingWindow::new(2, Duration::from_secs(60));
        let start = Instant::now();
        assert!(limiter.check("k", start).is_ok());
        assert!(limiter.check("k", start + Duration::from_secs(10)).is_ok());
        let wait = limiter.check("k", start + Duration::from_secs(20));
        assert_eq!(wait, Err(Duration::from_secs(40)));
        assert!(
            limiter.check("other", start).is_ok(),
            "keys are independent"
        );
        assert!(
            limiter.check("k", start + Duration::from_secs(61)).is_ok(),
            "the window slides"
        );
    }

    #[test]
    fn peek_does_not_count_and_hit_always_counts() {
        let limiter = SlidingWindow::new(2, Duration::from_secs(60));
        let now = Instant::now();
        assert!((0..10).all(|_| limiter.peek("k", now).is_ok()));
        limiter.hit("k", now);
        limiter.hit("k", now);
        limiter.hit("k", now);
        assert_eq!(limiter.peek("k", now), Err(Duration::from_secs(60)));
    }

    #[test]
    fn zero_disables() {
        let limiter = SlidingWindow::new(0, Duration::from_secs(60));
        let now = Instant::now();
        assert!((0..1000).all(|_| limiter.check("k", now).is_ok()));
    }

    #[test]
    fn reset_forgets_a_key() {
        let limiter = SlidingWindow::new(1, Duration::from_secs(60));
        let now = Instant::now();
        assert!(limiter.check("k", now).is_ok());
        assert!(limiter.check("k", now).is_err());
        limiter.reset("k");
        assert!(limiter.check("k", now).is_ok());
    }
}
