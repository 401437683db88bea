//! A sliding-window limiter: at most `max` hits per key within any `window`. Keys are e.g.
//! a client (see [`client_key`]: an IPv6 client is its /64) or `client|email`. Memory is
//! bounded: at most `max` timestamps per key, idle keys swept as the map grows, and never more
//! than [`MAX_KEYS`] keys — when that many are active at once (a flood from many addresses), a
//! new key replaces an arbitrary one, so memory stays fixed while the flood's own keys churn.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One limiter. `max == 0` disables it.
#[derive(Debug)]
pub struct SlidingWindow {
    max: u32,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// New keys since idle ones were last swept (a sweep walks every key: not on each insert).
    new_keys: std::sync::atomic::AtomicUsize,
}

/// Sweep idle keys whenever the map passes this size.
const SWEEP_AT: usize = 10_000;

/// The most keys one limiter keeps (a few MiB at the largest `max` in use).
pub(super) const MAX_KEYS: usize = 100_000;

/// The key of a client address: an IPv4 address as it is; an IPv6 address as its /64, since
/// one host usually holds a whole /64 and could otherwise use a fresh address per request.
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl SlidingWindow {
    /// A limiter allowing `max` hits per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
            new_keys: std::sync::atomic::AtomicUsize::new(0),
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
        if hits.len() >= SWEEP_AT && !hits.contains_key(key) {
            use std::sync::atomic::Ordering::Relaxed;
            // Sweep idle keys once per SWEEP_AT new keys: linear work spread over as many
            // inserts, so a flood of new keys cannot make every request walk the map.
            if self.new_keys.fetch_add(1, Relaxed) + 1 >= SWEEP_AT {
                self.new_keys.store(0, Relaxed);
                let window = self.window;
                hits.retain(|_, times| {
                    times
                        .back()
                        .is_some_and(|last| now.duration_since(*last) < window)
                });
            }
            if hits.len() >= MAX_KEYS
                && let Some(evicted) = hits.keys().next().cloned()
            {
                hits.remove(&evicted);
            }
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
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let limiter = SlidingWindow::new(5, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..(MAX_KEYS + 50_000) {
            let _ = limiter.check(
                &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
                now,
            );
        }
        let keys = limiter
            .hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        assert!(keys <= MAX_KEYS, "{keys} keys");
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let c: IpAddr = "2001:db8:1:3::1"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(client_key(a), "2001:db8:1:2::/64");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(client_key(mapped), "192.0.2.7");
        assert_eq!(client_key(IpAddr::from([192, 0, 2, 7])), "192.0.2.7");
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
