//! This process's own producer run, shared by the producer and the consumers' audits: its run
//! id, and which of its records the producer's delivery reports said failed for good.
//!
//! A record the audit finds missing is put down to the producer (`lost_reported_by_producer`)
//! only on this evidence: this process's producer reported that exact (run, partition,
//! sequence number) as a failed delivery. The evidence never leaves the process, so no record
//! on the topic can forge it, and a failure in one partition or of another instance's run
//! explains nothing else. What cannot be attributed this way counts as `lost`: a record of
//! another run (another instance's producer, a previous start), a failure reported after its
//! gap's grace period ended, a failure forgotten past [`MAX_FAILED_RANGES`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::stamp::RunId;

/// Ranges of failed sequence numbers remembered; the oldest is forgotten first, so its records
/// count as `lost` if their gap is declared later (erring towards `lost`, never towards
/// "reported"). A failure burst in one partition is one range: its numbers are consecutive.
pub(crate) const MAX_FAILED_RANGES: usize = 256;

/// The producer run of this process.
#[derive(Debug)]
pub(crate) struct OwnRun {
    id: RunId,
    /// The producer writes with idempotence and `acks=all` (this process's configuration): the
    /// audit judges the run's duplicates and reorderings by this, never by a stamp.
    ordered: bool,
    /// Failed deliveries recorded so far, all partitions: one atomic load per record tells
    /// the stamper whether its per-partition counts are stale.
    failures: AtomicU64,
    /// Written by the producer's delivery reports (rare: failures only), read when the audit
    /// declares a loss (rare too). Never on a record's path.
    failed: Mutex<Failed>,
}

#[derive(Debug, Default)]
struct Failed {
    /// Failed sequence numbers, oldest first, at most [`MAX_FAILED_RANGES`].
    ranges: VecDeque<FailedRange>,
    /// Failed deliveries per partition, indexed by partition (the producer's own partitions,
    /// so as long as the topic is wide).
    per_partition: Vec<u64>,
}

/// Numbers `from..to` of the run failed in `partition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FailedRange {
    partition: i32,
    from: u64,
    to: u64,
}

impl OwnRun {
    /// A new run, with a random id; `ordered`: the producer is configured with idempotence
    /// (which needs `acks=all`).
    pub(crate) fn new(ordered: bool) -> OwnRun {
        OwnRun::with_id(RunId(uuid::Uuid::new_v4().into_bytes()), ordered)
    }

    pub(crate) fn with_id(id: RunId, ordered: bool) -> OwnRun {
        OwnRun {
            id,
            ordered,
            failures: AtomicU64::new(0),
            failed: Mutex::new(Failed::default()),
        }
    }

    pub(crate) fn id(&self) -> RunId {
        self.id
    }

    pub(crate) fn ordered(&self) -> bool {
        self.ordered
    }

    /// The producer's delivery report: its record numbered `sequence` in `partition` failed
    /// for good.
    pub(crate) fn delivery_failed(&self, partition: i32, sequence: u64) {
        let Ok(index) = usize::try_from(partition) else {
            // Not a partition the producer chose: nothing to attribute it to.
            return;
        };
        let mut failed = self.lock();
        if index >= failed.per_partition.len() {
            failed.per_partition.resize(index + 1, 0);
        }
        failed.per_partition[index] += 1;
        failed.remember(partition, sequence);
        drop(failed);
        self.failures.fetch_add(1, Ordering::Release);
    }

    /// Failed deliveries so far, all partitions.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    /// Copies the failed deliveries per partition (indexed by partition) into `out`.
    pub(crate) fn failed_per_partition(&self, out: &mut Vec<u64>) {
        let failed = self.lock();
        out.clear();
        out.extend_from_slice(&failed.per_partition);
    }

    /// How many of the numbers `from..to` of `run` in `partition` this process's producer
    /// reported as failed deliveries: none for any other run.
    pub(crate) fn reported_failed(&self, run: RunId, partition: i32, from: u64, to: u64) -> u64 {
        if run != self.id || from >= to {
            return 0;
        }
        let failed = self.lock();
        let reported: u64 = failed
            .ranges
            .iter()
            .filter(|r| r.partition == partition)
            .map(|r| r.to.min(to).saturating_sub(r.from.max(from)))
            .fold(0, u64::saturating_add);
        reported.min(to - from)
    }

    /// A panic elsewhere cannot leave the ranges half-written (each change is one push or one
    /// field), so a poisoned lock is still good.
    fn lock(&self) -> MutexGuard<'_, Failed> {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Failed {
    /// Adds `sequence` to the partition's latest range when it extends it, else as a range of
    /// its own, forgetting the oldest past the bound.
    fn remember(&mut self, partition: i32, sequence: u64) {
        let latest = self
            .ranges
            .iter_mut()
            .rev()
            .find(|r| r.partition == partition);
        if let Some(range) = latest {
            if range.to == sequence {
                range.to = sequence.saturating_add(1);
                return;
            }
            if range.from <= sequence && sequence < range.to {
                return;
            }
        }
        if self.ranges.len() == MAX_FAILED_RANGES {
            self.ranges.pop_front();
        }
        self.ranges.push_back(FailedRange {
            partition,
            from: sequence,
            to: sequence.saturating_add(1),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> OwnRun {
        OwnRun::with_id(RunId([1; 16]), true)
    }

    #[test]
    fn only_the_exact_failed_numbers_of_this_run_and_partition_are_reported() {
        let own = run();
        for s in [5, 6, 7, 20] {
            own.delivery_failed(1, s);
        }
        let id = own.id();
        assert_eq!(own.reported_failed(id, 1, 0, 100), 4);
        assert_eq!(own.reported_failed(id, 1, 6, 8), 2);
        assert_eq!(
            own.reported_failed(id, 1, 8, 20),
            0,
            "numbers around failures"
        );
        assert_eq!(own.reported_failed(id, 0, 0, 100), 0, "another partition");
        assert_eq!(own.reported_failed(id, 2, 5, 8), 0, "another partition");
        assert_eq!(
            own.reported_failed(RunId([2; 16]), 1, 0, 100),
            0,
            "another run (another instance) is never attributed here"
        );
        assert_eq!(own.failures(), 4);
        let mut per_partition = Vec::new();
        own.failed_per_partition(&mut per_partition);
        assert_eq!(per_partition, vec![0, 4]);
        // A negative partition is nobody's.
        own.delivery_failed(-1, 3);
        assert_eq!(own.failures(), 4);
    }

    #[test]
    fn past_the_bound_the_oldest_failures_count_as_lost_never_more_as_reported() {
        let own = run();
        // Every other number fails: one range each.
        for i in 0..(MAX_FAILED_RANGES as u64 + 10) {
            own.delivery_failed(0, i * 2);
        }
        assert_eq!(own.lock().ranges.len(), MAX_FAILED_RANGES);
        let id = own.id();
        assert_eq!(own.reported_failed(id, 0, 0, 20), 0, "forgotten: lost");
        assert_eq!(
            own.reported_failed(id, 0, 0, u64::MAX),
            MAX_FAILED_RANGES as u64
        );
        // A long burst stays one range.
        let burst = run();
        for s in 0..100_000 {
            burst.delivery_failed(2, s);
        }
        assert_eq!(burst.lock().ranges.len(), 1);
        assert_eq!(burst.reported_failed(burst.id(), 2, 10, 20), 10);
    }
}
