//! Batch bookkeeping of the batch consumer, free of any Kafka client so it is unit-tested:
//! which records wait to be processed, when the batch is due, which offsets to commit, and
//! which processed records wait for a commit that was given up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::client::Revoked;
use super::intake::Consumed;

/// Records collected but not yet processed, in the order they arrived.
#[derive(Debug)]
pub(crate) struct Batch {
    records: Vec<Consumed>,
    capacity: usize,
    max_wait: Duration,
    started: Option<Instant>,
}

impl Batch {
    /// An empty batch that is full at `capacity` records and due `max_wait` after its first.
    pub(crate) fn new(capacity: usize, max_wait: Duration) -> Batch {
        Batch {
            records: Vec::with_capacity(capacity),
            capacity,
            max_wait,
            started: None,
        }
    }

    /// Adds a record; the first one starts the wait.
    pub(crate) fn push(&mut self, record: Consumed, now: Instant) {
        self.started.get_or_insert(now);
        self.records.push(record);
    }

    /// Records waiting.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether the batch should be processed now: full, or its wait is over.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.records.len() >= self.capacity
            || self
                .started
                .is_some_and(|started| now.duration_since(started) >= self.max_wait)
    }

    /// How long a poll may block before the batch is due (`None`: empty, no deadline).
    pub(crate) fn time_left(&self, now: Instant) -> Option<Duration> {
        self.started
            .map(|started| (started + self.max_wait).saturating_duration_since(now))
    }

    /// Drops the records of partitions this consumer no longer owns; they were not processed,
    /// so their offsets were not committed and the partitions' new owner reads them again.
    /// Returns how many were dropped.
    fn forget_partitions(&mut self, partitions: &[i32]) -> usize {
        let before = self.records.len();
        self.records.retain(|r| !partitions.contains(&r.partition));
        if self.records.is_empty() {
            self.started = None;
        }
        before - self.records.len()
    }

    /// Drops the records a rebalance took from this consumer: those of the revoked partitions,
    /// or every record after a rebalance error (which partitions are still ours is unknown).
    /// Returns how many were dropped.
    pub(crate) fn forget_revoked(&mut self, revoked: &Revoked) -> usize {
        if revoked.all {
            self.take().len()
        } else {
            self.forget_partitions(&revoked.partitions)
        }
    }

    /// Takes the records out for processing, leaving an empty batch.
    pub(crate) fn take(&mut self) -> Vec<Consumed> {
        self.started = None;
        std::mem::replace(&mut self.records, Vec::with_capacity(self.capacity))
    }
}

/// The offsets to commit once `records` are processed: per partition, one past the highest
/// offset, i.e. the next record to read.
pub(crate) fn offsets_to_commit(records: &[Consumed]) -> BTreeMap<i32, i64> {
    let mut next = BTreeMap::new();
    for record in records {
        let entry = next.entry(record.partition).or_insert(record.offset + 1);
        *entry = (*entry).max(record.offset + 1);
    }
    next
}

/// A processed batch whose commit was given up (it kept failing for a passing reason): its
/// offsets, to commit before any further batch is processed, so that a crash meanwhile repeats
/// this batch and no other. Commits are cumulative, per partition the next offset to read.
#[derive(Debug, Default)]
pub(crate) struct Uncommitted {
    /// Per partition: the next offset to commit, and how many processed records it covers.
    partitions: BTreeMap<i32, (i64, usize)>,
}

impl Uncommitted {
    /// Adds processed `records` whose commit was given up.
    pub(crate) fn add(&mut self, records: &[Consumed]) {
        for (partition, next) in offsets_to_commit(records) {
            let count = records.iter().filter(|r| r.partition == partition).count();
            let entry = self.partitions.entry(partition).or_insert((next, 0));
            entry.0 = entry.0.max(next);
            entry.1 += count;
        }
    }

    /// Whether no processed record waits for a commit.
    pub(crate) fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// Processed records waiting for a commit: what a crash now would repeat.
    pub(crate) fn len(&self) -> usize {
        self.partitions.values().map(|(_, count)| count).sum()
    }

    /// Per partition, the next offset to commit.
    pub(crate) fn offsets(&self) -> BTreeMap<i32, i64> {
        self.partitions
            .iter()
            .map(|(partition, (next, _))| (*partition, *next))
            .collect()
    }

    /// Forgets partitions this consumer no longer owns: their new owner reads those records
    /// again from the last commit, whatever this consumer commits now.
    pub(crate) fn forget_partitions(&mut self, partitions: &[i32]) {
        self.partitions.retain(|p, _| !partitions.contains(p));
    }

    /// Forgets everything: committed, or no longer this consumer's to commit.
    pub(crate) fn clear(&mut self) {
        self.partitions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::DecodeError;
    use crate::format::{FrameError, User};

    fn record(partition: i32, offset: i64) -> Consumed {
        Consumed {
            partition,
            offset,
            timestamp_ms: None,
            outcome: Ok(User::numbered(offset as u64)),
            stamp: None,
        }
    }

    #[test]
    fn full_batch_is_due_at_capacity() {
        let now = Instant::now();
        let mut batch = Batch::new(3, Duration::from_secs(60));
        assert!(!batch.is_due(now));
        assert_eq!(batch.time_left(now), None);
        batch.push(record(0, 0), now);
        batch.push(record(0, 1), now);
        assert!(!batch.is_due(now));
        batch.push(record(1, 0), now);
        assert!(batch.is_due(now));
        assert_eq!(batch.take().len(), 3);
        assert!(batch.is_empty());
        assert!(!batch.is_due(now));
    }

    #[test]
    fn partial_batch_is_due_after_the_wait_from_its_first_record() {
        let start = Instant::now();
        let mut batch = Batch::new(10, Duration::from_millis(500));
        batch.push(record(0, 0), start);
        batch.push(record(0, 1), start + Duration::from_millis(400));
        assert_eq!(
            batch.time_left(start + Duration::from_millis(400)),
            Some(Duration::from_millis(100))
        );
        assert!(!batch.is_due(start + Duration::from_millis(499)));
        assert!(batch.is_due(start + Duration::from_millis(500)));
        batch.take();
        batch.push(record(0, 2), start + Duration::from_secs(2));
        assert!(!batch.is_due(start + Duration::from_secs(2)));
    }

    #[test]
    fn commit_offsets_are_one_past_the_highest_per_partition() {
        let records = vec![
            record(0, 5),
            record(1, 9),
            record(0, 7),
            record(0, 6),
            record(2, 0),
        ];
        let offsets = offsets_to_commit(&records);
        assert_eq!(
            offsets.into_iter().collect::<Vec<_>>(),
            vec![(0, 8), (1, 10), (2, 1)]
        );
        assert!(offsets_to_commit(&[]).is_empty());
    }

    #[test]
    fn undecodable_records_are_committed_past_too() {
        let records = vec![Consumed {
            partition: 3,
            offset: 41,
            timestamp_ms: None,
            outcome: Err(DecodeError::Frame(FrameError::Missing)),
            stamp: None,
        }];
        assert_eq!(offsets_to_commit(&records).get(&3), Some(&42));
    }

    #[test]
    fn revoked_partitions_are_forgotten_and_never_committed() {
        let now = Instant::now();
        let mut batch = Batch::new(10, Duration::from_secs(1));
        for (p, o) in [(0, 1), (1, 1), (0, 2), (2, 1)] {
            batch.push(record(p, o), now);
        }
        assert_eq!(batch.forget_partitions(&[0, 2]), 3);
        let left = batch.take();
        assert_eq!(left, vec![record(1, 1)]);
        assert_eq!(
            offsets_to_commit(&left).keys().copied().collect::<Vec<_>>(),
            vec![1]
        );
        batch.push(record(0, 3), now);
        assert_eq!(batch.forget_partitions(&[0]), 1);
        assert_eq!(
            batch.time_left(now),
            None,
            "an emptied batch has no deadline"
        );
    }

    #[test]
    fn after_a_rebalance_error_every_buffered_record_is_dropped() {
        let now = Instant::now();
        let mut batch = Batch::new(10, Duration::from_secs(1));
        for (p, o) in [(0, 1), (1, 1), (2, 1), (1, 2)] {
            batch.push(record(p, o), now);
        }
        let error = Revoked {
            partitions: vec![1],
            all: true,
        };
        assert_eq!(batch.forget_revoked(&error), 4);
        assert!(batch.is_empty());
        assert_eq!(batch.time_left(now), None, "nothing left to wait for");
        assert!(
            offsets_to_commit(&batch.take()).is_empty(),
            "nothing to commit"
        );
        // A plain revoke drops only its partitions.
        batch.push(record(0, 2), now);
        batch.push(record(1, 3), now);
        let revoke = Revoked {
            partitions: vec![1],
            all: false,
        };
        assert_eq!(batch.forget_revoked(&revoke), 1);
        assert_eq!(batch.take(), vec![record(0, 2)]);
    }

    #[test]
    fn given_up_commits_are_counted_until_committed_or_revoked() {
        let mut uncommitted = Uncommitted::default();
        assert!(uncommitted.is_empty());
        uncommitted.add(&[record(0, 5), record(1, 9), record(0, 6)]);
        uncommitted.add(&[record(0, 7), record(2, 0)]);
        assert_eq!(uncommitted.len(), 5);
        assert_eq!(
            uncommitted.offsets().into_iter().collect::<Vec<_>>(),
            vec![(0, 8), (1, 10), (2, 1)]
        );
        uncommitted.forget_partitions(&[0]);
        assert_eq!(uncommitted.len(), 2);
        assert_eq!(
            uncommitted.offsets().keys().copied().collect::<Vec<_>>(),
            vec![1, 2]
        );
        uncommitted.clear();
        assert!(uncommitted.is_empty());
        assert_eq!(uncommitted.len(), 0);
    }
}
