//! One group's audit figures, written by its consumer loop (on its thread only) and read by the
//! stats line, `/metrics` and the `audit:` summary at stop. Counters only grow (Prometheus
//! counters).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::stats::{add_own, read};

/// Upper bounds, in seconds, of the send-to-handled latency histogram's buckets (Prometheus
/// `le`), from a healthy cluster's milliseconds to a backlog's minutes.
pub(crate) const LATENCY_BOUNDS_S: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Debug, Default)]
pub(crate) struct AuditFigures {
    /// Stamped records judged and handled (redeliveries not included).
    pub(crate) audited: AtomicU64,
    /// Records read but not handled: undecodable, and passed by `ON_DECODE_ERROR=skip`
    /// (stamped or not; redeliveries not included). Their sequence numbers are not missing,
    /// so they are never `lost`, but they are not `audited` either: a skipped record reached
    /// the group and was dropped there.
    pub(crate) skipped: AtomicU64,
    /// Handled records without a readable stamp (other producers; malformed stamps too).
    pub(crate) unaudited: AtomicU64,
    /// Records with a `kad.audit` header that is not a readable stamp.
    pub(crate) malformed: AtomicU64,
    /// Records declared lost that the producer had not reported as failed deliveries.
    pub(crate) lost: AtomicU64,
    /// Records declared lost that the producer had reported as failed deliveries.
    pub(crate) lost_reported_by_producer: AtomicU64,
    /// Sequence numbers seen again at a new offset, from an idempotent `acks=all` producer.
    pub(crate) duplicate_writes: AtomicU64,
    /// Sequence numbers that came after a higher one, from an idempotent `acks=all` producer.
    pub(crate) out_of_order: AtomicU64,
    /// Duplicates and reorderings from producers without idempotence or `acks=all`, which
    /// at-least-once writing allows: reported, not faults.
    pub(crate) tolerated: AtomicU64,
    /// Offsets this process handled again.
    pub(crate) redeliveries: AtomicU64,
    /// Missing numbers still within the grace period (a gauge).
    pub(crate) pending: AtomicU64,
    pub(crate) latency: SendLatency,
}

impl AuditFigures {
    /// The figures of the `audit:` line at stop.
    pub(crate) fn summary(&self) -> String {
        format!(
            "audited={} skipped={} lost={} lost_reported_by_producer={} duplicate_writes={} out_of_order={} tolerated={} redeliveries={} pending={} unaudited={} malformed={}",
            read(&self.audited),
            read(&self.skipped),
            read(&self.lost),
            read(&self.lost_reported_by_producer),
            read(&self.duplicate_writes),
            read(&self.out_of_order),
            read(&self.tolerated),
            read(&self.redeliveries),
            read(&self.pending),
            read(&self.unaudited),
            read(&self.malformed),
        )
    }
}

/// Send-to-handled latency of stamped records, in fixed buckets, as Prometheus wants a
/// histogram: cumulative counts are computed when read.
#[derive(Debug, Default)]
pub(crate) struct SendLatency {
    /// Per bound of [`LATENCY_BOUNDS_S`], then one for above the last.
    buckets: [AtomicU64; LATENCY_BOUNDS_S.len() + 1],
    sum_us: AtomicU64,
}

impl SendLatency {
    pub(crate) fn record(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let bucket = LATENCY_BOUNDS_S
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BOUNDS_S.len());
        // The consumer's thread is the only writer (`ops::stats::bump_own`).
        add_own(&self.buckets[bucket], 1);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        add_own(&self.sum_us, us);
    }

    /// Cumulative counts per bound (the last is `+Inf`, the total count) and the sum in seconds.
    pub(crate) fn cumulative(&self) -> ([u64; LATENCY_BOUNDS_S.len() + 1], f64) {
        let mut out = [0u64; LATENCY_BOUNDS_S.len() + 1];
        let mut total = 0u64;
        for (slot, bucket) in out.iter_mut().zip(&self.buckets) {
            total += read(bucket);
            *slot = total;
        }
        (out, read(&self.sum_us) as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_cumulative_buckets() {
        let latency = SendLatency::default();
        for ms in [1, 5, 6, 200, 400_000] {
            latency.record(Duration::from_millis(ms));
        }
        let (counts, sum) = latency.cumulative();
        assert_eq!(counts[0], 2, "1 ms and 5 ms are <= 0.005 s");
        assert_eq!(counts[1], 3);
        assert_eq!(counts[5], 4, "200 ms <= 0.25 s");
        assert_eq!(counts[LATENCY_BOUNDS_S.len() - 1], 4);
        assert_eq!(counts[LATENCY_BOUNDS_S.len()], 5, "+Inf holds them all");
        assert!((sum - 400.212).abs() < 1e-6, "{sum}");
    }
}
