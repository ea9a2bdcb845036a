//! A per-address rate limit (a token bucket per client address), for the requests that cost the
//! server the most when a remote client floods them (`task.add`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses idle this long are forgotten, so the map stays small.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// Allows `per_minute` calls a minute per address, in bursts of up to `per_minute`.
pub struct RateLimiter {
    /// Changed at run time by the `remote_adds_per_minute` setting.
    per_minute: std::sync::atomic::AtomicU32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute: per_minute.into(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Allows `per_minute` calls a minute from now on (buckets fill up to the new bound).
    pub fn set_per_minute(&self, per_minute: u32) {
        self.per_minute
            .store(per_minute, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes one call for `client`, or says how long until one is allowed.
    pub fn try_take(&self, client: IpAddr) -> Result<(), Duration> {
        self.try_take_at(client, Instant::now())
    }

    fn try_take_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute.load(std::sync::atomic::Ordering::Relaxed));
        if capacity == 0.0 {
            return Err(Duration::from_secs(60));
        }
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 4096 {
            buckets.retain(|_, b| now.duration_since(b.at) < FORGET_AFTER);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate_per_address() {
        let limiter = RateLimiter::new(60);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(limiter.try_take_at(a, t0).is_ok());
        }
        let wait = limiter.try_take_at(a, t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        assert!(
            limiter.try_take_at(b, t0).is_ok(),
            "other addresses are not affected"
        );
        assert!(limiter.try_take_at(a, t0 + Duration::from_secs(1)).is_ok());
        assert!(limiter.try_take_at(a, t0 + Duration::from_secs(1)).is_err());
    }
}
