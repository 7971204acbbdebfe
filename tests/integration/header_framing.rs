//! Records whose writer schema is named in a `__value_schema_id` header (Confluent 8: version
//! byte `0x01` and a 16-byte GUID) instead of the 5-byte prefix. Against the local Apicurio,
//! which has no GUID endpoint, such a record is never skipped: dead-lettered under `dlq`,
//! otherwise the daemon stops with one line naming the missing support. Through a proxy that
//! serves `GET /schemas/guids/{guid}` as Confluent does, the header's schema decodes a body
//! that itself begins with `0x00`; malformed headers are the record's fault.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};

use crate::common::*;
use crate::registry_faults::RegistryProxy;

const USER_SCHEMA: &str = include_str!("../../schemas/user.avsc");

/// A writer schema whose datum begins with four zero bytes (four ints of 0), so it reads as a
/// Confluent prefix (magic 0, id 0x0000000c for a 6-character name) if the header is ignored.
const INTS_FIRST: &str = r#"{"type":"record","name":"User","namespace":"example.avro","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"int"},{"name":"d","type":"int"},{"name":"name","type":"string"}]}"#;

const HEADER: &str = "__value_schema_id";

/// The header value for `guid`: version byte 1, then its 16 bytes.
fn guid_header(guid: &uuid::Uuid) -> Vec<u8> {
    let mut value = vec![1];
    value.extend_from_slice(guid.as_bytes());
    value
}

/// The Avro datum of `User { name }`, without a prefix.
fn user_datum(name: &str) -> Vec<u8> {
    confluent_user_bytes(0, name)[5..].to_vec()
}

/// Sends `(payload, __value_schema_id header)` records to partition 0, in order, and waits
/// until they are acknowledged.
fn produce_framed(topic: &str, records: &[(Vec<u8>, Option<Vec<u8>>)]) {
    ensure_topic(topic);
    let producer = test_producer();
    for (payload, header) in records {
        let mut record = BaseRecord::<str, [u8]>::to(topic)
            .partition(0)
            .key("k")
            .payload(payload);
        if let Some(value) = header {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: HEADER,
                value: Some(value),
            }));
        }
        producer.send(record).map_err(|(e, _)| e).expect("enqueue");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

#[test]
fn a_guid_framed_record_the_registry_cannot_resolve_is_dead_lettered_with_its_header() {
    let _cluster = require_stack();
    let topic = unique("guid-dlq");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let header = guid_header(&uuid::Uuid::new_v4());
    produce_framed(
        &topic,
        &[
            (confluent_user_bytes(id, "before"), None),
            (user_datum("by_guid"), Some(header.clone())),
            (confluent_user_bytes(id, "after"), None),
        ],
    );
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[("PRODUCE_COUNT", "1"), ("ON_DECODE_ERROR", "dlq")],
    ));
    daemon.wait_for_names(&["before", "after"], Duration::from_secs(90));
    daemon.stop_cleanly();

    let dead = read_topic(&format!("{topic}.dlq"));
    assert_eq!(dead.len(), 2, "one copy per group: {dead:#?}");
    for copy in &dead {
        assert_eq!(copy.payload.as_deref(), Some(&user_datum("by_guid")[..]));
        assert_eq!(
            copy.header(HEADER),
            header,
            "the schema header travels with the copy"
        );
        let reason = String::from_utf8_lossy(copy.header("dlq.error"));
        assert!(reason.contains("no GUID endpoint"), "{reason}");
    }
}

#[test]
fn a_guid_framed_record_the_registry_cannot_resolve_stops_the_daemon_unless_dlq() {
    let _cluster = require_stack();
    let topic = unique("guid-stop");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let guid = uuid::Uuid::new_v4();
    produce_framed(
        &topic,
        &[
            (user_datum("by_guid"), Some(guid_header(&guid))),
            (confluent_user_bytes(id, "after"), None),
        ],
    );
    // The default policy, skip: the record is not at fault, so it is not skipped either.
    let (status, lines) = run_to_exit(
        &env_with(&topic, &[("PRODUCE_COUNT", "1")]),
        Duration::from_secs(90),
    );
    assert_exit_1_with_one_error_line(
        status,
        &lines,
        &[
            &format!("{topic} p=0 o=0 not skipped"),
            &format!("writer schema guid {guid}"),
            "no GUID endpoint",
            "GET /schemas/guids/{guid}",
            "ON_DECODE_ERROR=dlq",
        ],
    );
    let after: Vec<&String> = lines.iter().filter(|l| l.contains("'after'")).collect();
    assert!(after.is_empty(), "nothing after it handled: {after:#?}");
}

#[test]
fn the_header_schema_decodes_a_body_that_begins_with_zero_and_malformed_headers_are_skipped() {
    let _cluster = require_stack();
    let topic = unique("guid-resolved");
    let proxy = RegistryProxy::start();
    let guid = uuid::Uuid::new_v4();
    proxy.serve_guid(&guid.to_string(), INTS_FIRST);
    let mut body = vec![0, 0, 0, 0];
    body.extend_from_slice(&user_datum("guid_1"));
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let mut id_header = vec![0];
    id_header.extend_from_slice(&id.to_be_bytes());
    let mut too_long = guid_header(&guid);
    too_long.push(0);
    produce_framed(
        &topic,
        &[
            (body.clone(), Some(guid_header(&guid))),
            (body.clone(), Some(too_long)),
            (body.clone(), Some(vec![2; 17])),
            (user_datum("by_id_header"), Some(id_header)),
        ],
    );
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("SCHEMA_REGISTRY_URL", &registry_url_via(proxy.port)),
            ("PRODUCE_COUNT", "1"),
        ],
    ));
    daemon.wait_for_names(&["guid_1", "by_id_header"], Duration::from_secs(90));
    daemon.wait_until(
        "both malformed headers reported by both groups",
        Duration::from_secs(60),
        |lines| {
            [Group::Single, Group::Batch].iter().all(|g| {
                undecodable_lines(lines, *g)
                    .iter()
                    .filter(|l| l.contains("__value_schema_id header"))
                    .count()
                    == 2
            })
        },
    );
    daemon.stop_cleanly();
    let lines = daemon.lines();
    let single = undecodable_lines(&lines, Group::Single);
    assert!(
        single.iter().any(|l| l.contains("header of 18 bytes")),
        "{single:#?}"
    );
    assert!(
        single.iter().any(|l| l.contains("version byte 0x02")),
        "{single:#?}"
    );
}
