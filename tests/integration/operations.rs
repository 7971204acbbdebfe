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

/// The stages of one logged record (`kafka_avro_daemon::stages` at debug), in milliseconds:
/// sent→polled, polled→decoded, decoded→handled, handled→committed.
fn stages_in(line: &str) -> [f64; 4] {
    let stages = line.split_once(": sent→polled ").expect("a stages line").1;
    let mut ms = [0.0; 4];
    for (i, part) in stages.split(", ").enumerate() {
        let value = part.rsplit_once(' ').map_or(part, |(before, _)| before);
        let value = value.rsplit(' ').next().unwrap_or(value);
        ms[i] = value
            .parse()
            .unwrap_or_else(|_| panic!("a time in {part:?} of {line}"));
    }
    ms
}

/// Where a record's time goes: each consumer logs the stages of sampled records once their
/// offsets are committed, and `/metrics` shows them and the producer's acknowledgements. The
/// single consumer's commit waits for the auto-commit, the batch consumer's is its own.
#[test]
fn the_stages_of_sampled_records_are_logged_and_measured() {
    let _cluster = require_stack();
    let topic = unique("stages");
    let env = env_with(
        &topic,
        &[
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("PRODUCE_INTERVAL_MS", "10"),
            ("RUST_LOG", "info,kafka_avro_daemon::stages=debug"),
            // The single consumer auto-commits every second (librdkafka's default is 5 s).
            ("LIBRDKAFKA_CONSUMER_AUTO_COMMIT_INTERVAL_MS", "1000"),
        ],
    );
    let mut daemon = Daemon::start(&env);
    let port = metrics_port(&daemon);
    let staged = |lines: &[String], client: &str| -> Vec<[f64; 4]> {
        lines
            .iter()
            .filter(|l| l.contains(&format!("{client}: stages of {topic} p=")))
            .map(|l| stages_in(l))
            .collect()
    };
    daemon.wait_until(
        "five sampled records' stages from each consumer",
        Duration::from_secs(90),
        |lines| {
            staged(lines, "single-message consumer").len() >= 5
                && staged(lines, "batch consumer").len() >= 5
        },
    );
    let lines = daemon.lines();
    for client in ["single-message consumer", "batch consumer"] {
        for [sent, decoded, handled, committed] in staged(&lines, client) {
            assert!(
                (0.0..60_000.0).contains(&sent),
                "{client}: sent→polled {sent} ms"
            );
            assert!(
                (0.0..1_000.0).contains(&decoded),
                "{client}: polled→decoded {decoded} ms"
            );
            assert!(
                (0.0..10_000.0).contains(&handled),
                "{client}: decoded→handled {handled} ms"
            );
            assert!(
                committed > 0.0,
                "{client}: a commit takes time: {committed} ms"
            );
        }
    }
    // The auto-commit runs once a second: no sampled record of the single consumer waits for
    // it much longer (a commit request's round trip, and the poll that serves its report).
    let single_commits = staged(&lines, "single-message consumer")
        .iter()
        .map(|s| s[3])
        .fold(0.0, f64::max);
    assert!(
        single_commits < 5_000.0,
        "single: handled→committed up to {single_commits} ms"
    );

    let metrics = http_get(port, "/metrics");
    for (kind, group) in [
        ("single", format!("{topic}-g1")),
        ("batch", format!("{topic}-g2")),
    ] {
        for stage in ["sent_to_polled", "handled_to_committed"] {
            let series = format!(
                "kafka_avro_daemon_stage_seconds{{consumer=\"{kind}\",group=\"{group}\",stage=\"{stage}\",quantile=\"0.5\"}}"
            );
            assert!(sample(&metrics, &series) > 0.0, "{series}");
        }
    }
    let acknowledged = sample(
        &metrics,
        "kafka_avro_daemon_acknowledged_seconds{quantile=\"0.5\"}",
    );
    assert!(
        acknowledged > 0.0 && acknowledged < 60.0,
        "send to acknowledgement: {acknowledged} s"
    );
    daemon.stop_cleanly();
}

/// A notify socket as systemd's, in a directory of its own named for `prefix`: the directory
/// (to remove at the end), the socket's path for `NOTIFY_SOCKET`, and the socket.
fn notify_socket(prefix: &str) -> (std::path::PathBuf, String, UnixDatagram) {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    (dir, path.display().to_string(), socket)
}

#[test]
fn systemd_hears_ready_watchdog_and_stopping_in_order() {
    let _cluster = require_stack();
    let topic = unique("notify");
    let (dir, socket_path, socket) = notify_socket("notify");
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut env = daemon_env(&topic);
    env.push(("NOTIFY_SOCKET".to_string(), socket_path.clone()));
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
    let (dir, socket_path, socket) = notify_socket("long-interval");
    socket.set_nonblocking(true).expect("non-blocking socket");
    let env = env_with(
        &topic,
        &[
            ("PRODUCE_INTERVAL_MS", "60000"),
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("NOTIFY_SOCKET", &socket_path),
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
        pings += pings_waiting(&socket);
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

/// The `WATCHDOG=1` pings waiting on `socket` (non-blocking).
fn pings_waiting(socket: &UnixDatagram) -> usize {
    let mut buf = [0u8; 512];
    let mut pings = 0;
    while let Ok(n) = socket.recv(&mut buf) {
        pings += usize::from(&buf[..n] == b"WATCHDOG=1");
    }
    pings
}

/// The daemon of a test that holds its stderr, killed if the test fails: a daemon left
/// blocked on its stderr would run on.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl KillOnDrop {
    /// SIGINT, then its exit status and how long after it came; `None` if not `within`.
    fn interrupt_and_wait(
        &mut self,
        within: Duration,
    ) -> Option<(std::process::ExitStatus, Duration)> {
        let asked = Instant::now();
        send_signal(self.0.id(), "INT");
        exited_within(&mut self.0, asked, within).map(|status| (status, asked.elapsed()))
    }
}

/// Starts the daemon with `env` alone (and `PATH`), without stdin and stdout, its stderr to
/// `stderr`.
fn start_with_stderr(env: Vec<(String, String)>, stderr: std::process::Stdio) -> KillOnDrop {
    use std::process::{Command, Stdio};
    let child = Command::new(env!("CARGO_BIN_EXE_kafka-avro-daemon"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start the daemon");
    KillOnDrop(child)
}

/// A stderr nobody reads (journald stuck, a paused pager) holds every loop at its next log
/// line. That is a stall, and is reported as one: `/healthz` answers 503 naming the loops and
/// the watchdog ping is withheld (by the HTTP and monitor threads, which write nothing then);
/// read again, the loops go on and both recover. A stop while stderr is blocked is still
/// bounded: SIGINT's line is waited for 200 ms at most before the stop, and the stop deadline
/// exits (status 3) 3 s after trying its own line.
#[test]
fn a_blocked_stderr_is_a_stall_on_healthz_and_a_stop_is_still_bounded() {
    use std::io::Read;
    use std::process::Stdio;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let _cluster = require_stack();
    let topic = unique("blocked-stderr");
    let (dir, socket_path, socket) = notify_socket("blocked-stderr");
    socket.set_nonblocking(true).expect("non-blocking");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let env = env_with(
        &topic,
        &[
            // Three lines a millisecond: the pipe's 64 KiB fill within a second.
            ("PRODUCE_INTERVAL_MS", "1"),
            ("METRICS_ADDR", &format!("127.0.0.1:{port}")),
            ("NOTIFY_SOCKET", &socket_path),
            ("WATCHDOG_USEC", "1000000"),
            ("STOP_TIMEOUT_MS", "3000"),
            ("FLUSH_TIMEOUT_MS", "1000"),
        ],
    );
    let mut child = start_with_stderr(env, Stdio::piped());
    let mut stderr = child.0.stderr.take().expect("stderr");
    // Read only while `reading` is set; the lines read are kept for the failure messages.
    let reading = Arc::new(AtomicBool::new(false));
    let read = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    {
        let (reading, read) = (Arc::clone(&reading), Arc::clone(&read));
        std::thread::spawn(move || {
            let mut chunk = [0u8; 65536];
            loop {
                if !reading.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                match stderr.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let mut read = read.lock().expect("read");
                        read.extend_from_slice(&chunk[..n]);
                        let keep = read.len().saturating_sub(1 << 20);
                        read.drain(..keep);
                    }
                }
            }
        });
    }
    let tail = || {
        let read = read.lock().expect("read");
        let text = String::from_utf8_lossy(&read).to_string();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    let healthz = || try_http_get(port, "/healthz").unwrap_or_default();

    // Stalled: every loop blocks at its next line; after the stall limit (20 s) /healthz says
    // so, and no ping comes.
    wait_for(
        "/healthz 503 naming the stalled loops",
        Duration::from_secs(120),
        || {
            if let Some(status) = child.0.try_wait().expect("status") {
                reading.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(500));
                panic!("the daemon exited ({status}):\n{}", tail());
            }
            // Read as they come: a datagram socket's queue holds 10 (`net.unix.max_dgram_qlen`),
            // and then the daemon's next ping waits to be sent until one is read.
            pings_waiting(&socket);
            let answer = healthz();
            answer.starts_with("HTTP/1.1 503")
                && answer.contains("stalled: ")
                && answer.contains("single-message consumer")
                && answer.contains("batch consumer")
        },
    );
    // The monitor looks every half second: a ping it sent just before the limit passed may
    // come after the first 503. None comes after that.
    std::thread::sleep(Duration::from_secs(1));
    pings_waiting(&socket);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(pings_waiting(&socket), 0, "pinged while stalled");
    let answer = healthz();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        child.0.try_wait().expect("status").is_none(),
        "the daemon exited"
    );

    // Read again: the loops go on, /healthz is 200 and the pings come back.
    reading.store(true, Ordering::SeqCst);
    wait_for(
        "/healthz 200 once stderr is read",
        Duration::from_secs(60),
        || healthz().starts_with("HTTP/1.1 200"),
    );
    wait_for(
        "a watchdog ping once stderr is read",
        Duration::from_secs(30),
        || pings_waiting(&socket) > 0,
    );
    // The consumers handle records again (what was read of stderr, a MiB at most, says so).
    wait_for(
        "a record received once stderr is read",
        Duration::from_secs(30),
        || {
            String::from_utf8_lossy(&read.lock().expect("read"))
                .contains("received {'name': 'user_")
        },
    );

    // Blocked again (the records go on, so the consumers stop counting only when their lines
    // cannot be written): SIGINT still ends the process, by the stop deadline.
    reading.store(false, Ordering::SeqCst);
    let consumed = || {
        try_http_get(port, "/metrics")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("kafka_avro_daemon_consumed_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let mut last = (consumed(), Instant::now());
    wait_for(
        "the consumers held by stderr",
        Duration::from_secs(60),
        || {
            let now = consumed();
            if now != last.0 {
                last = (now, Instant::now());
            }
            last.1.elapsed() > Duration::from_secs(3)
        },
    );
    let Some((status, took)) = child.interrupt_and_wait(Duration::from_secs(30)) else {
        panic!("no exit 30 s after SIGINT with stderr blocked:\n{}", tail());
    };
    println!(
        "figures: blocked stderr: stalled on /healthz, recovered when read; SIGINT while blocked: exit {:?} after {took:?}",
        status.code()
    );
    assert_eq!(status.code(), Some(3), "{}", tail());
    // STOP_TIMEOUT_MS (3 s), the last line's grace (3 s), and room for a loaded machine.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The daemon's last line (`stopped`, or the error that ended it) comes after the run, and
/// the stop deadline's watch with it: with stderr a full pipe nobody reads, the line
/// is given up after 3 s and the daemon exits all the same, with its stop's status (0 here).
/// Only the last line is at `info` (the daemon's other targets at `warn`): a line that blocks
/// earlier in the stop is the stop deadline's case, in the test above.
#[test]
fn a_last_line_that_cannot_be_written_does_not_hold_the_exit() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    use kafka_avro_daemon::internals::log_target;

    let _cluster = require_stack();
    let topic = unique("last-line");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut filter = format!("warn,{}=info", log_target::MAIN);
    for target in log_target::ALL.iter().filter(|t| **t != log_target::MAIN) {
        filter.push_str(&format!(",{target}=warn"));
    }
    let env = env_with(
        &topic,
        &[
            ("RUST_LOG", &filter),
            ("METRICS_ADDR", &format!("127.0.0.1:{port}")),
            // Short, so that a line blocking earlier in the stop (exit 3) shows soon.
            ("STOP_TIMEOUT_MS", "8000"),
            ("FLUSH_TIMEOUT_MS", "4000"),
        ],
    );
    // The test keeps a write end of the daemon's stderr to fill it itself.
    let (mut reader, writer) = std::io::pipe().expect("a pipe");
    let mut writer = Some(writer);
    let second_end = writer.as_ref().and_then(|w| w.try_clone().ok());
    let mut child = start_with_stderr(env, second_end.expect("a second write end").into());
    // Records handled by the group with this consumer label.
    let consumed = |consumer: &str| {
        let series = format!("kafka_avro_daemon_consumed_total{{consumer=\"{consumer}\"");
        try_http_get(port, "/metrics")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    wait_for(
        "records handled by both groups",
        Duration::from_secs(120),
        || {
            if let Some(status) = child.0.try_wait().expect("status") {
                // Without the test's write end the read ends where the daemon's output does.
                drop(writer.take());
                let mut text = String::new();
                let _ = reader.read_to_string(&mut text);
                panic!("the daemon exited ({status}):\n{text}");
            }
            consumed("single") > 0 && consumed("batch") > 0
        },
    );

    // Fill the pipe a byte at a time (a larger write blocks while there is still room for a
    // short line): full when the count stops moving.
    let (written, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let filler = {
        let (written, stop) = (Arc::clone(&written), Arc::clone(&stop));
        let mut writer = writer.take().expect("the test's write end");
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) && writer.write_all(b".").is_ok() {
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let mut last = (0, Instant::now());
    wait_for("a full pipe", Duration::from_secs(60), || {
        let now = written.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        }
        now > 0 && last.1.elapsed() > Duration::from_secs(1)
    });

    let filled = written.load(Ordering::SeqCst);
    let Some((status, took)) = child.interrupt_and_wait(Duration::from_secs(30)) else {
        panic!("no exit 30 s after SIGINT with stderr full (the last line holds it)");
    };

    // What reached the pipe: the filler's bytes and no `stopped` (it was the line that could
    // not be written, and a short line is written whole or not at all).
    stop.store(true, Ordering::SeqCst);
    let mut text = Vec::new();
    let mut chunk = [0u8; 65536];
    while !filler.is_finished() {
        let n = reader.read(&mut chunk).expect("read the pipe");
        text.extend_from_slice(&chunk[..n]);
    }
    filler.join().expect("the filler");
    reader.read_to_end(&mut text).expect("read the pipe");
    // The daemon's own lines, without the test's dots.
    let text = String::from_utf8_lossy(&text).replace('.', "");
    println!(
        "figures: stderr full at the last line: exit {:?} after {took:?}, {filled} bytes filled by the test",
        status.code()
    );
    assert_ne!(
        status.code(),
        Some(3),
        "the stop deadline ended it: a line blocked before the last one:\n{text}"
    );
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.ends_with("kafka_avro_daemon] stopped")),
        "the last line was written, so it was not the one that blocked:\n{text}"
    );
    // The line's grace (3 s) and room for a loaded machine.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}
