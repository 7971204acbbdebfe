//! Bad input on the topic: every kind of undecodable message, under each `ON_DECODE_ERROR`
//! policy, and a registry outage in the middle of a run. Each poison message must be reported
//! once per consumer, never stall its partition, and never lose the good records after it.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;

const USER_SCHEMA: &str = include_str!("../../schemas/user.avsc");

/// One bad payload and the words its warning must contain.
struct Poison {
    payload: Option<Vec<u8>>,
    reason: &'static str,
}

/// Every kind of undecodable message, framed around the real schema id `id`.
fn poisons(id: u32) -> Vec<Poison> {
    let header = |id: u32| {
        let mut h = vec![0u8];
        h.extend_from_slice(&id.to_be_bytes());
        h
    };
    let with_body = |id: u32, body: &[u8]| {
        let mut p = header(id);
        p.extend_from_slice(body);
        p
    };
    vec![
        Poison {
            payload: None,
            reason: "no payload",
        },
        Poison {
            payload: Some(vec![]),
            reason: "shorter than the 5-byte",
        },
        Poison {
            payload: Some(vec![0, 0, 1]),
            reason: "shorter than the 5-byte",
        },
        Poison {
            payload: Some(with_body(id, b"\x02a").iter().map(|_| 7u8).collect()),
            reason: "magic byte is 0x07",
        },
        Poison {
            payload: Some(with_body(2_000_000_000, b"\x02a")),
            reason: "writer schema 2000000000",
        },
        Poison {
            payload: Some(with_body(id, b"\x0cuser")),
            reason: "string length 6",
        },
        Poison {
            payload: Some(with_body(id, b"\xff\xff\xff")),
            reason: "truncated length",
        },
        Poison {
            payload: Some(with_body(id, b"\x04\xff\xfe")),
            reason: "not valid UTF-8",
        },
        Poison {
            payload: Some(with_body(id, b"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01x")),
            reason: "longer than the",
        },
        Poison {
            payload: Some(with_body(id, b"\x02ab")),
            reason: "left over",
        },
    ]
}

/// Produces good, poison, good, poison, …, good to partition 0; returns the good names.
fn produce_mixed(topic: &str, id: u32) -> (Vec<String>, usize) {
    ensure_topic(topic);
    let poisons = poisons(id);
    let mut records: Vec<(Option<&str>, Option<Vec<u8>>)> = Vec::new();
    let mut good = Vec::new();
    for (i, poison) in poisons.iter().enumerate() {
        let name = format!("good_{i}");
        records.push((Some("k"), Some(confluent_user_bytes(id, &name))));
        good.push(name);
        records.push((Some("poison-key"), poison.payload.clone()));
    }
    good.push("good_last".to_string());
    records.push((Some("k"), Some(confluent_user_bytes(id, "good_last"))));
    produce_to_partition(topic, 0, &records);
    (good, poisons.len())
}

#[test]
fn every_kind_of_poison_is_skipped_once_with_its_reason_and_nothing_after_it_is_lost() {
    let _cluster = require_stack();
    let topic = unique("poison-skip");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let (good, poison_count) = produce_mixed(&topic, id);
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("PRODUCE_COUNT", "1"),
            ("BATCH_SIZE", "4"),
            // The unknown schema id is the record's fault once its 404s last a second.
            ("SCHEMA_NOT_FOUND_GRACE_S", "1"),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    ));
    daemon.wait_for_names(&good, Duration::from_secs(90));
    let metrics = http_get(metrics_port(&daemon), "/metrics");
    daemon.stop_cleanly();
    let lines = daemon.lines();
    assert!(!lines.iter().any(|l| l.contains("panicked")));
    for consumer in ["single", "batch"] {
        let sample = format!("kafka_avro_daemon_decode_errors_total{{consumer=\"{consumer}\",");
        let counted = metrics
            .lines()
            .find(|l| l.starts_with(&sample))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("no decode_errors of {consumer}:\n{metrics}"));
        assert_eq!(
            counted,
            poison_count.to_string(),
            "{consumer}: decode_errors"
        );
    }
    let expected = poisons(id);
    for group in [Group::Single, Group::Batch] {
        let warnings = undecodable_lines(&lines, group);
        assert_eq!(
            warnings.len(),
            poison_count,
            "{group:?}: one warning per poison message:\n{warnings:#?}"
        );
        for (warning, poison) in warnings.iter().zip(&expected) {
            assert!(warning.contains("WARN"), "{warning}");
            assert!(
                warning.contains(&format!("at {topic} p=0 o=")),
                "names topic, partition, offset: {warning}"
            );
            assert!(
                warning.contains(poison.reason),
                "expected {:?} in {warning}",
                poison.reason
            );
        }
    }
    println!("poison: {poison_count} undecodable messages skipped by each group, {} good records after them all received", good.len());
}

#[test]
fn dlq_policy_copies_each_poison_message_with_its_origin_before_moving_on() {
    let _cluster = require_stack();
    let topic = unique("poison-dlq");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let (good, poison_count) = produce_mixed(&topic, id);
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("PRODUCE_COUNT", "1"),
            ("ON_DECODE_ERROR", "dlq"),
            ("SCHEMA_NOT_FOUND_GRACE_S", "1"),
        ],
    ));
    daemon.wait_for_names(&good, Duration::from_secs(90));
    daemon.stop_cleanly();

    let source = read_topic(&topic);
    let dead = read_topic(&format!("{topic}.dlq"));
    assert_eq!(
        dead.len(),
        2 * poison_count,
        "one copy per poison message and group"
    );
    let header = |m: &Stored, key: &str| String::from_utf8_lossy(m.header(key)).to_string();
    let mut copies = BTreeSet::new();
    for copy in &dead {
        assert_eq!(header(copy, "dlq.source.topic"), topic);
        assert_eq!(header(copy, "dlq.source.partition"), "0");
        let offset: i64 = header(copy, "dlq.source.offset").parse().expect("offset");
        let original = source
            .iter()
            .find(|m| m.partition == 0 && m.offset == offset)
            .expect("source message");
        assert_eq!(
            copy.payload, original.payload,
            "value copied untouched (o={offset})"
        );
        assert!(!header(copy, "dlq.error").is_empty());
        copies.insert((header(copy, "dlq.consumer.group"), offset));
    }
    assert_eq!(copies.len(), 2 * poison_count, "no copy twice: {copies:?}");
}

#[test]
fn fail_policy_stops_with_an_error_and_leaves_the_poison_uncommitted() {
    let _cluster = require_stack();
    let topic = unique("poison-fail");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    ensure_topic(&topic);
    produce_to_partition(
        &topic,
        0,
        &[
            (None, Some(confluent_user_bytes(id, "before"))),
            (None, Some(vec![1, 2, 3, 4, 5, 6])),
        ],
    );
    let env = env_with(
        &topic,
        &[
            ("PRODUCE_COUNT", "1"),
            ("ON_DECODE_ERROR", "fail"),
            ("SCHEMA_NOT_FOUND_GRACE_S", "1"),
        ],
    );
    let (status, lines) = run_to_exit(&env, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    let error = lines
        .iter()
        .find(|l| l.contains("ERROR") && l.contains("ON_DECODE_ERROR=fail"))
        .unwrap_or_else(|| panic!("no error line: {lines:#?}"));
    assert!(error.contains(&format!("at {topic} p=0 o=1")), "{error}");
    assert!(error.contains("magic byte is 0x01"), "{error}");

    // Not committed: a second run (skipping this time) meets the same message again.
    let mut env = env;
    env.push(("ON_DECODE_ERROR".to_string(), "skip".to_string()));
    let mut again = Daemon::start(&env);
    again.wait_until(
        "the poison message again in both groups",
        Duration::from_secs(60),
        |lines| {
            [Group::Single, Group::Batch].iter().all(|g| {
                undecodable_lines(lines, *g)
                    .iter()
                    .any(|l| l.contains("p=0 o=1"))
            })
        },
    );
    again.stop_cleanly();
}

#[test]
fn registry_outage_mid_run_loses_nothing() {
    let _cluster = require_stack();
    let topic = unique("registry-outage");
    let proxy = TcpProxy::start(&registry_host_port());
    let mut env = env_with(
        &topic,
        &[("PRODUCE_INTERVAL_MS", "20"), ("PRODUCE_COUNT", "400")],
    );
    env.push((
        "SCHEMA_REGISTRY_URL".to_string(),
        registry_url_via(proxy.port),
    ));
    let mut daemon = Daemon::start(&env);
    daemon.wait_for_received(10, Duration::from_secs(60));

    proxy.set_up(false);
    // Cached schema id: records keep flowing while the registry is unreachable.
    let before = daemon.received().len();
    daemon.wait_until(
        "records decoded with the cached id during the outage",
        Duration::from_secs(90),
        |lines| lines.iter().filter_map(|l| parse_received(l)).count() >= before + 40,
    );
    // A record written with a schema the daemon has never seen must wait, not be skipped.
    let v2 = register_schema(
        &format!("{topic}-value"),
        r#"{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"team","type":"string","default":""}]}"#,
    );
    let mut payload = confluent_user_bytes(v2, "during_outage");
    payload.push(0); // team = ""
    produce_raw(&topic, &[payload]);
    daemon.wait_for_line("waiting for the registry", Duration::from_secs(90));
    proxy.set_up(true);
    daemon.wait_for_names(&["during_outage"], Duration::from_secs(90));
    // Everything this run produced reaches both groups.
    daemon.wait_for_received(401, Duration::from_secs(90));
    daemon.stop_cleanly();
    let lines = daemon.lines();
    assert!(
        undecodable_lines(&lines, Group::Single).is_empty()
            && undecodable_lines(&lines, Group::Batch).is_empty()
    );
    let (sent, ..) = producer_summary(&lines).expect("summary");
    assert_eq!(sent, 400);
    let received = daemon.received();
    for group in [Group::Single, Group::Batch] {
        let names: BTreeSet<&str> = received
            .iter()
            .filter(|r| r.group == group)
            .map(|r| r.name.as_str())
            .collect();
        for n in 0..sent {
            assert!(
                names.contains(format!("user_{n}").as_str()),
                "{group:?} missed user_{n}"
            );
        }
    }
}

#[test]
fn a_skipped_record_is_counted_as_skipped_not_audited_and_is_not_a_loss() {
    let _cluster = require_stack();
    let topic = unique("skipped-figure");
    ensure_topic(&topic);
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("STATS_INTERVAL_S", "1"),
            ("PRODUCE_COUNT", "3"),
            ("AUDIT_FAIL_ON_LOSS", "true"),
        ],
    ));
    daemon.wait_for_received(3, Duration::from_secs(60));
    // Two records no policy can decode (magic byte 7), skipped under the default policy.
    produce_raw(&topic, &[vec![7, 0, 0, 0, 1, 2, b'a'], vec![7; 9]]);
    let both_skipped = |lines: &[String]| {
        [Group::Single, Group::Batch]
            .iter()
            .all(|g| undecodable_lines(lines, *g).len() == 2)
    };
    daemon.wait_until(
        "both records skipped by both groups",
        Duration::from_secs(60),
        both_skipped,
    );
    daemon.wait_until("a stats line with them", Duration::from_secs(30), |lines| {
        lines
            .iter()
            .any(|l| l.contains("] stats: ") && l.matches(" skipped=2 ").count() == 2)
    });
    let metrics = http_get(metrics_port(&daemon), "/metrics");
    daemon.stop_cleanly();

    let lines = daemon.lines();
    for (_, group) in groups_of(&topic) {
        let audit = audit_summary(&lines, &group);
        assert_eq!(audit["skipped"], 2, "{group}: {audit:?}");
        assert_eq!(audit["audited"], 3, "{group}: {audit:?}");
        assert_eq!(audit["unaudited"], 0, "{group}: {audit:?}");
        assert_eq!(audit["lost"], 0, "{group}: {audit:?}");
        let sample = "kafka_avro_daemon_audit_skipped_total{consumer=";
        let value = metrics
            .lines()
            .find(|l| l.starts_with(sample) && l.contains(&format!("group=\"{group}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("no skipped metric for {group}:\n{metrics}"));
        assert_eq!(value, "2", "{group}");
    }
}

/// Sends `records` (key, value, one header `h=v`) to partition 0 of `topic` with a producer
/// that allows records up to 2 MB, and waits until they are acknowledged.
fn produce_large(topic: &str, records: &[(&str, Vec<u8>)]) {
    use rdkafka::config::ClientConfig;
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("acks", "all")
        .set("message.max.bytes", "2000000")
        .create()
        .expect("producer");
    for (key, value) in records {
        let headers = OwnedHeaders::new().insert(Header {
            key: "h",
            value: Some("v"),
        });
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(0)
                    .key(*key)
                    .payload(value)
                    .headers(headers),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue");
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

/// Runs the daemon under `dlq` until both groups handled the good records around one large
/// poison `value` at p=0 o=1, and returns the copies in `<topic>.dlq` and the log.
fn dead_letter_large(topic: &str, value: &[u8]) -> (Vec<Stored>, Vec<String>) {
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    ensure_topic(topic);
    produce_large(
        topic,
        &[
            ("k", confluent_user_bytes(id, "before_large")),
            ("poison-key", value.to_vec()),
            ("k", confluent_user_bytes(id, "after_large")),
        ],
    );
    let mut daemon = Daemon::start(&env_with(
        topic,
        &[
            ("PRODUCE_COUNT", "1"),
            ("ON_DECODE_ERROR", "dlq"),
            ("BATCH_SIZE", "2"),
        ],
    ));
    // Promptly: before, the copy was sent again forever and nothing after it was handled.
    daemon.wait_for_names(&["before_large", "after_large"], Duration::from_secs(60));
    daemon.stop_cleanly();
    (read_topic(&format!("{topic}.dlq")), daemon.lines())
}

/// Asserts that `copies` are one cut copy of `value` (at `topic` p=0 o=1) per group, each at
/// most `limit` bytes of value, with the original's sizes and origin in their headers.
fn assert_cut_copies(copies: &[Stored], topic: &str, value: &[u8], limit: usize) {
    assert_eq!(copies.len(), 2, "one copy per group");
    let header = |m: &Stored, key: &str| String::from_utf8_lossy(m.header(key)).to_string();
    for copy in copies {
        let kept = copy.payload.as_deref().expect("a value prefix");
        assert!(
            kept.len() < limit && kept.len() > limit / 4,
            "a prefix of {} bytes",
            kept.len()
        );
        assert_eq!(kept, &value[..kept.len()], "a prefix of the original");
        assert_eq!(
            header(copy, "dlq.original.value.size"),
            value.len().to_string()
        );
        assert_eq!(header(copy, "dlq.original.key.size"), "10");
        assert_eq!(header(copy, "dlq.original.headers.size"), "2");
        assert_eq!(copy.key.as_deref(), Some(&b"poison-key"[..]));
        assert_eq!(header(copy, "h"), "v", "the original's header kept");
        assert_eq!(header(copy, "dlq.source.topic"), topic);
        assert_eq!(header(copy, "dlq.source.partition"), "0");
        assert_eq!(header(copy, "dlq.source.offset"), "1");
    }
}

#[test]
fn a_dlq_copy_larger_than_the_producer_allows_is_cut_and_nothing_waits() {
    let _cluster = require_stack();
    let topic = unique("poison-dlq-large");
    // The brokers take 1,000,500 bytes (message.max.bytes 1,048,588); the dead-letter
    // producer's own limit is librdkafka's default, 1,000,000. Magic byte 7: undecodable.
    let value = vec![7u8; 1_000_500];
    let (copies, lines) = dead_letter_large(&topic, &value);
    assert_cut_copies(&copies, &topic, &value, 1_000_000);
    assert!(
        !lines.iter().any(|l| l.contains("cannot enqueue")),
        "no copy refused by the client"
    );
}

#[test]
fn a_dlq_topic_with_a_small_max_message_bytes_gets_a_shorter_copy() {
    let _cluster = require_stack();
    let topic = unique("poison-dlq-small");
    // The topic's own limit refuses a copy the producer accepts: the brokers answer
    // MESSAGE_TOO_LARGE in the delivery report.
    create_topic_with(&format!("{topic}.dlq"), 1, &["max.message.bytes=20000"]);
    let value: Vec<u8> = (0..100_000u32)
        .map(|i| if i == 0 { 7 } else { i as u8 })
        .collect();
    let (copies, lines) = dead_letter_large(&topic, &value);
    assert_cut_copies(&copies, &topic, &value, 20_000);
    assert!(
        lines.iter().any(|l| l.contains("refused as too large")),
        "the lowered limit is logged"
    );
}

#[test]
fn a_dlq_topic_deleted_while_running_is_one_line_and_exit_1() {
    let _cluster = require_stack();
    let topic = unique("poison-dlq-gone");
    let dead_letter_topic = format!("{topic}.dlq");
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[("PRODUCE_COUNT", "3"), ("ON_DECODE_ERROR", "dlq")],
    ));
    daemon.wait_for_received(3, Duration::from_secs(60));
    // Created at start (CREATE_TOPICS=true), deleted under the running daemon.
    kafka_admin(&["delete", &bootstrap(), &dead_letter_topic]);
    produce_raw(&topic, &[vec![7, 7, 7, 7, 7, 7]]);
    let produced = std::time::Instant::now();
    // Bounded: librdkafka gives a topic 30 s (topic.metadata.propagation.max.ms) to appear.
    let status = daemon.wait_exit(Duration::from_secs(90));
    let took = produced.elapsed();
    let lines = daemon.lines();
    let line = assert_exit_1_with_one_error_line(
        status,
        &lines,
        &["cannot dead-letter the message at", &dead_letter_topic],
    );
    println!("figures: dead-letter topic deleted while running: exit 1 after {took:?}: {line}");
    // RELIABILITY: noticed within topic.metadata.propagation.max.ms (30 s), with room for the
    // exit and a loaded machine.
    assert!(
        took < Duration::from_secs(45),
        "noticed only after {took:?}"
    );
}
