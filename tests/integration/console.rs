//! `kafka-avro-daemon consume` against the stack: records written by Confluent's own Python
//! serializer printed as fastavro prints them (as written and resolved to a reader schema),
//! hostile records as one error line each under a memory bound, its exit statuses, what it
//! commits with and without a group, a registry outage waited out, SIGINT, and a stop bounded
//! while its stdout is not read.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value as Json;

use crate::common::*;
use crate::registry_faults::RegistryProxy;
use crate::security::AuthProxy;

/// A running `consume`, its output read line by line as it comes.
struct Console {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<thread::JoinHandle<()>>,
}

/// How a `consume` ended.
struct Ended {
    code: Option<i32>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    /// Its peak resident memory (VmHWM) as last read before it exited.
    peak_rss_mib: f64,
}

impl Ended {
    /// Its one `error:` line on stderr (other lines may be warnings); fails unless there is
    /// exactly one. `context` names the case in the failure.
    #[track_caller]
    fn error_line(&self, context: &str) -> &str {
        let errors: Vec<&String> = self
            .stderr
            .iter()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{context}: {:#?}", self.stderr);
        errors[0]
    }
}

impl Console {
    /// Starts `kafka-avro-daemon consume ARGS` with exactly `env` (plus PATH).
    fn start(args: &[&str], env: &[(String, String)]) -> Console {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-avro-daemon"))
            .arg("consume")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start consume");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::clone(&stdout);
        readers.push(thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(line);
            }
        }));
        let err = child.stderr.take().expect("stderr");
        let lines = Arc::clone(&stderr);
        readers.push(thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(line);
            }
        }));
        Console {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Waits (at most `timeout`) until `done(stdout, stderr)`.
    fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[String], &[String]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let (out, err) = (
                    self.stdout.lock().expect("out"),
                    self.stderr.lock().expect("err"),
                );
                if done(&out, &err) {
                    return;
                }
                if Instant::now() > deadline {
                    panic!(
                        "consume: not {what} within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                        out.join("\n"),
                        err.join("\n")
                    );
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, signal: &str) {
        send_signal(self.child.id(), signal);
    }

    /// Waits for the exit (at most `timeout`, then kills it and fails), reading its peak
    /// resident memory (VmHWM) every 20 ms meanwhile. Not from `wait4`: a forked child's
    /// `ru_maxrss` starts at the forking process's resident size (this test binary's), which
    /// exec keeps.
    fn finish(mut self, timeout: Duration) -> Ended {
        let deadline = Instant::now() + timeout;
        let mut peak_kib = 0.0f64;
        let status = loop {
            if let Some(kib) = vm_hwm_kib(self.child.id()) {
                peak_kib = peak_kib.max(kib);
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let out = self.stdout.lock().expect("out").join("\n");
                let err = self.stderr.lock().expect("err").join("\n");
                panic!("consume did not exit within {timeout:?}\nstdout:\n{out}\nstderr:\n{err}");
            }
            thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("reader");
        }
        Ended {
            code: status.code(),
            stdout: self.stdout.lock().expect("out").clone(),
            stderr: self.stderr.lock().expect("err").clone(),
            peak_rss_mib: peak_kib / 1024.0,
        }
    }
}

/// The peak resident memory of process `pid` so far (VmHWM), in KiB.
fn vm_hwm_kib(pid: u32) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The console's environment: the stack's brokers and registry, warnings on stderr.
fn console_env() -> Vec<(String, String)> {
    vec![
        ("KAFKA_BOOTSTRAP_SERVERS".to_string(), bootstrap()),
        ("SCHEMA_REGISTRY_URL".to_string(), registry_url()),
    ]
}

fn with(mut env: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// Runs `consume ARGS` to its exit (within 120 s).
fn consume(args: &[&str], env: &[(String, String)]) -> Ended {
    Console::start(args, env).finish(Duration::from_secs(120))
}

fn framed(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Whether two JSON documents are the same, numbers compared by value (`1.0` and `1`, and
/// `3e10` and `30000000000` are the same number).
fn same_json(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_json(vx, vy))
        }
        _ => a == b,
    }
}

/// Asserts that `printed` are `expected` (JSON lines), line by line, fields in order.
fn assert_printed_as(printed: &[String], expected: &str, what: &str) {
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(printed.len(), expected.len(), "{what}: {printed:#?}");
    for (n, (line, want)) in printed.iter().zip(&expected).enumerate() {
        let got: Json = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: line {n} is no JSON ({e}): {line}"));
        let want: Json = serde_json::from_str(want).expect("reference JSON");
        assert!(
            same_json(&got, &want),
            "{what}: record {n} differs\n printed: {line}\nfastavro: {want}"
        );
    }
}

#[test]
fn consume_prints_what_confluents_python_serializer_wrote_as_fastavro_reads_it() {
    let _stack = require_stack();
    for case in ["kinds", "recursive", "order-v2"] {
        let topic = unique(&format!("console-ref-{case}"));
        ensure_topic(&topic);
        let dir = produce_with_confluents_serializer(&topic, case);
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
        let as_written = read("expected-writer.jsonl");
        let count = as_written.lines().count().to_string();
        let base = [
            "--topic",
            &topic,
            "--from-beginning",
            "--max-messages",
            &count,
        ];

        let ended = consume(&base, &console_env());
        assert_eq!(ended.code, Some(0), "{:?}", ended.stderr);
        assert_printed_as(&ended.stdout, &as_written, &format!("{case} as written"));

        let reader = dir.join("reader.avsc");
        let reader = reader.to_str().expect("path");
        let mut args = base.to_vec();
        args.extend(["--reader-schema", reader]);
        let ended = consume(&args, &console_env());
        assert_eq!(ended.code, Some(0), "{:?}", ended.stderr);
        assert_printed_as(
            &ended.stdout,
            &read("expected-reader.jsonl"),
            &format!("{case} resolved to the reader schema"),
        );
    }
}

/// Hostile records, each with the schema it claims: (what it is, schema, Avro body).
fn hostile_records() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    // 100,000 records nested through a union, then the null that ends them.
    let mut deep = vec![0x02; 100_000];
    deep.push(0x00);
    // 2^31 longs claimed in 10 bytes.
    let mut many = vec![0x80, 0x80, 0x80, 0x80, 0x10];
    many.extend([0x02; 5]);
    // One entry whose key claims 2^40 bytes.
    let huge_key = vec![0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, b'k', 0x02, 0x00];
    vec![
        (
            "a datum nested 100,000 deep",
            r#"{"type":"record","name":"Deep","fields":[{"name":"next","type":["null","Deep"]}]}"#,
            deep,
        ),
        (
            "an array claiming 2^31 items",
            r#"{"type":"record","name":"Many","fields":[{"name":"items","type":{"type":"array","items":"long"}}]}"#,
            many,
        ),
        (
            "a map key claiming 2^40 bytes",
            r#"{"type":"record","name":"Keys","fields":[{"name":"m","type":{"type":"map","values":"int"}}]}"#,
            huge_key,
        ),
        (
            "a union index out of range",
            r#"{"type":"record","name":"Pick","fields":[{"name":"u","type":["null","int"]}]}"#,
            vec![0x06, 0x02],
        ),
    ]
}

/// A fixed of 2^31-1 bytes: the registry refuses to store it, so the proxy serves it under
/// the id of a schema registered for the purpose.
const HUGE_FIXED: &str = r#"{"type":"record","name":"Huge","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":2147483647}}]}"#;

#[test]
fn each_hostile_record_is_one_error_line_from_consume_and_one_decode_error_per_daemon_group_under_64_mib(
) {
    let _stack = require_stack();
    let topic = unique("console-hostile");
    ensure_topic(&topic);
    let proxy = RegistryProxy::start();
    let mut records = Vec::new();
    for (n, (_, schema, body)) in hostile_records().into_iter().enumerate() {
        let id = register_schema(&format!("{topic}-hostile{n}-value"), schema);
        records.push(framed(id, &body));
    }
    let huge_id = register_schema(
        &format!("{topic}-huge-value"),
        r#"{"type":"record","name":"HugePlaceholder","fields":[{"name":"f","type":"int"}]}"#,
    );
    let path = format!("/schemas/ids/{huge_id} ");
    let body = serde_json::json!({ "schema": HUGE_FIXED }).to_string();
    proxy.answer_with(Box::new(move |line| {
        (line.starts_with("GET ") && line.contains(&path)).then(|| (200, body.clone()))
    }));
    records.push(framed(huge_id, &[0x00; 16]));
    // Then a good record: it is printed after every error.
    let user_id = register_schema(
        &format!("{topic}-value"),
        include_str!("../../schemas/user.avsc"),
    );
    records.push(confluent_user_bytes(user_id, "after the hostile ones"));
    let payloads: Vec<(Option<&str>, Option<Vec<u8>>)> =
        records.iter().map(|r| (None, Some(r.clone()))).collect();
    produce_to_partition(&topic, 0, &payloads);

    // RUST_LOG=error: the line per undecodable record is the console's own, never filtered.
    let env = with(
        console_env(),
        &[
            ("SCHEMA_REGISTRY_URL", &registry_url_via(proxy.port)),
            ("RUST_LOG", "error"),
        ],
    );
    let count = records.len().to_string();
    let ended = consume(
        &[
            "--topic",
            &topic,
            "--from-beginning",
            "--max-messages",
            &count,
        ],
        &env,
    );
    assert_eq!(ended.code, Some(0), "{:#?}", ended.stderr);
    assert_eq!(
        ended.stdout,
        [r#"{"name":"after the hostile ones"}"#],
        "{:#?}",
        ended.stderr
    );
    let errors: Vec<&String> = ended
        .stderr
        .iter()
        .filter(|l| l.contains("undecodable message"))
        .collect();
    assert_eq!(
        errors.len(),
        records.len() - 1,
        "one line per hostile record: {:#?}",
        ended.stderr
    );
    for (offset, line) in errors.iter().enumerate() {
        assert!(
            line.starts_with(&format!(
                "error: undecodable message at {topic} p=0 o={offset}: "
            )),
            "{line}"
        );
    }
    assert!(
        !ended.stderr.iter().any(|l| l.contains("panicked")),
        "{:#?}",
        ended.stderr
    );
    println!(
        "consume: peak RSS {:.1} MiB over {} hostile records",
        ended.peak_rss_mib,
        records.len() - 1
    );
    assert!(
        ended.peak_rss_mib < 64.0,
        "consume's VmHWM {:.1} MiB",
        ended.peak_rss_mib
    );

    // The daemon's consumers: one decode error per group for each, and on.
    let env = env_with(
        &topic,
        &[("SCHEMA_REGISTRY_URL", &registry_url_via(proxy.port))],
    );
    let mut daemon = Daemon::start(&env);
    let hostile = records.len() - 1;
    daemon.wait_until(
        "every hostile record reported by both groups",
        Duration::from_secs(120),
        |lines| {
            [Group::Single, Group::Batch]
                .into_iter()
                .all(|group| undecodable_lines(lines, group).len() >= hostile)
        },
    );
    daemon.wait_for_names(&["after the hostile ones"], Duration::from_secs(60));
    let lines = daemon.lines();
    for group in [Group::Single, Group::Batch] {
        assert_eq!(
            undecodable_lines(&lines, group).len(),
            hostile,
            "{}",
            daemon.tail(60)
        );
    }
    let hwm = vm_hwm_kib(daemon.pid()).expect("VmHWM") / 1024.0;
    println!("daemon: peak RSS {hwm:.1} MiB");
    assert!(hwm < 64.0, "the daemon's VmHWM {hwm:.1} MiB");
    daemon.stop_cleanly();
}

#[test]
fn consume_exits_1_for_a_missing_topic_or_silent_brokers_and_2_for_bad_arguments() {
    let _stack = require_stack();
    // A topic that is not there: one line, exit 1.
    let missing = unique("console-missing");
    let ended = consume(&["--topic", &missing], &console_env());
    assert_eq!(ended.code, Some(1), "{:#?}", ended.stderr);
    let error = ended.error_line("a missing topic");
    assert!(
        error.contains(&format!("topic {missing} does not exist")),
        "{}",
        error
    );

    // Brokers that refuse, and brokers that accept and never answer: exit 1 within the bound.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let held = Arc::new(AtomicBool::new(true));
    let keep = Arc::clone(&held);
    thread::spawn(move || {
        let mut open = Vec::new();
        for client in silent.incoming() {
            open.push(client);
            if !keep.load(Ordering::SeqCst) {
                break;
            }
        }
    });
    for servers in [
        "127.0.0.1:1".to_string(),
        format!("127.0.0.1:{silent_port}"),
    ] {
        let env = with(
            console_env(),
            &[
                ("KAFKA_BOOTSTRAP_SERVERS", &servers),
                ("TOPIC_CHECK_TIMEOUT_S", "3"),
            ],
        );
        let started = Instant::now();
        let ended = consume(&["--topic", "anything"], &env);
        assert_eq!(ended.code, Some(1), "{servers}: {:#?}", ended.stderr);
        let error = ended.error_line(&servers);
        assert!(error.contains("TOPIC_CHECK_TIMEOUT_S=3"), "{}", error);
        // Warnings say what happened, each once: not one per request librdkafka retried.
        assert!(ended.stderr.len() < 20, "{servers}: {:#?}", ended.stderr);
        println!(
            "consume with brokers {servers}: exit 1 after {:?}",
            started.elapsed()
        );
    }
    held.store(false, Ordering::SeqCst);

    // Bad arguments and a reader schema that is none: exit 2, one line, nothing read.
    let bad_schema = std::env::temp_dir().join(format!("{}.avsc", unique("console-bad")));
    std::fs::write(
        &bad_schema,
        r#"{"type":"record","name":"R","fields":[{"name":"x"}]}"#,
    )
    .expect("write");
    let bad_schema = bad_schema.to_str().expect("path");
    for args in [
        &[][..],
        &["--topic", "t", "--max-messages", "many"][..],
        &["--topic", "t", "--bogus"][..],
        &[
            "--topic",
            "t",
            "--reader-schema",
            "/nonexistent/reader.avsc",
        ][..],
        &["--topic", "t", "--reader-schema", bad_schema][..],
    ] {
        let ended = consume(args, &console_env());
        assert_eq!(ended.code, Some(2), "{args:?}: {:#?}", ended.stderr);
        assert_eq!(ended.stderr.len(), 1, "{args:?}: {:#?}", ended.stderr);
        assert!(ended.stderr[0].starts_with("error: "), "{:?}", ended.stderr);
        assert!(ended.stdout.is_empty());
    }
    let ended = consume(
        &["--topic", "t"],
        &with(console_env(), &[("SCHEMA_REGISTRY_URL", "not a url")]),
    );
    assert_eq!(ended.code, Some(2), "{:#?}", ended.stderr);

    // A registry URL with a wrong path (every schema id would be a 404 waited out one by
    // one): exit 2 at once, one error line saying so (a registry slow under the suite's load
    // may add a warning of a retried request).
    let wrong_path = format!("{}/wrong", registry_url());
    let ended = consume(
        &["--topic", "t"],
        &with(console_env(), &[("SCHEMA_REGISTRY_URL", &wrong_path)]),
    );
    assert_eq!(ended.code, Some(2), "{:#?}", ended.stderr);
    let error = ended.error_line("a wrong registry path");
    assert!(
        ended
            .stderr
            .iter()
            .all(|l| l.starts_with("error:") || l.contains("failed (attempt")),
        "{:#?}",
        ended.stderr
    );
    assert!(
        error.contains("does not answer as a Schema Registry API") && error.contains("404"),
        "{}",
        error
    );
}

/// `consume … | head -1`: once stdout is closed, the next line cannot be written, and the
/// console exits 0 without a word (as `cat` does), committing nothing it did not print.
#[test]
fn consume_exits_0_quietly_when_its_stdout_is_closed() {
    let _stack = require_stack();
    let (topic, id) = topic_of_users("console-head", &["first"]);
    let group = unique("console-head-group");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-avro-daemon"))
        .args([
            "consume",
            "--topic",
            &topic,
            "--from-beginning",
            "--group",
            &group,
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(console_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start consume");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("a line");
    assert_eq!(first.trim_end(), r#"{"name":"first"}"#);
    drop(out);
    // The next record's line meets the closed pipe.
    produce_to_partition(
        &topic,
        0,
        &[(None, Some(confluent_user_bytes(id, "second")))],
    );
    let status = exit_within(
        &mut child,
        Instant::now(),
        Duration::from_secs(60),
        "of its stdout closing",
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    // `first` was printed and may be committed; `second` was not printed.
    assert!(
        committed(&group, &topic).is_none_or(|offset| offset <= 1),
        "committed past what was printed"
    );
}

/// The exit status of `child`, which must come within `within` of `since` (else it is
/// killed and the test fails, naming `what` it waited through).
fn exit_within(child: &mut Child, since: Instant, within: Duration, what: &str) -> ExitStatus {
    exited_within(child, since, within).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("consume did not exit within {within:?} {what}");
    })
}

/// Whether a thread of process `pid` is in write(2) on its stdout: `/proc/<pid>/task/*/syscall`
/// starts with the call's number and its first argument (fd 1).
fn writing_to_stdout(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let write_to_stdout = format!("{} 0x1 ", libc::SYS_write);
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("syscall"))
            .is_ok_and(|s| s.starts_with(&write_to_stdout))
    })
}

/// A stdout nobody reads (a paused pager) holds the record being printed. A stop is bounded
/// all the same: past `STOP_TIMEOUT_MS` `consume` exits 3 with the deadline's line.
#[test]
fn consume_whose_stdout_is_not_read_stops_at_its_deadline_with_exit_3() {
    use std::os::fd::AsRawFd;

    let _stack = require_stack();
    let names: Vec<String> = (0..5000).map(|n| format!("user_{n}")).collect();
    // Its stdout: a pipe as small as the kernel makes one (a page), held open, never read.
    let (_unread, stdout) = std::io::pipe().expect("a pipe");
    // SAFETY: fcntl on a descriptor of this test's, alive for the calls.
    let held = unsafe {
        libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, 4096);
        libc::fcntl(stdout.as_raw_fd(), libc::F_GETPIPE_SZ)
    };
    // `{"name":"user_N"}` and a newline; twice the pipe, so that what stdout's own buffer
    // holds back cannot keep the pipe from filling.
    let printed: usize = names.iter().map(|name| name.len() + 12).sum();
    assert!(
        held > 0 && printed > 2 * held as usize,
        "{printed} bytes to print fill no pipe of {held}"
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (topic, _) = topic_of_users("console-unread", &names);
    let env = [("STOP_TIMEOUT_MS", "2000"), ("FLUSH_TIMEOUT_MS", "1000")];
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-avro-daemon"))
        .args(["consume", "--topic", &topic, "--from-beginning"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(with(console_env(), &env))
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start consume");
    let err = child.stderr.take().expect("stderr");
    let stderr = thread::spawn(move || {
        BufReader::new(err)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let pid = child.id();
    let mut since: Option<Instant> = None;
    wait_for(
        "consume blocked writing to its full stdout for a second",
        Duration::from_secs(90),
        || {
            if let Some(status) = child.try_wait().expect("status") {
                panic!("consume exited ({status}) before its stdout was full");
            }
            match writing_to_stdout(pid) {
                true => since.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(1),
                false => {
                    since = None;
                    false
                }
            }
        },
    );
    let asked = Instant::now();
    send_signal(pid, "INT");
    let status = exit_within(
        &mut child,
        asked,
        Duration::from_secs(30),
        "of SIGINT with its stdout full",
    );
    let took = asked.elapsed();
    let stderr = stderr.join().expect("stderr").join("\n");
    println!(
        "figures: consume with stdout full: exit {:?} {took:?} after SIGINT",
        status.code()
    );
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("stop deadline of 2s (STOP_TIMEOUT_MS) passed")
            && stderr.contains("the record being printed (is stdout read?)"),
        "{stderr}"
    );
    // The deadline ended it, not the signal: and within it and the line's grace, with room
    // for a loaded machine.
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// An error line that cannot be written (stderr a full pipe nobody reads) does not hold the
/// exit: it is given up after 3 s, as the daemon's last line is. A bad variable is the error
/// here, so no stack is needed.
#[test]
fn consume_whose_error_line_cannot_be_written_exits_all_the_same() {
    let (reader, writer) = full_pipe();
    let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-avro-daemon"));
    command
        .args(["consume", "--topic", "t"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("STOP_TIMEOUT_MS", "soon")
        .stdout(Stdio::null())
        .stderr(writer);
    // Before the start: a test thread descheduled after it cannot shorten what is measured.
    let started = Instant::now();
    let mut child = command.spawn().expect("start consume");
    let status = exit_within(
        &mut child,
        started,
        Duration::from_secs(30),
        "with its stderr full",
    );
    let took = started.elapsed();
    println!(
        "figures: consume with stderr full: exit {:?} after {took:?}",
        status.code()
    );
    assert_eq!(status.code(), Some(2));
    // It waited for its line (3 s) and then gave it up: room for a loaded machine above.
    assert!(
        took >= Duration::from_secs(3),
        "took {took:?}: the line was written?"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    drop(reader);
}

/// The committed offsets of `group` on `topic`'s partition 0 (`None`: nothing committed).
fn committed(group: &str, topic: &str) -> Option<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition(topic, 0);
    let committed = consumer
        .committed_offsets(partitions, Duration::from_secs(30))
        .expect("committed offsets");
    match committed.find_partition(topic, 0).map(|p| p.offset()) {
        Some(Offset::Offset(n)) => Some(n),
        _ => None,
    }
}

#[test]
fn consume_with_a_group_commits_only_what_it_printed_and_alone_commits_nothing() {
    let _stack = require_stack();
    let (topic, id) = topic_of_users("console-commit", &["u0", "u1", "u2", "u3", "u4"]);

    let group = unique("console-group");
    let first = [
        "--topic",
        &topic,
        "--group",
        &group,
        "--from-beginning",
        "--max-messages",
        "3",
    ];
    let ended = consume(&first, &console_env());
    assert_eq!(ended.code, Some(0), "{:#?}", ended.stderr);
    assert_eq!(
        ended.stdout,
        [r#"{"name":"u0"}"#, r#"{"name":"u1"}"#, r#"{"name":"u2"}"#]
    );
    assert_eq!(
        committed(&group, &topic),
        Some(3),
        "the next record to read is the fourth"
    );
    // The group goes on where it stopped.
    let ended = consume(
        &[
            "--topic",
            &topic,
            "--group",
            &group,
            "--max-messages",
            "2",
            "--print-metadata",
        ],
        &console_env(),
    );
    assert_eq!(ended.code, Some(0), "{:#?}", ended.stderr);
    let offsets: Vec<i64> = ended
        .stdout
        .iter()
        .map(|l| {
            let record: Json = serde_json::from_str(l).expect("JSON");
            assert_eq!(record["topic"], topic.as_str());
            assert_eq!(record["schema_id"], id);
            assert_eq!(record["partition"], 0);
            record["offset"].as_i64().expect("offset")
        })
        .collect();
    assert_eq!(offsets, [3, 4]);
    assert_eq!(committed(&group, &topic), Some(5));

    // Alone: every partition from the beginning, its group id in a debug line, nothing
    // committed under it.
    let ended = consume(
        &["--topic", &topic, "--from-beginning", "--max-messages", "5"],
        &with(
            console_env(),
            &[("RUST_LOG", "kafka_avro_daemon::console=debug")],
        ),
    );
    assert_eq!(ended.code, Some(0), "{:#?}", ended.stderr);
    assert_eq!(ended.stdout.len(), 5);
    let alone = ended
        .stderr
        .iter()
        .find_map(|l| l.split("group id ").nth(1)?.split([',', ')']).next())
        .unwrap_or_else(|| panic!("no group id line: {:#?}", ended.stderr))
        .to_string();
    assert_eq!(committed(&alone, &topic), None, "group {alone} committed");
}

/// A new topic (named after `prefix`) whose partition 0 holds a `User` of each of `names`,
/// and the id of the schema they were written with.
fn topic_of_users(prefix: &str, names: &[&str]) -> (String, u32) {
    let topic = unique(prefix);
    ensure_topic(&topic);
    let id = register_schema(
        &format!("{topic}-value"),
        include_str!("../../schemas/user.avsc"),
    );
    let records: Vec<(Option<&str>, Option<Vec<u8>>)> = names
        .iter()
        .map(|name| (None, Some(confluent_user_bytes(id, name))))
        .collect();
    produce_to_partition(&topic, 0, &records);
    (topic, id)
}

#[test]
fn consume_waits_out_a_registry_outage_then_prints_the_record_and_stops_on_sigint() {
    let _stack = require_stack();
    let (topic, _) = topic_of_users("console-outage", &["waited for"]);
    let proxy = RegistryProxy::start();
    let down = Arc::new(AtomicBool::new(true));
    let refusing = Arc::clone(&down);
    proxy.answer_with(Box::new(move |_| {
        refusing.load(Ordering::SeqCst).then(|| {
            (
                503,
                "{\"error_code\":50301,\"message\":\"down\"}".to_string(),
            )
        })
    }));
    let env = with(
        console_env(),
        &[("SCHEMA_REGISTRY_URL", &registry_url_via(proxy.port))],
    );
    let console = Console::start(&["--topic", &topic, "--from-beginning"], &env);
    console.wait_until(
        "waiting for the registry",
        Duration::from_secs(60),
        |_, err| err.iter().any(|l| l.contains("waiting for the registry")),
    );
    assert!(console.stdout.lock().expect("out").is_empty());
    down.store(false, Ordering::SeqCst);
    console.wait_until("printing the record", Duration::from_secs(60), |out, _| {
        out.iter().any(|l| l == r#"{"name":"waited for"}"#)
    });
    console.signal("INT");
    let ended = console.finish(Duration::from_secs(30));
    assert_eq!(ended.code, Some(0), "{:#?}", ended.stderr);
    assert_eq!(ended.stdout, [r#"{"name":"waited for"}"#]);
    assert!(
        !ended.stderr.iter().any(|l| l.contains("undecodable")),
        "{:#?}",
        ended.stderr
    );
}

#[test]
fn consume_without_a_group_exits_1_with_one_line_when_its_topic_is_deleted() {
    let _stack = require_stack();
    let (topic, _) = topic_of_users("console-deleted", &["before"]);
    let console = Console::start(&["--topic", &topic, "--from-beginning"], &console_env());
    console.wait_until("printing the record", Duration::from_secs(60), |out, _| {
        out.iter().any(|l| l == r#"{"name":"before"}"#)
    });
    kafka_admin(&["delete", &bootstrap(), &topic]);
    let ended = console.finish(Duration::from_secs(90));
    assert_eq!(ended.code, Some(1), "{:#?}", ended.stderr);
    let error = ended.error_line("a deleted topic");
    assert!(
        error.contains(&topic) && error.contains("no longer exists"),
        "{}",
        error
    );
}

#[test]
fn consume_waits_out_a_hung_registry_and_prints_the_record_once_it_answers() {
    let _stack = require_stack();
    let (topic, _) = topic_of_users("console-hung", &["held"]);
    let proxy = RegistryProxy::start();
    proxy.hang(true);
    let env = with(
        console_env(),
        &[("SCHEMA_REGISTRY_URL", &registry_url_via(proxy.port))],
    );
    let console = Console::start(
        &["--topic", &topic, "--from-beginning", "--max-messages", "1"],
        &env,
    );
    // Each request times out (REQUEST_TIMEOUT); the record waits, nothing is skipped.
    console.wait_until(
        "waiting for the registry",
        Duration::from_secs(90),
        |_, err| err.iter().any(|l| l.contains("waiting for the registry")),
    );
    assert!(console.stdout.lock().expect("out").is_empty());
    proxy.hang(false);
    let ended = console.finish(Duration::from_secs(120));
    assert_eq!(ended.code, Some(0), "{:#?}", ended.stderr);
    assert_eq!(ended.stdout, [r#"{"name":"held"}"#]);
    assert!(
        !ended.stderr.iter().any(|l| l.contains("undecodable")),
        "{:#?}",
        ended.stderr
    );
}

/// README: `consume` whose registry credentials are refused (401) is exit 2 at once — one
/// `error:` line naming the 401, no panic, the secret in no line, not the minutes each record
/// would otherwise wait out its 401s. The registry is the stack's behind a proxy that answers
/// 401 to every request, whatever credentials it carries (a registry that refuses these);
/// the topic exists and holds a record, so nothing but the registry's answer ends the run.
/// Once as a user runs it (warnings only), once with every log line on.
#[test]
fn consume_whose_registry_credentials_are_refused_exits_2_at_once_with_one_line() {
    let _stack = require_stack();
    let (topic, _) = topic_of_users("console-401", &["never printed"]);
    let password = format!("pw-{}", unique("refused"));
    let user_info = format!("console-user:{password}");
    let sent: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let proxy = {
        let sent = Arc::clone(&sent);
        AuthProxy::checking(Arc::new(move |headers: &[(String, String)]| {
            if let Some((_, value)) = headers.iter().find(|(name, _)| name == "authorization") {
                sent.lock().expect("sent").push(value.clone());
            }
            false
        }))
    };
    let env = with(
        console_env(),
        &[
            ("SCHEMA_REGISTRY_URL", &proxy.url()),
            ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", &user_info),
        ],
    );
    let args = ["--topic", &topic, "--from-beginning"];
    for (run, rust_log) in [(1, None), (2, Some("debug"))] {
        let env = match rust_log {
            Some(level) => with(env.clone(), &[("RUST_LOG", level)]),
            None => env.clone(),
        };
        let started = Instant::now();
        let ended = Console::start(&args, &env).finish(Duration::from_secs(120));
        let took = started.elapsed();
        let context = format!("RUST_LOG={rust_log:?}");
        assert_eq!(ended.code, Some(2), "{context}: {:#?}", ended.stderr);
        assert!(
            took < Duration::from_secs(20),
            "{context}: exit 2 only after {took:?}: {:#?}",
            ended.stderr
        );
        assert!(ended.stdout.is_empty(), "{context}: {:#?}", ended.stdout);
        let error = ended.error_line(&context);
        assert!(
            error.contains("the schema registry refused the request")
                && error.contains("HTTP 401")
                && error.contains("/schemas/types")
                && error.contains("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"),
            "{context}: {error}"
        );
        if rust_log.is_none() {
            assert_eq!(ended.stderr.len(), 1, "{context}: {:#?}", ended.stderr);
        }
        // The registry was asked once, with Basic credentials, and not again after its 401.
        let sent = sent.lock().expect("sent").clone();
        assert_eq!(proxy.rejected(), run, "{context}: requests refused");
        assert_eq!(sent.len(), run, "{context}: {sent:?}");
        assert!(sent.iter().all(|v| v.starts_with("Basic ")), "{sent:?}");
        let every_line = ended.stdout.iter().chain(&ended.stderr);
        for line in every_line {
            assert!(
                !line.contains("panicked") && !line.contains("RUST_BACKTRACE"),
                "{context}: {line}"
            );
            for secret in [password.as_str(), &sent[0]["Basic ".len()..]] {
                assert!(
                    !line.contains(secret),
                    "{context}: the secret shown: {line}"
                );
            }
        }
        println!(
            "consume with refused registry credentials ({context}): exit 2 after {took:?}, {} stderr line(s): {error}",
            ended.stderr.len()
        );
    }
}
