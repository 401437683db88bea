//! Circuit breaker around cluster calls (pure logic; the caller passes the clock). Closed: calls
//! go through and consecutive transient failures are counted; at the threshold it opens. Open:
//! calls are refused until the reset timeout passes, so jobs wait instead of failing. Half-open:
//! one trial call at a time; its success closes the breaker, its failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker's state, as exported in metrics and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// 0 closed, 1 half-open, 2 open (the metric's value).
    pub fn as_gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_running: bool },
}

/// A thread-safe circuit breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    reset_after: Duration,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures; tries again after `reset_after`.
    pub fn new(threshold: u32, reset_after: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            reset_after,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// May a call go ahead now? `Err(wait)` says how long to wait before asking again.
    pub fn permit(&self, now: Instant) -> Result<(), Duration> {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } if now < until => Err(until - now),
            Inner::Open { .. } => {
                *inner = Inner::HalfOpen {
                    trial_running: true,
                };
                Ok(())
            }
            Inner::HalfOpen {
                trial_running: true,
            } => Err(self.reset_after.min(Duration::from_secs(1))),
            Inner::HalfOpen {
                trial_running: false,
            } => {
                *inner = Inner::HalfOpen {
                    trial_running: true,
                };
                Ok(())
            }
        }
    }

    /// A call succeeded: close.
    pub fn record_success(&self) {
        *self.lock() = Inner::Closed { failures: 0 };
    }

    /// A call failed transiently: count, and open at the threshold (at once when half-open).
    pub fn record_failure(&self, now: Instant) {
        let mut inner = self.lock();
        let failures = match *inner {
            Inner::Closed { failures } => failures + 1,
            Inner::HalfOpen { .. } => self.threshold,
            Inner::Open { .. } => return,
        };
        *inner = if failures >= self.threshold {
            Inner::Open {
                until: now + self.reset_after,
            }
        } else {
            Inner::Closed { failures }
        };
    }

    /// A permitted call ended without saying anything about the cluster (e.g. cancelled).
    pub fn record_neutral(&self) {
        let mut inner = self.lock();
        if let Inner::HalfOpen { .. } = *inner {
            *inner = Inner::HalfOpen {
                trial_running: false,
            };
        }
    }

    /// The current state (open turns half-open only when a call asks).
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_closes_after_a_good_trial() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        breaker.record_failure(t0);
        breaker.record_failure(t0);
        assert_eq!(breaker.permit(t0), Ok(()));
        breaker.record_failure(t0);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(
            breaker.permit(t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        // After the reset timeout one trial goes through; others wait for it.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(breaker.permit(later), Ok(()));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.permit(later).is_err());
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.permit(later), Ok(()));
    }

    #[test]
    fn a_failed_trial_opens_again_and_success_resets_the_count() {
        let breaker = CircuitBreaker::new(2, Duration::from_secs(5));
        let t0 = Instant::now();
        breaker.record_failure(t0);
        breaker.record_success();
        breaker.record_failure(t0);
        assert_eq!(
            breaker.state(),
            BreakerState::Closed,
            "the count restarts after a success"
        );
        breaker.record_failure(t0);
        assert_eq!(breaker.state(), BreakerState::Open);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(breaker.permit(later), Ok(()));
        breaker.record_failure(later);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.permit(later + Duration::from_secs(1)).is_err());
    }
}
