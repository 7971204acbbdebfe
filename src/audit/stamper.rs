//! The producer's side of the audit: a run id per producer start and a sequence number per
//! partition that advances only when librdkafka accepts a record, so a gap a reader finds is
//! a record that was handed over and never arrived.

use std::time::{SystemTime, UNIX_EPOCH};

use super::stamp::{RunId, Stamp, STAMP_LEN};

pub(crate) struct Stamper {
    run: RunId,
    ordered: bool,
    /// Next sequence number per partition, indexed by partition.
    next: Vec<u64>,
}

impl Stamper {
    /// `ordered`: the producer writes with idempotence and `acks=all`.
    pub(crate) fn new(ordered: bool) -> Stamper {
        Stamper {
            run: RunId(uuid::Uuid::new_v4().into_bytes()),
            ordered,
            next: Vec::new(),
        }
    }

    pub(crate) fn run(&self) -> RunId {
        self.run
    }

    /// The stamp of the next record to `partition` (a partition the producer chose, so not
    /// negative), given the producer's count of failed deliveries so far.
    pub(crate) fn stamp(&mut self, partition: i32, failed_deliveries: u64) -> [u8; STAMP_LEN] {
        let sequence = *self.slot(partition);
        let sent_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Stamp {
            run: self.run,
            ordered: self.ordered,
            sequence,
            sent_us,
            failed_deliveries,
        }
        .encode()
    }

    /// librdkafka accepted the record last stamped for `partition`.
    pub(crate) fn accepted(&mut self, partition: i32) {
        *self.slot(partition) += 1;
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
        let mut stamper = Stamper::new(true);
        let seq = |bytes: [u8; STAMP_LEN]| Stamp::parse(&bytes).map(|s| s.sequence);
        assert_eq!(seq(stamper.stamp(2, 0)), Ok(0));
        // Refused (queue full): the same number again.
        assert_eq!(seq(stamper.stamp(2, 0)), Ok(0));
        stamper.accepted(2);
        assert_eq!(seq(stamper.stamp(2, 0)), Ok(1));
        assert_eq!(seq(stamper.stamp(0, 0)), Ok(0));
        let stamp = Stamp::parse(&stamper.stamp(5, 7)).expect("a stamp");
        assert_eq!(
            (stamp.run, stamp.ordered, stamp.failed_deliveries),
            (stamper.run(), true, 7)
        );
        assert_ne!(
            Stamper::new(true).run(),
            stamper.run(),
            "a run id per start"
        );
    }
}
