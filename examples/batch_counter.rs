//! A batch consumer with its own handler, built from the library's public API only: it reads
//! `User` records from the daemon's topic in its own group, prints how many each batch held,
//! and stops through the stop handle once it has seen `--max N` records (or on SIGINT).
//!
//! Guarantee (the batch consumer's): a batch's offsets are committed only after the handler
//! returned `Ok` for it, so a crash makes this program count some records again, never miss
//! one (at-least-once).
//!
//! ```text
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9094 SCHEMA_REGISTRY_URL=http://127.0.0.1:8082/apis/ccompat/v7 \
//!   cargo run --example batch_counter -- --group counters --max 100
//! ```

use std::process::ExitCode;

use kafka_avro_daemon::{
    BatchConsumer, Config, ConsumerSettings, Record, Shared, Shutdown, StopReason, User, UserCodec,
};

fn main() -> ExitCode {
    match run() {
        Ok(seen) => {
            println!("stopped after {seen} records");
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
    let group = flag("--group").unwrap_or_else(|| "batch-counter".to_string());
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

    let mut seen = 0u64;
    let stop = shutdown.clone();
    let count = |records: &[Record<User>]| {
        seen += records.len() as u64;
        println!("batch of {} records, {seen} in all", records.len());
        if seen >= max {
            stop.stop(StopReason::Requested);
        }
        Ok(())
    };
    BatchConsumer::new(&shared, &codec, settings, count).run()?;
    Ok(seen)
}
