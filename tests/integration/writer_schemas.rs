//! Writer schemas the daemon fetches from the registry beyond a plain Avro text: one of
//! another type (JSON Schema), refused once per group and never fetched again, and one that
//! uses a type defined under another subject (Confluent schema `references`, which Apicurio's
//! ccompat API stores and serves), resolved so its records are decoded.

use std::time::Duration;

use crate::common::*;

const USER_SCHEMA: &str = include_str!("../../schemas/user.avsc");

/// Registers `schema` of type `schema_type` with `references` under `subject`; its id.
fn register(subject: &str, schema: &str, schema_type: &str, references: serde_json::Value) -> u32 {
    register_schema_request(
        subject,
        serde_json::json!({
            "schema": schema,
            "schemaType": schema_type,
            "references": references,
        }),
    )
}

/// The path of the registry URL (`/apis/ccompat/v7` on the stack).
fn registry_path() -> String {
    let url = reqwest::Url::parse(&registry_url()).expect("registry URL");
    url.path().trim_end_matches('/').to_string()
}

#[test]
fn a_json_schema_id_is_fetched_at_most_once_per_group_and_each_record_is_skipped() {
    let _cluster = require_stack();
    let topic = unique("json-schema");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    let json_schema = r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"name":{"type":"string"}}}"#;
    let json_id = register(
        &format!("{topic}-json"),
        json_schema,
        "JSON",
        serde_json::json!([]),
    );
    ensure_topic(&topic);
    const RECORDS: usize = 500;
    let mut records: Vec<(Option<&str>, Option<Vec<u8>>)> = (0..RECORDS)
        .map(|_| (Some("k"), Some(confluent_user_bytes(json_id, "json"))))
        .collect();
    records.push((Some("k"), Some(confluent_user_bytes(id, "after_json"))));
    produce_to_partition(&topic, 0, &records);

    let proxy = TcpProxy::start_recording(&registry_host_port());
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("PRODUCE_COUNT", "1"),
            ("SCHEMA_REGISTRY_URL", &registry_url_via(proxy.port)),
        ],
    ));
    daemon.wait_for_names(&["after_json"], Duration::from_secs(120));
    daemon.stop_cleanly();
    let lines = daemon.lines();
    for group in [Group::Single, Group::Batch] {
        let warnings = undecodable_lines(&lines, group);
        assert_eq!(warnings.len(), RECORDS, "{group:?}: one warning per record");
        assert!(
            warnings.iter().all(|w| w.contains(&format!(
                "writer schema {json_id}: schema {json_id} is of type JSON, not AVRO"
            ))),
            "{}",
            warnings[0]
        );
    }
    let gets = proxy.requests_for(&format!("GET {}/schemas/ids/{json_id}", registry_path()));
    println!("writer_schemas: {RECORDS} records naming JSON schema {json_id}: {gets} registry GETs of it");
    assert!(
        (1..=2).contains(&gets),
        "{gets} GETs of schema {json_id}: at most one per group"
    );
}

/// An Avro string: zig-zag length, then the bytes.
fn avro_string(text: &str) -> Vec<u8> {
    let mut out = confluent_user_bytes(0, text);
    out.drain(..5);
    out
}

#[test]
fn a_user_whose_writer_schema_references_another_subject_s_type_is_decoded() {
    let _cluster = require_stack();
    let topic = unique("references");
    let id = register_schema(&format!("{topic}-value"), USER_SCHEMA);
    // The referenced type, in its own namespace, with an enum nested in it.
    let address = r#"{"type":"record","name":"Address","namespace":"geo.refs","fields":[{"name":"city","type":"string"},{"name":"country","type":{"type":"enum","name":"Country","symbols":["DE","FR"]}}]}"#;
    let address_subject = format!("{topic}-address");
    register(&address_subject, address, "AVRO", serde_json::json!([]));
    let writer = r#"{"type":"record","name":"User","namespace":"example.avro","fields":[{"name":"home","type":"geo.refs.Address"},{"name":"born","type":"geo.refs.Country"},{"name":"name","type":"string"}]}"#;
    let writer_id = register(
        &format!("{topic}-writer"),
        writer,
        "AVRO",
        serde_json::json!([{ "name": "geo.refs.Address", "subject": address_subject, "version": 1 }]),
    );
    let served = registry_get(&format!("/schemas/ids/{writer_id}"));
    assert_eq!(
        served["references"][0]["subject"], address_subject,
        "the registry serves the references: {served}"
    );
    // home = {city: "Berlin", country: FR (1)}, born = DE (0), name.
    let mut value = confluent_user_bytes(writer_id, "");
    value.pop();
    value.extend(avro_string("Berlin"));
    value.extend([0x02, 0x00]);
    value.extend(avro_string("referenced_1"));
    ensure_topic(&topic);
    produce_to_partition(
        &topic,
        0,
        &[
            (None, Some(value)),
            (None, Some(confluent_user_bytes(id, "after_referenced"))),
        ],
    );
    let mut daemon = Daemon::start(&env_with(&topic, &[("PRODUCE_COUNT", "1")]));
    daemon.wait_for_names(
        &["referenced_1", "after_referenced"],
        Duration::from_secs(90),
    );
    daemon.stop_cleanly();
    let lines = daemon.lines();
    for group in [Group::Single, Group::Batch] {
        assert_eq!(
            undecodable_lines(&lines, group),
            Vec::<String>::new(),
            "{group:?}"
        );
    }
}
