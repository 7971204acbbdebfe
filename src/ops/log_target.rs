//! Every log target the daemon writes under, declared once. Operators filter on these
//! (`RUST_LOG=info,kafka_avro_daemon::delivery=warn`) and README.md lists them, so they are
//! pinned here rather than taken from module paths: moving a file changes no target.

/// The binary's own lines (`stopped`, start-up failures).
pub const MAIN: &str = "kafka_avro_daemon";
/// Start-up: the schema id, the threads.
pub const DAEMON: &str = "kafka_avro_daemon::daemon";
/// `Shutting down...` and the error that stopped the daemon.
pub const SHUTDOWN: &str = "kafka_avro_daemon::shutdown";
/// The send loop, the flush and the producer's summary.
pub const PRODUCER: &str = "kafka_avro_daemon::producer";
/// One `delivered to <topic> (p=…, o=…)` line per acknowledged record.
pub const DELIVERY: &str = "kafka_avro_daemon::delivery";
/// Copies to `<topic>.dlq`.
pub const DEAD_LETTER: &str = "kafka_avro_daemon::dead_letter";
/// What both consumers share: rebalances, poll errors, dead-letter copies.
pub const CONSUMER: &str = "kafka_avro_daemon::consumer";
/// The single-message consumer's `received` lines and its own events.
pub const SINGLE_CONSUMER: &str = "kafka_avro_daemon::single_consumer";
/// The batch consumer's `received` lines and its own events.
pub const BATCH_CONSUMER: &str = "kafka_avro_daemon::batch_consumer";
/// The delivery audit: losses, duplicate writes, reorderings, the `audit:` summary at stop.
pub const AUDIT: &str = "kafka_avro_daemon::audit";
/// Waiting for a writer schema the registry cannot give yet.
pub const DECODE: &str = "kafka_avro_daemon::decode";
/// Registry requests that are retried.
pub const REGISTRY: &str = "kafka_avro_daemon::registry";
/// At `debug`: the stages of each sampled record (sent, polled, decoded, handled,
/// committed), as the consumer's commit finishes it.
pub const STAGES: &str = "kafka_avro_daemon::stages";
/// Client-level Kafka errors.
pub const KAFKA: &str = "kafka_avro_daemon::kafka";
/// The stats line and stalled loops.
pub const MONITOR: &str = "kafka_avro_daemon::monitor";
/// The metrics endpoint.
pub const METRICS: &str = "kafka_avro_daemon::metrics";
/// The systemd notify socket.
pub const NOTIFY: &str = "kafka_avro_daemon::notify";
/// librdkafka's own log lines, forwarded.
pub const LIBRDKAFKA: &str = "librdkafka";

/// Every target above, for the test that holds README.md to them.
pub const ALL: &[&str] = &[
    MAIN,
    DAEMON,
    SHUTDOWN,
    PRODUCER,
    DELIVERY,
    DEAD_LETTER,
    CONSUMER,
    SINGLE_CONSUMER,
    BATCH_CONSUMER,
    AUDIT,
    DECODE,
    REGISTRY,
    STAGES,
    KAFKA,
    MONITOR,
    METRICS,
    NOTIFY,
    LIBRDKAFKA,
];
