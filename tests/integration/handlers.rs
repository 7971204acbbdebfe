//! The library's consumers in-process, with handlers that fail, fail for too long, panic, or
//! read two topics: what is handed to them again, and what is committed (only what a handler
//! returned `Ok` for).
//!
//! Each test runs its consumers on scoped threads of its own, with its own topics and groups,
//! and reads the group's committed offsets with a client of its own.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::thread::{self, ScopedJoinHandle};
use std::time::{Duration, Instant};

use kafka_avro_daemon::{
    BatchConsumer, Config, ConsumerSettings, HandlerError, LoopError, Record, Shared, Shutdown,
    SingleConsumer, StopReason, User, UserCodec,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::{
    bootstrap, captured_lines, captured_target, confluent_user_bytes, ensure_topic,
    produce_to_partition, read_topic, register_schema, registry_url, require_stack, test_producer,
    unique, Stored,
};

const USER_SCHEMA: &str = include_str!("../../schemas/user.avsc");

/// How long any wait of these tests may last before it fails.
const WAIT: Duration = Duration::from_secs(60);

/// The configuration of the local stack, plus `extra`.
fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars = vec![
        ("KAFKA_BOOTSTRAP_SERVERS".to_string(), bootstrap()),
        ("SCHEMA_REGISTRY_URL".to_string(), registry_url()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_vars(&vars).expect("configuration")
}

/// `user_0` .. `user_{n-1}`.
fn user_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user_{i}")).collect()
}

/// A topic (auto-created: 3 partitions) with `names` as Confluent-framed `User` records in
/// partition 0, in order.
fn topic_with_users(prefix: &str, names: &[String]) -> String {
    let topic = unique(prefix);
    ensure_topic(&topic);
    produce_users(&topic, 0, names);
    topic
}

fn produce_users(topic: &str, partition: i32, names: &[String]) {
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let records: Vec<(Option<&str>, Option<Vec<u8>>)> = names
        .iter()
        .map(|name| (None, Some(confluent_user_bytes(id, name))))
        .collect();
    produce_to_partition(topic, partition, &records);
}

/// Reads a group's committed offsets, without joining it.
struct Committed {
    client: BaseConsumer,
}

impl Committed {
    fn of(group: &str) -> Committed {
        let client = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("offset reader");
        Committed { client }
    }

    /// The committed offset of `topic` partition `partition`; `None` when nothing was.
    fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        let mut asked = TopicPartitionList::new();
        asked.add_partition(topic, partition);
        let answer = self
            .client
            .committed_offsets(asked, Duration::from_secs(10))
            .expect("committed offsets");
        match answer.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(n)) => Some(n),
            _ => None,
        }
    }

    /// Waits until `topic` partition `partition` has `expected` committed.
    fn wait_for(&self, topic: &str, partition: i32, expected: i64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.get(topic, partition);
            if now == Some(expected) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{topic}[{partition}]: committed {now:?}, expected {expected}"
            );
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Polls `done` until it holds; fails after [`WAIT`] naming `what`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for a consumer's `run()` to return on its own; stops it and fails if it does not.
fn join_within(
    consumer: ScopedJoinHandle<'_, Result<(), LoopError>>,
    shutdown: &Shutdown,
    timeout: Duration,
) -> Result<(), LoopError> {
    let deadline = Instant::now() + timeout;
    while !consumer.is_finished() {
        if Instant::now() >= deadline {
            shutdown.stop(StopReason::Requested);
            let _ = consumer.join();
            panic!("the consumer did not return within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
    consumer.join().expect("consumer thread")
}

/// Stops a consumer and returns what its `run()` returned.
fn stop(
    consumer: ScopedJoinHandle<'_, Result<(), LoopError>>,
    shutdown: &Shutdown,
) -> Result<(), LoopError> {
    shutdown.stop(StopReason::Requested);
    join_within(consumer, shutdown, WAIT)
}

/// Stops the consumers when dropped, so a failing assertion inside `thread::scope` does not
/// wait forever for consumer threads that would never return.
struct StopOnDrop<'a>(&'a Shutdown);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop(StopReason::Requested);
    }
}

/// One call of a handler: the record's name and offset, and whether the call returned `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    name: String,
    offset: i64,
    ok: bool,
}

/// One call of a batch handler: the batch's (name, offset) pairs, whether the call returned
/// `Ok`, and when it was made.
type BatchCall = (Vec<(String, i64)>, bool, Instant);

#[test]
fn a_failing_record_handler_is_retried_and_nothing_is_stored_until_it_succeeds() {
    let _cluster = require_stack();
    let names = user_names(5);
    let topic = topic_with_users("handlers-retried", &names);
    let group = unique("handlers-retried");
    // Six failures take about 6 s of backoff (0.2 + 0.4 + 0.8 + 1.6 + 3.2 s), longer than
    // librdkafka's 5 s auto-commit interval: a stored offset past user_2 would be committed
    // while the sampling below watches.
    const FAILURES: usize = 6;
    let config = config(&[]);
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    let calls: Mutex<Vec<Call>> = Mutex::new(Vec::new());
    let committed = Committed::of(&group);
    let log_target = captured_target(&group);
    let user_2_done = || {
        calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.name == "user_2" && c.ok)
    };
    thread::scope(|s| {
        let _stop = StopOnDrop(&shutdown);
        let consumer = s.spawn(|| {
            let mut failures_left = FAILURES;
            let handler = |record: &Record<User>| -> Result<(), HandlerError> {
                let name = record.value.name.clone();
                let fail = name == "user_2" && failures_left > 0;
                if fail {
                    failures_left -= 1;
                }
                calls.lock().unwrap().push(Call {
                    name: name.clone(),
                    offset: record.offset,
                    ok: !fail,
                });
                if fail {
                    Err(format!("{name}: not yet").into())
                } else {
                    Ok(())
                }
            };
            let mut settings = ConsumerSettings::new(group.clone(), [topic.clone()]);
            settings.log_target = log_target.clone();
            SingleConsumer::new(&shared, &codec, settings, handler).run()
        });
        wait_until("user_2 handed to the handler", || {
            calls.lock().unwrap().iter().any(|c| c.name == "user_2")
        });
        // While user_2 fails, the committed offset never passes it (offset 2).
        let mut samples = 0;
        loop {
            let sampled = committed.get(&topic, 0);
            if user_2_done() {
                break;
            }
            samples += 1;
            assert!(
                sampled.unwrap_or(0) <= 2,
                "committed {sampled:?} while user_2 (offset 2) still failed"
            );
            thread::sleep(Duration::from_millis(100));
        }
        assert!(samples > 0, "no sample taken while user_2 failed");
        wait_until("every record handled", || {
            calls.lock().unwrap().iter().filter(|c| c.ok).count() >= names.len()
        });
        stop(consumer, &shutdown).expect("the consumer stopped cleanly");
    });
    let calls = calls.into_inner().unwrap();
    let failed = calls.iter().filter(|c| !c.ok).count();
    assert_eq!(failed, FAILURES, "failed calls: {calls:?}");
    assert!(
        calls.iter().all(|c| c.ok || c.name == "user_2"),
        "{calls:?}"
    );
    let handled: Vec<&str> = calls
        .iter()
        .filter(|c| c.ok)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(handled, names, "handled once each, in order: {calls:?}");
    let offsets: Vec<i64> = calls.iter().map(|c| c.offset).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "calls out of order: {calls:?}"
    );
    // Closing the consumer commits the stored offsets.
    assert_eq!(committed.get(&topic, 0), Some(names.len() as i64));
    assert_retry_lines(
        &captured_lines(&log_target),
        &format!("consumer of group {group}"),
        &format!("the record at {topic} p=0 o=2"),
        ("user_2: not yet", 30),
        FAILURES,
    );
}

/// The lines of one handler's retries, from its first failure to its success: a WARN when they
/// begin (naming what failed, why, and for how long it is retried), one DEBUG line per failure
/// after the first, an INFO line when the handler succeeds, and nothing else.
fn assert_retry_lines(
    lines: &[String],
    client: &str,
    what: &str,
    (error, retry_s): (&str, u64),
    failures: usize,
) {
    let begun = format!(
        "WARN {client}: the handler failed on {what}: {error}; retrying for up to {retry_s} s (HANDLER_RETRY_TIMEOUT_MS), its partitions paused"
    );
    let again = |call: usize| {
        format!("DEBUG {client}: the handler failed again on {what} (call {call}): {error}")
    };
    let ended =
        format!("INFO {client}: the handler succeeded on {what} after {failures} failed calls in ");
    let retries: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("the handler "))
        .collect();
    assert_eq!(retries.len(), failures + 1, "{lines:#?}");
    assert_eq!(retries[0], &begun, "{lines:#?}");
    for (n, line) in retries[1..failures].iter().enumerate() {
        assert_eq!(**line, again(n + 2), "{lines:#?}");
    }
    let last = retries[failures];
    assert!(
        last.starts_with(&ended) && last.ends_with(" s; fetching resumes"),
        "{last}"
    );
}

#[test]
fn a_record_handler_failing_past_the_retry_time_stops_uncommitted_and_the_next_run_gets_it() {
    let _cluster = require_stack();
    let names = user_names(3);
    let topic = topic_with_users("handlers-gives-up", &names);
    let group = unique("handlers-gives-up");
    let config = config(&[("HANDLER_RETRY_TIMEOUT_MS", "2000")]);
    let codec = UserCodec::new().expect("codec");
    let committed = Committed::of(&group);

    // First run: user_1 always fails.
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let first_calls: Mutex<Vec<Call>> = Mutex::new(Vec::new());
    let started = Instant::now();
    let outcome = thread::scope(|s| {
        let _stop = StopOnDrop(&shutdown);
        let consumer = s.spawn(|| {
            let handler = |record: &Record<User>| -> Result<(), HandlerError> {
                let name = record.value.name.clone();
                let fail = name == "user_1";
                first_calls.lock().unwrap().push(Call {
                    name: name.clone(),
                    offset: record.offset,
                    ok: !fail,
                });
                if fail {
                    Err(format!("{name}: cannot").into())
                } else {
                    Ok(())
                }
            };
            let settings = ConsumerSettings::new(group.clone(), [topic.clone()]);
            SingleConsumer::new(&shared, &codec, settings, handler).run()
        });
        join_within(consumer, &shutdown, WAIT)
    });
    let error = outcome.expect_err("the consumer gave up on user_1");
    assert!(
        matches!(error, LoopError::HandlerFailed { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("HANDLER_RETRY_TIMEOUT_MS"), "{message}");
    let first_calls = first_calls.into_inner().unwrap();
    let user_1_failures = first_calls
        .iter()
        .filter(|c| c.name == "user_1" && !c.ok)
        .count();
    assert!(user_1_failures >= 2, "user_1 was retried: {first_calls:?}");
    assert!(
        !first_calls.iter().any(|c| c.name == "user_2"),
        "user_2 handled after user_1 failed: {first_calls:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    let after_first = committed.get(&topic, 0);
    assert!(
        after_first.unwrap_or(0) <= 1,
        "committed {after_first:?} past user_1 (offset 1)"
    );

    // Second run, same group: it starts at user_1.
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let second: Mutex<Vec<String>> = Mutex::new(Vec::new());
    thread::scope(|s| {
        let _stop = StopOnDrop(&shutdown);
        let consumer = s.spawn(|| {
            let handler = |record: &Record<User>| -> Result<(), HandlerError> {
                second.lock().unwrap().push(record.value.name.clone());
                Ok(())
            };
            let settings = ConsumerSettings::new(group.clone(), [topic.clone()]);
            SingleConsumer::new(&shared, &codec, settings, handler).run()
        });
        wait_until("the second run handles user_2", || {
            second.lock().unwrap().iter().any(|name| name == "user_2")
        });
        stop(consumer, &shutdown).expect("the second run stopped cleanly");
    });
    let second = second.into_inner().unwrap();
    // The close committed user_0's stored offset; had it not, user_0 comes first again.
    let expected: Vec<String> = if after_first == Some(1) {
        names[1..].to_vec()
    } else {
        names.clone()
    };
    assert_eq!(second, expected, "the second run's records");
    committed.wait_for(&topic, 0, names.len() as i64);
}

#[test]
fn a_batch_handler_failing_longer_than_max_poll_interval_keeps_its_partitions() {
    let _cluster = require_stack();
    let names = user_names(5);
    let topic = topic_with_users("handlers-long-retry", &names);
    let group = unique("handlers-long-retry");
    const FAILING_FOR: Duration = Duration::from_secs(15);
    let config = config(&[
        ("LIBRDKAFKA_MAX_POLL_INTERVAL_MS", "6000"),
        ("LIBRDKAFKA_SESSION_TIMEOUT_MS", "6000"),
        ("HANDLER_RETRY_TIMEOUT_MS", "60000"),
        ("BATCH_SIZE", "10"),
        ("FETCH_WAIT_MAX_MS", "2000"),
    ]);
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    let committed = Committed::of(&group);
    let log_target = captured_target(&group);
    let calls: Mutex<Vec<BatchCall>> = Mutex::new(Vec::new());
    let handled = || -> usize {
        calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, ok, _)| *ok)
            .map(|(batch, _, _)| batch.len())
            .sum()
    };
    thread::scope(|s| {
        let _stop = StopOnDrop(&shutdown);
        let consumer = s.spawn(|| {
            let mut first_call: Option<Instant> = None;
            let handler = |records: &[Record<User>]| -> Result<(), HandlerError> {
                let now = Instant::now();
                let since = *first_call.get_or_insert(now);
                let ok = now.duration_since(since) >= FAILING_FOR;
                let batch = records
                    .iter()
                    .map(|r| (r.value.name.clone(), r.offset))
                    .collect();
                calls.lock().unwrap().push((batch, ok, now));
                if ok {
                    Ok(())
                } else {
                    Err("the database is down".into())
                }
            };
            let mut settings = ConsumerSettings::new(group.clone(), [topic.clone()]);
            settings.log_target = log_target.clone();
            BatchConsumer::new(&shared, &codec, settings, handler).run()
        });
        let deadline = Instant::now() + WAIT + FAILING_FOR;
        while handled() < names.len() {
            assert!(
                Instant::now() < deadline,
                "not every record handled: {:?}",
                calls.lock().unwrap()
            );
            assert!(!consumer.is_finished(), "the consumer ended early");
            thread::sleep(Duration::from_millis(200));
        }
        committed.wait_for(&topic, 0, names.len() as i64);
        stop(consumer, &shutdown).expect("the consumer stopped cleanly");
    });
    let calls = calls.into_inner().unwrap();
    let (first_batch, _, first_at) = calls.first().cloned().expect("a call");
    let succeeded = calls
        .iter()
        .position(|(_, ok, _)| *ok)
        .expect("a call that succeeded");
    let (_, _, succeeded_at) = &calls[succeeded];
    assert!(
        succeeded_at.duration_since(first_at) >= FAILING_FOR,
        "the handler failed for longer than max.poll.interval.ms"
    );
    // Every retry was handed the same batch: its partition was never revoked meanwhile.
    for (batch, _, _) in &calls[..=succeeded] {
        assert_eq!(batch, &first_batch, "the batch changed between retries");
    }
    // After the success each record once, in order, and no duplicate.
    let after: Vec<String> = calls
        .iter()
        .filter(|(_, ok, _)| *ok)
        .flat_map(|(batch, _, _)| batch.iter().map(|(name, _)| name.clone()))
        .collect();
    assert_eq!(after, names, "handled once each: {calls:?}");
    assert_eq!(committed.get(&topic, 0), Some(names.len() as i64));
    assert_retry_lines(
        &captured_lines(&log_target),
        &format!("consumer of group {group}"),
        &format!("a batch of {} records", first_batch.len()),
        ("the database is down", 60),
        succeeded,
    );
}

#[test]
fn a_panicking_handler_stops_the_consumer_with_nothing_committed() {
    let _cluster = require_stack();
    let names = user_names(3);
    let topic = topic_with_users("handlers-panic", &names);
    let group = unique("handlers-panic");
    let config = config(&[]);
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    let calls = Mutex::new(0usize);
    let outcome = thread::scope(|s| {
        let _stop = StopOnDrop(&shutdown);
        let consumer = s.spawn(|| {
            let handler = |records: &[Record<User>]| -> Result<(), HandlerError> {
                *calls.lock().unwrap() += 1;
                panic!("the handler panics on a batch of {}", records.len());
            };
            let settings = ConsumerSettings::new(group.clone(), [topic.clone()]);
            BatchConsumer::new(&shared, &codec, settings, handler).run()
        });
        join_within(consumer, &shutdown, WAIT)
    });
    let error = outcome.expect_err("the consumer stopped on the panic");
    assert!(
        matches!(error, LoopError::HandlerPanicked { .. }),
        "{error:?}"
    );
    assert_eq!(*calls.lock().unwrap(), 1, "called once, never again");
    let committed = Committed::of(&group);
    let now = committed.get(&topic, 0);
    assert!(now.unwrap_or(0) == 0, "committed {now:?} after a panic");
}

#[test]
fn a_consumer_of_two_topics_reads_and_commits_both() {
    let _cluster = require_stack();
    let a_names = user_names(3);
    let b_names: Vec<String> = (0..4).map(|i| format!("b_user_{i}")).collect();
    let a = topic_with_users("handlers-two-a", &a_names);
    let b = topic_with_users("handlers-two-b", &b_names);
    let group = unique("handlers-two");
    let config = config(&[("BATCH_SIZE", "4"), ("FETCH_WAIT_MAX_MS", "300")]);
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    let committed = Committed::of(&group);
    let seen: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    thread::scope(|s| {
        let _stop = StopOnDrop(&shutdown);
        let consumer = s.spawn(|| {
            let handler = |records: &[Record<User>]| -> Result<(), HandlerError> {
                let mut seen = seen.lock().unwrap();
                for record in records {
                    seen.push((record.topic.to_string(), record.value.name.clone()));
                }
                Ok(())
            };
            let settings = ConsumerSettings::new(group.clone(), [a.clone(), b.clone()]);
            BatchConsumer::new(&shared, &codec, settings, handler).run()
        });
        wait_until("records of both topics handled", || {
            seen.lock().unwrap().len() >= a_names.len() + b_names.len()
        });
        committed.wait_for(&a, 0, a_names.len() as i64);
        committed.wait_for(&b, 0, b_names.len() as i64);
        stop(consumer, &shutdown).expect("the consumer stopped cleanly");
    });
    let seen = seen.into_inner().unwrap();
    let of = |topic: &str| -> Vec<String> {
        seen.iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, name)| name.clone())
            .collect()
    };
    assert_eq!(of(&a), a_names, "{seen:?}");
    assert_eq!(of(&b), b_names, "{seen:?}");
    let unique_seen: BTreeSet<&(String, String)> = seen.iter().collect();
    assert_eq!(unique_seen.len(), seen.len(), "a duplicate: {seen:?}");
    assert_eq!(committed.get(&a, 0), Some(a_names.len() as i64));
    assert_eq!(committed.get(&b, 0), Some(b_names.len() as i64));
}

/// One record of a dead-letter test's topic, by what becomes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// A `User` of this name: handled.
    Handled(String),
    /// A `User` of this name that the handlers refuse for good: copied under
    /// `ON_HANDLER_ERROR=dlq`.
    Refused(String),
    /// Undecodable: copied under `ON_DECODE_ERROR=dlq`, its error saying this.
    Undecodable(&'static str),
}

/// One record produced to a dead-letter test's topic: its offset, key, value, the value of
/// its `test.record` header, and what becomes of it.
#[derive(Debug, Clone)]
struct Produced {
    offset: i64,
    key: Vec<u8>,
    payload: Vec<u8>,
    header: Vec<u8>,
    fate: Fate,
}

/// A record handed to a handler: its topic and name.
type TopicName = (String, String);

/// The decode error of a value whose first byte is 0x07.
const WRONG_MAGIC: &str = "magic byte is 0x07";
/// The decode error of a value whose name claims 40 bytes but has fewer.
const TRUNCATED: &str = "string length 40 is longer than the";
/// What the handlers' errors say: told apart from decode errors in `dlq.error`.
const REFUSED: &str = "refused by the test";

/// Creates a topic (and its `<topic>.dlq`) with `fates` in partition 0, in order, each with a
/// key and a header of its own (`tag`, the fate and its index in them: no two records of the
/// two topics look alike), and returns it with what was produced.
fn topic_with_fates(prefix: &str, tag: &str, fates: &[Fate]) -> (String, Vec<Produced>) {
    let topic = unique(prefix);
    ensure_topic(&topic);
    ensure_topic(&format!("{topic}.dlq"));
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let produced: Vec<Produced> = fates
        .iter()
        .enumerate()
        .map(|(i, fate)| {
            let payload = match fate {
                Fate::Handled(name) | Fate::Refused(name) => confluent_user_bytes(id, name),
                Fate::Undecodable(WRONG_MAGIC) => {
                    let mut bytes = vec![7u8];
                    bytes.extend_from_slice(format!("{tag}-wrong-magic-{i}").as_bytes());
                    bytes
                }
                Fate::Undecodable(TRUNCATED) => {
                    // The right frame, then a name of 40 bytes (zig-zag 0x50) cut short.
                    let mut bytes = vec![0u8];
                    bytes.extend_from_slice(&id.to_be_bytes());
                    bytes.push(0x50);
                    bytes.extend_from_slice(format!("{tag}-cut-{i}").as_bytes());
                    bytes
                }
                Fate::Undecodable(other) => panic!("no payload for {other:?}"),
            };
            Produced {
                offset: i as i64,
                key: format!("{tag}-key-{i}").into_bytes(),
                payload,
                header: format!("{tag}-header-{i}").into_bytes(),
                fate: fate.clone(),
            }
        })
        .collect();
    let producer = test_producer();
    for record in &produced {
        producer
            .send(
                BaseRecord::<[u8], [u8]>::to(&topic)
                    .partition(0)
                    .key(&record.key)
                    .payload(&record.payload)
                    .headers(OwnedHeaders::new().insert(Header {
                        key: "test.record",
                        value: Some(&record.header),
                    })),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    // A new topic: the records are at offsets 0, 1, … of partition 0.
    let stored: Vec<(i32, i64, Option<Vec<u8>>)> = read_topic(&topic)
        .into_iter()
        .map(|m| (m.partition, m.offset, m.key))
        .collect();
    let expected: Vec<(i32, i64, Option<Vec<u8>>)> = produced
        .iter()
        .map(|r| (0, r.offset, Some(r.key.clone())))
        .collect();
    assert_eq!(stored, expected, "{topic} as produced");
    (topic, produced)
}

/// Under `ON_DECODE_ERROR=dlq` and `ON_HANDLER_ERROR=dlq`, a single and two batch consumers
/// of two topics copy each topic's undecodable records, and the records their handlers were
/// given up on, to that topic's own `<topic>.dlq` — whole, with the origin headers — and
/// commit both topics past everything. The second batch consumer's batches are large and
/// all refused, so a batch given up on holds records of both topics, each copied to its own.
#[test]
fn a_consumer_of_two_topics_copies_each_topics_dead_letters_to_its_own_dlq() {
    let _cluster = require_stack();
    let handled = |name: &str| Fate::Handled(name.to_string());
    let refused = |name: &str| Fate::Refused(name.to_string());
    let (a, a_records) = topic_with_fates(
        "handlers-two-dlq-a",
        "a",
        &[
            handled("a_0"),
            Fate::Undecodable(WRONG_MAGIC),
            refused("a_refused"),
            Fate::Undecodable(TRUNCATED),
            handled("a_1"),
            handled("a_2"),
        ],
    );
    let (b, b_records) = topic_with_fates(
        "handlers-two-dlq-b",
        "b",
        &[
            Fate::Undecodable(TRUNCATED),
            handled("b_0"),
            handled("b_1"),
            Fate::Undecodable(WRONG_MAGIC),
            handled("b_2"),
            refused("b_refused"),
            Fate::Undecodable(WRONG_MAGIC),
            handled("b_3"),
        ],
    );
    // Batches of every record of both topics: a batch is due 5 s after its first record.
    let whole_config = config(&[
        ("ON_DECODE_ERROR", "dlq"),
        ("ON_HANDLER_ERROR", "dlq"),
        ("HANDLER_RETRY_TIMEOUT_MS", "1000"),
        ("BATCH_SIZE", "100"),
        ("FETCH_WAIT_MAX_MS", "5000"),
    ]);
    let config = config(&[
        ("ON_DECODE_ERROR", "dlq"),
        ("ON_HANDLER_ERROR", "dlq"),
        ("HANDLER_RETRY_TIMEOUT_MS", "1000"),
        ("BATCH_SIZE", "4"),
        ("FETCH_WAIT_MAX_MS", "300"),
    ]);
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let whole_shared = Shared::new(&whole_config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    let (single_group, batch_group, whole_group) = (
        unique("handlers-two-dlq-single"),
        unique("handlers-two-dlq-batch"),
        unique("handlers-two-dlq-whole"),
    );
    // Each call: the (topic, name) pairs handed over, and whether it returned `Ok`.
    let single_calls: Mutex<Vec<(TopicName, bool)>> = Mutex::new(Vec::new());
    let batch_calls: Mutex<Vec<(Vec<TopicName>, bool)>> = Mutex::new(Vec::new());
    let whole_calls: Mutex<Vec<Vec<TopicName>>> = Mutex::new(Vec::new());
    let topics = [a.clone(), b.clone()];
    thread::scope(|s| {
        let _stop = StopOnDrop(&shutdown);
        let single = s.spawn(|| {
            let handler = |record: &Record<User>| -> Result<(), HandlerError> {
                let name = record.value.name.clone();
                let ok = !name.ends_with("_refused");
                single_calls
                    .lock()
                    .unwrap()
                    .push(((record.topic.to_string(), name.clone()), ok));
                match ok {
                    true => Ok(()),
                    false => Err(format!("{name} {REFUSED}").into()),
                }
            };
            let settings = ConsumerSettings::new(single_group.clone(), topics.clone());
            SingleConsumer::new(&shared, &codec, settings, handler).run()
        });
        let batch = s.spawn(|| {
            let handler = |records: &[Record<User>]| -> Result<(), HandlerError> {
                let batch: Vec<TopicName> = records
                    .iter()
                    .map(|r| (r.topic.to_string(), r.value.name.clone()))
                    .collect();
                let refused = batch
                    .iter()
                    .find(|(_, name)| name.ends_with("_refused"))
                    .map(|(_, name)| name.clone());
                batch_calls.lock().unwrap().push((batch, refused.is_none()));
                match refused {
                    None => Ok(()),
                    Some(name) => Err(format!("a batch with {name} {REFUSED}").into()),
                }
            };
            let settings = ConsumerSettings::new(batch_group.clone(), topics.clone());
            BatchConsumer::new(&shared, &codec, settings, handler).run()
        });
        let whole = s.spawn(|| {
            let handler = |records: &[Record<User>]| -> Result<(), HandlerError> {
                whole_calls.lock().unwrap().push(
                    records
                        .iter()
                        .map(|r| (r.topic.to_string(), r.value.name.clone()))
                        .collect(),
                );
                Err(format!("every batch {REFUSED}").into())
            };
            let settings = ConsumerSettings::new(whole_group.clone(), topics.clone());
            BatchConsumer::new(&whole_shared, &codec, settings, handler).run()
        });
        for group in [&single_group, &batch_group, &whole_group] {
            let committed = Committed::of(group);
            committed.wait_for(&a, 0, a_records.len() as i64);
            committed.wait_for(&b, 0, b_records.len() as i64);
        }
        assert_eq!(stop(single, &shutdown), Ok(()), "the single consumer");
        assert_eq!(stop(batch, &shutdown), Ok(()), "the batch consumer");
        assert_eq!(stop(whole, &shutdown), Ok(()), "the second batch consumer");
    });
    let single_calls = single_calls.into_inner().unwrap();
    let batch_calls = batch_calls.into_inner().unwrap();
    let whole_calls = whole_calls.into_inner().unwrap();
    let groups = [&single_group, &batch_group, &whole_group];
    let header = |copy: &Stored, key: &str| String::from_utf8_lossy(copy.header(key)).to_string();
    let a_copies = read_topic(&format!("{a}.dlq"));
    let b_copies = read_topic(&format!("{b}.dlq"));
    // First, whether any copy went to the other topic's dead-letter topic.
    for (topic, copies) in [(&a, &a_copies), (&b, &b_copies)] {
        let sources: Vec<String> = copies
            .iter()
            .map(|copy| header(copy, "dlq.source.topic"))
            .collect();
        assert!(
            sources.iter().all(|source| source == topic),
            "{topic}.dlq holds copies of records of other topics: {sources:?}"
        );
    }
    let mut summary = Vec::new();
    for (topic, records, copies) in [(&a, &a_records, &a_copies), (&b, &b_records, &b_copies)] {
        let dead_letter_topic = format!("{topic}.dlq");
        // (group, source offset) of each copy of an undecodable record, and of a record a
        // handler was given up on.
        let mut undecodable_copies = BTreeSet::new();
        let mut given_up: Vec<(String, i64)> = Vec::new();
        for copy in copies {
            assert_eq!(header(copy, "dlq.source.partition"), "0", "{copy:?}");
            let offset: i64 = header(copy, "dlq.source.offset")
                .parse()
                .expect("dlq.source.offset");
            let original = records
                .iter()
                .find(|r| r.offset == offset)
                .unwrap_or_else(|| {
                    panic!("{dead_letter_topic}: no record at o={offset} of {topic}: {copy:?}")
                });
            assert_eq!(
                copy.payload.as_ref(),
                Some(&original.payload),
                "value of {copy:?}"
            );
            assert_eq!(copy.key.as_ref(), Some(&original.key), "key of {copy:?}");
            assert_eq!(
                copy.header("test.record"),
                original.header,
                "header of {copy:?}"
            );
            let group = header(copy, "dlq.consumer.group");
            assert!(
                groups.contains(&&group),
                "{dead_letter_topic}: a copy by group {group}: {copy:?}"
            );
            let error = header(copy, "dlq.error");
            match &original.fate {
                Fate::Undecodable(reason) => {
                    assert!(error.contains(reason), "{reason:?} not in {error:?}");
                    assert!(
                        undecodable_copies.insert((group.clone(), offset)),
                        "{dead_letter_topic}: o={offset} copied twice by {group}"
                    );
                }
                Fate::Handled(_) | Fate::Refused(_) => {
                    assert!(error.contains(REFUSED), "{REFUSED:?} not in {error:?}");
                    given_up.push((group, offset));
                }
            }
        }
        // Each group copied every undecodable record of this topic, once, here.
        let expected_undecodable: BTreeSet<(String, i64)> = records
            .iter()
            .filter(|r| matches!(r.fate, Fate::Undecodable(_)))
            .flat_map(|r| groups.map(|group| (group.clone(), r.offset)))
            .collect();
        assert_eq!(
            undecodable_copies, expected_undecodable,
            "{dead_letter_topic}: the undecodable records' copies"
        );
        let name_at = |offset: i64| -> String {
            match &records[offset as usize].fate {
                Fate::Handled(name) | Fate::Refused(name) => name.clone(),
                Fate::Undecodable(_) => unreachable!("a handler given up on an undecodable record"),
            }
        };
        let refused_record = records
            .iter()
            .find(|r| matches!(r.fate, Fate::Refused(_)))
            .expect("a refused record");
        let given_up_by = |group: &str| -> Vec<i64> {
            given_up
                .iter()
                .filter(|(g, _)| g == group)
                .map(|(_, offset)| *offset)
                .collect()
        };
        // The single consumer gave up on the refused record alone; the batch consumers on
        // every record of a batch that held it (this topic's of them, copied here): the
        // second on every batch, so on every decodable record, once each.
        assert_eq!(
            given_up_by(&single_group),
            vec![refused_record.offset],
            "{dead_letter_topic}: the single consumer's copies of records it gave up on"
        );
        let batch_given_up = given_up_by(&batch_group);
        let batch_given_up_set: BTreeSet<i64> = batch_given_up.iter().copied().collect();
        assert_eq!(
            batch_given_up_set.len(),
            batch_given_up.len(),
            "{dead_letter_topic}: a record copied twice: {batch_given_up:?}"
        );
        assert!(
            batch_given_up_set.contains(&refused_record.offset),
            "{dead_letter_topic}: the batch consumer's copies {batch_given_up:?} lack o={}",
            refused_record.offset
        );
        let mut whole_given_up = given_up_by(&whole_group);
        whole_given_up.sort();
        let decodable_offsets: Vec<i64> = records
            .iter()
            .filter(|r| !matches!(r.fate, Fate::Undecodable(_)))
            .map(|r| r.offset)
            .collect();
        assert_eq!(
            whole_given_up, decodable_offsets,
            "{dead_letter_topic}: the second batch consumer's copies: {whole_calls:?}"
        );
        // Every decodable record of this topic was handled, or copied once its handler was
        // given up on; none both, none twice.
        let decodable: Vec<String> = records
            .iter()
            .filter_map(|r| match &r.fate {
                Fate::Handled(name) | Fate::Refused(name) => Some(name.clone()),
                Fate::Undecodable(_) => None,
            })
            .collect();
        let single_ok: Vec<String> = single_calls
            .iter()
            .filter(|((t, _), ok)| t == topic && *ok)
            .map(|((_, name), _)| name.clone())
            .collect();
        let expected_single: Vec<String> = records
            .iter()
            .filter_map(|r| match &r.fate {
                Fate::Handled(name) => Some(name.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            single_ok, expected_single,
            "{topic}: the single consumer's records handled, once each, in order"
        );
        let mut batch_done: Vec<String> = batch_calls
            .iter()
            .filter(|(_, ok)| *ok)
            .flat_map(|(batch, _)| batch.iter())
            .filter(|(t, _)| t == topic)
            .map(|(_, name)| name.clone())
            .chain(batch_given_up.iter().map(|offset| name_at(*offset)))
            .collect();
        batch_done.sort();
        let mut expected_batch = decodable.clone();
        expected_batch.sort();
        assert_eq!(
            batch_done, expected_batch,
            "{topic}: the batch consumer's records, handled or copied, once each: {batch_calls:?}"
        );
        summary.push(format!(
            "{dead_letter_topic}: {} copies ({} undecodable, {} and {} given up on by the batch consumers)",
            copies.len(),
            undecodable_copies.len(),
            batch_given_up.len(),
            whole_given_up.len()
        ));
    }
    // The batches given up on that held records of both topics.
    let both = |batch: &[TopicName]| {
        [&a, &b]
            .iter()
            .all(|topic| batch.iter().any(|(t, _)| t == *topic))
    };
    let mixed = batch_calls
        .iter()
        .filter(|(batch, ok)| !*ok && both(batch))
        .count();
    let whole_mixed = whole_calls.iter().filter(|batch| both(batch)).count();
    // Each of the second's batches was given up on: one of both topics had its records
    // copied, each to its own topic's dead-letter topic (checked above). Fails only if the
    // two partitions' first records came over 5 s apart.
    assert!(
        whole_mixed > 0,
        "no batch of the second batch consumer held records of both topics: {whole_calls:?}"
    );
    println!(
        "handlers: two topics under dlq: {}; calls on batches of both topics: {mixed} of the batch consumer's {} failed, {whole_mixed} of the second's {}",
        summary.join("; "),
        batch_calls.iter().filter(|(_, ok)| !*ok).count(),
        whole_calls.len()
    );
}

/// One call of a batch handler: when it was made, the batch's (partition, offset) pairs, and
/// whether it returned `Ok`.
type PartitionCall = (Instant, Vec<(i32, i64)>, bool);

#[test]
fn a_batch_handler_never_sees_records_of_revoked_partitions() {
    let _cluster = require_stack();
    const PER_PARTITION: usize = 4;
    let topic = unique("handlers-revoked");
    ensure_topic(&topic);
    for partition in 0..3 {
        let names: Vec<String> = (0..PER_PARTITION)
            .map(|i| format!("user_{partition}_{i}"))
            .collect();
        produce_users(&topic, partition, &names);
    }
    let group = unique("handlers-revoked");
    let config = config(&[
        ("HANDLER_RETRY_TIMEOUT_MS", "60000"),
        ("BATCH_SIZE", "12"),
        ("FETCH_WAIT_MAX_MS", "3000"),
    ]);
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    let committed = Committed::of(&group);
    // Each call of either handler: when, its (partition, offset) pairs, whether it was Ok.
    let a_calls: Mutex<Vec<PartitionCall>> = Mutex::new(Vec::new());
    let b_calls: Mutex<Vec<PartitionCall>> = Mutex::new(Vec::new());
    let b_handled = || !b_calls.lock().unwrap().is_empty();
    let all_handled = || -> bool {
        let mut done = BTreeSet::new();
        for calls in [&a_calls, &b_calls] {
            for (_, batch, ok) in calls.lock().unwrap().iter() {
                if *ok {
                    done.extend(batch.iter().copied());
                }
            }
        }
        done.len() >= 3 * PER_PARTITION
    };
    thread::scope(|s| {
        let _stop = StopOnDrop(&shutdown);
        let a = s.spawn(|| {
            let handler = |records: &[Record<User>]| -> Result<(), HandlerError> {
                let batch = records.iter().map(|r| (r.partition, r.offset)).collect();
                // Fails until the second member handled a batch: after the rebalance.
                let ok = b_handled();
                a_calls.lock().unwrap().push((Instant::now(), batch, ok));
                if ok {
                    Ok(())
                } else {
                    Err("not until the group has two members".into())
                }
            };
            let settings = ConsumerSettings::new(group.clone(), [topic.clone()]);
            BatchConsumer::new(&shared, &codec, settings, handler).run()
        });
        wait_until("the first member's handler failed on a batch", || {
            !a_calls.lock().unwrap().is_empty()
        });
        let b = s.spawn(|| {
            let handler = |records: &[Record<User>]| -> Result<(), HandlerError> {
                let batch = records.iter().map(|r| (r.partition, r.offset)).collect();
                b_calls.lock().unwrap().push((Instant::now(), batch, true));
                Ok(())
            };
            let settings = ConsumerSettings::new(group.clone(), [topic.clone()]);
            BatchConsumer::new(&shared, &codec, settings, handler).run()
        });
        let deadline = Instant::now() + WAIT;
        while !all_handled() {
            assert!(
                Instant::now() < deadline,
                "not every record handled: first {:?}, second {:?}",
                a_calls.lock().unwrap(),
                b_calls.lock().unwrap()
            );
            assert!(!a.is_finished(), "the first member ended early");
            assert!(!b.is_finished(), "the second member ended early");
            thread::sleep(Duration::from_millis(200));
        }
        for partition in 0..3 {
            committed.wait_for(&topic, partition, PER_PARTITION as i64);
        }
        shutdown.stop(StopReason::Requested);
        join_within(a, &shutdown, WAIT).expect("the first member stopped cleanly");
        join_within(b, &shutdown, WAIT).expect("the second member stopped cleanly");
    });
    let a_calls = a_calls.into_inner().unwrap();
    let b_calls = b_calls.into_inner().unwrap();
    let b_first = b_calls.first().expect("the second member handled").0;
    let b_partitions: BTreeSet<i32> = b_calls
        .iter()
        .flat_map(|(_, batch, _)| batch.iter().map(|(p, _)| *p))
        .collect();
    let (_, first_batch, _) = &a_calls[0];
    assert!(
        first_batch.iter().any(|(p, _)| b_partitions.contains(p)),
        "the first member's failing batch {first_batch:?} held none of the partitions the second took ({b_partitions:?}): nothing was revoked from it"
    );
    let after: Vec<&PartitionCall> = a_calls.iter().filter(|(at, _, _)| *at > b_first).collect();
    assert!(
        !after.is_empty(),
        "the first member's handler was not called after the rebalance: {a_calls:?}"
    );
    for (_, batch, _) in after {
        assert!(
            batch.iter().all(|(p, _)| !b_partitions.contains(p)),
            "after the rebalance the first member was handed {batch:?}, but {b_partitions:?} were the second member's"
        );
    }
}

#[test]
fn a_handler_given_up_on_under_dlq_is_copied_then_committed() {
    let _stack = require_stack();
    let names = user_names(4);
    let topic = topic_with_users("handler-dlq", &names);
    ensure_topic(&format!("{topic}.dlq"));
    let config = config(&[
        ("ON_HANDLER_ERROR", "dlq"),
        ("HANDLER_RETRY_TIMEOUT_MS", "1000"),
        ("BATCH_SIZE", "100"),
        ("FETCH_WAIT_MAX_MS", "500"),
    ]);
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    let (single_group, batch_group) = (format!("{topic}-single"), format!("{topic}-batch"));
    let single_calls = Mutex::new(Vec::new());
    let batch_calls = Mutex::new(0usize);
    thread::scope(|scope| {
        let _stop = StopOnDrop(&shutdown);
        // The single consumer's handler refuses user_2 for good; the batch consumer's refuses
        // every batch that holds it.
        let single = SingleConsumer::new(
            &shared,
            &codec,
            ConsumerSettings::new(single_group.clone(), [topic.clone()]),
            |record: &Record<User>| -> Result<(), HandlerError> {
                single_calls
                    .lock()
                    .expect("calls")
                    .push(record.value.name.clone());
                if record.value.name == "user_2" {
                    return Err("user_2 cannot be stored".into());
                }
                Ok(())
            },
        );
        let batch = BatchConsumer::new(
            &shared,
            &codec,
            ConsumerSettings::new(batch_group.clone(), [topic.clone()]),
            |records: &[Record<User>]| -> Result<(), HandlerError> {
                *batch_calls.lock().expect("calls") += 1;
                if records.iter().any(|r| r.value.name == "user_2") {
                    return Err("a batch with user_2 cannot be stored".into());
                }
                Ok(())
            },
        );
        let single = scope.spawn(|| single.run());
        let batch = scope.spawn(|| batch.run());
        let (single_committed, batch_committed) =
            (Committed::of(&single_group), Committed::of(&batch_group));
        batch_committed.wait_for(&topic, 0, 4);
        wait_until("the single consumer handled user_3", || {
            single_calls
                .lock()
                .expect("calls")
                .iter()
                .any(|name| name == "user_3")
        });
        assert_eq!(stop(single, &shutdown), Ok(()));
        assert_eq!(stop(batch, &shutdown), Ok(()));
        single_committed.wait_for(&topic, 0, 4);
    });
    // The single consumer's copy is user_2 alone; the batch consumer's are every record of
    // the batch it gave up on (all four, read in one batch, or the batch holding user_2).
    let copies = crate::common::read_topic(&format!("{topic}.dlq"));
    let by_group = |group: &str| -> Vec<String> {
        copies
            .iter()
            .filter(|c| c.header("dlq.consumer.group") == group.as_bytes())
            .map(|c| {
                let error = String::from_utf8_lossy(c.header("dlq.error")).to_string();
                assert!(error.contains("cannot be stored"), "{error}");
                let payload = c.payload.as_deref().expect("payload");
                String::from_utf8_lossy(&payload[6..]).to_string()
            })
            .collect()
    };
    assert_eq!(by_group(&single_group), vec!["user_2".to_string()]);
    let batch_copies = by_group(&batch_group);
    assert!(
        batch_copies.contains(&"user_2".to_string()) && !batch_copies.is_empty(),
        "{batch_copies:?}"
    );
    let handled_later = single_calls.into_inner().expect("calls");
    assert!(
        handled_later.iter().filter(|n| *n == "user_2").count() > 1,
        "user_2 was retried before it was given up on: {handled_later:?}"
    );
}

#[test]
fn a_record_handler_retried_through_a_rebalance_reads_every_partition_it_keeps() {
    let _cluster = require_stack();
    const PER_PARTITION: usize = 4;
    let topic = unique("handlers-rebalanced");
    ensure_topic(&topic);
    for partition in 0..3 {
        let names: Vec<String> = (0..PER_PARTITION)
            .map(|i| format!("user_{partition}_{i}"))
            .collect();
        produce_users(&topic, partition, &names);
    }
    let group = unique("handlers-rebalanced");
    let config = config(&[("HANDLER_RETRY_TIMEOUT_MS", "60000")]);
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    let committed = Committed::of(&group);
    // Every record either member's handler returned `Ok` for.
    let handled: Mutex<BTreeSet<(i32, i64)>> = Mutex::new(BTreeSet::new());
    let a_failures = Mutex::new(0usize);
    thread::scope(|s| {
        let _stop = StopOnDrop(&shutdown);
        let a = s.spawn(|| {
            // Fails until the second member has handled a record: the partitions are paused
            // through the rebalance that its joining starts.
            let handler = |record: &Record<User>| -> Result<(), HandlerError> {
                let mut handled = handled.lock().unwrap();
                if handled.is_empty() {
                    *a_failures.lock().unwrap() += 1;
                    return Err("not until the second member handled a record".into());
                }
                handled.insert((record.partition, record.offset));
                Ok(())
            };
            let settings = ConsumerSettings::new(group.clone(), [topic.clone()]);
            SingleConsumer::new(&shared, &codec, settings, handler).run()
        });
        wait_until("the first member's handler failed", || {
            *a_failures.lock().unwrap() > 0
        });
        let b = s.spawn(|| {
            let handler = |record: &Record<User>| -> Result<(), HandlerError> {
                handled
                    .lock()
                    .unwrap()
                    .insert((record.partition, record.offset));
                Ok(())
            };
            let settings = ConsumerSettings::new(group.clone(), [topic.clone()]);
            SingleConsumer::new(&shared, &codec, settings, handler).run()
        });
        wait_until("every record was handled by one of the members", || {
            handled.lock().unwrap().len() >= 3 * PER_PARTITION
        });
        for partition in 0..3 {
            committed.wait_for(&topic, partition, PER_PARTITION as i64);
        }
        assert!(!a.is_finished() && !b.is_finished(), "a member ended early");
        shutdown.stop(StopReason::Requested);
        join_within(a, &shutdown, WAIT).expect("the first member stopped cleanly");
        join_within(b, &shutdown, WAIT).expect("the second member stopped cleanly");
    });
}
