//! Records whose writer schema is named in a `__value_schema_id` header (Confluent 8: version
//! byte `0x01` and a 16-byte GUID) instead of the 5-byte prefix. Against the local Apicurio,
//! which has no GUID endpoint, such a record takes `ON_DECODE_ERROR` with a reason naming the
//! missing support: dead-lettered under `dlq`, skipped under `skip`, a stop under `fail`.
//! Through a proxy that serves `GET /schemas/guids/{guid}` as Confluent does, the header's
//! schema decodes a body that itself begins with `0x00`; malformed headers are the record's
//! fault.

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
    let records: Vec<WithHeaders> = records
        .iter()
        .map(|(payload, header)| (payload.clone(), header.iter().cloned().map(Some).collect()))
        .collect();
    produce_with_headers(topic, &records);
}

/// A payload and the values of its `__value_schema_id` headers, in order (`None`: a null
/// value).
type WithHeaders = (Vec<u8>, Vec<Option<Vec<u8>>>);

/// Sends `(payload, __value_schema_id headers)` records to partition 0, in order, and waits
/// until they are acknowledged: each header in the order given, `None` a header with a null
/// value (not an empty one).
fn produce_with_headers(topic: &str, records: &[WithHeaders]) {
    ensure_topic(topic);
    let producer = test_producer();
    for (payload, headers) in records {
        let mut record = BaseRecord::<str, [u8]>::to(topic)
            .partition(0)
            .key("k")
            .payload(payload);
        if !headers.is_empty() {
            let mut owned = OwnedHeaders::new_with_capacity(headers.len());
            for value in headers {
                owned = owned.insert(Header {
                    key: HEADER,
                    value: value.as_deref(),
                });
            }
            record = record.headers(owned);
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
        &[
            ("PRODUCE_COUNT", "1"),
            ("ON_DECODE_ERROR", "dlq"),
            ("SCHEMA_NOT_FOUND_GRACE_S", "1"),
        ],
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
fn a_guid_framed_record_the_registry_cannot_resolve_is_skipped_with_its_reason_and_stops_only_under_fail(
) {
    let _cluster = require_stack();
    let topic = unique("guid-skip");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let guid = uuid::Uuid::new_v4();
    produce_framed(
        &topic,
        &[
            (user_datum("by_guid"), Some(guid_header(&guid))),
            (confluent_user_bytes(id, "after"), None),
        ],
    );
    let reason = [
        format!("{topic} p=0 o=0"),
        format!("writer schema guid {guid}"),
        "no GUID endpoint".to_string(),
        "GET /schemas/guids/{guid}".to_string(),
        "ON_DECODE_ERROR=dlq keeps such records".to_string(),
    ];
    // The default policy, skip: one WARN line per group with the reason, and the daemon goes
    // on (it stopped, and again at every restart: any writer could keep it down). The missing
    // endpoint is waited for like an unknown id: a grace of 1 s keeps that short.
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[("PRODUCE_COUNT", "1"), ("SCHEMA_NOT_FOUND_GRACE_S", "1")],
    ));
    daemon.wait_for_names(&["after"], Duration::from_secs(90));
    daemon.stop_cleanly();
    let lines = daemon.lines();
    for group in [Group::Single, Group::Batch] {
        let skipped = undecodable_lines(&lines, group);
        assert_eq!(skipped.len(), 1, "{group:?}: {skipped:#?}");
        assert!(skipped[0].contains(" WARN "), "{}", skipped[0]);
        for part in &reason {
            assert!(
                skipped[0].contains(part.as_str()),
                "{part:?} in {}",
                skipped[0]
            );
        }
    }
    for (_, group) in groups_of(&topic) {
        assert_eq!(audit_summary(&lines, &group)["skipped"], 1, "{group}");
    }

    // Under fail, the one policy that stops: exit 1 with that reason, nothing after it handled.
    let topic = unique("guid-fail");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    produce_framed(
        &topic,
        &[
            (user_datum("by_guid"), Some(guid_header(&guid))),
            (confluent_user_bytes(id, "after"), None),
        ],
    );
    let (status, lines) = run_to_exit(
        &env_with(
            &topic,
            &[
                ("PRODUCE_COUNT", "1"),
                ("ON_DECODE_ERROR", "fail"),
                ("SCHEMA_NOT_FOUND_GRACE_S", "1"),
            ],
        ),
        Duration::from_secs(90),
    );
    let fail_reason = [
        format!("{topic} p=0 o=0"),
        format!("writer schema guid {guid}"),
        "no GUID endpoint".to_string(),
        "(ON_DECODE_ERROR=fail)".to_string(),
    ];
    let fail_reason: Vec<&str> = fail_reason.iter().map(String::as_str).collect();
    assert_exit_1_with_one_error_line(status, &lines, &fail_reason);
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

/// A writer schema that cannot become `User` (its `name` is an int): a record read with it
/// is undecodable, whatever its body.
const NAME_AS_INT: &str = r#"{"type":"record","name":"User","namespace":"example.avro","fields":[{"name":"name","type":"int"}]}"#;

/// A version-0 `__value_schema_id` header value: `0x00` and the 4-byte id.
fn id_header(id: u32) -> Vec<u8> {
    let mut value = vec![0];
    value.extend_from_slice(&id.to_be_bytes());
    value
}

/// What a consumer did with the record at `p=0 o=offset`: `Ok(name)` for a received record,
/// `Err(line)` for its undecodable-message line; `None` while it has done neither.
fn outcome_at(lines: &[String], group: Group, offset: i64) -> Option<Result<String, String>> {
    let received = lines
        .iter()
        .filter_map(|l| parse_received(l))
        .find(|r| r.group == group && r.partition == 0 && r.offset == offset)
        .map(|r| Ok(r.name));
    received.or_else(|| {
        undecodable_lines(lines, group)
            .into_iter()
            .find(|l| l.contains(&format!(" p=0 o={offset}: ")))
            .map(Err)
    })
}

/// README: when a record carries the `__value_schema_id` header more than once, the last one
/// with a value takes precedence, as Confluent's deserializer reads it. Every record's body is
/// the bare `User` datum (it does not begin with `0x00`, so read as a prefix it is
/// undecodable), and its headers name, in turn, a schema that cannot become `User` (`wrong`),
/// the right one, a malformed value, an empty one or none at all (a null value). A record
/// decodes only if the last non-null header names the right schema: "first wins" fails the
/// first three records, "a null header counts" (as no header, or as a malformed one) fails the
/// third (and reports the fourth as a bad prefix), and "the last well-formed one wins" decodes
/// the fourth and sixth; an earlier right header does not rescue a last one that is wrong,
/// malformed (followed by a null one) or empty.
#[test]
fn the_last_schema_id_header_with_a_value_names_the_schema_and_a_null_one_is_passed_over() {
    let _cluster = require_stack();
    let topic = unique("header-last");
    let right = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let wrong = register_schema(&format!("{topic}-wrong-value"), NAME_AS_INT);
    assert_ne!(right, wrong);
    let (right_h, wrong_h) = (Some(id_header(right)), Some(id_header(wrong)));
    let malformed_first = Some(vec![2; 17]);
    let malformed_last = Some(vec![0, 0, 1]);
    let records: Vec<WithHeaders> = vec![
        (
            user_datum("wrong_then_right"),
            vec![wrong_h.clone(), right_h.clone()],
        ),
        (
            user_datum("malformed_then_right"),
            vec![malformed_first, right_h.clone()],
        ),
        (
            user_datum("wrong_right_then_null"),
            vec![wrong_h.clone(), right_h.clone(), None],
        ),
        (
            user_datum("right_then_malformed"),
            vec![right_h.clone(), malformed_last, None],
        ),
        (
            user_datum("right_then_wrong"),
            vec![right_h.clone(), wrong_h.clone()],
        ),
        (
            user_datum("right_then_empty"),
            vec![right_h.clone(), Some(Vec::new())],
        ),
        (confluent_user_bytes(right, "prefix_after"), Vec::new()),
    ];
    produce_with_headers(&topic, &records);

    // The records are on the topic with their headers as sent, in order (a null value reads
    // back as empty here; the daemon tells the two apart, see the last records).
    let stored = read_topic(&topic);
    assert_eq!(stored.len(), records.len(), "{stored:#?}");
    for (copy, (payload, headers)) in stored.iter().zip(&records) {
        assert_eq!(copy.payload.as_ref(), Some(payload), "{copy:?}");
        let sent: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|h| (HEADER.to_string(), h.clone().unwrap_or_default()))
            .collect();
        assert_eq!(copy.headers, sent, "{copy:?}");
    }

    let mut daemon = Daemon::start(&env_with(&topic, &[("PRODUCE_COUNT", "1")]));
    let ours = 0..records.len() as i64;
    // Every record handled by both groups, received or undecodable: whatever the rule, this
    // does not wait for a name that will never come.
    daemon.wait_until(
        "every record received or reported undecodable by both groups",
        Duration::from_secs(90),
        |lines| {
            [Group::Single, Group::Batch].iter().all(|g| {
                ours.clone()
                    .all(|offset| outcome_at(lines, *g, offset).is_some())
            })
        },
    );
    daemon.stop_cleanly();
    let lines = daemon.lines();
    for group in [Group::Single, Group::Batch] {
        let outcome = |offset| outcome_at(&lines, group, offset).expect("handled");
        for (offset, name) in [
            (0, "wrong_then_right"),
            (1, "malformed_then_right"),
            (2, "wrong_right_then_null"),
            (6, "prefix_after"),
        ] {
            assert_eq!(
                outcome(offset),
                Ok(name.to_string()),
                "{group:?} o={offset}"
            );
        }
        for (offset, why) in [
            (
                3,
                "the __value_schema_id header of 3 bytes with version byte 0x00".to_string(),
            ),
            (4, format!("writer schema {wrong}: ")),
            (
                5,
                "the __value_schema_id header is empty (0 bytes)".to_string(),
            ),
        ] {
            match outcome(offset) {
                Err(line) => assert!(line.contains(&why), "{group:?} o={offset}: {line}"),
                Ok(name) => panic!("{group:?} o={offset} decoded as {name:?}, expected {why:?}"),
            }
        }
    }
}
