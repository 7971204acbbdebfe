//! Delivery reports of the producer: one `delivered to <topic> (p=…, o=…)` line per
//! acknowledged record (log target `kafka_avro_daemon::delivery`, so it can be filtered apart),
//! an error line per record that failed for good, and the counts behind the summary.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};

use crate::kafka::{handle_client_error, log_librdkafka};
use crate::shutdown::Shutdown;
use crate::stats::{bump, Stats};

/// Receives delivery reports and client errors of the producer.
pub struct DeliveryReports<'a> {
    shutdown: Shutdown,
    stats: &'a Stats,
}

impl ClientContext for DeliveryReports<'_> {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_librdkafka("producer", level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        handle_client_error("producer", &self.shutdown, &error, reason);
    }
}

impl ProducerContext for DeliveryReports<'_> {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                bump(&self.stats.delivered);
                log::info!(
                    "delivered to {} (p={}, o={})",
                    message.topic(),
                    message.partition(),
                    message.offset()
                );
            }
            Err((error, message)) => {
                bump(&self.stats.delivery_failed);
                let key = message
                    .key()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                log::error!(
                    "delivery to {} failed for the record with key {key}: {error}",
                    message.topic()
                );
            }
        }
    }
}

impl<'a> DeliveryReports<'a> {
    /// Reports into `stats`; fatal client errors stop the daemon through `shutdown`.
    pub fn new(shutdown: &Shutdown, stats: &'a Stats) -> DeliveryReports<'a> {
        DeliveryReports {
            shutdown: shutdown.clone(),
            stats,
        }
    }
}
