//! A single-message consumer of records of any type, built from the library's public API
//! only: it decodes each record with its own writer schema into apache-avro's generic value
//! ([`GenericCodec`]), prints it with where it was in the log, and stops through the stop
//! handle after `--max N` records (or on SIGINT). Records that cannot be decoded (hostile
//! bytes, a datum past the decoder's bounds) are one `undecodable message` line each, under
//! `ON_DECODE_ERROR` as in the daemon. With `--reader-schema FILE`, values are resolved to
//! that schema (an Avro schema's JSON), and records that do not resolve are such lines too.
//!
//! ```text
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9094 SCHEMA_REGISTRY_URL=http://127.0.0.1:8082/apis/ccompat/v7 \
//!   cargo run --example print_any -- --topic orders --group printers --max 10
//! ```

use std::process::ExitCode;

use apache_avro::types::Value;
use kafka_avro_daemon::{
    Config, ConsumerSettings, GenericCodec, Record, Shared, Shutdown, SingleConsumer, StopReason,
};

fn main() -> ExitCode {
    match run() {
        Ok(printed) => {
            println!("stopped after {printed} records");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<u64, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        let at = args.iter().position(|a| a == name)?;
        args.get(at + 1).cloned()
    };
    let max: u64 = flag("--max")
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(u64::MAX);

    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let config = Config::from_env()?;
    let topic = flag("--topic").unwrap_or_else(|| config.topic.clone());
    let group = flag("--group").unwrap_or_else(|| "print-any".to_string());
    let shutdown = Shutdown::new();
    shutdown.install_signal_handler()?;
    let shared = Shared::new(&config, &shutdown)?;
    let codec = match flag("--reader-schema") {
        None => GenericCodec::new(),
        Some(path) => GenericCodec::with_reader_schema(&std::fs::read_to_string(&path)?)?,
    };
    let settings = ConsumerSettings::new(group, [topic]);

    let mut printed = 0u64;
    let stop = shutdown.clone();
    let print = |record: &Record<Value>| {
        println!(
            "{} p={} o={} schema={} {:?}",
            record.topic, record.partition, record.offset, record.writer_schema, record.value
        );
        printed += 1;
        if printed >= max {
            stop.stop(StopReason::Requested);
        }
        Ok(())
    };
    SingleConsumer::new(&shared, &codec, settings, print).run()?;
    Ok(printed)
}
