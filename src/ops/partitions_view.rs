//! A consumer's view of its topics' partitions, from librdkafka's statistics (which the
//! consumer receives every `statistics.interval.ms` anyway, for the lag): leader, watermarks,
//! committed offset, lag, whether it is assigned here, and records per second written to the
//! partition (its high watermark's rise) and fetched by this consumer. For the web console:
//! no request to a broker, and the consumer thread only copies a few numbers per partition.

use std::sync::{Arc, Mutex, PoisonError};

use rdkafka::statistics::Statistics;

/// Partitions kept per consumer: a topic with more shows its first ones (the page stays
/// readable and the copy bounded).
pub(crate) const MAX_PARTITIONS: usize = 256;

/// One partition as the consumer last heard of it; -1 where librdkafka does not know.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartitionRow {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) leader: i32,
    pub(crate) low: i64,
    pub(crate) high: i64,
    pub(crate) committed: i64,
    pub(crate) lag: i64,
    /// Assigned to this consumer.
    pub(crate) assigned: bool,
    /// Records written to the partition per second (by anyone), since the last statistics;
    /// known only while assigned here (librdkafka learns the high watermark from fetches).
    pub(crate) written_per_s: Option<f64>,
    /// Records this consumer fetched from it per second, since the last statistics.
    pub(crate) fetched_per_s: Option<f64>,
    /// librdkafka's running count of records fetched, for the next rate.
    fetched_total: u64,
}

#[cfg(test)]
impl PartitionRow {
    /// A row of topic `topic` as a consumer might have seen it.
    pub(crate) fn seen(
        topic: &str,
        partition: i32,
        (leader, low, high): (i32, i64, i64),
        assigned: bool,
        written_per_s: Option<f64>,
    ) -> PartitionRow {
        PartitionRow {
            topic: Arc::from(topic),
            partition,
            leader,
            low,
            high,
            committed: -1,
            lag: -1,
            assigned,
            written_per_s,
            fetched_per_s: None,
            fetched_total: 0,
        }
    }
}

#[derive(Debug, Default)]
struct Latest {
    /// librdkafka's monotonic clock (µs) at these statistics.
    at_us: i64,
    rows: Arc<Vec<PartitionRow>>,
}

/// Written by the consumer thread (in its statistics callback), read by the HTTP thread: the
/// rows are computed outside the lock and swapped in, and a reader takes a reference, so
/// neither holds the lock for more than a pointer copy.
#[derive(Debug, Default)]
pub(crate) struct PartitionsView {
    latest: Mutex<Latest>,
}

impl PartitionsView {
    /// Takes the partitions of `topics` from `statistics`, with rates against the last call.
    pub(crate) fn update(&self, statistics: &Statistics, topics: &[Arc<str>]) {
        let (at_us, before_rows) = {
            let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
            (latest.at_us, Arc::clone(&latest.rows))
        };
        let elapsed_s = (statistics.ts - at_us) as f64 / 1e6;
        let mut rows = Vec::new();
        for topic in topics {
            let Some(stats) = statistics.topics.get(&**topic) else {
                continue;
            };
            let mut partitions: Vec<_> = stats
                .partitions
                .values()
                // -1 is librdkafka's bucket for messages without a partition yet.
                .filter(|p| p.partition >= 0)
                .collect();
            partitions.sort_by_key(|p| p.partition);
            for p in partitions {
                if rows.len() == MAX_PARTITIONS {
                    break;
                }
                // Rates only between two samples of a partition fetched here: another's
                // watermark stands still in these statistics.
                let before = before_rows
                    .iter()
                    .find(|r| r.partition == p.partition && r.topic == *topic)
                    .filter(|before| before.assigned && p.desired);
                let rate = |now: i64, then: i64| {
                    (elapsed_s > 0.0 && now >= 0 && then >= 0 && now >= then)
                        .then(|| (now - then) as f64 / elapsed_s)
                };
                rows.push(PartitionRow {
                    topic: Arc::clone(topic),
                    partition: p.partition,
                    leader: p.leader,
                    low: p.lo_offset,
                    high: p.hi_offset,
                    committed: p.committed_offset,
                    lag: p.consumer_lag,
                    assigned: p.desired,
                    written_per_s: before.and_then(|b| rate(p.hi_offset, b.high)),
                    fetched_per_s: before.and_then(|b| {
                        rate(
                            i64::try_from(p.rxmsgs).unwrap_or(i64::MAX),
                            i64::try_from(b.fetched_total).unwrap_or(i64::MAX),
                        )
                    }),
                    fetched_total: p.rxmsgs,
                });
            }
        }
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Latest {
            at_us: statistics.ts,
            rows: Arc::new(rows),
        };
    }

    /// The partitions as last heard of, in topic and partition order.
    pub(crate) fn rows(&self) -> Arc<Vec<PartitionRow>> {
        Arc::clone(
            &self
                .latest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .rows,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Statistics of one topic `t` of two partitions, p0 assigned here, and librdkafka's
    /// partition -1.
    fn statistics(ts: i64, high: [i64; 2], fetched: [u64; 2]) -> Statistics {
        use rdkafka::statistics::{Partition, Topic};
        let partition = |p: i32, desired: bool| {
            let i = p.max(0) as usize;
            Partition {
                partition: p,
                leader: p + 1,
                desired,
                committed_offset: if desired { high[i] - 2 } else { -1 },
                lo_offset: 0,
                hi_offset: high[i],
                consumer_lag: if desired { 2 } else { -1 },
                rxmsgs: fetched[i],
                ..Partition::default()
            }
        };
        let topic = Topic {
            topic: "t".to_string(),
            partitions: [
                partition(0, true),
                partition(1, false),
                partition(-1, false),
            ]
            .into_iter()
            .map(|p| (p.partition, p))
            .collect(),
            ..Topic::default()
        };
        Statistics {
            ts,
            topics: [("t".to_string(), topic)].into_iter().collect(),
            ..Statistics::default()
        }
    }

    #[test]
    fn partitions_come_with_rates_from_the_second_statistics_on() {
        let view = PartitionsView::default();
        let topics = [Arc::<str>::from("t")];
        view.update(&statistics(1_000_000, [100, 50], [10, 0]), &topics);
        let rows = view.rows();
        assert_eq!(rows.len(), 2, "partition -1 is not a partition: {rows:?}");
        assert_eq!(
            (rows[0].partition, rows[0].leader, rows[0].high),
            (0, 1, 100)
        );
        assert_eq!(
            (rows[0].committed, rows[0].lag, rows[0].assigned),
            (98, 2, true)
        );
        assert_eq!((rows[1].committed, rows[1].assigned), (-1, false));
        assert_eq!(rows[0].written_per_s, None, "no rate from one sample");

        // 5 s later: 500 more records in p0, 400 of them fetched here.
        view.update(&statistics(6_000_000, [600, 50], [410, 0]), &topics);
        let rows = view.rows();
        assert_eq!(rows[0].written_per_s, Some(100.0));
        assert_eq!(rows[0].fetched_per_s, Some(80.0));
        assert_eq!(
            rows[1].written_per_s, None,
            "not fetched here: its watermark is not news"
        );
        // Another topic's statistics leave nothing of this one.
        view.update(
            &statistics(7_000_000, [600, 50], [410, 0]),
            &[Arc::from("other")],
        );
        assert!(view.rows().is_empty());
    }
}
