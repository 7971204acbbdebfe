//! What the web console shows, gathered on the HTTP thread from what the loops already keep
//! (the figures, the consumers' partition views and writer-schema counts, the kept records):
//! served as JSON at `/api/status` and drawn as the page at `/`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};

use super::recent_records::{RecentRecords, RecordLine};
use crate::app::metrics::Groups;
use crate::app::ConsumerKind;
use crate::ops::audit_figures::LATENCY_BOUNDS_S;
use crate::ops::build_info::BuildInfo;
use crate::ops::partitions_view::PartitionRow;
use crate::ops::stats::{read, Stats};

/// The daemon's schema as the page shows it: known at start-up, after registration.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SchemaShown {
    pub(crate) subject: String,
    pub(crate) id: u32,
    /// Its version under the subject.
    pub(crate) version: SchemaVersion,
    /// The schema, pretty-printed.
    pub(crate) text: String,
}

/// The schema's version under its subject: asked of the registry once, off the start-up path
/// (a registry that hangs there must not hold up the start systemd waits for); unknown until,
/// and unless, it answers. Serialized as the number or `null`.
#[derive(Debug, Clone, Default)]
pub(crate) struct SchemaVersion(Arc<OnceLock<u32>>);

impl SchemaVersion {
    /// The version, once the registry said it.
    pub(crate) fn get(&self) -> Option<u32> {
        self.0.get().copied()
    }

    /// Records the registry's answer; only the first counts.
    pub(crate) fn set(&self, version: u32) {
        let _ = self.0.set(version);
    }
}

impl Serialize for SchemaVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

/// Everything the console reads that is not a running figure.
#[derive(Debug)]
pub(crate) struct WebConsole {
    pub(crate) topic: String,
    pub(crate) groups: Groups,
    pub(crate) schema: SchemaShown,
    /// Per consumer, in [`ConsumerKind::ALL`]'s order.
    pub(crate) recent: [Arc<RecentRecords>; 2],
    pub(crate) started: Instant,
}

#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub(crate) daemon: DaemonStatus,
    pub(crate) topic: TopicStatus,
    pub(crate) schema: SchemaShown,
    pub(crate) groups: Vec<GroupStatus>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DaemonStatus {
    /// `ready`, `degraded` or `stalled`.
    pub(crate) state: &'static str,
    /// Why not ready, if not.
    pub(crate) why: Option<String>,
    pub(crate) uptime_s: u64,
    pub(crate) version: &'static str,
    pub(crate) librdkafka: String,
    pub(crate) produced: u64,
    pub(crate) delivered: u64,
    pub(crate) delivery_failed: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct TopicStatus {
    pub(crate) name: String,
    pub(crate) partitions: Vec<TopicPartition>,
}

/// A partition of the topic, merged from both consumers' views.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct TopicPartition {
    pub(crate) partition: i32,
    pub(crate) leader: i32,
    pub(crate) low: i64,
    pub(crate) high: i64,
    pub(crate) written_per_s: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct GroupStatus {
    /// `single` or `batch`.
    pub(crate) consumer: &'static str,
    pub(crate) group: String,
    pub(crate) consumed: u64,
    pub(crate) decode_errors: u64,
    /// -1 while unknown.
    pub(crate) lag: i64,
    pub(crate) partitions: Vec<GroupPartition>,
    pub(crate) writer_schemas: Vec<WriterSchema>,
    /// Records naming schemas beyond those counted one by one.
    pub(crate) other_writer_schemas: u64,
    pub(crate) audit: AuditStatus,
    pub(crate) latency: LatencyStatus,
    /// `None` when `CONSOLE_RECORDS` is 0.
    #[serde(serialize_with = "records_as_lines")]
    pub(crate) records: Option<Vec<Arc<RecordLine>>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct GroupPartition {
    pub(crate) partition: i32,
    pub(crate) assigned: bool,
    pub(crate) committed: i64,
    pub(crate) lag: i64,
    pub(crate) fetched_per_s: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct WriterSchema {
    pub(crate) schema: String,
    pub(crate) records: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct AuditStatus {
    pub(crate) audited: u64,
    pub(crate) lost: u64,
    pub(crate) lost_reported_by_producer: u64,
    pub(crate) duplicate_writes: u64,
    pub(crate) out_of_order: u64,
    pub(crate) pending: u64,
    pub(crate) redeliveries: u64,
    pub(crate) skipped: u64,
    pub(crate) unaudited: u64,
}

/// Send-to-handled latency of audited records: counts per bucket (not cumulative), the last
/// one above the last bound.
#[derive(Debug, Serialize)]
pub(crate) struct LatencyStatus {
    pub(crate) bounds_s: Vec<f64>,
    pub(crate) counts: Vec<u64>,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
}

/// Kept records, newest first, serialized as the lines they point to.
fn records_as_lines<S: serde::Serializer>(
    records: &Option<Vec<Arc<RecordLine>>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match records {
        Some(lines) => serializer.collect_seq(lines.iter().map(|line| &**line)),
        None => serializer.serialize_none(),
    }
}

impl WebConsole {
    /// The status now. `not_ready`: why the daemon is not ready (`/readyz`'s answer), if so;
    /// `stalled`: the loops `/healthz` names.
    pub(crate) fn status(
        &self,
        stats: &Stats,
        not_ready: Option<String>,
        stalled: &[&str],
    ) -> Status {
        let (state, why) = if !stalled.is_empty() {
            ("stalled", Some(format!("stalled: {}", stalled.join(", "))))
        } else if let Some(why) = not_ready {
            ("degraded", Some(why.trim_end().to_string()))
        } else {
            ("ready", None)
        };
        let info = BuildInfo::get();
        let views: Vec<Arc<Vec<PartitionRow>>> = ConsumerKind::ALL
            .iter()
            .map(|&kind| stats.consumer(kind).partitions.rows())
            .collect();
        Status {
            daemon: DaemonStatus {
                state,
                why,
                uptime_s: self.started.elapsed().as_secs(),
                version: info.version,
                librdkafka: info.librdkafka.clone(),
                produced: read(&stats.produced),
                delivered: read(&stats.delivered),
                delivery_failed: read(&stats.delivery_failed),
            },
            topic: TopicStatus {
                name: self.topic.clone(),
                partitions: topic_partitions(&self.topic, &views),
            },
            schema: self.schema.clone(),
            groups: ConsumerKind::ALL
                .iter()
                .zip(&views)
                .zip(&self.recent)
                .map(|((&kind, view), recent)| self.group(stats, kind, view, recent))
                .collect(),
        }
    }

    fn group(
        &self,
        stats: &Stats,
        kind: ConsumerKind,
        view: &[PartitionRow],
        recent: &RecentRecords,
    ) -> GroupStatus {
        let c = stats.consumer(kind);
        let (schemas, others) = c.writer_schemas.snapshot();
        let (cumulative, _) = c.audit.latency.cumulative();
        let counts = cumulative
            .iter()
            .scan(0, |before, &total| {
                let count = total - *before;
                *before = total;
                Some(count)
            })
            .collect();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let a = &c.audit;
        GroupStatus {
            consumer: kind.label(),
            group: self.groups.group_of(kind).to_string(),
            consumed: read(&c.consumed),
            decode_errors: read(&c.decode_errors),
            lag: c.lag.load(std::sync::atomic::Ordering::Relaxed),
            partitions: view
                .iter()
                .filter(|row| *row.topic == *self.topic)
                .map(|row| GroupPartition {
                    partition: row.partition,
                    assigned: row.assigned,
                    committed: row.committed,
                    lag: row.lag,
                    fetched_per_s: row.fetched_per_s,
                })
                .collect(),
            writer_schemas: schemas
                .into_iter()
                .map(|(schema, records)| WriterSchema {
                    schema: schema.to_string(),
                    records,
                })
                .collect(),
            other_writer_schemas: others,
            audit: AuditStatus {
                audited: read(&a.audited),
                lost: read(&a.lost),
                lost_reported_by_producer: read(&a.lost_reported_by_producer),
                duplicate_writes: read(&a.duplicate_writes),
                out_of_order: read(&a.out_of_order),
                pending: read(&a.pending),
                redeliveries: read(&a.redeliveries),
                skipped: read(&a.skipped),
                unaudited: read(&a.unaudited),
            },
            latency: LatencyStatus {
                bounds_s: LATENCY_BOUNDS_S.to_vec(),
                counts,
                p50_ms: c.latency.quantile(0.5).map(ms),
                p99_ms: c.latency.quantile(0.99).map(ms),
            },
            records: recent.enabled().then(|| recent.newest_first()),
        }
    }
}

/// The topic's partitions from both consumers' views, each partition a whole row of one view
/// (never fields of two moments): a consumer that fetches it (its figures are current) before
/// one that does not, then the higher high watermark.
fn topic_partitions(topic: &str, views: &[Arc<Vec<PartitionRow>>]) -> Vec<TopicPartition> {
    let mut best: Vec<&PartitionRow> = Vec::new();
    for row in views.iter().flat_map(|view| view.iter()) {
        if *row.topic != *topic {
            continue;
        }
        match best.iter_mut().find(|b| b.partition == row.partition) {
            Some(b) => {
                if (row.assigned, row.high) > (b.assigned, b.high) {
                    *b = row;
                }
            }
            None => best.push(row),
        }
    }
    best.sort_by_key(|row| row.partition);
    best.into_iter()
        .map(|row| TopicPartition {
            partition: row.partition,
            leader: row.leader,
            low: row.low,
            high: row.high,
            written_per_s: row.written_per_s,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_is_one_whole_row_the_fetching_consumers_first() {
        let t = "test-topic-homework-1";
        // The other consumer's old view of p0, and this one's fresh view of it.
        let stale = Arc::new(vec![PartitionRow::seen(
            t,
            0,
            (1, 0, 100),
            false,
            Some(5.0),
        )]);
        let fresh = Arc::new(vec![PartitionRow::seen(t, 0, (2, 50, 90), true, None)]);
        let merged = topic_partitions(t, &[stale, fresh]);
        assert_eq!(
            merged,
            [TopicPartition {
                partition: 0,
                leader: 2,
                low: 50,
                high: 90,
                written_per_s: None
            }]
        );
        // Both fetching (a moment of a rebalance): the higher watermark's row, whole.
        let a = Arc::new(vec![
            PartitionRow::seen(t, 1, (1, 0, 100), true, Some(5.0)),
            PartitionRow::seen("other", 1, (3, 0, 999), true, None),
        ]);
        let b = Arc::new(vec![PartitionRow::seen(t, 1, (2, 7, 200), true, None)]);
        let merged = topic_partitions(t, &[a, b]);
        assert_eq!(
            (merged[0].leader, merged[0].low, merged[0].high),
            (2, 7, 200)
        );
        assert_eq!(merged.len(), 1, "another topic's rows are not the topic's");
    }
}
