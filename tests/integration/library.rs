//! The library from outside the crate: the examples, built by the test command, run against
//! the local stack.

use std::process::Command;
use std::time::{Duration, Instant};

use kafka_avro_daemon::{Config, Producer, Shared, Shutdown, User, UserCodec};

use crate::common::{
    bootstrap, confluent_user_bytes, create_topic_with, daemon_env, ensure_topic, example,
    produce_raw, produce_to_partition, produce_with_confluents_serializer, read_topic,
    register_schema, registry_url, require_stack, unique, Stored,
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

/// A record of another type than `User`: a nested record, an enum, an array, a map and an
/// optional field.
const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
  {"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"name","type":"string"}]}},
  {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},
  {"name":"lines","type":{"type":"array","items":"long"}},
  {"name":"tags","type":{"type":"map","values":"string"}},
  {"name":"note","type":["null","string"],"default":null}]}"#;

fn framed(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn the_print_any_example_decodes_records_of_any_schema_and_reports_hostile_ones_and_goes_on() {
    use apache_avro::types::Value;
    let _stack = require_stack();
    let topic = unique("lib-any");
    ensure_topic(&topic);
    let order_id = register_schema(&format!("{topic}-value"), ORDER);
    let nulls_id = register_schema(
        &format!("{topic}-nulls-value"),
        r#"{"type":"array","items":"null"}"#,
    );
    let schema = apache_avro::Schema::parse_str(ORDER).expect("schema");
    let order = |n: i64| {
        let value = Value::Record(vec![
            (
                "customer".into(),
                Value::Record(vec![("name".into(), Value::String(format!("c{n}")))]),
            ),
            ("status".into(), Value::Enum(1, "PAID".into())),
            (
                "lines".into(),
                Value::Array(vec![Value::Long(n), Value::Long(-n)]),
            ),
            (
                "tags".into(),
                Value::Map([("k".to_string(), Value::String("v".into()))].into()),
            ),
            (
                "note".into(),
                Value::Union(1, Box::new(Value::String(format!("note {n}")))),
            ),
        ]);
        framed(
            order_id,
            &apache_avro::to_avro_datum(&schema, value).expect("encode"),
        )
    };
    // 2^31 nulls in 6 bytes, and an order whose array claims 2^31 longs in 10 bytes.
    let nulls = framed(nulls_id, &[0x80, 0x80, 0x80, 0x80, 0x10, 0x00]);
    let mut claims = vec![0x04, b'c', b'0', 0x02, 0x80, 0x80, 0x80, 0x80, 0x10];
    claims.extend([0x02; 10]);
    let hostile_order = framed(order_id, &claims);
    // All in one partition, in this order: the third order is printed after both errors.
    produce_to_partition(
        &topic,
        0,
        &[
            (None, Some(order(1))),
            (None, Some(nulls)),
            (None, Some(hostile_order)),
            (None, Some(order(2))),
            (None, Some(order(3))),
        ],
    );

    let mut command = Command::new(example("print_any"));
    command.args([
        "--topic",
        &topic,
        "--group",
        &format!("{topic}-printer"),
        "--max",
        "3",
    ]);
    command.envs(daemon_env(&topic));
    let output = run_example(command, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let printed: Vec<&str> = stdout.lines().filter(|l| l.contains(" o=")).collect();
    assert_eq!(printed.len(), 3, "{stdout}");
    for (line, n) in printed.iter().zip(1..) {
        assert!(
            line.contains(&format!("schema={order_id}"))
                && line.contains(&format!(
                    r#"("customer", Record([("name", String("c{n}"))]))"#
                ))
                && line.contains(r#"("status", Enum(1, "PAID"))"#)
                && line.contains(&format!("Array([Long({n}), Long(-{n})])"))
                && line.contains(&format!(r#"Union(1, String("note {n}"))"#)),
            "{line}"
        );
    }
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("undecodable message"))
        .collect();
    assert_eq!(errors.len(), 2, "one line per hostile record: {stderr}");
    assert!(
        errors[0].contains("o=1") && errors[0].contains("MiB decoded"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("o=2") && errors[1].contains("bytes left"),
        "{}",
        errors[1]
    );
    // Again in a new group, resolved to a reader schema without `tags` and with a `channel`
    // that has a default; the array of nulls does not resolve to an `Order`.
    let reader = ORDER
        .replace(
            r#"{"name":"tags","type":{"type":"map","values":"string"}},"#,
            "",
        )
        .replace(
            r#"{"name":"note""#,
            r#"{"name":"channel","type":"string","default":"web"},{"name":"note""#,
        );
    let reader_file = std::env::temp_dir().join(format!("{topic}-reader.avsc"));
    std::fs::write(&reader_file, reader).expect("write the reader schema");
    let mut command = Command::new(example("print_any"));
    command.args([
        "--topic",
        &topic,
        "--group",
        &format!("{topic}-reader"),
        "--max",
        "3",
    ]);
    command.arg("--reader-schema").arg(&reader_file);
    command.envs(daemon_env(&topic));
    let output = run_example(command, Duration::from_secs(120));
    let _ = std::fs::remove_file(&reader_file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let printed: Vec<&str> = stdout.lines().filter(|l| l.contains(" o=")).collect();
    assert_eq!(printed.len(), 3, "{stdout}");
    for line in printed {
        assert!(
            line.contains(r#"("channel", String("web"))"#) && !line.contains("tags"),
            "{line}"
        );
    }
    let errors = stderr
        .lines()
        .filter(|l| l.contains("undecodable message"))
        .count();
    assert_eq!(errors, 2, "{stderr}");
}

#[test]
fn the_orders_example_writes_orders_with_the_library_producer_and_reads_version_2_from_confluents_serializer_as_version_1(
) {
    let _stack = require_stack();
    let topic = unique("lib-orders");
    ensure_topic(&topic);
    let mut produce = Command::new(example("orders"));
    produce.args(["produce", "--topic", &topic, "--count", "3"]);
    produce.envs(daemon_env(&topic));
    let output = run_example(produce, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("sent 3 orders"), "{stdout}");
    // Another team's client writes version 2: a channel added, the note removed, RETURNED.
    produce_with_confluents_serializer(&topic, "order-v2");

    let mut consume = Command::new(example("orders"));
    let group = format!("{topic}-totals");
    consume.args([
        "consume", "--topic", &topic, "--group", &group, "--max", "7",
    ]);
    consume.envs(daemon_env(&topic));
    let output = run_example(consume, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stderr.contains("undecodable"), "{stderr}");
    let mut lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("order ")).collect();
    lines.sort();
    let expected = [
        // Version 1, from the library producer: n % 3 + 1 lines at (n + 1) x 9.99.
        "order 00000000-0000-0000-0000-000000000001: PAID for customer 0, 1 lines, total 9.99, note gift 0",
        "order 00000000-0000-0000-0000-000000000002: PAID for customer 1, 2 lines, total 39.96, note none",
        "order 00000000-0000-0000-0000-000000000003: PAID for customer 2, 3 lines, total 89.91, note none",
        // Version 2, read as version 1: no note (its default), RETURNED as NEW (the default).
        "order 00000000-0000-0000-0000-0000000003e8: NEW for v2 customer 0, 1 lines, total 0.50, note none",
        "order 00000000-0000-0000-0000-0000000003e9: PAID for v2 customer 1, 2 lines, total 3.50, note none",
        "order 00000000-0000-0000-0000-0000000003ea: SHIPPED for v2 customer 2, 3 lines, total 11.00, note none",
        "order 00000000-0000-0000-0000-0000000003eb: NEW for v2 customer 3, 1 lines, total 0.50, note none",
    ];
    assert_eq!(lines.len(), expected.len(), "{stdout}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.starts_with(want), "{line}\nwanted {want}");
    }
}

/// Runs an example until it exits, within `timeout`.
fn run_example(mut command: Command, timeout: Duration) -> std::process::Output {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the example");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > timeout {
            let _ = child.kill();
            panic!("the example did not stop within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("output")
}

/// The name in a `User` record the producer framed: past the magic byte and the schema id, an
/// Avro string (a zig-zag varint length, then its bytes); names here are under 64 bytes, so
/// the length is one byte.
fn user_name(payload: &[u8]) -> String {
    let length = usize::from(payload[5] / 2);
    String::from_utf8(payload[6..6 + length].to_vec()).expect("UTF-8")
}

/// The configuration of the local stack and nothing else.
fn stack_config() -> Config {
    Config::from_vars(&[
        ("KAFKA_BOOTSTRAP_SERVERS".to_string(), bootstrap()),
        ("SCHEMA_REGISTRY_URL".to_string(), registry_url()),
    ])
    .expect("configuration")
}

/// README: `Producer::send(value, None)` writes a null key and spreads such records over the
/// partitions in turn.
#[test]
fn the_library_producer_writes_null_keys_and_spreads_them_over_the_partitions_in_turn() {
    let _stack = require_stack();
    let topic = unique("null-keys");
    create_topic_with(&topic, 3, &[]);
    let config = stack_config();
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    std::thread::scope(|scope| {
        let producer = Producer::start(scope, &shared, &codec, &topic).expect("producer");
        for n in 0..30 {
            let user = User {
                name: format!("user_{n}"),
            };
            producer.send(&user, None).expect("send");
        }
        producer.close();
    });
    let stored = read_topic(&topic);
    assert_eq!(stored.len(), 30);
    for partition in 0..3 {
        let names: Vec<String> = stored
            .iter()
            .filter(|s| s.partition == partition)
            .inspect(|s| assert_eq!(s.key, None, "p={partition} o={}", s.offset))
            .map(|s| user_name(s.payload.as_deref().expect("a value")))
            .collect();
        let expected: Vec<String> = (0..30)
            .filter(|n| n % 3 == partition)
            .map(|n| format!("user_{n}"))
            .collect();
        assert_eq!(names, expected, "partition {partition}");
    }
}

/// README: `&Producer` is `Sync`. Four threads sending at once: every record written once,
/// each thread's records in its order within a partition, and the audit's stamps numbered
/// 0, 1, 2, … in each partition's offset order (a number taken by one thread and sent after
/// another's would read as a fault to every consumer's audit).
#[test]
fn the_library_producer_sends_from_several_threads_at_once_in_order_with_stamps_in_order() {
    let _stack = require_stack();
    let topic = unique("threads-send");
    create_topic_with(&topic, 3, &[]);
    let config = stack_config();
    let shutdown = Shutdown::new();
    let shared = Shared::new(&config, &shutdown).expect("shared");
    let codec = UserCodec::new().expect("codec");
    const THREADS: usize = 4;
    const EACH: usize = 250;
    std::thread::scope(|scope| {
        let producer = Producer::start(scope, &shared, &codec, &topic).expect("producer");
        std::thread::scope(|senders| {
            for thread in 0..THREADS {
                let producer = &producer;
                senders.spawn(move || {
                    for n in 0..EACH {
                        let user = User {
                            name: format!("t{thread}_{n}"),
                        };
                        let key = format!("key-{thread}-{}", n % 7);
                        producer.send(&user, Some(key.as_bytes())).expect("send");
                    }
                });
            }
        });
        producer.close();
    });
    let stored = read_topic(&topic);
    let mut names: Vec<String> = stored
        .iter()
        .map(|s| user_name(s.payload.as_deref().expect("a value")))
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..THREADS)
        .flat_map(|t| (0..EACH).map(move |n| format!("t{t}_{n}")))
        .collect();
    expected.sort();
    assert_eq!(names, expected, "every record once");
    for partition in 0..3 {
        let mut in_partition: Vec<&Stored> =
            stored.iter().filter(|s| s.partition == partition).collect();
        in_partition.sort_by_key(|s| s.offset);
        let numbers: Vec<u64> = in_partition
            .iter()
            .map(|s| {
                let stamp = s.header(kafka_avro_daemon::internals::HEADER_AUDIT);
                u64::from_be_bytes(stamp[18..26].try_into().expect("8 bytes"))
            })
            .collect();
        let in_order: Vec<u64> = (0..numbers.len() as u64).collect();
        assert_eq!(numbers, in_order, "p={partition}: stamps in offset order");
        for thread in 0..THREADS {
            let sent: Vec<usize> = in_partition
                .iter()
                .map(|s| user_name(s.payload.as_deref().expect("a value")))
                .filter_map(|name| {
                    let (t, n) = name.strip_prefix('t')?.split_once('_')?;
                    (t.parse::<usize>().ok()? == thread).then(|| n.parse().ok())?
                })
                .collect();
            assert!(
                sent.windows(2).all(|w| w[0] < w[1]),
                "p={partition}: thread {thread}'s records out of its order: {sent:?}"
            );
        }
    }
}
