//! The daemon puts a key in the partition the Java client puts it in: compared with the Java
//! producer's own code (`BuiltInPartitioner.partitionForKey`, from the stack's kafka-clients
//! jar, run on a JVM), not with a copy of the daemon's function — for many keys and partition
//! counts, and end to end for records the daemon writes.

use std::time::Duration;

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
