//! Login throttling in layers, each answering a different attacker:
//!
//! | layer | counts | stops |
//! |---|---|---|
//! | source | attempts per client IP + e-mail | one address guessing one account |
//! | address | failed logins per client IP, any e-mail | one address spraying many accounts |
//! | account | failed logins per e-mail, from any address | many addresses guessing one account |
//! | global | failed logins in total | a botnet spraying many accounts |
//!
//! The account and global layers could be used to lock a victim out, so they never apply to
//! an address the account has logged in from successfully within [`TRUST_FOR`]: the owner
//! keeps getting in from their usual address while an attacker elsewhere is held back. Each
//! refusal says how long to wait. Failures are counted per e-mail whether or not the account
//! exists, so the answers reveal nothing about which accounts exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{SlidingWindow, client_key};

/// How long a successful login exempts its address from the account and global layers.
pub const TRUST_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most remembered (address, account) pairs; beyond it new pairs are not remembered.
const MAX_TRUSTED: usize = 100_000;

/// The limits of each layer (`0` turns a layer off).
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Attempts per address + e-mail per `window`.
    pub per_source: u32,
    /// Failed logins per address per `window`.
    pub failures_per_address: u32,
    /// Failed logins per e-mail per `window`.
    pub failures_per_account: u32,
    pub window: Duration,
    /// Failed logins in total per `global_window`.
    pub global_failures: u32,
    pub global_window: Duration,
}

/// Why a login attempt was refused before its password was checked, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Too many attempts from this address for this e-mail.
    Source(Duration),
    /// Too many failed logins from this address.
    Address(Duration),
    /// Too many failed logins for this e-mail from several addresses.
    Account(Duration),
    /// Too many failed logins across the service.
    Global(Duration),
}

impl LoginRefusal {
    /// How long until an attempt may succeed.
    pub fn wait(self) -> Duration {
        match self {
            Self::Source(wait) | Self::Address(wait) | Self::Account(wait) | Self::Global(wait) => {
                wait
            }
        }
    }
}

/// The four login layers and the memory of addresses each account logged in from.
#[derive(Debug)]
pub struct LoginGuard {
    source: SlidingWindow,
    address: SlidingWindow,
    account: SlidingWindow,
    global: SlidingWindow,
    trusted: Mutex<HashMap<String, Instant>>,
}

const GLOBAL_KEY: &str = "*";

fn pair(ip: IpAddr, email: &str) -> String {
    format!("{}|{email}", client_key(ip))
}

impl LoginGuard {
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            source: SlidingWindow::new(limits.per_source, limits.window),
            address: SlidingWindow::new(limits.failures_per_address, limits.window),
            account: SlidingWindow::new(limits.failures_per_account, limits.window),
            global: SlidingWindow::new(limits.global_failures, limits.global_window),
            trusted: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt by `ip` for `email` (lower-cased) at `now`, or says why it must wait.
    pub fn admit(&self, ip: IpAddr, email: &str, now: Instant) -> Result<(), LoginRefusal> {
        self.source
            .check(&pair(ip, email), now)
            .map_err(LoginRefusal::Source)?;
        self.address
            .peek(&client_key(ip), now)
            .map_err(LoginRefusal::Address)?;
        if !self.trusts(ip, email, now) {
            self.account
                .peek(email, now)
                .map_err(LoginRefusal::Account)?;
            self.global
                .peek(GLOBAL_KEY, now)
                .map_err(LoginRefusal::Global)?;
        }
        Ok(())
    }

    /// Counts a failed login.
    pub fn failed(&self, ip: IpAddr, email: &str, now: Instant) {
        self.address.hit(&client_key(ip), now);
        self.account.hit(email, now);
        self.global.hit(GLOBAL_KEY, now);
    }

    /// Forgets this address's attempts for `email` and trusts it for [`TRUST_FOR`].
    pub fn succeeded(&self, ip: IpAddr, email: &str, now: Instant) {
        let key = pair(ip, email);
        self.source.reset(&key);
        let mut trusted = self.trusted.lock().unwrap_or_else(PoisonError::into_inner);
        if trusted.len() >= MAX_TRUSTED {
            trusted.retain(|_, at| now.saturating_duration_since(*at) < TRUST_FOR);
        }
        if trusted.len() < MAX_TRUSTED || trusted.contains_key(&key) {
            trusted.insert(key, now);
        }
    }

    fn trusts(&self, ip: IpAddr, email: &str, now: Instant) -> bool {
        self.trusted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&pair(ip, email))
            .is_some_and(|at| now.saturating_duration_since(*at) < TRUST_FOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn guard() -> LoginGuard {
        LoginGuard::new(LoginLimits {
            per_source: 100,
            failures_per_address: 5,
            failures_per_account: 3,
            window: 15 * MINUTE,
            global_failures: 10,
            global_window: MINUTE,
        })
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn one_address_spraying_many_accounts_is_stopped() {
        let guard = guard();
        let now = Instant::now();
        for n in 0..5 {
            let email = format!("victim{n}@example.com");
            assert_eq!(guard.admit(ip(1), &email, now), Ok(()));
            guard.failed(ip(1), &email, now);
        }
        assert!(matches!(
            guard.admit(ip(1), "someone-new@example.com", now),
            Err(LoginRefusal::Address(_))
        ));
        assert_eq!(guard.admit(ip(2), "someone-new@example.com", now), Ok(()));
    }

    #[test]
    fn many_addresses_guessing_one_account_are_stopped_but_its_owner_gets_in() {
        let guard = guard();
        let now = Instant::now();
        let owner = ip(200);
        guard.succeeded(owner, "ann@example.com", now);
        for attacker in 1..=3 {
            assert_eq!(guard.admit(ip(attacker), "ann@example.com", now), Ok(()));
            guard.failed(ip(attacker), "ann@example.com", now);
        }
        let refused = guard.admit(ip(4), "ann@example.com", now);
        assert_eq!(refused, Err(LoginRefusal::Account(15 * MINUTE)));
        assert_eq!(
            guard.admit(owner, "ann@example.com", now),
            Ok(()),
            "the address the owner logged in from is not locked out"
        );
        assert_eq!(
            guard.admit(ip(4), "ann@example.com", now + 15 * MINUTE),
            Ok(()),
            "the lock ends with the window"
        );
    }

    #[test]
    fn the_global_budget_spares_trusted_addresses() {
        let guard = guard();
        let now = Instant::now();
        guard.succeeded(ip(200), "ann@example.com", now);
        for n in 0..10u8 {
            let email = format!("u{n}@example.com");
            guard.failed(ip(n), &email, now);
        }
        assert_eq!(
            guard.admit(ip(99), "bob@example.com", now),
            Err(LoginRefusal::Global(MINUTE))
        );
        assert_eq!(guard.admit(ip(200), "ann@example.com", now), Ok(()));
    }
}
