//! Records another client compressed — with every codec Kafka has — are read by both groups.
//! The writer is kcat (Debian's, on its own librdkafka), not the daemon's producer, so the
//! test does not only show that the daemon reads what it writes itself.

use std::process::Command;
use std::time::Duration;

use crate::common::*;

const USER_SCHEMA: &str = include_str!("../../schemas/user.avsc");

const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];

/// Writes each payload as one record, compressed with `codec`, to partition 0 with kcat.
fn kcat_produce(topic: &str, codec: &str, payloads: &[Vec<u8>]) {
    let dir = std::env::temp_dir().join(unique("kcat"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files: Vec<String> = payloads
        .iter()
        .enumerate()
        .map(|(i, payload)| {
            let path = dir.join(format!("{i}.bin"));
            std::fs::write(&path, payload).expect("write payload");
            path.display().to_string()
        })
        .collect();
    let output = Command::new("kcat")
        .args([
            "-P",
            "-b",
            &bootstrap(),
            "-t",
            topic,
            "-p",
            "0",
            "-z",
            codec,
        ])
        // Batch them, so the codec really compresses a message set.
        .args(["-X", "linger.ms=50"])
        .args(&files)
        .output()
        .expect("run kcat (installed by scripts/stack)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "kcat -z {codec} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn records_compressed_by_another_client_with_every_codec_are_read_by_both_groups() {
    let _cluster = require_stack();
    let topic = unique("compressed");
    ensure_topic(&topic);
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let mut names = Vec::new();
    for codec in CODECS {
        let batch: Vec<String> = (0..5).map(|n| format!("{codec}_{n}")).collect();
        let payloads: Vec<Vec<u8>> = batch.iter().map(|n| confluent_user_bytes(id, n)).collect();
        kcat_produce(&topic, codec, &payloads);
        names.extend(batch);
    }
    let mut daemon = Daemon::start(&env_with(&topic, &[("PRODUCE_COUNT", "1")]));
    daemon.wait_for_names(&names, Duration::from_secs(60));
    daemon.stop_cleanly();
    let lines = daemon.lines();
    let complaints: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("ecompress") || l.contains("undecodable"))
        .collect();
    assert!(complaints.is_empty(), "{complaints:#?}");
    // In partition 0 they came in the order written, codec after codec.
    let single: Vec<String> = daemon
        .received()
        .into_iter()
        .filter(|r| r.group == Group::Single && r.partition == 0)
        .map(|r| r.name)
        .filter(|n| names.contains(n))
        .collect();
    assert_eq!(single, names);
    println!(
        "figures: {} records compressed by kcat with {} read by both groups",
        names.len(),
        CODECS.join(", ")
    );
}
