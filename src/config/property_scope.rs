//! Which librdkafka properties apply to which kind of client, as librdkafka's
//! CONFIGURATION.md marks them (column `C/P`: `C` consumer only, `P` producer only, `*` both).
//! A `LIBRDKAFKA_*` property reaches only the clients it applies to, so a consumer setting
//! never makes a producer log `CONFWARN`. The lists are checked against the CONFIGURATION.md
//! of the librdkafka that rdkafka-sys builds
//! (`deploy_files::librdkafka_property_scopes_match_its_configuration_md`).

/// A kind of Kafka client the daemon creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientKind {
    /// The producer and the dead-letter producer.
    Producer,
    /// Both consumers.
    Consumer,
}

impl ClientKind {
    /// Whether `property` means anything to this kind of client.
    pub fn accepts(self, property: &str) -> bool {
        match self {
            ClientKind::Producer => !CONSUMER_ONLY.contains(&property),
            ClientKind::Consumer => !PRODUCER_ONLY.contains(&property),
        }
    }
}

/// Properties marked `C` (consumer only), global and topic-level.
pub const CONSUMER_ONLY: &[&str] = &[
    "auto.commit.enable",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "check.crcs",
    "consume.callback.max.messages",
    "consume_cb",
    "coordinator.query.interval.ms",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.partition.eof",
    "fetch.error.backoff.ms",
    "fetch.max.bytes",
    "fetch.message.max.bytes",
    "fetch.min.bytes",
    "fetch.queue.backoff.ms",
    "fetch.wait.max.ms",
    "group.id",
    "group.instance.id",
    "group.protocol",
    "group.protocol.type",
    "group.remote.assignor",
    "heartbeat.interval.ms",
    "isolation.level",
    "max.partition.fetch.bytes",
    "max.poll.interval.ms",
    "offset.store.method",
    "offset.store.path",
    "offset.store.sync.interval.ms",
    "offset_commit_cb",
    "partition.assignment.strategy",
    "queued.max.messages.kbytes",
    "queued.min.messages",
    "rebalance_cb",
    "session.timeout.ms",
];

/// Properties marked `P` (producer only), global and topic-level.
pub const PRODUCER_ONLY: &[&str] = &[
    "acks",
    "batch.num.messages",
    "batch.size",
    "compression.codec",
    "compression.level",
    "compression.type",
    "delivery.report.only.error",
    "delivery.timeout.ms",
    "dr_cb",
    "dr_msg_cb",
    "enable.gapless.guarantee",
    "enable.idempotence",
    "linger.ms",
    "message.send.max.retries",
    "message.timeout.ms",
    "msg_order_cmp",
    "partitioner",
    "partitioner_cb",
    "produce.offset.report",
    "queue.buffering.backpressure.threshold",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.messages",
    "queue.buffering.max.ms",
    "queuing.strategy",
    "request.required.acks",
    "request.timeout.ms",
    "retries",
    "sticky.partitioning.linger.ms",
    "transaction.timeout.ms",
    "transactional.id",
];
