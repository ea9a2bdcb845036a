//! Locking out an address that keeps presenting wrong tokens: after
//! [`crate::config::LOCKOUT_FAILURES`] failures in a row it is refused, without even a token
//! comparison, until its lockout expires. A success clears its count.
//!
//! What counts as one address: an IPv4 address, or an IPv6 /64 (the smallest prefix a host is
//! usually given: one machine can take any of its 2^64 addresses, so keying single IPv6
//! addresses would give an attacker 2^64 fresh counts). An IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`, what a dual-stack socket reports) is its IPv4 address.
//!
//! Bounded in memory and time, whoever sends the wrong tokens:
//! - every record expires: a lockout when it ends, a count of wrong tokens `duration` after the
//!   last one. An expiry queue in deadline order (the duration is one constant, so the order of
//!   pushes is the order of deadlines) lets each call drop what has expired, amortized O(1),
//!   never a scan of the whole table;
//! - at most [`MAX_TRACKED`] addresses are remembered. Nothing is ever forgotten early (that
//!   would unlock a locked-out address, or reset a count, for whoever filled the table): when
//!   the table is full, every address it does not know shares one overflow record, counted and
//!   locked out like a single address. A flood from many /64s thus gets no more guesses than
//!   one address would, and the price, new clients refused while the overflow is locked out,
//!   lasts only as long as the flood.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most (roughly 150 bytes each with their queue entries: about 10 MiB).
pub const MAX_TRACKED: usize = 65_536;

/// What one lockout record stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// An IPv4 address or an IPv6 /64 (the prefix, its host bits zero).
    Address(IpAddr),
    /// Every address not in the table while it is full.
    Overflow,
}

/// A lockout in force: for how much longer, and on whom (for the refusal's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    pub left: Duration,
    /// `198.51.100.7`, `2001:db8:1:2::/64`, or the addresses the full table does not know.
    pub who: String,
}

impl Key {
    fn describe(self) -> String {
        match self {
            Key::Address(ip @ IpAddr::V4(_)) => ip.to_string(),
            Key::Address(prefix) => format!("{prefix}/64"),
            Key::Overflow => "addresses not seen before (too many addresses are presenting \
                              wrong tokens)"
                .to_owned(),
        }
    }
}

pub struct Lockout {
    failures_allowed: u32,
    duration: Duration,
    max_tracked: usize,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    records: HashMap<Key, Record>,
    /// `(deadline, key)` in deadline order; an entry whose record has a later deadline (it
    /// failed again since) or is gone (it succeeded) is stale and skipped.
    expiries: VecDeque<(Instant, Key)>,
}

struct Record {
    failures: u32,
    /// When this record is forgotten: the end of its lockout, or `duration` after its last
    /// wrong token.
    deadline: Instant,
    locked: bool,
}

/// The key an address is counted under: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by
/// its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl Lockout {
    /// `duration` is clamped to a year (the settings allow far less), so that no deadline can
    /// overflow an `Instant`.
    pub fn new(failures_allowed: u32, duration: Duration) -> Lockout {
        Lockout::with_capacity(failures_allowed, duration, MAX_TRACKED)
    }

    fn with_capacity(failures_allowed: u32, duration: Duration, max_tracked: usize) -> Lockout {
        Lockout {
            failures_allowed: failures_allowed.max(1),
            duration: duration.min(Duration::from_secs(365 * 24 * 3600)),
            max_tracked: max_tracked.max(1),
            table: Mutex::new(Table::default()),
        }
    }

    /// How long `ip` stays locked out, if it is.
    pub fn remaining(&self, ip: IpAddr) -> Option<Locked> {
        let now = Instant::now();
        let mut table = self.lock();
        table.expire(now);
        let key = table.key_for(ip, self.max_tracked);
        let record = table.records.get(&key)?;
        record.locked.then(|| Locked {
            left: record.deadline.saturating_duration_since(now),
            who: key.describe(),
        })
    }

    /// Records a wrong token from `ip`; returns the lockout it now earns, if any.
    pub fn fail(&self, ip: IpAddr) -> Option<Locked> {
        let now = Instant::now();
        let deadline = self.deadline(now);
        let mut table = self.lock();
        table.expire(now);
        let key = table.key_for(ip, self.max_tracked);
        let record = table.records.entry(key).or_insert(Record {
            failures: 0,
            deadline,
            locked: false,
        });
        if record.locked {
            // Already locked out (a comparison that began before the lockout): it stands as is.
            return Some(Locked {
                left: record.deadline.saturating_duration_since(now),
                who: key.describe(),
            });
        }
        record.failures += 1;
        record.deadline = deadline;
        let locked = record.failures >= self.failures_allowed;
        record.locked = locked;
        table.expiries.push_back((deadline, key));
        table.compact_if_needed();
        if !locked {
            return None;
        }
        match key {
            Key::Address(prefix) => tracing::warn!(
                %ip, %prefix, seconds = self.duration.as_secs(),
                "locked out after repeated wrong tokens"
            ),
            Key::Overflow => tracing::warn!(
                %ip, tracked = self.max_tracked, seconds = self.duration.as_secs(),
                "too many addresses presenting wrong tokens: every address not yet known is \
                 locked out"
            ),
        }
        Some(Locked {
            left: self.duration,
            who: key.describe(),
        })
    }

    /// A right token from `ip`: its count starts over. (A locked-out address never gets this
    /// far: its token is not even compared.)
    pub fn succeed(&self, ip: IpAddr) {
        let mut table = self.lock();
        let key = Key::Address(address_key(ip));
        if table.records.get(&key).is_some_and(|r| !r.locked) {
            table.records.remove(&key);
        }
    }

    /// Records held now, expired or not.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().records.len()
    }

    fn deadline(&self, now: Instant) -> Instant {
        // `new` bounds the duration, so this cannot fail; were it to, a far deadline is right.
        now.checked_add(self.duration)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Table {
    /// The record `ip` is counted under: its own while known or while there is room, else the
    /// shared overflow record.
    fn key_for(&self, ip: IpAddr, max_tracked: usize) -> Key {
        let key = Key::Address(address_key(ip));
        let own = self.records.contains_key(&key);
        let room = self.addresses() < max_tracked;
        if own || room {
            key
        } else {
            Key::Overflow
        }
    }

    fn addresses(&self) -> usize {
        self.records.len() - usize::from(self.records.contains_key(&Key::Overflow))
    }

    /// Forgets every record whose deadline has passed.
    fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, key)) = self.expiries.front() {
            if deadline > now {
                break;
            }
            self.expiries.pop_front();
            if self.records.get(&key).is_some_and(|r| r.deadline <= now) {
                self.records.remove(&key);
            }
        }
    }

    /// Stale entries (an address that failed again, or succeeded) can pile up in the queue:
    /// when they outnumber the records, it is rebuilt from the records, so it stays within
    /// twice the table (the rebuild costs as much as the pushes that made it necessary).
    fn compact_if_needed(&mut self) {
        if self.expiries.len() <= 2 * self.records.len() + 16 {
            return;
        }
        let mut live: Vec<(Instant, Key)> =
            self.records.iter().map(|(k, r)| (r.deadline, *k)).collect();
        live.sort_by_key(|(deadline, _)| *deadline);
        self.expiries = live.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

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

    #[test]
    fn ipv6_is_keyed_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            address_key(v6("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            v6("2001:db8:1:2::")
        );
        assert_eq!(
            address_key(v6("::ffff:198.51.100.7")),
            v6("198.51.100.7"),
            "IPv4-mapped IPv6 is its IPv4 address"
        );
        assert_eq!(address_key(v6("198.51.100.7")), v6("198.51.100.7"));

        // 10,000 wrong tokens, each from another address of one /64: locked out after 5.
        let lockout = Lockout::new(5, Duration::from_secs(300));
        let mut outcomes = Vec::new();
        for n in 0..10_000u128 {
            let ip = IpAddr::V6(Ipv6Addr::from(
                0x2001_0db8_0001_0002u128 << 64 | (n * 7919 + 1),
            ));
            outcomes.push(match lockout.remaining(ip) {
                Some(_) => "locked",
                None => match lockout.fail(ip) {
                    Some(_) => "wrong, now locked",
                    None => "wrong",
                },
            });
        }
        assert_eq!(outcomes[..4], ["wrong"; 4]);
        assert_eq!(outcomes[4], "wrong, now locked");
        assert!(outcomes[5..].iter().all(|o| *o == "locked"));
        assert_eq!(lockout.len(), 1, "one record for the whole /64");
        // Its neighbour /64, and the same IPv4 address mapped or not, are counted apart.
        assert_eq!(lockout.remaining(v6("2001:db8:1:3::1")), None);
        let mapped = v6("::ffff:198.51.100.7");
        for _ in 0..5 {
            lockout.fail(mapped);
        }
        let locked = lockout.remaining(v6("198.51.100.7")).unwrap();
        assert_eq!(locked.who, "198.51.100.7");
        let locked = lockout.remaining(v6("2001:db8:1:2:ffff::")).unwrap();
        assert_eq!(locked.who, "2001:db8:1:2::/64");
    }

    #[test]
    fn expired_records_are_forgotten_without_a_full_scan() {
        let lockout = Lockout::new(5, Duration::from_millis(100));
        for n in 0..1000u32 {
            lockout.fail(IpAddr::from(n.to_be_bytes()));
        }
        assert_eq!(lockout.len(), 1000);
        std::thread::sleep(Duration::from_millis(150));
        // Any call drops what has expired.
        assert_eq!(lockout.remaining("10.9.9.9".parse().unwrap()), None);
        assert_eq!(lockout.len(), 0, "expired counts are forgotten");
        // Locked-out records go when their lockout ends.
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..5 {
            lockout.fail(ip);
        }
        assert_eq!(lockout.len(), 1);
        std::thread::sleep(Duration::from_millis(150));
        lockout.fail("10.0.0.2".parse().unwrap());
        assert_eq!(lockout.len(), 1, "only the new count is left");
        assert_eq!(lockout.table.lock().unwrap().expiries.len(), 1);
    }

    #[test]
    fn the_expiry_queue_stays_within_twice_the_table() {
        let lockout = Lockout::new(1_000_000, Duration::from_secs(300));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..100_000 {
            lockout.fail(ip);
        }
        assert_eq!(lockout.len(), 1);
        assert!(lockout.table.lock().unwrap().expiries.len() <= 2 + 16);
    }

    #[test]
    fn a_full_table_never_unlocks_anyone_and_strangers_share_one_record() {
        let lockout = Lockout::with_capacity(5, Duration::from_secs(300), 100);
        let victim: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..5 {
            lockout.fail(victim);
        }
        // A half-way count, which filling the table must not reset either.
        let guesser: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..4 {
            assert_eq!(lockout.fail(guesser), None);
        }
        // An attacker fills the table from many addresses (and /64s), and goes on.
        for n in 0..10_000u32 {
            let ip = IpAddr::from((0x0b00_0000 + n).to_be_bytes());
            if lockout.remaining(ip).is_none() {
                lockout.fail(ip);
            }
            let ip = IpAddr::V6(Ipv6Addr::from(u128::from(n) << 64 | 1));
            if lockout.remaining(ip).is_none() {
                lockout.fail(ip);
            }
        }
        assert_eq!(lockout.len(), 101, "100 addresses and the overflow record");
        assert!(lockout.remaining(victim).is_some(), "still locked out");
        assert!(
            lockout.fail(guesser).is_some(),
            "its count was kept: the 5th wrong token locks it out"
        );
        // Strangers were counted as one: the overflow is locked out after 5 of theirs, so
        // a new address is refused too, until the flood's lockout ends.
        assert!(lockout.remaining("192.0.2.1".parse().unwrap()).is_some());
        // Addresses the table knows are not refused for the overflow's sake.
        let known: IpAddr = IpAddr::from(0x0b00_0000u32.to_be_bytes());
        assert!(lockout.remaining(known).is_none());
    }

    #[test]
    fn a_huge_duration_does_not_panic() {
        let lockout = Lockout::new(1, Duration::from_secs(u64::MAX));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(lockout.fail(ip).is_some());
        assert!(lockout.remaining(ip).is_some());
    }
}
