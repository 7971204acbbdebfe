//! Micro-benchmarks of the codec: `cargo bench --bench codec`.
//!
//! No framework: each case runs `RUNS` timed runs of `ITERS` iterations (after one untimed
//! warm-up run) and reports the median ns per operation, with the fastest and slowest run.
//! `CODEC_BENCH_ITERS` and `CODEC_BENCH_RUNS` override the defaults (1,000,000 and 7).
//!
//! Cases:
//! - encode+frame, direct: Confluent header + the hand-written Avro encoding into a reused
//!   `Vec` (what the producer does per record, without building the name);
//! - encode+frame, generic: apache-avro's `Value` path (`to_value` + `to_avro_datum`) framed
//!   by `format::encode_framed`;
//! - decode, direct: `format::decode_framed` + `UserCodec::decode` with our own writer schema;
//! - decode, generic: `format::decode_framed` + `UserCodec::decode_generic` (same schema,
//!   through the resolving decoder that every other writer schema takes);
//! - decode, resolved: a record written with a newer schema that has an extra defaulted
//!   field, through `UserCodec::decode` (which takes the resolving decoder, as the daemon's
//!   consumers would).
//!
//! - decode, any schema: an `Order` record (a nested record, an enum, an array, a map, an
//!   optional field, a decimal, a timestamp) through `GenericCodec` (the bounded walk, then
//!   apache-avro's decoder) beside apache-avro's `from_avro_datum` alone; and resolved to a
//!   newer reader schema, `GenericCodec::with_reader_schema` beside `from_avro_datum` with
//!   that reader schema. The issue's target: ours no slower than apache-avro's own.
//!
//! Both decode paths have the direct path's target, 200 ns: until the bounded resolving
//! decoder replaced apache-avro's generic one, they took 740 and 900 ns.

use std::hint::black_box;
use std::time::Instant;

use apache_avro::types::Value;
use kafka_avro_daemon::internals::format::{self, User, UserCodec, USER_SCHEMA_JSON};
use kafka_avro_daemon::{GenericCodec, ValueDecoder};

/// A record of every kind of type a real topic carries.
const ORDER_SCHEMA: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"id","type":"string"},
    {"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"name","type":"string"},{"name":"vip","type":"boolean"}]}},
    {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"],"default":"NEW"}},
    {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
        {"name":"sku","type":"string"},{"name":"qty","type":"int"},
        {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}]}}},
    {"name":"tags","type":{"type":"map","values":"string"}},
    {"name":"note","type":["null","string"],"default":null},
    {"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;

/// `ORDER_SCHEMA` evolved: a field added with a default, `tags` removed, a symbol added.
const ORDER_READER: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"id","type":"string"},
    {"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"name","type":"string"},{"name":"vip","type":"boolean"}]}},
    {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED","REFUNDED"],"default":"NEW"}},
    {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
        {"name":"sku","type":"string"},{"name":"qty","type":"int"},
        {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}]}}},
    {"name":"note","type":["null","string"],"default":null},
    {"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},
    {"name":"channel","type":"string","default":"web"}]}"#;

/// The `n`th order.
fn order(n: usize) -> Value {
    let line = |k: usize| {
        Value::Record(vec![
            ("sku".into(), Value::String(format!("sku-{k}"))),
            ("qty".into(), Value::Int(k as i32 + 1)),
            (
                "price".into(),
                Value::Decimal(apache_avro::Decimal::from((1999 + k as i64).to_be_bytes())),
            ),
        ])
    };
    Value::Record(vec![
        ("id".into(), Value::String(format!("order-{n}"))),
        (
            "customer".into(),
            Value::Record(vec![
                ("name".into(), Value::String(format!("customer {n}"))),
                ("vip".into(), Value::Boolean(n.is_multiple_of(2))),
            ]),
        ),
        (
            "status".into(),
            Value::Enum((n % 3) as u32, ["NEW", "PAID", "SHIPPED"][n % 3].into()),
        ),
        ("lines".into(), Value::Array((0..3).map(line).collect())),
        (
            "tags".into(),
            Value::Map([("gift".to_string(), Value::String("yes".into()))].into()),
        ),
        (
            "note".into(),
            Value::Union(1, Box::new(Value::String("leave at the door".into()))),
        ),
        (
            "placed".into(),
            Value::TimestampMillis(1_700_000_000_000 + n as i64),
        ),
    ])
}

/// A schema id such as the registry hands out.
const SCHEMA_ID: u32 = 42;
/// Distinct records cycled through, so no case works on one cached value only.
const DISTINCT: usize = 1024;

/// The `User` schema plus a field with a default: what a newer producer might write with.
const NEWER_SCHEMA: &str = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[
    {"name":"name","type":"string"},
    {"name":"email","type":"string","default":""}]}"#;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// One benchmark case's result.
struct Figure {
    name: &'static str,
    median_ns: f64,
    min_ns: f64,
    max_ns: f64,
    target_ns: Option<f64>,
}

/// Times `runs` runs of `iters` calls of `op(i)`; returns ns/op of each run, sorted.
fn time_runs(iters: usize, runs: usize, mut op: impl FnMut(usize)) -> Vec<f64> {
    for i in 0..iters {
        op(i);
    }
    let mut per_op: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iters {
                op(i);
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op
}

fn figure(
    name: &'static str,
    target_ns: Option<f64>,
    iters: usize,
    runs: usize,
    op: impl FnMut(usize),
) -> Figure {
    let per_op = time_runs(iters, runs, op);
    Figure {
        name,
        median_ns: per_op[per_op.len() / 2],
        min_ns: per_op[0],
        max_ns: per_op[per_op.len() - 1],
        target_ns,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or other flags are not supported (and ignored).
    let iters = env_number("CODEC_BENCH_ITERS", 1_000_000);
    let runs = env_number("CODEC_BENCH_RUNS", 7);
    let codec = UserCodec::new().expect("schemas/user.avsc parses");
    let own = codec.writer_schema(USER_SCHEMA_JSON).expect("own schema");
    let newer = codec.writer_schema(NEWER_SCHEMA).expect("newer schema");
    let newer_schema = apache_avro::Schema::parse_str(NEWER_SCHEMA).expect("newer schema");

    let users: Vec<User> = (0..DISTINCT as u64)
        .map(|n| User::numbered(n * 7919))
        .collect();
    let framed: Vec<Vec<u8>> = users
        .iter()
        .map(|user| {
            let mut out = Vec::new();
            format::write_header(SCHEMA_ID, &mut out);
            codec.encode(user, &mut out);
            out
        })
        .collect();
    let framed_newer: Vec<Vec<u8>> = users
        .iter()
        .map(|user| {
            let record = Value::Record(vec![
                ("name".into(), Value::String(user.name.clone())),
                ("email".into(), Value::String("someone@example.com".into())),
            ]);
            let datum = apache_avro::to_avro_datum(&newer_schema, record).expect("encodes");
            format::encode_framed(SCHEMA_ID + 1, &datum)
        })
        .collect();
    // Sanity: every path gives the same records, so the timings compare like with like.
    for (i, user) in users.iter().enumerate() {
        let generic = codec.encode_generic(user).expect("generic encode");
        assert_eq!(format::encode_framed(SCHEMA_ID, &generic), framed[i]);
        let (_, datum) = format::decode_framed(Some(&framed[i])).expect("framed");
        assert_eq!(codec.decode(&own, datum).as_ref(), Ok(user));
        assert_eq!(codec.decode_generic(&own, datum).as_ref(), Ok(user));
        let (_, datum) = format::decode_framed(Some(&framed_newer[i])).expect("framed");
        assert_eq!(codec.decode(&newer, datum).as_ref(), Ok(user));
    }

    let mut payload = Vec::with_capacity(64);
    let mut figures = vec![
        figure(
            "encode+frame  direct (header + encode into reused Vec)",
            Some(100.0),
            iters,
            runs,
            |i| {
                payload.clear();
                format::write_header(SCHEMA_ID, &mut payload);
                codec.encode(black_box(&users[i % DISTINCT]), &mut payload);
                black_box(&payload);
            },
        ),
        figure(
            "encode+frame  generic (apache-avro Value + encode_framed)",
            None,
            iters,
            runs,
            |i| {
                let datum = codec
                    .encode_generic(black_box(&users[i % DISTINCT]))
                    .expect("encodes");
                black_box(format::encode_framed(SCHEMA_ID, &datum));
            },
        ),
    ];
    figures.push(figure(
        "produce path  User::numbered + header + encode (daemon)",
        None,
        iters,
        runs,
        |i| {
            let user = User::numbered(black_box(i as u64));
            payload.clear();
            format::write_header(SCHEMA_ID, &mut payload);
            codec.encode(&user, &mut payload);
            black_box(&payload);
        },
    ));
    figures.push(figure(
        "decode        direct (decode_framed + decode, own schema)",
        Some(200.0),
        iters,
        runs,
        |i| {
            let (_, datum) =
                format::decode_framed(Some(black_box(&framed[i % DISTINCT]))).expect("framed");
            black_box(codec.decode(&own, datum).expect("decodes"));
        },
    ));
    figures.push(figure(
        "decode        generic (decode_framed + decode_generic)",
        Some(200.0),
        iters,
        runs,
        |i| {
            let (_, datum) =
                format::decode_framed(Some(black_box(&framed[i % DISTINCT]))).expect("framed");
            black_box(codec.decode_generic(&own, datum).expect("decodes"));
        },
    ));
    figures.push(figure(
        "decode        resolved (writer has an extra defaulted field)",
        Some(200.0),
        iters,
        runs,
        |i| {
            let (_, datum) = format::decode_framed(Some(black_box(&framed_newer[i % DISTINCT])))
                .expect("framed");
            black_box(codec.decode(&newer, datum).expect("decodes"));
        },
    ));

    // Records of any schema: fewer iterations, each is some twenty values.
    let order_schema = apache_avro::Schema::parse_str(ORDER_SCHEMA).expect("order schema");
    let order_reader = apache_avro::Schema::parse_str(ORDER_READER).expect("order reader");
    let orders: Vec<Vec<u8>> = (0..DISTINCT)
        .map(|n| apache_avro::to_avro_datum(&order_schema, order(n)).expect("encodes"))
        .collect();
    let generic = GenericCodec::new();
    let generic_plan = generic.admit(ORDER_SCHEMA).expect("admitted");
    let resolving = GenericCodec::with_reader_schema(ORDER_READER).expect("reader schema");
    let resolving_plan = resolving.admit(ORDER_SCHEMA).expect("admitted");
    for datum in &orders {
        let apache = apache_avro::from_avro_datum(&order_schema, &mut &datum[..], None);
        assert_eq!(generic.decode(&generic_plan, datum).ok(), apache.ok());
        let apache =
            apache_avro::from_avro_datum(&order_schema, &mut &datum[..], Some(&order_reader));
        assert_eq!(resolving.decode(&resolving_plan, datum).ok(), apache.ok());
    }
    let order_iters = (iters / 20).max(1);
    let first_order_case = figures.len();
    figures.push(figure(
        "decode Order  GenericCodec (bounded walk + apache-avro)",
        None,
        order_iters,
        runs,
        |i| {
            let datum = black_box(&orders[i % DISTINCT]);
            black_box(generic.decode(&generic_plan, datum).expect("decodes"));
        },
    ));
    figures.push(figure(
        "decode Order  apache-avro from_avro_datum",
        None,
        order_iters,
        runs,
        |i| {
            let mut datum = &black_box(&orders[i % DISTINCT])[..];
            black_box(
                apache_avro::from_avro_datum(&order_schema, &mut datum, None).expect("decodes"),
            );
        },
    ));
    figures.push(figure(
        "decode Order  GenericCodec, to a reader schema (ours)",
        None,
        order_iters,
        runs,
        |i| {
            let datum = black_box(&orders[i % DISTINCT]);
            black_box(resolving.decode(&resolving_plan, datum).expect("decodes"));
        },
    ));
    figures.push(figure(
        "decode Order  apache-avro from_avro_datum, to a reader schema",
        None,
        order_iters,
        runs,
        |i| {
            let mut datum = &black_box(&orders[i % DISTINCT])[..];
            let decoded =
                apache_avro::from_avro_datum(&order_schema, &mut datum, Some(&order_reader));
            black_box(decoded.expect("decodes"));
        },
    ));

    println!(
        "codec micro-benchmarks: median of {runs} runs x {iters} iterations (ns/op; min..max of the runs)"
    );
    println!(
        "{:<60} {:>9} {:>19} {:>8} {:>7}",
        "case", "median", "min..max", "target", "met"
    );
    for f in &figures {
        let (target, met) = match f.target_ns {
            Some(t) => (
                format!("<={t:.0}"),
                if f.median_ns <= t { "yes" } else { "NO" },
            ),
            None => ("-".to_string(), "-"),
        };
        println!(
            "{:<60} {:>9.1} {:>19} {:>8} {:>7}",
            f.name,
            f.median_ns,
            format!("{:.1}..{:.1}", f.min_ns, f.max_ns),
            target,
            met
        );
    }
    let ratio = |a: usize, b: usize| figures[b].median_ns / figures[a].median_ns;
    println!(
        "generic/direct: encode {:.1}x, decode {:.1}x; resolved/direct decode {:.1}x",
        ratio(0, 1),
        ratio(3, 4),
        ratio(3, 5)
    );
    let o = first_order_case;
    println!(
        "Order: GenericCodec/apache-avro {:.2}x as written, {:.2}x to a reader schema (<= 1: no slower)",
        ratio(o + 1, o),
        ratio(o + 3, o + 2)
    );
}
