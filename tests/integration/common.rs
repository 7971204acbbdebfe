//! Shared by the integration tests: where the local stack is, a loud check that it runs, the
//! lock that lets tests share the stack, and a handle on a daemon process whose log lines the
//! tests read.
//!
//! Every test uses its own topic and group names, so tests run in parallel and again and again
//! on the same stack. All modules run in one binary, so a test that disturbs the cluster (kills
//! a broker, restarts the stack) would hit tests of every other module: [`CLUSTER`] keeps them
//! apart. Every test that talks to the stack starts with `let _cluster = require_stack();`
//! (shared), a disturbing one with `let _cluster = exclusive_cluster();` (alone). Tests that
//! need no stack call neither, and pass with no Kafka running.

#![allow(dead_code)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// Brokers of the local stack (`scripts/stack`), overridable like the daemon's own variable.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9094".to_string())
}

/// The registry's Confluent-compatible API on the local stack.
pub fn registry_url() -> String {
    std::env::var("SCHEMA_REGISTRY_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8082/apis/ccompat/v7".to_string())
}

/// How many brokers the stack runs (`STACK_BROKERS`, 3 by default).
pub fn expected_brokers() -> usize {
    std::env::var("STACK_BROKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// The cluster, shared by the tests that use it (read guard) or held by one test that
/// disturbs it (write guard). Take it only through [`require_stack`] or [`exclusive_cluster`].
static CLUSTER: RwLock<()> = RwLock::new(());

thread_local! {
    /// Whether this test's thread holds a [`ClusterGuard`]: a second guard on one thread could
    /// deadlock (a read lock waits behind a waiting writer), so it panics instead.
    static HOLDS_CLUSTER: Cell<bool> = const { Cell::new(false) };
}

/// The cluster held by one test, shared or exclusive, until the guard drops. Bind it first
/// thing in the test (`let _cluster = require_stack();`), so it drops last, after the test's
/// daemons are stopped; `let _ = …` would release it at once.
#[must_use = "bind it for the whole test: `let _cluster = require_stack();`"]
pub struct ClusterGuard {
    _lock: ClusterLock,
}

enum ClusterLock {
    Shared(RwLockReadGuard<'static, ()>),
    Exclusive(RwLockWriteGuard<'static, ()>),
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        HOLDS_CLUSTER.with(|holds| holds.set(false));
    }
}

/// Marks this thread as holding the cluster; panics if it already does.
fn mark_held() {
    HOLDS_CLUSTER.with(|holds| {
        assert!(
            !holds.replace(true),
            "this test already holds the cluster: take it once per test (`let _cluster = require_stack();`), never in a helper the test calls after that"
        );
    });
}

/// Checks the stack and holds it shared for the whole test: tests that only use the stack
/// run together, and none runs while an [`exclusive_cluster`] test disturbs it. Panics with
/// instructions unless the brokers and the registry answer. Integration tests never skip: a
/// missing stack is a failure.
pub fn require_stack() -> ClusterGuard {
    mark_held();
    // A test that failed while it held the cluster alone poisons the lock. The failure is that
    // test's own, not every later test's, so the poison is ignored (here and for writers).
    let guard = ClusterGuard {
        _lock: ClusterLock::Shared(CLUSTER.read().unwrap_or_else(PoisonError::into_inner)),
    };
    check_stack();
    guard
}

/// Checks the stack and holds it alone for the whole test, for tests that disturb the cluster
/// (kill or restart a broker or the registry, load it to the limit): waits until no other
/// stack test runs, and keeps every other one waiting until the guard drops.
pub fn exclusive_cluster() -> ClusterGuard {
    mark_held();
    let guard = ClusterGuard {
        _lock: ClusterLock::Exclusive(CLUSTER.write().unwrap_or_else(PoisonError::into_inner)),
    };
    check_stack();
    guard
}

/// Panics with instructions unless the brokers and the registry answer (checked once per run).
fn check_stack() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECKED.get_or_init(|| {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .create()
            .map_err(|e| format!("cannot create a Kafka client: {e}"))?;
        client
            .fetch_metadata(None, Duration::from_secs(15))
            .map_err(|e| format!("no Kafka broker answers at {}: {e}", bootstrap()))?;
        http()
            .get(format!("{}/subjects", registry_url()))
            .send()
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("no schema registry answers at {}: {e}", registry_url()))?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("integration tests need the local stack, and it is not running: {e}. Start it with `scripts/stack up`, or run everything with `scripts/test`.");
    }
}

/// A blocking HTTP client for registry checks.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("HTTP client")
}

/// `prefix` plus a random suffix: a topic or group no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A producer for tests (acks=all, idempotent).
pub fn test_producer() -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .expect("test producer")
}

/// Sends `payloads` to `topic` and waits until all are acknowledged.
pub fn produce_raw(topic: &str, payloads: &[Vec<u8>]) {
    let producer = test_producer();
    for payload in payloads {
        producer
            .send(BaseRecord::<(), [u8]>::to(topic).payload(payload))
            .expect("enqueue");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// Creates `topic` by producing nothing to it: the stack auto-creates topics with its defaults
/// (3 partitions, replication 3). Waits until every broker, asked on its own, knows it with a
/// leader for every partition: a daemon started while one does not yet may find its consumer
/// group assigned nothing until something else rebalances it (see the daemon's
/// `kafka/topic_propagation.rs`).
pub fn ensure_topic(topic: &str) {
    let producer = test_producer();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(metadata) = producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
        {
            let brokers: Vec<(i32, String)> = metadata
                .brokers()
                .iter()
                .map(|b| match b.host().contains(':') {
                    true => (b.id(), format!("[{}]:{}", b.host(), b.port())),
                    false => (b.id(), format!("{}:{}", b.host(), b.port())),
                })
                .collect();
            if knows_topic(&metadata, topic, None)
                && brokers
                    .iter()
                    .all(|(id, address)| broker_knows_topic(*id, address, topic))
            {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "topic {topic} was not created (and known to every broker) in 30 s"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `metadata` (from broker `from`, when given) shows `topic` with a leader for each
/// partition.
fn knows_topic(metadata: &rdkafka::metadata::Metadata, topic: &str, from: Option<i32>) -> bool {
    // -1: a client's bootstrap connection answered.
    from.is_none_or(|id| [id, -1].contains(&metadata.orig_broker_id()))
        && metadata.topics().first().is_some_and(|t| {
            t.name() == topic
                && t.error().is_none()
                && !t.partitions().is_empty()
                && t.partitions().iter().all(|p| p.leader() >= 0)
        })
}

/// Whether broker `id` at `address` itself knows `topic`: asked by a client with no other
/// broker to ask.
fn broker_knows_topic(id: i32, address: &str, topic: &str) -> bool {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .create()
        .expect("probe client");
    client
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .is_ok_and(|metadata| knows_topic(&metadata, topic, Some(id)))
}

/// One message read back from a topic.
#[derive(Debug, Clone)]
pub struct Stored {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Stored {
    /// The value of header `key`; panics naming the message when it has none.
    pub fn header(&self, key: &str) -> &[u8] {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_slice())
            .unwrap_or_else(|| panic!("no {key} header on {self:?}"))
    }
}

/// Every message on `topic` (all partitions, from the start to the high watermark).
pub fn read_topic(topic: &str) -> Vec<Stored> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("enable.auto.commit", "false")
        .set("group.id", unique("reader"))
        .create()
        .expect("reader");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut ends = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .expect("watermarks");
        if high > low {
            ends.insert(p.id(), high);
            tpl.add_partition_offset(topic, p.id(), Offset::Offset(low))
                .expect("tpl");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let mut stored = Vec::new();
    let mut done: BTreeMap<i32, bool> = ends.keys().map(|p| (*p, false)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.values().any(|d| !d) {
        assert!(Instant::now() < deadline, "reading {topic} took over 60 s");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                use rdkafka::message::Headers;
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                stored.push(Stored {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers,
                });
                if m.offset() + 1 >= ends[&m.partition()] {
                    done.insert(m.partition(), true);
                }
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    stored
}

/// Messages on `topic` now (sum over partitions of high minus low watermark).
pub fn count_messages(topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("client");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .expect("watermarks");
            high - low
        })
        .sum()
}

/// Which consumer logged a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Single,
    Batch,
}

/// A `received {'name': '…'} (p=…, o=…)` line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub group: Group,
    pub name: String,
    pub partition: i32,
    pub offset: i64,
}

/// Parses a daemon log line into a received record, if it is one.
pub fn parse_received(line: &str) -> Option<Received> {
    let group = if line.contains("kafka_avro_daemon::single_consumer]") {
        Group::Single
    } else if line.contains("kafka_avro_daemon::batch_consumer]") {
        Group::Batch
    } else {
        return None;
    };
    let rest = line.split_once("] received {'name': '")?.1;
    let (name, rest) = rest.split_once("'} (p=")?;
    let (partition, rest) = rest.split_once(", o=")?;
    let offset = rest.strip_suffix(')')?;
    Some(Received {
        group,
        name: name.to_string(),
        partition: partition.parse().ok()?,
        offset: offset.parse().ok()?,
    })
}

/// The `undecodable message` warnings `group`'s consumer logged.
pub fn undecodable_lines(lines: &[String], group: Group) -> Vec<String> {
    let target = match group {
        Group::Single => "kafka_avro_daemon::single_consumer]",
        Group::Batch => "kafka_avro_daemon::batch_consumer]",
    };
    lines
        .iter()
        .filter(|l| l.contains(target) && l.contains("undecodable message"))
        .cloned()
        .collect()
}

/// A running daemon binary with its log (stderr and stdout) collected line by line.
pub struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// The threads reading stdout and stderr into `lines`; joined once the process exited.
    readers: Vec<thread::JoinHandle<()>>,
    started: Instant,
}

/// Environment for a daemon on the local stack with its own topic and groups.
pub fn daemon_env(topic: &str) -> Vec<(String, String)> {
    [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap()),
        ("SCHEMA_REGISTRY_URL", registry_url()),
        ("TEST_TOPIC_NAME", topic.to_string()),
        ("CONSUMER_GROUP_ID_1", format!("{topic}-g1")),
        ("CONSUMER_GROUP_ID_2", format!("{topic}-g2")),
        ("RUST_LOG", "info".to_string()),
        // Tests use fresh topics; the daemon creates them (and `<topic>.dlq`) as it would on a
        // platform without auto-creation. `topic_check` tests the default, `false`.
        ("CREATE_TOPICS", "true".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// [`daemon_env`] plus `extra` variables (later ones win).
pub fn env_with(topic: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = daemon_env(topic);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

impl Daemon {
    /// Sends SIGINT and asserts a clean exit (status 0) within 30 s.
    pub fn stop_cleanly(&mut self) {
        self.signal("INT");
        let status = self.wait_exit(Duration::from_secs(30));
        assert!(
            status.success(),
            "exit {status} after SIGINT; log:\n{}",
            self.tail(40)
        );
    }

    /// Starts the binary with exactly `env` (plus PATH), nothing inherited.
    pub fn start(env: &[(String, String)]) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-avro-daemon"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start the daemon binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let lines = Arc::clone(&lines);
            readers.push(thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if std::env::var_os("DAEMON_ECHO").is_some() {
                        eprintln!("daemon| {line}");
                    }
                    lines.lock().expect("lines").push(line);
                }
            }));
        }
        Daemon {
            child,
            lines,
            readers,
            started: Instant::now(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// The received records logged so far.
    pub fn received(&self) -> Vec<Received> {
        self.lines()
            .iter()
            .filter_map(|l| parse_received(l))
            .collect()
    }

    /// Waits until `done` holds for the lines logged so far; panics with the log otherwise.
    pub fn wait_until(&self, what: &str, timeout: Duration, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.lines()) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; log:\n{}",
                    self.tail(60)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a line containing `text`.
    pub fn wait_for_line(&self, text: &str, timeout: Duration) {
        self.wait_until(&format!("a line with {text:?}"), timeout, |lines| {
            lines.iter().any(|l| l.contains(text))
        });
    }

    /// Waits until both groups logged at least `n` records each.
    pub fn wait_for_received(&self, n: usize, timeout: Duration) {
        self.wait_until(
            &format!("{n} records logged by each group"),
            timeout,
            |lines| {
                let parsed: Vec<Received> =
                    lines.iter().filter_map(|l| parse_received(l)).collect();
                [Group::Single, Group::Batch]
                    .iter()
                    .all(|g| parsed.iter().filter(|r| r.group == *g).count() >= n)
            },
        );
    }

    /// Waits until both groups logged a record of every name in `names`.
    pub fn wait_for_names(&self, names: &[impl AsRef<str>], timeout: Duration) {
        self.wait_until("every name in both groups", timeout, |lines| {
            let received: Vec<Received> = lines.iter().filter_map(|l| parse_received(l)).collect();
            names.iter().all(|name| {
                [Group::Single, Group::Batch].iter().all(|g| {
                    received
                        .iter()
                        .any(|r| r.group == *g && r.name == name.as_ref())
                })
            })
        });
    }

    /// The last `n` lines, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Sends a signal (`INT`, `TERM`, `KILL`) with `kill`.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits for the process to exit; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let Some(status) = exited_within(&mut self.child, Instant::now(), timeout) else {
            panic!(
                "daemon did not exit within {timeout:?}; log:\n{}",
                self.tail(60)
            );
        };
        // The pipes closed with the process: once the readers end, every line is in.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    /// Time since start.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Parses the producer's summary line `producer: sent S, delivered D, failed F, undelivered U`.
pub fn producer_summary(lines: &[String]) -> Option<(u64, u64, u64, u64)> {
    let line = lines.iter().rev().find(|l| l.contains("producer: sent "))?;
    let rest = line.split_once("producer: sent ")?.1;
    let numbers: Vec<u64> = rest
        .split(", ")
        .filter_map(|part| part.rsplit(' ').next()?.parse().ok())
        .collect();
    match numbers[..] {
        [sent, delivered, failed, undelivered] => Some((sent, delivered, failed, undelivered)),
        _ => None,
    }
}

/// Runs the daemon binary with `env`, returning (exit status, combined output).
pub fn run_to_exit(env: &[(String, String)], timeout: Duration) -> (ExitStatus, Vec<String>) {
    let mut daemon = Daemon::start(env);
    let status = daemon.wait_exit(timeout);
    (status, daemon.lines())
}

/// The first line of `daemon` that contains `marker`, once it is logged (within 60 s).
pub fn first_line_with(daemon: &Daemon, marker: &str) -> String {
    daemon.wait_for_line(marker, Duration::from_secs(60));
    daemon
        .lines()
        .into_iter()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line with {marker:?}"))
}

/// The schema id the daemon logged at start-up (`… with id <id>`).
pub fn logged_schema_id(daemon: &Daemon) -> u32 {
    let line = first_line_with(daemon, " with id ");
    line.rsplit(' ')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id in {line}"))
}

/// The `ERROR` lines of a run.
pub fn error_lines(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.contains(" ERROR ")).collect()
}

/// Asserts that a run ended with exit 1 and exactly one `ERROR` line, containing each of
/// `wanted`; returns that line. Panics with the log otherwise.
pub fn assert_exit_1_with_one_error_line<'a>(
    status: ExitStatus,
    lines: &'a [String],
    wanted: &[&str],
) -> &'a String {
    let log = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{log}");
    let errors = error_lines(lines);
    assert_eq!(errors.len(), 1, "one ERROR line:\n{log}");
    for wanted in wanted {
        assert!(errors[0].contains(wanted), "{wanted:?} missing:\n{log}");
    }
    errors[0]
}

/// The port the daemon reports in its `metrics on http://127.0.0.1:<port>/metrics` line.
pub fn metrics_port(daemon: &Daemon) -> u16 {
    let line = first_line_with(daemon, "metrics on http://");
    line.split_once("metrics on http://127.0.0.1:")
        .and_then(|(_, rest)| rest.split_once('/'))
        .and_then(|(port, _)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"))
}

/// One `GET path` to the daemon's metrics endpoint on `port`; the whole answer.
pub fn http_get(port: u16, path: &str) -> String {
    try_http_get(port, path)
        .unwrap_or_else(|e| panic!("GET {path} on the metrics port {port}: {e}"))
}

/// [`http_get`], an error while nothing answers there (or an answer takes over 30 s).
pub fn try_http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The value of an unlabelled metric.
pub fn metric(port: u16, name: &str) -> u64 {
    let prefix = format!("kafka_avro_daemon_{name} ");
    let metrics = http_get(port, "/metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{metrics}"))
}

/// Confluent framing built by the test itself, independent of the daemon's code:
/// magic byte, big-endian id, Avro string (zig-zag varint length, UTF-8 bytes).
pub fn confluent_user_bytes(schema_id: u32, name: &str) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&schema_id.to_be_bytes());
    let mut n = (name.len() as u64) << 1;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(name.as_bytes());
    out
}

/// GETs `path` (below the registry URL) and returns the JSON answer.
pub fn registry_get(path: &str) -> serde_json::Value {
    http()
        .get(format!("{}{path}", registry_url()))
        .send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .json()
        .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
}

/// Registers `schema` under `subject` over HTTP and returns its id.
pub fn register_schema(subject: &str, schema: &str) -> u32 {
    register_schema_request(subject, serde_json::json!({ "schema": schema }))
}

/// Registers the version `request` describes (schema, type, references) under `subject`
/// over HTTP and returns its id.
pub fn register_schema_request(subject: &str, request: serde_json::Value) -> u32 {
    let response = http()
        .post(format!("{}/subjects/{subject}/versions", registry_url()))
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(request.to_string())
        .send()
        .expect("register schema");
    let status = response.status();
    let body: serde_json::Value = response.json().expect("registry JSON");
    assert!(
        status.is_success(),
        "registering under {subject}: {status} {body}"
    );
    body["id"].as_u64().expect("id") as u32
}

/// A TCP forwarder from an ephemeral local port to `upstream` that a test can switch off:
/// switching off cuts every open connection (so pooled keep-alive connections die too), and
/// while off it accepts and at once closes new ones, as a crashed server would.
pub struct TcpProxy {
    /// The local port clients connect to.
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Mutex<Vec<std::net::TcpStream>>>,
    /// Every byte clients sent, when started with [`TcpProxy::start_recording`].
    sent: Option<Arc<Mutex<Vec<u8>>>>,
}

impl TcpProxy {
    /// Starts forwarding to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> TcpProxy {
        TcpProxy::forward(upstream, None)
    }

    /// Like [`TcpProxy::start`], keeping what clients send, for [`TcpProxy::requests_for`].
    pub fn start_recording(upstream: &str) -> TcpProxy {
        TcpProxy::forward(upstream, Some(Arc::new(Mutex::new(Vec::new()))))
    }

    /// How many HTTP requests clients sent so far whose request line is `METHOD path`
    /// (`path` whole, e.g. `GET /apis/ccompat/v7/schemas/ids/7`).
    pub fn requests_for(&self, request: &str) -> usize {
        let sent = self.sent.as_ref().expect("started with start_recording");
        let sent = sent.lock().expect("sent");
        let needle = format!("{request} HTTP/1.1\r\n");
        sent.windows(needle.len())
            .filter(|window| *window == needle.as_bytes())
            .count()
    }

    fn forward(upstream: &str, sent: Option<Arc<Mutex<Vec<u8>>>>) -> TcpProxy {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (flag, streams) = (Arc::clone(&up), Arc::clone(&open));
        let upstream = upstream.to_string();
        let recorded = sent.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut registry = streams.lock().expect("streams");
                registry.push(client.try_clone().expect("clone"));
                registry.push(server.try_clone().expect("clone"));
                for (mut from, mut to, record) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                        recorded.clone(),
                    ),
                    (server, client, None),
                ] {
                    thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        while let Ok(n @ 1..) = from.read(&mut buffer) {
                            if let Some(record) = &record {
                                record.lock().expect("sent").extend_from_slice(&buffer[..n]);
                            }
                            if to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        TcpProxy {
            port,
            up,
            open,
            sent,
        }
    }

    /// Switches forwarding on or off; off also cuts the connections open now.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            for stream in self.open.lock().expect("streams").drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The registry URL through a proxy on `port`.
pub fn registry_url_via(port: u16) -> String {
    let url = reqwest::Url::parse(&registry_url()).expect("registry URL");
    format!(
        "http://127.0.0.1:{port}{}",
        url.path().trim_end_matches('/')
    )
}

/// The `host:port` of the registry.
pub fn registry_host_port() -> String {
    let url = reqwest::Url::parse(&registry_url()).expect("registry URL");
    format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port_or_known_default().expect("port")
    )
}

/// A pipe whose buffer is full: a write to `writer` (or to a child's stderr made of it)
/// blocks until `reader` is read.
pub fn full_pipe() -> (std::io::PipeReader, std::io::PipeWriter) {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let (reader, mut writer) = std::io::pipe().expect("a pipe");
    let fd = writer.as_raw_fd();
    // SAFETY: fcntl on a descriptor of this function's, alive for the calls.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "F_GETFL");
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) },
        0
    );
    // PIPE_BUF (4096) bytes while they fit (a write of up to PIPE_BUF is all or nothing),
    // then a byte at a time.
    while writer.write(&[b'.'; 4096]).is_ok_and(|n| n > 0) {}
    while writer.write(b".").is_ok_and(|n| n > 0) {}
    // Blocking again: the flag belongs to the open file description, which a child given
    // this end shares; its writes must wait, not fail.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }, 0);
    (reader, writer)
}

/// Sends `signal` (`INT`, `TERM`, `KILL`) to process `pid` with `kill`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// The exit status of `child`, polled every 50 ms; `None` if it has not exited once `within`
/// has passed since `since`.
pub fn exited_within(child: &mut Child, since: Instant, within: Duration) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if since.elapsed() > within {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Polls every 100 ms until `done` or `within` passes (then panics naming `what`).
pub fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `(key, payload)` records to one partition and waits until they are acknowledged.
pub fn produce_to_partition(
    topic: &str,
    partition: i32,
    records: &[(Option<&str>, Option<Vec<u8>>)],
) {
    let producer = test_producer();
    for (key, payload) in records {
        let mut record = BaseRecord::<str, [u8]>::to(topic).partition(partition);
        if let Some(key) = key {
            record = record.key(*key);
        }
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        producer.send(record).map_err(|(e, _)| e).expect("enqueue");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// The folder of Kafka jars `scripts/stack` downloaded for its `KAFKA_VERSION` (kafka-clients
/// and what it needs): that version's only, since `.cache` may still hold an older one.
pub fn kafka_libs() -> std::path::PathBuf {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let stack = std::fs::read_to_string(root.join("scripts/stack")).expect("scripts/stack");
    let version = stack
        .lines()
        .find_map(|line| line.strip_prefix("KAFKA_VERSION="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("KAFKA_VERSION= in scripts/stack");
    let libs = root.join(".cache").join(format!("kafka-{version}/libs"));
    let has_clients = std::fs::read_dir(&libs).is_ok_and(|mut jars| {
        jars.any(|jar| {
            jar.ok()
                .and_then(|j| j.file_name().into_string().ok())
                .is_some_and(|n| n.starts_with("kafka-clients-"))
        })
    });
    assert!(
        has_clients,
        "no Kafka {version} jars in {} (run scripts/stack up)",
        libs.display()
    );
    libs
}

/// Compiles the Java class `name` from `source` against the Kafka jars (once per test run)
/// and runs it with `args` and `stdin`; its standard output.
pub fn run_java(name: &str, source: &str, args: &[String], stdin: &str) -> String {
    use std::io::Write;
    static COMPILED: OnceLock<Mutex<BTreeMap<String, std::path::PathBuf>>> = OnceLock::new();
    let jars = kafka_libs().join("*");
    let dir = {
        let mut compiled = COMPILED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        compiled
            .entry(name.to_string())
            .or_insert_with(|| {
                let dir = std::env::temp_dir().join(unique("java"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let file = dir.join(format!("{name}.java"));
                std::fs::write(&file, source).expect("write source");
                let output = Command::new("javac")
                    .arg("-cp")
                    .arg(&jars)
                    .arg("-d")
                    .arg(&dir)
                    .arg(&file)
                    .output()
                    .expect("javac (a JDK, installed by scripts/stack)");
                assert!(
                    output.status.success(),
                    "javac {name}: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                dir
            })
            .clone()
    };
    let classpath = format!("{}:{}", dir.display(), jars.display());
    let mut child = Command::new("java")
        .args(["-cp", &classpath, name])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("java");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("java output");
    assert!(
        output.status.success(),
        "java {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The figures of one group's `audit: <consumer> (<group>): audited=… lost=… …` line, logged
/// at stop, by name.
pub fn audit_summary(lines: &[String], group: &str) -> BTreeMap<String, u64> {
    let line = lines
        .iter()
        .find(|l| l.contains(&format!("({group}): audited=")))
        .unwrap_or_else(|| panic!("no audit: line for group {group}"));
    line.split_once("): ")
        .expect("fields")
        .1
        .split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("number")))
        .collect()
}

/// Asserts that an `audit:` summary found no fault: nothing lost, written twice or reordered,
/// and nothing still `pending` (a gap not yet past `AUDIT_LOSS_GRACE_S` when the daemon
/// stopped: a loss the audit had no time to declare, so a clean `lost` would prove nothing).
pub fn assert_audit_clean(figures: &BTreeMap<String, u64>, group: &str) {
    for fault in [
        "lost",
        "pending",
        "lost_reported_by_producer",
        "duplicate_writes",
        "out_of_order",
        "malformed",
    ] {
        assert_eq!(figures[fault], 0, "{group}: {fault} in {figures:?}");
    }
}

/// The group ids [`daemon_env`] gives a topic's consumers, with the consumer each belongs to.
pub fn groups_of(topic: &str) -> [(Group, String); 2] {
    [
        (Group::Single, format!("{topic}-g1")),
        (Group::Batch, format!("{topic}-g2")),
    ]
}

/// An admin client on the JVM (Kafka's own `Admin`), for what rdkafka offers only through
/// futures: topics with their own configuration, deleting topics, group ACLs.
const KAFKA_ADMIN: &str = r#"
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.resource.*;
import java.util.*;

/** create BOOTSTRAP TOPIC PARTITIONS [key=value...] | delete BOOTSTRAP TOPIC |
 *  place BOOTSTRAP TOPIC REPLICAS (each partition's brokers: "1,2/2,1") |
 *  partitions BOOTSTRAP TOPIC COUNT |
 *  acl add|remove BOOTSTRAP PRINCIPAL group|topic NAME PERMISSION:OPERATION... */
public class KafkaAdmin {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put("bootstrap.servers", args[args[0].equals("acl") ? 2 : 1]);
        try (Admin admin = Admin.create(config)) {
            switch (args[0]) {
                case "create": {
                    Map<String, String> configs = new HashMap<>();
                    for (String kv : Arrays.asList(args).subList(4, args.length)) {
                        String[] parts = kv.split("=", 2);
                        configs.put(parts[0], parts[1]);
                    }
                    NewTopic topic = new NewTopic(args[2], Integer.parseInt(args[3]), (short) -1).configs(configs);
                    admin.createTopics(List.of(topic)).all().get();
                    break;
                }
                case "place": {
                    Map<Integer, List<Integer>> replicas = new HashMap<>();
                    String[] partitions = args[3].split("/");
                    for (int p = 0; p < partitions.length; p++) {
                        List<Integer> brokers = new ArrayList<>();
                        for (String broker : partitions[p].split(",")) brokers.add(Integer.parseInt(broker));
                        replicas.put(p, brokers);
                    }
                    admin.createTopics(List.of(new NewTopic(args[2], replicas))).all().get();
                    break;
                }
                case "delete":
                    admin.deleteTopics(List.of(args[2])).all().get();
                    break;
                case "partitions":
                    admin.createPartitions(Map.of(args[2], NewPartitions.increaseTo(Integer.parseInt(args[3])))).all().get();
                    break;
                case "acl": {
                    ResourceType type = args[4].equals("group") ? ResourceType.GROUP : ResourceType.TOPIC;
                    List<AclBinding> acls = new ArrayList<>();
                    for (String rule : Arrays.asList(args).subList(6, args.length)) {
                        String[] parts = rule.split(":");
                        acls.add(new AclBinding(
                            new ResourcePattern(type, args[5], PatternType.LITERAL),
                            new AccessControlEntry(args[3], "*", AclOperation.fromString(parts[1]),
                                AclPermissionType.fromString(parts[0]))));
                    }
                    if (args[1].equals("add")) {
                        admin.createAcls(acls).all().get();
                    } else {
                        List<AclBindingFilter> filters = new ArrayList<>();
                        for (AclBinding acl : acls) filters.add(acl.toFilter());
                        admin.deleteAcls(filters).all().get();
                    }
                    break;
                }
                default:
                    throw new IllegalArgumentException(args[0]);
            }
        }
        System.out.println("done");
    }
}
"#;

/// Runs one [`KAFKA_ADMIN`] command (through the PLAINTEXT listener, whose principal the
/// stack makes a super user) and asserts it succeeded.
pub fn kafka_admin(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let answer = run_java("KafkaAdmin", KAFKA_ADMIN, &args, "");
    assert!(answer.contains("done"), "KafkaAdmin {args:?}: {answer}");
}

/// Creates `topic` with `partitions` partitions and topic configuration `configs`
/// (`key=value`), and waits until every partition has a leader.
pub fn create_topic_with(topic: &str, partitions: u32, configs: &[&str]) {
    let partitions = partitions.to_string();
    let bootstrap = bootstrap();
    let mut args = vec!["create", &bootstrap, topic, &partitions];
    args.extend(configs);
    kafka_admin(&args);
    ensure_topic(topic);
}

/// Creates `topic` with its partitions' replicas on the brokers `replicas` names, one list per
/// partition (`[[1, 2], [2, 1]]`: two partitions led by 1 and 2), and waits until every
/// partition has a leader.
pub fn create_topic_on(topic: &str, replicas: &[Vec<i32>]) {
    let placement = replicas
        .iter()
        .map(|brokers| {
            brokers
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("/");
    kafka_admin(&["place", &bootstrap(), topic, &placement]);
    ensure_topic(topic);
}

/// An example's binary: `cargo build --examples` (the test command runs it) puts it next to the
/// test binaries' `deps/` folder.
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: the test command builds the examples (`cargo build --examples`)",
        path.display()
    );
    path
}

/// The python of the reference clients' venv (`scripts/ensure-reference-clients`): missing
/// is a failure, never a skip.
pub fn reference_python() -> std::path::PathBuf {
    let python = std::env::var_os("REFERENCE_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".cache/reference/venv/bin/python")
        });
    assert!(
        python.exists(),
        "the reference clients are not installed at {}: run scripts/ensure-reference-clients (scripts/test does)",
        python.display()
    );
    python
}

/// Writes the records of `case` (tests/integration/reference/confluent_reference.py) to
/// partition 0 of `topic` with Confluent's Python serializer; returns the folder with their
/// schemas and how fastavro prints them.
pub fn produce_with_confluents_serializer(topic: &str, case: &str) -> std::path::PathBuf {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/reference/confluent_reference.py");
    let dir = std::env::temp_dir().join(format!("{topic}-{case}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let produced = Command::new(reference_python())
        .arg(&script)
        .args([&bootstrap(), &registry_url(), topic, case])
        .arg(&dir)
        .output()
        .expect("run the reference producer");
    assert!(
        produced.status.success(),
        "reference producer: {}\n{}",
        String::from_utf8_lossy(&produced.stdout),
        String::from_utf8_lossy(&produced.stderr)
    );
    dir
}

/// The log lines of library consumers run in this process (a daemon's lines are read from its
/// stderr instead). A consumer under test logs to a target of its own, [`captured_target`]; only
/// targets under `captured::` are kept, so librdkafka's and every other test's lines are not.
static CAPTURED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("captured::")
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.level(), record.args());
            CAPTURED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((record.target().to_string(), line));
        }
    }

    fn flush(&self) {}
}

/// A log target whose lines (debug and up) [`captured_lines`] returns: set it as a consumer's
/// `ConsumerSettings::log_target`. Installs this binary's logger on first use.
pub fn captured_target(name: &str) -> String {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        log::set_logger(&Capture).expect("no other logger in the integration tests");
        log::set_max_level(log::LevelFilter::Debug);
    });
    format!("captured::{name}")
}

/// The lines logged to `target` so far, each `<LEVEL> <message>`, in order.
pub fn captured_lines(target: &str) -> Vec<String> {
    CAPTURED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(t, _)| t == target)
        .map(|(_, line)| line.clone())
        .collect()
}
