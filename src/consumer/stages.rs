//! The stages of the records a consumer samples (`ops/stages.rs`), as its loop sees them: taken
//! at the poll, after the decode and after the handler; finished when the offset is committed
//! — by the batch consumer's synchronous commit, or by the auto-commit the single consumer's
//! client reports to its context.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::{Offset, TopicPartitionList};

use super::intake::{stamped_send, Entry};
use super::settings::{Topics, Tp};
use crate::ops::log_target;
use crate::ops::stages::{StageFigures, Times};

/// A sampled record between its poll and its handling.
#[derive(Debug, Clone)]
pub(crate) struct Polled {
    tp: Tp,
    offset: i64,
    sent_to_polled: Option<Duration>,
    polled: Instant,
    decoded: Instant,
}

impl Polled {
    /// `entry` was polled at `polled` (`polled_since_epoch` on the wall clock) and decoded
    /// just now. Its send time is its stamp's, if it has one that agrees with its timestamp:
    /// without one (another producer's record) its first stage is unknown.
    pub(crate) fn new(entry: &Entry, polled: Instant, polled_since_epoch: Duration) -> Polled {
        Polled {
            tp: entry.tp,
            offset: entry.offset,
            sent_to_polled: stamped_send(entry).map(|sent| polled_since_epoch.saturating_sub(sent)),
            polled,
            decoded: Instant::now(),
        }
    }

    pub(crate) fn tp(&self) -> Tp {
        self.tp
    }

    /// The handler returned at `handled`: its stages so far are recorded.
    pub(crate) fn handled(self, handled: Instant, figures: &StageFigures) -> Handled {
        let times = Times {
            sent_to_polled: self.sent_to_polled,
            polled: self.polled,
            decoded: self.decoded,
            handled,
        };
        times.record_handled(figures);
        Handled {
            tp: self.tp,
            offset: self.offset,
            times,
        }
    }
}

/// A sampled record handled, its commit to come.
#[derive(Debug, Clone)]
pub(crate) struct Handled {
    tp: Tp,
    offset: i64,
    times: Times,
}

impl Handled {
    /// Its offset was committed at `committed`: records that stage and logs the record's
    /// stages at `debug`.
    pub(crate) fn committed(
        &self,
        committed: Instant,
        figures: &StageFigures,
        topics: &Topics,
        client: &str,
    ) {
        self.times.record_committed(figures, committed);
        if log::log_enabled!(target: log_target::STAGES, log::Level::Debug) {
            log::debug!(
                target: log_target::STAGES,
                "{client}: stages of {} p={} o={}: {}",
                topics.name(self.tp.topic),
                self.tp.partition,
                self.offset,
                self.times.describe(committed)
            );
        }
    }
}

/// Sampled records handled and stored for the next auto-commit (single consumer): at most
/// [`AWAITING_AT_MOST`] (at 100 samples a second and the default 5 s auto-commit, about 500
/// wait); when full, the oldest is dropped unmeasured. A record whose commit does not come (a
/// failed one, a partition lost) is dropped when its partition is assigned again, or as the
/// oldest: never finished by a later ownership's commit.
#[derive(Debug, Default)]
pub(crate) struct AwaitingCommit(Mutex<VecDeque<Handled>>);

const AWAITING_AT_MOST: usize = 1024;

impl AwaitingCommit {
    pub(crate) fn push(&self, handled: Handled) {
        let mut awaiting = self.lock();
        if awaiting.len() == AWAITING_AT_MOST {
            awaiting.pop_front();
        }
        awaiting.push_back(handled);
    }

    /// Drops the records of `partitions`: assigned anew (what waits there is of an earlier
    /// ownership, whose commit may never come) or lost.
    pub(crate) fn forget(&self, partitions: &[Tp]) {
        let mut awaiting = self.lock();
        if !awaiting.is_empty() {
            awaiting.retain(|handled| !partitions.contains(&handled.tp));
        }
    }

    /// `offsets` were committed at `at` (those without an error of their own): each awaiting
    /// record below its partition's committed offset (the next to read) has its last stage.
    pub(crate) fn committed(
        &self,
        topics: &Topics,
        offsets: &TopicPartitionList,
        at: Instant,
        figures: &StageFigures,
        client: &str,
    ) {
        let mut awaiting = self.lock();
        if awaiting.is_empty() {
            return;
        }
        let committed: Vec<(Tp, i64)> = offsets
            .elements()
            .iter()
            .filter(|e| e.error().is_ok())
            .filter_map(|e| {
                let Offset::Offset(offset) = e.offset() else {
                    return None;
                };
                let tp = Tp {
                    topic: topics.index_of(e.topic())?,
                    partition: e.partition(),
                };
                Some((tp, offset))
            })
            .collect();
        let covered = |h: &Handled| committed.iter().any(|&(tp, o)| h.tp == tp && h.offset < o);
        let (done, waiting): (VecDeque<Handled>, VecDeque<Handled>) =
            std::mem::take(&mut *awaiting)
                .into_iter()
                .partition(covered);
        *awaiting = waiting;
        drop(awaiting);
        for handled in &done {
            handled.committed(at, figures, topics, client);
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Handled>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handled(partition: i32, offset: i64, at: Instant) -> Handled {
        Handled {
            tp: Tp {
                topic: 0,
                partition,
            },
            offset,
            times: Times {
                sent_to_polled: Some(Duration::from_millis(1)),
                polled: at,
                decoded: at,
                handled: at,
            },
        }
    }

    #[test]
    fn a_commit_finishes_the_records_below_its_offset_in_its_partition_only() {
        let topics = Topics::new(&["t".to_string()]);
        let figures = StageFigures::default();
        let awaiting = AwaitingCommit::default();
        let at = Instant::now();
        for (partition, offset) in [(0, 5), (0, 9), (1, 3), (2, 100)] {
            awaiting.push(handled(partition, offset, at));
        }
        let mut offsets = TopicPartitionList::new();
        // Offset 9 is the next to read: 5 is committed, 9 is not.
        offsets
            .add_partition_offset("t", 0, Offset::Offset(9))
            .expect("offset");
        offsets
            .add_partition_offset("t", 1, Offset::Invalid)
            .expect("offset");
        offsets
            .add_partition_offset("other", 2, Offset::Offset(1000))
            .expect("offset");
        awaiting.committed(
            &topics,
            &offsets,
            at + Duration::from_secs(2),
            &figures,
            "c",
        );
        assert_eq!(figures.handled_to_committed.count(), 1);
        assert_eq!(figures.handled_to_committed.max(), Duration::from_secs(2));
        assert_eq!(awaiting.len(), 3);
    }

    /// Full, it drops its oldest: a record whose commit never came cannot hold a place for
    /// good. A partition assigned anew drops what waited there from an earlier ownership, so
    /// a later owner's commit never finishes it.
    #[test]
    fn the_list_is_bounded_and_forgets_partitions_assigned_anew() {
        let topics = Topics::new(&["t".to_string()]);
        let figures = StageFigures::default();
        let awaiting = AwaitingCommit::default();
        let at = Instant::now();
        for offset in 0..AWAITING_AT_MOST as i64 + 10 {
            awaiting.push(handled(0, offset, at));
        }
        assert_eq!(awaiting.len(), AWAITING_AT_MOST);
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset("t", 0, Offset::Offset(10))
            .expect("offset");
        awaiting.committed(&topics, &offsets, at, &figures, "c");
        assert_eq!(figures.handled_to_committed.count(), 0, "0..9 were dropped");
        awaiting.push(handled(1, 3, at));
        awaiting.forget(&[Tp {
            topic: 0,
            partition: 0,
        }]);
        assert_eq!(awaiting.len(), 1);
    }

    /// A commit that failed for one partition finishes the others.
    #[test]
    fn a_partition_whose_commit_failed_is_not_finished() {
        let topics = Topics::new(&["t".to_string()]);
        let figures = StageFigures::default();
        let awaiting = AwaitingCommit::default();
        let at = Instant::now();
        awaiting.push(handled(0, 1, at));
        awaiting.push(handled(1, 1, at));
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset("t", 0, Offset::Offset(5))
            .expect("offset");
        offsets
            .add_partition_offset("t", 1, Offset::Offset(5))
            .expect("offset");
        // librdkafka sets a partition's error in the list it reports; so does this test.
        let list = offsets.ptr();
        // SAFETY: `list` is the live list `offsets` owns; element 1 exists (added above).
        unsafe {
            let element = (*list).elems.add(1);
            (*element).err =
                rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
        }
        awaiting.committed(&topics, &offsets, at, &figures, "c");
        assert_eq!(figures.handled_to_committed.count(), 1);
        assert_eq!(awaiting.len(), 1);
    }
}
