//! Figures shared by every loop: counters that only grow, the consumers' lag, and each loop's
//! heartbeat. Written by the loops, read by the stats line, `/metrics`, `/healthz` and the
//! watchdog. Plain relaxed atomics: each figure is independent of the others.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::audit_figures::AuditFigures;
use super::health::{Heartbeat, WaitClock};
use super::latency::LatencyHistogram;
use super::partitions_view::PartitionsView;
use super::stages::StageFigures;
use super::writer_schemas::WriterSchemaCounts;

/// Figures of one daemon run.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Records handed to the producer's queue.
    pub(crate) produced: AtomicU64,
    /// Records the broker acknowledged. Written by the producer's poll thread for every
    /// record, so on cache lines of its own: beside `produced`, which the sending thread writes
    /// for every record, each write took the line from the other thread's core.
    pub(crate) delivered: OwnLines<AtomicU64>,
    /// Records whose delivery failed for good.
    pub(crate) delivery_failed: AtomicU64,
    /// Records that found the producer's local queue full and waited for room.
    pub(crate) queue_full: AtomicU64,
    /// Send-to-acknowledged time of one delivered record in 64 of each partition
    /// (`producer/delivery.rs`, a stage of `ops/stages.rs`).
    pub(crate) acknowledged: LatencyHistogram,
    /// The producer's send loop.
    pub(crate) producer_heartbeat: Heartbeat,
    /// Per consumer of the daemon, in the order `app/consumer_kind.rs` gives them.
    pub(crate) consumers: [ConsumerStats; 2],
}

/// Figures of one consumer. Written by that consumer's loop, on its thread only (the
/// per-record figures count with [`bump_own`]); read by any.
#[derive(Debug)]
pub(crate) struct ConsumerStats {
    /// Records decoded and handled.
    pub(crate) consumed: AtomicU64,
    /// Messages that could not be decoded and were skipped.
    pub(crate) decode_errors: AtomicU64,
    /// Successful synchronous commits, one per batch (batch consumer).
    pub(crate) commits: AtomicU64,
    /// Offsets stored for auto-commit, one per handled record (single consumer).
    pub(crate) offsets_stored: AtomicU64,
    /// Records buffered or in a commit under way (batch consumer): what a stop cut short now
    /// would leave uncommitted, to be read again after a restart.
    pub(crate) uncommitted: AtomicU64,
    /// Messages behind the end of the assigned partitions, from librdkafka statistics;
    /// -1 until known.
    pub(crate) lag: AtomicI64,
    /// Produce-to-handled latency of decoded records.
    pub(crate) latency: LatencyHistogram,
    /// Where sampled records' time went, stage by stage.
    pub(crate) stages: StageFigures,
    /// The consumer's poll loop.
    pub(crate) heartbeat: Heartbeat,
    /// How long the consumer has been waiting for the registry to answer for a record.
    pub(crate) registry_wait: WaitClock,
    /// How long the consumer's handler has been failing on one record or batch.
    pub(crate) handler_wait: WaitClock,
    /// Since when the batch consumer holds a commit given up on (failing, or unanswered by a
    /// hung coordinator): no batch is processed meanwhile.
    pub(crate) commit_wait: WaitClock,
    /// Since when the consumer waits for a dead-letter copy's acknowledgement (from its first
    /// failed or unacknowledged attempt): its offset cannot move before.
    pub(crate) dead_letter_wait: WaitClock,
    /// The delivery audit of the group's records.
    pub(crate) audit: AuditFigures,
    /// Its topics' partitions, from librdkafka's statistics (the web console).
    pub(crate) partitions: PartitionsView,
    /// The writer schemas its records named (the web console).
    pub(crate) writer_schemas: WriterSchemaCounts,
}

impl Default for ConsumerStats {
    fn default() -> Self {
        ConsumerStats {
            consumed: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            offsets_stored: AtomicU64::new(0),
            uncommitted: AtomicU64::new(0),
            lag: AtomicI64::new(-1),
            latency: LatencyHistogram::default(),
            stages: StageFigures::default(),
            heartbeat: Heartbeat::default(),
            registry_wait: WaitClock::default(),
            handler_wait: WaitClock::default(),
            commit_wait: WaitClock::default(),
            dead_letter_wait: WaitClock::default(),
            audit: AuditFigures::default(),
            partitions: PartitionsView::default(),
            writer_schemas: WriterSchemaCounts::default(),
        }
    }
}

impl ConsumerStats {
    /// What the `commits` figure of the stats line and `/metrics` shows: commits of the batch
    /// consumer, offset stores of the single consumer (each consumer only moves one of them;
    /// the operator-visible name predates the split).
    pub(crate) fn commits_figure(&self) -> u64 {
        read(&self.commits) + read(&self.offsets_stored)
    }
}

/// A value on cache lines no other value shares: 128 bytes, since processors fetch lines in
/// adjacent pairs. For a figure one thread writes per record while another thread writes
/// its neighbours per record as well. (crossbeam-utils' `CachePadded` does the same; it is not
/// a dependency of ours, and this is all that is needed of it.)
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct OwnLines<T>(T);

impl<T> std::ops::Deref for OwnLines<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds one to a figure only one thread ever writes — a consumer's figures, written by its
/// loop's thread alone: a plain load and store instead of a locked read-modify-write. A
/// consumer moves several such figures per record, and the locked instructions were most of
/// the daemon's own time in the audit and the accounting (docs/PERFORMANCE.md). Readers on
/// other threads still see whole values, each figure only growing.
pub(crate) fn bump_own(counter: &AtomicU64) {
    add_own(counter, 1);
}

/// Adds `n` to a figure only one thread writes, as [`bump_own`]; wraps as `fetch_add` would.
pub(crate) fn add_own(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Adds `n`, stopping at `u64::MAX` rather than wrapping (forged input can ask for nearly
/// 2^64 at once).
pub(crate) fn add_saturating(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_add(n))
    });
}

pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 128-byte blocks `field` covers within `stats`.
    fn blocks<T>(stats: &Stats, field: &T) -> std::ops::RangeInclusive<usize> {
        let start = field as *const T as usize - stats as *const Stats as usize;
        start / 128..=(start + std::mem::size_of::<T>() - 1) / 128
    }

    /// The poll thread's per-record figure shares no 128-byte block with what the sending
    /// thread writes per record, nor with either consumer's figures.
    #[test]
    fn delivered_is_on_lines_of_its_own() {
        let stats = Stats::default();
        let delivered = blocks(&stats, &*stats.delivered);
        let others = [
            blocks(&stats, &stats.produced),
            blocks(&stats, &stats.queue_full),
            blocks(&stats, &stats.producer_heartbeat),
            blocks(&stats, &stats.consumers[0]),
            blocks(&stats, &stats.consumers[1]),
        ];
        for other in others {
            assert!(
                delivered.end() < other.start() || other.end() < delivered.start(),
                "delivered in {delivered:?}, another figure in {other:?}"
            );
        }
    }

    #[test]
    fn a_saturating_add_stops_at_the_top_instead_of_wrapping() {
        let lost = AtomicU64::new(5);
        add_saturating(&lost, u64::MAX - 10);
        assert_eq!(read(&lost), u64::MAX - 5);
        // Two forged gaps of nearly 2^64 each: still the largest count, not a small one.
        add_saturating(&lost, u64::MAX - 1);
        add_saturating(&lost, u64::MAX - 1);
        assert_eq!(read(&lost), u64::MAX);
    }
}
