//! The generic encoder ([`GenericEncoder`]): what it writes is what apache-avro writes and the
//! generic decoder reads back; a later version is written with when it can read the value.

use apache_avro::types::Value;

use crate::format::error::AvroErrorKind;
use crate::format::generic::GenericCodec;
use crate::format::generic_encoder::GenericEncoder;
use crate::format::value::{ValueDecoder, ValueEncoder};

const POINT: &str = r#"{"type":"record","name":"Point","namespace":"geo","fields":[
  {"name":"x","type":"long"},
  {"name":"tag","type":["null",{"type":"enum","name":"Tag","symbols":["A","B"]}],"default":null}]}"#;

/// A later version: a field with a default added, `x` promoted to a double.
const POINT_V2: &str = r#"{"type":"record","name":"Point","namespace":"geo","fields":[
  {"name":"x","type":"double"},
  {"name":"tag","type":["null",{"type":"enum","name":"Tag","symbols":["A","B","C"]}],"default":null},
  {"name":"label","type":"string","default":"none"}]}"#;

fn point(x: i64, tag: Option<u32>) -> Value {
    let tag = match tag {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(i) => Value::Union(
            1,
            Box::new(Value::Enum(i, ["A", "B"][i as usize].to_string())),
        ),
    };
    Value::Record(vec![("x".into(), Value::Long(x)), ("tag".into(), tag)])
}

#[test]
fn values_are_written_as_apache_avro_writes_them_and_read_back() {
    let encoder = GenericEncoder::new(POINT).expect("schema");
    assert_eq!(encoder.full_name(), "geo.Point");
    assert_eq!(encoder.schema(), POINT);
    let plan = encoder.own_plan();
    assert!(!encoder.fills_defaults(&plan));
    let schema = apache_avro::Schema::parse_str(POINT).expect("schema");
    let codec = GenericCodec::new();
    let admitted = codec.admit(POINT).expect("admitted");
    for value in [point(0, None), point(-7, Some(1)), point(i64::MAX, Some(0))] {
        let mut body = vec![0xAA]; // appended to what is there
        encoder.encode(&plan, &value, &mut body).expect("encodes");
        let expected = apache_avro::to_avro_datum(&schema, value.clone()).expect("apache");
        assert_eq!(body[0], 0xAA);
        assert_eq!(&body[1..], &expected[..]);
        assert_eq!(codec.decode(&admitted, &body[1..]), Ok(value));
    }
}

#[test]
fn a_later_version_that_reads_the_value_is_written_with_its_defaults_filled_in() {
    let encoder = GenericEncoder::new(POINT).expect("schema");
    let plan = encoder.plan_for(POINT_V2).expect("v2 reads Point");
    assert!(encoder.fills_defaults(&plan));
    let mut body = Vec::new();
    encoder
        .encode(&plan, &point(3, Some(1)), &mut body)
        .expect("encodes");
    let v2 = apache_avro::Schema::parse_str(POINT_V2).expect("v2");
    let expected = Value::Record(vec![
        ("x".into(), Value::Double(3.0)),
        (
            "tag".into(),
            Value::Union(1, Box::new(Value::Enum(1, "B".into()))),
        ),
        ("label".into(), Value::String("none".into())),
    ]);
    assert_eq!(
        body,
        apache_avro::to_avro_datum(&v2, expected).expect("apache")
    );
    // Itself as the latest version: nothing filled in.
    assert!(!encoder.fills_defaults(&encoder.plan_for(POINT).expect("itself")));
}

#[test]
fn a_later_version_that_cannot_read_the_value_is_refused_and_so_is_a_value_of_another_schema() {
    let encoder = GenericEncoder::new(POINT).expect("schema");
    let without_default = POINT_V2.replace(r#","default":"none""#, "");
    let error = encoder.plan_for(&without_default).expect_err("no default");
    assert_eq!(error.kind(), AvroErrorKind::Schema, "{error}");
    assert!(error.to_string().contains("no field label"), "{error}");
    let renamed = POINT.replace(r#""name":"Point""#, r#""name":"Place""#);
    assert!(encoder.plan_for(&renamed).is_err());
    assert!(encoder.plan_for("not json").is_err());

    let plan = encoder.own_plan();
    let mut body = Vec::new();
    let wrong = Value::Record(vec![("x".into(), Value::String("1".repeat(10_000)))]);
    let error = encoder.encode(&plan, &wrong, &mut body).expect_err("wrong");
    assert_eq!(error.kind(), AvroErrorKind::Unresolvable);
    assert!(
        error
            .to_string()
            .starts_with("the value cannot be written as a geo.Point"),
        "{error}"
    );
    assert!(
        error.to_string().len() < 600,
        "one bounded line: {}",
        error.to_string().len()
    );
    assert!(body.is_empty(), "nothing written");
    assert!(GenericEncoder::new(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}"#
    )
    .is_err());
}
