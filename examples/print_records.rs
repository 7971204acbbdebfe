//! A single-message consumer with a closure for a handler, built from the library's public API
//! only: it prints every `User` record of the daemon's topic, read in its own group, with where
//! it was in the log, and stops through the stop handle after `--max N` records (or on SIGINT).
//!
//! Guarantee (the single consumer's): a record's offset is stored for the next auto-commit
//! only after the handler returned `Ok` for it, so a crash makes this program print some
//! records again, never skip one (at-least-once).
//!
//! ```text
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9094 SCHEMA_REGISTRY_URL=http://127.0.0.1:8082/apis/ccompat/v7 \
//!   cargo run --example print_records -- --group printers --max 10
//! ```

use std::process::ExitCode;

use kafka_avro_daemon::{
    Config, ConsumerSettings, Record, Shared, Shutdown, SingleConsumer, StopReason, User, UserCodec,
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
    let group = flag("--group").unwrap_or_else(|| "print-records".to_string());
    let max: u64 = flag("--max")
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(u64::MAX);

    let config = Config::from_env()?;
    let shutdown = Shutdown::new();
    shutdown.install_signal_handler()?;
    let shared = Shared::new(&config, &shutdown)?;
    let codec = UserCodec::new()?;
    let settings = ConsumerSettings::new(group, [config.topic.clone()]);

    let mut printed = 0u64;
    let stop = shutdown.clone();
    let print = |record: &Record<User>| {
        let key = match record.key() {
            Some(key) => String::from_utf8_lossy(key).into_owned(),
            None => "null".to_string(),
        };
        println!(
            "{} p={} o={} key={key} schema={} {}",
            record.topic, record.partition, record.offset, record.writer_schema, record.value.name
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
