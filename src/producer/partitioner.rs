//! Where a record goes: the producer chooses each record's partition itself, as the Java
//! client's default partitioner does for a record with a key —
//! `toPositive(murmur2(key)) % partitions` — so the daemon and Java producers put the same key
//! in the same partition (librdkafka's own default, `consistent_random`, hashes with CRC32 and
//! places keys elsewhere). Knowing the partition when sending is also what lets a reader audit
//! each partition's sequence.
//!
//! The partition count comes from the topic's metadata, fetched before the first record and
//! again every [`REFRESH_EVERY`] by a thread of the producer's own
//! ([`PartitionCount::keep_current`]), so partitions added to the topic are used from then on.
//! Off the send path: a refresh's metadata request to a hung broker takes its whole
//! [`REFRESH_TIMEOUT`], and a send must not wait for it.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

use crate::lifecycle::retry::{retry_until_stopped, Backoff};
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::health::Heartbeat;
use crate::ops::log_target;

/// How often the partition count is asked for again.
const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// How long the first metadata request may take; well under the loops' stall limit.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a refresh's metadata request may take. Shorter than the first's: a refresh is not
/// urgent (a failed one keeps the count, and the next comes a minute later), and a refresh
/// under way with hung brokers holds [`Producer::close`](super::Producer::close) until it ends.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(2);

/// How soon the `partition-count` thread notices a close or a stop between its requests.
const KEEP_CURRENT_TICK: Duration = Duration::from_millis(100);

/// Between tries to learn the partition count before the first record (the topic may be
/// being created, or the brokers down).
const FIRST_COUNT_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5));

/// The partition of `key` among `partitions`, as the Java client computes it
/// (`Utils.toPositive(Utils.murmur2(key)) % partitions`). `partitions` must be positive.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Kafka's `Utils.murmur2`: MurmurHash2, 32 bits, seed `0x9747b28c`, as Java computes it on
/// signed ints (the wrapping arithmetic below is Java's).
fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() == 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The topic's partition count, as last learned: read by every send, learned by the first
/// and kept current by the producer's `partition-count` thread.
#[derive(Debug, Default)]
pub(crate) struct PartitionCount {
    /// 0 until learned (a topic has at least one partition).
    partitions: AtomicI32,
}

impl PartitionCount {
    /// The count, once learned.
    pub(crate) fn known(&self) -> Option<i32> {
        match self.partitions.load(Ordering::Acquire) {
            0 => None,
            n => Some(n),
        }
    }

    /// Learns the count before the first record, waiting (and beating `heartbeat`) until the
    /// topic's metadata names its partitions; `None` if the stop or a close (`closing`,
    /// looked at before each request) comes first.
    pub(crate) fn learn<C: ProducerContext>(
        &self,
        producer: &BaseProducer<C>,
        topic: &str,
        closing: &AtomicBool,
        shutdown: &Shutdown,
        heartbeat: &Heartbeat,
    ) -> Option<i32> {
        let partitions = retry_until_stopped(
            &FIRST_COUNT_BACKOFF,
            shutdown,
            Some(heartbeat),
            |_| {
                if closing.load(Ordering::Acquire) {
                    return ControlFlow::Break(None);
                }
                match partition_count(producer, topic, METADATA_TIMEOUT) {
                    Ok(n) => ControlFlow::Break(Some(n)),
                    Err(e) => ControlFlow::Continue(e),
                }
            },
            |e, attempt, wait| {
                if attempt == 1 || attempt % 10 == 0 {
                    log::warn!(
                        target: log_target::PRODUCER,
                        "producer: cannot learn the partitions of {topic} yet ({e}); trying again in {wait:?}"
                    );
                }
            },
        )??;
        log::info!(
            target: log_target::PRODUCER,
            "producer: {topic} has {partitions} partitions"
        );
        self.partitions.store(partitions, Ordering::Release);
        Some(partitions)
    }

    /// Asks for the count again [`REFRESH_EVERY`] after it was learned, and every
    /// [`REFRESH_EVERY`] after that (a failed refresh keeps the count known), until `closing`
    /// is set or the stop begins: the body of the `partition-count` thread. Returns within
    /// [`KEEP_CURRENT_TICK`] of either, or within [`REFRESH_TIMEOUT`] from inside a request.
    pub(crate) fn keep_current<C: ProducerContext>(
        &self,
        producer: &BaseProducer<C>,
        topic: &str,
        closing: &AtomicBool,
        shutdown: &Shutdown,
    ) {
        let mut due = None;
        while !closing.load(Ordering::Acquire) {
            let now = Instant::now();
            let known = self.known();
            match next_look(known, due, now) {
                NextLook::Wait(at) => due = at,
                NextLook::Now => {
                    if let Some(known) = known {
                        self.refresh(producer, topic, known);
                    }
                    // From before the request: a hung broker does not stretch the period.
                    due = Some(now + REFRESH_EVERY);
                }
            }
            if shutdown.sleep(KEEP_CURRENT_TICK) {
                return;
            }
        }
    }

    /// Asks for the count once; says when it changed, or why it could not be had.
    fn refresh<C: ProducerContext>(&self, producer: &BaseProducer<C>, topic: &str, known: i32) {
        match partition_count(producer, topic, REFRESH_TIMEOUT) {
            Ok(n) if n != known => {
                log::info!(
                    target: log_target::PRODUCER,
                    "producer: {topic} now has {n} partitions (had {known})"
                );
                self.partitions.store(n, Ordering::Release);
            }
            Ok(_) => {}
            Err(e) => log::warn!(
                target: log_target::PRODUCER,
                "producer: cannot refresh the partitions of {topic} ({e}); keeping {known}"
            ),
        }
    }
}

/// When the `partition-count` thread asks next: not before the count is learned (by the first
/// send); [`REFRESH_EVERY`] after it first sees it learned; then when `due`.
#[derive(Debug, PartialEq)]
enum NextLook {
    /// Not yet: wait, with this due time.
    Wait(Option<Instant>),
    /// Ask now.
    Now,
}

fn next_look(known: Option<i32>, due: Option<Instant>, now: Instant) -> NextLook {
    match (known, due) {
        (None, _) => NextLook::Wait(None),
        (Some(_), None) => NextLook::Wait(Some(now + REFRESH_EVERY)),
        (Some(_), Some(at)) if now >= at => NextLook::Now,
        (Some(_), at) => NextLook::Wait(at),
    }
}

/// The number of partitions the brokers report for `topic`, asked within `timeout`.
fn partition_count<C: ProducerContext>(
    producer: &BaseProducer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, String> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| e.to_string())?;
    let entry = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| "not in the metadata".to_string())?;
    if let Some(error) = entry.error() {
        return Err(RDKafkaErrorCode::from(error).to_string());
    }
    match i32::try_from(entry.partitions().len()) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("no partitions yet".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not before the first send learned the count; a minute after the thread first sees it,
    /// then a minute after each look began, whatever was sent meanwhile (a count looked at
    /// every 64th record went stale for an hour at `PRODUCE_INTERVAL_MS=60000`).
    #[test]
    fn the_count_is_asked_for_a_minute_after_it_was_learned_and_every_minute_after() {
        let now = Instant::now();
        assert_eq!(next_look(None, None, now), NextLook::Wait(None));
        let first = now + REFRESH_EVERY;
        assert_eq!(next_look(Some(3), None, now), NextLook::Wait(Some(first)));
        let just_before = first - Duration::from_millis(1);
        assert_eq!(
            next_look(Some(3), Some(first), just_before),
            NextLook::Wait(Some(first))
        );
        assert_eq!(next_look(Some(3), Some(first), first), NextLook::Now);
        let an_hour_on = now + Duration::from_secs(3600);
        assert_eq!(next_look(Some(3), Some(first), an_hour_on), NextLook::Now);
    }

    #[test]
    fn murmur2_matches_kafka_s_published_vectors() {
        // From Kafka's UtilsTest.testMurmur2 (clients/src/test/.../UtilsTest.java).
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partitions_are_positive_and_in_range() {
        for n in 1..=64 {
            for key in [&b""[..], b"k", b"user_1", b"\xff\xff\xff\xff"] {
                let p = java_partition(key, n);
                assert!((0..n).contains(&p), "{p} of {n}");
            }
        }
    }
}
