//! The daemon's failures, typed. Each reaches the operator as one line; [`DaemonError`] says
//! whether that line was already logged, so `main` neither repeats it nor loses it.

use std::fmt;
use std::time::Duration;

use rdkafka::error::KafkaError;

use crate::consumer::DecodeError;
use crate::format::AvroError;
use crate::kafka::TopicCheckError;
use crate::registry::RegistryError;

/// Exit status of a daemon that stopped cleanly (also when asked to stop during start-up).
pub const EXIT_OK: u8 = 0;
/// Exit status of a failure at start-up or while running.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a configuration the daemon cannot use (systemd does not restart it).
pub const EXIT_CONFIG: u8 = 2;
/// Exit status of a stop that did not finish within `STOP_TIMEOUT_MS`: the process exits
/// anyway, after one line saying what was left.
pub const EXIT_STOP_DEADLINE: u8 = 3;

/// Exit status of a stop after the delivery audit found lost records, with
/// `AUDIT_FAIL_ON_LOSS=true` (the unit file keeps systemd from restarting away the evidence).
pub const EXIT_AUDIT_LOSS: u8 = 4;

/// Why `run` returned an error.
#[derive(Debug)]
pub enum DaemonError {
    /// Start-up failed before any loop ran; not logged yet.
    Start(StartError),
    /// A loop failed and stopped the daemon; logged when it happened.
    Stopped(LoopError),
    /// The daemon stopped as asked, but the delivery audit found lost records and
    /// `AUDIT_FAIL_ON_LOSS=true`: `(group, records lost)` per group that lost any; not logged
    /// yet.
    AuditLoss { lost: Vec<(String, u64)> },
}

impl DaemonError {
    /// Whether the error line was already logged.
    pub fn already_reported(&self) -> bool {
        matches!(self, DaemonError::Stopped(_))
    }

    /// The process's exit status for this error.
    pub fn exit_status(&self) -> u8 {
        match self {
            DaemonError::Start(_) | DaemonError::Stopped(_) => EXIT_FAILURE,
            DaemonError::AuditLoss { .. } => EXIT_AUDIT_LOSS,
        }
    }
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Start(e) => e.fmt(f),
            DaemonError::Stopped(e) => e.fmt(f),
            DaemonError::AuditLoss { lost } => {
                write!(f, "the delivery audit found lost records:")?;
                for (i, (group, count)) in lost.iter().enumerate() {
                    let comma = if i == 0 { "" } else { "," };
                    write!(f, "{comma} {count} in group {group}")?;
                }
                write!(f, " (AUDIT_FAIL_ON_LOSS=true; the audit: lines say which)")
            }
        }
    }
}

impl std::error::Error for DaemonError {}

/// A start-up step that failed.
#[derive(Debug)]
pub enum StartError {
    /// `schemas/user.avsc` compiled into the binary does not parse.
    Schema(AvroError),
    /// `METRICS_ADDR` cannot be listened on.
    MetricsAddress {
        address: String,
        error: std::io::Error,
    },
    /// The registry client cannot be built.
    RegistryClient(RegistryError),
    /// The schema could not be registered.
    Register {
        subject: String,
        error: RegistryError,
    },
    /// `SCHEMA_REGISTRY_AUTO_REGISTER=false` and the schema is not under the subject.
    Lookup {
        subject: String,
        error: RegistryError,
    },
    /// `SCHEMA_REGISTRY_USE_LATEST=true` and the subject's latest version cannot be fetched.
    Latest {
        subject: String,
        error: RegistryError,
    },
    /// `SCHEMA_REGISTRY_USE_LATEST=true` and a `User` cannot be written with the latest version.
    LatestUnusable {
        subject: String,
        id: u32,
        error: AvroError,
    },
    /// The dead-letter producer cannot be created.
    DeadLetterProducer(KafkaError),
    /// A topic the daemon uses is missing, not permitted, or could not be checked.
    Topics(TopicCheckError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Schema(e) => e.fmt(f),
            StartError::MetricsAddress { address, error } => {
                write!(f, "cannot listen on METRICS_ADDR={address}: {error}")
            }
            StartError::RegistryClient(e) => e.fmt(f),
            StartError::Register { subject, error } => write!(
                f,
                "cannot register the User schema under subject {subject}: {error}"
            ),
            StartError::Lookup { subject, error } if error.is_not_found() => write!(
                f,
                "the User schema is not registered under subject {subject} and SCHEMA_REGISTRY_AUTO_REGISTER=false: {error}; register schemas/user.avsc under {subject} first (POST {{\"schema\": …}} to <registry>/subjects/{subject}/versions), or let the daemon register it (SCHEMA_REGISTRY_AUTO_REGISTER=true)"
            ),
            StartError::Lookup { subject, error } => write!(
                f,
                "cannot look up the User schema under subject {subject}: {error}"
            ),
            StartError::Latest { subject, error } if error.is_not_found() => write!(
                f,
                "SCHEMA_REGISTRY_USE_LATEST=true but subject {subject} has no version to produce with: {error}; register a version of the User schema under {subject} first"
            ),
            StartError::Latest { subject, error } => write!(
                f,
                "cannot fetch the latest version under subject {subject} (SCHEMA_REGISTRY_USE_LATEST=true): {error}"
            ),
            StartError::LatestUnusable { subject, id, error } => write!(
                f,
                "SCHEMA_REGISTRY_USE_LATEST=true but the latest version under subject {subject} (schema id {id}) does not fit: {error}"
            ),
            StartError::Topics(e) => e.fmt(f),
            StartError::DeadLetterProducer(e) => {
                write!(
                    f,
                    "dead-letter producer: cannot create the Kafka client: {e}"
                )
            }
        }
    }
}

/// Why a loop cannot go on; the daemon stops with it.
#[derive(Debug, Clone, PartialEq)]
pub enum LoopError {
    /// A Kafka client could not be created.
    CreateClient {
        client: &'static str,
        error: KafkaError,
    },
    /// The consumer could not subscribe to the topic.
    Subscribe {
        client: &'static str,
        topic: String,
        error: KafkaError,
    },
    /// librdkafka reported an error it cannot recover from.
    FatalKafka { client: String, reason: String },
    /// The brokers refused the client's credentials.
    Authentication { client: String, reason: String },
    /// A poll returned a fatal consumer error.
    FatalConsumer {
        client: &'static str,
        error: KafkaError,
    },
    /// The broker kept refusing the static member id (UNRELEASED_INSTANCE_ID).
    InstanceIdHeld {
        client: &'static str,
        instance_id: String,
        waited: Duration,
    },
    /// A message could not be decoded and `ON_DECODE_ERROR=fail`.
    Undecodable {
        client: &'static str,
        topic: String,
        partition: i32,
        offset: i64,
        error: Box<DecodeError>,
    },
    /// A message names its writer schema by GUID, the registry has no GUID endpoint, and
    /// `ON_DECODE_ERROR` is not `dlq`: the record is not at fault, so it is not skipped.
    RegistryLacksGuids {
        client: &'static str,
        topic: String,
        partition: i32,
        offset: i64,
        error: Box<DecodeError>,
    },
    /// `ON_DECODE_ERROR=dlq` without a dead-letter producer (a bug, not a user error).
    NoDeadLetterProducer { client: &'static str },
    /// A dead-letter copy was refused for a reason no retry changes (the dead-letter topic
    /// gone, not permitted, or too small for even an empty copy); the offset does not move.
    DeadLetterRefused {
        client: &'static str,
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
    /// The producer could not enqueue a record for a reason other than a full queue.
    Send { topic: String, error: KafkaError },
    /// A thread could not be started.
    Spawn { thread: &'static str, error: String },
    /// A thread panicked.
    Panicked { thread: &'static str },
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoopError::CreateClient { client, error } => {
                write!(f, "{client}: cannot create the Kafka client: {error}")
            }
            LoopError::Subscribe {
                client,
                topic,
                error,
            } => write!(f, "{client}: cannot subscribe to {topic}: {error}"),
            LoopError::FatalKafka { client, reason } => {
                write!(f, "{client}: fatal Kafka error: {reason}")
            }
            LoopError::Authentication { client, reason } => write!(
                f,
                "{client}: Kafka authentication failed: {reason} (check LIBRDKAFKA_SASL_USERNAME and LIBRDKAFKA_SASL_PASSWORD)"
            ),
            LoopError::FatalConsumer { client, error } => {
                let code = error
                    .rdkafka_error_code()
                    .map_or_else(|| error.to_string(), |code| code.to_string());
                write!(f, "{client}: fatal consumer error: {code}")
            }
            LoopError::InstanceIdHeld {
                client,
                instance_id,
                waited,
            } => write!(
                f,
                "{client}: group.instance.id {instance_id} is still held by another member after {} s: another instance may run with the same CONSUMER_INSTANCE_ID (give each its own), or the broker's session timeout is longer than the wait",
                waited.as_secs()
            ),
            LoopError::Undecodable {
                client,
                topic,
                partition,
                offset,
                error,
            } => write!(
                f,
                "{client}: undecodable message at {topic} p={partition} o={offset}: {error} (ON_DECODE_ERROR=fail)"
            ),
            LoopError::RegistryLacksGuids {
                client,
                topic,
                partition,
                offset,
                error,
            } => write!(
                f,
                "{client}: message at {topic} p={partition} o={offset} not skipped: {error}, or ON_DECODE_ERROR=dlq to move such records to {topic}.dlq"
            ),
            LoopError::NoDeadLetterProducer { client } => {
                write!(f, "{client}: ON_DECODE_ERROR=dlq but no dead-letter producer")
            }
            LoopError::DeadLetterRefused {
                client,
                topic,
                partition,
                offset,
                reason,
            } => write!(
                f,
                "{client}: cannot dead-letter the message at {topic} p={partition} o={offset}: {reason} (ON_DECODE_ERROR=dlq; the message stays uncommitted)"
            ),
            LoopError::Send { topic, error } => {
                write!(f, "producer: cannot send to {topic}: {error}")
            }
            LoopError::Spawn { thread, error } => {
                write!(f, "cannot start the {thread} thread: {error}")
            }
            LoopError::Panicked { thread } => write!(f, "the {thread} thread panicked"),
        }
    }
}

impl std::error::Error for LoopError {}

/// What one turn of a loop tells its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Go on with the next turn (unless shutdown began).
    Continue,
    /// Shutdown began during the turn; what it held was not handled.
    Stop,
}
