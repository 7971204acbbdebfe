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
#[non_exhaustive]
pub enum DaemonError {
    /// Start-up failed before any loop ran; not logged yet.
    Start(StartError),
    /// A loop failed and stopped the daemon; logged when it happened.
    Stopped(LoopError),
    /// The daemon stopped as asked, but the delivery audit found lost records and
    /// `AUDIT_FAIL_ON_LOSS=true`: `(group, records lost)` per group that lost any; not logged
    /// yet.
    AuditLoss {
        /// Per group, the records the audit found lost.
        lost: Vec<(String, u64)>,
    },
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
#[non_exhaustive]
pub enum StartError {
    /// `schemas/user.avsc` compiled into the binary does not parse.
    Schema(AvroError),
    /// `METRICS_ADDR` cannot be listened on.
    MetricsAddress {
        /// The address that could not be bound.
        address: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The registry client cannot be built.
    RegistryClient(RegistryError),
    /// The schema could not be registered.
    Register {
        /// The subject asked for.
        subject: String,
        /// What went wrong.
        error: RegistryError,
    },
    /// `SCHEMA_REGISTRY_AUTO_REGISTER=false` and the schema is not under the subject.
    Lookup {
        /// The subject asked for.
        subject: String,
        /// What went wrong.
        error: RegistryError,
    },
    /// `SCHEMA_REGISTRY_USE_LATEST=true` and the subject's latest version cannot be fetched.
    Latest {
        /// The subject asked for.
        subject: String,
        /// What went wrong.
        error: RegistryError,
    },
    /// `SCHEMA_REGISTRY_USE_LATEST=true` and a `User` cannot be written with the latest version.
    LatestUnusable {
        /// The subject asked for.
        subject: String,
        /// The schema id the registry gave.
        id: u32,
        /// What went wrong.
        error: AvroError,
    },
    /// The dead-letter producer cannot be created.
    DeadLetterProducer(KafkaError),
    /// Another failure building what the consumers share.
    Shared(String),
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
            StartError::Shared(e) => e.fmt(f),
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
#[non_exhaustive]
pub enum LoopError {
    /// A Kafka client could not be created.
    CreateClient {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// What went wrong.
        error: KafkaError,
    },
    /// The consumer could not subscribe to the topic.
    Subscribe {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// The topic.
        topic: String,
        /// What went wrong.
        error: Box<KafkaError>,
    },
    /// librdkafka reported an error it cannot recover from.
    FatalKafka {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// Why, as librdkafka or the brokers said.
        reason: String,
    },
    /// The brokers refused the client's credentials.
    Authentication {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// Why, as librdkafka or the brokers said.
        reason: String,
    },
    /// A poll returned a fatal consumer error.
    FatalConsumer {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// What went wrong.
        error: KafkaError,
    },
    /// The broker kept refusing the static member id (UNRELEASED_INSTANCE_ID).
    InstanceIdHeld {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// The static member id.
        instance_id: String,
        /// How long it waited.
        waited: Duration,
    },
    /// A message could not be decoded and `ON_DECODE_ERROR=fail`.
    Undecodable {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
        /// What went wrong.
        error: Box<DecodeError>,
    },
    /// A message names its writer schema by GUID, the registry has no GUID endpoint, and
    /// `ON_DECODE_ERROR` is not `dlq`: the record is not at fault, so it is not skipped.
    RegistryLacksGuids {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
        /// What went wrong.
        error: Box<DecodeError>,
    },
    /// `ON_DECODE_ERROR=dlq` without a dead-letter producer (a bug, not a user error).
    NoDeadLetterProducer {
        /// The client (consumer or producer) it happened to.
        client: String,
    },
    /// A dead-letter copy was refused for a reason no retry changes (the dead-letter topic
    /// gone, not permitted, or too small for even an empty copy); the offset does not move.
    DeadLetterRefused {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
        /// Why, as librdkafka or the brokers said.
        reason: String,
    },
    /// The producer could not enqueue a record for a reason other than a full queue.
    Send {
        /// The topic.
        topic: String,
        /// What went wrong.
        error: KafkaError,
    },
    /// A handler kept failing for `HANDLER_RETRY_TIMEOUT_MS`; what it was given is not
    /// committed, and is read again after a restart.
    HandlerFailed {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// The record or batch, as the log names it.
        what: String,
        /// How long the handler was retried.
        retried_for: Duration,
        /// The handler's last error.
        error: String,
    },
    /// A handler panicked; what it was given is not committed.
    HandlerPanicked {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// The record or batch, as the log names it.
        what: String,
    },
    /// A message came from a topic the consumer did not subscribe to (a bug, not a record's
    /// fault): its offset does not move.
    UnexpectedTopic {
        /// The client (consumer or producer) it happened to.
        client: String,
        /// The topic.
        topic: String,
    },
    /// A thread could not be started.
    Spawn {
        /// The thread.
        thread: &'static str,
        /// What went wrong.
        error: String,
    },
    /// A thread panicked.
    Panicked {
        /// The thread.
        thread: &'static str,
    },
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
            LoopError::HandlerFailed {
                client,
                what,
                retried_for,
                error,
            } => write!(
                f,
                "{client}: the handler failed on {what} for {} s (HANDLER_RETRY_TIMEOUT_MS): {error}; not committed, it is read again after a restart",
                retried_for.as_secs()
            ),
            LoopError::HandlerPanicked { client, what } => write!(
                f,
                "{client}: the handler panicked on {what}; not committed, it is read again after a restart"
            ),
            LoopError::UnexpectedTopic { client, topic } => {
                write!(f, "{client}: a message from {topic}, which it does not read")
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
