//! Delivery reports of the producer: one `delivered to <topic> (p=…, o=…)` line per
//! acknowledged record (log target `kafka_avro_daemon::delivery`, so it can be filtered apart),
//! an error line per record that failed for good, and the counts behind the summary.

use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};

use crate::kafka::{ClientEvents, ClientRole};
use crate::ops::log_target;
use crate::ops::stats::{bump, Stats};

/// The producer's role: count and log each delivery report into `Stats`.
pub(crate) struct DeliveryReports<'a> {
    pub(crate) stats: &'a Stats,
}

impl ClientRole for DeliveryReports<'_> {}

impl ProducerContext for ClientEvents<DeliveryReports<'_>> {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let stats = self.role.stats;
        match result {
            Ok(message) => {
                bump(&stats.delivered);
                log::info!(
                    target: log_target::DELIVERY,
                    "delivered to {} (p={}, o={})",
                    message.topic(),
                    message.partition(),
                    message.offset()
                );
            }
            Err((error, message)) => {
                bump(&stats.delivery_failed);
                let key = message
                    .key()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                log::error!(
                    target: log_target::DELIVERY,
                    "delivery to {} failed for the record with key {key}: {error}",
                    message.topic()
                );
            }
        }
    }
}
