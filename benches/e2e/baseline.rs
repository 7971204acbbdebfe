//! The same-work baseline: the bare loops a careful engineer would write on the same rdkafka
//! crate to do what the daemon does, and nothing else, so the daemon's ratio to it is the
//! daemon's own cost.
//!
//! Same work means the same bytes on the wire and the same client settings:
//! - producer: a 36-byte random UUID key per record (or one fixed key, `--key fixed`, to match
//!   `rdkafka_performance -k`), the partition chosen by the Java murmur2 partitioner and set
//!   explicitly, one 42-byte `kad.audit` header, the Confluent frame (5 bytes) around the Avro
//!   string `user_<n>`, `acks=all`, idempotence, `linger.ms=5`; delivery reports served by a
//!   polling thread, as in the daemon;
//! - "single" group: `poll` per message, read the frame and the stamp header, then store the
//!   offset (auto-commit commits stored offsets): stored ≤ handled, as in the daemon;
//! - "batch" group: collect `--batch` records (each read as above), then one synchronous
//!   commit of the next offsets; it times each collect+handle and each commit, whose medians
//!   give the batch bound.
//!
//! Whatever the daemon puts on the wire changes here too (a test of the daemon's frame is not
//! enough: the bench compares like with like only while this file follows the daemon).
//!
//! Prints its figures as `key value` lines on stdout (see `Figures`); exit status 1 when a
//! client did not reach its count before `--stall-s` without progress.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_avro_daemon::{java_partition, HEADER_AUDIT};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::args::Args;
use crate::proc::self_cpu_and_rss;

/// The daemon's `kad.audit` stamp length (src/audit/stamp.rs).
const STAMP_LEN: usize = 42;
/// The key `rdkafka_performance -k` gets for the pace check: a UUID's length.
pub(crate) const FIXED_KEY: &str = "00000000-0000-4000-8000-000000000000";
const POLL: Duration = Duration::from_millis(100);

pub(crate) struct Options {
    bootstrap: String,
    topic: String,
    groups: String,
    partitions: i32,
    produce: u64,
    fixed_key: bool,
    single: u64,
    batch: u64,
    batch_size: usize,
    stall: Duration,
}

impl Options {
    pub(crate) fn parse(args: &mut Args) -> Result<Options, String> {
        Ok(Options {
            bootstrap: args.value("--bootstrap")?,
            topic: args.value("--topic")?,
            groups: args.value("--groups")?,
            partitions: args.number("--partitions")?,
            produce: args.number("--produce")?,
            fixed_key: args.value("--key")? == "fixed",
            single: args.number("--single")?,
            batch: args.number("--batch")?,
            batch_size: args.number("--batch-size")?,
            stall: Duration::from_secs(args.number("--stall-s")?),
        })
    }
}

/// Runs the producer and both groups at once, as the daemon does; prints the figures.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let figures = Mutex::new(Vec::<(String, f64)>::new());
    let put = |key: &str, value: f64| {
        figures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((key.to_string(), value))
    };
    let outcome: Result<(), String> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        if options.produce > 0 {
            handles.push(scope.spawn(|| produce(options, &put)));
        }
        if options.single > 0 {
            handles.push(scope.spawn(|| consume_single(options, &put)));
        }
        if options.batch > 0 {
            handles.push(scope.spawn(|| consume_batch(options, &put)));
        }
        let mut outcome = Ok(());
        for handle in handles {
            let result = handle.join().unwrap_or_else(|_| Err("a thread panicked".into()));
            if outcome.is_ok() {
                outcome = result;
            }
        }
        outcome
    });
    let (cpu_s, rss_kb) = self_cpu_and_rss();
    put("cpu_end_s", cpu_s);
    put("hwm_mb", rss_kb as f64 / 1024.0);
    for (key, value) in figures.into_inner().unwrap_or_default() {
        println!("{key} {value}");
    }
    outcome
}

/// Counts delivery reports; notes the time and CPU when the last one arrives.
struct Deliveries {
    target: u64,
    delivered: AtomicU64,
    failed: AtomicU64,
    done: Mutex<Option<(Instant, f64)>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.delivered.fetch_add(1, Ordering::Relaxed) + 1 == self.target {
            let cpu = self_cpu_and_rss().0;
            *self.done.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((Instant::now(), cpu));
        }
    }
}

fn produce(options: &Options, put: &(dyn Fn(&str, f64) + Sync)) -> Result<(), String> {
    let context = Deliveries {
        target: options.produce,
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        done: Mutex::new(None),
    };
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create_with_context(context)
        .map_err(|e| format!("baseline producer: {e}"))?;
    let sending = AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while sending.load(Ordering::Acquire) {
                producer.poll(POLL);
            }
        });
        let mut payload = Vec::with_capacity(32);
        let mut name = String::with_capacity(24);
        let mut key_buffer = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let mut stamp = [0u8; STAMP_LEN];
        stamp[0] = 1;
        let started = Instant::now();
        for n in 0..options.produce {
            name.clear();
            use std::fmt::Write as _;
            let _ = write!(name, "user_{n}");
            payload.clear();
            payload.push(0);
            payload.extend_from_slice(&1u32.to_be_bytes());
            zigzag(name.len() as i64, &mut payload);
            payload.extend_from_slice(name.as_bytes());
            let key: &str = if options.fixed_key {
                FIXED_KEY
            } else {
                uuid::Uuid::new_v4()
                    .hyphenated()
                    .encode_lower(&mut key_buffer)
            };
            stamp[18..26].copy_from_slice(&n.to_be_bytes());
            let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
                key: HEADER_AUDIT,
                value: Some(&stamp[..]),
            });
            let mut record = BaseRecord::to(&options.topic)
                .key(key)
                .partition(java_partition(key.as_bytes(), options.partitions))
                .payload(&payload[..])
                .headers(headers);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, returned)) => {
                        // Queue full: the polling thread frees room as reports arrive.
                        record = returned;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
        let flushed = producer.flush(options.stall);
        sending.store(false, Ordering::Release);
        let context = producer.context();
        let done = *context
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (flushed, done) {
            (Ok(()), Some((at, cpu))) => {
                put("prod_rate", options.produce as f64 / at.duration_since(started).as_secs_f64());
                put("cpu_delivered_s", cpu);
                Ok(())
            }
            _ => Err(format!(
                "baseline producer: {} of {} delivered, {} failed",
                context.delivered.load(Ordering::Relaxed),
                options.produce,
                context.failed.load(Ordering::Relaxed)
            )),
        }
    })
}

/// Appends `n` as an Avro long (zigzag varint).
fn zigzag(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// The handling both groups do: find the stamp, read the frame and the name. Returns the name's
/// length (summed by the callers so that nothing is optimised away).
fn handle(message: &BorrowedMessage<'_>) -> usize {
    let stamp = message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == HEADER_AUDIT).and_then(|h| h.value))
        .map_or(0, |v| v.len());
    let name = message.payload().and_then(|p| {
        let body = p.strip_prefix(&[0u8])?.get(4..)?;
        let (&len, rest) = body.split_first()?;
        std::str::from_utf8(rest.get(..usize::from(len / 2))?).ok()
    });
    stamp + name.map_or(0, str::len)
}

fn consumer(options: &Options, group: &str, auto_commit: bool) -> Result<BaseConsumer, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap)
        .set("group.id", format!("{}-{group}", options.groups))
        .set("enable.auto.commit", auto_commit.to_string())
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // As the daemon (src/consumer/client.rs): a catching-up consumer is not held at 1 s.
        .set("fetch.queue.backoff.ms", "50")
        .create()
        .map_err(|e| format!("baseline {group} consumer: {e}"))?;
    consumer
        .subscribe(&[&options.topic])
        .map_err(|e| format!("baseline {group} consumer: {e}"))?;
    Ok(consumer)
}

/// Tells when a consumer stopped progressing for longer than `--stall-s`.
struct Progress {
    last: u64,
    since: Instant,
    stall: Duration,
}

impl Progress {
    fn stalled(&mut self, count: u64) -> bool {
        if count != self.last {
            self.last = count;
            self.since = Instant::now();
        }
        self.since.elapsed() > self.stall
    }
}

fn consume_single(options: &Options, put: &(dyn Fn(&str, f64) + Sync)) -> Result<(), String> {
    let consumer = consumer(options, "g1", true)?;
    let (mut count, mut sink, mut first) = (0u64, 0usize, None);
    let mut progress = Progress { last: 0, since: Instant::now(), stall: options.stall };
    while count < options.single {
        match consumer.poll(POLL) {
            Some(Ok(message)) => {
                sink += handle(&message);
                if let Err(e) = consumer.store_offset_from_message(&message) {
                    eprintln!("baseline single: store: {e}");
                }
                count += 1;
                first.get_or_insert_with(Instant::now);
            }
            Some(Err(e)) => eprintln!("baseline single: {e}"),
            None => {}
        }
        if progress.stalled(count) {
            return Err(format!("baseline single: stalled at {count} of {}", options.single));
        }
    }
    black_box(sink);
    let elapsed = first.map_or(0.0, |t: Instant| t.elapsed().as_secs_f64());
    put("single_rate", (count - 1) as f64 / elapsed);
    put("cpu_single_done_s", self_cpu_and_rss().0);
    Ok(())
}

fn consume_batch(options: &Options, put: &(dyn Fn(&str, f64) + Sync)) -> Result<(), String> {
    let consumer = consumer(options, "g2", false)?;
    let (mut count, mut sink, mut first) = (0u64, 0usize, None);
    let mut progress = Progress { last: 0, since: Instant::now(), stall: options.stall };
    let mut collect_s = Vec::new();
    let mut commit_s = Vec::new();
    let mut batch: Vec<(i32, i64)> = Vec::with_capacity(options.batch_size);
    while count < options.batch {
        let collecting = Instant::now();
        while batch.len() < options.batch_size && count + (batch.len() as u64) < options.batch {
            match consumer.poll(POLL) {
                Some(Ok(message)) => {
                    sink += handle(&message);
                    batch.push((message.partition(), message.offset()));
                    first.get_or_insert_with(Instant::now);
                }
                Some(Err(e)) => eprintln!("baseline batch: {e}"),
                None => {}
            }
            if progress.stalled(count + batch.len() as u64) {
                return Err(format!("baseline batch: stalled at {count} of {}", options.batch));
            }
        }
        // The first batch waits for the group join and the first fetch: not a batch's cost.
        if count > 0 {
            collect_s.push(collecting.elapsed().as_secs_f64());
        }
        let mut offsets = TopicPartitionList::new();
        let mut next: Vec<(i32, i64)> = Vec::new();
        for &(partition, offset) in &batch {
            match next.iter_mut().find(|(p, _)| *p == partition) {
                Some(entry) => entry.1 = entry.1.max(offset + 1),
                None => next.push((partition, offset + 1)),
            }
        }
        for (partition, offset) in next {
            offsets
                .add_partition_offset(&options.topic, partition, Offset::Offset(offset))
                .map_err(|e| format!("baseline batch: {e}"))?;
        }
        let committing = Instant::now();
        if let Err(e) = consumer.commit(&offsets, CommitMode::Sync) {
            eprintln!("baseline batch: commit: {e}");
        }
        commit_s.push(committing.elapsed().as_secs_f64());
        count += batch.len() as u64;
        batch.clear();
    }
    black_box(sink);
    let elapsed = first.map_or(0.0, |t: Instant| t.elapsed().as_secs_f64());
    put("batch_rate", (count - 1) as f64 / elapsed);
    put("cpu_batch_done_s", self_cpu_and_rss().0);
    put("commit_median_s", median(&mut commit_s));
    put("collect_median_s", median(&mut collect_s));
    Ok(())
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
