//! The generic decoder ([`GenericCodec`]): what apache-avro decodes, it gives the same; what would crash apache-avro or make it allocate what the bytes do not pay for is an
//! ordinary error.

use std::time::{Duration, Instant};

use apache_avro::schema::Schema;
use apache_avro::types::Value;

use super::resolution::{nested_users, RECURSIVE_USER};
use crate::format::error::AvroErrorKind;
use crate::format::generic::GenericCodec;
use crate::format::nodes::VALUE_BYTES;
use crate::format::resolve::{MAX_GENERIC_BYTES, MAX_GENERIC_DEPTH};
use crate::format::value::ValueDecoder;
use crate::format::varint::write_long;
use crate::format::AvroError;

/// An order: a nested record, an enum, an array, a map, an optional field, a decimal, a
/// timestamp, and the other logical types.
pub(crate) const ORDER_V1: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
  {"name":"id","type":{"type":"string","logicalType":"uuid"}},
  {"name":"customer","type":{"type":"record","name":"Customer","fields":[
    {"name":"name","type":"string"},{"name":"vip","type":"boolean"}]}},
  {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"],"default":"NEW"}},
  {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
    {"name":"sku","type":"string"},{"name":"qty","type":"int"},
    {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}]}}},
  {"name":"tags","type":{"type":"map","values":"string"}},
  {"name":"note","type":["null","string"],"default":null},
  {"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"placed_us","type":{"type":"long","logicalType":"timestamp-micros"}},
  {"name":"local","type":{"type":"long","logicalType":"local-timestamp-millis"}},
  {"name":"day","type":{"type":"int","logicalType":"date"}},
  {"name":"at","type":{"type":"int","logicalType":"time-millis"}},
  {"name":"at_us","type":{"type":"long","logicalType":"time-micros"}},
  {"name":"total","type":{"type":"fixed","name":"Money","size":8}},
  {"name":"weight","type":"float"},{"name":"ratio","type":"double"},{"name":"count","type":"long"},
  {"name":"blob","type":"bytes","default":"\u00ff"},
  {"name":"wait","type":{"type":"fixed","name":"Wait","size":12,"logicalType":"duration"}}
]}"#;

/// ORDER_V1 evolved: `channel` added with a default, `blob` (which has a default) removed,
/// `REFUNDED` added to the enum, `note` now a union of string and null (each way compatible;
/// promotions, one way only, are in `resolution_gives_what_apache_avro_gives_…`).
const ORDER_V2: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
  {"name":"id","type":{"type":"string","logicalType":"uuid"}},
  {"name":"customer","type":{"type":"record","name":"Customer","fields":[
    {"name":"name","type":"string"},{"name":"vip","type":"boolean"}]}},
  {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED","REFUNDED"],"default":"NEW"}},
  {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
    {"name":"sku","type":"string"},{"name":"qty","type":"int"},
    {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}]}}},
  {"name":"tags","type":{"type":"map","values":"string"}},
  {"name":"note","type":["string","null"],"default":"none"},
  {"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"placed_us","type":{"type":"long","logicalType":"timestamp-micros"}},
  {"name":"local","type":{"type":"long","logicalType":"local-timestamp-millis"}},
  {"name":"day","type":{"type":"int","logicalType":"date"}},
  {"name":"at","type":{"type":"int","logicalType":"time-millis"}},
  {"name":"at_us","type":{"type":"long","logicalType":"time-micros"}},
  {"name":"total","type":{"type":"fixed","name":"Money","size":8}},
  {"name":"weight","type":"float"},{"name":"ratio","type":"double"},{"name":"count","type":"long"},
  {"name":"wait","type":{"type":"fixed","name":"Wait","size":12,"logicalType":"duration"}},
  {"name":"channel","type":"string","default":"web"}
]}"#;

/// An ORDER_V1 value: `status` and `note` as given.
fn order(status: u32, note: Option<&str>) -> Value {
    let symbol = ["NEW", "PAID", "SHIPPED"][status as usize];
    let line = |sku: &str, qty: i32, cents: i64| {
        Value::Record(vec![
            ("sku".into(), Value::String(sku.into())),
            ("qty".into(), Value::Int(qty)),
            (
                "price".into(),
                Value::Decimal(apache_avro::Decimal::from(cents.to_be_bytes().to_vec())),
            ),
        ])
    };
    Value::Record(vec![
        (
            "id".into(),
            Value::Uuid(uuid::Uuid::from_u128(
                0x1234_5678_9abc_def0_1122_3344_5566_7788,
            )),
        ),
        (
            "customer".into(),
            Value::Record(vec![
                ("name".into(), Value::String("Zoë".into())),
                ("vip".into(), Value::Boolean(true)),
            ]),
        ),
        ("status".into(), Value::Enum(status, symbol.into())),
        (
            "lines".into(),
            Value::Array(vec![line("a-1", 2, 1999), line("b-2", -1, 5)]),
        ),
        (
            "tags".into(),
            Value::Map(
                [("gift".to_string(), Value::String("yes".into()))]
                    .into_iter()
                    .collect(),
            ),
        ),
        (
            "note".into(),
            match note {
                None => Value::Union(0, Box::new(Value::Null)),
                Some(text) => Value::Union(1, Box::new(Value::String(text.into()))),
            },
        ),
        ("placed".into(), Value::TimestampMillis(1_700_000_000_123)),
        ("placed_us".into(), Value::TimestampMicros(-5)),
        ("local".into(), Value::LocalTimestampMillis(42)),
        ("day".into(), Value::Date(19_000)),
        ("at".into(), Value::TimeMillis(3_600_000)),
        ("at_us".into(), Value::TimeMicros(1)),
        (
            "total".into(),
            Value::Fixed(8, vec![0, 1, 2, 3, 4, 5, 6, 255]),
        ),
        ("weight".into(), Value::Float(f32::NAN)),
        ("ratio".into(), Value::Double(f64::NEG_INFINITY)),
        ("count".into(), Value::Long(i64::MIN)),
        ("blob".into(), Value::Bytes(vec![0, 159, 146, 150])),
        (
            "wait".into(),
            Value::Duration(apache_avro::Duration::new(
                apache_avro::Months::new(1),
                apache_avro::Days::new(2),
                apache_avro::Millis::new(3),
            )),
        ),
    ])
}

fn schema(text: &str) -> Schema {
    Schema::parse_str(text).expect("a schema")
}

fn encode(writer: &str, value: Value) -> Vec<u8> {
    apache_avro::to_avro_datum(&schema(writer), value).expect("encodes")
}

fn ours(writer: &str, datum: &[u8]) -> Result<Value, AvroError> {
    let codec = GenericCodec::new();
    let plan = codec.admit(writer)?;
    codec.decode(&plan, datum)
}

fn ours_as(writer: &str, reader: &str, datum: &[u8]) -> Result<Value, AvroError> {
    let codec = GenericCodec::with_reader_schema(reader)?;
    let plan = codec.admit(writer)?;
    codec.decode(&plan, datum)
}

fn apache_as(writer: &str, reader: &str, datum: &[u8]) -> Option<Value> {
    apache_avro::from_avro_datum(&schema(writer), &mut &datum[..], Some(&schema(reader))).ok()
}

/// The `name`d field of a record value.
fn field<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    let Value::Record(fields) = value else {
        return None;
    };
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn apache(writer: &str, datum: &[u8]) -> Option<Value> {
    apache_avro::from_avro_datum(&schema(writer), &mut &datum[..], None).ok()
}

/// Compares values by their debug text: NaN is not equal to itself.
fn same(a: &Value, b: &Value) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn every_kind_of_value_decodes_as_apache_avro_decodes_it() {
    for (status, note) in [(0, None), (2, Some("leave at the door"))] {
        let datum = encode(ORDER_V1, order(status, note));
        let decoded = ours(ORDER_V1, &datum).expect("decodes");
        let reference = apache(ORDER_V1, &datum).expect("apache-avro decodes");
        assert!(same(&decoded, &reference), "{decoded:?}\n{reference:?}");
    }
}

/// A datum of `longs` (zigzag varints), then `tail`.
fn datum(longs: &[i64], tail: &[u8]) -> Vec<u8> {
    let mut datum = Vec::new();
    for &n in longs {
        write_long(n, &mut datum);
    }
    datum.extend_from_slice(tail);
    datum
}

#[test]
fn an_evolved_schema_is_read_by_the_old_reader_and_the_old_by_the_new() {
    // v1 read as v2: `channel` from its default, `blob` dropped, `note` into the other union.
    let datum = encode(ORDER_V1, order(2, Some("hi")));
    let as_v2 = ours_as(ORDER_V1, ORDER_V2, &datum).expect("resolves");
    assert_eq!(field(&as_v2, "channel"), Some(&Value::String("web".into())));
    assert_eq!(field(&as_v2, "blob"), None);
    assert_eq!(
        field(&as_v2, "status"),
        Some(&Value::Enum(2, "SHIPPED".into()))
    );
    assert_eq!(
        field(&as_v2, "note"),
        Some(&Value::Union(0, Box::new(Value::String("hi".into()))))
    );
    let customer = field(&as_v2, "customer").expect("customer");
    assert_eq!(field(customer, "name"), Some(&Value::String("Zoë".into())));
    let Some(Value::Array(lines)) = field(&as_v2, "lines") else {
        panic!("{as_v2:?}")
    };
    assert_eq!(field(&lines[0], "qty"), Some(&Value::Int(2)));
    assert!(matches!(field(&as_v2, "weight"), Some(Value::Float(x)) if x.is_nan()));
    assert_eq!(
        field(&as_v2, "placed"),
        Some(&Value::TimestampMillis(1_700_000_000_123))
    );

    // v2 read as v1: a symbol v1 lacks becomes v1's default; `blob` from its default.
    let Value::Record(mut v2) = as_v2 else {
        unreachable!("a record")
    };
    for (name, value) in &mut v2 {
        if name == "status" {
            *value = Value::Enum(3, "REFUNDED".into());
        }
    }
    let datum = encode(ORDER_V2, Value::Record(v2));
    let as_v1 = ours_as(ORDER_V2, ORDER_V1, &datum).expect("resolves");
    assert_eq!(field(&as_v1, "status"), Some(&Value::Enum(0, "NEW".into())));
    assert_eq!(field(&as_v1, "blob"), Some(&Value::Bytes(vec![0xff])));
    assert_eq!(
        field(&as_v1, "customer").and_then(|c| field(c, "vip")),
        Some(&Value::Boolean(true))
    );
}

#[test]
fn resolution_gives_what_apache_avro_gives_where_it_is_bounded() {
    // Pairs without aliases and without records nested through unions, where apache-avro's
    // resolution is correct and quick: the same values.
    let pairs = [
        (r#""int""#, r#""long""#, Value::Int(-7)),
        (r#""int""#, r#""double""#, Value::Int(3)),
        (r#""long""#, r#""float""#, Value::Long(1 << 40)),
        (r#""float""#, r#""double""#, Value::Float(1.5)),
        (r#""string""#, r#""bytes""#, Value::String("é".into())),
        (r#""bytes""#, r#""string""#, Value::Bytes(b"ok".to_vec())),
        (
            r#"["null","int"]"#,
            r#"["null","long"]"#,
            Value::Union(1, Box::new(Value::Int(5))),
        ),
        (r#""int""#, r#"["null","long"]"#, Value::Int(5)),
        (
            r#"{"type":"array","items":"int"}"#,
            r#"{"type":"array","items":"double"}"#,
            Value::Array(vec![Value::Int(1), Value::Int(2)]),
        ),
        (
            r#"{"type":"map","values":"int"}"#,
            r#"{"type":"map","values":"long"}"#,
            Value::Map([("a".to_string(), Value::Int(1))].into()),
        ),
        (
            r#""long""#,
            r#"{"type":"long","logicalType":"timestamp-micros"}"#,
            Value::Long(9),
        ),
        (
            r#"{"type":"int","logicalType":"date"}"#,
            r#"{"type":"int","logicalType":"date"}"#,
            Value::Date(3),
        ),
        (
            r#"{"type":"enum","name":"E","symbols":["A","B"]}"#,
            r#"{"type":"enum","name":"E","symbols":["B","A","C"]}"#,
            Value::Enum(1, "B".into()),
        ),
        (ORDER_V1, ORDER_V1, order(1, Some("x"))),
    ];
    for (writer, reader, value) in pairs {
        let datum = encode(writer, value);
        let decoded = ours_as(writer, reader, &datum).expect(reader);
        let reference = apache_as(writer, reader, &datum)
            .unwrap_or_else(|| panic!("apache-avro: {writer} as {reader}"));
        assert!(
            same(&decoded, &reference),
            "{writer} as {reader}:\n{decoded:?}\n{reference:?}"
        );
    }
}

#[test]
fn logical_types_resolve_by_their_underlying_types_and_aliases_name_writer_fields() {
    // apache-avro refuses a timestamp written and read as a plain long; the specification
    // resolves logical types by their underlying types.
    let (writer, reader) = (
        r#"{"type":"long","logicalType":"timestamp-millis"}"#,
        r#""long""#,
    );
    let datum = encode(writer, Value::TimestampMillis(9));
    assert_eq!(ours_as(writer, reader, &datum), Ok(Value::Long(9)));
    let writer = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
    let reader = r#"{"type":"record","name":"Q","aliases":["R"],"fields":[{"name":"b","aliases":["a"],"type":"long"}]}"#;
    let datum = encode(writer, Value::Record(vec![("a".into(), Value::Int(4))]));
    assert_eq!(
        ours_as(writer, reader, &datum),
        Ok(Value::Record(vec![("b".into(), Value::Long(4))]))
    );
}

#[test]
fn pairs_that_cannot_resolve_are_refused_when_admitted_and_data_that_does_not_per_record() {
    // No datum of the writer can be read as the reader: refused once, when admitted.
    let refused = [
        (r#""long""#, r#""int""#, "a long cannot be read as a int"),
        (
            r#""string""#,
            r#""int""#,
            "a string cannot be read as a int",
        ),
        (
            r#"{"type":"record","name":"R","fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"x","type":"int"}]}"#,
            "no field x",
        ),
        (
            r#"{"type":"record","name":"R","fields":[]}"#,
            r#"{"type":"record","name":"S","fields":[]}"#,
            "is not the reader's S",
        ),
        (
            r#"{"type":"fixed","name":"F","size":2}"#,
            r#"{"type":"fixed","name":"F","size":3}"#,
            "cannot be read",
        ),
        (
            r#"["null","string"]"#,
            r#"{"type":"record","name":"R","fields":[]}"#,
            "cannot be read",
        ),
        (
            r#""boolean""#,
            r#"["null","int"]"#,
            "no branch of the reader's union",
        ),
    ];
    for (writer, reader, says) in refused {
        let codec = GenericCodec::with_reader_schema(reader).expect(reader);
        let error = codec.admit(writer).expect_err(writer);
        assert_eq!(
            error.kind(),
            AvroErrorKind::Schema,
            "{writer} as {reader}: {error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("cannot be read as the reader schema: ")
                && error.to_string().contains(says),
            "{writer} as {reader}: {error}"
        );
    }
    // Some data resolves and some does not: admitted, and a record that does not is an error.
    let per_record = [
        (
            r#"{"type":"enum","name":"E","symbols":["A","B"]}"#,
            r#"{"type":"enum","name":"E","symbols":["A"]}"#,
            Value::Enum(1, "B".into()),
        ),
        (r#""bytes""#, r#""string""#, Value::Bytes(vec![0xff])),
        (
            r#"["null","string"]"#,
            r#"["null","int"]"#,
            Value::Union(1, Box::new(Value::String("x".into()))),
        ),
        (
            r#"["null",{"type":"record","name":"R","fields":[]}]"#,
            r#"{"type":"record","name":"R","fields":[]}"#,
            Value::Union(0, Box::new(Value::Null)),
        ),
        // Items that cannot be read: an empty array still resolves, as in Java.
        (
            r#"{"type":"array","items":"string"}"#,
            r#"{"type":"array","items":"long"}"#,
            Value::Array(vec![Value::String("x".into())]),
        ),
    ];
    for (writer, reader, value) in per_record {
        let datum = encode(writer, value);
        let error = ours_as(writer, reader, &datum).expect_err(reader);
        assert_eq!(
            error.kind(),
            AvroErrorKind::Unresolvable,
            "{writer} as {reader}: {error}"
        );
    }
    let empty = encode(r#"{"type":"array","items":"string"}"#, Value::Array(vec![]));
    assert_eq!(
        ours_as(
            r#"{"type":"array","items":"string"}"#,
            r#"{"type":"array","items":"long"}"#,
            &empty
        ),
        Ok(Value::Array(vec![]))
    );
    // A recursive pair is checked to its end.
    let list = r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#;
    let longer = r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]},{"name":"n","type":"int","default":0}]}"#;
    assert!(GenericCodec::with_reader_schema(longer)
        .expect("reader")
        .admit(list)
        .is_ok());
    let stricter = r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]},{"name":"n","type":"int"}]}"#;
    assert!(GenericCodec::with_reader_schema(stricter)
        .expect("reader")
        .admit(list)
        .is_err());
    // A default that never ends: a record whose missing field's default is the record again.
    let endless =
        r#"{"type":"record","name":"R","fields":[{"name":"next","type":"R","default":{}}]}"#;
    let writer = r#"{"type":"record","name":"R","fields":[]}"#;
    let _ = writer;
    assert!(GenericCodec::with_reader_schema(endless).is_err());
}

#[test]
fn resolving_the_deepest_recursive_datum_is_quick_where_apache_avro_takes_minutes() {
    // apache-avro's `Value::resolve` validates each record's subtree against the union's
    // branches at every level: its time doubles per level (154 s at 23 levels in a debug
    // build). Ours visits each value once.
    let deepest = nested_users(MAX_GENERIC_DEPTH - 1);
    let started = Instant::now();
    let resolved = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn_scoped(scope, || {
                ours_as(RECURSIVE_USER, RECURSIVE_USER, &deepest).is_ok()
            })
            .expect("thread")
            .join()
            .expect("no stack overflow")
    });
    assert!(resolved);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn hostile_bytes_are_one_error_each_quickly() {
    let array_of = |items: &str| format!(r#"{{"type":"array","items":{items}}}"#);
    let nulls = array_of(r#""null""#);
    let longs = array_of(r#""long""#);
    let empty_records = array_of(
        r#"{"type":"record","name":"E","fields":[{"name":"a","type":"null"},{"name":"b","type":"null"}]}"#,
    );
    let map = r#"{"type":"map","values":"int"}"#.to_string();
    let fixed = r#"{"type":"fixed","name":"F","size":2147483647}"#.to_string();
    let union = r#"["null","string"]"#.to_string();
    let cases = [
        // 2^31 items in 10 bytes: nulls take none, but each is a value in memory.
        (
            nulls.clone(),
            datum(&[1 << 31, 0], &[]),
            AvroErrorKind::Limit,
        ),
        (
            empty_records,
            datum(&[1 << 20, 0], &[]),
            AvroErrorKind::Limit,
        ),
        (
            longs,
            datum(&[1 << 31], &[2, 2, 2]),
            AvroErrorKind::Truncated,
        ),
        (map, datum(&[1, 1 << 40], b"k"), AvroErrorKind::Truncated),
        (fixed, vec![0; 10], AvroErrorKind::Truncated),
        (union.clone(), datum(&[2], &[]), AvroErrorKind::Malformed),
        (union, datum(&[-1], &[]), AvroErrorKind::Malformed),
        (nulls, datum(&[3, 0], &[7]), AvroErrorKind::Malformed),
    ];
    for (writer, bytes, kind) in cases {
        let started = Instant::now();
        let error = ours(&writer, &bytes).expect_err(&writer);
        assert_eq!(error.kind(), kind, "{writer}: {error}");
        assert!(started.elapsed() < Duration::from_secs(1), "{writer}");
    }
}

#[test]
fn the_memory_bound_is_exact_for_values_that_take_no_bytes() {
    let nulls = r#"{"type":"array","items":"null"}"#;
    // The array is one value, each null another.
    let most = i64::try_from((MAX_GENERIC_BYTES - VALUE_BYTES) / VALUE_BYTES).expect("fits");
    let Value::Array(items) = ours(nulls, &datum(&[most, 0], &[])).expect("at the bound") else {
        panic!("an array")
    };
    assert_eq!(items.len() as i64, most);
    let error = ours(nulls, &datum(&[most + 1, 0], &[])).expect_err("one over");
    assert_eq!(error.kind(), AvroErrorKind::Limit, "{error}");
}

/// A record type of `fields` null fields named `name_len` bytes long.
fn nulls_record(name: &str, fields: usize, name_len: usize) -> String {
    let fields: Vec<String> = (0..fields)
        .map(|i| format!(r#"{{"name":"f{i}{}","type":"null"}}"#, "x".repeat(name_len)))
        .collect();
    format!(
        r#"{{"type":"record","name":"{name}","fields":[{}]}}"#,
        fields.join(",")
    )
}

#[test]
fn what_apache_avro_copies_per_value_counts_field_names_symbols_and_records_of_nulls() {
    // Found by review: a union branch that is a record of 1,024 nulls, 1,024 times in 1 KB,
    // counted as one value each, decoded to a million; names and symbols copied per value.
    let wide = format!(
        r#"{{"type":"array","items":["null",{}]}}"#,
        nulls_record("E", 1024, 0)
    );
    let long_names = format!(
        r#"{{"type":"array","items":{}}}"#,
        nulls_record("E", 1, 4096)
    );
    let long_symbol = format!(
        r#"{{"type":"array","items":{{"type":"enum","name":"S","symbols":["{}"]}}}}"#,
        "s".repeat(4096)
    );
    let cases = [
        (
            wide,
            datum(&[1024], &[[0x02].repeat(1024), vec![0]].concat()),
        ),
        (long_names, datum(&[100_000, 0], &[])),
        (
            long_symbol,
            datum(&[20_000], &[[0x00].repeat(20_000), vec![0]].concat()),
        ),
    ];
    for (writer, bytes) in cases {
        let error = ours(&writer, &bytes).expect_err("over the memory bound");
        assert_eq!(error.kind(), AvroErrorKind::Limit, "{error}");
    }
}

#[test]
fn a_chain_of_records_of_nulls_named_one_inside_the_next_is_bounded_in_depth() {
    // Found by review: R0 {x: null}, R1 {x: R0}, … defined side by side in a union branch the
    // datum does not take (so the JSON stays shallow), and a field of the last: apache-avro
    // recursed once per link (a stack overflow at 1,000 links in release), the walk never.
    let chain = |links: usize| {
        let defs: Vec<String> = (0..=links)
            .map(|i| {
                let inner = if i == 0 { r#""null""#.to_string() } else { format!(r#""R{}""#, i - 1) };
                format!(r#"{{"name":"d{i}","type":{{"type":"record","name":"R{i}","fields":[{{"name":"x","type":{inner}}}]}}}}"#)
            })
            .collect();
        format!(
            r#"{{"type":"record","name":"Top","fields":[{{"name":"defs","type":["null",{{"type":"record","name":"Holder","fields":[{}]}}]}},{{"name":"z","type":"R{links}"}}]}}"#,
            defs.join(",")
        )
    };
    let decoded = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn_scoped(scope, || {
                let deep = ours(&chain(1000), &[0x00]).map_err(|e| e.kind());
                let shallow = ours(&chain(MAX_GENERIC_DEPTH - 2), &[0x00]).is_ok();
                (deep, shallow)
            })
            .expect("thread")
            .join()
            .expect("no stack overflow")
    });
    assert_eq!(decoded, (Err(AvroErrorKind::Limit), true));
}

#[test]
fn a_100000_deep_datum_is_an_error_and_the_deepest_allowed_fits_a_consumer_threads_stack() {
    let too_deep = nested_users(100_000);
    let error = ours(RECURSIVE_USER, &too_deep).expect_err("too deep");
    assert_eq!(error.kind(), AvroErrorKind::Limit, "{error}");
    // Consumer threads have Rust's default 2 MiB; a debug build's frames are the largest.
    let deepest = nested_users(MAX_GENERIC_DEPTH - 1);
    let decoded = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn_scoped(scope, || {
                (
                    ours(RECURSIVE_USER, &deepest).is_ok(),
                    ours(RECURSIVE_USER, &nested_users(MAX_GENERIC_DEPTH)).is_err(),
                )
            })
            .expect("thread")
            .join()
            .expect("no stack overflow")
    });
    assert_eq!(decoded, (true, true));
}

#[test]
fn hostile_writer_schemas_are_refused_when_admitted() {
    let codec = GenericCodec::new();
    for writer in [
        "not json",
        r#"{"type":"record","name":"R","fields":[{"name":"x","type":"Missing"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"me","type":"R"}]}"#,
    ] {
        match codec.admit(writer) {
            Err(_) => {}
            // A record that holds itself admits, and every datum of it is an error.
            Ok(plan) => assert!(codec.decode(&plan, &[0; 64]).is_err(), "{writer}"),
        }
    }
}

/// Found by review of the resolver: each case as the specification reads it.
#[test]
fn union_branches_fixed_names_and_decimals_resolve_as_the_specification_says() {
    let decimal = r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#;
    let union_of = |branches: &str| format!("[{branches}]");
    let picked = [
        // A timestamp goes to the long branch, not the first it promotes to.
        (
            r#"{"type":"long","logicalType":"timestamp-millis"}"#.to_string(),
            union_of(r#""double","long""#),
            Value::TimestampMillis(1_700_000_000_123_456_789),
            Value::Union(1, Box::new(Value::Long(1_700_000_000_123_456_789))),
        ),
        (
            decimal.to_string(),
            union_of(r#""string","bytes""#),
            Value::Decimal(apache_avro::Decimal::from(vec![0x41])),
            Value::Union(1, Box::new(Value::Bytes(vec![0x41]))),
        ),
        (
            decimal.to_string(),
            union_of(
                r#"{"type":"fixed","name":"F","size":8,"logicalType":"decimal","precision":9,"scale":2},"bytes""#,
            ),
            Value::Decimal(apache_avro::Decimal::from(vec![0x07, 0xcf])),
            Value::Union(1, Box::new(Value::Bytes(vec![0x07, 0xcf]))),
        ),
    ];
    for (writer, reader, value, expected) in picked {
        let datum = encode(&writer, value);
        assert_eq!(
            ours_as(&writer, &reader, &datum),
            Ok(expected),
            "{writer} as {reader}"
        );
    }
    let refused = [
        (
            r#"{"type":"fixed","name":"A","size":2}"#.to_string(),
            r#"{"type":"fixed","name":"B","size":2}"#.to_string(),
            Value::Fixed(2, vec![1, 2]),
        ),
        (
            r#"{"type":"fixed","name":"A","size":2}"#.to_string(),
            union_of(r#""null",{"type":"fixed","name":"B","size":2}"#),
            Value::Fixed(2, vec![1, 2]),
        ),
        (
            decimal.to_string(),
            r#"{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}"#.to_string(),
            Value::Decimal(apache_avro::Decimal::from(vec![0x07])),
        ),
    ];
    // No datum of the writer resolves: refused when admitted.
    for (writer, reader, value) in refused {
        let datum = encode(&writer, value);
        let error = ours_as(&writer, &reader, &datum).expect_err(&reader);
        assert_eq!(error.kind(), AvroErrorKind::Schema, "{error}");
    }
}

#[test]
fn defaults_a_writer_record_lacks_count_against_the_memory_bound() {
    // Found by review: 2^16 records that take no bytes, each given a 16-item default by the
    // reader: a 4-byte datum resolved into a million values.
    let writer = r#"{"type":"array","items":{"type":"record","name":"E","fields":[]}}"#;
    let reader = r#"{"type":"array","items":{"type":"record","name":"E","fields":[
        {"name":"pad","type":{"type":"array","items":"long"},"default":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}]}}"#;
    let error = ours_as(writer, reader, &datum(&[1 << 16, 0], &[])).expect_err("over");
    assert_eq!(error.kind(), AvroErrorKind::Limit, "{error}");
    assert!(ours_as(writer, reader, &datum(&[16, 0], &[])).is_ok());
}

#[test]
fn a_name_longer_than_a_kibibyte_is_refused_when_admitted() {
    // Found by review: apache-avro copies and hashes a named type's full name per value.
    let named = |len: usize| {
        format!(
            r#"{{"type":"array","items":["null",{{"type":"record","name":"{}","fields":[{{"name":"x","type":"int"}}]}}]}}"#,
            "N".repeat(len)
        )
    };
    assert!(GenericCodec::new().admit(&named(1024)).is_ok());
    let error = GenericCodec::new()
        .admit(&named(1025))
        .expect_err("too long");
    assert_eq!(error.kind(), AvroErrorKind::Schema, "{error}");
}

#[test]
fn a_uuid_on_a_fixed_is_read_as_its_16_bytes() {
    // Found writing the resolution fuzz: apache-avro 0.21 parses a uuid on a fixed(16) as a
    // uuid on a string and decodes a length and that many bytes: every record was an error.
    let fixed = r#"{"type":"fixed","name":"U","size":16}"#;
    let bytes: Vec<u8> = (0..16).map(|i| i * 17).collect();
    for uuid in [
        fixed.replace('}', r#","logicalType":"uuid"}"#),
        format!(r#"{{"type":{fixed},"logicalType":"uuid"}}"#),
    ] {
        let writer = format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"id","type":{uuid}}},{{"name":"n","type":"int"}}]}}"#
        );
        let expected = Value::Record(vec![
            ("id".into(), Value::Fixed(16, bytes.clone())),
            ("n".into(), Value::Int(42)),
        ]);
        let datum = [bytes.as_slice(), &[0x54]].concat();
        assert_eq!(ours(&writer, &datum), Ok(expected.clone()), "{writer}");
        assert_eq!(ours_as(&writer, &writer, &datum), Ok(expected), "{writer}");
    }
}

#[test]
fn a_writer_schema_with_defaults_apache_avro_refuses_is_admitted() {
    // Found by the resolution fuzz: apache-avro 0.21 checks defaults as it parses and refuses
    // valid ones, so every record written with such a schema was an error. A writer's
    // defaults are never read.
    let decimal = r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#;
    let duration = r#"{"type":"fixed","name":"Wait","size":12,"logicalType":"duration"}"#;
    let writer = format!(
        r#"{{"namespace":"example.avro","type":"record","name":"User","fields":[
        {{"name":"name","type":"string"}},
        {{"name":"amount","type":{decimal},"default":"\u0000"}},
        {{"name":"wait","type":{duration},"default":"\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"}},
        {{"name":"inner","type":{{"type":"record","name":"In","fields":[
            {{"name":"at","type":[{{"type":"long","logicalType":"local-timestamp-micros"}},"int"]}}]}},
            "default":{{"at":99}}}}]}}"#
    );
    let datum = [&[4, b'a', b'b', 2, 0x07][..], &[0; 12], &[0, 0x54]].concat();
    let decoded = ours(&writer, &datum).expect("admitted and decoded");
    assert_eq!(field(&decoded, "name"), Some(&Value::String("ab".into())));
    assert_eq!(
        field(&decoded, "inner").and_then(|inner| field(inner, "at")),
        Some(&Value::Union(0, Box::new(Value::LocalTimestampMicros(42))))
    );
    let user = crate::format::avro::UserCodec::new().expect("user.avsc");
    let plan = user.writer_schema(&writer).expect("admitted for User");
    assert_eq!(
        user.decode(&plan, &datum).map(|u| u.name),
        Ok("ab".to_string())
    );
}

/// Found by review: a writer schema whose records reference each other 5,000 deep (each named
/// `L` in its own namespace, all defined at the top) read as a linked list overflowed the
/// plan compiler's stack. Steps deeper than any datum may nest are compiled as failures.
#[test]
fn a_chain_of_thousands_of_named_records_is_admitted_on_a_small_stack() {
    let n = 5_000;
    let mut fields = vec![format!(
        r#"{{"name":"p{n}","type":{{"type":"record","name":"L","namespace":"a{n}","fields":[{{"name":"next","type":"null"}}]}}}}"#
    )];
    for k in (1..n).rev() {
        fields.push(format!(
            r#"{{"name":"p{k}","type":{{"type":"record","name":"L","namespace":"a{k}","fields":[{{"name":"next","type":["a{}.L","null"]}}]}}}}"#,
            k + 1
        ));
    }
    fields.push(r#"{"name":"next","type":["a1.L","null"]}"#.to_string());
    let writer = format!(
        r#"{{"type":"record","name":"L","namespace":"a0","fields":[{}]}}"#,
        fields.join(",")
    );
    let reader = r#"{"type":"record","name":"L","namespace":"a0","fields":[{"name":"next","type":["null","L"]}]}"#;
    let admitted = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let codec = GenericCodec::with_reader_schema(reader).expect("reader");
            codec.admit(&writer).map(|_| ())
        })
        .expect("thread")
        .join()
        .expect("no overflow");
    // Whatever the verdict, it is one; here the writer's own records resolve.
    let _ = admitted;
}

#[test]
fn reader_schemas_whose_defaults_are_not_of_their_type_are_refused_when_given() {
    for reader in [
        r#"{"type":"record","name":"R","fields":[{"name":"u","type":["null","int"],"default":5}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":2},"default":"abc"}]}"#,
    ] {
        let error = GenericCodec::with_reader_schema(reader).expect_err(reader);
        assert!(
            error.to_string().contains("the default of field"),
            "{error}"
        );
    }
    // Enums that share no symbol, the reader without a default: no datum resolves.
    let codec =
        GenericCodec::with_reader_schema(r#"{"type":"enum","name":"E","symbols":["C","D"]}"#)
            .expect("reader");
    let error = codec
        .admit(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#)
        .expect_err("disjoint");
    assert_eq!(error.kind(), AvroErrorKind::Schema, "{error}");
}

/// Found by review: a writer union tried a branch whose record pair failed, and the same pair
/// met again later was taken as matching.
#[test]
fn a_record_pair_that_failed_in_one_union_branch_fails_wherever_it_is_met_again() {
    let writer = r#"{"type":"record","name":"Top","fields":[
        {"name":"x","type":[{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]},"string"]},
        {"name":"y","type":"R"}]}"#;
    let reader = r#"{"type":"record","name":"Top","fields":[
        {"name":"x","type":[{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]},"string"]},
        {"name":"y","type":"R"}]}"#;
    let codec = GenericCodec::with_reader_schema(reader).expect("reader");
    let error = codec.admit(writer).expect_err("y never resolves");
    assert_eq!(error.kind(), AvroErrorKind::Schema, "{error}");
}

/// apache-avro 0.21 refuses every decimal and duration default as it parses, so a reader
/// schema with one was refused: each is now taken, checked by the specification's rules,
/// and filled in where the writer lacks the field (in a record inside a union too).
#[test]
fn reader_schemas_with_decimal_and_duration_defaults_fill_them_in() {
    let reader = r#"{"type":"record","name":"R","fields":[
        {"name":"name","type":"string"},
        {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2},"default":"\u0001\u0000"},
        {"name":"fee","type":{"type":"fixed","name":"Money","size":2,"logicalType":"decimal","precision":4,"scale":2},"default":"\u0000\u0007"},
        {"name":"wait","type":{"type":"fixed","name":"Wait","size":12,"logicalType":"duration"},"default":"\u0001\u0000\u0000\u0000\u0002\u0000\u0000\u0000\u0003\u0000\u0000\u0000"},
        {"name":"inner","type":["null",{"type":"record","name":"In","fields":[
            {"name":"a","type":"int"},
            {"name":"b","type":{"type":"bytes","logicalType":"decimal","precision":3},"default":"\u0005"}]}],"default":null}]}"#;
    let writer = r#"{"type":"record","name":"R","fields":[
        {"name":"name","type":"string"},
        {"name":"inner","type":["null",{"type":"record","name":"In","fields":[{"name":"a","type":"int"}]}]}]}"#;
    let datum = encode(
        writer,
        Value::Record(vec![
            ("name".into(), Value::String("ab".into())),
            (
                "inner".into(),
                Value::Union(
                    1,
                    Box::new(Value::Record(vec![("a".into(), Value::Int(3))])),
                ),
            ),
        ]),
    );
    let decoded = ours_as(writer, reader, &datum).expect("resolved");
    assert_eq!(
        field(&decoded, "amount"),
        Some(&Value::Decimal(apache_avro::Decimal::from(vec![1, 0])))
    );
    assert_eq!(
        field(&decoded, "fee"),
        Some(&Value::Decimal(apache_avro::Decimal::from(vec![0, 7])))
    );
    assert_eq!(
        field(&decoded, "wait"),
        Some(&Value::Duration(apache_avro::Duration::from([
            1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0
        ])))
    );
    let Some(Value::Union(1, inner)) = field(&decoded, "inner") else {
        panic!("{decoded:?}");
    };
    assert_eq!(
        field(inner, "b"),
        Some(&Value::Decimal(apache_avro::Decimal::from(vec![5])))
    );
    // Still checked: a decimal default of more bytes than its fixed holds.
    let wrong = reader.replace(
        r#""default":"\u0000\u0007""#,
        r#""default":"\u0000\u0007\u0000""#,
    );
    let error = GenericCodec::with_reader_schema(&wrong).expect_err("3 bytes in a fixed of 2");
    assert!(
        error.to_string().contains("the default of field fee"),
        "{error}"
    );
}

/// A `fixed` decimal or duration defined once and named again (Java's Avro writes schemas
/// so): apache-avro 0.21 keeps no name for these logical types, so the second use did not
/// resolve and every record written with such a schema was an error. Each reference is
/// now read as the type it names.
#[test]
fn a_decimal_or_duration_fixed_named_again_is_read_where_it_is_named() {
    let writer = r#"{"type":"record","name":"Payment","namespace":"shop","fields":[
        {"name":"price","type":{"type":"fixed","name":"Money","size":2,"logicalType":"decimal","precision":4,"scale":2}},
        {"name":"fees","type":{"type":"array","items":"Money"}},
        {"name":"tip","type":["null","shop.Money"]},
        {"name":"took","type":{"type":"fixed","name":"Wait","namespace":"time","size":12,"logicalType":"duration"}},
        {"name":"again","type":{"type":"record","name":"Nested","namespace":"time","fields":[{"name":"w","type":"Wait"}]}}]}"#;
    let money = |a, b| Value::Decimal(apache_avro::Decimal::from(vec![a, b]));
    let wait = [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0];
    let datum = [
        &[0, 5][..],
        &[4, 0, 1, 0, 2, 0][..],
        &[2, 0, 9][..],
        &wait[..],
        &wait[..],
    ]
    .concat();
    let decoded = ours(writer, &datum).expect("admitted and decoded");
    assert_eq!(field(&decoded, "price"), Some(&money(0, 5)));
    assert_eq!(
        field(&decoded, "fees"),
        Some(&Value::Array(vec![money(0, 1), money(0, 2)]))
    );
    assert_eq!(
        field(&decoded, "tip"),
        Some(&Value::Union(1, Box::new(money(0, 9))))
    );
    let duration = Value::Duration(apache_avro::Duration::from(wait));
    assert_eq!(field(&decoded, "took"), Some(&duration));
    assert_eq!(
        field(&decoded, "again").and_then(|again| field(again, "w")),
        Some(&duration)
    );
    // The same schema as a reader: its own data resolves to the same values.
    assert_eq!(ours_as(writer, writer, &datum), Ok(decoded));
}

/// A short reference to a long-named decimal fixed, many times over, would grow the schema
/// a thousandfold as it is inlined: refused when admitted, quickly.
#[test]
fn references_that_would_inline_past_a_mebibyte_are_refused() {
    let namespace = "n".repeat(1000);
    let refs: Vec<String> = (0..2_000)
        .map(|i| format!(r#"{{"name":"f{i}","type":"M"}}"#))
        .collect();
    let writer = format!(
        r#"{{"type":"record","name":"R","namespace":"{namespace}","fields":[
        {{"name":"m","type":{{"type":"fixed","name":"M","size":1,"logicalType":"decimal","precision":2}}}},{}]}}"#,
        refs.join(",")
    );
    let error = ours(&writer, &[]).expect_err("refused");
    assert_eq!(error.kind(), AvroErrorKind::Schema, "{error}");
    assert!(error.to_string().contains("would grow it"), "{error}");
}

/// Found by review, each a schema the inlining or the restored defaults read wrong.
#[test]
fn schemas_the_review_of_the_inlining_found_read_wrong_are_read_as_java_reads_them() {
    // A field entry that is no object: apache-avro skipped it, and the restored defaults
    // moved one field down. Java refuses the schema; so does the codec.
    let reader = r#"{"type":"record","name":"R","fields":[null,{"name":"a","type":"int","default":1},{"name":"b","type":"int","default":2}]}"#;
    let error = GenericCodec::with_reader_schema(reader)
        .map(|_| ())
        .expect_err("refused");
    assert!(error.to_string().contains("is not an object"), "{error}");

    // A decimal fixed named `string`: `"string"` is still the primitive.
    let named_string = r#"{"type":"record","name":"R","namespace":"ns","fields":[{"name":"d","type":{"type":"fixed","name":"string","size":2,"logicalType":"decimal","precision":4}},{"name":"s","type":"string"}]}"#;
    let value = Value::Record(vec![
        (
            "d".into(),
            Value::Decimal(apache_avro::Decimal::from(vec![0, 1])),
        ),
        ("s".into(), Value::String("hi".into())),
    ]);
    let datum = encode(named_string, value);
    assert_eq!(
        ours(named_string, &datum).ok(),
        apache(named_string, &datum)
    );

    // Java writes a null-namespace type named again inside a namespaced record bare.
    let null_namespace = r#"{"type":"record","name":"Payment","namespace":"shop","fields":[{"name":"price","type":{"type":"fixed","name":"Money","namespace":"","size":2,"logicalType":"decimal","precision":4,"scale":2}},{"name":"fee","type":"Money"}]}"#;
    let decoded = ours(null_namespace, &[0, 5, 0, 7]).expect("decoded");
    assert_eq!(
        field(&decoded, "fee"),
        Some(&Value::Decimal(apache_avro::Decimal::from(vec![0, 7])))
    );

    // A duration on a fixed of 8 bytes: Java ignores the logical type and writes 8 bytes.
    let duration_8 = r#"{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"fixed","name":"D","size":8,"logicalType":"duration"}},{"name":"e","type":"D"},{"name":"n","type":"int"}]}"#;
    let datum = [[1u8; 8].as_slice(), &[2u8; 8], &[2]].concat();
    let decoded = ours(duration_8, &datum).expect("decoded");
    assert_eq!(field(&decoded, "n"), Some(&Value::Int(1)));

    // Two different definitions of one name: Java refuses ("Can't redefine").
    let twice = r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"fixed","name":"Money","size":2,"logicalType":"decimal","precision":4}},{"name":"b","type":{"type":"fixed","name":"Money","size":4,"logicalType":"decimal","precision":9}},{"name":"c","type":"Money"}]}"#;
    assert!(ours(twice, &[0, 1, 0, 0, 0, 2, 0, 0, 0, 3]).is_err());

    // A long doc on the definition is not copied per use.
    let doc = "d".repeat(100_000);
    let documented = format!(
        r#"{{"type":"record","name":"R","fields":[{{"name":"a","type":{{"type":"fixed","name":"M","size":1,"logicalType":"decimal","precision":2,"doc":"{doc}"}}}},{}]}}"#,
        (0..20)
            .map(|i| format!(r#"{{"name":"r{i}","type":"M"}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(ours(&documented, &[0u8; 21]).is_ok());
}
