//! Batch bookkeeping of the batch consumer, free of any Kafka client so it is unit-tested:
//! which records wait to be processed, when the batch is due, which offsets to commit, and
//! which processed records wait for a commit that was given up. Every piece is keyed by
//! (topic, partition): a consumer may read several topics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::client::Revoked;
use super::dead_letter::Original;
use super::intake::{Consumed, Entry};
use super::settings::Tp;
use super::stages::Polled;
use crate::handler::Record;

/// Records collected but not yet processed, in the order they arrived.
#[derive(Debug)]
pub(crate) struct Batch<V> {
    taken: Taken<V>,
    /// The last batch processed, emptied, to collect the next one in: allocating a batch's
    /// vectors afresh each time (about 250 KB of room at `BATCH_SIZE=1000` for `User`
    /// records) made glibc merge the small chunks the last batch's records freed, so the next
    /// batch's records were allocated on malloc's slower path.
    spare: Option<Taken<V>>,
    /// How many times a batch's vectors were allocated afresh.
    #[cfg(test)]
    allocated: usize,
    capacity: usize,
    max_wait: Duration,
    started: Option<Instant>,
}

/// A batch taken out for processing: an entry per message (what to account for and commit)
/// and the decoded records, which the handler gets as one slice.
#[derive(Debug)]
pub(crate) struct Taken<V> {
    pub(crate) entries: Vec<Entry>,
    pub(crate) records: Vec<Record<V>>,
    /// The partition of each of `records`.
    record_tps: Vec<Tp>,
    /// Under `ON_HANDLER_ERROR=dlq`, a copy of the message of each of `records`.
    pub(crate) originals: Vec<Original>,
    /// The records of this batch whose stages are taken (`ops/stages.rs`).
    pub(crate) sampled: Vec<Polled>,
}

/// Sampled records one batch keeps (one per 10 ms at most): a batch collected for long (while
/// a handler is retried) keeps its first ones.
const SAMPLED_AT_MOST: usize = 64;

impl<V> Taken<V> {
    fn with_capacity(capacity: usize) -> Taken<V> {
        Taken {
            entries: Vec::with_capacity(capacity),
            records: Vec::with_capacity(capacity),
            record_tps: Vec::with_capacity(capacity),
            originals: Vec::new(),
            sampled: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops every record, keeping the vectors' room.
    fn clear(&mut self) {
        self.entries.clear();
        self.records.clear();
        self.record_tps.clear();
        self.originals.clear();
        self.sampled.clear();
    }

    /// Gives back room beyond `capacity` records: a batch collected past its size (while a
    /// commit was given up, or a handler retried) is not kept at that size for good.
    fn shrink_to(&mut self, capacity: usize) {
        self.entries.shrink_to(capacity);
        self.records.shrink_to(capacity);
        self.record_tps.shrink_to(capacity);
        self.originals.shrink_to(capacity);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn push(&mut self, consumed: Consumed<V>) {
        if let Some(record) = consumed.record {
            self.record_tps.push(consumed.entry.tp);
            self.records.push(record);
            if let Some(original) = consumed.original {
                self.originals.push(*original);
            }
        }
        self.entries.push(consumed.entry);
    }

    /// Drops the records of `partitions`; returns how many entries were dropped.
    fn forget_partitions(&mut self, partitions: &[Tp]) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !partitions.contains(&e.tp));
        let mut keep = self.record_tps.iter().map(|tp| !partitions.contains(tp));
        self.records.retain(|_| keep.next().unwrap_or(false));
        if !self.originals.is_empty() {
            let mut keep = self.record_tps.iter().map(|tp| !partitions.contains(tp));
            self.originals.retain(|_| keep.next().unwrap_or(false));
        }
        self.record_tps.retain(|tp| !partitions.contains(tp));
        self.sampled
            .retain(|polled| !partitions.contains(&polled.tp()));
        before - self.entries.len()
    }

    /// Drops the records a rebalance took from this consumer: those of the revoked
    /// partitions, or every record after a rebalance error (which partitions are still ours
    /// is unknown). Returns how many were dropped.
    pub(crate) fn forget_revoked(&mut self, revoked: &Revoked) -> usize {
        if revoked.all {
            let dropped = self.entries.len();
            self.clear();
            dropped
        } else {
            self.forget_partitions(&revoked.partitions)
        }
    }
}

impl<V> Batch<V> {
    /// An empty batch that is full at `capacity` records and due `max_wait` after its first.
    pub(crate) fn new(capacity: usize, max_wait: Duration) -> Batch<V> {
        Batch {
            taken: Taken::with_capacity(capacity),
            spare: None,
            #[cfg(test)]
            allocated: 1,
            capacity,
            max_wait,
            started: None,
        }
    }

    /// Adds a message; the first one starts the wait.
    pub(crate) fn push(&mut self, consumed: Consumed<V>, now: Instant) {
        self.started.get_or_insert(now);
        self.taken.push(consumed);
    }

    /// Takes the stages of a record just pushed, unless the batch has enough samples.
    pub(crate) fn push_sampled(&mut self, polled: Polled) {
        if self.taken.sampled.len() < SAMPLED_AT_MOST {
            self.taken.sampled.push(polled);
        }
    }

    /// Messages waiting.
    pub(crate) fn len(&self) -> usize {
        self.taken.len()
    }

    /// Whether nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.taken.is_empty()
    }

    /// Whether the batch should be processed now: full, or its wait is over.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.taken.len() >= self.capacity
            || self
                .started
                .is_some_and(|started| now.duration_since(started) >= self.max_wait)
    }

    /// How long a poll may block before the batch is due (`None`: empty, no deadline).
    pub(crate) fn time_left(&self, now: Instant) -> Option<Duration> {
        self.started
            .map(|started| (started + self.max_wait).saturating_duration_since(now))
    }

    /// Drops the records a rebalance took from this consumer (see [`Taken::forget_revoked`]);
    /// they were not processed, so their offsets were not committed and the partitions' new
    /// owner reads them again. Returns how many were dropped.
    pub(crate) fn forget_revoked(&mut self, revoked: &Revoked) -> usize {
        let dropped = self.taken.forget_revoked(revoked);
        if self.taken.is_empty() {
            self.started = None;
        }
        dropped
    }

    /// Takes the records out for processing, leaving an empty batch (in the vectors of the
    /// batch last given back to [`Batch::recycle`], if any).
    pub(crate) fn take(&mut self) -> Taken<V> {
        self.started = None;
        let empty = self.spare.take().unwrap_or_else(|| {
            #[cfg(test)]
            {
                self.allocated += 1;
            }
            Taken::with_capacity(self.capacity)
        });
        std::mem::replace(&mut self.taken, empty)
    }

    /// Drops the records of a batch taken and processed, keeping its vectors (with room for
    /// a batch's records, no more) for the next.
    pub(crate) fn recycle(&mut self, mut taken: Taken<V>) {
        taken.clear();
        taken.shrink_to(self.capacity);
        self.spare = Some(taken);
    }
}

/// The offsets to commit once `entries` are processed: per partition, one past the highest
/// offset, i.e. the next record to read.
pub(crate) fn offsets_to_commit(entries: &[Entry]) -> BTreeMap<Tp, i64> {
    let mut next = BTreeMap::new();
    for entry in entries {
        let slot = next.entry(entry.tp).or_insert(entry.offset + 1);
        *slot = (*slot).max(entry.offset + 1);
    }
    next
}

/// A processed batch whose commit was given up (it kept failing for a passing reason): its
/// offsets, to commit before any further batch is processed, so that a crash meanwhile repeats
/// this batch and no other. Commits are cumulative, per partition the next offset to read.
#[derive(Debug, Default)]
pub(crate) struct Uncommitted {
    /// Per partition: the next offset to commit, and how many processed records it covers.
    partitions: BTreeMap<Tp, (i64, usize)>,
}

impl Uncommitted {
    /// Adds processed `entries` whose commit was given up.
    pub(crate) fn add(&mut self, entries: &[Entry]) {
        for (tp, next) in offsets_to_commit(entries) {
            let count = entries.iter().filter(|e| e.tp == tp).count();
            let slot = self.partitions.entry(tp).or_insert((next, 0));
            slot.0 = slot.0.max(next);
            slot.1 += count;
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
    pub(crate) fn offsets(&self) -> BTreeMap<Tp, i64> {
        self.partitions
            .iter()
            .map(|(tp, (next, _))| (*tp, *next))
            .collect()
    }

    /// Forgets partitions this consumer no longer owns: their new owner reads those records
    /// again from the last commit, whatever this consumer commits now.
    pub(crate) fn forget_partitions(&mut self, partitions: &[Tp]) {
        self.partitions.retain(|tp, _| !partitions.contains(tp));
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
    use crate::format::{FrameError, SchemaRef, User};

    fn tp(partition: i32) -> Tp {
        Tp {
            topic: 0,
            partition,
        }
    }

    fn entry(partition: i32, offset: i64) -> Entry {
        Entry {
            tp: tp(partition),
            offset,
            timestamp_ms: None,
            error: None,
            stamp: None,
        }
    }

    fn record(partition: i32, offset: i64) -> Consumed<User> {
        Consumed {
            entry: entry(partition, offset),
            record: Some(Record::new(
                "t",
                partition,
                offset,
                SchemaRef::Id(1),
                User::numbered(offset as u64),
            )),
            original: None,
        }
    }

    /// (partition, offset) pairs.
    type Places = Vec<(i32, i64)>;

    /// The (partition, offset) of each entry and of each record of `taken`.
    fn places(taken: &Taken<User>) -> (Places, Places) {
        (
            taken
                .entries
                .iter()
                .map(|e| (e.tp.partition, e.offset))
                .collect(),
            taken
                .records
                .iter()
                .map(|r| (r.partition, r.offset))
                .collect(),
        )
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

    /// A batch given back is emptied, and the batch after next is collected in its vectors,
    /// cut back to the batch's size: no batch's vectors are allocated afresh once two exist,
    /// and one collected past its size (while a commit was given up, or a handler retried) is
    /// not kept so.
    #[test]
    fn a_recycled_batch_is_emptied_and_collects_the_batch_after_next() {
        let now = Instant::now();
        let mut batch = Batch::new(2, Duration::from_secs(60));
        for offset in 0..5 {
            batch.push(record(0, offset), now);
        }
        let first = batch.take();
        batch.recycle(first);
        for offset in 5..7 {
            batch.push(record(1, offset), now);
            let taken = batch.take();
            assert_eq!(places(&taken), (vec![(1, offset)], vec![(1, offset)]));
            assert_eq!(taken.entries.capacity(), 2);
            assert_eq!(taken.records.capacity(), 2);
            batch.recycle(taken);
        }
        assert_eq!(batch.allocated, 2, "the first two batches' vectors only");
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
        let entries = vec![
            entry(0, 5),
            entry(1, 9),
            entry(0, 7),
            entry(0, 6),
            entry(2, 0),
        ];
        let offsets = offsets_to_commit(&entries);
        assert_eq!(
            offsets.into_iter().collect::<Vec<_>>(),
            vec![(tp(0), 8), (tp(1), 10), (tp(2), 1)]
        );
        assert!(offsets_to_commit(&[]).is_empty());
    }

    #[test]
    fn undecodable_records_are_committed_past_too() {
        let entries = vec![Entry {
            error: Some(Box::new(DecodeError::Frame(FrameError::Missing))),
            ..entry(3, 41)
        }];
        assert_eq!(offsets_to_commit(&entries).get(&tp(3)), Some(&42));
    }

    #[test]
    fn revoked_partitions_are_forgotten_and_never_committed() {
        let now = Instant::now();
        let mut batch = Batch::new(10, Duration::from_secs(1));
        for (p, o) in [(0, 1), (1, 1), (0, 2), (2, 1)] {
            batch.push(record(p, o), now);
        }
        let revoke = |partitions: &[i32]| Revoked {
            partitions: partitions.iter().map(|p| tp(*p)).collect(),
            all: false,
        };
        assert_eq!(batch.forget_revoked(&revoke(&[0, 2])), 3);
        let left = batch.take();
        assert_eq!(places(&left), (vec![(1, 1)], vec![(1, 1)]));
        assert_eq!(
            offsets_to_commit(&left.entries)
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![tp(1)]
        );
        batch.push(record(0, 3), now);
        assert_eq!(batch.forget_revoked(&revoke(&[0])), 1);
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
            partitions: vec![tp(1)],
            all: true,
        };
        assert_eq!(batch.forget_revoked(&error), 4);
        assert!(batch.is_empty());
        assert_eq!(batch.time_left(now), None, "nothing left to wait for");
        assert!(
            offsets_to_commit(&batch.take().entries).is_empty(),
            "nothing to commit"
        );
        // A plain revoke drops only its partitions.
        batch.push(record(0, 2), now);
        batch.push(record(1, 3), now);
        let revoke = Revoked {
            partitions: vec![tp(1)],
            all: false,
        };
        assert_eq!(batch.forget_revoked(&revoke), 1);
        assert_eq!(places(&batch.take()), (vec![(0, 2)], vec![(0, 2)]));
    }

    #[test]
    fn given_up_commits_are_counted_until_committed_or_revoked() {
        let mut uncommitted = Uncommitted::default();
        assert!(uncommitted.is_empty());
        uncommitted.add(&[entry(0, 5), entry(1, 9), entry(0, 6)]);
        uncommitted.add(&[entry(0, 7), entry(2, 0)]);
        assert_eq!(uncommitted.len(), 5);
        assert_eq!(
            uncommitted.offsets().into_iter().collect::<Vec<_>>(),
            vec![(tp(0), 8), (tp(1), 10), (tp(2), 1)]
        );
        uncommitted.forget_partitions(&[tp(0)]);
        assert_eq!(uncommitted.len(), 2);
        assert_eq!(
            uncommitted.offsets().keys().copied().collect::<Vec<_>>(),
            vec![tp(1), tp(2)]
        );
        uncommitted.clear();
        assert!(uncommitted.is_empty());
        assert_eq!(uncommitted.len(), 0);
    }
}
