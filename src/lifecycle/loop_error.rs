//! Why a loop stops ([`LoopError`]), what one turn of a loop tells its driver ([`Turn`]), and
//! the driver ([`turn_until_stopped`]). Every loop of the crate returns these; they name only
//! external types, so every folder may use them.

use std::fmt;
use std::time::Duration;

use rdkafka::error::KafkaError;

use super::shutdown::Shutdown;

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
    /// A consumer without a group could not assign itself the partitions of a topic.
    Assign {
        /// The consumer.
        client: String,
        /// The topic (or topics).
        topic: String,
        /// Why.
        reason: String,
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
    /// The consumer was fenced again and again: another member keeps joining under its
    /// static member id.
    InstanceIdFenced {
        /// The client it happened to.
        client: String,
        /// The static member id.
        instance_id: String,
        /// Fences within `within`.
        fences: usize,
        /// The window they fell in.
        within: Duration,
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
        error: String,
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
    /// A value could not be encoded with the producer's schema.
    Encode {
        /// The topic.
        topic: String,
        /// Why.
        error: String,
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
            LoopError::Assign {
                client,
                topic,
                reason,
            } => write!(f, "{client}: cannot read the partitions of {topic}: {reason}"),
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
            LoopError::InstanceIdFenced {
                client,
                instance_id,
                fences,
                within,
            } => write!(
                f,
                "{client}: fenced {fences} times within {} s by another member joining with group.instance.id {instance_id}: another instance runs with the same CONSUMER_INSTANCE_ID (give each its own)",
                within.as_secs()
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
            LoopError::Encode { topic, error } => {
                write!(f, "producer: cannot encode a record for {topic}: {error}")
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

/// Drives a loop: `step` turn after turn until it says [`Turn::Stop`], fails, or `shutdown`
/// begins.
pub(crate) fn turn_until_stopped(
    shutdown: &Shutdown,
    mut step: impl FnMut() -> Result<Turn, LoopError>,
) -> Result<(), LoopError> {
    while !shutdown.is_stopping() {
        if step()? == Turn::Stop {
            break;
        }
    }
    Ok(())
}
