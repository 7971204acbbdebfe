//! The serde codec ([`SerdeCodec`]): a type of yours written as apache-avro writes its value,
//! read back from its own schema and from other versions of it.

use serde::{Deserialize, Serialize};

use crate::format::error::AvroErrorKind;
use crate::format::generic::GenericCodec;
use crate::format::serde_codec::SerdeCodec;
use crate::format::value::{ValueDecoder, ValueEncoder};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Customer {
    name: String,
    vip: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Status {
    New,
    Paid,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Order {
    id: i64,
    customer: Option<Customer>,
    status: Status,
    skus: Vec<String>,
    placed: i64,
    weight: f64,
}

const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
  {"name":"id","type":"long"},
  {"name":"customer","type":["null",{"type":"record","name":"Customer","fields":[
    {"name":"name","type":"string"},{"name":"vip","type":"boolean"}]}],"default":null},
  {"name":"status","type":{"type":"enum","name":"Status","symbols":["New","Paid"],"default":"New"},"default":"New"},
  {"name":"skus","type":{"type":"array","items":"string"}},
  {"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"weight","type":"double"}]}"#;

fn orders() -> Vec<Order> {
    vec![
        Order {
            id: 1,
            customer: Some(Customer {
                name: "ada".into(),
                vip: true,
            }),
            status: Status::Paid,
            skus: vec!["a".into(), "b".into()],
            placed: 1_700_000_000_000,
            weight: 1.5,
        },
        Order {
            id: -2,
            customer: None,
            status: Status::New,
            skus: vec![],
            placed: 0,
            weight: -0.25,
        },
    ]
}

#[test]
fn a_type_of_yours_is_written_as_apache_avro_writes_its_value_and_read_back() {
    let codec = SerdeCodec::<Order>::new(ORDER).expect("schema");
    assert_eq!(ValueEncoder::full_name(&codec), "shop.Order");
    let plan = codec.own_plan();
    let admitted = codec.admit(ORDER).expect("admitted");
    let schema = apache_avro::Schema::parse_str(ORDER).expect("schema");
    for order in orders() {
        let mut body = Vec::new();
        codec.encode(&plan, &order, &mut body).expect("encodes");
        let generic = GenericCodec::new();
        let value = generic
            .decode(&generic.admit(ORDER).expect("admit"), &body)
            .expect("generic decode");
        assert_eq!(
            apache_avro::to_avro_datum(&schema, value).expect("apache"),
            body,
            "the bytes apache-avro writes for the same value"
        );
        assert_eq!(codec.decode(&admitted, &body), Ok(order));
    }
}

#[test]
fn records_of_an_older_version_are_read_into_the_type_with_its_defaults() {
    // Version 1: no customer, no status (both have defaults in the type's schema), an int id.
    let v1 = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
      {"name":"id","type":"int"},
      {"name":"skus","type":{"type":"array","items":"string"}},
      {"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},
      {"name":"weight","type":"float"}]}"#;
    let body = apache_avro::to_avro_datum(
        &apache_avro::Schema::parse_str(v1).expect("v1"),
        apache_avro::types::Value::Record(vec![
            ("id".into(), apache_avro::types::Value::Int(7)),
            (
                "skus".into(),
                apache_avro::types::Value::Array(vec![apache_avro::types::Value::String(
                    "x".into(),
                )]),
            ),
            (
                "placed".into(),
                apache_avro::types::Value::TimestampMillis(5),
            ),
            ("weight".into(), apache_avro::types::Value::Float(2.5)),
        ]),
    )
    .expect("v1 body");
    let codec = SerdeCodec::<Order>::new(ORDER).expect("schema");
    let plan = codec.admit(v1).expect("v1 resolves to the type's schema");
    assert_eq!(
        codec.decode(&plan, &body),
        Ok(Order {
            id: 7,
            customer: None,
            status: Status::New,
            skus: vec!["x".into()],
            placed: 5,
            weight: 2.5,
        })
    );
}

#[test]
fn a_type_that_does_not_fit_its_schema_is_an_error_both_ways() {
    #[derive(Serialize, Deserialize, Debug)]
    struct Wrong {
        id: String,
    }
    let schema = r#"{"type":"record","name":"Wrong","fields":[{"name":"id","type":"long"}]}"#;
    let codec = SerdeCodec::<Wrong>::new(schema).expect("schema");
    let mut body = Vec::new();
    let error = codec
        .encode(&codec.own_plan(), &Wrong { id: "x".into() }, &mut body)
        .expect_err("a string for a long");
    assert_eq!(error.kind(), AvroErrorKind::Unresolvable, "{error}");
    assert!(body.is_empty());
    let plan = codec.admit(schema).expect("admitted");
    let error = codec
        .decode(&plan, &[0x54])
        .expect_err("a long for a String");
    assert_eq!(error.kind(), AvroErrorKind::Unresolvable, "{error}");
    assert!(SerdeCodec::<Wrong>::new("{").is_err());
}
