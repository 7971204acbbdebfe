//! Records other clients may write that are not what this daemon writes, with bytes where it
//! would put text: a header whose key is not UTF-8 (written by kcat), a Kafka key that is not
//! UTF-8, a `User` whose name bytes are not UTF-8. None may panic a consumer; a valid value is
//! decoded whatever its key and header keys are, and an invalid one is handled per
//! `ON_DECODE_ERROR`, in both groups and again after a restart.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::Duration;

use rdkafka::producer::{BaseRecord, Producer};

use crate::common::*;

const USER_SCHEMA: &str = include_str!("../../schemas/user.avsc");

/// A header key that is not UTF-8: `ff fe`, as issue 17 wrote it.
const KEY_NOT_UTF8: &[u8] = b"\xff\xfe";

/// Writes `value` to partition 0 of `topic` with kcat, with one header: key `ff fe`, value
/// `v`, and with `key` as the Kafka key if given. kcat is an independent writer of raw bytes.
fn kcat_with_foreign_header_key(topic: &str, key: Option<&[u8]>, value: &[u8]) {
    let file = std::env::temp_dir().join(unique("value"));
    std::fs::write(&file, value).expect("write the value");
    let mut header = KEY_NOT_UTF8.to_vec();
    header.extend_from_slice(b"=v");
    let mut kcat = Command::new("kcat");
    kcat.args(["-P", "-b", &bootstrap(), "-t", topic, "-p", "0", "-H"])
        .arg(OsStr::from_bytes(&header));
    if let Some(key) = key {
        kcat.arg("-k").arg(OsStr::from_bytes(key));
    }
    let output = kcat
        .arg(&file)
        .output()
        .expect("run kcat (installed with the stack's tools)");
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts that no line of a run says a thread panicked.
fn assert_no_panic(lines: &[String]) {
    let panics: Vec<&String> = lines.iter().filter(|l| l.contains("panicked")).collect();
    assert!(panics.is_empty(), "{panics:#?}");
}

/// Runs a daemon with `env` until both groups received every name in `names`, then stops it
/// with SIGINT: exit 0, no panic.
fn run_until_received(env: &[(String, String)], names: &[&str]) {
    let mut daemon = Daemon::start(env);
    daemon.wait_for_names(names, Duration::from_secs(90));
    daemon.stop_cleanly();
    assert_no_panic(&daemon.lines());
}

#[test]
fn a_header_key_that_is_not_utf8_is_passed_over_and_its_record_decoded_in_both_groups() {
    let _cluster = require_stack();
    let topic = unique("hostile-header");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    ensure_topic(&topic);
    kcat_with_foreign_header_key(&topic, None, &confluent_user_bytes(id, "foreign_header_1"));
    produce_to_partition(
        &topic,
        0,
        &[(None, Some(confluent_user_bytes(id, "after_header_1")))],
    );
    let env = env_with(&topic, &[("PRODUCE_COUNT", "1")]);
    run_until_received(&env, &["foreign_header_1", "after_header_1"]);

    // The same groups again, past another such record: the daemon that stopped cleanly
    // committed the first, so the restart meets a new one.
    kcat_with_foreign_header_key(&topic, None, &confluent_user_bytes(id, "foreign_header_2"));
    produce_to_partition(
        &topic,
        0,
        &[(None, Some(confluent_user_bytes(id, "after_header_2")))],
    );
    run_until_received(&env, &["foreign_header_2", "after_header_2"]);

    // New groups read the topic from the start, both such records included.
    let fresh = env_with(
        &topic,
        &[
            ("PRODUCE_COUNT", "1"),
            ("CONSUMER_GROUP_ID_1", &format!("{topic}-new-g1")),
            ("CONSUMER_GROUP_ID_2", &format!("{topic}-new-g2")),
        ],
    );
    run_until_received(
        &fresh,
        &[
            "foreign_header_1",
            "after_header_1",
            "foreign_header_2",
            "after_header_2",
        ],
    );
    println!("hostile_records: a header key ff fe passed by both groups, after a restart and by new groups");
}

/// A `User` body whose name is the bytes `ff fe`: a well-formed frame and length, not UTF-8.
fn name_not_utf8(id: u32) -> Vec<u8> {
    let mut value = confluent_user_bytes(id, "");
    value.pop();
    value.extend_from_slice(b"\x04\xff\xfe");
    value
}

/// Writes, to partition 0: a valid `User` under a Kafka key `ff fe`, a `User` whose name is
/// not UTF-8, and a good record.
fn produce_foreign_bytes(topic: &str, id: u32) {
    ensure_topic(topic);
    let producer = test_producer();
    let records: [(&[u8], Vec<u8>); 3] = [
        (KEY_NOT_UTF8, confluent_user_bytes(id, "key_not_utf8")),
        (b"k", name_not_utf8(id)),
        (b"k", confluent_user_bytes(id, "after_bad_name")),
    ];
    for (key, value) in &records {
        let record = BaseRecord::<[u8], [u8]>::to(topic)
            .partition(0)
            .key(*key)
            .payload(value);
        producer.send(record).map_err(|(e, _)| e).expect("enqueue");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

#[test]
fn a_kafka_key_and_a_name_that_are_not_utf8_are_handled_per_the_policy_without_a_panic() {
    let _cluster = require_stack();
    let topic = unique("hostile-bytes");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    produce_foreign_bytes(&topic, id);
    let mut daemon = Daemon::start(&env_with(&topic, &[("PRODUCE_COUNT", "1")]));
    daemon.wait_for_names(&["key_not_utf8", "after_bad_name"], Duration::from_secs(90));
    daemon.stop_cleanly();
    let lines = daemon.lines();
    assert_no_panic(&lines);
    for group in [Group::Single, Group::Batch] {
        let warnings = undecodable_lines(&lines, group);
        assert_eq!(warnings.len(), 1, "{group:?}: {warnings:#?}");
        assert!(
            warnings[0].contains(&format!("at {topic} p=0 o=1"))
                && warnings[0].contains("not valid UTF-8"),
            "{}",
            warnings[0]
        );
    }

    // Under `fail`, the same bytes stop the daemon with one line, and still no panic.
    let topic = unique("hostile-bytes-fail");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    produce_foreign_bytes(&topic, id);
    let env = env_with(
        &topic,
        &[("PRODUCE_COUNT", "1"), ("ON_DECODE_ERROR", "fail")],
    );
    let (status, lines) = run_to_exit(&env, Duration::from_secs(90));
    assert_no_panic(&lines);
    assert_exit_1_with_one_error_line(
        status,
        &lines,
        &[&format!("at {topic} p=0 o=1"), "not valid UTF-8"],
    );
}

#[test]
fn a_record_of_foreign_bytes_is_dead_lettered_with_its_key_and_header_bytes_intact() {
    let _cluster = require_stack();
    let topic = unique("hostile-dlq");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    ensure_topic(&topic);
    // Key, header key and name all `ff fe`: undecodable, so copied as it is.
    kcat_with_foreign_header_key(&topic, Some(KEY_NOT_UTF8), &name_not_utf8(id));
    produce_to_partition(
        &topic,
        0,
        &[(None, Some(confluent_user_bytes(id, "after_foreign")))],
    );
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[("PRODUCE_COUNT", "1"), ("ON_DECODE_ERROR", "dlq")],
    ));
    daemon.wait_for_names(&["after_foreign"], Duration::from_secs(90));
    daemon.stop_cleanly();
    assert_no_panic(&daemon.lines());

    // Read back with kcat too: rdkafka's own header iterator would panic on the key.
    let output = Command::new("kcat")
        .args(["-C", "-b", &bootstrap(), "-t", &format!("{topic}.dlq")])
        .args(["-o", "beginning", "-e", "-q", "-f", "key=%k headers=%h\\n"])
        .output()
        .expect("run kcat");
    assert!(
        output.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let copies: Vec<&[u8]> = output
        .stdout
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(
        copies.len(),
        2,
        "one copy per group: {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    for copy in copies {
        let text = String::from_utf8_lossy(copy);
        assert!(copy.starts_with(b"key=\xff\xfe headers="), "{text}");
        assert!(copy.windows(4).any(|w| w == b"\xff\xfe=v"), "{text}");
        assert!(
            text.contains(&format!("dlq.source.topic={topic}")),
            "{text}"
        );
    }
}
