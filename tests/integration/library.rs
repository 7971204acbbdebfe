//! The library from outside the crate: the examples, built by the test command, run against
//! the local stack.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{
    confluent_user_bytes, daemon_env, ensure_topic, example, produce_raw, register_schema,
    require_stack, unique,
};

#[test]
fn the_batch_counter_example_consumes_with_its_own_handler_and_stops_through_the_stop_handle() {
    let _stack = require_stack();
    let topic = unique("lib-example");
    ensure_topic(&topic);
    let schema = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    let id = register_schema(&format!("{topic}-value"), schema);
    let payloads: Vec<Vec<u8>> = (0..30)
        .map(|n| confluent_user_bytes(id, &format!("user_{n}")))
        .collect();
    produce_raw(&topic, &payloads);

    let mut command = Command::new(example("batch_counter"));
    command.args(["--group", &format!("{topic}-counter"), "--max", "30"]);
    command.envs(daemon_env(&topic));
    let started = Instant::now();
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the example");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the example did not stop within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("stopped after 30 records"),
        "the handler saw every record once before the stop: {stdout}"
    );
}
