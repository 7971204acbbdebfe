//! Figures shared by every loop: counters that only grow, the consumers' lag, and each loop's
//! heartbeat. Written by the loops, read by the stats line, `/metrics`, `/healthz` and the
//! watchdog. Plain relaxed atomics: each figure is independent of the others.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::health::Heartbeat;
use crate::latency::LatencyHistogram;

/// Figures of one daemon run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records handed to the producer's queue.
    pub produced: AtomicU64,
    /// Records the broker acknowledged.
    pub delivered: AtomicU64,
    /// Records whose delivery failed for good.
    pub delivery_failed: AtomicU64,
    /// The producer's send loop.
    pub producer_heartbeat: Heartbeat,
    /// Per consumer, in the order single-message, batch.
    pub consumers: [ConsumerStats; 2],
}

/// Figures of one consumer.
#[derive(Debug)]
pub struct ConsumerStats {
    /// Records decoded and handled.
    pub consumed: AtomicU64,
    /// Messages that could not be decoded and were skipped.
    pub decode_errors: AtomicU64,
    /// Successful offset commits (batch consumer) or stored offsets (single consumer).
    pub commits: AtomicU64,
    /// Messages behind the end of the assigned partitions, from librdkafka statistics;
    /// -1 until known.
    pub lag: AtomicI64,
    /// Produce-to-handled latency of decoded records.
    pub latency: LatencyHistogram,
    /// The consumer's poll loop.
    pub heartbeat: Heartbeat,
}

impl Default for ConsumerStats {
    fn default() -> Self {
        ConsumerStats {
            consumed: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            lag: AtomicI64::new(-1),
            latency: LatencyHistogram::default(),
            heartbeat: Heartbeat::default(),
        }
    }
}

/// Index of the single-message consumer in [`Stats::consumers`].
pub const SINGLE: usize = 0;
/// Index of the batch consumer in [`Stats::consumers`].
pub const BATCH: usize = 1;

impl Stats {
    /// Each loop's name and heartbeat, for liveness checks.
    pub fn heartbeats(&self) -> [(&'static str, &Heartbeat); 3] {
        [
            ("producer", &self.producer_heartbeat),
            ("single-message consumer", &self.consumers[SINGLE].heartbeat),
            ("batch consumer", &self.consumers[BATCH].heartbeat),
        ]
    }
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Reads a counter.
pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
