//! The SQLite sink (`examples/sqlite_batches.rs`) killed with SIGKILL between its two commits
//! (SQLite's, then Kafka's), and restarted: every record ends up in its table exactly once.
//! And `examples/print_records.rs`, which stops itself after `--max N` records.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use rusqlite::{Connection, OpenFlags};

use crate::common::{
    bootstrap, confluent_user_bytes, ensure_topic, env_with, example, produce_raw,
    produce_to_partition, register_schema, require_stack, unique,
};

const USER_SCHEMA: &str =
    r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;

/// Records produced: `user_0` … `user_2999`, a third to each partition.
const RECORDS: usize = 3000;
/// The stack creates topics with 3 partitions.
const PARTITIONS: i32 = 3;
const BATCH_SIZE: usize = 50;
/// The first stop comes at this batch line, so that the group has committed offsets to resume
/// from (not only `auto.offset.reset`).
const FIRST_STOP_AT_BATCH: usize = 10;
/// Stops (SIGSTOP) at a batch line, looking for one whose Kafka commit was not sent yet.
const MAX_TRIES: u32 = 30;

#[test]
fn the_sqlite_example_keeps_every_record_exactly_once_across_a_kill_9() {
    let _cluster = require_stack();
    let topic = unique("sqlite-example");
    ensure_topic(&topic);
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let per_partition = RECORDS / PARTITIONS as usize;
    for partition in 0..PARTITIONS {
        let first = partition as usize * per_partition;
        let records: Vec<(Option<&str>, Option<Vec<u8>>)> = (first..first + per_partition)
            .map(|n| (None, Some(confluent_user_bytes(id, &format!("user_{n}")))))
            .collect();
        produce_to_partition(&topic, partition, &records);
    }

    let dir = std::env::temp_dir().join(&topic);
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let db = dir.join("users.sqlite");
    let group = format!("{topic}-sqlite");
    let env = env_with(
        &topic,
        &[
            ("BATCH_SIZE", &BATCH_SIZE.to_string()),
            // The killed member's partitions go to the restarted one once its session expires.
            ("LIBRDKAFKA_CONSUMER_SESSION_TIMEOUT_MS", "10000"),
        ],
    );

    // Stop the first run right after a batch line (printed once SQLite committed), until the
    // table holds rows whose offsets Kafka has not committed: SIGKILL then lands between the two
    // commits, and the restart must read those rows again.
    let mut first = Sink::start(&env, &db, &group, &dir.join("first.log"));
    let mut tries = 0;
    let (rows_at_kill, uncommitted_rows) = loop {
        tries += 1;
        first.stop_at_batch(FIRST_STOP_AT_BATCH, Duration::from_secs(120));
        // A commit sent before the stop reaches the group meanwhile.
        thread::sleep(Duration::from_secs(1));
        let committed = committed_offsets(&group, &topic);
        let uncommitted = rows_from(&db, &committed);
        let rows = row_count(&db);
        if uncommitted > 0 {
            break (rows, uncommitted);
        }
        assert!(
            tries < MAX_TRIES && rows < RECORDS as i64,
            "in {tries} tries (at {rows} rows), every batch's Kafka commit was sent before the stop: {}",
            first.log_tail()
        );
        first.signal(libc::SIGCONT);
    };
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("wait");
    println!(
        "figures: killed after {rows_at_kill} of {RECORDS} rows (try {tries}), \
         {uncommitted_rows} of them past the committed offsets"
    );
    assert!(
        rows_at_kill < RECORDS as i64,
        "the kill came after every record was stored"
    );

    let mut second = Sink::start(&env, &db, &group, &dir.join("second.log"));
    let deadline = Instant::now() + Duration::from_secs(180);
    while row_count(&db) < RECORDS as i64 {
        assert!(
            Instant::now() < deadline,
            "the restart stored {} of {RECORDS} rows in 180 s: {}",
            row_count(&db),
            second.log_tail()
        );
        thread::sleep(Duration::from_millis(200));
    }
    second.signal(libc::SIGINT);
    let status = second.wait_exit(Duration::from_secs(30));
    let lines = second.lines();
    assert_eq!(status.code(), Some(0), "{lines:?} {}", second.log_tail());
    assert_eq!(lines.last().map(String::as_str), Some("stopped"));

    // What the restart did: each record past the committed offsets read once, those already in
    // the table absorbed by INSERT OR IGNORE.
    let batches: Vec<(i64, i64)> = lines.iter().filter_map(|l| parse_batch(l)).collect();
    let read: i64 = batches.iter().map(|(records, _)| records).sum();
    let inserted: i64 = batches.iter().map(|(_, new)| new).sum();
    println!(
        "figures: the restart read {read} records in {} batches, {inserted} new rows, {} read again",
        batches.len(),
        read - inserted
    );
    assert!(
        batches.iter().any(|(records, new)| new < records),
        "no batch after the restart was read again: {lines:?}"
    );
    assert_eq!(
        read - inserted,
        uncommitted_rows,
        "read again: exactly the rows past the committed offsets"
    );
    assert_eq!(inserted, RECORDS as i64 - rows_at_kill, "{lines:?}");

    // The table: every record once, at its place in the log.
    let table = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    let mut by_place = table
        .prepare("SELECT topic, partition, offset, name FROM users ORDER BY partition, offset")
        .expect("select");
    let rows: Vec<(String, i32, i64, String)> = by_place
        .query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows.len(), RECORDS);
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (n, (row_topic, partition, offset, name)) in rows.iter().enumerate() {
        assert_eq!(row_topic, &topic);
        // Produced in order, a third to each partition, from offset 0.
        let expected = (n as i32 / per_partition as i32, (n % per_partition) as i64);
        assert_eq!((*partition, *offset), expected, "row {n}: {name}");
        *names.entry(name.clone()).or_default() += 1;
    }
    let missing = (0..RECORDS)
        .filter(|n| !names.contains_key(&format!("user_{n}")))
        .count();
    let duplicated = names.values().filter(|&&count| count > 1).count();
    assert_eq!(
        (missing, duplicated, names.len()),
        (0, 0, RECORDS),
        "names missing, duplicated, distinct"
    );
    drop(by_place);
    drop(table);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_print_records_example_prints_each_record_with_its_place_and_stops_after_max() {
    let _cluster = require_stack();
    let topic = unique("print-example");
    ensure_topic(&topic);
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let payloads: Vec<Vec<u8>> = (0..20)
        .map(|n| confluent_user_bytes(id, &format!("user_{n}")))
        .collect();
    produce_raw(&topic, &payloads);

    let mut child = Command::new(example("print_records"))
        .args(["--group", &format!("{topic}-printer"), "--max", "5"])
        .envs(env_with(&topic, &[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the example");
    let status = wait_exit(&mut child, Duration::from_secs(120));
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "five records, then the summary: {stdout}");
    assert_eq!(lines[5], "stopped after 5 records");
    for line in &lines[..5] {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 6, "{line}");
        assert_eq!(fields[0], topic, "{line}");
        assert!(
            fields[1].starts_with("p=") && fields[2].starts_with("o="),
            "{line}"
        );
        assert_eq!(fields[3], "key=null", "{line}");
        assert_eq!(fields[4], format!("schema={id}"), "{line}");
        assert!(fields[5].starts_with("user_"), "{line}");
    }
}

/// One run of the SQLite example: its process, its stdout lines (collected by a reader thread,
/// which also stops the process on request), and the file its stderr goes to.
struct Sink {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// The reader stops the process (SIGSTOP) at the first batch line at or past this many
    /// (counting from 1), says so on `stopped`, and disarms it (`usize::MAX`).
    stop_at: Arc<AtomicUsize>,
    stopped: Receiver<()>,
    log: PathBuf,
}

impl Sink {
    fn start(env: &[(String, String)], db: &Path, group: &str, log: &Path) -> Sink {
        let mut child = Command::new(example("sqlite_batches"))
            .arg("--db")
            .arg(db)
            .args(["--group", group])
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(File::create(log).expect("log file"))
            .spawn()
            .expect("start the example");
        let pid = child.id() as libc::pid_t;
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop_at = Arc::new(AtomicUsize::new(usize::MAX));
        let (tell, stopped) = mpsc::channel();
        let (collected, armed) = (lines.clone(), stop_at.clone());
        thread::spawn(move || {
            let mut batches = 0;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                batches += usize::from(line.starts_with("batch of "));
                // Here, not in the test's thread: the stop comes microseconds after the
                // line, while the Kafka commit that follows it is still being sent.
                if line.starts_with("batch of ")
                    && batches >= armed.load(Ordering::SeqCst)
                    && armed.swap(usize::MAX, Ordering::SeqCst) != usize::MAX
                {
                    // SAFETY: kill(2) on our child, armed only while the test waits for this
                    // stop, before it reaps the child (so the pid is still its).
                    unsafe { libc::kill(pid, libc::SIGSTOP) };
                    let _ = tell.send(());
                }
                collected
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        Sink {
            child,
            lines,
            stop_at,
            stopped,
            log: log.to_path_buf(),
        }
    }

    /// Stops the process at its next batch line, and not before its `at`-th.
    fn stop_at_batch(&mut self, at: usize, timeout: Duration) {
        self.stop_at.store(at, Ordering::SeqCst);
        if self.stopped.recv_timeout(timeout).is_err() {
            self.stop_at.store(usize::MAX, Ordering::SeqCst);
            let _ = self.child.kill();
            panic!(
                "no batch line within {timeout:?}: {:?} {}",
                self.lines(),
                self.log_tail()
            );
        }
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "kill({signal})");
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_exit(&mut self.child, timeout)
    }

    fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last lines of its stderr (the consumer's log), for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit; kills it and fails after `timeout`.
fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            panic!("the example did not exit within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// `(records, new rows)` of a line `batch of 50 records, 12 new rows`.
fn parse_batch(line: &str) -> Option<(i64, i64)> {
    let rest = line.strip_prefix("batch of ")?;
    let (records, rest) = rest.split_once(" records, ")?;
    let new = rest.strip_suffix(" new rows")?;
    Some((records.parse().ok()?, new.parse().ok()?))
}

/// The table, opened read-only (the example writes it meanwhile); `None` before it exists.
fn read_table(db: &Path) -> Option<Connection> {
    let table = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    table.busy_timeout(Duration::from_secs(5)).ok()?;
    Some(table)
}

fn row_count(db: &Path) -> i64 {
    read_table(db)
        .and_then(|table| {
            table
                .query_row("SELECT COUNT(*) FROM users", (), |r| r.get(0))
                .ok()
        })
        .unwrap_or(0)
}

/// Rows at or past `committed` (the next offset to read, per partition): those a restart reads
/// again.
fn rows_from(db: &Path, committed: &BTreeMap<i32, i64>) -> i64 {
    let table = read_table(db).expect("the example created its table");
    (0..PARTITIONS)
        .map(|partition| {
            let from = committed.get(&partition).copied().unwrap_or(0);
            table
                .query_row(
                    "SELECT COUNT(*) FROM users WHERE partition = ?1 AND offset >= ?2",
                    (partition, from),
                    |r| r.get::<_, i64>(0),
                )
                .expect("count")
        })
        .sum()
}

/// The group's committed offsets (the next offset to read) of the partitions it committed.
fn committed_offsets(group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        partitions.add_partition(topic, partition);
    }
    // Only reads the group's offsets (OffsetFetch): this client never joins the group.
    consumer
        .committed_offsets(partitions, Duration::from_secs(10))
        .expect("committed offsets")
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}
