//! Avro JSON ([`write_avro_json`]) of values as [`GenericCodec`] decodes them from real Avro
//! bytes, compared with the JSON text written out here: Confluent's console consumer's (Java
//! Avro's `JsonEncoder` on Jackson) where the specification leaves a choice.

use std::collections::HashMap;

use apache_avro::schema::{Name, Schema};
use apache_avro::types::Value;
use apache_avro::{BigDecimal, Days, Decimal, Duration, Millis, Months};

use super::resolution::{nested_users, RECURSIVE_USER};
use crate::format::avro_json::write_avro_json;
use crate::format::error::AvroErrorKind;
use crate::format::generic::GenericCodec;
use crate::format::reader_schema::Names;
use crate::format::resolve::MAX_GENERIC_DEPTH;
use crate::format::value::ValueDecoder;
use crate::format::AvroError;

/// `value` as a datum of `schema`, encoded by apache-avro: the bytes the tests decode.
fn datum_of(schema: &str, value: Value) -> Vec<u8> {
    let schema = Schema::parse_str(schema).expect("a schema");
    apache_avro::to_avro_datum(&schema, value).expect("encodes")
}

/// A record value of `fields`, in order.
fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
    )
}

/// The Avro JSON of `datum` as `codec` decodes it with `writer`, checked to be JSON.
fn json_with(codec: &GenericCodec, writer: &str, datum: &[u8]) -> String {
    let plan = codec.admit(writer).expect("admitted");
    let value = codec.decode(&plan, datum).expect("decodes");
    let (schema, names) = codec.value_schema(&plan);
    let mut out = String::new();
    write_avro_json(&value, schema, names, &mut out).expect("written");
    serde_json::from_str::<serde_json::Value>(&out).expect("the output is JSON");
    out
}

/// The Avro JSON of `datum`, decoded as `writer` says.
fn json(writer: &str, datum: &[u8]) -> String {
    json_with(&GenericCodec::new(), writer, datum)
}

/// The Avro JSON of a value built by hand, as a datum of `schema`, after `prefix`.
fn hand_built(schema: &str, value: &Value, prefix: &str) -> (Result<(), AvroError>, String) {
    let codec = GenericCodec::new();
    let plan = codec.admit(schema).expect("admitted");
    let (schema, names) = codec.value_schema(&plan);
    let mut out = prefix.to_string();
    let result = write_avro_json(value, schema, names, &mut out);
    (result, out)
}

/// The bytes a JSON string of one character per byte holds.
fn latin1_of(json: &serde_json::Value) -> Vec<u8> {
    json.as_str()
        .expect("a JSON string")
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a character below U+0100"))
        .collect()
}

#[test]
fn primitives_are_json_literals() {
    let schema = r#"{"type":"record","name":"P","fields":[
      {"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},
      {"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},
      {"name":"s","type":"string"}]}"#;
    let cases = [
        (
            record(vec![
                ("n", Value::Null),
                ("b", Value::Boolean(true)),
                ("i", Value::Int(-3)),
                ("l", Value::Long(i64::MIN)),
                ("f", Value::Float(0.1)),
                ("d", Value::Double(0.1)),
                ("s", Value::String("hi".into())),
            ]),
            r#"{"n":null,"b":true,"i":-3,"l":-9223372036854775808,"f":0.1,"d":0.1,"s":"hi"}"#,
        ),
        (
            record(vec![
                ("n", Value::Null),
                ("b", Value::Boolean(false)),
                ("i", Value::Int(i32::MAX)),
                ("l", Value::Long(i64::MAX)),
                ("f", Value::Float(1.0)),
                ("d", Value::Double(-2.5e-300)),
                ("s", Value::String(String::new())),
            ]),
            r#"{"n":null,"b":false,"i":2147483647,"l":9223372036854775807,"f":1.0,"d":-2.5e-300,"s":""}"#,
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(json(schema, &datum_of(schema, value)), expected);
    }
    // A schema that is no record: 42, zigzag.
    assert_eq!(json(r#""long""#, &[0x54]), "42");
    assert_eq!(json(r#""null""#, &[]), "null");
}

#[test]
fn floats_are_their_shortest_text_and_nan_and_infinities_are_jacksons_strings() {
    let schema = r#"{"type":"record","name":"F","fields":[
      {"name":"f","type":"float"},{"name":"d","type":"double"}]}"#;
    let cases: [(f32, f64, &str); 10] = [
        // 0.1f32 is not written as its f64 widening, 0.10000000149011612.
        (0.1, 0.1, r#"{"f":0.1,"d":0.1}"#),
        (1e30, 1e300, r#"{"f":1e+30,"d":1e+300}"#),
        (-0.0, 5e-324, r#"{"f":-0.0,"d":5e-324}"#),
        (
            16_777_216.0,
            1.0 / 3.0,
            r#"{"f":16777216.0,"d":0.3333333333333333}"#,
        ),
        (
            f32::MAX,
            f64::MAX,
            r#"{"f":3.4028235e+38,"d":1.7976931348623157e+308}"#,
        ),
        (1e-7, 123_456_789.125, r#"{"f":1e-7,"d":123456789.125}"#),
        (f32::MIN_POSITIVE, -1.5, r#"{"f":1.1754944e-38,"d":-1.5}"#),
        (f32::NAN, f64::NAN, r#"{"f":"NaN","d":"NaN"}"#),
        (
            f32::INFINITY,
            f64::NEG_INFINITY,
            r#"{"f":"Infinity","d":"-Infinity"}"#,
        ),
        (
            f32::NEG_INFINITY,
            f64::INFINITY,
            r#"{"f":"-Infinity","d":"Infinity"}"#,
        ),
    ];
    for (f, d, expected) in cases {
        let datum = datum_of(
            schema,
            record(vec![("f", Value::Float(f)), ("d", Value::Double(d))]),
        );
        let out = json(schema, &datum);
        assert_eq!(out, expected);
        // Each finite number reads back as itself, the float as an f32.
        let parsed: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        if let (Some(f_back), Some(d_back)) = (parsed["f"].as_f64(), parsed["d"].as_f64()) {
            assert_eq!(f_back.to_string().parse::<f32>(), Ok(f), "{out}");
            assert_eq!(d_back, d, "{out}");
        }
    }
}

#[test]
fn strings_are_escaped_as_jackson_escapes_them() {
    let schema = r#"{"type":"record","name":"S","fields":[{"name":"s","type":"string"}]}"#;
    let text = "q\"b\\s/\n\t\r\u{8}\u{c}\u{0}\u{1}\u{1f} \u{7f}é€😀\u{2028}";
    let datum = datum_of(schema, record(vec![("s", Value::String(text.into()))]));
    // Short escapes where JSON has them, \u00XX in upper case for the other controls; DEL,
    // non-ASCII and U+2028 as they are.
    let expected =
        "{\"s\":\"q\\\"b\\\\s/\\n\\t\\r\\b\\f\\u0000\\u0001\\u001F \u{7f}é€😀\u{2028}\"}";
    assert_eq!(json(schema, &datum), expected);
    let parsed: serde_json::Value = serde_json::from_str(&json(schema, &datum)).expect("JSON");
    assert_eq!(parsed["s"], text);
}

#[test]
fn bytes_and_fixed_are_one_character_per_byte() {
    let schema = r#"{"type":"record","name":"B","fields":[
      {"name":"b","type":"bytes"},{"name":"none","type":"bytes"},
      {"name":"h","type":{"type":"fixed","name":"Hash","namespace":"shop","size":4}}]}"#;
    let bytes = vec![0x00, 0x41, 0x22, 0x5c, 0x0a, 0x1f, 0x7f, 0x80, 0xe9, 0xff];
    let datum = datum_of(
        schema,
        record(vec![
            ("b", Value::Bytes(bytes.clone())),
            ("none", Value::Bytes(Vec::new())),
            ("h", Value::Fixed(4, vec![0xff, 0x00, 0x80, 0x41])),
        ]),
    );
    let out = json(schema, &datum);
    // 0x80..0xFF are the characters U+0080..U+00FF, in UTF-8.
    let expected = "{\"b\":\"\\u0000A\\\"\\\\\\n\\u001F\u{7f}\u{80}éÿ\",\"none\":\"\",\"h\":\"ÿ\\u0000\u{80}A\"}";
    assert_eq!(out, expected);
    let parsed: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(latin1_of(&parsed["b"]), bytes);
    assert_eq!(latin1_of(&parsed["h"]), vec![0xff, 0x00, 0x80, 0x41]);
}

#[test]
fn records_enums_arrays_and_maps_are_objects_symbols_and_arrays_with_map_keys_sorted() {
    let schema = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
      {"name":"customer","type":{"type":"record","name":"Customer","fields":[
        {"name":"name","type":"string"},
        {"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}}]}},
      {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},
      {"name":"qty","type":{"type":"array","items":"int"}},
      {"name":"empty","type":{"type":"array","items":"int"}},
      {"name":"prices","type":{"type":"map","values":"long"}},
      {"name":"grid","type":{"type":"array","items":{"type":"map","values":{"type":"array","items":"string"}}}},
      {"name":"shipping","type":"Address"}]}"#;
    let map = |entries: Vec<(&str, Value)>| {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<HashMap<_, _>>(),
        )
    };
    let strings =
        |items: &[&str]| Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect());
    let value = record(vec![
        (
            "customer",
            record(vec![
                ("name", Value::String("Zoë".into())),
                (
                    "address",
                    record(vec![("city", Value::String("Oslo".into()))]),
                ),
            ]),
        ),
        ("status", Value::Enum(1, "PAID".into())),
        (
            "qty",
            Value::Array(vec![Value::Int(1), Value::Int(-2), Value::Int(3)]),
        ),
        ("empty", Value::Array(Vec::new())),
        (
            "prices",
            map(vec![
                ("b", Value::Long(2)),
                ("é", Value::Long(3)),
                ("", Value::Long(0)),
                ("a\"b", Value::Long(-1)),
            ]),
        ),
        (
            "grid",
            Value::Array(vec![map(vec![("k", strings(&["x", "y"]))]), map(vec![])]),
        ),
        (
            "shipping",
            record(vec![("city", Value::String("Rome".into()))]),
        ),
    ]);
    let expected = concat!(
        r#"{"customer":{"name":"Zoë","address":{"city":"Oslo"}},"status":"PAID","#,
        r#""qty":[1,-2,3],"empty":[],"prices":{"":0,"a\"b":-1,"b":2,"é":3},"#,
        r#""grid":[{"k":["x","y"]},{}],"shipping":{"city":"Rome"}}"#
    );
    assert_eq!(json(schema, &datum_of(schema, value)), expected);
}

#[test]
fn union_branches_are_named_by_full_name_or_type_name_and_null_is_bare() {
    let schema = r#"{"type":"record","name":"U","namespace":"shop","fields":[
      {"name":"none","type":["null","string"]},
      {"name":"some","type":["null","string"]},
      {"name":"primitives","type":{"type":"array","items":
        ["null","boolean","int","long","float","double","bytes","string"]}},
      {"name":"named","type":{"type":"array","items":["null",
        {"type":"record","name":"Item","fields":[{"name":"sku","type":"string"}]},
        {"type":"enum","name":"Color","namespace":"paint","symbols":["RED"]},
        {"type":"fixed","name":"Hash","size":2}]}},
      {"name":"again","type":["Item","paint.Color"]},
      {"name":"collections","type":{"type":"array","items":
        [{"type":"array","items":"int"},{"type":"map","values":"int"}]}},
      {"name":"top","type":["null",{"type":"record","name":"Plain","namespace":"","fields":[]}]}]}"#;
    let union = |index: u32, value: Value| Value::Union(index, Box::new(value));
    let value = record(vec![
        ("none", union(0, Value::Null)),
        ("some", union(1, Value::String("x".into()))),
        (
            "primitives",
            Value::Array(vec![
                union(0, Value::Null),
                union(1, Value::Boolean(true)),
                union(2, Value::Int(1)),
                union(3, Value::Long(2)),
                union(4, Value::Float(1.5)),
                union(5, Value::Double(2.5)),
                union(6, Value::Bytes(vec![0xff])),
                union(7, Value::String("s".into())),
            ]),
        ),
        (
            "named",
            Value::Array(vec![
                union(1, record(vec![("sku", Value::String("a".into()))])),
                union(2, Value::Enum(0, "RED".into())),
                union(3, Value::Fixed(2, b"hi".to_vec())),
                union(0, Value::Null),
            ]),
        ),
        (
            "again",
            union(0, record(vec![("sku", Value::String("b".into()))])),
        ),
        (
            "collections",
            Value::Array(vec![
                union(0, Value::Array(vec![Value::Int(1), Value::Int(2)])),
                union(
                    1,
                    Value::Map([("a".to_string(), Value::Int(1))].into_iter().collect()),
                ),
            ]),
        ),
        ("top", union(1, record(vec![]))),
    ]);
    let expected = concat!(
        r#"{"none":null,"some":{"string":"x"},"#,
        r#""primitives":[null,{"boolean":true},{"int":1},{"long":2},{"float":1.5},{"double":2.5},{"bytes":"ÿ"},{"string":"s"}],"#,
        r#""named":[{"shop.Item":{"sku":"a"}},{"paint.Color":"RED"},{"shop.Hash":"hi"},null],"#,
        r#""again":{"shop.Item":{"sku":"b"}},"#,
        r#""collections":[{"array":[1,2]},{"map":{"a":1}}],"#,
        r#""top":{"Plain":{}}}"#
    );
    assert_eq!(json(schema, &datum_of(schema, value)), expected);
}

/// A record of every logical type apache-avro decodes to its own value, each `optional` (in a
/// union with null) or not.
fn logical_schema(optional: bool) -> String {
    let types = [
        ("date", r#"{"type":"int","logicalType":"date"}"#),
        ("time_ms", r#"{"type":"int","logicalType":"time-millis"}"#),
        ("time_us", r#"{"type":"long","logicalType":"time-micros"}"#),
        (
            "ts_ms",
            r#"{"type":"long","logicalType":"timestamp-millis"}"#,
        ),
        (
            "ts_us",
            r#"{"type":"long","logicalType":"timestamp-micros"}"#,
        ),
        (
            "ts_ns",
            r#"{"type":"long","logicalType":"timestamp-nanos"}"#,
        ),
        (
            "local_ms",
            r#"{"type":"long","logicalType":"local-timestamp-millis"}"#,
        ),
        (
            "local_us",
            r#"{"type":"long","logicalType":"local-timestamp-micros"}"#,
        ),
        (
            "local_ns",
            r#"{"type":"long","logicalType":"local-timestamp-nanos"}"#,
        ),
        ("id", r#"{"type":"string","logicalType":"uuid"}"#),
        (
            "price",
            r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#,
        ),
        (
            "debt",
            r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#,
        ),
        (
            "fixed_price",
            r#"{"type":"fixed","name":"Price","size":4,"logicalType":"decimal","precision":9,"scale":2}"#,
        ),
        (
            "wait",
            r#"{"type":"fixed","name":"Wait","size":12,"logicalType":"duration"}"#,
        ),
        ("big", r#"{"type":"bytes","logicalType":"big-decimal"}"#),
    ];
    let fields: Vec<String> = types
        .iter()
        .map(|(name, schema)| {
            if optional {
                format!(r#"{{"name":"{name}","type":["null",{schema}]}}"#)
            } else {
                format!(r#"{{"name":"{name}","type":{schema}}}"#)
            }
        })
        .collect();
    format!(
        r#"{{"type":"record","name":"L","namespace":"shop","fields":[{}]}}"#,
        fields.join(",")
    )
}

/// Values of `logical_schema`'s fields, each in its union's branch 1 if `optional`.
fn logical_value(optional: bool) -> Value {
    let wrap = |value: Value| {
        if optional {
            Value::Union(1, Box::new(value))
        } else {
            value
        }
    };
    let big: BigDecimal = "-1.5".parse().expect("a big decimal");
    record(vec![
        ("date", wrap(Value::Date(19_000))),
        ("time_ms", wrap(Value::TimeMillis(3_600_000))),
        ("time_us", wrap(Value::TimeMicros(1))),
        ("ts_ms", wrap(Value::TimestampMillis(1_700_000_000_123))),
        ("ts_us", wrap(Value::TimestampMicros(-5))),
        ("ts_ns", wrap(Value::TimestampNanos(i64::MAX))),
        ("local_ms", wrap(Value::LocalTimestampMillis(42))),
        ("local_us", wrap(Value::LocalTimestampMicros(-42))),
        ("local_ns", wrap(Value::LocalTimestampNanos(7))),
        (
            "id",
            wrap(Value::Uuid(uuid::Uuid::from_u128(
                0x1234_5678_9abc_def0_1122_3344_5566_7788,
            ))),
        ),
        // 19.99: 1999 = 0x07CF.
        ("price", wrap(Value::Decimal(Decimal::from([0x07, 0xcf])))),
        // -19.99: -1999 = 0xF831.
        ("debt", wrap(Value::Decimal(Decimal::from([0xf8, 0x31])))),
        // -0.02 in 4 bytes (apache-avro sign-extends it as it writes).
        ("fixed_price", wrap(Value::Decimal(Decimal::from([0xfe])))),
        (
            "wait",
            wrap(Value::Duration(Duration::new(
                Months::new(1),
                Days::new(2),
                Millis::new(0x0403),
            ))),
        ),
        ("big", wrap(Value::BigDecimal(big))),
    ])
}

/// What `logical_value` is as Avro JSON: each field as `wrap`ped (by its branch's name).
fn logical_json(wrap: impl Fn(&str, &str) -> String) -> String {
    let fields = [
        ("date", "int", "19000"),
        ("time_ms", "int", "3600000"),
        ("time_us", "long", "1"),
        ("ts_ms", "long", "1700000000123"),
        ("ts_us", "long", "-5"),
        ("ts_ns", "long", "9223372036854775807"),
        ("local_ms", "long", "42"),
        ("local_us", "long", "-42"),
        ("local_ns", "long", "7"),
        ("id", "string", r#""12345678-9abc-def0-1122-334455667788""#),
        ("price", "bytes", "\"\\u0007Ï\""),
        ("debt", "bytes", "\"ø1\""),
        ("fixed_price", "shop.Price", "\"ÿÿÿþ\""),
        // Months 1, days 2, milliseconds 0x0403, each four bytes little-endian.
        (
            "wait",
            "duration",
            r#""\u0001\u0000\u0000\u0000\u0002\u0000\u0000\u0000\u0003\u0004\u0000\u0000""#,
        ),
        // A long length (1), the unscaled -15 (0xF1), a long scale (1): zigzag 2, F1, 2.
        ("big", "bytes", "\"\\u0002ñ\\u0002\""),
    ];
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, branch, json)| format!(r#""{name}":{}"#, wrap(branch, json)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

#[test]
fn logical_types_are_written_as_their_underlying_types() {
    let schema = logical_schema(false);
    let datum = datum_of(&schema, logical_value(false));
    // The decoder gives the logical types' own values, which are what is written here.
    let codec = GenericCodec::new();
    let plan = codec.admit(&schema).expect("admitted");
    let decoded = format!("{:?}", codec.decode(&plan, &datum).expect("decodes"));
    for variant in [
        "Date(",
        "TimeMillis(",
        "TimeMicros(",
        "TimestampMillis(",
        "TimestampMicros(",
        "TimestampNanos(",
        "LocalTimestampMillis(",
        "LocalTimestampMicros(",
        "LocalTimestampNanos(",
        "Uuid(",
        "Decimal(",
        "Duration(",
        "BigDecimal(",
    ] {
        assert!(decoded.contains(variant), "{variant} in {decoded}");
    }
    assert_eq!(
        json(&schema, &datum),
        logical_json(|_, json| json.to_string())
    );
}

#[test]
fn logical_branches_of_unions_are_named_by_their_underlying_types() {
    let schema = logical_schema(true);
    let datum = datum_of(&schema, logical_value(true));
    assert_eq!(
        json(&schema, &datum),
        logical_json(|branch, json| format!(r#"{{"{branch}":{json}}}"#))
    );
}

#[test]
fn a_decimal_on_fixed_is_sign_extended_to_the_fixed_size() {
    let schema = r#"{"type":"record","name":"D","fields":[
      {"name":"x","type":{"type":"fixed","name":"Money","size":4,"logicalType":"decimal","precision":9,"scale":2}}]}"#;
    // Decoded: -2 as the datum holds it, four bytes.
    let datum = [0xff, 0xff, 0xff, 0xfe];
    assert_eq!(json(schema, &datum), r#"{"x":"ÿÿÿþ"}"#);
    // Built by hand with fewer or more bytes than the fixed has.
    let cases: [(&[u8], Option<&str>); 7] = [
        (&[0xfe], Some(r#"{"x":"ÿÿÿþ"}"#)),
        (&[0x01], Some(r#"{"x":"\u0000\u0000\u0000\u0001"}"#)),
        (&[0x80, 0x00], Some("{\"x\":\"ÿÿ\u{80}\\u0000\"}")),
        (&[0xff, 0xff, 0xff, 0xff, 0xfe], Some(r#"{"x":"ÿÿÿþ"}"#)),
        (&[0x00, 0x80, 0x00, 0x00, 0x00], None),
        (&[0x01, 0x00, 0x00, 0x00, 0x00], None),
        (&[], Some(r#"{"x":"\u0000\u0000\u0000\u0000"}"#)),
    ];
    for (bytes, expected) in cases {
        let value = record(vec![("x", Value::Decimal(Decimal::from(bytes)))]);
        let (result, out) = hand_built(schema, &value, "");
        match expected {
            Some(expected) => {
                assert_eq!(result, Ok(()), "{bytes:?}");
                assert_eq!(out, expected, "{bytes:?}");
            }
            None => {
                let error = result.expect_err("does not fit");
                assert_eq!(error.kind(), AvroErrorKind::Malformed, "{error}");
                assert_eq!(out, "");
            }
        }
    }
    // A decimal on bytes is written with the bytes it was read from, none included.
    let on_bytes = r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#;
    for (bytes, expected) in [
        (&[][..], r#""""#),
        (&[0xff, 0xfe][..], r#""ÿþ""#),
        (&[0x00, 0x01][..], r#""\u0000\u0001""#),
    ] {
        let (result, out) = hand_built(on_bytes, &Value::Decimal(Decimal::from(bytes)), "");
        assert_eq!((result, out.as_str()), (Ok(()), expected));
    }
    assert_eq!(json(on_bytes, &[0x00]), r#""""#);
}

#[test]
fn recursive_schemas_are_followed_through_their_references() {
    // User "a", next: User "b", next: null.
    let datum = [0x02, b'a', 0x02, 0x02, b'b', 0x00];
    assert_eq!(
        json(RECURSIVE_USER, &datum),
        r#"{"name":"a","next":{"example.avro.User":{"name":"b","next":null}}}"#
    );
    // The deepest the decoder allows.
    let depth = MAX_GENERIC_DEPTH - 1;
    let expected = format!(
        "{}{}{}",
        r#"{"name":"","next":{"example.avro.User":"#.repeat(depth),
        r#"{"name":"","next":null}"#,
        "}}".repeat(depth)
    );
    assert_eq!(json(RECURSIVE_USER, &nested_users(depth)), expected);
}

#[test]
fn named_types_used_again_are_followed_by_name() {
    let schema = r#"{"type":"record","name":"R","namespace":"n","fields":[
      {"name":"a","type":{"type":"fixed","name":"Hash","size":2}},
      {"name":"b","type":"Hash"},
      {"name":"c","type":{"type":"enum","name":"E","namespace":"m","symbols":["X","Y"]}},
      {"name":"d","type":{"type":"map","values":"m.E"}}]}"#;
    let value = record(vec![
        ("a", Value::Fixed(2, b"ab".to_vec())),
        ("b", Value::Fixed(2, b"cd".to_vec())),
        ("c", Value::Enum(0, "X".into())),
        (
            "d",
            Value::Map([("k".to_string(), Value::Enum(1, "Y".into()))].into()),
        ),
    ]);
    assert_eq!(
        json(schema, &datum_of(schema, value)),
        r#"{"a":"ab","b":"cd","c":"X","d":{"k":"Y"}}"#
    );
}

#[test]
fn a_value_resolved_to_a_reader_schema_is_written_as_the_reader_schema_says() {
    let writer = r#"{"type":"record","name":"R","fields":[
      {"name":"a","type":"int"},{"name":"gone","type":"string"}]}"#;
    let reader = r#"{"type":"record","name":"R","fields":[
      {"name":"a","type":["null","long"]},
      {"name":"b","type":"bytes","default":"\u00ff\u0000"},
      {"name":"c","type":{"type":"array","items":"string"},"default":["x"]},
      {"name":"d","type":["null","string"],"default":null}]}"#;
    // a = 7, gone = "z".
    let datum = [0x0e, 0x02, b'z'];
    let codec = GenericCodec::with_reader_schema(reader).expect("a reader schema");
    assert_eq!(
        json_with(&codec, writer, &datum),
        r#"{"a":{"long":7},"b":"ÿ\u0000","c":["x"],"d":null}"#
    );
}

#[test]
fn a_value_that_does_not_match_its_schema_is_an_error_and_out_is_left_as_it_was() {
    let r = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
    let xs = r#"{"type":"record","name":"R","fields":[{"name":"xs","type":{"type":"array","items":"int"}}]}"#;
    let optional = r#"["null","int"]"#;
    let enumeration = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
    let fixed = r#"{"type":"fixed","name":"F","size":2}"#;
    let cases: [(&str, Value, &str); 14] = [
        (r#""string""#, Value::Int(1), "at the top"),
        (r#""float""#, Value::Double(1.0), "Double"),
        (
            r#"{"type":"long","logicalType":"timestamp-millis"}"#,
            Value::Long(1),
            "timestamp-millis",
        ),
        (r, record(vec![("b", Value::Int(1))]), "field \"b\""),
        (r, record(vec![]), "0 fields"),
        (r, record(vec![("a", Value::Long(1))]), "at .a"),
        (
            xs,
            record(vec![(
                "xs",
                Value::Array(vec![Value::Int(1), Value::String("2".into())]),
            )]),
            "at .xs[1]",
        ),
        (optional, Value::Union(5, Box::new(Value::Null)), "branch 5"),
        (optional, Value::Int(1), "Int"),
        (
            optional,
            Value::Union(1, Box::new(Value::String("1".into()))),
            "String",
        ),
        (enumeration, Value::Enum(0, "NOPE".into()), "NOPE"),
        (enumeration, Value::Enum(9, "A".into()), "index 9"),
        (fixed, Value::Fixed(3, vec![1, 2, 3]), "Fixed"),
        (fixed, Value::Fixed(2, vec![1]), "Fixed"),
    ];
    for (schema, value, said) in cases {
        let (result, out) = hand_built(schema, &value, "before ");
        let error = result.expect_err("does not match");
        assert_eq!(error.kind(), AvroErrorKind::Malformed, "{error}");
        assert!(error.to_string().contains(said), "{said:?} in {error}");
        assert_eq!(out, "before ");
    }
}

#[test]
fn references_that_are_undefined_or_circular_and_values_too_deep_are_errors() {
    let mut out = String::new();
    let nowhere = Schema::Ref {
        name: Name::new("nowhere.X").expect("a name"),
    };
    let error =
        write_avro_json(&Value::Null, &nowhere, &Names::new(), &mut out).expect_err("undefined");
    assert_eq!(error.kind(), AvroErrorKind::Schema, "{error}");
    assert!(error.to_string().contains("nowhere.X"), "{error}");
    // Names that refer to each other: no parsed schema has these.
    let (a, b) = (
        Name::new("A").expect("a name"),
        Name::new("B").expect("a name"),
    );
    let names: Names = [
        (a.clone(), Schema::Ref { name: b.clone() }),
        (b, Schema::Ref { name: a.clone() }),
    ]
    .into();
    let error = write_avro_json(&Value::Null, &Schema::Ref { name: a }, &names, &mut out)
        .expect_err("circular");
    assert_eq!(error.kind(), AvroErrorKind::Schema, "{error}");
    assert_eq!(out, "");
    // A value far deeper than any the decoder gives.
    let user = |next: Value| record(vec![("name", Value::String(String::new())), ("next", next)]);
    let mut deep = user(Value::Union(0, Box::new(Value::Null)));
    for _ in 0..1000 {
        deep = user(Value::Union(1, Box::new(deep)));
    }
    let (result, out) = hand_built(RECURSIVE_USER, &deep, "");
    let error = result.expect_err("too deep");
    assert_eq!(error.kind(), AvroErrorKind::Limit, "{error}");
    assert_eq!(out, "");
}

/// Found by review: a 16 MB `bytes` of zeros is 96 MB of JSON (`\u0000` per byte); a value's
/// text is bounded instead, the bound checked before the text is written.
#[test]
fn a_value_whose_json_would_pass_64_mib_is_an_error_and_nothing_is_written() {
    use crate::format::avro_json::{write_avro_json, MAX_JSON_BYTES};
    let schema = apache_avro::Schema::Bytes;
    let names = Default::default();
    let mut out = String::from("kept");
    let zeros = apache_avro::types::Value::Bytes(vec![0; MAX_JSON_BYTES / 6 + 1]);
    let error = write_avro_json(&zeros, &schema, &names, &mut out).expect_err("too long");
    assert_eq!(error.kind(), crate::format::AvroErrorKind::Limit, "{error}");
    assert!(error.to_string().contains("64 MiB"), "{error}");
    assert_eq!(out, "kept");
    let fits = apache_avro::types::Value::Bytes(vec![0; MAX_JSON_BYTES / 6 - 1]);
    write_avro_json(&fits, &schema, &names, &mut out).expect("fits");
    assert!(out.len() <= MAX_JSON_BYTES + 4);
}
