//! The resolving decoder and admission against apache-avro: every schema and datum that is not
//! hostile becomes the `User` apache-avro's resolution gives (apache-avro is the reference
//! here, and only in tests), and schemas that cannot become `User` are refused at admission.
//! `bounds.rs` has the hostile cases.

use std::collections::HashMap;

use apache_avro::types::Value;
use apache_avro::Schema;

use crate::format::avro::UserCodec;
use crate::format::error::{AvroError, AvroErrorKind};
use crate::format::user::{User, USER_SCHEMA_JSON};
use crate::format::varint::write_long;

/// `User` holding another `User`: the schema the issue's attack registers.
pub(super) const RECURSIVE_USER: &str = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[
    {"name":"name","type":"string"},
    {"name":"next","type":["null","User"],"default":null}]}"#;

/// An evolution of `User` with a field of nearly every kind before and after `name`.
const RICH_USER: &str = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[
    {"name":"id","type":"long"},
    {"name":"flag","type":"boolean"},
    {"name":"score","type":"double"},
    {"name":"ratio","type":"float"},
    {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B","C"]}},
    {"name":"tags","type":{"type":"array","items":"string"}},
    {"name":"attrs","type":{"type":"map","values":["null","int"]}},
    {"name":"hash","type":{"type":"fixed","name":"Hash","size":4}},
    {"name":"home","type":{"type":"record","name":"Address","fields":[
        {"name":"street","type":"string"},{"name":"zip","type":"int"}]}},
    {"name":"name","type":"string"},
    {"name":"work","type":["null","Address"],"default":null},
    {"name":"nothing","type":{"type":"record","name":"Nothing","fields":[]}},
    {"name":"zero","type":{"type":"fixed","name":"Zero","size":0}},
    {"name":"nulls","type":{"type":"array","items":"null"}},
    {"name":"when","type":{"type":"long","logicalType":"timestamp-millis"}},
    {"name":"day","type":{"type":"int","logicalType":"date"}},
    {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
    {"name":"ref","type":{"type":"string","logicalType":"uuid"}},
    {"name":"grid","type":{"type":"array","items":{"type":"map","values":"Kind"}}},
    {"name":"blob","type":"bytes","default":""}]}"#;

pub(super) fn codec() -> UserCodec {
    UserCodec::new().expect("user.avsc parses")
}

pub(super) fn ours(writer: &str, datum: &[u8]) -> Result<User, AvroError> {
    let codec = codec();
    let writer = codec.writer_schema(writer)?;
    codec.decode_generic(&writer, datum)
}

/// What apache-avro's resolution into `User` gives, with trailing bytes an error as ours.
pub(super) fn apache(writer: &str, datum: &[u8]) -> Result<User, String> {
    let writer = Schema::parse_str(writer).map_err(|e| e.to_string())?;
    let reader = Schema::parse_str(USER_SCHEMA_JSON).expect("reader schema");
    let mut rest = datum;
    let value = apache_avro::from_avro_datum(&writer, &mut rest, Some(&reader))
        .map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes left over", rest.len()));
    }
    apache_avro::from_value::<User>(&value).map_err(|e| e.to_string())
}

pub(super) fn encode(writer: &str, value: Value) -> Vec<u8> {
    let schema = Schema::parse_str(writer).expect("writer schema parses");
    apache_avro::to_avro_datum(&schema, value).expect("value matches the schema")
}

/// Both decoders give the same `User`, or both fail; returns ours.
pub(super) fn assert_same(writer: &str, datum: &[u8]) -> Result<User, AvroError> {
    let (ours, theirs) = (ours(writer, datum), apache(writer, datum));
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{writer}\n{datum:02x?}"),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "decoders differ on {writer}\n{datum:02x?}:\nours {ours:?}\napache-avro {theirs:?}"
        ),
    }
    ours
}

fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

fn rich(name: &str, n: usize) -> Value {
    let address = |street: &str| record(vec![("street", s(street)), ("zip", Value::Int(1234))]);
    let attrs: HashMap<String, Value> = (0..n)
        .map(|i| {
            let v = if i % 2 == 0 {
                Value::Union(1, Box::new(Value::Int(i as i32)))
            } else {
                Value::Union(0, Box::new(Value::Null))
            };
            (format!("k{i}"), v)
        })
        .collect();
    let kinds: HashMap<String, Value> = [("x".to_string(), Value::Enum(2, "C".into()))].into();
    record(vec![
        ("id", Value::Long(-(n as i64) * 1_000_003)),
        ("flag", Value::Boolean(n % 2 == 1)),
        ("score", Value::Double(0.5 * n as f64)),
        ("ratio", Value::Float(-1.25)),
        ("kind", Value::Enum(1, "B".into())),
        (
            "tags",
            Value::Array((0..n).map(|i| s(&format!("t{i}"))).collect()),
        ),
        ("attrs", Value::Map(attrs)),
        ("hash", Value::Fixed(4, vec![1, 2, 3, n as u8])),
        ("home", address("Main St")),
        ("name", s(name)),
        (
            "work",
            if n.is_multiple_of(2) {
                Value::Union(0, Box::new(Value::Null))
            } else {
                Value::Union(1, Box::new(address("Dock Rd")))
            },
        ),
        ("nothing", record(vec![])),
        ("zero", Value::Fixed(0, vec![])),
        ("nulls", Value::Array(vec![Value::Null; n])),
        ("when", Value::TimestampMillis(1_700_000_000_000 + n as i64)),
        ("day", Value::Date(19_000)),
        (
            "amount",
            Value::Decimal(apache_avro::Decimal::from(vec![0x01, n as u8])),
        ),
        (
            "ref",
            Value::Uuid(apache_avro::Uuid::from_u128(n as u128 * 0x1234_5678)),
        ),
        ("grid", Value::Array(vec![Value::Map(kinds); n % 3])),
        ("blob", Value::Bytes(vec![0xff; n])),
    ])
}

#[test]
fn evolutions_with_every_kind_of_field_resolve_as_apache_avro_resolves_them() {
    for n in 0..12 {
        let name = format!("user_{n}");
        let datum = encode(RICH_USER, rich(&name, n));
        assert_eq!(assert_same(RICH_USER, &datum), Ok(User { name }));
    }
}

#[test]
fn name_may_be_bytes_fixed_or_a_union_branch_readable_as_a_string() {
    let with_name = |name_type: &str| {
        format!(
            r#"{{"type":"record","name":"User","fields":[{{"name":"n0","type":"int"}},{{"name":"name","type":{name_type}}}]}}"#
        )
    };
    let cases: Vec<(String, Value, Option<&str>)> = vec![
        (
            with_name(r#""bytes""#),
            Value::Bytes(b"user_1".to_vec()),
            Some("user_1"),
        ),
        (
            with_name(r#""bytes""#),
            Value::Bytes(vec![0xff, 0xfe]),
            None,
        ),
        (
            with_name(r#"{"type":"fixed","name":"F","size":6}"#),
            Value::Fixed(6, b"user_2".to_vec()),
            Some("user_2"),
        ),
        (
            with_name(r#"["null","string"]"#),
            Value::Union(1, Box::new(s("user_3"))),
            Some("user_3"),
        ),
        (
            with_name(r#"["null","string"]"#),
            Value::Union(0, Box::new(Value::Null)),
            None,
        ),
        (
            with_name(r#"["int","bytes","string"]"#),
            Value::Union(1, Box::new(Value::Bytes(b"user_4".to_vec()))),
            Some("user_4"),
        ),
        (
            with_name(r#"["int","bytes","string"]"#),
            Value::Union(0, Box::new(Value::Int(4))),
            None,
        ),
    ];
    for (schema, name, expected) in cases {
        let datum = encode(
            &schema,
            record(vec![("n0", Value::Int(-7)), ("name", name)]),
        );
        let result = assert_same(&schema, &datum);
        assert_eq!(
            result.as_ref().ok().map(|u| u.name.as_str()),
            expected,
            "{schema}"
        );
        if let Err(e) = result {
            assert!(
                matches!(
                    e.kind(),
                    AvroErrorKind::Malformed | AvroErrorKind::Unresolvable
                ),
                "{e}"
            );
        }
    }
}

#[test]
fn top_level_union_and_other_record_names_resolve_as_apache_avro_resolves_them() {
    let union = r#"["null",{"type":"record","name":"User","namespace":"example.avro","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}]"#;
    let user = record(vec![("name", s("user_5")), ("age", Value::Int(30))]);
    let datum = encode(union, Value::Union(1, Box::new(user)));
    assert_eq!(assert_same(union, &datum), Ok(User::numbered(5)));
    let null = encode(union, Value::Union(0, Box::new(Value::Null)));
    assert_eq!(
        assert_same(union, &null).map_err(|e| e.kind()),
        Err(AvroErrorKind::Unresolvable)
    );

    let other_name = r#"{"type":"record","name":"Person","namespace":"other","fields":[{"name":"name","type":"string"}]}"#;
    let datum = encode(other_name, record(vec![("name", s("user_6"))]));
    assert_eq!(assert_same(other_name, &datum), Ok(User::numbered(6)));
}

/// `User` nested `depth` times through `next` (`name` = "" at every level).
pub(super) fn nested_users(depth: usize) -> Vec<u8> {
    let mut datum = [0x00, 0x02].repeat(depth);
    datum.extend([0x00, 0x00]);
    datum
}

#[test]
fn recursive_schema_with_shallow_data_resolves_as_apache_avro_resolves_it() {
    for depth in 0..20 {
        let datum = nested_users(depth);
        assert_eq!(
            assert_same(RECURSIVE_USER, &datum),
            Ok(User {
                name: String::new()
            })
        );
    }
}

#[test]
fn blocks_with_negative_counts_and_sizes_resolve_as_apache_avro_resolves_them() {
    let schema = r#"{"type":"record","name":"User","fields":[{"name":"xs","type":{"type":"array","items":"int"}},{"name":"m","type":{"type":"map","values":"long"}},{"name":"name","type":"string"}]}"#;
    let mut datum = Vec::new();
    // xs: a block of -2 items (4 bytes), a block of 1, then the end.
    for n in [-2, 4, 2, 4, 1, 6, 0] {
        write_long(n, &mut datum);
    }
    // m: a block of -1 entry with its size, then the end.
    for n in [-1, 3] {
        write_long(n, &mut datum);
    }
    datum.extend([0x02, b'k', 0x08, 0x00]);
    datum.extend([0x06, b'a', b'b', b'c']);
    assert_eq!(assert_same(schema, &datum), Ok(User { name: "abc".into() }));
}

#[test]
fn trailing_bytes_and_truncations_are_errors() {
    let datum = encode(RICH_USER, rich("user_7", 5));
    for cut in 0..datum.len() {
        assert!(
            ours(RICH_USER, &datum[..cut]).is_err(),
            "accepted a datum cut at {cut}"
        );
    }
    let mut longer = datum.clone();
    longer.push(0);
    let error = ours(RICH_USER, &longer).expect_err("trailing byte");
    assert_eq!(error.kind(), AvroErrorKind::Malformed);
    assert!(apache(RICH_USER, &longer).is_err());
}

#[test]
fn schemas_that_cannot_become_user_are_refused_at_admission() {
    let codec = codec();
    let refused = [
        (r#""string""#, "not a record"),
        (r#"{"type":"array","items":"string"}"#, "not a record"),
        (
            r#"{"type":"enum","name":"E","symbols":["A"]}"#,
            "not a record",
        ),
        (r#"["null","string"]"#, "no branch"),
        (
            r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#,
            "no field `name`",
        ),
        (
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"int"}]}"#,
            "int",
        ),
        (
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":{"type":"string","logicalType":"uuid"}}]}"#,
            "uuid",
        ),
        (
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":{"type":"bytes","logicalType":"decimal","precision":4}}]}"#,
            "decimal",
        ),
        (
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":{"type":"array","items":"string"}}]}"#,
            "array",
        ),
        (
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":["null","int"]}]}"#,
            "no string",
        ),
        (
            r#"[{"type":"record","name":"A","fields":[]},"int"]"#,
            "no field `name`",
        ),
    ];
    for (schema, reason) in refused {
        let error = codec.writer_schema(schema).expect_err(schema);
        assert_eq!(error.kind(), AvroErrorKind::Schema);
        assert!(error.to_string().contains(reason), "{schema}: {error}");
    }
    // apache-avro, which admitted them, could not resolve their records either.
    let int_name = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"int"}]}"#;
    assert!(apache(
        int_name,
        &encode(int_name, record(vec![("name", Value::Int(1))]))
    )
    .is_err());
    let uuid_name = refused[6].0;
    let datum = encode(
        uuid_name,
        record(vec![("name", Value::Uuid(apache_avro::Uuid::nil()))]),
    );
    assert!(apache(uuid_name, &datum).is_err());
}

#[test]
fn a_map_is_never_read_as_a_record() {
    // apache-avro turns a map with a "name" key into a `User`; Avro's resolution rules read a
    // record only from a record, and so do we.
    let map = r#"{"type":"map","values":"string"}"#;
    let datum = encode(map, Value::Map([("name".to_string(), s("user_8"))].into()));
    assert_eq!(apache(map, &datum), Ok(User::numbered(8)));
    let error = ours(map, &datum).expect_err("not a record");
    assert_eq!(error.kind(), AvroErrorKind::Schema);
}
