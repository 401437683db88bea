//! Guardrails that are pure logic: sliding-window rate limiting, layered login throttling, client-IP resolution behind
//! trusted proxies, the circuit breaker around cluster calls, retry backoff and redaction of
//! secret values. (Store limits and the creation cooldown are checked inside the
//! database transaction that creates a store, see `db`.)

mod backoff;
mod breaker;
mod client_ip;
mod login_guard;
mod rate_limit;
mod redact;

pub use backoff::backoff;
pub use breaker::{BreakerState, CircuitBreaker};
pub use client_ip::{IpNet, client_ip, parse_trusted_proxies};
pub use login_guard::{LoginGuard, LoginLimits, LoginRefusal, TRUST_FOR};
pub use rate_limit::{SlidingWindow, client_key};
pub use redact::{REDACTED, redact, tail};
