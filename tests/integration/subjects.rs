//! The subject the schema is registered under follows Confluent's subject name strategies; the
//! expected subject is computed here from the strategy's definition, not by the daemon's code.

use std::time::Duration;

use crate::common::*;

/// `namespace.name` of `schemas/user.avsc`, read from the file.
fn record_full_name() -> String {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/user.avsc")).expect("user.avsc");
    format!(
        "{}.{}",
        schema["namespace"].as_str().expect("namespace"),
        schema["name"].as_str().expect("name")
    )
}

fn subjects() -> Vec<String> {
    serde_json::from_value(registry_get("/subjects")).expect("a list of subjects")
}

#[test]
fn each_subject_name_strategy_registers_the_subject_confluent_would() {
    let _cluster = require_stack();
    let topic = unique("subjects");
    let record = record_full_name();
    for (strategy, expected) in [
        ("topic", format!("{topic}-value")),
        ("record", record.clone()),
        ("topic_record", format!("{topic}-{record}")),
    ] {
        let mut daemon = Daemon::start(&env_with(
            &topic,
            &[("SUBJECT_NAME_STRATEGY", strategy), ("PRODUCE_COUNT", "1")],
        ));
        daemon.wait_for_received(1, Duration::from_secs(60));
        daemon.stop_cleanly();
        let line = format!("schema registered under subject {expected} with id");
        assert!(
            daemon.lines().iter().any(|l| l.contains(&line)),
            "{strategy}: no {line:?}:\n{}",
            daemon.tail(20)
        );
        assert!(
            subjects().contains(&expected),
            "{strategy}: the registry has no subject {expected}"
        );
    }
}
