//! Locking out an address that keeps presenting wrong tokens: after
//! [`crate::config::LOCKOUT_FAILURES`] failures in a row it is refused, without even a token
//! comparison, until its lockout expires. A success clears its count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most; beyond it, the ones not locked out are forgotten first.
const MAX_TRACKED: usize = 65_536;

pub struct Lockout {
    failures_allowed: u32,
    duration: Duration,
    records: Mutex<HashMap<IpAddr, Record>>,
}

#[derive(Default)]
struct Record {
    failures: u32,
    locked_until: Option<Instant>,
}

impl Lockout {
    pub fn new(failures_allowed: u32, duration: Duration) -> Lockout {
        Lockout {
            failures_allowed,
            duration,
            records: Mutex::new(HashMap::new()),
        }
    }

    /// How long `ip` stays locked out, if it is.
    pub fn remaining(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut records = self.lock();
        let record = records.get_mut(&ip)?;
        match record.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                // Expired: a fresh start.
                records.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Records a wrong token from `ip`; returns the lockout it now earns, if any.
    pub fn fail(&self, ip: IpAddr) -> Option<Duration> {
        let mut records = self.lock();
        if records.len() >= MAX_TRACKED {
            records.retain(|_, r| r.locked_until.is_some());
        }
        let record = records.entry(ip).or_default();
        record.failures += 1;
        if record.failures >= self.failures_allowed {
            record.locked_until = Some(Instant::now() + self.duration);
            tracing::warn!(%ip, seconds = self.duration.as_secs(), "locked out after repeated wrong tokens");
            return Some(self.duration);
        }
        None
    }

    /// A right token from `ip`: its count starts over.
    pub fn succeed(&self, ip: IpAddr) {
        self.lock().remove(&ip);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_out_until_expiry_and_success_resets() {
        let lockout = Lockout::new(5, Duration::from_millis(200));
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        for _ in 0..4 {
            assert_eq!(lockout.fail(ip), None);
        }
        lockout.succeed(ip);
        for _ in 0..4 {
            assert_eq!(lockout.fail(ip), None);
        }
        assert!(lockout.fail(ip).is_some());
        assert!(lockout.remaining(ip).is_some());
        assert_eq!(lockout.remaining("10.0.0.8".parse().unwrap()), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(lockout.remaining(ip), None);
        assert_eq!(lockout.fail(ip), None, "the count started over");
    }
}
