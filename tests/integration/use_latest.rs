//! `SCHEMA_REGISTRY_USE_LATEST=true`: the producer writes with the subject's latest version,
//! filling the fields a `User` lacks from their defaults, and never writes to the registry;
//! a latest version a `User` cannot be written with, or none at all, is exit 1 with one line.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::*;
use crate::registry_faults::RegistryProxy;

const USER_SCHEMA: &str = include_str!("../../schemas/user.avsc");

/// `User` with two fields added, both with defaults, one before and one after `name`.
const USER_V2: &str = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"version","type":"int","default":2},{"name":"name","type":"string"},{"name":"source","type":["string","null"],"default":"daemon"}]}"#;

/// What the test expects `User { name }` to be with [`USER_V2`], built by hand: the int 2
/// (zig-zag 4), the name, the union's string branch (index 0) and `daemon`.
fn v2_record(id: u32, name: &str) -> Vec<u8> {
    let framed_name = confluent_user_bytes(id, name);
    let mut out = framed_name[..5].to_vec();
    out.push(4);
    out.extend_from_slice(&framed_name[5..]);
    out.push(0);
    out.push(12);
    out.extend_from_slice(b"daemon");
    out
}

fn use_latest_env(topic: &str, registry: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars = vec![
        ("SCHEMA_REGISTRY_URL", registry),
        ("SCHEMA_REGISTRY_USE_LATEST", "true"),
        ("SCHEMA_REGISTRY_AUTO_REGISTER", "false"),
    ];
    vars.extend_from_slice(extra);
    env_with(topic, &vars)
}

#[test]
fn the_latest_version_with_defaulted_fields_is_produced_with_and_nothing_is_registered() {
    let _cluster = require_stack();
    let topic = unique("use-latest");
    let subject = format!("{topic}-value");
    register_schema(&subject, USER_SCHEMA);
    let v2 = register_schema(&subject, USER_V2);
    let proxy = RegistryProxy::start();
    proxy.read_only.store(true, Ordering::SeqCst);
    let url = registry_url_via(proxy.port);
    let mut daemon = Daemon::start(&use_latest_env(&topic, &url, &[("PRODUCE_COUNT", "3")]));
    daemon.wait_for_names(&["user_0", "user_1", "user_2"], Duration::from_secs(60));
    daemon.stop_cleanly();
    let announced = format!("producing with the latest version under subject {subject}, id {v2}");
    assert!(
        daemon.lines().iter().any(|l| l.contains(&announced)),
        "{}",
        daemon.tail(20)
    );
    let mut written: Vec<Vec<u8>> = read_topic(&topic)
        .into_iter()
        .filter_map(|m| m.payload)
        .collect();
    written.sort();
    let mut expected: Vec<Vec<u8>> = (0..3)
        .map(|n| v2_record(v2, &format!("user_{n}")))
        .collect();
    expected.sort();
    assert_eq!(written, expected, "the defaults are in every written body");
    assert!(proxy.requests.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        proxy.writes.load(Ordering::SeqCst),
        0,
        "a write reached the proxy"
    );
}

#[test]
fn a_latest_version_a_user_cannot_be_written_with_or_none_is_one_line_and_exit_1() {
    let _cluster = require_stack();
    let name_is_int = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"int"}]}"#;
    let no_default = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;
    let registry = registry_url();
    for (schema, expected) in [
        (
            Some(name_is_int),
            "its field `name` is \"int\", not a string",
        ),
        (Some(no_default), "its field `age` has no default"),
        (None, "has no version to produce with"),
    ] {
        let topic = unique("use-latest-refused");
        let subject = format!("{topic}-value");
        let id = schema.map(|schema| register_schema(&subject, schema));
        let (status, lines) = run_to_exit(
            &use_latest_env(&topic, &registry, &[]),
            Duration::from_secs(60),
        );
        let subject_named = format!("subject {subject}");
        let error = assert_exit_1_with_one_error_line(status, &lines, &[expected, &subject_named]);
        if let Some(id) = id {
            assert!(
                error.contains(&format!("(schema id {id}) does not fit")),
                "{error}"
            );
        }
    }
}

#[test]
fn using_the_latest_version_while_registering_is_refused_before_start() {
    let (status, lines) = run_to_exit(
        &env_with(
            &unique("use-latest-config"),
            &[("SCHEMA_REGISTRY_USE_LATEST", "true")],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(status.code(), Some(2), "{lines:#?}");
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains(" ERROR ")).collect();
    assert_eq!(errors.len(), 1, "{lines:#?}");
    assert!(
        errors[0].contains("SCHEMA_REGISTRY_AUTO_REGISTER")
            && errors[0].contains("SCHEMA_REGISTRY_USE_LATEST=true"),
        "{}",
        errors[0]
    );
}
