//! The producer's side of the audit: a run id per producer start and a sequence number per
//! partition that advances only when librdkafka accepts a record, so a gap a reader finds is
//! a record that was handed over and never arrived.

use std::time::{SystemTime, UNIX_EPOCH};

use super::own_run::OwnRun;
use super::stamp::{RunId, Stamp, STAMP_LEN};

pub(crate) struct Stamper<'a> {
    own: &'a OwnRun,
    ordered: bool,
    /// Next sequence number per partition, indexed by partition.
    next: Vec<u64>,
    /// The run's failed deliveries per partition, as of `failures_seen` in all partitions:
    /// refreshed only when that total moves, so a record costs one atomic load.
    failed: Vec<u64>,
    failures_seen: u64,
}

/// One record's stamp and the sequence number in it.
pub(crate) struct Stamped {
    pub(crate) sequence: u64,
    pub(crate) bytes: [u8; STAMP_LEN],
}

impl<'a> Stamper<'a> {
    /// `own`: the run this producer writes, which its delivery reports feed; `ordered`: the
    /// producer writes with idempotence and `acks=all`.
    pub(crate) fn new(own: &'a OwnRun, ordered: bool) -> Stamper<'a> {
        Stamper {
            own,
            ordered,
            next: Vec::new(),
            failed: Vec::new(),
            failures_seen: 0,
        }
    }

    pub(crate) fn run(&self) -> RunId {
        self.own.id()
    }

    /// The stamp of the next record to `partition` (a partition the producer chose, so not
    /// negative), with the run's failed deliveries in that partition so far.
    pub(crate) fn stamp(&mut self, partition: i32) -> Stamped {
        let sequence = *self.slot(partition);
        let failures = self.own.failures();
        if failures != self.failures_seen {
            self.own.failed_per_partition(&mut self.failed);
            self.failures_seen = failures;
        }
        let failed = usize::try_from(partition)
            .ok()
            .and_then(|index| self.failed.get(index))
            .copied()
            .unwrap_or(0);
        let sent_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let bytes = Stamp {
            run: self.own.id(),
            ordered: self.ordered,
            sequence,
            sent_us,
            failed_in_partition: Some(failed),
        }
        .encode();
        Stamped { sequence, bytes }
    }

    /// librdkafka accepted the record last stamped for `partition`. (Numbers stop short of
    /// 2^64−1, which readers refuse; no run gets there.)
    pub(crate) fn accepted(&mut self, partition: i32) {
        let slot = self.slot(partition);
        *slot = slot.saturating_add(1).min(u64::MAX - 1);
    }

    fn slot(&mut self, partition: i32) -> &mut u64 {
        let index = usize::try_from(partition).unwrap_or(0);
        if index >= self.next.len() {
            self.next.resize(index + 1, 0);
        }
        &mut self.next[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_advance_per_partition_only_when_accepted() {
        let own = OwnRun::new(true);
        let mut stamper = Stamper::new(&own, true);
        let seq = |stamped: Stamped| {
            let read = Stamp::parse(&stamped.bytes).map(|s| s.sequence);
            assert_eq!(read, Ok(stamped.sequence));
            stamped.sequence
        };
        assert_eq!(seq(stamper.stamp(2)), 0);
        // Refused (queue full): the same number again.
        assert_eq!(seq(stamper.stamp(2)), 0);
        stamper.accepted(2);
        assert_eq!(seq(stamper.stamp(2)), 1);
        assert_eq!(seq(stamper.stamp(0)), 0);
        let stamp = Stamp::parse(&stamper.stamp(5).bytes).expect("a stamp");
        assert_eq!(
            (stamp.run, stamp.ordered, stamp.failed_in_partition),
            (own.id(), true, Some(0))
        );
        assert_ne!(OwnRun::new(true).id(), own.id(), "a run id per start");
    }

    #[test]
    fn each_stamp_carries_its_partitions_failed_deliveries() {
        let own = OwnRun::new(true);
        let mut stamper = Stamper::new(&own, true);
        let failed = |stamper: &mut Stamper, p| {
            Stamp::parse(&stamper.stamp(p).bytes)
                .expect("a stamp")
                .failed_in_partition
        };
        assert_eq!(failed(&mut stamper, 1), Some(0));
        own.delivery_failed(1, 0);
        own.delivery_failed(1, 1);
        own.delivery_failed(3, 0);
        assert_eq!(failed(&mut stamper, 1), Some(2));
        assert_eq!(failed(&mut stamper, 0), Some(0), "not another partition's");
        assert_eq!(failed(&mut stamper, 3), Some(1));
        assert_eq!(failed(&mut stamper, 7), Some(0));
    }
}
