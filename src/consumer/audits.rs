//! A consumer's delivery audit: one [`Auditor`] per topic it reads (a producer's stamps
//! number the records of each partition of one topic), fed by (topic, partition).

use std::time::{Duration, Instant};

use crate::audit::{Auditor, FoundStamp, OwnRun};
use crate::ops::stats::ConsumerStats;

use super::client::Revoked;
use super::settings::Tp;

pub(crate) struct Audits<'a>(Vec<Auditor<'a>>);

impl<'a> Audits<'a> {
    /// The audits of a consumer named `name` reading `topics` topics.
    pub(crate) fn new(
        name: &'a str,
        topics: usize,
        grace: Duration,
        stats: &'a ConsumerStats,
        own_run: &'a OwnRun,
    ) -> Audits<'a> {
        Audits(
            (0..topics)
                .map(|_| Auditor::new(name, grace, &stats.audit, own_run))
                .collect(),
        )
    }

    /// Judges one record read (see [`Auditor::handled`]).
    pub(crate) fn handled(
        &mut self,
        tp: Tp,
        offset: i64,
        stamp: &FoundStamp,
        skipped: bool,
        now: Instant,
        now_since_epoch: Duration,
    ) {
        if let Some(auditor) = self.0.get_mut(tp.topic) {
            auditor.handled(tp.partition, offset, stamp, skipped, now, now_since_epoch);
        }
    }

    /// Partitions no longer this consumer's.
    pub(crate) fn revoked(&mut self, revoked: &Revoked) {
        for (topic, auditor) in self.0.iter_mut().enumerate() {
            let partitions: Vec<i32> = revoked
                .partitions
                .iter()
                .filter(|tp| tp.topic == topic)
                .map(|tp| tp.partition)
                .collect();
            if revoked.all || !partitions.is_empty() {
                auditor.revoked(&partitions, revoked.all);
            }
        }
    }

    /// A new member: nothing the old client owned is this consumer's any more.
    pub(crate) fn all_revoked(&mut self) {
        for auditor in &mut self.0 {
            auditor.revoked(&[], true);
        }
    }

    pub(crate) fn tick(&mut self, now: Instant) {
        for auditor in &mut self.0 {
            auditor.tick(now);
        }
    }

    /// The audit's last word at stop: one line for the consumer (its figures are shared by
    /// its topics' auditors).
    pub(crate) fn finish(&mut self, group: &str) {
        let now = Instant::now();
        if let Some((last, others)) = self.0.split_last_mut() {
            for auditor in others {
                auditor.tick(now);
            }
            last.finish(group);
        }
    }
}
