//! The local stack (`scripts/stack up`) is what the daemon and the other tests rely on: a
//! Kafka cluster with every broker in the metadata, replicated topics, consumer groups, and a
//! Confluent-compatible registry.

use std::time::{Duration, Instant};

use crate::common::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};

#[test]
fn every_broker_is_in_the_cluster_metadata() {
    let _cluster = require_stack();
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("client");
    let metadata = client
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    let mut ports: Vec<i32> = metadata.brokers().iter().map(|b| b.port()).collect();
    ports.sort();
    let expected: Vec<i32> = (0..expected_brokers() as i32).map(|i| 9094 + i).collect();
    assert_eq!(ports, expected, "brokers in the metadata");
}

#[test]
fn registry_lists_subjects_and_reads_a_schema_back_by_id() {
    let _cluster = require_stack();
    let subjects = registry_get("/subjects");
    assert!(subjects.is_array(), "GET /subjects answered {subjects}");

    let subject = unique("stack-test") + "-value";
    let schema = r#"{"type":"record","name":"Probe","fields":[{"name":"n","type":"long"}]}"#;
    let id = register_schema(&subject, schema);
    let fetched = registry_get(&format!("/schemas/ids/{id}"));
    let fetched: serde_json::Value =
        serde_json::from_str(fetched["schema"].as_str().expect("schema text"))
            .expect("schema JSON");
    assert_eq!(
        fetched,
        serde_json::from_str::<serde_json::Value>(schema).expect("JSON")
    );
    assert_eq!(
        register_schema(&subject, schema),
        id,
        "same schema, same id"
    );
}

#[test]
fn acks_all_message_on_a_replicated_topic_reaches_a_consumer_group() {
    let _cluster = require_stack();
    let topic = unique("stack-replicated");
    ensure_topic(&topic);
    let producer = test_producer();
    let metadata = producer
        .client()
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .expect("metadata");
    for partition in metadata.topics()[0].partitions() {
        assert_eq!(
            partition.replicas().len(),
            expected_brokers(),
            "replicas of p{}",
            partition.id()
        );
        assert_eq!(
            partition.isr().len(),
            expected_brokers(),
            "in-sync replicas of p{}",
            partition.id()
        );
    }
    producer
        .send(
            BaseRecord::to(&topic)
                .key("k")
                .payload("hello, replicated world"),
        )
        .expect("enqueue");
    producer
        .flush(Duration::from_secs(30))
        .expect("acknowledged by all in-sync replicas");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("stack-group"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the group consumed nothing in 60 s"
        );
        if let Some(result) = consumer.poll(Duration::from_millis(200)) {
            let message = result.expect("consume");
            assert_eq!(message.payload(), Some(&b"hello, replicated world"[..]));
            break;
        }
    }
}
