//! Start-up and the three loops: register the schema once, then run the producer, the
//! single-message consumer and the batch consumer on their own OS threads until shutdown.

use std::thread;

use crate::batch_consumer::run_batch_consumer;
use crate::codec::UserCodec;
use crate::config::Config;
use crate::producer::run_producer;
use crate::registry::{RegistryError, SchemaRegistryClient};
use crate::shutdown::{Shutdown, StopReason};
use crate::single_consumer::run_single_consumer;
use crate::stats::{Stats, BATCH, SINGLE};

/// One loop's body: runs until shutdown, `Err` with one line when it cannot go on.
type LoopBody<'a> = Box<dyn FnOnce() -> Result<(), String> + Send + 'a>;

/// Runs the daemon until `shutdown` is triggered (by a signal or by a loop that fails).
/// Returns `Err` with one line for the user when start-up or any loop failed.
pub fn run(config: &Config, shutdown: &Shutdown, stats: &Stats) -> Result<(), String> {
    let codec = UserCodec::new().map_err(|e| e.to_string())?;
    let registry = SchemaRegistryClient::new(
        &config.schema_registry_url,
        config.schema_registry_user_info.as_deref(),
        config.schema_registry_retries,
        shutdown.clone(),
    )
    .map_err(|e| e.to_string())?;
    let subject = format!("{}-value", config.topic);
    let schema_id = match registry.register(&subject, codec.registration_text()) {
        Ok(id) => id,
        // Stopped while waiting for the registry: a requested stop, not a failure.
        Err(RegistryError::Interrupted) => return Ok(()),
        Err(e) => {
            return Err(format!(
                "cannot register the User schema under subject {subject}: {e}"
            ))
        }
    };
    log::info!("schema registered under subject {subject} with id {schema_id}");

    thread::scope(|scope| {
        let loops: [(&str, LoopBody<'_>); 3] = [
            (
                "producer",
                Box::new(|| run_producer(config, schema_id, &codec, shutdown, stats)),
            ),
            (
                "single-consumer",
                Box::new(|| {
                    run_single_consumer(
                        config,
                        &registry,
                        &codec,
                        shutdown,
                        &stats.consumers[SINGLE],
                    )
                }),
            ),
            (
                "batch-consumer",
                Box::new(|| {
                    run_batch_consumer(config, &registry, &codec, shutdown, &stats.consumers[BATCH])
                }),
            ),
        ];
        let mut handles = Vec::new();
        for (name, body) in loops {
            let spawned =
                thread::Builder::new()
                    .name(name.to_string())
                    .spawn_scoped(scope, move || {
                        // A loop that ends on its own error takes the whole daemon down with it.
                        if let Err(message) = body() {
                            shutdown.fail(message);
                        }
                    });
            match spawned {
                Ok(handle) => handles.push((name, handle)),
                Err(e) => shutdown.fail(format!("cannot start the {name} thread: {e}")),
            }
        }
        for (name, handle) in handles {
            if handle.join().is_err() {
                shutdown.fail(format!("the {name} thread panicked"));
            }
        }
    });

    match shutdown.reason() {
        Some(StopReason::Failed(message)) => Err(message),
        _ => Ok(()),
    }
}
