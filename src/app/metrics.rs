//! The daemon's figures as operators read them: the one-line `stats:` summary for the log and
//! the Prometheus text for `/metrics`. Metric names, labels and `stats:` fields are part of the
//! interface: README.md lists them and a test holds the two together.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::app::ConsumerKind;
use crate::config::Config;
use crate::ops::audit_figures::{AuditFigures, LATENCY_BOUNDS_S};
use crate::ops::build_info::BuildInfo;
use crate::ops::health::WaitClock;
use crate::ops::latency::LatencyHistogram;
use crate::ops::stats::{read, ConsumerStats, Stats};

/// The consumer groups, to label per-consumer figures.
#[derive(Debug, Clone)]
pub(crate) struct Groups {
    single: String,
    batch: String,
}

impl Groups {
    pub(crate) fn of(config: &Config) -> Groups {
        Groups {
            single: config.single_group_id.clone(),
            batch: config.batch_group_id.clone(),
        }
    }

    /// The group of `kind`.
    pub(crate) fn group_of(&self, kind: ConsumerKind) -> &str {
        match kind {
            ConsumerKind::Single => &self.single,
            ConsumerKind::Batch => &self.batch,
        }
    }

    /// Each consumer with its label and group.
    fn each(&self) -> [(ConsumerKind, &'static str, &str); 2] {
        ConsumerKind::ALL.map(|kind| (kind, kind.label(), self.group_of(kind)))
    }
}

/// The periodic log line: `stats: produced=… delivered=… …`.
pub(crate) fn stats_line(stats: &Stats, groups: &Groups) -> String {
    let mut line = format!(
        "stats: produced={} delivered={} failed={}",
        read(&stats.produced),
        read(&stats.delivered),
        read(&stats.delivery_failed)
    );
    for (consumer, kind, group) in groups.each() {
        let c = stats.consumer(consumer);
        let lag = c.lag.load(Ordering::Relaxed);
        let _ = write!(
            line,
            " | {kind} ({group}): consumed={} decode_errors={} skipped={} commits={} lag={} latency_p99={} lost={} duplicate_writes={} out_of_order={} redeliveries={}",
            read(&c.consumed),
            read(&c.decode_errors),
            read(&c.audit.skipped),
            c.commits_figure(),
            if lag < 0 {
                "unknown".to_string()
            } else {
                lag.to_string()
            },
            c.latency
                .quantile(0.99)
                .map_or("none".to_string(), |d| format!("{d:?}")),
            read(&c.audit.lost),
            read(&c.audit.duplicate_writes),
            read(&c.audit.out_of_order),
            read(&c.audit.redeliveries),
        );
    }
    line
}

/// One of a consumer's wait clocks.
type WaitOf = fn(&ConsumerStats) -> &WaitClock;

/// The figures in the Prometheus text exposition format.
pub(crate) fn prometheus_text(stats: &Stats, groups: &Groups) -> String {
    let mut out = Exposition::default();
    build_info_family(&mut out);
    producer_families(&mut out, stats);
    consumer_families(&mut out, stats, groups);
    audit_families(&mut out, stats, groups);
    loop_idle_family(&mut out, stats);
    out.text
}

/// One sample of a family: what follows the family's name (labels, and for a histogram the
/// sample's suffix before them) and the value.
type Sample = (String, String);

/// Prometheus text being written, one family at a time.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// Writes one family: its help, its type and its samples.
    fn family(&mut self, name: &str, kind: &str, help: &str, samples: &[Sample]) {
        let out = &mut self.text;
        let _ = writeln!(out, "# HELP kafka_avro_daemon_{name} {help}");
        let _ = writeln!(out, "# TYPE kafka_avro_daemon_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "kafka_avro_daemon_{name}{labels} {value}");
        }
    }
}

/// A single sample without labels.
fn plain(value: u64) -> Vec<Sample> {
    vec![(String::new(), value.to_string())]
}

/// One sample per consumer, labelled with the consumer and its group.
fn per_consumer(groups: &Groups, value: impl Fn(ConsumerKind) -> String) -> Vec<Sample> {
    groups
        .each()
        .iter()
        .map(|(consumer, kind, group)| {
            (
                format!("{{consumer=\"{kind}\",group=\"{}\"}}", escape(group)),
                value(*consumer),
            )
        })
        .collect()
}

fn build_info_family(out: &mut Exposition) {
    let build = BuildInfo::get();
    out.family(
        "build_info",
        "gauge",
        "Always 1; the labels say what runs: the daemon's and librdkafka's versions and librdkafka's built-in features.",
        &[(
            format!(
                "{{version=\"{}\",librdkafka=\"{}\",features=\"{}\"}}",
                escape(build.version),
                escape(&build.librdkafka),
                escape(&build.features)
            ),
            "1".to_string(),
        )],
    );
}

fn producer_families(out: &mut Exposition, stats: &Stats) {
    out.family(
        "produced_total",
        "counter",
        "Records handed to the producer queue.",
        &plain(read(&stats.produced)),
    );
    out.family(
        "delivered_total",
        "counter",
        "Records acknowledged by the brokers.",
        &plain(read(&stats.delivered)),
    );
    out.family(
        "delivery_failed_total",
        "counter",
        "Records whose delivery failed.",
        &plain(read(&stats.delivery_failed)),
    );
    out.family(
        "producer_queue_full_total",
        "counter",
        "Records that found the producer's local queue full and waited for room (never dropped).",
        &plain(read(&stats.queue_full)),
    );
    out.family(
        "acknowledged_seconds",
        "gauge",
        "Send-to-acknowledged time quantiles of one delivered record in 64 of each partition (by audit sequence number, each partition's first included), from its audit stamp's send time to its delivery report; 0 until one is sampled.",
        &quantiles(&stats.acknowledged, ""),
    );
}

fn consumer_families(out: &mut Exposition, stats: &Stats, groups: &Groups) {
    out.family(
        "consumed_total",
        "counter",
        "Records decoded and handled.",
        &per_consumer(groups, |i| read(&stats.consumer(i).consumed).to_string()),
    );
    out.family(
        "decode_errors_total",
        "counter",
        "Undecodable messages skipped.",
        &per_consumer(groups, |i| {
            read(&stats.consumer(i).decode_errors).to_string()
        }),
    );
    out.family(
        "commits_total",
        "counter",
        "Offset commits (batch) or offset stores (single).",
        &per_consumer(groups, |i| stats.consumer(i).commits_figure().to_string()),
    );
    out.family(
        "consumer_lag",
        "gauge",
        "Messages behind the partitions' ends (-1: not known yet).",
        &per_consumer(groups, |i| {
            stats.consumer(i).lag.load(Ordering::Relaxed).to_string()
        }),
    );
    // The waits readiness reports (`/readyz`), each a clock of the consumer's.
    let waits: [(&str, &str, WaitOf); 4] = [
        (
            "registry_wait_seconds",
            "Seconds the consumer has been waiting for the registry to give a writer schema (0: not waiting).",
            |stats| &stats.registry_wait,
        ),
        (
            "handler_wait_seconds",
            "Seconds the consumer's handler has been failing on one record or batch, retried (0: not failing).",
            |stats| &stats.handler_wait,
        ),
        (
            "commit_wait_seconds",
            "Seconds the batch consumer has held a commit given up on, failing or unanswered, processing no batch (0: none held).",
            |stats| &stats.commit_wait,
        ),
        (
            "dead_letter_wait_seconds",
            "Seconds the consumer has been waiting for a dead-letter copy's acknowledgement, from its first failed or unacknowledged attempt (0: not waiting).",
            |stats| &stats.dead_letter_wait,
        ),
    ];
    for (name, help, clock) in waits {
        let waited = |i| format!("{:.3}", clock(stats.consumer(i)).waited().as_secs_f64());
        out.family(name, "gauge", help, &per_consumer(groups, waited));
    }
    out.family(
        "latency_seconds",
        "gauge",
        "Produce-to-handled latency quantiles since start, from the audit stamp's send time when it agrees with the record's timestamp within 1 s (else the timestamp); 0 until a record is handled.",
        &latency_quantiles(stats, groups),
    );
    out.family(
        "stage_seconds",
        "gauge",
        "Where sampled records' time went (at most one record per 10 ms per consumer), by stage: sent_to_polled (from the audit stamp's send time, for records whose stamp agrees with their timestamp within 1 s), polled_to_decoded, decoded_to_handled (the batch consumer's wait for its batch to fill included), handled_to_committed (for the single consumer, the wait for the next successful auto-commit included); quantiles since start, 0 until a record is sampled.",
        &stage_quantiles(stats, groups),
    );
}

/// Each consumer's produce-to-handled latency at the median, the 99th percentile and the top.
fn latency_quantiles(stats: &Stats, groups: &Groups) -> Vec<Sample> {
    let mut latencies = Vec::new();
    for (consumer, kind, group) in groups.each() {
        let labels = format!("consumer=\"{kind}\",group=\"{}\",", escape(group));
        latencies.extend(quantiles(&stats.consumer(consumer).latency, &labels));
    }
    latencies
}

/// Each consumer's stages of its sampled records (`ops/stages.rs`), as [`latency_quantiles`].
fn stage_quantiles(stats: &Stats, groups: &Groups) -> Vec<Sample> {
    let mut stages = Vec::new();
    for (consumer, kind, group) in groups.each() {
        for (stage, histogram) in stats.consumer(consumer).stages.named() {
            let labels = format!(
                "consumer=\"{kind}\",group=\"{}\",stage=\"{stage}\",",
                escape(group)
            );
            stages.extend(quantiles(histogram, &labels));
        }
    }
    stages
}

/// The median, the 99th percentile and the top of `histogram` in seconds (0 while empty),
/// labelled with `labels` (each followed by a comma) and the quantile.
fn quantiles(histogram: &LatencyHistogram, labels: &str) -> Vec<Sample> {
    [("0.5", 0.5), ("0.99", 0.99), ("1", 1.0)]
        .iter()
        .map(|&(label, q)| {
            let seconds = histogram.quantile(q).map_or(0.0, |d| d.as_secs_f64());
            (
                format!("{{{labels}quantile=\"{label}\"}}"),
                format!("{seconds:.6}"),
            )
        })
        .collect()
}

fn audit_families(out: &mut Exposition, stats: &Stats, groups: &Groups) {
    type Counter = fn(&AuditFigures) -> &AtomicU64;
    let audit_counters: [(&str, &str, Counter); 10] = [
        ("audit_audited_total", "Stamped records the delivery audit judged and the consumer handled (redeliveries not included).", |a| &a.audited),
        ("audit_skipped_total", "Records read but not handled: undecodable and passed by ON_DECODE_ERROR=skip (never counted lost, never audited).", |a| &a.skipped),
        ("audit_lost_total", "Records lost: a sequence number still missing after AUDIT_LOSS_GRACE_S that this process's producer had not reported as a failed delivery.", |a| &a.lost),
        ("audit_lost_reported_by_producer_total", "Records lost whose delivery this process's producer had reported as failed.", |a| &a.lost_reported_by_producer),
        ("audit_duplicate_writes_total", "Sequence numbers seen again at a new offset, from an idempotent acks=all producer.", |a| &a.duplicate_writes),
        ("audit_out_of_order_total", "Sequence numbers that came after a higher one, from an idempotent acks=all producer.", |a| &a.out_of_order),
        ("audit_tolerated_total", "Duplicates and reorderings from producers without idempotence or acks=all (allowed there).", |a| &a.tolerated),
        ("audit_redeliveries_total", "Offsets this process handled again (at-least-once after a rebalance, a failed commit or a lost session).", |a| &a.redeliveries),
        ("audit_unaudited_total", "Handled records without a readable kad.audit stamp (other producers, malformed stamps).", |a| &a.unaudited),
        ("audit_malformed_total", "Records whose kad.audit header is not a readable stamp.", |a| &a.malformed),
    ];
    for (name, help, counter) in audit_counters {
        out.family(
            name,
            "counter",
            help,
            &per_consumer(groups, |i| {
                read(counter(&stats.consumer(i).audit)).to_string()
            }),
        );
    }
    out.family(
        "audit_pending",
        "gauge",
        "Missing sequence numbers still within AUDIT_LOSS_GRACE_S.",
        &per_consumer(groups, |i| {
            read(&stats.consumer(i).audit.pending).to_string()
        }),
    );
    out.family(
        "audit_latency_seconds",
        "histogram",
        "Send-to-handled latency of stamped records, from the stamp's send time.",
        &audit_latency_histogram(stats, groups),
    );
}

/// The audit's latency histogram per consumer. A histogram's samples carry suffixes
/// (`_bucket`, `_sum`, `_count`): written before the labels, as [`Exposition::family`] appends
/// the labels to the family's name.
fn audit_latency_histogram(stats: &Stats, groups: &Groups) -> Vec<Sample> {
    let mut histogram = Vec::new();
    for (consumer, kind, group) in groups.each() {
        let (counts, sum) = stats.consumer(consumer).audit.latency.cumulative();
        let labels = format!("consumer=\"{kind}\",group=\"{}\"", escape(group));
        let bounds = LATENCY_BOUNDS_S.iter().map(|b| b.to_string());
        for (le, count) in bounds.chain(["+Inf".to_string()]).zip(counts) {
            histogram.push((
                format!("_bucket{{{labels},le=\"{le}\"}}"),
                count.to_string(),
            ));
        }
        histogram.push((format!("_sum{{{labels}}}"), format!("{sum:.6}")));
        let total = counts[LATENCY_BOUNDS_S.len()];
        histogram.push((format!("_count{{{labels}}}"), total.to_string()));
    }
    histogram
}

fn loop_idle_family(out: &mut Exposition, stats: &Stats) {
    let ages: Vec<Sample> = stats
        .heartbeats()
        .iter()
        .map(|(name, beat)| {
            (
                format!("{{loop=\"{name}\"}}"),
                format!("{:.3}", beat.age().as_secs_f64()),
            )
        })
        .collect();
    out.family(
        "loop_idle_seconds",
        "gauge",
        "Seconds since each loop last made progress.",
        &ages,
    );
}

/// Escapes a Prometheus label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::stats::bump;

    pub(crate) fn groups() -> Groups {
        Groups {
            single: "g1".to_string(),
            batch: "g\"2".to_string(),
        }
    }

    #[test]
    fn stats_line_shows_every_figure() {
        let stats = Stats::default();
        bump(&stats.produced);
        bump(&stats.produced);
        bump(&stats.delivered);
        bump(&stats.consumer(ConsumerKind::Batch).decode_errors);
        bump(&stats.consumer(ConsumerKind::Batch).audit.skipped);
        stats
            .consumer(ConsumerKind::Single)
            .lag
            .store(5, Ordering::Relaxed);
        assert_eq!(
            stats_line(&stats, &groups()),
            "stats: produced=2 delivered=1 failed=0 \
             | single (g1): consumed=0 decode_errors=0 skipped=0 commits=0 lag=5 latency_p99=none lost=0 duplicate_writes=0 out_of_order=0 redeliveries=0 \
             | batch (g\"2): consumed=0 decode_errors=1 skipped=1 commits=0 lag=unknown latency_p99=none lost=0 duplicate_writes=0 out_of_order=0 redeliveries=0"
        );
    }

    #[test]
    fn prometheus_text_has_typed_families_and_escaped_labels() {
        let stats = Stats::default();
        bump(&stats.consumer(ConsumerKind::Single).consumed);
        let audit = &stats.consumer(ConsumerKind::Single).audit;
        audit.latency.record(std::time::Duration::from_millis(20));
        bump(&audit.lost);
        let text = prometheus_text(&stats, &groups());
        assert!(text
            .contains("kafka_avro_daemon_audit_lost_total{consumer=\"single\",group=\"g1\"} 1\n"));
        assert!(text.contains("kafka_avro_daemon_audit_latency_seconds_bucket{consumer=\"single\",group=\"g1\",le=\"0.01\"} 0\n"));
        assert!(text.contains("kafka_avro_daemon_audit_latency_seconds_bucket{consumer=\"single\",group=\"g1\",le=\"0.025\"} 1\n"));
        assert!(text.contains("kafka_avro_daemon_audit_latency_seconds_bucket{consumer=\"single\",group=\"g1\",le=\"+Inf\"} 1\n"));
        assert!(text.contains(
            "kafka_avro_daemon_audit_latency_seconds_count{consumer=\"single\",group=\"g1\"} 1\n"
        ));
        assert!(text.contains("kafka_avro_daemon_audit_latency_seconds_sum{consumer=\"single\",group=\"g1\"} 0.020000\n"));
        assert!(text.contains(
            "# TYPE kafka_avro_daemon_produced_total counter\nkafka_avro_daemon_produced_total 0\n"
        ));
        assert!(
            text.contains("kafka_avro_daemon_consumed_total{consumer=\"single\",group=\"g1\"} 1\n")
        );
        assert!(text
            .contains("kafka_avro_daemon_consumer_lag{consumer=\"batch\",group=\"g\\\"2\"} -1\n"));
        assert!(text.contains("kafka_avro_daemon_loop_idle_seconds{loop=\"producer\"} "));
        for wait in ["registry", "handler", "commit", "dead_letter"] {
            assert!(
                text.contains(&format!(
                    "kafka_avro_daemon_{wait}_wait_seconds{{consumer=\"batch\",group=\"g\\\"2\"}} 0.000\n"
                )),
                "{wait}"
            );
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().expect("value");
            assert!(value.parse::<f64>().is_ok(), "bad sample line {line}");
        }
    }
}
