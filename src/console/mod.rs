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

use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::Ordering;

use crate::config::{Config, OnDecodeError, OnHandlerError};
use crate::consumer::{ConsumerSettings, Entry, Membership, SingleConsumer};
use crate::format::{push_latin1, push_string, GenericCodec, SchemaRef};
use crate::handler::{HandlerError, Record};
use crate::kafka::topic_check::check_readable;
use crate::kafka::TopicCheckError;
use crate::lifecycle::{last_line, Shutdown, StopDeadline, StopReason};
use crate::ops::stats::ConsumerStats;
use crate::shared::Shared;
use args::ConsoleArgs;
use json_codec::JsonCodec;

/// The exit statuses of the subcommand (as the daemon's; a stop past its deadline is
/// [`crate::lifecycle::EXIT_STOP_DEADLINE`]).
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
        Err(e) => return last_line(EXIT_USAGE, || eprintln!("error: {e}")),
    };
    init_logging();
    let (status, line) = match consume(&args) {
        Ok(()) => return EXIT_OK,
        Err(Failure::Usage(line)) => (EXIT_USAGE, line),
        Err(Failure::Run(line)) => (EXIT_FAILURE, line),
    };
    // After the stop deadline (or before it began): a stderr nobody reads must not hold the
    // exit either.
    last_line(status, || eprintln!("error: {line}"))
}

/// The log target of the consumer's own lines: its line per undecodable record is the
/// console's own (`error: undecodable message …`), so the consumer's is left out.
const CONSUMER_TARGET: &str = "kafka_avro_daemon::console::consumer";

/// Logs to stderr: warnings and errors unless `RUST_LOG` says otherwise; of the consumer's
/// own lines only errors.
fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .filter_module(CONSUMER_TARGET, log::LevelFilter::Error)
        .init();
}

/// What the stop deadline's line says was left undone: one of the three, as the deadline runs
/// from the start (a stop during the checks at start-up ends by it too); without a final
/// commit, what was printed since the last auto-commit is printed again next time.
const LEFT_AT_THE_DEADLINE: &str = "a check at start-up (the registry, the topic), the \
     record being printed (is stdout read?) or the consumer's close; with --group, records \
     printed since the last auto-commit (auto.commit.interval.ms, 5 s by default) are printed \
     again next time";

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
            let text = read_reader_schema(path)?;
            GenericCodec::with_reader_schema(&text).map_err(|e| {
                Failure::Usage(format!("the reader schema {path} is no Avro schema: {e}"))
            })?
        }
    });
    let shutdown = Shutdown::new();
    shutdown
        .install_signal_handler()
        .map_err(|e| Failure::Run(format!("cannot install the SIGINT/SIGTERM handler: {e}")))?;
    // A stop is bounded as the daemon's is: a stdout nobody reads (a paused pager) holds the
    // record being printed, a hung broker the close; past STOP_TIMEOUT_MS, exit 3.
    let _deadline = StopDeadline::naming(&shutdown, config.stop_timeout, LEFT_AT_THE_DEADLINE)
        .map_err(|e| Failure::Run(format!("cannot start the stop deadline: {e}")))?;
    let shared = Shared::new(&config, &shutdown).map_err(|e| Failure::Usage(e.to_string()))?;
    if !check_registry(&shared)? {
        return Ok(());
    }
    match check_readable(&args.topic, args.group.is_some(), &config, &shutdown) {
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
    // Each record is counted, and each one not decoded is its line on stderr, whatever
    // RUST_LOG says (the consumer's own line for it is filtered out: `init_logging`).
    let after_each = |stats: &ConsumerStats, entry: &Entry| {
        if let Some(error) = &entry.error {
            eprintln!(
                "error: undecodable message at {} p={} o={}: {error}",
                args.topic, entry.tp.partition, entry.offset
            );
        }
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
        .after_each(&after_each)
        .run()
        .map_err(|e| Failure::Run(e.to_string()))
}

/// Whether the registry URL is a Schema Registry API: a wrong path or refused credentials
/// are a usage error now (each record would otherwise wait out its 404s, or its 401s, one by
/// one); a registry that is down or hangs is warned of and waited out per record, as in the
/// daemon. `Ok(false)`: interrupted.
fn check_registry(shared: &Shared) -> Result<bool, Failure> {
    use crate::registry::RegistryError;
    match shared.registry.check_api() {
        Ok(()) => Ok(true),
        Err(RegistryError::Interrupted) => Ok(false),
        Err(e @ RegistryError::Rejected { status: 401, .. }) => Err(Failure::Usage(format!(
            "the schema registry refused the request: {e}"
        ))),
        Err(e @ (RegistryError::Rejected { status: 404, .. } | RegistryError::Tls { .. })) => {
            Err(Failure::Usage(format!(
                "SCHEMA_REGISTRY_URL does not answer as a Schema Registry API: {e}"
            )))
        }
        Err(e) => {
            log::warn!(
                target: LOG_TARGET,
                "the schema registry does not answer yet ({e}); each record waits for it"
            );
            Ok(true)
        }
    }
}

/// A reader schema's JSON is at most this long (a registry's limit is about as much).
const MAX_READER_SCHEMA_BYTES: u64 = 1 << 20;

/// The text of the reader schema at `path`, at most [`MAX_READER_SCHEMA_BYTES`] long.
fn read_reader_schema(path: &str) -> Result<String, Failure> {
    use std::io::Read;
    let cannot = |e: String| Failure::Usage(format!("cannot read the reader schema {path}: {e}"));
    let file = std::fs::File::open(path).map_err(|e| cannot(e.to_string()))?;
    let mut text = String::new();
    file.take(MAX_READER_SCHEMA_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| cannot(e.to_string()))?;
    if text.len() as u64 > MAX_READER_SCHEMA_BYTES {
        return Err(cannot(format!(
            "longer than {} KiB",
            MAX_READER_SCHEMA_BYTES >> 10
        )));
    }
    Ok(text)
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
    settings.log_target = CONSUMER_TARGET.to_string();
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
    let mut stdout = std::io::stdout().lock();
    // The value's text, which may be long, is written as it is, not copied into the line.
    let written = match print_metadata {
        false => stdout
            .write_all(record.value.as_bytes())
            .and_then(|()| stdout.write_all(b"\n")),
        true => stdout
            .write_all(metadata_prefix(record).as_bytes())
            .and_then(|()| stdout.write_all(record.value.as_bytes()))
            .and_then(|()| stdout.write_all(b"}\n")),
    };
    if let Err(e) = written {
        shutdown.stop(StopReason::Requested);
        return Err(format!("cannot write to stdout: {e}").into());
    }
    Ok(())
}

/// The start of `record`'s line with its metadata, up to its value: where it was and what
/// Kafka carried with it. The key, like Avro bytes, is a string of its bytes as ISO-8859-1
/// characters (`null` for none).
fn metadata_prefix(record: &Record<String>) -> String {
    let mut line = String::from("{\"topic\":");
    push_string(&mut line, &record.topic);
    let _ = write!(
        line,
        ",\"partition\":{},\"offset\":{},\"timestamp\":",
        record.partition, record.offset
    );
    match record.timestamp_ms {
        Some(ms) => {
            let _ = write!(line, "{ms}");
        }
        None => line.push_str("null"),
    }
    line.push_str(",\"key\":");
    match record.key() {
        Some(key) => push_latin1(&mut line, key),
        None => line.push_str("null"),
    }
    match &record.writer_schema {
        SchemaRef::Id(id) => {
            let _ = write!(line, ",\"schema_id\":{id}");
        }
        SchemaRef::Guid(guid) => {
            let _ = write!(line, ",\"schema_guid\":\"{guid}\"");
        }
    }
    line.push_str(",\"value\":");
    line
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
        let line = format!("{}{}}}", metadata_prefix(&record), record.value);
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
