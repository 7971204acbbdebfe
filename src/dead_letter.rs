//! The dead-letter queue for `ON_DECODE_ERROR=dlq`: an undecodable message is copied, key and
//! value untouched, to `<topic>.dlq` with headers naming where it came from and why it failed.
//! The copy is acknowledged by all in-sync replicas before the source offset may move, so a
//! poison message is never lost, only moved aside.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::config::Config;
use crate::decode::DecodeError;
use crate::kafka::{client_config_with, handle_client_error, log_librdkafka};
use crate::shutdown::Shutdown;

/// Headers put on every dead letter.
pub const HEADER_TOPIC: &str = "dlq.source.topic";
/// Source partition header.
pub const HEADER_PARTITION: &str = "dlq.source.partition";
/// Source offset header.
pub const HEADER_OFFSET: &str = "dlq.source.offset";
/// Header naming the consumer group that gave up on the message (each group decides on its
/// own, so a poison message is copied once per group).
pub const HEADER_GROUP: &str = "dlq.consumer.group";
/// Decode error header.
pub const HEADER_ERROR: &str = "dlq.error";

/// How long one attempt waits for the acknowledgement.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// Counts failed deliveries so a sender can tell whether its copy made it.
pub struct DeadLetterEvents {
    shutdown: Shutdown,
    failed: AtomicU64,
}

impl ClientContext for DeadLetterEvents {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_librdkafka("dead-letter producer", level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        handle_client_error("dead-letter producer", &self.shutdown, &error, reason);
    }
}

impl ProducerContext for DeadLetterEvents {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::SeqCst);
            log::error!("dead-letter producer: delivery failed: {error}");
        }
    }
}

/// A producer for the dead-letter topic, shared by both consumers.
pub struct DeadLetters {
    producer: BaseProducer<DeadLetterEvents>,
    topic: String,
}

impl DeadLetters {
    /// Creates the producer for `<topic>.dlq` (acks=all, idempotent).
    pub fn create(config: &Config, shutdown: &Shutdown) -> Result<DeadLetters, String> {
        let producer = client_config_with(
            config,
            &[
                ("acks", "all".to_string()),
                ("enable.idempotence", "true".to_string()),
                ("linger.ms", "0".to_string()),
            ],
        )
        .create_with_context(DeadLetterEvents {
            shutdown: shutdown.clone(),
            failed: AtomicU64::new(0),
        })
        .map_err(|e| format!("dead-letter producer: cannot create the Kafka client: {e}"))?;
        Ok(DeadLetters {
            producer,
            topic: format!("{}.dlq", config.topic),
        })
    }

    /// The dead-letter topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Copies `message` to the dead-letter topic and waits until it is acknowledged, trying
    /// again until it is or shutdown begins. Returns whether the copy was acknowledged.
    pub fn send(
        &self,
        message: &BorrowedMessage<'_>,
        group: &str,
        error: &DecodeError,
        shutdown: &Shutdown,
    ) -> bool {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let reason = error.to_string();
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: HEADER_TOPIC,
                    value: Some(message.topic()),
                })
                .insert(Header {
                    key: HEADER_PARTITION,
                    value: Some(&partition),
                })
                .insert(Header {
                    key: HEADER_OFFSET,
                    value: Some(&offset),
                })
                .insert(Header {
                    key: HEADER_GROUP,
                    value: Some(group),
                })
                .insert(Header {
                    key: HEADER_ERROR,
                    value: Some(&reason),
                });
            let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(payload) = message.payload() {
                record = record.payload(payload);
            }
            let failed_before = self.producer.context().failed.load(Ordering::SeqCst);
            let acknowledged = match self.producer.send(record) {
                Ok(()) => {
                    self.producer.flush(ACK_WAIT).is_ok()
                        && self.producer.context().failed.load(Ordering::SeqCst) == failed_before
                }
                Err((e, _)) => {
                    log::warn!(
                        "dead-letter producer: cannot enqueue for {}: {e}",
                        self.topic
                    );
                    false
                }
            };
            if acknowledged {
                return true;
            }
            log::warn!(
                "dead-letter producer: copy of p={partition} o={offset} to {} not acknowledged yet; trying again",
                self.topic
            );
            if shutdown.sleep(Duration::from_secs(1)) {
                return false;
            }
        }
    }
}
