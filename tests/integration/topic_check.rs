//! The start-up check of the topics: a missing topic (or `<topic>.dlq` with
//! `ON_DECODE_ERROR=dlq`) stops the daemon with exit 1 and one line, and creates nothing even on
//! the stack's brokers, which auto-create topics; `CREATE_TOPICS=true` creates it with the
//! configured partitions and replication factor; an existing topic starts as before; brokers
//! that refuse or hang end the check within `TOPIC_CHECK_TIMEOUT_S`.
//!
//! The stack's brokers allow everything on a topic without ACLs, as here: the refusals are
//! tested against real ACLs in `security::a_topic_the_principal_may_not_write_or_read_is_one_line_and_exit_1`
//! and unit-tested on parsed answers (`kafka::topic_check::tests`).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use crate::common::*;

/// `(partitions, replicas of each partition)` of `topic`, or `None` when it does not exist.
/// Asked with a consumer, which never makes the brokers auto-create the topic.
fn topic_layout(topic: &str) -> Option<(usize, Vec<usize>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("metadata consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let t = metadata.topics().first().expect("the topic asked for");
    match t.error() {
        Some(e) if RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition => None,
        Some(e) => panic!("metadata of {topic}: {e:?}"),
        None => Some((
            t.partitions().len(),
            t.partitions().iter().map(|p| p.replicas().len()).collect(),
        )),
    }
}

/// Runs the daemon on `topic` with `extra` until it exits, and asserts exit 1 with one `ERROR`
/// line saying that `missing` does not exist and `CREATE_TOPICS=false`, and that nothing was
/// created behind the check's back (the stack auto-creates topics on metadata requests that
/// allow it; the check must not).
fn assert_missing_stops_the_daemon(
    topic: &str,
    extra: &[(&str, &str)],
    missing: &str,
) -> Vec<String> {
    let (status, lines) = run_to_exit(&env_with(topic, extra), Duration::from_secs(60));
    assert_exit_1_with_one_error_line(
        status,
        &lines,
        &[&format!(
            "topic {missing} does not exist and CREATE_TOPICS=false"
        )],
    );
    assert_eq!(topic_layout(missing), None, "the check created {missing}");
    lines
}

#[test]
fn a_missing_topic_without_creation_is_exit_1_with_one_line_and_nothing_is_created() {
    let _cluster = require_stack();
    let topic = unique("tc-missing");
    let lines = assert_missing_stops_the_daemon(&topic, &[("CREATE_TOPICS", "false")], &topic);
    let errors = error_lines(&lines);
    assert!(
        errors[0].contains("set CREATE_TOPICS=true"),
        "{}",
        errors[0]
    );
    assert!(
        !lines.iter().any(|l| l.contains("schema registered")),
        "nothing is registered for a missing topic: {lines:#?}"
    );
}

#[test]
fn creation_uses_the_configured_partitions_and_replication_factor() {
    let _cluster = require_stack();
    let topic = unique("tc-create");
    let replication = expected_brokers().min(2);
    let replication_text = replication.to_string();
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("CREATE_TOPICS", "true"),
            ("CREATE_TOPIC_PARTITIONS", "5"),
            ("CREATE_TOPIC_REPLICATION_FACTOR", &replication_text),
        ],
    ));
    daemon.wait_for_line(
        &format!("topic {topic} created: 5 partitions, replication factor {replication}"),
        Duration::from_secs(60),
    );
    // The consumers start only once each broker, asked on its own, knows the topic: a group
    // whose coordinator does not yet is assigned nothing, for good (kafka/topic_propagation.rs).
    daemon.wait_for_line(
        &format!(
            "topic {topic} known to every broker ({})",
            expected_brokers()
        ),
        Duration::from_secs(60),
    );
    daemon.wait_for_received(2, Duration::from_secs(60));
    daemon.stop_cleanly();
    assert_known_before_assigned(&daemon.lines(), &topic);
    assert_eq!(
        topic_layout(&topic),
        Some((5, vec![replication; 5])),
        "the layout the brokers report"
    );
}

#[test]
fn a_missing_dead_letter_topic_is_exit_1_naming_it_and_created_on_request() {
    let _cluster = require_stack();
    let topic = unique("tc-dlq");
    ensure_topic(&topic);
    let dlq = format!("{topic}.dlq");
    assert_missing_stops_the_daemon(
        &topic,
        &[("CREATE_TOPICS", "false"), ("ON_DECODE_ERROR", "dlq")],
        &dlq,
    );

    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[("CREATE_TOPICS", "true"), ("ON_DECODE_ERROR", "dlq")],
    ));
    daemon.wait_for_line(&format!("topic {topic} found"), Duration::from_secs(60));
    daemon.wait_for_line(&format!("topic {dlq} created"), Duration::from_secs(60));
    daemon.wait_for_received(2, Duration::from_secs(60));
    daemon.stop_cleanly();
    assert!(topic_layout(&dlq).is_some(), "{dlq} exists");
}

#[test]
fn an_existing_topic_starts_as_before_without_creation() {
    let _cluster = require_stack();
    let topic = unique("tc-existing");
    ensure_topic(&topic);
    let mut daemon = Daemon::start(&env_with(&topic, &[("CREATE_TOPICS", "false")]));
    daemon.wait_for_line(
        &format!("topic {topic} found: 3 partitions"),
        Duration::from_secs(60),
    );
    daemon.wait_for_line(
        &format!(
            "topic {topic} known to every broker ({})",
            expected_brokers()
        ),
        Duration::from_secs(60),
    );
    daemon.wait_for_received(4, Duration::from_secs(60));
    daemon.stop_cleanly();
    assert_known_before_assigned(&daemon.lines(), &topic);
}

/// The consumers joined their groups only after every broker knew the topic.
fn assert_known_before_assigned(lines: &[String], topic: &str) {
    let known = lines
        .iter()
        .position(|l| l.contains(&format!("topic {topic} known to every broker")))
        .expect("the known line");
    let assigned = lines
        .iter()
        .position(|l| l.contains("consumer: partitions [") && l.ends_with("] assigned"))
        .expect("an assignment");
    assert!(
        known < assigned,
        "known at line {known}, assigned at {assigned}"
    );
}

/// Brokers that refuse connections and brokers that accept and never answer both end the
/// check within `TOPIC_CHECK_TIMEOUT_S` (plus the client's teardown): exit 1, one line naming
/// the servers.
#[test]
fn refusing_or_hanging_brokers_end_the_check_within_its_timeout() {
    let hung = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hung_address = hung.local_addr().expect("address").to_string();
    // Accepts every connection and holds it, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming().flatten() {
            held.push(stream);
        }
    });
    for servers in ["127.0.0.1:9".to_string(), hung_address] {
        let topic = unique("tc-unreachable");
        let mut env = env_with(&topic, &[("TOPIC_CHECK_TIMEOUT_S", "3")]);
        env.push(("KAFKA_BOOTSTRAP_SERVERS".to_string(), servers.clone()));
        let started = Instant::now();
        let (status, lines) = run_to_exit(&env, Duration::from_secs(30));
        let took = started.elapsed();
        assert_eq!(status.code(), Some(1), "{servers}: {lines:#?}");
        let last = lines.last().expect("an error line");
        assert!(
            last.contains("ERROR") && last.contains(&format!("cannot check topic {topic}")),
            "{last}"
        );
        assert!(
            last.contains(&format!("KAFKA_BOOTSTRAP_SERVERS={servers}")),
            "{last}"
        );
        assert!(took < Duration::from_secs(15), "{servers}: took {took:?}");
    }
}
