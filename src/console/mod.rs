//! `kafka-avro-daemon consume`: the terminal view of a topic, as Confluent users know it from
//! `kafka-avro-console-consumer`. Each record is one line of JSON on stdout (its value in the
//! Avro JSON encoding, `format/avro_json.rs`), decoded with its own writer schema by the same
//! bounded decoder, registry client and `LIBRDKAFKA_*` pass-through as the daemon's
//! consumers; a record that cannot be decoded is one error line on stderr, and reading goes
//! on. It is the library's single consumer with a printing handler:
//! - without `--group` it assigns itself every partition and commits nothing; with one, it
//!   stores a record's offset for auto-commit only once the record was printed;
//! - a registry outage is waited out, as in the daemon (never a reason to skip);
//! - `--max-messages` counts every record, printed or reported.

mod args;
mod json_codec;

use std::io::Write;
use std::sync::atomic::Ordering;

use crate::config::{Config, OnDecodeError, OnHandlerError};
use crate::consumer::{ConsumerSettings, Membership, SingleConsumer};
use crate::format::{GenericCodec, SchemaRef};
use crate::handler::{HandlerError, Record};
use crate::kafka::topic_check::check_readable;
use crate::kafka::TopicCheckError;
use crate::lifecycle::{Shutdown, StopReason};
use crate::ops::stats::ConsumerStats;
use crate::shared::Shared;
use args::ConsoleArgs;
use json_codec::JsonCodec;

/// The exit statuses of the subcommand (as the daemon's).
const EXIT_OK: u8 = 0;
const EXIT_FAILURE: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// The log target of the console's own lines (the undecodable records' among them).
const LOG_TARGET: &str = "kafka_avro_daemon::console";

/// Runs `consume` with the arguments after the subcommand; returns the exit status. Logs to
/// stderr (warnings and errors unless `RUST_LOG` says otherwise).
pub fn run(args: &[String]) -> u8 {
    let args = match args::parse(args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{}", args::help_text());
            return EXIT_OK;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match consume(&args) {
        Ok(()) => EXIT_OK,
        Err(Failure::Usage(line)) => {
            eprintln!("error: {line}");
            EXIT_USAGE
        }
        Err(Failure::Run(line)) => {
            eprintln!("error: {line}");
            EXIT_FAILURE
        }
    }
}

/// Why the console stopped before it was asked to.
enum Failure {
    /// Bad arguments or configuration: exit 2.
    Usage(String),
    /// The topic, the brokers or reading failed: exit 1.
    Run(String),
}

fn consume(args: &ConsoleArgs) -> Result<(), Failure> {
    let config = console_config(&args.topic)?;
    let codec = JsonCodec::new(match &args.reader_schema {
        None => GenericCodec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::Usage(format!("cannot read the reader schema {path}: {e}"))
            })?;
            GenericCodec::with_reader_schema(&text).map_err(|e| {
                Failure::Usage(format!("the reader schema {path} is no Avro schema: {e}"))
            })?
        }
    });
    let shutdown = Shutdown::new();
    shutdown
        .install_signal_handler()
        .map_err(|e| Failure::Run(format!("cannot install the SIGINT/SIGTERM handler: {e}")))?;
    let shared = Shared::new(&config, &shutdown).map_err(|e| Failure::Usage(e.to_string()))?;
    match check_readable(&args.topic, &config, &shutdown) {
        Ok(()) => {}
        Err(TopicCheckError::Interrupted) => return Ok(()),
        Err(TopicCheckError::Missing(_)) => {
            return Err(Failure::Run(format!(
                "topic {} does not exist (KAFKA_BOOTSTRAP_SERVERS={})",
                args.topic, config.bootstrap_servers
            )))
        }
        Err(e) => return Err(Failure::Run(e.to_string())),
    }

    let settings = settings_of(args);
    if args.group.is_none() {
        log::debug!(
            target: LOG_TARGET,
            "reading every partition of {} alone (group id {}, nothing committed)",
            args.topic,
            settings.group
        );
    }
    let stats = ConsumerStats::default();
    let stop_at_max = |stats: &ConsumerStats| {
        let seen =
            stats.consumed.load(Ordering::Relaxed) + stats.decode_errors.load(Ordering::Relaxed);
        if args.max_messages.is_some_and(|max| seen >= max) {
            shutdown.stop(StopReason::Requested);
        }
    };
    let print_metadata = args.print_metadata;
    let print = |record: &Record<String>| print_record(record, print_metadata, &shutdown);
    SingleConsumer::new(&shared, &codec, settings, print)
        .with_stats(&stats)
        .after_each(&stop_at_max)
        .run()
        .map_err(|e| Failure::Run(e.to_string()))
}

/// The daemon's configuration from the environment, as the console uses it: undecodable
/// records are reported and passed (never stopped at, never copied to a dead-letter topic),
/// no statistics lines, no topic created.
fn console_config(topic: &str) -> Result<Config, Failure> {
    let config = Config::from_env().map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(Config {
        topic: topic.to_string(),
        on_decode_error: OnDecodeError::Skip,
        on_handler_error: OnHandlerError::Fail,
        stats_interval: None,
        create_topics: false,
        ..config
    })
}

/// Who the console is: a member of `--group`, or alone under a group id of its own that
/// nothing is committed under.
fn settings_of(args: &ConsoleArgs) -> ConsumerSettings {
    let from_beginning = args.from_beginning;
    let (group, membership) = match &args.group {
        Some(group) => (group.clone(), Membership::Group { from_beginning }),
        None => (
            format!("kafka-avro-daemon-console-{}", uuid::Uuid::new_v4()),
            Membership::Alone { from_beginning },
        ),
    };
    let mut settings = ConsumerSettings::new(group, [args.topic.clone()]);
    settings.name = "console".to_string();
    settings.label = "console".to_string();
    settings.log_target = LOG_TARGET.to_string();
    settings.membership = membership;
    settings
}

/// Prints `record` as one line; a line that cannot be written (stdout closed: `| head`)
/// stops the console, the record not counted as printed.
fn print_record(
    record: &Record<String>,
    print_metadata: bool,
    shutdown: &Shutdown,
) -> Result<(), HandlerError> {
    let line = match print_metadata {
        false => format!("{}\n", record.value),
        true => format!("{}\n", with_metadata(record)),
    };
    let written = std::io::stdout().lock().write_all(line.as_bytes());
    if let Err(e) = written {
        shutdown.stop(StopReason::Requested);
        return Err(format!("cannot write to stdout: {e}").into());
    }
    Ok(())
}

/// `record`'s value inside an object with where it was and what Kafka carried with it. The
/// key, like Avro bytes, is a string of its bytes as ISO-8859-1 characters (`null` for none).
fn with_metadata(record: &Record<String>) -> String {
    let key = match record.key() {
        Some(key) => json_string(&latin1(key)),
        None => "null".to_string(),
    };
    let timestamp = match record.timestamp_ms {
        Some(ms) => ms.to_string(),
        None => "null".to_string(),
    };
    let schema = match &record.writer_schema {
        SchemaRef::Id(id) => format!("\"schema_id\":{id}"),
        SchemaRef::Guid(guid) => format!("\"schema_guid\":\"{guid}\""),
    };
    format!(
        "{{\"topic\":{},\"partition\":{},\"offset\":{},\"timestamp\":{timestamp},\"key\":{key},{schema},\"value\":{}}}",
        json_string(&record.topic),
        record.partition,
        record.offset,
        record.value
    )
}

/// Bytes as the characters U+0000..U+00FF, as Avro JSON writes bytes.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::Wire;

    #[test]
    fn metadata_wraps_the_value_with_its_place_key_and_schema() {
        let key = b"k\xe9\"y";
        let record = Record::with_wire(
            std::sync::Arc::from("orders"),
            2,
            7,
            Some(1_700_000_000_000),
            SchemaRef::Id(5),
            r#"{"id":1}"#.to_string(),
            Wire::with_key(Some(key), key.len()),
        );
        let line = with_metadata(&record);
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["topic"], "orders");
        assert_eq!(parsed["partition"], 2);
        assert_eq!(parsed["offset"], 7);
        assert_eq!(parsed["timestamp"], 1_700_000_000_000i64);
        assert_eq!(parsed["key"], "k\u{e9}\"y");
        assert_eq!(parsed["schema_id"], 5);
        assert_eq!(parsed["value"]["id"], 1);
    }
}
