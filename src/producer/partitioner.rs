//! Where a record goes: the producer chooses each record's partition itself, as the Java
//! client's default partitioner does for a record with a key —
//! `toPositive(murmur2(key)) % partitions` — so the daemon and Java producers put the same key
//! in the same partition (librdkafka's own default, `consistent_random`, hashes with CRC32 and
//! places keys elsewhere). Knowing the partition when sending is also what lets a reader audit
//! each partition's sequence.
//!
//! The partition count comes from the topic's metadata, fetched before the first record and
//! again by the first record sent [`REFRESH_EVERY`] or more after the last look, so partitions
//! added to the topic are used from then on.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

use crate::lifecycle::retry::{retry_until_stopped, Backoff};
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::health::Heartbeat;
use crate::ops::log_target;

/// How often the partition count is asked for again.
const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// How long one metadata request may take; well under the loops' stall limit.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

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

/// The topic's partition count, as last learned.
pub(crate) struct PartitionCount {
    partitions: i32,
    asked_at: Instant,
}

impl PartitionCount {
    /// Learns the count before the first record, waiting (and beating `heartbeat`) until the
    /// topic's metadata names its partitions; `None` if the daemon stops first.
    pub(crate) fn learn<C: ProducerContext>(
        producer: &BaseProducer<C>,
        topic: &str,
        shutdown: &Shutdown,
        heartbeat: &Heartbeat,
    ) -> Option<PartitionCount> {
        let partitions = retry_until_stopped(
            &FIRST_COUNT_BACKOFF,
            shutdown,
            Some(heartbeat),
            |_| match partition_count(producer, topic) {
                Ok(n) => ControlFlow::Break(n),
                Err(e) => ControlFlow::Continue(e),
            },
            |e, attempt, wait| {
                if attempt == 1 || attempt % 10 == 0 {
                    log::warn!(
                        target: log_target::PRODUCER,
                        "producer: cannot learn the partitions of {topic} yet ({e}); trying again in {wait:?}"
                    );
                }
            },
        )?;
        Some(PartitionCount {
            partitions,
            asked_at: Instant::now(),
        })
    }

    /// The count, asked for again when [`REFRESH_EVERY`] has passed (a failed refresh keeps
    /// the count known). The clock is read at every record (about 30 ns): a count looked at
    /// only every so many records would go stale for hours at a slow rate.
    pub(crate) fn current<C: ProducerContext>(
        &mut self,
        producer: &BaseProducer<C>,
        topic: &str,
    ) -> i32 {
        let now = Instant::now();
        if self.is_due(now) {
            self.asked_at = now;
            match partition_count(producer, topic) {
                Ok(n) if n != self.partitions => {
                    log::info!(
                        target: log_target::PRODUCER,
                        "producer: {topic} now has {n} partitions (had {})",
                        self.partitions
                    );
                    self.partitions = n;
                }
                Ok(_) => {}
                Err(e) => log::warn!(
                    target: log_target::PRODUCER,
                    "producer: cannot refresh the partitions of {topic} ({e}); keeping {}",
                    self.partitions
                ),
            }
        }
        self.partitions
    }

    /// Whether the count is to be asked for again at `now`.
    fn is_due(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.asked_at) >= REFRESH_EVERY
    }
}

/// The number of partitions the brokers report for `topic`.
fn partition_count<C: ProducerContext>(
    producer: &BaseProducer<C>,
    topic: &str,
) -> Result<i32, String> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
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

    /// Due by the time alone, at whatever record: a count looked at every 64th record (as it
    /// was) went stale for an hour at `PRODUCE_INTERVAL_MS=60000`.
    #[test]
    fn the_count_is_due_a_minute_after_the_last_look_whatever_was_sent_meanwhile() {
        let asked_at = Instant::now();
        let count = PartitionCount {
            partitions: 3,
            asked_at,
        };
        assert!(!count.is_due(asked_at));
        assert!(!count.is_due(asked_at + REFRESH_EVERY - Duration::from_millis(1)));
        assert!(count.is_due(asked_at + REFRESH_EVERY));
        assert!(count.is_due(asked_at + Duration::from_secs(3600)));
        // A clock read before the last look (another thread's `now`) is not due.
        assert!(!count.is_due(asked_at - Duration::from_secs(1)));
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
