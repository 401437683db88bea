//! Guardrails that are pure logic: sliding-window rate limiting and client-IP resolution
//! behind trusted proxies. (Store limits and the creation cooldown are checked inside the
//! database transaction that creates a store, see `db`.)

mod client_ip;
mod rate_limit;

pub use client_ip::{IpNet, client_ip, parse_trusted_proxies};
pub use rate_limit::SlidingWindow;
