//! A registry that fails mid-run without it being any record's fault — it refuses with
//! 401/403/429/503, it accepts connections and never answers, it answers 200 with a body that
//! is no schema or is over the client's 1 MiB limit, it answers 404 for everything — is waited
//! out: nothing is skipped or dead-lettered, `/healthz` stays 200, and the wait shows in
//! `registry_wait_seconds`. Faults come from an HTTP proxy in front of the real registry,
//! which also serves `GET /schemas/guids/{guid}` as Confluent 8 does (the local Apicurio has no
//! such endpoint) for the `header_framing` tests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;

/// What the proxy does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forward to the real registry.
    Pass,
    /// Answer with this status and a Confluent-style error body.
    Status(u16),
    /// Hold the connection, answering nothing, until the mode changes.
    Hang,
}

/// Answers a request line itself (`Some((status, body))`) or leaves it to the mode (`None`).
pub(crate) type Answer = Box<dyn Fn(&str) -> Option<(u16, String)> + Send + Sync>;

/// An HTTP proxy in front of the registry whose answers a test switches.
pub(crate) struct RegistryProxy {
    pub(crate) port: u16,
    mode: Arc<Mutex<Mode>>,
    stopped: Arc<AtomicBool>,
    /// Requests read so far.
    pub(crate) requests: Arc<AtomicUsize>,
    /// While set, every write (a new version, config, mode, a delete) is refused with 403.
    pub(crate) read_only: Arc<AtomicBool>,
    /// Writes refused so far.
    pub(crate) writes: Arc<AtomicUsize>,
    /// Schemas served by GUID (canonical UUID text → schema); any other GUID is answered
    /// 404 with Confluent's `error_code` 40403.
    guids: Arc<Mutex<HashMap<String, String>>>,
    /// Answers chosen by the test, asked before anything else.
    answer: Arc<Mutex<Option<Answer>>>,
}

impl RegistryProxy {
    pub(crate) fn start() -> RegistryProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let stopped = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (shared_mode, stop) = (Arc::clone(&mode), Arc::clone(&stopped));
        let counter = Arc::clone(&requests);
        let read_only = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicUsize::new(0));
        let (only_reads, refused) = (Arc::clone(&read_only), Arc::clone(&writes));
        let guids = Arc::new(Mutex::new(HashMap::new()));
        let served = Arc::clone(&guids);
        let answer: Arc<Mutex<Option<Answer>>> = Arc::new(Mutex::new(None));
        let chosen = Arc::clone(&answer);
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let mode = Arc::clone(&shared_mode);
                let stop = Arc::clone(&stop);
                let counter = Arc::clone(&counter);
                let guard = Guard {
                    read_only: Arc::clone(&only_reads),
                    refused: Arc::clone(&refused),
                };
                let guids = Arc::clone(&served);
                let answer = Arc::clone(&chosen);
                thread::spawn(move || {
                    let _ = serve(client, &mode, &stop, &counter, &guard, &guids, &answer);
                });
            }
        });
        RegistryProxy {
            port,
            mode,
            stopped,
            requests,
            read_only,
            writes,
            guids,
            answer,
        }
    }

    /// Answers requests with `answer` first from now on (`None` from it: as before).
    pub(crate) fn answer_with(&self, answer: Answer) {
        *self.answer.lock().expect("answer") = Some(answer);
    }

    /// Holds every request from now on, answering nothing (a hung registry), or forwards
    /// again (`false`).
    pub(crate) fn hang(&self, hung: bool) {
        self.set(if hung { Mode::Hang } else { Mode::Pass });
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }

    /// Serves `schema` at `GET /schemas/guids/{guid}` from now on.
    pub(crate) fn serve_guid(&self, guid: &str, schema: &str) {
        self.guids
            .lock()
            .expect("guids")
            .insert(guid.to_string(), schema.to_string());
    }
}

impl Drop for RegistryProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.set(Mode::Pass);
        // Wake the accept loop so it sees the stop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Answers one request (the proxy closes every connection after one answer).
/// A registry's write endpoints, refused while `read_only` is set.
struct Guard {
    read_only: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
}

impl Guard {
    /// Whether `request_line` writes: a new version, compatibility or mode settings, a delete.
    fn is_write(request_line: &str) -> bool {
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = path.split('?').next().unwrap_or("");
        matches!(method, "DELETE" | "PUT")
            || (method == "POST"
                && (path.ends_with("/versions")
                    || path.contains("/config")
                    || path.contains("/mode")))
    }
}

fn serve(
    client: TcpStream,
    mode: &Mutex<Mode>,
    stop: &AtomicBool,
    requests: &AtomicUsize,
    guard: &Guard,
    guids: &Mutex<HashMap<String, String>>,
    answer: &Mutex<Option<Answer>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        let end = line == "\r\n";
        if !line.to_ascii_lowercase().starts_with("connection:") && !end {
            head.push(line);
        }
        if end {
            break;
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    requests.fetch_add(1, Ordering::SeqCst);
    if guard.read_only.load(Ordering::SeqCst) && head.first().is_some_and(|l| Guard::is_write(l)) {
        guard.refused.fetch_add(1, Ordering::SeqCst);
        let body =
            r#"{"error_code":40301,"message":"read-only: writes are refused by the test proxy"}"#;
        let mut client = client;
        write!(
            client,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return client.flush();
    }
    let chosen = head.first().and_then(|line| {
        let answer = answer.lock().expect("answer");
        answer.as_ref().and_then(|answer| answer(line))
    });
    if let Some((status, body)) = chosen {
        let mut client = client;
        write!(
            client,
            "HTTP/1.1 {status} Chosen\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return client.flush();
    }
    let guid = head.first().and_then(|line| {
        let path = line.strip_prefix("GET ")?.split_whitespace().next()?;
        Some(path.split_once("/schemas/guids/")?.1.to_string())
    });
    if let Some(guid) = guid {
        let (status, body) = match guids.lock().expect("guids").get(&guid) {
            Some(schema) => (
                "200 OK",
                serde_json::json!({ "schema": schema }).to_string(),
            ),
            None => (
                "404 Not Found",
                r#"{"error_code":40403,"message":"Schema not found"}"#.to_string(),
            ),
        };
        let mut client = client;
        write!(
            client,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return client.flush();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut client = client;
    loop {
        let current = *mode.lock().expect("mode");
        match current {
            Mode::Hang if Instant::now() < deadline && !stop.load(Ordering::SeqCst) => {
                thread::sleep(Duration::from_millis(50));
            }
            Mode::Hang => return Ok(()),
            Mode::Status(status) => {
                let body = format!(
                    "{{\"error_code\":{status},\"message\":\"injected by the test proxy\"}}"
                );
                write!(
                    client,
                    "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )?;
                return client.flush();
            }
            Mode::Pass => {
                let mut upstream = TcpStream::connect(registry_host_port())?;
                for line in &head {
                    upstream.write_all(line.as_bytes())?;
                }
                upstream.write_all(b"Connection: close\r\n\r\n")?;
                upstream.write_all(&body)?;
                let mut answer = Vec::new();
                upstream.read_to_end(&mut answer)?;
                client.write_all(&answer)?;
                return client.flush();
            }
        }
    }
}

/// `User` with an added optional field: a schema the daemon has not seen before the fault.
pub(crate) const USER_V2: &str = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}"#;

/// A v2 record: the name, then the union's null branch (index 0).
pub(crate) fn v2_bytes(id: u32, name: &str) -> Vec<u8> {
    let mut bytes = confluent_user_bytes(id, name);
    bytes.push(0);
    bytes
}

pub(crate) fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// The largest `registry_wait_seconds` sample on `/metrics`.
fn longest_registry_wait(port: u16) -> f64 {
    http_get(port, "/metrics")
        .lines()
        .filter(|l| l.starts_with("kafka_avro_daemon_registry_wait_seconds{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, f64::max)
}

/// The shortest `registry_wait_seconds` of the two consumers (0 unless both wait).
fn shortest_registry_wait(port: u16) -> f64 {
    let waits: Vec<f64> = http_get(port, "/metrics")
        .lines()
        .filter(|l| l.starts_with("kafka_avro_daemon_registry_wait_seconds{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    match waits.len() {
        2 => waits.into_iter().fold(f64::INFINITY, f64::min),
        _ => 0.0,
    }
}

/// Starts a daemon that reaches the registry through `proxy` and has handled its own
/// record in both groups.
fn start_behind(proxy: &RegistryProxy, topic: &str, extra: &[(&str, &str)]) -> (Daemon, u16) {
    let url = registry_url_via(proxy.port);
    let mut vars = vec![
        ("SCHEMA_REGISTRY_URL", url.as_str()),
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("PRODUCE_COUNT", "1"),
    ];
    vars.extend_from_slice(extra);
    let daemon = Daemon::start(&env_with(topic, &vars));
    daemon.wait_for_received(1, Duration::from_secs(60));
    let port = metrics_port(&daemon);
    (daemon, port)
}

/// What `/healthz` and `/readyz` said while a fault was held.
#[derive(Default)]
struct Probes {
    /// The slowest `/healthz` answer.
    worst: Duration,
    /// `/healthz` answers that were not 200.
    unhealthy: Vec<String>,
    /// Whether `/readyz` said 503 (degraded) at least once.
    degraded: bool,
}

/// Holds `mode` for `how_long`, asking `/healthz` and `/readyz` every 250 ms.
fn hold(proxy: &RegistryProxy, mode: Mode, how_long: Duration, port: u16, probes: &mut Probes) {
    proxy.set(mode);
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        let asked = Instant::now();
        let status = http_status(port, "/healthz");
        probes.worst = probes.worst.max(asked.elapsed());
        if status != Some(200) {
            probes
                .unhealthy
                .push(format!("{mode:?}: /healthz answered {status:?}"));
        }
        probes.degraded |= http_status(port, "/readyz") == Some(503);
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn refusals_and_a_hang_mid_run_are_waited_out_and_nothing_is_skipped() {
    let _cluster = require_stack();
    let topic = unique("registry-sick");
    ensure_topic(&topic);
    let proxy = RegistryProxy::start();
    let (mut daemon, port) = start_behind(&proxy, &topic, &[("REGISTRY_DEGRADED_AFTER_S", "10")]);

    // A schema registered by another producer; the daemon has to ask the registry for it.
    let v2 = register_schema(&format!("{topic}-value"), USER_V2);
    proxy.set(Mode::Status(401));
    let names: Vec<String> = (0..10).map(|n| format!("evolved_{n}")).collect();
    let payloads: Vec<Vec<u8>> = names.iter().map(|n| v2_bytes(v2, n)).collect();
    produce_raw(&topic, &payloads);

    let mut probes = Probes::default();
    for (mode, seconds) in [
        (Mode::Status(401), 4),
        (Mode::Status(429), 4),
        (Mode::Status(503), 4),
        // Longer than the registry client's 15 s request timeout.
        (Mode::Hang, 20),
    ] {
        hold(
            &proxy,
            mode,
            Duration::from_secs(seconds),
            port,
            &mut probes,
        );
    }
    let waited = longest_registry_wait(port);
    proxy.set(Mode::Pass);
    daemon.wait_for_names(&names, Duration::from_secs(60));
    let ready_again = http_status(port, "/readyz");
    daemon.stop_cleanly();

    let lines = daemon.lines();
    let skipped: Vec<&String> = lines.iter().filter(|l| l.contains("undecodable")).collect();
    assert!(skipped.is_empty(), "records skipped: {skipped:#?}");
    assert!(probes.unhealthy.is_empty(), "{:#?}", probes.unhealthy);
    assert!(
        probes.degraded,
        "/readyz never said degraded during a 32 s wait"
    );
    assert_eq!(
        ready_again,
        Some(200),
        "/readyz after the registry recovered"
    );
    assert!(
        waited >= 20.0,
        "registry_wait_seconds was {waited} during the fault"
    );
    let reports = lines
        .iter()
        .filter(|l| l.contains("waiting for the registry"))
        .count();
    // Once per change of answer and consumer (401, 429, 503, a timeout), not per retry.
    assert!(
        (2..=16).contains(&reports),
        "{reports} waiting lines: {:#?}",
        lines
            .iter()
            .filter(|l| l.contains("waiting for the registry"))
            .collect::<Vec<_>>()
    );
    println!(
        "figures: registry 401/429/503/hang for 32 s: 0 records skipped, /healthz 200 throughout (slowest answer {:?}), /readyz 503 after REGISTRY_DEGRADED_AFTER_S=10 and 200 again after, registry_wait_seconds reached {waited:.1}, {reports} waiting lines",
        probes.worst
    );
}

/// `User` with one optional field more, named `field`: a writer schema of its own (its own
/// id) per fault, which the daemon has not seen; its records are [`v2_bytes`].
fn user_with(field: &str) -> String {
    format!(
        r#"{{"namespace":"example.avro","type":"record","name":"User","fields":[{{"name":"name","type":"string"}},{{"name":"{field}","type":["null","string"],"default":null}}]}}"#
    )
}

/// What the registry answers to every request while one fault of
/// [`a_403_a_non_schema_body_and_one_over_a_mebibyte_are_waited_out_and_none_dead_lettered`]
/// holds.
struct Fault {
    /// Names the fault and its records.
    label: &'static str,
    status: u16,
    body: String,
    /// What each consumer's waiting line says of it.
    said: &'static str,
    /// The writer schema the consumers must look up while it holds.
    id: u32,
}

/// How the daemon's two consumers begin their lines.
const CONSUMERS: [&str; 2] = ["single-message consumer: ", "batch consumer: "];

/// The registry client reads at most this much of an answer (`MAX_RESPONSE_BYTES` in
/// `src/registry/client.rs`).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Mid-run, each in turn: a 403, a 200 with an HTML page, a 200 with JSON of another shape,
/// a 200 with a JSON array, a 200 over the client's 1 MiB limit (the right schema, padded).
/// Records naming a writer schema the daemon has not seen are written during each; both
/// groups wait (one line each, retried for 2 s), handle none of them and give none up, and
/// handle every one once the registry answers properly. Under `ON_DECODE_ERROR=dlq`, so a fault taken for the records'
/// would show as copies in `<topic>.dlq` as well as `undecodable` lines.
#[test]
fn a_403_a_non_schema_body_and_one_over_a_mebibyte_are_waited_out_and_none_dead_lettered() {
    let _cluster = require_stack();
    let topic = unique("registry-no-schema");
    ensure_topic(&topic);
    let proxy = RegistryProxy::start();
    // Under `dlq`, a fault taken for the record's would copy it aside (and under `skip` drop
    // it): either way it would never be received.
    let (mut daemon, port) = start_behind(&proxy, &topic, &[("ON_DECODE_ERROR", "dlq")]);
    let subject = format!("{topic}-value");
    let register = |field: &str| {
        let schema = user_with(field);
        (register_schema(&subject, &schema), schema)
    };
    let (forbidden, _) = register("forbidden");
    let (html, _) = register("html");
    let (other_json, _) = register("other_json");
    let (json_array, _) = register("json_array");
    let (oversized, oversized_schema) = register("oversized");
    // The right answer for the id, as JSON allows it, followed by blanks past the limit:
    // only the limit keeps it from being read and the records decoded during the fault.
    let mut padded = serde_json::json!({ "schema": oversized_schema }).to_string();
    padded.push_str(&" ".repeat(MAX_RESPONSE_BYTES + 1024 - padded.len()));
    let faults = [
        Fault {
            label: "forbidden",
            status: 403,
            body: r#"{"error_code":40301,"message":"User is denied operation Read on Subject"}"#
                .to_string(),
            said: "HTTP 403",
            id: forbidden,
        },
        // A single sign-on proxy's login page, answered 200.
        Fault {
            label: "html",
            status: 200,
            body: "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=\"/login\" method=\"post\"><input name=\"user\"></form></body></html>".to_string(),
            said: "gave an unexpected answer",
            id: html,
        },
        // JSON of another shape: a search answer of Apicurio's own API, from a proxy that
        // routes to the wrong API.
        Fault {
            label: "other_json",
            status: 200,
            body: format!(
                r#"{{"artifacts":[{{"groupId":"default","artifactId":"{subject}"}}],"count":1}}"#
            ),
            said: "gave an unexpected answer",
            id: other_json,
        },
        // A list of subjects where the schema was asked for: serde's derived reader filled a
        // schema's fields from it by position, and the schema was refused for the run.
        Fault {
            label: "json_array",
            status: 200,
            body: format!(r#"["{subject}","orders-value"]"#),
            said: "not a JSON object",
            id: json_array,
        },
        Fault {
            label: "oversized",
            status: 200,
            body: padded,
            said: "the answer is larger than 1048576 bytes",
            id: oversized,
        },
    ];
    let own = logged_schema_id(&daemon);
    let mut ids: Vec<u32> = faults.iter().map(|f| f.id).collect();
    ids.push(own);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), faults.len() + 1, "ids not distinct: {ids:?}");

    let mut figures = Vec::new();
    for fault in &faults {
        let names: Vec<String> = (0..5).map(|n| format!("{}_{n}", fault.label)).collect();
        let payloads: Vec<Vec<u8>> = names.iter().map(|n| v2_bytes(fault.id, n)).collect();
        // Every request gets the fault; those for the records' writer schema are counted.
        let path = format!("/schemas/ids/{} ", fault.id);
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&asked);
        let (status, body) = (fault.status, fault.body.clone());
        proxy.answer_with(Box::new(move |line| {
            if line.contains(&path) {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            Some((status, body.clone()))
        }));
        let began = Instant::now();
        produce_raw(&topic, &payloads);

        // Held until both groups said they wait for this answer and have waited 2 s (so each
        // was refused again at its retry, at most 1 s after its first try), or until a record
        // was given up on or handled, which the asserts below then name.
        let schema = format!("writer schema {}: ", fault.id);
        let waiting_line = |lines: &[String], consumer: &str| {
            lines.iter().any(|l| {
                l.contains(consumer)
                    && l.contains(&schema)
                    && l.contains(fault.said)
                    && l.contains("waiting for the registry")
            })
        };
        let gave_up = |l: &String| l.contains("undecodable message") || l.contains("copied p=");
        let handled = |lines: &[String]| -> Vec<Received> {
            lines
                .iter()
                .filter_map(|l| parse_received(l))
                .filter(|r| names.contains(&r.name))
                .collect()
        };
        daemon.wait_until(
            &format!("both groups waiting out the {} answer", fault.label),
            Duration::from_secs(60),
            |lines| {
                lines.iter().any(gave_up)
                    || !handled(lines).is_empty()
                    || (CONSUMERS.iter().all(|c| waiting_line(lines, c))
                        && asked.load(Ordering::SeqCst) >= 4
                        && shortest_registry_wait(port) >= 2.0)
            },
        );
        let lines = daemon.lines();
        let given_up: Vec<&String> = lines.iter().filter(|l| gave_up(l)).collect();
        assert!(
            given_up.is_empty(),
            "{}: records given up on during the fault: {given_up:#?}",
            fault.label
        );
        let early = handled(&lines);
        assert!(
            early.is_empty(),
            "{}: records handled while the registry could not give their schema: {early:#?}",
            fault.label
        );
        let held = began.elapsed();
        let requests = asked.load(Ordering::SeqCst);

        proxy.answer_with(Box::new(|_| None));
        daemon.wait_for_names(&names, Duration::from_secs(60));
        figures.push(format!(
            "{} held {held:.1?} ({requests} lookups), handled {:.1?} after",
            fault.label,
            began.elapsed() - held
        ));
    }
    let metrics = http_get(port, "/metrics");
    daemon.stop_cleanly();

    let lines = daemon.lines();
    for group in [Group::Single, Group::Batch] {
        let undecodable = undecodable_lines(&lines, group);
        assert!(undecodable.is_empty(), "{group:?}: {undecodable:#?}");
    }
    let decode_errors: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("kafka_avro_daemon_decode_errors_total{"))
        .collect();
    assert_eq!(decode_errors.len(), 2, "{metrics}");
    assert!(
        decode_errors.iter().all(|l| l.ends_with(" 0")),
        "{decode_errors:#?}"
    );
    let dead_lettered = count_messages(&format!("{topic}.dlq"));
    assert_eq!(dead_lettered, 0, "records copied to {topic}.dlq");
    println!(
        "figures: registry 403 / 200 HTML / 200 JSON of another shape / 200 JSON array / 200 over 1 MiB: 0 records skipped or dead-lettered, all 25 received by both groups; {}",
        figures.join("; ")
    );
}

#[test]
fn a_registry_that_answers_404_for_everything_is_not_believed() {
    let _cluster = require_stack();
    let topic = unique("registry-404");
    ensure_topic(&topic);
    let proxy = RegistryProxy::start();
    let (mut daemon, port) = start_behind(&proxy, &topic, &[("SCHEMA_NOT_FOUND_GRACE_S", "1")]);

    let v2 = register_schema(&format!("{topic}-value"), USER_V2);
    // A registry that lost everything (a restarted in-memory one, a wrong URL): 404 for the
    // new id and for the daemon's own id too, for far longer than the grace period.
    proxy.set(Mode::Status(404));
    produce_raw(&topic, &[v2_bytes(v2, "after_the_restart")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while longest_registry_wait(port) < 5.0 {
        assert!(Instant::now() < deadline, "the consumers never waited");
        thread::sleep(Duration::from_millis(250));
    }
    proxy.set(Mode::Pass);
    daemon.wait_for_names(&["after_the_restart"], Duration::from_secs(60));
    daemon.stop_cleanly();
    let skipped: Vec<String> = daemon
        .lines()
        .into_iter()
        .filter(|l| l.contains("undecodable"))
        .collect();
    assert!(skipped.is_empty(), "records skipped: {skipped:#?}");
}

#[test]
fn a_stop_during_the_last_registration_attempt_is_a_clean_stop() {
    // The topic check comes first and needs the brokers; the registration then hangs.
    let _cluster = require_stack();
    let topic = unique("registry-stop");
    ensure_topic(&topic);
    let proxy = RegistryProxy::start();
    proxy.set(Mode::Hang);
    let url = registry_url_via(proxy.port);
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("SCHEMA_REGISTRY_URL", &url),
            // One attempt: the stop comes during the last one.
            ("SCHEMA_REGISTRY_RETRIES", "0"),
        ],
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.requests.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the daemon never asked the registry"
        );
        thread::sleep(Duration::from_millis(50));
    }
    daemon.signal("INT");
    let signalled = Instant::now();
    let status = daemon.wait_exit(Duration::from_secs(30));
    let took = signalled.elapsed();
    let lines = daemon.lines();
    assert!(status.success(), "exit {status}; log:\n{}", daemon.tail(20));
    // The stop ends the wait for the held request, not its 15 s timeout.
    assert!(
        took < Duration::from_secs(5),
        "stopped {took:?} after SIGINT"
    );
    println!("figures: a stop during a registration the registry holds took {took:?}");
    assert!(
        lines.last().is_some_and(|l| l.ends_with("] stopped")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(" ERROR ")), "{lines:#?}");
}

#[test]
fn without_auto_register_the_daemon_only_reads_the_registry() {
    let _cluster = require_stack();
    let topic = unique("read-only");
    let subject = format!("{topic}-value");
    // Registered by someone else, with other formatting (whitespace, key order).
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/user.avsc")).expect("user.avsc");
    let reformatted = serde_json::to_string_pretty(&schema).expect("JSON");
    let id = register_schema(&subject, &reformatted);
    let proxy = RegistryProxy::start();
    proxy.read_only.store(true, Ordering::SeqCst);
    let url = registry_url_via(proxy.port);
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("SCHEMA_REGISTRY_URL", &url),
            ("SCHEMA_REGISTRY_AUTO_REGISTER", "false"),
            ("PRODUCE_COUNT", "3"),
        ],
    ));
    daemon.wait_for_received(3, Duration::from_secs(60));
    daemon.stop_cleanly();
    let found = format!("schema found under subject {subject} with id {id}");
    assert!(
        daemon.lines().iter().any(|l| l.contains(&found)),
        "{}",
        daemon.tail(20)
    );
    assert!(proxy.requests.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        proxy.writes.load(Ordering::SeqCst),
        0,
        "a write reached the proxy"
    );

    // A subject nobody registered: one clear line, exit 1, still no write.
    let missing = unique("read-only-missing");
    let (status, lines) = run_to_exit(
        &env_with(
            &missing,
            &[
                ("SCHEMA_REGISTRY_URL", &url),
                ("SCHEMA_REGISTRY_AUTO_REGISTER", "false"),
            ],
        ),
        Duration::from_secs(60),
    );
    let not_registered = format!("not registered under subject {missing}-value");
    assert_exit_1_with_one_error_line(
        status,
        &lines,
        &[&not_registered, "register schemas/user.avsc"],
    );
    assert_eq!(
        proxy.writes.load(Ordering::SeqCst),
        0,
        "a write reached the proxy"
    );
}
