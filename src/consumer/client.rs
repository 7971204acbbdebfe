//! The Kafka side of both consumers: creating a subscribed `BaseConsumer`, its role in the
//! client context (rebalances, lag from statistics), and one poll with error triage. What
//! differs between the two — the commit policy — lives in `single.rs` and `batch.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use super::settings::{ConsumerSettings, Membership, Topics, Tp};
use super::stages::{AwaitingCommit, Handled};
use crate::config::Config;
use crate::kafka::{
    client_config_with, create_client, is_connection_noise, ClientEvents, ClientKind, ClientRole,
};
use crate::lifecycle::retry::Backoff;
use crate::lifecycle::shutdown::Shutdown;
use crate::lifecycle::LoopError;
use crate::ops::log_target;
use crate::ops::stats::ConsumerStats;

/// Longest a poll blocks, so each loop sees shutdown within this time.
pub(crate) const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// How long librdkafka waits before fetching again for a partition whose local queue is full
/// (`queued.min.messages`). Its default, 1 s, caps a consumer catching up on a backlog at about
/// one queue's worth per partition per second: 150k msg/s on three partitions where the same
/// consumer reads 1M+ msg/s with 50 ms. Below the threshold (any steady rate) it never applies.
const FETCH_QUEUE_BACKOFF_MS: u32 = 50;

/// How often a consumer refreshes the topics' metadata, which is when its group notices a
/// partition added to a topic it reads (librdkafka's default, 5 minutes, left the records of
/// a partition added near the end of the 10-minute soak of seed 2 unread for as long: the
/// group's leader had not looked yet). One small request per consumer per 30 s.
const METADATA_REFRESH_MS: u32 = 30_000;

/// A consumer client of the daemon.
pub(crate) type ConsumerClient<'a> = BaseConsumer<ClientEvents<ConsumerEvents<'a>>>;

/// Partitions a consumer gave up since the loop last asked.
#[derive(Debug, Default)]
pub(crate) struct Revoked {
    /// Partitions revoked or lost, each once (so the list stays as short as the topics'
    /// partition count however many rebalances come before the loop asks).
    pub(crate) partitions: Vec<Tp>,
    /// A rebalance failed: which partitions are still ours is unknown, so treat all as gone.
    pub(crate) all: bool,
}

impl Revoked {
    pub(crate) fn is_empty(&self) -> bool {
        !self.all && self.partitions.is_empty()
    }
}

/// A consumer's role in its client context: logs rebalances, remembers revoked partitions for
/// the loop to act on after `poll` returns (the batch consumer drops their buffered records;
/// both tell their audit), and keeps the lag from librdkafka statistics.
pub(crate) struct ConsumerEvents<'a> {
    topics: Topics,
    revoked: Mutex<Revoked>,
    /// Whether `revoked` holds anything, so the loop's turn costs no lock without a rebalance.
    any_revoked: AtomicBool,
    /// Whether the loop holds fetching (its partitions paused while a handler is retried or a
    /// given-up commit waits): a partition assigned meanwhile is paused too, any other
    /// resumed.
    holding: AtomicBool,
    stats: &'a ConsumerStats,
    /// Whether it assigned itself its partitions (no group): a topic deleted under it is
    /// then its end, since no rebalance will take the partitions away.
    alone: bool,
    /// Sampled records whose offsets were stored, until an auto-commit covers them.
    awaiting_commit: AwaitingCommit,
}

impl ConsumerEvents<'_> {
    /// A sampled record's offset is stored: the auto-commit that covers it finishes its stages
    /// (a consumer without a group commits nothing, so it keeps none).
    pub(crate) fn await_commit(&self, handled: Handled) {
        if !self.alone {
            self.awaiting_commit.push(handled);
        }
    }

    /// The loop holds fetching (`true`) or fetches again (`false`); see [`Self::holding`].
    pub(crate) fn set_holding(&self, holding: bool) {
        self.holding.store(holding, Ordering::Release);
    }

    /// Whether the loop holds fetching.
    pub(crate) fn is_holding(&self) -> bool {
        self.holding.load(Ordering::Acquire)
    }

    /// Partitions revoked since the last call.
    pub(crate) fn take_revoked(&self) -> Revoked {
        // Asked once per turn: a plain load first, the read-modify-write only after a revoke.
        if !self.any_revoked.load(Ordering::Relaxed)
            || !self.any_revoked.swap(false, Ordering::Acquire)
        {
            return Revoked::default();
        }
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Remembers what a rebalance takes from this member: the partitions of a revoke, or,
    /// after a rebalance error, all of them (which partitions are still ours is unknown then,
    /// and nothing buffered may be committed on a guess).
    fn note_rebalance(&self, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => self.record_revoked(|revoked| {
                revoked.partitions.extend(partitions_of(&self.topics, tpl))
            }),
            Rebalance::Error(_) => self.record_revoked(|revoked| revoked.all = true),
            Rebalance::Assign(_) => {}
        }
    }

    fn record_revoked(&self, record: impl FnOnce(&mut Revoked)) {
        let mut revoked = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
        record(&mut revoked);
        revoked.partitions.sort_unstable();
        revoked.partitions.dedup();
        self.any_revoked.store(true, Ordering::Release);
    }
}

impl ClientRole for ConsumerEvents<'_> {
    fn on_statistics(&self, statistics: Statistics) {
        let lags =
            (0..self.topics.len()).filter_map(|i| total_lag(&statistics, self.topics.name(i)));
        if let Some(lag) = lags.reduce(i64::saturating_add) {
            self.stats.lag.store(lag, Ordering::Relaxed);
        }
        self.stats
            .partitions
            .update(&statistics, self.topics.names());
    }
}

/// Sum of the consumer lag over the assigned partitions of `topic`, if librdkafka knows any.
fn total_lag(statistics: &Statistics, topic: &str) -> Option<i64> {
    let lags: Vec<i64> = statistics
        .topics
        .get(topic)?
        .partitions
        .values()
        // Partition -1 is librdkafka's internal "unassigned" bucket; -1 lag means unknown.
        .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
        .map(|p| p.consumer_lag)
        .collect();
    (!lags.is_empty()).then(|| lags.iter().sum())
}

impl ConsumerContext for ClientEvents<ConsumerEvents<'_>> {
    /// An auto-commit (served by the single consumer's poll) finishes the stages of the
    /// sampled records it covers.
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if result.is_ok() {
            let role = &self.role;
            role.awaiting_commit.committed(
                &role.topics,
                offsets,
                Instant::now(),
                &role.stats.stages,
                &self.name,
            );
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let name = &self.name;
        let topics = &self.role.topics;
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let partitions = partitions_of(topics, tpl);
                let how = if consumer.assignment_lost() {
                    // No commit of them will come: their sampled records are not finished.
                    self.role.awaiting_commit.forget(&partitions);
                    "lost"
                } else {
                    "revoked"
                };
                let partitions = topics.describe(&partitions);
                log::info!(target: log_target::CONSUMER, "{name}: partitions {partitions} {how}");
            }
            Rebalance::Assign(tpl) => {
                let partitions = partitions_of(topics, tpl);
                // Sampled records of an earlier ownership whose commit never came.
                self.role.awaiting_commit.forget(&partitions);
                log::info!(
                    target: log_target::CONSUMER,
                    "{name}: partitions {} assigned",
                    topics.describe(&partitions)
                );
            }
            Rebalance::Error(e) => {
                // What we own is unknown now; nothing buffered may be committed on a guess.
                log::error!(
                    target: log_target::CONSUMER,
                    "{name}: rebalance error: {e}; records not yet committed are dropped and read again by whoever owns their partitions"
                );
            }
        }
        self.role.note_rebalance(rebalance);
    }

    /// librdkafka keeps a partition's pause across a revocation and a new assignment, so a
    /// partition comes back paused if it left paused: what the loop does now decides. While
    /// it holds fetching, a newly assigned partition is paused as well (its records would
    /// only pile up); otherwise every newly assigned partition is resumed.
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = rebalance else {
            return;
        };
        let (outcome, what) = if self.role.is_holding() {
            (consumer.pause(tpl), "pause")
        } else {
            (consumer.resume(tpl), "resume")
        };
        if let Err(e) = outcome {
            log::warn!(target: log_target::CONSUMER, "{}: cannot {what} the partitions just assigned: {e}", self.name);
        }
    }
}

/// The partitions in `tpl` of the consumer's `topics` (a list from librdkafka only names
/// topics the consumer subscribed to).
pub(crate) fn partitions_of(topics: &Topics, tpl: &TopicPartitionList) -> Vec<Tp> {
    tpl.elements()
        .iter()
        .filter_map(|e| {
            Some(Tp {
                topic: topics.index_of(e.topic())?,
                partition: e.partition(),
            })
        })
        .collect()
}

/// Creates the consumer of `settings`, subscribed to its topics. With `auto_commit` (the
/// single consumer), offsets are committed in the background, but only those the loop stored
/// after handling a message.
pub(crate) fn create_consumer<'a>(
    settings: &ConsumerSettings,
    auto_commit: bool,
    config: &Config,
    shutdown: &Shutdown,
    stats: &'a ConsumerStats,
) -> Result<ConsumerClient<'a>, LoopError> {
    let client = settings.name.clone();
    let role = ConsumerEvents {
        topics: Topics::new(&settings.topics),
        revoked: Mutex::new(Revoked::default()),
        any_revoked: AtomicBool::new(false),
        holding: AtomicBool::new(false),
        stats,
        alone: matches!(settings.membership, Membership::Alone { .. }),
        awaiting_commit: AwaitingCommit::default(),
    };
    let consumer: ConsumerClient<'a> = create_client(
        &consumer_config(config, settings, auto_commit),
        ClientEvents::new(&client, shutdown, role),
    )
    .map_err(|error| LoopError::CreateClient {
        client: client.clone(),
        error,
    })?;
    match settings.membership {
        Membership::Group { .. } => {
            let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
            consumer
                .subscribe(&topics)
                .map_err(|error| LoopError::Subscribe {
                    client,
                    topic: settings.topics.join(", "),
                    error: Box::new(error),
                })?;
        }
        Membership::Alone { from_beginning } => {
            assign_every_partition(&consumer, settings, from_beginning, config, shutdown)?;
        }
    }
    Ok(consumer)
}

/// Assigns `consumer` every partition of its topics, at their beginning or their end, as the
/// brokers' metadata lists them (asked with the topic check's bound, again after a stop
/// until then). Partitions added later are not read.
fn assign_every_partition(
    consumer: &ConsumerClient<'_>,
    settings: &ConsumerSettings,
    from_beginning: bool,
    config: &Config,
    shutdown: &Shutdown,
) -> Result<(), LoopError> {
    let start = match from_beginning {
        true => Offset::Beginning,
        false => Offset::End,
    };
    let deadline = Instant::now() + config.topic_check_timeout;
    let mut assignment = TopicPartitionList::new();
    for topic in &settings.topics {
        let cannot = |reason: String| LoopError::Assign {
            client: settings.name.clone(),
            topic: topic.clone(),
            reason,
        };
        let partitions = loop {
            // Short requests, so a stop is seen within one.
            let metadata = consumer.fetch_metadata(Some(topic), METADATA_REQUEST_TIMEOUT);
            let partitions = match &metadata {
                Ok(metadata) => metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic)
                    .filter(|t| t.error().is_none())
                    .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>()),
                Err(_) => None,
            };
            match partitions {
                Some(partitions) if !partitions.is_empty() => break partitions,
                // Stopped first: nothing to read, and no failure; the loop ends at once.
                _ if shutdown.is_stopping() => return Ok(()),
                _ if Instant::now() >= deadline => {
                    let reason = match metadata {
                        Err(e) => e.to_string(),
                        Ok(_) => "the brokers list no partitions of it".to_string(),
                    };
                    return Err(cannot(format!(
                        "{reason} (within TOPIC_CHECK_TIMEOUT_S={})",
                        config.topic_check_timeout.as_secs()
                    )));
                }
                _ => {
                    shutdown.sleep(METADATA_REQUEST_TIMEOUT / 5);
                }
            }
        };
        for partition in partitions {
            assignment
                .add_partition_offset(topic, partition, start)
                .map_err(|e| cannot(e.to_string()))?;
        }
    }
    consumer.assign(&assignment).map_err(|e| LoopError::Assign {
        client: settings.name.clone(),
        topic: settings.topics.join(", "),
        reason: e.to_string(),
    })
}

/// Longest one metadata request of [`assign_every_partition`] waits.
const METADATA_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// The librdkafka configuration of the consumer of `settings`; `LIBRDKAFKA_*` overrides any
/// of it.
fn consumer_config(
    config: &Config,
    settings: &ConsumerSettings,
    auto_commit: bool,
) -> ClientConfig {
    // A consumer alone commits nothing.
    let auto_commit = auto_commit && matches!(settings.membership, Membership::Group { .. });
    let reset = match settings.membership.starts_at_beginning() {
        true => "earliest",
        false => "latest",
    };
    let mut own = vec![
        ("group.id", settings.group.clone()),
        ("enable.auto.commit", auto_commit.to_string()),
        // Store offsets by hand, after handling, so auto-commit never commits a message
        // that was fetched but not yet handled.
        ("enable.auto.offset.store", "false".to_string()),
        ("auto.offset.reset", reset.to_string()),
        ("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS.to_string()),
        (
            "topic.metadata.refresh.interval.ms",
            METADATA_REFRESH_MS.to_string(),
        ),
    ];
    if let Some(interval) = statistics_interval(config) {
        own.push(("statistics.interval.ms", interval.as_millis().to_string()));
    }
    if let Some(id) = &settings.instance_id {
        own.push(("group.instance.id", id.clone()));
    }
    client_config_with(config, ClientKind::Consumer, &own)
}

/// How often librdkafka reports statistics (for the lag): as often as the stats line or the
/// metrics endpoint needs them, not at all when neither is on.
fn statistics_interval(config: &Config) -> Option<Duration> {
    let for_metrics = config.metrics_addr.as_ref().map(|_| Duration::from_secs(5));
    match (config.stats_interval, for_metrics) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The ends of the consumer's assigned partitions of `topics` as librdkafka last heard them,
/// by (topic index, partition): no request. Partitions whose end is not known yet are left out.
pub(crate) fn cached_log_ends(
    client: &ConsumerClient<'_>,
    topics: &Topics,
) -> Vec<((usize, i32), i64)> {
    let Ok(assignment) = client.assignment() else {
        return Vec::new();
    };
    assignment
        .elements()
        .iter()
        .filter_map(|assigned| {
            let (topic, partition) = (assigned.topic(), assigned.partition());
            let end = cached_log_end(client, topic, partition)?;
            Some(((topics.index_of(topic)?, partition), end))
        })
        .collect()
}

/// The end of `partition` (its high watermark) as librdkafka last heard it from a fetch:
/// no request (`rd_kafka_get_watermark_offsets`, which rust-rdkafka does not wrap). `None`
/// until known.
fn cached_log_end(client: &ConsumerClient<'_>, topic: &str, partition: i32) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is live for the borrow; the topic is a NUL-terminated string
    // that outlives the call; low and high are valid for writes.
    let code = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            client.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (code == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(high)
}

/// Stores `message`'s offset (plus one) for the next commit with librdkafka's
/// `rd_kafka_offset_store_message`: through the partition the message holds, and with the
/// leader epoch of its record batch, as librdkafka's automatic store and the Java consumer do.
/// rdkafka's `store_offset_from_message` calls `rd_kafka_offset_store`, which finds the
/// partition through its topic (the topic's read lock and a reference to the partition taken
/// and dropped per record: half the store's cost in the drain's profile) and stores no epoch.
/// `Err`, as there, when the partition is no longer assigned.
///
/// # Safety
///
/// `message` must come from a consumer's poll: librdkafka reads the message's private pointer
/// as the fetch operation that carried it, and a producer's delivery report holds something
/// else there.
pub(crate) unsafe fn store_offset_of(message: &BorrowedMessage<'_>) -> KafkaResult<()> {
    // SAFETY: a consumed message (the caller's promise), alive for the call; librdkafka only
    // reads it, and returns an error object that is ours to free, or null.
    let error = unsafe { rdkafka::bindings::rd_kafka_offset_store_message(message.ptr()) };
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null error from librdkafka, read once and freed once.
    let code = unsafe {
        let code = rdkafka::bindings::rd_kafka_error_code(error);
        rdkafka::bindings::rd_kafka_error_destroy(error);
        code
    };
    Err(KafkaError::StoreOffset(code.into()))
}

/// Polls once. Partition EOF and passing errors give `Ok(None)` (the latter logged); a fatal
/// consumer error is returned as `Err`.
pub(crate) fn poll_message<'c>(
    consumer: &'c ConsumerClient<'_>,
    timeout: Duration,
) -> Result<Option<BorrowedMessage<'c>>, LoopError> {
    let client = &consumer.context().name;
    match consumer.poll(timeout) {
        None | Some(Err(KafkaError::PartitionEOF(_))) => Ok(None),
        Some(Ok(message)) => Ok(Some(message)),
        Some(Err(error @ KafkaError::MessageConsumptionFatal(_))) => {
            Err(LoopError::FatalConsumer {
                client: client.clone(),
                error,
            })
        }
        Some(Err(KafkaError::MessageConsumption(
            RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownPartition
            | RDKafkaErrorCode::UnknownTopic,
        ))) if consumer.context().role.alone => match deleted_topic(consumer) {
            Some(topic) => Err(LoopError::Assign {
                client: client.clone(),
                topic,
                reason: "the topic no longer exists".to_string(),
            }),
            None => Ok(None),
        },
        Some(Err(e)) if is_connection_noise(&e) => {
            log::debug!(target: log_target::CONSUMER, "{client}: {e}");
            Ok(None)
        }
        Some(Err(e)) => {
            log::warn!(target: log_target::CONSUMER, "{client}: {e}");
            Ok(None)
        }
    }
}

/// One of a consumer's topics that the brokers' metadata no longer lists, if any (asked when
/// a consumer without a group is told its partitions are unknown: a topic just created may
/// say so for a moment, a deleted one for good).
fn deleted_topic(consumer: &ConsumerClient<'_>) -> Option<String> {
    let topics = &consumer.context().role.topics;
    (0..topics.len()).map(|i| topics.name(i)).find_map(|topic| {
        let metadata = consumer
            .fetch_metadata(Some(topic), METADATA_REQUEST_TIMEOUT)
            .ok()?;
        let listed = metadata.topics().iter().find(|t| t.name() == &**topic)?;
        let gone = listed.error().is_some() || listed.partitions().is_empty();
        gone.then(|| topic.to_string())
    })
}

/// How long a consumer waits for the broker to release its `group.instance.id`. Under the
/// consumer protocol (KIP-848) a static member that died without leaving keeps its id until
/// its session expires, and a new member asking for it meanwhile is refused with
/// UNRELEASED_INSTANCE_ID, which librdkafka makes fatal. The broker allows sessions up to
/// `group.consumer.max.session.timeout.ms` (60 s by default); 15 s on top for the expiry to be
/// noticed.
pub(crate) const INSTANCE_ID_RELEASE_WAIT: Duration = Duration::from_secs(75);

/// Between attempts to join under a held instance id: soon at first (the old session may be
/// about to expire), then every 5 s, which is plenty against a 45 s session.
const INSTANCE_ID_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_secs(1), Duration::from_secs(5));

/// A refusal this long after the consumer was last created again starts a new wait.
const NEW_WAIT_AFTER: Duration = Duration::from_secs(30);

/// A static member fenced this many times within [`FENCED_WINDOW`] stops: another member
/// keeps joining under its id. Two instances with one id fence each other every few seconds
/// (each is created again [`AFTER_FENCED`] after its fence, and its join fences the other at
/// that one's next heartbeat), so they reach this in well under a minute. A member's own
/// rejoins after broker faults fence it at most once per fault: the soak (seed 1) saw 3 within
/// 5 minutes from broker kills and freezes alone, which the earlier bound (3 within 300 s)
/// took for a second instance and stopped a healthy daemon.
const MAX_FENCES: usize = 5;
const FENCED_WINDOW: Duration = Duration::from_secs(60);

/// Before a fenced consumer is created again: the member that fenced it, if it is another
/// instance, has joined by then, so two instances with one id fence each other at this pace.
const AFTER_FENCED: Duration = Duration::from_secs(1);

/// What one consumer does when librdkafka ends it over its static member id (both fatal):
/// - while the loop ends with UNRELEASED_INSTANCE_ID (a previous member still holds the id),
///   the consumer is created again after a backoff, up to [`INSTANCE_ID_RELEASE_WAIT`] from
///   the first refusal; then the daemon stops with a clear line;
/// - FENCED_INSTANCE_ID (another member joined with the id) is what a member's own rejoin
///   can cause: when its coordinator stops answering (a frozen broker), librdkafka times the
///   session out, revokes and joins again under the same id, and a commit the old member had
///   sent is answered "fenced" once the coordinator answers again. Found by the soak: both
///   daemons exited 1 after a 14 s broker freeze. The consumer is created again (what it
///   handled and had not committed is read again: at-least-once); fenced [`MAX_FENCES`]
///   times within [`FENCED_WINDOW`], it is another instance with the same id, and it stops.
pub(crate) struct StaticMemberRecovery {
    /// The consumer's name, and its static member id.
    client: String,
    instance_id: Option<String>,
    /// The first refusal of this wait.
    since: Option<Instant>,
    /// When the consumer was last created again after a refusal.
    retried_at: Option<Instant>,
    attempt: u32,
    limit: Duration,
    /// When it was fenced, within the window.
    fenced_at: Vec<Instant>,
}

impl StaticMemberRecovery {
    pub(crate) fn new(settings: &ConsumerSettings) -> StaticMemberRecovery {
        StaticMemberRecovery {
            client: settings.name.clone(),
            instance_id: settings.instance_id.clone(),
            since: None,
            retried_at: None,
            attempt: 0,
            limit: INSTANCE_ID_RELEASE_WAIT,
            fenced_at: Vec::new(),
        }
    }

    /// After the loop ended with `outcome`: `Ok(true)` when the consumer is to be created
    /// again (the wait is done), `Ok(false)` when shutdown began while waiting; any other
    /// outcome is handed back, and so is the refusal once the wait is over.
    pub(crate) fn wait_after(
        &mut self,
        outcome: Result<(), LoopError>,
        shutdown: &Shutdown,
        stats: &ConsumerStats,
    ) -> Result<bool, LoopError> {
        let error = match outcome {
            Err(error) if is_unreleased_instance_id(&error) => error,
            Err(error) if has_code(&error, RDKafkaErrorCode::FencedInstanceId) => {
                return self.after_fenced(error, shutdown, stats)
            }
            other => return other.map(|()| false),
        };
        let client = self.client.clone();
        let id = self.instance_id.clone().unwrap_or_default();
        // A refused join comes within a heartbeat of creating the consumer; a refusal long
        // after the last retry means the consumer had joined, and this is a new wait.
        if self
            .retried_at
            .is_some_and(|at| at.elapsed() > NEW_WAIT_AFTER)
        {
            self.since = None;
            self.attempt = 0;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        let waited = since.elapsed();
        if waited >= self.limit {
            return Err(LoopError::InstanceIdHeld {
                client,
                instance_id: id,
                waited,
            });
        }
        self.attempt = self.attempt.saturating_add(1);
        let delay = INSTANCE_ID_BACKOFF
            .delay(self.attempt)
            .min(self.limit - waited);
        if self.attempt == 1 {
            log::warn!(
                target: log_target::CONSUMER,
                "{client}: group.instance.id {id} is still held by a previous member (not yet expired by the broker); waiting up to {} s for its release",
                self.limit.as_secs()
            );
        } else {
            log::info!(
                target: log_target::CONSUMER,
                "{client}: group.instance.id {id} still held after {} s; trying again in {:.1} s ({error})",
                waited.as_secs(),
                delay.as_secs_f64()
            );
        }
        // Waiting for the broker is progress, not a stalled loop.
        stats.heartbeat.beat();
        let stopped = shutdown.sleep(delay);
        stats.heartbeat.beat();
        self.retried_at = Some(Instant::now());
        Ok(!stopped)
    }
}

impl StaticMemberRecovery {
    /// After the consumer was fenced: `Ok(true)` to create it again, `Ok(false)` when shutdown
    /// began meanwhile, or the stop once it was fenced too often.
    fn after_fenced(
        &mut self,
        error: LoopError,
        shutdown: &Shutdown,
        stats: &ConsumerStats,
    ) -> Result<bool, LoopError> {
        let now = Instant::now();
        self.fenced_at
            .retain(|at| now.duration_since(*at) < FENCED_WINDOW);
        self.fenced_at.push(now);
        let id = self.instance_id.clone().unwrap_or_default();
        if self.fenced_at.len() >= MAX_FENCES {
            return Err(LoopError::InstanceIdFenced {
                client: self.client.clone(),
                instance_id: id,
                fences: self.fenced_at.len(),
                within: FENCED_WINDOW,
            });
        }
        log::warn!(
            target: log_target::CONSUMER,
            "{}: fenced: a member joined with group.instance.id {id} ({error}); this member's own rejoin does this after its session timed out on an unanswering coordinator. Created again: what was handled and not committed is read again (fenced {MAX_FENCES} times within {} s, it stops: another instance with the same CONSUMER_INSTANCE_ID)",
            self.client,
            FENCED_WINDOW.as_secs()
        );
        stats.heartbeat.beat();
        let stopped = shutdown.sleep(AFTER_FENCED);
        stats.heartbeat.beat();
        Ok(!stopped)
    }
}

/// Whether `error` is the broker refusing a static member id still held by another member.
fn is_unreleased_instance_id(error: &LoopError) -> bool {
    has_code(error, RDKafkaErrorCode::UnreleasedInstanceId)
}

/// Whether `error` is a fatal consumer error with `code`.
fn has_code(error: &LoopError, code: RDKafkaErrorCode) -> bool {
    matches!(
        error,
        LoopError::FatalConsumer { error, .. } if error.rdkafka_error_code() == Some(code)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events of a consumer of topic `t`, with nothing revoked yet.
    fn events_of(stats: &ConsumerStats) -> ConsumerEvents<'_> {
        ConsumerEvents {
            topics: Topics::new(&["t".to_string()]),
            revoked: Mutex::new(Revoked::default()),
            any_revoked: AtomicBool::new(false),
            holding: AtomicBool::new(false),
            stats,
            alone: false,
            awaiting_commit: AwaitingCommit::default(),
        }
    }

    #[test]
    fn revocations_are_kept_once_each_until_taken() {
        let stats = ConsumerStats::default();
        let events = events_of(&stats);
        assert!(events.take_revoked().is_empty());
        for _ in 0..1000 {
            events.record_revoked(|r| r.partitions.extend([tp(2), tp(0), tp(1)]));
        }
        events.record_revoked(|r| r.all = true);
        let taken = events.take_revoked();
        assert_eq!(
            (taken.partitions, taken.all),
            (vec![tp(0), tp(1), tp(2)], true)
        );
        assert!(events.take_revoked().is_empty());
    }

    #[test]
    fn a_rebalance_error_revokes_every_partition_and_a_revoke_only_its_own() {
        let stats = ConsumerStats::default();
        let events = events_of(&stats);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("t", 1);
        events.note_rebalance(&Rebalance::Assign(&tpl));
        assert!(
            events.take_revoked().is_empty(),
            "an assignment revokes nothing"
        );
        events.note_rebalance(&Rebalance::Revoke(&tpl));
        let taken = events.take_revoked();
        assert_eq!((taken.partitions, taken.all), (vec![tp(1)], false));
        let error = KafkaError::Rebalance(RDKafkaErrorCode::IllegalGeneration);
        events.note_rebalance(&Rebalance::Error(error));
        assert!(
            events.take_revoked().all,
            "after a rebalance error nothing is ours"
        );
    }

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_pairs(vars).expect("valid config")
    }

    fn tp(partition: i32) -> Tp {
        Tp {
            topic: 0,
            partition,
        }
    }

    /// The settings of a consumer labelled `label`, with the static member id the daemon
    /// gives it under `CONSUMER_INSTANCE_ID=host-7`.
    fn settings(label: &str) -> ConsumerSettings {
        ConsumerSettings {
            instance_id: Some(format!("host-7-{label}")),
            ..ConsumerSettings::new("g", ["t"])
        }
    }

    fn refused(settings: &ConsumerSettings) -> Result<(), LoopError> {
        Err(LoopError::FatalConsumer {
            client: settings.name.clone(),
            error: KafkaError::MessageConsumptionFatal(RDKafkaErrorCode::UnreleasedInstanceId),
        })
    }

    fn fenced(settings: &ConsumerSettings) -> Result<(), LoopError> {
        Err(LoopError::FatalConsumer {
            client: settings.name.clone(),
            error: KafkaError::MessageConsumptionFatal(RDKafkaErrorCode::FencedInstanceId),
        })
    }

    /// Found by the soak: a broker frozen past the session timeout made librdkafka rejoin
    /// under the same id, and the old member's commit came back "fenced": fatal, exit 1.
    #[test]
    fn a_fenced_consumer_is_created_again_and_stops_when_fenced_too_often() {
        let single = settings("single");
        let (shutdown, stats) = (Shutdown::new(), ConsumerStats::default());
        let mut release = StaticMemberRecovery::new(&single);
        let started = Instant::now();
        for _ in 1..MAX_FENCES {
            assert_eq!(
                release.wait_after(fenced(&single), &shutdown, &stats),
                Ok(true)
            );
        }
        assert!(started.elapsed() >= AFTER_FENCED * (MAX_FENCES as u32 - 1));
        match release.wait_after(fenced(&single), &shutdown, &stats) {
            Err(error @ LoopError::InstanceIdFenced { .. }) => {
                let line = error.to_string();
                assert!(
                    line.contains("host-7-single") && line.contains("CONSUMER_INSTANCE_ID"),
                    "{line}"
                );
            }
            other => panic!("{other:?}"),
        }
        // What the soak saw from broker faults alone: a fence every 90 s or so, forever.
        let mut release = StaticMemberRecovery::new(&single);
        let now = Instant::now();
        release.fenced_at = (1..=10)
            .map(|i| now - Duration::from_secs(90) * i)
            .filter(|at| now.duration_since(*at) < FENCED_WINDOW * 10)
            .collect();
        assert_eq!(
            release.wait_after(fenced(&single), &shutdown, &stats),
            Ok(true),
            "fences a broker fault apart are not a second instance"
        );
        // Fences older than the window are forgotten.
        let mut release = StaticMemberRecovery::new(&single);
        release.fenced_at = vec![Instant::now() - FENCED_WINDOW - Duration::from_secs(1); 5];
        assert_eq!(
            release.wait_after(fenced(&single), &shutdown, &stats),
            Ok(true)
        );
        // A stop while waiting ends it quietly.
        shutdown.stop(crate::lifecycle::StopReason::Requested);
        assert_eq!(
            StaticMemberRecovery::new(&single).wait_after(fenced(&single), &shutdown, &stats),
            Ok(false)
        );
    }

    #[test]
    fn a_held_instance_id_is_waited_for_within_a_bound_and_other_outcomes_pass() {
        let batch = settings("batch");
        let (shutdown, stats) = (Shutdown::new(), ConsumerStats::default());
        let mut release = StaticMemberRecovery::new(&batch);
        assert_eq!(release.wait_after(Ok(()), &shutdown, &stats), Ok(false));
        let other = LoopError::NoDeadLetterProducer {
            client: "x".to_string(),
        };
        assert_eq!(
            release.wait_after(Err(other.clone()), &shutdown, &stats),
            Err(other)
        );
        release.limit = Duration::from_millis(1500);
        let started = Instant::now();
        assert_eq!(
            release.wait_after(refused(&batch), &shutdown, &stats),
            Ok(true)
        );
        let mut outcome = Ok(true);
        while outcome == Ok(true) {
            outcome = release.wait_after(refused(&batch), &shutdown, &stats);
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        match outcome {
            Err(LoopError::InstanceIdHeld { instance_id, .. }) => {
                assert_eq!(instance_id, "host-7-batch")
            }
            other => panic!("{other:?}"),
        }
        let line = release
            .wait_after(refused(&batch), &shutdown, &stats)
            .expect_err("still over")
            .to_string();
        assert!(
            line.contains("group.instance.id host-7-batch is still held"),
            "{line}"
        );
    }

    #[test]
    fn a_stop_ends_the_wait_for_a_held_instance_id() {
        let single = settings("single");
        let (shutdown, stats) = (Shutdown::new(), ConsumerStats::default());
        shutdown.stop(crate::lifecycle::shutdown::StopReason::Requested);
        let mut release = StaticMemberRecovery::new(&single);
        assert_eq!(
            release.wait_after(refused(&single), &shutdown, &stats),
            Ok(false)
        );
    }

    #[test]
    fn consumers_store_offsets_by_hand_and_refetch_quickly() {
        let single = consumer_config(&config(&[]), &ConsumerSettings::new("g", ["t"]), true);
        assert_eq!(single.get("group.id"), Some("g"));
        assert_eq!(single.get("enable.auto.commit"), Some("true"));
        assert_eq!(single.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(single.get("fetch.queue.backoff.ms"), Some("50"));
        assert_eq!(
            single.get("topic.metadata.refresh.interval.ms"),
            Some("30000"),
            "a partition added is read within about 30 s, not 5 min"
        );
        let batch = consumer_config(&config(&[]), &ConsumerSettings::new("g2", ["t"]), false);
        assert_eq!(batch.get("group.id"), Some("g2"));
        assert_eq!(batch.get("enable.auto.commit"), Some("false"));
    }

    #[test]
    fn a_static_member_id_is_set_only_when_given() {
        let c = config(&[]);
        assert_eq!(
            consumer_config(&c, &settings("single"), true).get("group.instance.id"),
            Some("host-7-single")
        );
        assert_eq!(
            consumer_config(&c, &ConsumerSettings::new("g", ["t"]), true).get("group.instance.id"),
            None
        );
    }

    #[test]
    fn librdkafka_variables_override_the_consumer_defaults() {
        let client = consumer_config(
            &config(&[
                ("LIBRDKAFKA_FETCH_QUEUE_BACKOFF_MS", "1000"),
                ("LIBRDKAFKA_AUTO_OFFSET_RESET", "latest"),
            ]),
            &ConsumerSettings::new("g", ["t"]),
            true,
        );
        assert_eq!(client.get("fetch.queue.backoff.ms"), Some("1000"));
        assert_eq!(client.get("auto.offset.reset"), Some("latest"));
    }
}
