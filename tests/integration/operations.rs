//! What operators rely on: the metrics endpoint and the stats line during a real run, the
//! systemd notify protocol, and journald-style log lines.

use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::common::*;

/// The value of the first sample line that starts with `series`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[test]
fn metrics_health_and_stats_line_during_a_run() {
    let _cluster = require_stack();
    let topic = unique("metrics");
    let mut env = daemon_env(&topic);
    // Port 0: the kernel picks a free port and the daemon logs it.
    env.push(("METRICS_ADDR".to_string(), "127.0.0.1:0".to_string()));
    env.push(("STATS_INTERVAL_S".to_string(), "1".to_string()));
    env.push(("PRODUCE_INTERVAL_MS".to_string(), "10".to_string()));
    let mut daemon = Daemon::start(&env);
    let port = metrics_port(&daemon);
    daemon.wait_for_received(30, Duration::from_secs(60));

    let metrics = http_get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    assert!(metrics.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(sample(&metrics, "kafka_avro_daemon_produced_total ") >= 30.0);
    assert!(sample(&metrics, "kafka_avro_daemon_delivered_total ") >= 30.0);
    let g1 = format!("{topic}-g1");
    let single = format!("kafka_avro_daemon_consumed_total{{consumer=\"single\",group=\"{g1}\"}}");
    assert!(sample(&metrics, &single) >= 30.0);
    let p99 = format!(
        "kafka_avro_daemon_latency_seconds{{consumer=\"single\",group=\"{g1}\",quantile=\"0.99\"}}"
    );
    assert!(sample(&metrics, &p99) > 0.0, "latency measured");

    let health = http_get(port, "/healthz");
    assert!(
        health.starts_with("HTTP/1.1 200 OK") && health.ends_with("ok\n"),
        "{health}"
    );

    daemon.wait_until(
        "a stats line with consumption and lag",
        Duration::from_secs(30),
        |lines| {
            lines.iter().any(|l| {
                l.contains("stats: produced=") && l.contains("lag=") && !l.contains("consumed=0 ")
            })
        },
    );
    daemon.stop_cleanly();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the metrics port is closed after exit"
    );
}

#[test]
fn systemd_hears_ready_watchdog_and_stopping_in_order() {
    let _cluster = require_stack();
    let topic = unique("notify");
    let dir = std::env::temp_dir().join(unique("notify"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut env = daemon_env(&topic);
    env.push((
        "NOTIFY_SOCKET".to_string(),
        socket_path.display().to_string(),
    ));
    env.push(("WATCHDOG_USEC".to_string(), "1000000".to_string()));
    env.push(("JOURNAL_STREAM".to_string(), "8:12345".to_string()));
    let mut daemon = Daemon::start(&env);

    let mut messages: Vec<String> = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(60);
    while messages.iter().filter(|m| m.contains("WATCHDOG=1")).count() < 3 {
        assert!(Instant::now() < deadline, "got only {messages:?}");
        let n = socket.recv(&mut buf).expect("a notify message");
        messages.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    daemon.signal("INT");
    loop {
        let n = socket.recv(&mut buf).expect("STOPPING=1 before exit");
        let message = String::from_utf8_lossy(&buf[..n]).to_string();
        let stopping = message.contains("STOPPING=1");
        messages.push(message);
        if stopping {
            break;
        }
    }
    assert!(daemon.wait_exit(Duration::from_secs(30)).success());
    // Start-up tells systemd how long checking the topics, then registering the schema may
    // take, then READY.
    let extended = |m: &str, doing: &str| {
        m.strip_prefix("EXTEND_TIMEOUT_USEC=")
            .and_then(|rest| rest.split_once('\n'))
            .filter(|(_, status)| status.contains(doing))
            .and_then(|(us, _)| us.parse::<u64>().ok())
    };
    assert!(
        extended(&messages[0], "checking the topics").is_some_and(|us| us >= 30_000_000),
        "EXTEND_TIMEOUT_USEC first, covering TOPIC_CHECK_TIMEOUT_S: {messages:?}"
    );
    assert!(
        extended(&messages[1], "registering the schema").is_some_and(|us| us >= 90_000_000),
        "EXTEND_TIMEOUT_USEC next, covering the registry's retries: {messages:?}"
    );
    assert!(
        messages[2].starts_with("READY=1"),
        "READY next: {messages:?}"
    );
    assert!(
        messages.last().is_some_and(|m| m.starts_with("STOPPING=1")),
        "{messages:?}"
    );
    assert!(
        messages[3..messages.len() - 1]
            .iter()
            .all(|m| m == "WATCHDOG=1"),
        "{messages:?}"
    );

    // Under journald (JOURNAL_STREAM set): `<priority>` prefix, no timestamp of our own.
    let lines = daemon.lines();
    let ready = lines
        .iter()
        .find(|l| l.contains("schema registered"))
        .expect("info line");
    assert!(
        ready.starts_with("<6>kafka_avro_daemon::daemon: "),
        "{ready}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("[20")),
        "no timestamped lines under journald"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waiting for the next tick is progress: with `PRODUCE_INTERVAL_MS` well above the stall
/// limit and the shipped `WatchdogSec=30s`, the producer stays alive for `/healthz` and for
/// systemd's watchdog through three whole intervals.
#[test]
fn a_long_produce_interval_is_not_a_stall() {
    let _cluster = require_stack();
    let topic = unique("long-interval");
    let dir = std::env::temp_dir().join(unique("long-interval"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket.set_nonblocking(true).expect("non-blocking socket");
    let env = env_with(
        &topic,
        &[
            ("PRODUCE_INTERVAL_MS", "60000"),
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("NOTIFY_SOCKET", &socket_path.display().to_string()),
            // The shipped unit's WatchdogSec=30s.
            ("WATCHDOG_USEC", "30000000"),
        ],
    );
    let mut daemon = Daemon::start(&env);
    let port = metrics_port(&daemon);
    daemon.wait_for_names(&["user_0"], Duration::from_secs(60));

    // The fourth record starts the fourth interval: three whole intervals have passed.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut checks = 0;
    let mut pings = 0;
    let mut buf = [0u8; 512];
    while !daemon.received().iter().any(|r| r.name == "user_3") {
        assert!(
            Instant::now() < deadline,
            "no user_3 within 240 s; log:\n{}",
            daemon.tail(40)
        );
        let health = http_get(port, "/healthz");
        assert!(
            health.starts_with("HTTP/1.1 200 OK"),
            "/healthz after {:?} (check {checks}): {health}",
            daemon.age()
        );
        checks += 1;
        while let Ok(n) = socket.recv(&mut buf) {
            pings += usize::from(&buf[..n] == b"WATCHDOG=1");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let lines = daemon.lines();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("withholding the watchdog ping")),
        "{}",
        daemon.tail(40)
    );
    // One ping per 15 s (half the watchdog timeout) over three minutes.
    assert!(pings >= 10, "only {pings} watchdog pings in {checks} s");
    daemon.stop_cleanly();
    let _ = std::fs::remove_dir_all(&dir);
}
