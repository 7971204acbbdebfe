//! Counters shared by every loop: the producer's end-of-run summary, tests and operators read
//! them. Plain relaxed atomics: each counter is independent and only ever grows.

use std::sync::atomic::{AtomicU64, Ordering};

/// Figures of one daemon run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records handed to the producer's queue.
    pub produced: AtomicU64,
    /// Records the broker acknowledged.
    pub delivered: AtomicU64,
    /// Records whose delivery failed for good.
    pub delivery_failed: AtomicU64,
    /// Per consumer, in the order single-message, batch.
    pub consumers: [ConsumerStats; 2],
}

/// Figures of one consumer.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Records decoded and handled.
    pub consumed: AtomicU64,
    /// Messages that could not be decoded and were skipped.
    pub decode_errors: AtomicU64,
    /// Successful offset commits (batch consumer) or stored offsets (single consumer).
    pub commits: AtomicU64,
}

/// Index of the single-message consumer in [`Stats::consumers`].
pub const SINGLE: usize = 0;
/// Index of the batch consumer in [`Stats::consumers`].
pub const BATCH: usize = 1;

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Reads a counter.
pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
