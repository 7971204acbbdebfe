//! End to end: the daemon binary against the local stack.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::common::*;

const USER_SCHEMA: &str = include_str!("../../schemas/user.avsc");

fn number_of(name: &str) -> u64 {
    name.strip_prefix("user_")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected name {name}"))
}

/// Asserts that `group` logged exactly `user_0..user_{n-1}`, each once, in order per partition.
fn assert_all_in_order(received: &[Received], group: Group, n: u64) {
    let mine: Vec<&Received> = received.iter().filter(|r| r.group == group).collect();
    let names: BTreeSet<u64> = mine.iter().map(|r| number_of(&r.name)).collect();
    assert_eq!(
        names,
        (0..n).collect::<BTreeSet<u64>>(),
        "{group:?} did not log every record"
    );
    assert_eq!(mine.len() as u64, n, "{group:?} logged some record twice");
    let mut by_partition: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
    for r in &mine {
        by_partition
            .entry(r.partition)
            .or_default()
            .push((r.offset, number_of(&r.name)));
    }
    for (partition, mut records) in by_partition {
        let in_log_order: Vec<i64> = records.iter().map(|(o, _)| *o).collect();
        records.sort();
        let by_offset: Vec<i64> = records.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            in_log_order, by_offset,
            "{group:?} handled p{partition} out of offset order"
        );
        assert!(
            records.windows(2).all(|w| w[0].1 < w[1].1),
            "{group:?}: p{partition} holds records out of production order: {records:?}"
        );
    }
}

fn schema_id_of(subject: &str) -> (u32, serde_json::Value) {
    let latest = registry_get(&format!("/subjects/{subject}/versions/latest"));
    let schema =
        serde_json::from_str(latest["schema"].as_str().expect("schema")).expect("schema JSON");
    (latest["id"].as_u64().expect("id") as u32, schema)
}

#[test]
fn produces_and_both_groups_log_every_record_in_order() {
    let _cluster = require_stack();
    let topic = unique("e2e");
    let n = 300;
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("PRODUCE_INTERVAL_MS", "10"),
            ("PRODUCE_COUNT", &n.to_string()),
            ("BATCH_SIZE", "7"),
        ],
    ));
    daemon.wait_for_received(n as usize, Duration::from_secs(120));
    daemon.stop_cleanly();

    let received = daemon.received();
    assert_all_in_order(&received, Group::Single, n);
    assert_all_in_order(&received, Group::Batch, n);
    let lines = daemon.lines();
    let delivered = lines
        .iter()
        .filter(|l| l.contains(&format!("delivered to {topic} (p=")))
        .count();
    assert_eq!(delivered as u64, n, "one delivery line per record");
    let batch_headers: Vec<usize> = lines
        .iter()
        .filter_map(|l| {
            l.split_once("] received ")?
                .1
                .strip_suffix(" messages")?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(
        batch_headers.iter().sum::<usize>() as u64,
        n,
        "batch sizes add up"
    );
    assert!(
        batch_headers.iter().all(|&size| (1..=7).contains(&size)),
        "{batch_headers:?}"
    );

    let subject = format!("{topic}-value");
    let (id, registered) = schema_id_of(&subject);
    let ours: serde_json::Value = serde_json::from_str(USER_SCHEMA).expect("user.avsc");
    assert_eq!(
        registered, ours,
        "registry holds schemas/user.avsc under {subject}"
    );
    let stored = read_topic(&topic);
    assert_eq!(stored.len() as u64, n);
    for message in &stored {
        let payload = message.payload.as_deref().expect("payload");
        let mut header = vec![0u8];
        header.extend_from_slice(&id.to_be_bytes());
        assert_eq!(
            &payload[..5],
            &header[..],
            "p{} o{}",
            message.partition,
            message.offset
        );
    }
}

#[test]
fn records_from_an_independent_confluent_producer_are_decoded_and_resolved() {
    let _cluster = require_stack();
    let topic = unique("foreign");
    let mut daemon = Daemon::start(&env_with(&topic, &[("PRODUCE_COUNT", "1")]));
    daemon.wait_for_line("schema registered", Duration::from_secs(60));

    let subject = format!("{topic}-value");
    let v1 = register_schema(&subject, USER_SCHEMA);
    // A newer version of the record, as another team might deploy: an added field with a
    // default. Its records must resolve into our reader schema.
    let v2_schema = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[
        {"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#;
    let v2 = register_schema(&subject, v2_schema);
    assert_ne!(v1, v2);
    let mut v2_bytes = confluent_user_bytes(v2, "foreign_v2");
    v2_bytes.push(0x54); // age = 42, zig-zag encoded
    produce_raw(&topic, &[confluent_user_bytes(v1, "foreign_v1"), v2_bytes]);

    daemon.wait_until(
        "both foreign records in both groups",
        Duration::from_secs(60),
        |lines| {
            let received: Vec<Received> = lines.iter().filter_map(|l| parse_received(l)).collect();
            ["foreign_v1", "foreign_v2"].iter().all(|name| {
                [Group::Single, Group::Batch]
                    .iter()
                    .all(|g| received.iter().any(|r| r.group == *g && r.name == *name))
            })
        },
    );
    daemon.stop_cleanly();
    assert!(
        !daemon.lines().iter().any(|l| l.contains("undecodable")),
        "{}",
        daemon.tail(40)
    );
}

fn stop_with(signal: &str) {
    let _cluster = require_stack();
    let topic = unique(&format!("stop-{}", signal.to_lowercase()));
    let mut daemon = Daemon::start(&env_with(&topic, &[("PRODUCE_INTERVAL_MS", "10")]));
    daemon.wait_for_received(20, Duration::from_secs(60));
    daemon.signal(signal);
    let status = daemon.wait_exit(Duration::from_secs(30));
    let lines = daemon.lines();
    assert_eq!(status.code(), Some(0), "{}", daemon.tail(30));
    let position = |text: &str| {
        lines
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no line with {text:?}:\n{}", daemon.tail(30)))
    };
    let shutting_down = position("Shutting down...");
    for exiting in [
        "producer exiting",
        "single-message consumer exiting",
        "batch consumer exiting",
    ] {
        assert!(
            position(exiting) > shutting_down,
            "{exiting} logged before Shutting down..."
        );
    }
    assert!(!lines.iter().any(|l| l.contains("panicked")));
    let (sent, delivered, failed, undelivered) = producer_summary(&lines).expect("summary line");
    assert!(sent > 0);
    assert_eq!(
        (delivered, failed, undelivered),
        (sent, 0, 0),
        "every sent record delivered"
    );
    assert_eq!(count_messages(&topic), sent as i64, "records on the topic");
}

#[test]
fn sigint_stops_cleanly_after_delivering_everything() {
    stop_with("INT");
}

#[test]
fn sigterm_stops_cleanly_after_delivering_everything() {
    stop_with("TERM");
}

#[test]
fn restart_continues_from_committed_offsets() {
    let _cluster = require_stack();
    let topic = unique("restart");
    let env = env_with(
        &topic,
        &[
            ("PRODUCE_INTERVAL_MS", "5"),
            ("PRODUCE_COUNT", "50"),
            ("BATCH_SIZE", "8"),
        ],
    );
    let mut first = Daemon::start(&env);
    first.wait_for_received(50, Duration::from_secs(90));
    first.stop_cleanly();

    let mut second = Daemon::start(&env);
    second.wait_for_received(50, Duration::from_secs(90));
    second.stop_cleanly();

    assert_eq!(count_messages(&topic), 100);
    for group in [Group::Single, Group::Batch] {
        let seen = |d: &Daemon| -> BTreeSet<(i32, i64)> {
            d.received()
                .iter()
                .filter(|r| r.group == group)
                .map(|r| (r.partition, r.offset))
                .collect()
        };
        let (before, after) = (seen(&first), seen(&second));
        assert_eq!(before.len(), 50, "{group:?} in the first run");
        assert_eq!(
            after.len(),
            50,
            "{group:?} processed exactly the 50 new records"
        );
        assert!(
            before.is_disjoint(&after),
            "{group:?} processed committed records again"
        );
    }
}

#[test]
fn unreachable_registry_fails_after_bounded_retries() {
    let topic = unique("no-registry");
    let mut env = env_with(&topic, &[("SCHEMA_REGISTRY_RETRIES", "2")]);
    env.push((
        "SCHEMA_REGISTRY_URL".to_string(),
        "http://127.0.0.1:9/apis/ccompat/v7".to_string(),
    ));
    let (status, lines) = run_to_exit(&env, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    let last = lines.last().expect("an error line");
    assert!(last.contains("ERROR"), "{last}");
    assert!(last.contains("schema registry unreachable"), "{last}");
    assert!(last.contains("failed 3 times"), "{last}");
    assert!(last.contains("127.0.0.1:9"), "{last}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("retrying in")).count(),
        2,
        "{lines:#?}"
    );
}

#[test]
fn unreachable_broker_warns_and_sigint_still_stops_promptly() {
    let _cluster = require_stack();
    let topic = unique("no-broker");
    let mut env = env_with(&topic, &[("FLUSH_TIMEOUT_MS", "1000")]);
    env.push((
        "KAFKA_BOOTSTRAP_SERVERS".to_string(),
        "127.0.0.1:9".to_string(),
    ));
    let mut daemon = Daemon::start(&env);
    // The start-up topic check waits for the brokers (TOPIC_CHECK_TIMEOUT_S, 30 s); a stop
    // ends that wait at once. What follows a longer outage: `topic_check::*`.
    daemon.wait_for_line("WARN", Duration::from_secs(30));
    daemon.wait_for_line("127.0.0.1:9", Duration::from_secs(30));
    daemon.signal("INT");
    let asked = std::time::Instant::now();
    let status = daemon.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", daemon.tail(30));
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "stop took {:?}",
        asked.elapsed()
    );
}

#[test]
fn invalid_configuration_exits_2_with_one_line_naming_the_variable() {
    for (name, value, expected) in [
        ("BATCH_SIZE", "0", "a whole number from 1 to 100000"),
        ("BATCH_SIZE", "abc", "a whole number from 1 to 100000"),
        ("SCHEMA_REGISTRY_URL", "not a url", "http://"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost", "host:port"),
        ("PRODUCER_ACKS", "2", "one of all"),
        // librdkafka's limit; past it, creating the topic failed with a line about brokers.
        (
            "CREATE_TOPIC_REPLICATION_FACTOR",
            "10001",
            "a whole number from 1 to 10000",
        ),
        (
            "LIBRDKAFKA_PARTITIONER",
            "murmur2",
            "picks each record's partition itself",
        ),
    ] {
        let env = vec![(name.to_string(), value.to_string())];
        let (status, lines) = run_to_exit(&env, Duration::from_secs(10));
        assert_eq!(status.code(), Some(2), "{name}={value}: {lines:?}");
        assert_eq!(lines.len(), 1, "{name}={value}: {lines:?}");
        assert!(
            lines[0].contains(&format!("{name}=\"{value}\" is invalid")),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains(expected), "{}", lines[0]);
    }
}

#[test]
fn a_registry_url_with_credentials_or_a_fragment_exits_2_without_showing_them() {
    for (value, secrets) in [
        (
            "https://bob:pa#ss99@sr.example.com",
            &["bob", "pa#", "ss99"][..],
        ),
        (
            "http://bob:1234#s3cret@127.0.0.1:8082/apis/ccompat/v7",
            &["bob", "1234", "s3cret"],
        ),
    ] {
        let env = vec![("SCHEMA_REGISTRY_URL".to_string(), value.to_string())];
        let (status, lines) = run_to_exit(&env, Duration::from_secs(10));
        assert_eq!(status.code(), Some(2), "{lines:?}");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("SCHEMA_REGISTRY_URL="), "{}", lines[0]);
        for secret in secrets {
            assert!(!lines[0].contains(secret), "{secret} shown: {}", lines[0]);
        }
    }
}

#[test]
fn consumers_starting_at_the_end_warn_once_at_start() {
    // No broker answers: the run ends at the topic check, after the start's warnings.
    let env: Vec<(String, String)> = [
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("TOPIC_CHECK_TIMEOUT_S", "1"),
        ("LIBRDKAFKA_CONSUMER_AUTO_OFFSET_RESET", "latest"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (_, lines) = run_to_exit(&env, Duration::from_secs(30));
    let warnings: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" WARN ") && l.contains("AUTO_OFFSET_RESET=latest"))
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(
        warnings[0].contains("never consumed"),
        "names the consequence: {}",
        warnings[0]
    );
}

#[test]
fn help_and_version() {
    let run = |arg: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kafka-avro-daemon"))
            .arg(arg)
            .output()
            .expect("run")
    };
    let help = run("--help");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for var in [
        "KAFKA_BOOTSTRAP_SERVERS",
        "SCHEMA_REGISTRY_URL",
        "BATCH_SIZE",
        "TEST_TOPIC_NAME",
        "CONSUMER_GROUP_ID_1",
        "CONSUMER_GROUP_ID_2",
        "RUST_LOG",
    ] {
        assert!(text.contains(var), "--help lacks {var}");
    }
    let version = run("--version");
    assert!(version.status.success());
    // The version, then what it runs on: librdkafka's version and built-in features.
    let version = String::from_utf8_lossy(&version.stdout);
    let expected = format!(
        "kafka-avro-daemon {} (librdkafka 2.",
        env!("CARGO_PKG_VERSION")
    );
    assert!(version.trim().starts_with(&expected), "{version}");
    assert!(version.contains("zstd"), "{version}");
    let bad = run("--frobnicate");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn partial_batch_is_processed_and_committed_on_stop() {
    let _cluster = require_stack();
    let topic = unique("partial");
    // A batch that can neither fill nor time out: only the stop can process it.
    let env = env_with(
        &topic,
        &[
            ("PRODUCE_INTERVAL_MS", "5"),
            ("PRODUCE_COUNT", "20"),
            ("BATCH_SIZE", "1000"),
            ("FETCH_WAIT_MAX_MS", "600000"),
        ],
    );
    let mut daemon = Daemon::start(&env);
    daemon.wait_until(
        "20 records in the single-message group",
        Duration::from_secs(60),
        |lines| {
            lines
                .iter()
                .filter_map(|l| parse_received(l))
                .filter(|r| r.group == Group::Single)
                .count()
                >= 20
        },
    );
    // Give the batch consumer time to buffer what the other group has already seen.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !daemon.received().iter().any(|r| r.group == Group::Batch),
        "nothing processed before the stop"
    );
    daemon.stop_cleanly();
    let lines = daemon.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("processing the partial batch")),
        "{}",
        daemon.tail(30)
    );
    assert!(
        lines.iter().any(|l| l.ends_with("] received 20 messages")),
        "{}",
        daemon.tail(30)
    );
    assert_all_in_order(&daemon.received(), Group::Batch, 20);

    // Committed: a restart that produces one more record processes only that one.
    let mut env = env;
    env.push(("PRODUCE_COUNT".to_string(), "1".to_string()));
    env.push(("FETCH_WAIT_MAX_MS".to_string(), "200".to_string()));
    let mut again = Daemon::start(&env);
    again.wait_for_received(1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(1));
    again.stop_cleanly();
    let batch: Vec<Received> = again
        .received()
        .into_iter()
        .filter(|r| r.group == Group::Batch)
        .collect();
    assert_eq!(batch.len(), 1, "{batch:?}");
}

#[test]
fn librdkafka_settings_reach_only_the_clients_they_apply_to() {
    let _cluster = require_stack();
    let topic = unique("scoped");
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("PRODUCE_COUNT", "3"),
            // A consumer property and a producer property for every client, and scoped ones.
            ("LIBRDKAFKA_SESSION_TIMEOUT_MS", "30000"),
            ("LIBRDKAFKA_QUEUE_BUFFERING_MAX_MESSAGES", "50000"),
            ("LIBRDKAFKA_CONSUMER_FETCH_WAIT_MAX_MS", "100"),
            ("LIBRDKAFKA_PRODUCER_COMPRESSION_TYPE", "zstd"),
        ],
    ));
    daemon.wait_for_received(3, Duration::from_secs(60));
    daemon.stop_cleanly();
    let warnings: Vec<String> = daemon
        .lines()
        .into_iter()
        .filter(|l| l.contains("CONFWARN"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}
