//! Produce-to-consume latency: from when a record was sent (its audit stamp's send time, or
//! its timestamp; see `consumer::intake`) to the moment a consumer handles it. Kept in a lock-free log-linear histogram — 8 buckets per
//! power of two of microseconds, so any quantile is exact to within 12.5% — cheap enough for
//! every record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::stats::add_own;

/// How often [`WallClock`] reads the system clock again.
const WALL_CLOCK_REREAD: Duration = Duration::from_secs(1);

/// The wall-clock time (since the Unix epoch) at an `Instant` the consumer loop already read:
/// the system clock is read once a second, not once per record. A wall-clock read per record
/// was a tenth of a consumer thread's CPU at full speed (docs/PERFORMANCE.md, profiles); the
/// price is that a step of the system clock shows in latencies up to a second late.
#[derive(Debug)]
pub(crate) struct WallClock {
    read_at: Instant,
    since_epoch: Duration,
}

impl WallClock {
    pub(crate) fn new() -> WallClock {
        WallClock {
            read_at: Instant::now(),
            since_epoch: system_since_epoch(),
        }
    }

    /// Time since the Unix epoch at `now`.
    pub(crate) fn since_epoch(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.read_at);
        if elapsed >= WALL_CLOCK_REREAD {
            *self = WallClock::new();
            return self.since_epoch;
        }
        self.since_epoch + elapsed
    }
}

/// The system clock's time since the Unix epoch (zero before it).
pub(crate) fn system_since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Sub-buckets per power of two.
const SUB_BUCKETS: usize = 8;
/// Powers of two of microseconds covered: up to 2^40 µs (about 12 days).
const POWERS: usize = 40;
const BUCKETS: usize = POWERS * SUB_BUCKETS;

/// A histogram of latencies.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: Vec<AtomicU64>,
    max_us: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }
}

/// The bucket of a value in microseconds.
fn bucket_of(us: u64) -> usize {
    if us < SUB_BUCKETS as u64 {
        return us as usize;
    }
    let power = 63 - us.leading_zeros() as usize; // us >= 8, so power >= 3
    let sub = ((us >> (power - 3)) & (SUB_BUCKETS as u64 - 1)) as usize;
    ((power - 2) * SUB_BUCKETS + sub).min(BUCKETS - 1)
}

/// The upper bound, in microseconds, of a bucket.
fn upper_bound_of(bucket: usize) -> u64 {
    if bucket < SUB_BUCKETS {
        return bucket as u64;
    }
    let power = bucket / SUB_BUCKETS + 2;
    let sub = (bucket % SUB_BUCKETS) as u64;
    ((SUB_BUCKETS as u64 + sub + 1) << (power - 3)) - 1
}

impl LatencyHistogram {
    /// Records one latency, from any thread.
    pub fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        // A plain load first: a new maximum is rare, a read-modify-write on every record is not.
        if us > self.max_us.load(Ordering::Relaxed) {
            self.max_us.fetch_max(us, Ordering::Relaxed);
        }
    }

    /// Records one latency into a histogram only the calling thread ever records into (a
    /// consumer's, per record): no locked instruction (`ops::stats::bump_own`).
    pub(crate) fn record_own(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        add_own(&self.buckets[bucket_of(us)], 1);
        if us > self.max_us.load(Ordering::Relaxed) {
            self.max_us.store(us, Ordering::Relaxed);
        }
    }

    /// Latencies recorded (summed over the buckets when asked, not counted per record).
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The largest latency recorded.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us.load(Ordering::Relaxed))
    }

    /// The `q`-quantile (0 < q ≤ 1), as the upper bound of its bucket; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (bucket, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let bound = upper_bound_of(bucket).min(self.max_us.load(Ordering::Relaxed));
                return Some(Duration::from_micros(bound));
            }
        }
        Some(self.max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_follows_the_instant_and_rereads_the_system_clock_after_a_second() {
        let mut clock = WallClock::new();
        let start = clock.read_at;
        let at_start = clock.since_epoch(start);
        assert!(at_start.abs_diff(system_since_epoch()) < Duration::from_millis(100));
        let later = start + Duration::from_millis(500);
        assert_eq!(
            clock.since_epoch(later),
            at_start + Duration::from_millis(500)
        );
        // Earlier instants (another loop's) never go before the reading.
        assert_eq!(
            clock.since_epoch(start - Duration::from_millis(5)),
            at_start
        );
        clock.since_epoch(start + WALL_CLOCK_REREAD);
        assert!(clock.read_at > start, "read the system clock again");
    }

    #[test]
    fn every_value_falls_in_a_bucket_whose_bound_is_within_an_eighth() {
        for us in (0..5000u64).chain((1..40).map(|p| (1u64 << p) + 12345 % (1u64 << p))) {
            let bucket = bucket_of(us);
            let bound = upper_bound_of(bucket);
            assert!(bound >= us, "{us} above its bucket bound {bound}");
            assert!(
                bound as f64 <= us as f64 * 1.125 + 1.0,
                "{us}: bound {bound} too loose"
            );
            if bucket > 0 {
                assert!(
                    upper_bound_of(bucket - 1) < us,
                    "{us} belongs in an earlier bucket"
                );
            }
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.max(), Duration::from_millis(100));
        let p50 = h.quantile(0.5).expect("p50").as_micros() as f64;
        let p99 = h.quantile(0.99).expect("p99").as_micros() as f64;
        assert!((50_000.0..=50_000.0 * 1.125).contains(&p50), "p50 {p50}");
        assert!((99_000.0..=100_000.0).contains(&p99), "p99 {p99}");
        assert_eq!(h.quantile(1.0), Some(Duration::from_millis(100)));
    }

    #[test]
    fn huge_latencies_land_in_the_last_bucket() {
        let h = LatencyHistogram::default();
        h.record(Duration::from_secs(u64::MAX / 2));
        assert_eq!(h.count(), 1);
        assert!(h.quantile(0.5).is_some());
    }
}
