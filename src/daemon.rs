//! Start-up and the loops: register the schema once, then run the producer, the
//! single-message consumer and the batch consumer on their own OS threads, with a monitor
//! thread (systemd notify, watchdog, stats line) and, if configured, the metrics endpoint.

use std::thread;

use crate::batch_consumer::run_batch_consumer;
use crate::codec::UserCodec;
use crate::config::{Config, OnDecodeError};
use crate::consumer::Intake;
use crate::dead_letter::DeadLetters;
use crate::metrics::{self, Groups};
use crate::monitor::run_monitor;
use crate::notify::Notifier;
use crate::producer::run_producer;
use crate::registry::{RegistryError, SchemaRegistryClient};
use crate::shutdown::{Shutdown, StopReason};
use crate::single_consumer::run_single_consumer;
use crate::stats::{Stats, BATCH, SINGLE};

/// One thread's body: runs until shutdown, `Err` with one line when it cannot go on.
type ThreadBody<'a> = Box<dyn FnOnce() -> Result<(), String> + Send + 'a>;

/// Runs the daemon until `shutdown` is triggered (by a signal or by a loop that fails).
/// Returns `Err` with one line for the user when start-up or any loop failed.
pub fn run(config: &Config, shutdown: &Shutdown, stats: &Stats) -> Result<(), String> {
    let codec = UserCodec::new().map_err(|e| e.to_string())?;
    let metrics_listener = config
        .metrics_addr
        .as_deref()
        .map(metrics::bind)
        .transpose()?;
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

    let groups = Groups {
        single: config.single_group_id.clone(),
        batch: config.batch_group_id.clone(),
    };
    let dead_letters = match config.on_decode_error {
        OnDecodeError::DeadLetter => Some(DeadLetters::create(config, shutdown)?),
        OnDecodeError::Skip | OnDecodeError::Fail => None,
    };
    let intake = Intake {
        config,
        registry: &registry,
        codec: &codec,
        dead_letters: dead_letters.as_ref(),
        shutdown,
    };
    let notifier = Notifier::from_env();
    thread::scope(|scope| {
        let mut bodies: Vec<(&str, ThreadBody<'_>)> = vec![
            (
                "producer",
                Box::new(|| run_producer(config, schema_id, &codec, shutdown, stats)),
            ),
            (
                "single-consumer",
                Box::new(|| run_single_consumer(&intake, &stats.consumers[SINGLE])),
            ),
            (
                "batch-consumer",
                Box::new(|| run_batch_consumer(&intake, &stats.consumers[BATCH])),
            ),
            (
                "monitor",
                Box::new(|| {
                    run_monitor(&notifier, stats, &groups, config.stats_interval, shutdown);
                    Ok(())
                }),
            ),
        ];
        if let Some(listener) = metrics_listener {
            let groups = &groups;
            bodies.push((
                "metrics",
                Box::new(move || {
                    metrics::serve(listener, stats, groups, shutdown);
                    Ok(())
                }),
            ));
        }
        let mut handles = Vec::new();
        for (name, body) in bodies {
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
