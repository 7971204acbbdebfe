//! The daemon as a whole: start-up (the schema id, once), the threads, and the stop sequence.
//!
//! Stop sequence, in one place: a signal (or a failing loop, through [`Shutdown::fail`], before
//! it flushes or closes its own client) sets the shutdown flag and wakes every sleeper → each loop finishes its turn and leaves its
//! loop → the producer flushes within `FLUSH_TIMEOUT_MS`, the batch consumer processes and
//! commits its partial batch, each consumer closes (committing stored offsets) → the threads
//! are joined here → [`run`] returns `Ok` or the [`DaemonError`] that `main` turns into the
//! exit status. All of it within `STOP_TIMEOUT_MS`, or the `stop-deadline` thread exits the
//! process with status 3 and a line saying what was left.

mod consumer_kind;
pub(crate) mod error;
mod http;
mod log_handlers;
mod metrics;
mod monitor;
mod stop_deadline;
mod user_source;
mod web_console;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, Scope};
use std::time::{Duration, Instant};

use error::{DaemonError, LoopError, StartError};
use log_handlers::{LogBatches, LogRecords};
use metrics::Groups;
use monitor::run_monitor;
use user_source::send_users;
use web_console::{RecentRecords, SchemaShown, SchemaVersion, WebConsole};

use crate::config::Config;
use crate::consumer::{BatchConsumer, SingleConsumer};
use crate::format::UserCodec;
use crate::format::UserLayout;
use crate::kafka::topic_check::check_topics;
use crate::kafka::TopicCheckError;
use crate::lifecycle::shutdown::{Shutdown, StopReason};
use crate::ops::log_target;
use crate::ops::notify::Notifier;
use crate::ops::stats::Stats;
use crate::producer::handle::register;
use crate::producer::registration::Registered;
use crate::producer::Producer;
use crate::registry::{RegistryError, SchemaRegistryClient, REQUEST_TIMEOUT};
use crate::shared::Shared;
pub use consumer_kind::ConsumerKind;

/// The longest schema text the web console shows, in characters.
const SCHEMA_TEXT_CHARS: usize = 32 * 1024;

/// Added to the longest registration for the rest of start-up (clients, threads).
const START_MARGIN: Duration = Duration::from_secs(10);

/// One thread's body: runs until shutdown, `Err` when it cannot go on.
type ThreadBody<'a> = Box<dyn FnOnce() -> Result<(), LoopError> + Send + 'a>;

/// What start-up leaves for the threads.
struct Started {
    codec: UserCodec,
    metrics_listener: Option<std::net::TcpListener>,
    shared: Shared,
    notifier: Notifier,
    registered: Registered<UserLayout>,
    /// For the web console, when the endpoint is on.
    schema_shown: Option<SchemaShown>,
}

/// Runs the daemon until `shutdown` is triggered (by a signal or by a loop that fails).
pub fn run(config: &Config, shutdown: &Shutdown) -> Result<(), DaemonError> {
    let Some(started) = start(config, shutdown)? else {
        return Ok(());
    };
    run_loops(config, shutdown, started)
}

/// Start-up, before any thread: the codec, the metrics address, the registry client, the
/// topics, the schema to write with. `None`: stopped meanwhile, cleanly.
fn start(config: &Config, shutdown: &Shutdown) -> Result<Option<Started>, DaemonError> {
    for weakened in config.weakened_guarantees() {
        log::warn!(target: log_target::DAEMON, "{weakened}");
    }
    let start = |error| Err(DaemonError::Start(error));
    let codec = match UserCodec::new() {
        Ok(codec) => codec,
        Err(e) => return start(StartError::Schema(e)),
    };
    let metrics_listener = match config.metrics_addr.as_deref().map(http::bind).transpose() {
        Ok(listener) => listener,
        Err(e) => return start(e),
    };
    let shared = match Shared::new(config, shutdown) {
        Ok(shared) => shared,
        Err(e) => return start(StartError::RegistryClient(e)),
    };
    let notifier = Notifier::from_env();
    // Before the schema is registered: nothing is written anywhere for a topic that is not
    // there.
    notifier.extend_start(
        config.topic_check_timeout + START_MARGIN,
        "checking the topics",
    );
    match check_topics(config, shutdown) {
        Ok(()) => {}
        // Stopped during the check: by a signal (a clean stop), or by a client error that
        // was already logged (wrong credentials).
        Err(TopicCheckError::Interrupted) => {
            return match shutdown.reason() {
                Some(StopReason::Failed(error)) => Err(DaemonError::Stopped(error)),
                _ => Ok(None),
            }
        }
        Err(e) => return start(StartError::Topics(e)),
    }
    // Registering waits out a registry that is down, within a bound systemd is told of, so a
    // slow registry is not mistaken for a hung start (TimeoutStartSec=); then one request
    // checks that the registry serves the schema under its id.
    notifier.extend_start(
        shared.registry.longest_registration() + REQUEST_TIMEOUT + START_MARGIN,
        "registering the schema",
    );
    let registered = match register(&shared, &codec, &config.topic) {
        Ok(Some(registered)) => registered,
        // Stopped while waiting for the registry: a requested stop, not a failure.
        Ok(None) => return Ok(None),
        Err(e) => return start(StartError::Producer(e)),
    };
    let schema_shown = metrics_listener
        .is_some()
        .then(|| schema_shown(&shared.registry, shutdown, &registered));
    Ok(Some(Started {
        codec,
        metrics_listener,
        shared,
        notifier,
        registered,
        schema_shown,
    }))
}

/// The schema as the web console shows it: its text pretty-printed and cut to
/// [`SCHEMA_TEXT_CHARS`] (a registry's schema can be a mebibyte, and the page is built for
/// every request), and its version, asked by [`ask_schema_version`].
fn schema_shown(
    registry: &SchemaRegistryClient,
    shutdown: &Shutdown,
    registered: &Registered<UserLayout>,
) -> SchemaShown {
    let text = serde_json::from_str::<serde_json::Value>(&registered.text)
        .and_then(|schema| serde_json::to_string_pretty(&schema))
        .unwrap_or_else(|_| registered.text.clone());
    let version = SchemaVersion::default();
    ask_schema_version(
        registry,
        shutdown,
        &registered.subject,
        &registered.text,
        version.clone(),
    );
    SchemaShown {
        subject: registered.subject.clone(),
        id: registered.id,
        version,
        text: web_console::cut(&text, SCHEMA_TEXT_CHARS),
    }
}

/// Asks the registry for the version of `schema` under `subject` (retried as registration is),
/// on a thread of its own with a sibling of `registry` (its HTTP client, not a second one:
/// building one loads the TLS roots again): the start does not wait for it (a registry that
/// hangs would hold it up to `REQUEST_TIMEOUT` past the window systemd was told of), and
/// nothing joins it, so neither does a stop (a stop ends its waits, for an answer too; a
/// request under way ends with the process, or within `REQUEST_TIMEOUT` when a library user's
/// [`run`] returned and the process goes on). The page says `unknown` until it answers, or
/// for good if it fails.
fn ask_schema_version(
    registry: &SchemaRegistryClient,
    shutdown: &Shutdown,
    subject: &str,
    schema: &str,
    version: SchemaVersion,
) {
    let registry = registry.sibling(shutdown.clone());
    let (subject, schema) = (subject.to_string(), schema.to_string());
    let asked = thread::Builder::new()
        .name("schema-version".to_string())
        .spawn(move || {
            let answer = registry.version_of(&subject, &schema);
            match answer {
                Ok(answer) => version.set(answer),
                // Stopped meanwhile: nothing to say.
                Err(RegistryError::Interrupted) => {}
                Err(e) => {
                    log::warn!(target: log_target::METRICS, "console: the schema's version under {subject} is not known: {e}")
                }
            }
        });
    if let Err(e) = asked {
        log::warn!(target: log_target::METRICS, "console: the schema's version will not be asked: {e}");
    }
}

/// The threads, until they all stopped, and how the run ended: the producer (its own threads on an outer scope, so
/// they outlive the loops that borrow it), both consumers, the monitor, the endpoint.
fn run_loops(config: &Config, shutdown: &Shutdown, started: Started) -> Result<(), DaemonError> {
    let Started {
        codec,
        metrics_listener,
        shared,
        notifier,
        registered,
        schema_shown,
    } = started;
    let groups = Groups::of(config);
    // Records are kept only for a console that shows them.
    let kept = if schema_shown.is_some() {
        config.console_records
    } else {
        0
    };
    let recent = ConsumerKind::ALL.map(|_| Arc::new(RecentRecords::new(kept)));
    let console = schema_shown.map(|schema| WebConsole {
        topic: config.topic.clone(),
        groups: groups.clone(),
        schema,
        recent: recent.clone(),
        started: Instant::now(),
    });
    let console = &console;
    let (groups, shared, codec) = (&groups, &shared, &codec);
    let stats = &shared.stats;
    // Three scopes: the stop deadline's thread watches the other two to their end; the
    // producer's own threads (delivery reports, the registry check, the partition count)
    // outlive the loops that borrow it.
    thread::scope(|deadline_scope| {
        // Watched until the producer is dropped too, after the loops: its client's drop purges
        // and flushes (up to 500 ms) and librdkafka's destroy waits for its threads, and both
        // can write lines that a stderr nobody reads holds.
        let watching = watch_the_stop(deadline_scope, config, shutdown, stats);
        let run = thread::scope(|producer_scope| {
            let producer = Producer::start_registered(
                producer_scope,
                shared,
                codec,
                &config.topic,
                registered,
            )
            .map_err(|e| DaemonError::Start(StartError::Producer(e)))?;
            let producer = &producer;
            thread::scope(|scope| {
                let (single, batch) = consumers(config, shared, codec, producer, &recent);
                let mut bodies: Vec<(&'static str, ThreadBody<'_>)> = vec![
                    (
                        "producer",
                        Box::new(|| {
                            let outcome = send_users(producer, config, shutdown, stats);
                            // Before the flush, which waits on the brokers.
                            shutdown.fail_on_error(&outcome);
                            producer.close();
                            log::info!(target: log_target::PRODUCER, "producer exiting");
                            outcome
                        }),
                    ),
                    (
                        ConsumerKind::Single.thread_name(),
                        Box::new(|| single.run()),
                    ),
                    (ConsumerKind::Batch.thread_name(), Box::new(|| batch.run())),
                    (
                        "monitor",
                        Box::new(|| {
                            run_monitor(&notifier, stats, groups, config.stats_interval, shutdown);
                            Ok(())
                        }),
                    ),
                ];
                if let (Some(listener), Some(console)) = (metrics_listener, console) {
                    bodies.push((
                        "metrics",
                        Box::new(move || {
                            http::serve(
                                listener,
                                stats,
                                groups,
                                console,
                                config.registry_degraded_after,
                                shutdown,
                            );
                            Ok(())
                        }),
                    ));
                }
                run_threads(scope, bodies, shutdown);
            });
            Ok(())
        });
        drop(watching);
        run
    })?;
    match shutdown.reason() {
        Some(StopReason::Failed(error)) => Err(DaemonError::Stopped(error)),
        _ => audit_verdict(config, stats),
    }
}

/// The daemon's two consumers: its groups, its topic, its logging handlers, its figures, and
/// the producer's registry probe.
fn consumers<'c, 's: 'c>(
    config: &Config,
    shared: &'s Shared,
    codec: &'s UserCodec,
    producer: &'c Producer<'_, 's, UserCodec>,
    recent: &[Arc<RecentRecords>; 2],
) -> (
    SingleConsumer<'c, UserCodec, LogRecords>,
    BatchConsumer<'c, UserCodec, LogBatches>,
) {
    let stats = &shared.stats;
    let single = SingleConsumer::new(
        shared,
        codec,
        ConsumerKind::Single.settings(config),
        LogRecords {
            target: ConsumerKind::Single.log_target(),
            recent: Arc::clone(&recent[ConsumerKind::Single.index()]),
        },
    )
    .with_registry_probe(producer.registry_probe())
    .with_stats(stats.consumer(ConsumerKind::Single));
    let batch = BatchConsumer::new(
        shared,
        codec,
        ConsumerKind::Batch.settings(config),
        LogBatches {
            target: ConsumerKind::Batch.log_target(),
            recent: Arc::clone(&recent[ConsumerKind::Batch.index()]),
        },
    )
    .with_registry_probe(producer.registry_probe())
    .with_stats(stats.consumer(ConsumerKind::Batch));
    (single, batch)
}

/// Starts the `stop-deadline` thread, which watches the stop until the returned sender is
/// dropped (when everything it covers has ended).
fn watch_the_stop<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    config: &'env Config,
    shutdown: &'env Shutdown,
    stats: &'env Stats,
) -> crossbeam_channel::Sender<()> {
    let (watching, done) = crossbeam_channel::bounded::<()>(0);
    let watcher = thread::Builder::new()
        .name("stop-deadline".to_string())
        .spawn_scoped(scope, move || {
            stop_deadline::enforce(config.stop_timeout, shutdown, &done, stats)
        });
    if let Err(e) = watcher {
        shutdown.fail(LoopError::Spawn {
            thread: "stop-deadline",
            error: e.to_string(),
        });
    }
    watching
}

/// With `AUDIT_FAIL_ON_LOSS=true`, a stop after the audit found lost records is an error of
/// its own (records the producer reported as failed deliveries do not count: it said so).
fn audit_verdict(config: &Config, stats: &Stats) -> Result<(), DaemonError> {
    let lost: Vec<(String, u64)> = ConsumerKind::ALL
        .iter()
        .map(|kind| {
            let lost = crate::ops::stats::read(&stats.consumer(*kind).audit.lost);
            (kind.group_id(config).to_string(), lost)
        })
        .filter(|(_, lost)| *lost > 0)
        .collect();
    if config.audit_fail_on_loss && !lost.is_empty() {
        return Err(DaemonError::AuditLoss { lost });
    }
    Ok(())
}

/// Runs each body on its own named thread and waits for all of them. A body that fails or
/// panics stops the daemon through `shutdown` (so the others stop too, whatever the order they
/// are joined in), with an error that names it. A loop with a Kafka client reports its failure
/// itself before closing the client ([`Shutdown::fail_on_error`]), so the stop and its deadline
/// do not wait for a close that hangs with the brokers.
fn run_threads<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    bodies: Vec<(&'static str, ThreadBody<'env>)>,
    shutdown: &'env Shutdown,
) {
    let mut handles = Vec::new();
    for (name, body) in bodies {
        let spawned =
            thread::Builder::new()
                .name(name.to_string())
                .spawn_scoped(scope, move || {
                    match catch_unwind(AssertUnwindSafe(body)) {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => shutdown.fail(error),
                        // The binary's panic hook logged the panic with its message and place.
                        Err(_) => shutdown.fail_logged(LoopError::Panicked { thread: name }),
                    }
                });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => shutdown.fail(LoopError::Spawn {
                thread: name,
                error: e.to_string(),
            }),
        }
    }
    for handle in handles {
        // A panic was caught in the thread itself; nothing more to learn from the join.
        let _ = handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_panicking_thread_stops_the_others_at_once_and_is_named() {
        let shutdown = Shutdown::new();
        let started = Instant::now();
        thread::scope(|scope| {
            let bodies: Vec<(&'static str, ThreadBody<'_>)> = vec![
                (
                    "waits",
                    Box::new(|| {
                        // Joined first: it must end because the other one panicked.
                        while !shutdown.sleep(Duration::from_secs(60)) {}
                        Ok(())
                    }),
                ),
                ("panics", Box::new(|| panic!("a bug in a loop"))),
            ];
            run_threads(scope, bodies, &shutdown);
        });
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(
            shutdown.reason(),
            Some(StopReason::Failed(LoopError::Panicked { thread: "panics" }))
        );
    }

    /// A consumer context that says when its client is gone (librdkafka destroys the
    /// context last, after closing the consumer).
    struct ClosedFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

    impl rdkafka::ClientContext for ClosedFlag {}
    impl rdkafka::consumer::ConsumerContext for ClosedFlag {}

    impl Drop for ClosedFlag {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// A subscribed consumer of a group (no broker needed: librdkafka connects lazily).
    fn kafka_consumer(
        closed: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> rdkafka::consumer::BaseConsumer<ClosedFlag> {
        use rdkafka::consumer::Consumer;
        let consumer: rdkafka::consumer::BaseConsumer<ClosedFlag> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("group.id", "panic-test")
            .set("log_level", "0")
            .create_with_context(ClosedFlag(closed.clone()))
            .expect("consumer");
        consumer.subscribe(&["t"]).expect("subscribe");
        consumer
    }

    #[test]
    fn a_thread_that_panics_holding_a_kafka_client_closes_it_and_stops_the_others() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let shutdown = Shutdown::new();
        let (panicking_closed, waiting_closed) = (Arc::default(), Arc::default());
        let started = Instant::now();
        thread::scope(|scope| {
            let bodies: Vec<(&'static str, ThreadBody<'_>)> = vec![
                (
                    "waits",
                    Box::new(|| {
                        let consumer = kafka_consumer(&waiting_closed);
                        while !shutdown.is_stopping() {
                            let _ = consumer.poll(Duration::from_millis(100));
                            assert!(started.elapsed() < Duration::from_secs(30), "not stopped");
                        }
                        Ok(())
                    }),
                ),
                (
                    "panics",
                    Box::new(|| {
                        let consumer = kafka_consumer(&panicking_closed);
                        let _ = consumer.poll(Duration::from_millis(100));
                        panic!("a bug in a loop holding a Kafka client");
                    }),
                ),
            ];
            run_threads(scope, bodies, &shutdown);
        });
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(
            shutdown.reason(),
            Some(StopReason::Failed(LoopError::Panicked { thread: "panics" }))
        );
        let closed = |flag: &Arc<AtomicBool>| flag.load(Ordering::SeqCst);
        assert!(
            closed(&panicking_closed),
            "the panicking thread's client was not closed"
        );
        assert!(
            closed(&waiting_closed),
            "the stopped thread's client was not closed"
        );
    }

    #[test]
    fn a_failing_thread_stops_the_daemon_with_its_error() {
        let shutdown = Shutdown::new();
        let error = LoopError::NoDeadLetterProducer {
            client: "batch consumer".to_string(),
        };
        thread::scope(|scope| {
            let failing = error.clone();
            let bodies: Vec<(&'static str, ThreadBody<'_>)> = vec![
                (
                    "waits",
                    Box::new(|| {
                        while !shutdown.sleep(Duration::from_secs(60)) {}
                        Ok(())
                    }),
                ),
                ("fails", Box::new(move || Err(failing))),
            ];
            run_threads(scope, bodies, &shutdown);
        });
        assert_eq!(shutdown.reason(), Some(StopReason::Failed(error)));
    }
}
