//! A hostile but valid writer schema: anyone allowed to register a compatible evolution of
//! `User` can register one that holds itself (`next: ["null", "User"]`) and write one record
//! nested 100,000 deep. The daemon must report that record once per group and carry on —
//! not overflow a consumer thread's stack and abort, which before the bounded decoder ended
//! the process (exit 134) on that record at every restart and in every new group.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::common::*;

const USER_SCHEMA: &str = include_str!("../../schemas/user.avsc");

/// `User` with a field that holds another `User`: backward compatible with `schemas/user.avsc`
/// (the new field has a default), so a registry enforcing compatibility accepts it too.
const RECURSIVE_USER: &str = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"next","type":["null","User"],"default":null}]}"#;

/// How deep the hostile record nests: far beyond any stack, two bytes per level.
const DEPTH: usize = 100_000;

/// Good records after the hostile one, all on partition 0 so they come after it.
const GOOD_AFTER: usize = 5;

/// The Confluent frame around a `User` nested `DEPTH` deep with [`RECURSIVE_USER`]: each level
/// is `name = ""` (length 0) then union branch 1 (`User`); the innermost `next` is null.
fn nested_record(schema_id: u32) -> Vec<u8> {
    let mut payload = vec![0u8];
    payload.extend_from_slice(&schema_id.to_be_bytes());
    for _ in 0..DEPTH {
        payload.extend_from_slice(&[0x00, 0x02]);
    }
    payload.extend_from_slice(&[0x00, 0x00]);
    payload
}

/// Whether the process died in a way the daemon itself never logs (a stack overflow aborts
/// with Rust's runtime message; a panic is logged as one line).
fn died(lines: &[String]) -> bool {
    lines
        .iter()
        .any(|l| l.contains("overflowed its stack") || l.contains("fatal runtime error"))
}

/// Waits until both groups logged every name in `good` (or the daemon died), then stops the
/// daemon and checks: it was alive and exits 0, and each group logged exactly one decode
/// error — for the hostile record at `p=0 o=hostile_offset`.
fn check_run(mut daemon: Daemon, topic: &str, good: &[String], hostile_offset: i64) {
    daemon.wait_until(
        "every good record in both groups",
        Duration::from_secs(120),
        |lines| {
            let received: Vec<Received> = lines.iter().filter_map(|l| parse_received(l)).collect();
            died(lines)
                || good.iter().all(|name| {
                    [Group::Single, Group::Batch]
                        .iter()
                        .all(|g| received.iter().any(|r| r.group == *g && &r.name == name))
                })
        },
    );
    let lines = daemon.lines();
    if died(&lines) {
        let status = daemon.wait_exit(Duration::from_secs(30));
        panic!(
            "the daemon died on the hostile record ({status}; a shell reports {}); log:\n{}",
            status.code().unwrap_or(128 + status.signal().unwrap_or(0)),
            daemon.tail(40)
        );
    }
    daemon.stop_cleanly();
    for group in [Group::Single, Group::Batch] {
        let warnings = undecodable_lines(&lines, group);
        assert_eq!(
            warnings.len(),
            1,
            "{group:?}: exactly one decode error, for the hostile record:\n{warnings:#?}"
        );
        let warning = &warnings[0];
        assert!(
            warning.contains(&format!("at {topic} p=0 o={hostile_offset}:")),
            "{warning}"
        );
        assert!(
            warning.contains("deeper than"),
            "names the nesting bound: {warning}"
        );
    }
}

#[test]
fn recursive_record_nested_100000_deep_is_one_decode_error_per_group_and_nothing_dies() {
    let _cluster = require_stack();
    let topic = unique("hostile-schema");
    let subject = format!("{topic}-value");
    let user_id = register_schema(&subject, USER_SCHEMA);
    let hostile_id = register_schema(&subject, RECURSIVE_USER);
    assert_ne!(
        user_id, hostile_id,
        "the registry gave the new version its own id"
    );
    ensure_topic(&topic);

    let mut good: Vec<String> = vec!["before_hostile".to_string()];
    good.extend((0..GOOD_AFTER).map(|i| format!("after_hostile_{i}")));
    let mut records: Vec<(Option<&str>, Option<Vec<u8>>)> =
        vec![(None, Some(confluent_user_bytes(user_id, &good[0])))];
    records.push((None, Some(nested_record(hostile_id))));
    records.extend(
        good[1..]
            .iter()
            .map(|name| (None, Some(confluent_user_bytes(user_id, name)))),
    );
    produce_to_partition(&topic, 0, &records);
    let hostile_offset = 1;

    // The first daemon meets the hostile record in both of its groups.
    let first = Daemon::start(&env_with(
        &topic,
        &[("PRODUCE_COUNT", "1"), ("BATCH_SIZE", "3")],
    ));
    check_run(first, &topic, &good, hostile_offset);

    // New groups start from the beginning of the topic and meet it again.
    let g1 = unique("hostile-new-g1");
    let g2 = unique("hostile-new-g2");
    let second = Daemon::start(&env_with(
        &topic,
        &[
            ("PRODUCE_COUNT", "1"),
            ("CONSUMER_GROUP_ID_1", &g1),
            ("CONSUMER_GROUP_ID_2", &g2),
        ],
    ));
    check_run(second, &topic, &good, hostile_offset);
    println!(
        "hostile_schema: a record nested {DEPTH} deep ({} bytes) was one decode error per group in two daemons with four groups; {} good records processed by each",
        nested_record(hostile_id).len(),
        good.len()
    );
}

/// Writer schemas that panicked apache-avro 0.21's parser: names it checks with `unwrap()`
/// (a record's name, an enum's alias) and a `precision` that is not an integer, which its
/// canonical form parses with `expect`. A registry that validates on registration refuses
/// them, but an answer can also come from a proxy, a restored backup or a registry that does
/// not validate; here the test's proxy serves them by GUID.
const PANICKED_APACHE_AVRO: [&str; 3] = [
    r#"{"type":"record","name":"1User","fields":[{"name":"name","type":"string"}]}"#,
    r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"e","type":{"type":"enum","name":"E","symbols":["A"],"aliases":["!"]},"default":"A"}]}"#,
    r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"d","type":{"type":"fixed","name":"D","size":4,"logicalType":"decimal","precision":"x"},"default":"abcd"}]}"#,
];

#[test]
fn writer_schemas_that_panicked_apache_avro_are_one_decode_error_per_record_and_group() {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseRecord, Producer};

    let _cluster = require_stack();
    let topic = unique("unparsable-schema");
    let proxy = crate::registry_faults::RegistryProxy::start();
    let user_id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    ensure_topic(&topic);
    let producer = test_producer();
    let send = |payload: &[u8], guid_header: Option<Vec<u8>>| {
        let mut record = BaseRecord::<str, [u8]>::to(&topic)
            .partition(0)
            .key("k")
            .payload(payload);
        if let Some(value) = &guid_header {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: "__value_schema_id",
                value: Some(value),
            }));
        }
        producer.send(record).map_err(|(e, _)| e).expect("enqueue");
    };
    for schema in PANICKED_APACHE_AVRO {
        let guid = uuid::Uuid::new_v4();
        proxy.serve_guid(&guid.to_string(), schema);
        let mut header = vec![1];
        header.extend_from_slice(guid.as_bytes());
        send(&confluent_user_bytes(0, "hostile")[5..], Some(header));
    }
    send(&confluent_user_bytes(user_id, "after_unparsable"), None);
    producer.flush(Duration::from_secs(30)).expect("flush");

    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("SCHEMA_REGISTRY_URL", &registry_url_via(proxy.port)),
            ("PRODUCE_COUNT", "1"),
        ],
    ));
    let lines = wait_for_names_unless_a_panic(&daemon, &["after_unparsable"]);
    daemon.stop_cleanly();
    for group in [Group::Single, Group::Batch] {
        let warnings = undecodable_lines(&lines, group);
        assert_eq!(
            warnings.len(),
            PANICKED_APACHE_AVRO.len(),
            "{group:?}: one decode error per hostile schema:\n{warnings:#?}"
        );
        assert!(
            warnings.iter().all(|w| w.contains("not valid Avro")),
            "{warnings:#?}"
        );
    }
}

/// `User` with `"items": 1` on its field: Apicurio stores and serves it as written (Java's
/// Avro keeps it as a field property), and apache-avro 0.21's canonical form panicked on it.
const RESERVED_KEY_ON_A_FIELD: &str = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"string","items":1}]}"#;

/// A compatible `User` whose new field is a record with a string field `size` and the default
/// `{"size": "M"}`: a default is data, never a schema to check.
const SHIRT_USER: &str = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"shirt","type":{"type":"record","name":"Shirt","fields":[{"name":"size","type":"string"}]},"default":{"size":"M"}}]}"#;

#[test]
fn registered_schemas_with_stray_reserved_keys_or_schema_like_defaults_are_read() {
    let _cluster = require_stack();
    let topic = unique("stray-keys");
    let user_id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let stray_id = register_schema(&format!("{topic}-stray-value"), RESERVED_KEY_ON_A_FIELD);
    let shirt_id = register_schema(&format!("{topic}-shirt-value"), SHIRT_USER);
    // `User{name: "with_shirt", shirt: {size: "L"}}`: the name, then the shirt's size.
    let mut shirt = confluent_user_bytes(shirt_id, "with_shirt");
    shirt.extend_from_slice(&[0x02, b'L']);
    let records = [
        (None, Some(confluent_user_bytes(stray_id, "with_stray_key"))),
        (None, Some(shirt)),
        (None, Some(confluent_user_bytes(user_id, "after_both"))),
    ];
    produce_to_partition(&topic, 0, &records);
    let mut daemon = Daemon::start(&env_with(&topic, &[("PRODUCE_COUNT", "1")]));
    let names = ["with_stray_key", "with_shirt", "after_both"];
    let lines = wait_for_names_unless_a_panic(&daemon, &names);
    daemon.stop_cleanly();
    for group in [Group::Single, Group::Batch] {
        let warnings = undecodable_lines(&lines, group);
        assert!(warnings.is_empty(), "{group:?}: {warnings:#?}");
    }
}

/// Waits until both groups logged every name in `names` (or a thread panicked), asserts
/// that no thread panicked, and returns the log so far.
fn wait_for_names_unless_a_panic(daemon: &Daemon, names: &[&str]) -> Vec<String> {
    daemon.wait_until(
        "every name in both groups, or a panic",
        Duration::from_secs(90),
        |lines| {
            lines.iter().any(|l| l.contains("panicked"))
                || [Group::Single, Group::Batch].iter().all(|g| {
                    names.iter().all(|name| {
                        lines
                            .iter()
                            .filter_map(|l| parse_received(l))
                            .any(|r| r.group == *g && r.name == *name)
                    })
                })
        },
    );
    let lines = daemon.lines();
    let panics: Vec<&String> = lines.iter().filter(|l| l.contains("panicked")).collect();
    assert!(panics.is_empty(), "a consumer panicked: {panics:#?}");
    lines
}
