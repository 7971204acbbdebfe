//! The daemon puts a key in the partition the Java client puts it in: compared with the Java
//! producer's own code (`BuiltInPartitioner.partitionForKey`, from the stack's kafka-clients
//! jar, run on a JVM), not with a copy of the daemon's function — for many keys and partition
//! counts, and end to end for records the daemon writes.

use std::time::{Duration, Instant};

use kafka_avro_daemon::internals::java_partition;

use crate::common::*;

const JAVA_SOURCE: &str = r#"
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/** For each key on stdin (one a line), the Java producer's partition of it for each count. */
public class JavaPartitions {
    public static void main(String[] counts) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String key; (key = in.readLine()) != null; ) {
            byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
            for (String count : counts) {
                out.append(BuiltInPartitioner.partitionForKey(bytes, Integer.parseInt(count))).append(' ');
            }
            out.append('\n');
        }
        System.out.print(out);
    }
}
"#;

/// Java's partition of each key, for each count: `result[key][count index]`.
fn java_partitions(keys: &[String], counts: &[i32]) -> Vec<Vec<i32>> {
    let args: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
    let stdin: String = keys.iter().map(|k| format!("{k}\n")).collect();
    run_java("JavaPartitions", JAVA_SOURCE, &args, &stdin)
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|p| p.parse().expect("a partition"))
                .collect()
        })
        .collect()
}

#[test]
fn keys_land_where_the_java_client_puts_them() {
    let mut keys: Vec<String> = (0..500)
        .map(|_| uuid::Uuid::new_v4().hyphenated().to_string())
        .collect();
    keys.extend((0..500).map(|n| format!("user_{n}")));
    keys.extend(["".to_string(), "k".to_string(), "ünïcødé ✓".to_string()]);
    let counts: Vec<i32> = (1..=12).chain([50, 100, 1000]).collect();
    let java = java_partitions(&keys, &counts);
    assert_eq!(java.len(), keys.len());
    for (key, java_row) in keys.iter().zip(&java) {
        let ours: Vec<i32> = counts
            .iter()
            .map(|&n| java_partition(key.as_bytes(), n))
            .collect();
        assert_eq!(&ours, java_row, "key {key:?} over counts {counts:?}");
    }
}

#[test]
fn the_daemon_writes_each_key_to_the_java_partition() {
    let _cluster = require_stack();
    let topic = unique("java-partition");
    ensure_topic(&topic);
    let keys = ["order-17", "customer-42", "a-third-key"];
    let java = java_partitions(&keys.map(String::from), &[3]);
    for (key, java_row) in keys.iter().zip(&java) {
        let mut daemon = Daemon::start(&env_with(
            &topic,
            &[("PRODUCER_KEY", key), ("PRODUCE_COUNT", "5")],
        ));
        daemon.wait_for_line("sent all 5 records", Duration::from_secs(60));
        daemon.stop_cleanly();
        let on_topic: Vec<i32> = read_topic(&topic)
            .iter()
            .filter(|m| m.key.as_deref() == Some(key.as_bytes()))
            .map(|m| m.partition)
            .collect();
        assert_eq!(on_topic.len(), 5, "{key}");
        assert!(
            on_topic.iter().all(|&p| p == java_row[0]),
            "{key}: the daemon wrote to {on_topic:?}, Java puts it in {}",
            java_row[0]
        );
    }
}

/// Partitions added to the topic while the daemon runs are read and written. The consumers
/// see them by their metadata refresh (`topic.metadata.refresh.interval.ms=30000`); the
/// producer asks for the count again a minute after its last look, at any rate: one record
/// every 2 s here, where it looked only every 64th record (over two minutes) before.
#[test]
fn partitions_added_while_the_daemon_runs_are_read_and_written() {
    let _cluster = require_stack();
    let topic = unique("added-partitions");
    create_topic_with(&topic, 1, &[]);
    let mut daemon = Daemon::start(&env_with(&topic, &[("PRODUCE_INTERVAL_MS", "2000")]));
    daemon.wait_for_line("received {'name': 'user_0'}", Duration::from_secs(60));
    let bootstrap = bootstrap();
    kafka_admin(&["partitions", &bootstrap, &topic, "3"]);
    let added = Instant::now();
    // Another client's record in a new partition: both groups read it.
    produce_to_partition(
        &topic,
        2,
        &[(
            Some("k"),
            Some(confluent_user_bytes(
                logged_schema_id(&daemon),
                "in_a_new_partition",
            )),
        )],
    );
    daemon.wait_until(
        "both groups read the new partition",
        Duration::from_secs(90),
        |lines| {
            lines
                .iter()
                .filter(|l| l.contains("'in_a_new_partition'} (p=2, o=0)"))
                .count()
                >= 2
        },
    );
    let read_after = added.elapsed();
    // The daemon's own records go to the new partitions too: within a minute and a record of
    // the last look (the old rule, every 64th record, took about 123 s here).
    daemon.wait_until(
        "the daemon writes to a new partition",
        Duration::from_secs(100),
        |lines| {
            lines
                .iter()
                .any(|l| l.contains("delivered to") && (l.contains("(p=1,") || l.contains("(p=2,")))
        },
    );
    let written_after = added.elapsed();
    daemon.stop_cleanly();
    println!(
        "figures: partitions added: read by both groups after {read_after:?}, written by the producer after {written_after:?}"
    );
}
