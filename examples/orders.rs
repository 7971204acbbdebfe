//! Records of your own schema, both ways, from the library's public API only: an `Order` (a
//! nested record, an enum, an array of records with decimals, a map, an optional field, a
//! timestamp; `schemas/examples/order-v1.avsc`).
//!
//! - `produce`: the library's producer with a [`GenericEncoder`] sends `--count` orders
//!   (registered under `<topic>-value`, framed as the daemon frames `User`), keyed by id.
//! - `consume`: a single consumer reads every order as version 1 says
//!   ([`GenericCodec::with_reader_schema`]), whatever version wrote it: a later version's
//!   added fields are dropped, its removed ones filled from version 1's defaults, a status
//!   version 1 lacks read as its default. Its handler prints one line per order with the
//!   total of its lines; it stops after `--max` orders (or on SIGINT).
//!
//! ```text
//! export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9094 SCHEMA_REGISTRY_URL=http://127.0.0.1:8082/apis/ccompat/v7
//! cargo run --example orders -- produce --topic orders --count 5
//! cargo run --example orders -- consume --topic orders --group order-totals --max 5
//! ```

use std::process::ExitCode;

use apache_avro::types::Value;
use kafka_avro_daemon::{
    Config, ConsumerSettings, GenericCodec, GenericEncoder, Producer, Record, Shared, Shutdown,
    SingleConsumer, StopReason,
};

const ORDER_V1: &str = include_str!("../schemas/examples/order-v1.avsc");

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error>;

fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        let at = args.iter().position(|a| a == name)?;
        args.get(at + 1).cloned()
    };
    let number = |name: &str| -> Result<u64, Error> {
        Ok(flag(name)
            .map(|n| n.parse())
            .transpose()?
            .unwrap_or(u64::MAX))
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let config = Config::from_env()?;
    let topic = flag("--topic").ok_or("--topic is required")?;
    let shutdown = Shutdown::new();
    shutdown.install_signal_handler()?;
    let shared = Shared::new(&config, &shutdown)?;
    match args.get(1).map(String::as_str) {
        Some("produce") => produce(&shared, &topic, number("--count")?.min(1_000_000)),
        Some("consume") => {
            let group = flag("--group").unwrap_or_else(|| "order-totals".to_string());
            consume(&shared, &shutdown, &topic, group, number("--max")?)
        }
        _ => Err("usage: orders produce|consume --topic T [--count N | --group G --max N]".into()),
    }
}

fn produce(shared: &Shared, topic: &str, count: u64) -> Result<(), Error> {
    let encoder = GenericEncoder::new(ORDER_V1)?;
    std::thread::scope(|scope| -> Result<(), Error> {
        let producer = Producer::start(scope, shared, &encoder, topic)?;
        for n in 0..count {
            let id = apache_avro::Uuid::from_u128(u128::from(n) + 1);
            producer.send(&order(n, id), Some(id.to_string().as_bytes()))?;
        }
        producer.close();
        println!("sent {count} orders");
        Ok(())
    })
}

/// Order `n`: `n % 3 + 1` lines at `n + 1` × 9.99 each, every third one with a note.
fn order(n: u64, id: apache_avro::Uuid) -> Value {
    let lines = (0..n % 3 + 1)
        .map(|i| {
            let cents = 999 * i64::try_from(n + 1).unwrap_or(0);
            Value::Record(vec![
                ("sku".into(), Value::String(format!("sku-{i}"))),
                ("quantity".into(), Value::Int(1)),
                ("price".into(), Value::Decimal(decimal(cents))),
            ])
        })
        .collect();
    let note = match n % 3 {
        0 => Value::Union(1, Box::new(Value::String(format!("gift {n}")))),
        _ => Value::Union(0, Box::new(Value::Null)),
    };
    Value::Record(vec![
        ("id".into(), Value::Uuid(id)),
        (
            "customer".into(),
            Value::Record(vec![
                ("name".into(), Value::String(format!("customer {n}"))),
                ("email".into(), Value::Union(0, Box::new(Value::Null))),
            ]),
        ),
        ("status".into(), Value::Enum(1, "PAID".into())),
        ("lines".into(), Value::Array(lines)),
        (
            "attributes".into(),
            Value::Map([("source".to_string(), Value::String("example".into()))].into()),
        ),
        ("note".into(), note),
        (
            "placed_at".into(),
            Value::TimestampMillis(1_700_000_000_000 + i64::try_from(n).unwrap_or(0)),
        ),
    ])
}

/// `unscaled` as a decimal's bytes: two's complement, big-endian, as short as it goes.
fn decimal(unscaled: i64) -> apache_avro::Decimal {
    let bytes = unscaled.to_be_bytes();
    let sign = if unscaled < 0 { 0xFF } else { 0x00 };
    // Drop a leading sign byte while the next byte still carries the sign.
    let start = (0..7)
        .take_while(|&i| bytes[i] == sign && (bytes[i + 1] & 0x80) == (sign & 0x80))
        .count();
    apache_avro::Decimal::from(bytes[start..].to_vec())
}

fn consume(
    shared: &Shared,
    shutdown: &Shutdown,
    topic: &str,
    group: String,
    max: u64,
) -> Result<(), Error> {
    let codec = GenericCodec::with_reader_schema(ORDER_V1)?;
    let settings = ConsumerSettings::new(group, [topic]);
    let mut seen = 0u64;
    let print = |record: &Record<Value>| {
        println!(
            "{} (p={} o={} schema={})",
            describe(&record.value),
            record.partition,
            record.offset,
            record.writer_schema
        );
        seen += 1;
        if seen >= max {
            shutdown.stop(StopReason::Requested);
        }
        Ok(())
    };
    SingleConsumer::new(shared, &codec, settings, print).run()?;
    Ok(())
}

/// `order <id>: <status> for <customer>, <n> lines, total <sum>, note <note>`.
fn describe(order: &Value) -> String {
    let field = |name: &str| match order {
        Value::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        _ => None,
    };
    let id = match field("id") {
        Some(Value::Uuid(id)) => id.to_string(),
        other => format!("{other:?}"),
    };
    let status = match field("status") {
        Some(Value::Enum(_, symbol)) => symbol.clone(),
        other => format!("{other:?}"),
    };
    let customer = match field("customer") {
        Some(Value::Record(fields)) => match fields.first() {
            Some((_, Value::String(name))) => name.clone(),
            other => format!("{other:?}"),
        },
        other => format!("{other:?}"),
    };
    // Prices and quantities are the writer's: a total past i128 (or a price longer than 16
    // bytes) is said, not wrapped around nor a panic that would stop the consumer on it.
    let (count, cents) = match field("lines") {
        Some(Value::Array(lines)) => (
            lines.len(),
            lines
                .iter()
                .try_fold(0i128, |total, line| total.checked_add(line_cents(line)?)),
        ),
        _ => (0, Some(0)),
    };
    let note = match field("note") {
        Some(Value::Union(_, inner)) => match inner.as_ref() {
            Value::String(note) => note.clone(),
            _ => "none".to_string(),
        },
        other => format!("{other:?}"),
    };
    let total = match cents {
        Some(cents) => {
            let sign = if cents < 0 { "-" } else { "" };
            let units = cents.unsigned_abs();
            format!("{sign}{}.{:02}", units / 100, units % 100)
        }
        None => "out of range".to_string(),
    };
    format!("order {id}: {status} for {customer}, {count} lines, total {total}, note {note}")
}

/// A line's price × quantity, in cents (the decimal's scale is 2); `None` past i128.
fn line_cents(line: &Value) -> Option<i128> {
    let Value::Record(fields) = line else {
        return Some(0);
    };
    let mut cents = 0i128;
    let mut quantity = 1i128;
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("quantity", Value::Int(q)) => quantity = i128::from(*q),
            ("price", Value::Decimal(price)) => {
                let bytes = Vec::<u8>::try_from(price.clone()).unwrap_or_default();
                if bytes.len() > 16 {
                    return None;
                }
                // Two's complement, big-endian, sign-extended.
                let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
                let start: i128 = if negative { -1 } else { 0 };
                cents = bytes
                    .iter()
                    .fold(start, |acc, &b| (acc << 8) | i128::from(b));
            }
            _ => {}
        }
    }
    cents.checked_mul(quantity)
}
