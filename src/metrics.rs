//! The daemon's figures for operators: a one-line summary for the log, Prometheus text for
//! `/metrics`, and `/healthz`, served over plain HTTP/1.1 on `METRICS_ADDR` by one thread.
//! The server is deliberately tiny (one request per connection, GET only): it serves scrapes
//! and probes, nothing else.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::health::stalled_loops;
use crate::shutdown::Shutdown;
use crate::stats::{read, Stats, BATCH, SINGLE};

/// The consumer groups, to label per-consumer figures.
#[derive(Debug, Clone)]
pub struct Groups {
    /// Group of the single-message consumer.
    pub single: String,
    /// Group of the batch consumer.
    pub batch: String,
}

impl Groups {
    fn each(&self) -> [(usize, &'static str, &str); 2] {
        [
            (SINGLE, "single", &self.single),
            (BATCH, "batch", &self.batch),
        ]
    }
}

/// The periodic log line: `stats: produced=… delivered=… …`.
pub fn stats_line(stats: &Stats, groups: &Groups) -> String {
    let mut line = format!(
        "stats: produced={} delivered={} failed={}",
        read(&stats.produced),
        read(&stats.delivered),
        read(&stats.delivery_failed)
    );
    for (index, kind, group) in groups.each() {
        let c = &stats.consumers[index];
        let lag = c.lag.load(Ordering::Relaxed);
        let _ = write!(
            line,
            " | {kind} ({group}): consumed={} decode_errors={} commits={} lag={} latency_p99={}",
            read(&c.consumed),
            read(&c.decode_errors),
            read(&c.commits),
            if lag < 0 {
                "unknown".to_string()
            } else {
                lag.to_string()
            },
            c.latency
                .quantile(0.99)
                .map_or("none".to_string(), |d| format!("{d:?}"))
        );
    }
    line
}

/// The figures in the Prometheus text exposition format.
pub fn prometheus_text(stats: &Stats, groups: &Groups) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP kafka_avro_daemon_{name} {help}");
        let _ = writeln!(out, "# TYPE kafka_avro_daemon_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "kafka_avro_daemon_{name}{labels} {value}");
        }
    };
    let plain = |v: u64| vec![(String::new(), v.to_string())];
    family(
        "produced_total",
        "counter",
        "Records handed to the producer queue.",
        &plain(read(&stats.produced)),
    );
    family(
        "delivered_total",
        "counter",
        "Records acknowledged by the brokers.",
        &plain(read(&stats.delivered)),
    );
    family(
        "delivery_failed_total",
        "counter",
        "Records whose delivery failed.",
        &plain(read(&stats.delivery_failed)),
    );
    let per_consumer = |value: &dyn Fn(usize) -> String| -> Vec<(String, String)> {
        groups
            .each()
            .iter()
            .map(|(index, kind, group)| {
                (
                    format!("{{consumer=\"{kind}\",group=\"{}\"}}", escape(group)),
                    value(*index),
                )
            })
            .collect()
    };
    let c = &stats.consumers;
    family(
        "consumed_total",
        "counter",
        "Records decoded and handled.",
        &per_consumer(&|i| read(&c[i].consumed).to_string()),
    );
    family(
        "decode_errors_total",
        "counter",
        "Undecodable messages skipped.",
        &per_consumer(&|i| read(&c[i].decode_errors).to_string()),
    );
    family(
        "commits_total",
        "counter",
        "Offset commits (batch) or offset stores (single).",
        &per_consumer(&|i| read(&c[i].commits).to_string()),
    );
    family(
        "consumer_lag",
        "gauge",
        "Messages behind the partitions' ends (-1: not known yet).",
        &per_consumer(&|i| c[i].lag.load(Ordering::Relaxed).to_string()),
    );
    let mut latencies = Vec::new();
    for (index, kind, group) in groups.each() {
        let histogram = &c[index].latency;
        for (label, q) in [("0.5", 0.5), ("0.99", 0.99), ("1", 1.0)] {
            let seconds = histogram.quantile(q).map_or(0.0, |d| d.as_secs_f64());
            latencies.push((
                format!(
                    "{{consumer=\"{kind}\",group=\"{}\",quantile=\"{label}\"}}",
                    escape(group)
                ),
                format!("{seconds:.6}"),
            ));
        }
    }
    family(
        "latency_seconds",
        "gauge",
        "Produce-to-handled latency quantiles since start (0 until a record is handled).",
        &latencies,
    );
    let ages: Vec<(String, String)> = stats
        .heartbeats()
        .iter()
        .map(|(name, beat)| {
            (
                format!("{{loop=\"{name}\"}}"),
                format!("{:.3}", beat.age().as_secs_f64()),
            )
        })
        .collect();
    family(
        "loop_idle_seconds",
        "gauge",
        "Seconds since each loop last made progress.",
        &ages,
    );
    out
}

/// Escapes a Prometheus label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds the metrics address; done at start-up so a taken port is a start-up error.
pub fn bind(address: &str) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(address)
        .map_err(|e| format!("cannot listen on METRICS_ADDR={address}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on METRICS_ADDR={address}: {e}"))?;
    Ok(listener)
}

/// Serves `/metrics` and `/healthz` until shutdown.
pub fn serve(listener: TcpListener, stats: &Stats, groups: &Groups, shutdown: &Shutdown) {
    if let Ok(address) = listener.local_addr() {
        log::info!("metrics on http://{address}/metrics, health on http://{address}/healthz");
    }
    while !shutdown.is_stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, stats, groups) {
                    log::debug!("metrics: request failed: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                shutdown.sleep(Duration::from_millis(50));
            }
            Err(e) => {
                log::warn!("metrics: accept failed: {e}");
                shutdown.sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Reads one request and writes the answer.
fn answer(stream: TcpStream, stats: &Stats, groups: &Groups) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut request_line = String::new();
    let mut reader = BufReader::new(&stream);
    reader.read_line(&mut request_line)?;
    // Drain the headers so the client sees a clean close.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4",
            prometheus_text(stats, groups),
        ),
        ("GET", "/healthz") => {
            let stalled = stalled_loops(&stats.heartbeats());
            if stalled.is_empty() {
                ("200 OK", "text/plain", "ok\n".to_string())
            } else {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    format!("stalled: {}\n", stalled.join(", ")),
                )
            }
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics or /healthz\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::bump;
    use std::io::Read;

    fn groups() -> Groups {
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
        bump(&stats.consumers[BATCH].decode_errors);
        stats.consumers[SINGLE].lag.store(5, Ordering::Relaxed);
        assert_eq!(
            stats_line(&stats, &groups()),
            "stats: produced=2 delivered=1 failed=0 \
             | single (g1): consumed=0 decode_errors=0 commits=0 lag=5 latency_p99=none \
             | batch (g\"2): consumed=0 decode_errors=1 commits=0 lag=unknown latency_p99=none"
        );
    }

    #[test]
    fn prometheus_text_has_typed_families_and_escaped_labels() {
        let stats = Stats::default();
        bump(&stats.consumers[SINGLE].consumed);
        let text = prometheus_text(&stats, &groups());
        assert!(text.contains(
            "# TYPE kafka_avro_daemon_produced_total counter\nkafka_avro_daemon_produced_total 0\n"
        ));
        assert!(
            text.contains("kafka_avro_daemon_consumed_total{consumer=\"single\",group=\"g1\"} 1\n")
        );
        assert!(text
            .contains("kafka_avro_daemon_consumer_lag{consumer=\"batch\",group=\"g\\\"2\"} -1\n"));
        assert!(text.contains("kafka_avro_daemon_loop_idle_seconds{loop=\"producer\"} "));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().expect("value");
            assert!(value.parse::<f64>().is_ok(), "bad sample line {line}");
        }
    }

    fn get(address: std::net::SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).expect("connect");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
    }

    #[test]
    fn serves_metrics_health_and_404() {
        let listener = bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let stats = Stats::default();
        let shutdown = Shutdown::new();
        std::thread::scope(|scope| {
            scope.spawn(|| serve(listener, &stats, &groups(), &shutdown));
            let metrics = get(address, "/metrics");
            assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
            assert!(metrics.contains("kafka_avro_daemon_delivered_total 0"));
            let health = get(address, "/healthz");
            assert!(
                health.starts_with("HTTP/1.1 200 OK\r\n") && health.ends_with("ok\n"),
                "{health}"
            );
            assert!(get(address, "/nope").starts_with("HTTP/1.1 404"));
            shutdown.stop(crate::shutdown::StopReason::Requested);
        });
    }

    #[test]
    fn a_taken_port_is_a_clear_error() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = taken.local_addr().expect("address").to_string();
        let err = bind(&address).expect_err("port is taken");
        assert!(
            err.starts_with(&format!("cannot listen on METRICS_ADDR={address}")),
            "{err}"
        );
    }
}
