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
//! - "batch" group: collect `--batch-size` records (each read as above), then one synchronous
//!   commit of the next offsets, for `--batch` records and on while the single group still
//!   reads (the daemon's batch group runs as long as its single group does); it times each
//!   collect+handle and each commit of the first `--batch` records, whose medians give the
//!   batch bound.
//!
//! With `--owned` (the drain's second baseline) each group also does what any consumer that
//! hands records to other code must: it decodes the value into an owned `String` (the daemon's
//! `User`) and copies the key and headers into one buffer (the daemon's `Record`); the batch
//! group holds its batch's owned records until the batch is committed, as the daemon holds a
//! batch until its commit. Without it, the loops borrow everything from the message.
//!
//! Whatever the daemon puts on the wire changes here too (a test of the daemon's frame is not
//! enough: the bench compares like with like only while this file follows the daemon).
//!
//! The bench times it as it times the daemon: it serves the same counters at
//! `127.0.0.1:<--metrics-port>/` (produced, delivered, consumed per group), and the bench reads
//! its CPU and memory from /proc at the same moments. Once every client is done it waits for
//! stdin to close, then prints the batch group's median times as `key value` lines on stdout;
//! exit status 1 when a client made no progress for `--stall-s`.
//!
//! Latency mode (`--latency`), the counterpart of the daemon's latency phase: the producer
//! sends one record per `--interval-ms` on the same ticker as the daemon's
//! (`crossbeam_channel::tick`) and writes its send time into the stamp (microseconds, read per
//! record as the daemon's stamper does); the single group times each record once handled, the
//! batch group each record of a batch once the batch is handled, before its commit, from that
//! stamp into the daemon's own histogram type, served under the daemon's
//! `kafka_avro_daemon_latency_seconds` name; the batch group also ends a partial batch after
//! the daemon's default `FETCH_WAIT_MAX_MS`. Every loop runs until stdin closes; `--from-end`
//! starts the groups at the end of the topic. Outside this mode the stamp's time stays zero
//! and nothing is timed, so the max-rate and drain figures stay those of earlier runs.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_avro_daemon::internals::{java_partition, LatencyHistogram, HEADER_AUDIT};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::args::Args;
use crate::median::median;

/// The daemon's `kad.audit` stamp length (src/audit/stamp.rs).
const STAMP_LEN: usize = 42;
/// The key `rdkafka_performance -k` gets for the pace check: a UUID's length.
pub(crate) const FIXED_KEY: &str = "00000000-0000-4000-8000-000000000000";
const POLL: Duration = Duration::from_millis(100);
/// The daemon's default `FETCH_WAIT_MAX_MS`: the longest a partial batch waits (latency mode).
const BATCH_MAX_WAIT: Duration = Duration::from_millis(1000);

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
    metrics_port: u16,
    /// Latency mode (see the module's docs).
    latency: bool,
    interval: Duration,
    from_end: bool,
    /// Records made owned (see the module's docs).
    owned: bool,
}

impl Options {
    pub(crate) fn parse(args: &mut Args) -> Result<Options, String> {
        let latency = args.flag("--latency");
        let interval = if latency {
            let ms: u64 = args.number("--interval-ms")?;
            if ms == 0 {
                return Err("--interval-ms must be at least 1 in latency mode".into());
            }
            Duration::from_millis(ms)
        } else {
            Duration::ZERO
        };
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
            metrics_port: args.number("--metrics-port")?,
            latency,
            interval,
            from_end: args.flag("--from-end"),
            owned: args.flag("--owned"),
        })
    }
}

/// The counts the bench reads, served as the daemon's /metrics names so that the bench times
/// the baseline exactly as it times the daemon (same scrapes, same CPU reads).
#[derive(Default)]
struct Counts {
    produced: AtomicU64,
    delivered: AtomicU64,
    single: AtomicU64,
    batch: AtomicU64,
    /// Latency mode only.
    single_latency: LatencyHistogram,
    batch_latency: LatencyHistogram,
    /// Latency mode: set when stdin closes; every loop ends.
    stop: AtomicBool,
    /// Latency mode is on: the quantiles are served.
    latency: bool,
}

impl Counts {
    fn text(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut text = format!(
            "kafka_avro_daemon_produced_total {}\nkafka_avro_daemon_delivered_total {}\n\
             kafka_avro_daemon_consumed_total{{consumer=\"single\"}} {}\n\
             kafka_avro_daemon_consumed_total{{consumer=\"batch\"}} {}\n",
            get(&self.produced),
            get(&self.delivered),
            get(&self.single),
            get(&self.batch)
        );
        if !self.latency {
            return text;
        }
        // As the daemon's /metrics: quantiles as bucket bounds of the same histogram.
        for (kind, histogram) in [
            ("single", &self.single_latency),
            ("batch", &self.batch_latency),
        ] {
            for (label, q) in [("0.5", 0.5), ("0.99", 0.99), ("1", 1.0)] {
                let seconds = histogram.quantile(q).map_or(0.0, |d| d.as_secs_f64());
                text.push_str(&format!(
                    "kafka_avro_daemon_latency_seconds{{consumer=\"{kind}\",quantile=\"{label}\"}} {seconds:.6}\n"
                ));
            }
        }
        text
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Whether a loop that has done `done` of `target` goes on: until its target, or in latency
/// mode until stdin closes.
fn more(options: &Options, counts: &Counts, done: u64, target: u64) -> bool {
    if options.latency {
        !counts.stopped()
    } else {
        done < target
    }
}

/// Whether the single group still reads (outside latency mode): the batch loop goes on past
/// its target while it does, as the daemon's batch group does (the bench stops the daemon once
/// both groups are done). Stopped at its target, it would leave the single group the machine
/// to itself, which the daemon's never has: at BATCH_SIZE=10 its commits (a synchronous one
/// every 10 records) take a quarter of the daemon's samples for the whole drain.
fn single_reads(options: &Options, counts: &Counts) -> bool {
    !options.latency && counts.single.load(Ordering::Relaxed) < options.single
}

/// Microseconds since the Unix epoch, now.
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Answers every connection with the counts (HTTP/1.0, then close), until the process ends.
fn serve(listener: TcpListener, counts: &Counts) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut request = [0u8; 512];
        let _ = stream.read(&mut request);
        let body = counts.text();
        let _ = write!(
            stream,
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }
}

/// Runs the producer and both groups at once, as the daemon does; then waits for stdin to
/// close (the bench has read the final counts) and prints the figures.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", options.metrics_port))
        .map_err(|e| format!("baseline: port {}: {e}", options.metrics_port))?;
    let counts: &'static Counts = Box::leak(Box::new(Counts {
        latency: options.latency,
        ..Counts::default()
    }));
    std::thread::spawn(move || serve(listener, counts));
    if options.latency {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            counts.stop.store(true, Ordering::Relaxed);
        });
    }
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
            handles.push(spawn(scope, "producer", || produce(options, counts))?);
        }
        if options.single > 0 {
            handles.push(spawn(scope, "single-consumer", || {
                consume_single(options, counts)
            })?);
        }
        if options.batch > 0 {
            let batch = || consume_batch(options, counts, &put);
            handles.push(spawn(scope, "batch-consumer", batch)?);
        }
        let mut outcome = Ok(());
        for handle in handles {
            let result = handle
                .join()
                .unwrap_or_else(|_| Err("a thread panicked".into()));
            if outcome.is_ok() {
                outcome = result;
            }
        }
        outcome
    });
    // The bench closes stdin once it has seen the final counts (in latency mode, it did).
    if !options.latency {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    }
    for (key, value) in figures.into_inner().unwrap_or_default() {
        println!("{key} {value}");
    }
    outcome
}

/// A thread named as the daemon's, so that profiles of both read alike.
fn spawn<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    work: impl FnOnce() -> Result<(), String> + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, Result<(), String>>, String> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn_scoped(scope, work)
        .map_err(|e| format!("cannot start a thread: {e}"))
}

/// Counts delivery reports; notes the time and CPU when the last one arrives.
struct Deliveries {
    counts: &'static Counts,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counts.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

fn produce(options: &Options, counts: &'static Counts) -> Result<(), String> {
    let context = Deliveries {
        counts,
        failed: AtomicU64::new(0),
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
        let poller = std::thread::Builder::new()
            .name("producer-poll".to_string())
            .spawn_scoped(scope, || {
                while sending.load(Ordering::Acquire) {
                    producer.poll(POLL);
                }
            });
        if let Err(e) = poller {
            return Err(format!("cannot start a thread: {e}"));
        }
        let mut payload = Vec::with_capacity(32);
        let mut name = String::with_capacity(24);
        let mut key_buffer = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let mut stamp = [0u8; STAMP_LEN];
        stamp[0] = 1;
        let ticker = options
            .latency
            .then(|| crossbeam_channel::tick(options.interval));
        let mut n = 0u64;
        while more(options, counts, n, options.produce) {
            if let Some(ticker) = &ticker {
                let _ = ticker.recv();
            }
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
            if options.latency {
                // Just before the record is built and sent, as the daemon's stamper reads it.
                stamp[26..34].copy_from_slice(&now_us().to_be_bytes());
            }
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
                    Ok(()) => {
                        counts.produced.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                        break;
                    }
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
        let delivered = counts.delivered.load(Ordering::Relaxed);
        if flushed.is_ok() && delivered == n {
            return Ok(());
        }
        Err(format!(
            "baseline producer: {delivered} of {n} delivered, {} failed",
            producer.context().failed.load(Ordering::Relaxed)
        ))
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

/// A record made owned (`--owned`): its value decoded into a `String`, and its key and headers
/// in one buffer, as the daemon's `Wire` holds them (the key, then per header its name's length,
/// its name, its value's length, `u32::MAX` for a null value, and its value). It leaves out what
/// the daemon's `Record` adds besides (its topic's `Arc<str>`, the timestamp).
struct Owned {
    name: String,
    wire: Vec<u8>,
}

impl Owned {
    /// Its bytes: summed by the callers as the handled lengths are.
    fn len(&self) -> usize {
        self.name.len() + self.wire.len()
    }
}

/// The daemon's marker for a null header value in its `Wire`.
const NULL_VALUE: u32 = u32::MAX;

/// The handling both groups do: find the stamp, read the frame and the name. Returns the
/// stamp's and the name's length (summed by the callers so that nothing is optimised away),
/// the stamp's send time (µs; zero outside latency mode) and, with `owned`, the record made
/// owned. One pass over the headers, as the daemon's: with `owned` it copies each one as it
/// looks for the stamp; without, it stops at the stamp.
fn handle(message: &BorrowedMessage<'_>, owned: bool) -> (usize, u64, Option<Owned>) {
    let mut wire = owned.then(|| {
        let key = message.key().unwrap_or_default();
        let mut wire = Vec::with_capacity(key.len() + 96);
        wire.extend_from_slice(key);
        wire
    });
    let mut stamp = None;
    for header in message.headers().iter().flat_map(|h| h.iter()) {
        if stamp.is_none() && header.key == HEADER_AUDIT {
            stamp = header.value;
        }
        match &mut wire {
            Some(wire) => {
                wire.extend_from_slice(&(header.key.len() as u32).to_le_bytes());
                wire.extend_from_slice(header.key.as_bytes());
                match header.value {
                    Some(value) => {
                        wire.extend_from_slice(&(value.len() as u32).to_le_bytes());
                        wire.extend_from_slice(value);
                    }
                    None => wire.extend_from_slice(&NULL_VALUE.to_le_bytes()),
                }
            }
            None if stamp.is_some() => break,
            None => {}
        }
    }
    let sent_us = stamp
        .and_then(|v| v.get(26..34))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes);
    let name = message.payload().and_then(|p| {
        let body = p.strip_prefix(&[0u8])?.get(4..)?;
        let (&len, rest) = body.split_first()?;
        std::str::from_utf8(rest.get(..usize::from(len / 2))?).ok()
    });
    let owned = wire.map(|wire| Owned {
        name: name.unwrap_or_default().to_owned(),
        wire,
    });
    (
        stamp.map_or(0, <[u8]>::len) + name.map_or(0, str::len),
        sent_us,
        owned,
    )
}

/// Stores a consumed message's offset as the daemon does (`store_offset_of` in
/// src/consumer/client.rs): through the partition the message holds, not rdkafka's
/// `store_offset_from_message`, which looks it up through the topic per record. The error's
/// code, if any.
fn store_offset(message: &BorrowedMessage<'_>) -> Option<rdkafka::types::RDKafkaErrorCode> {
    use rdkafka::bindings as rd;
    // SAFETY: a message from this consumer's poll, alive for the call; the error object
    // returned (or null) is ours, read and freed once.
    unsafe {
        let error = rd::rd_kafka_offset_store_message(message.ptr());
        if error.is_null() {
            return None;
        }
        let code = rd::rd_kafka_error_code(error);
        rd::rd_kafka_error_destroy(error);
        Some(code.into())
    }
}

/// Records the latency of a record sent at `sent_us`, handled at `now_us`.
fn time(histogram: &LatencyHistogram, sent_us: u64, now_us: u64) {
    histogram.record(Duration::from_micros(now_us.saturating_sub(sent_us)));
}

fn consumer(options: &Options, group: &str, auto_commit: bool) -> Result<BaseConsumer, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap)
        .set("group.id", format!("{}-{group}", options.groups))
        .set("enable.auto.commit", auto_commit.to_string())
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            if options.from_end {
                "latest"
            } else {
                "earliest"
            },
        )
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

fn consume_single(options: &Options, counts: &Counts) -> Result<(), String> {
    let counter = &counts.single;
    let consumer = consumer(options, "g1", true)?;
    let (mut count, mut sink) = (0u64, 0usize);
    let mut progress = Progress {
        last: 0,
        since: Instant::now(),
        stall: options.stall,
    };
    while more(options, counts, count, options.single) {
        match consumer.poll(POLL) {
            Some(Ok(message)) => {
                // Timed when the poll returned it, as the daemon's single group times a record
                // (one clock read per turn, before decoding and handling).
                let polled_us = options.latency.then(now_us);
                let (handled, sent_us, owned) = handle(&message, options.owned);
                // Handed over and dropped once handled, as the daemon's single group does;
                // black_box: to code the compiler cannot see, as the daemon's handler is.
                sink += handled + black_box(&owned).as_ref().map_or(0, Owned::len);
                if let Some(polled_us) = polled_us {
                    time(&counts.single_latency, sent_us, polled_us);
                }
                if let Some(code) = store_offset(&message) {
                    eprintln!("baseline single: store: {code:?}");
                }
                count += 1;
                counter.store(count, Ordering::Relaxed);
            }
            Some(Err(e)) => eprintln!("baseline single: {e}"),
            None => {}
        }
        if progress.stalled(count) {
            return Err(format!(
                "baseline single: stalled at {count} of {}",
                options.single
            ));
        }
    }
    black_box(sink);
    Ok(())
}

fn consume_batch(
    options: &Options,
    counts: &Counts,
    put: &(dyn Fn(&str, f64) + Sync),
) -> Result<(), String> {
    let counter = &counts.batch;
    let consumer = consumer(options, "g2", false)?;
    let (mut count, mut sink) = (0u64, 0usize);
    let mut progress = Progress {
        last: 0,
        since: Instant::now(),
        stall: options.stall,
    };
    let mut collect_s = Vec::new();
    let mut commit_s = Vec::new();
    let mut batch: Vec<(i32, i64)> = Vec::with_capacity(options.batch_size);
    let mut sent: Vec<u64> = Vec::with_capacity(options.batch_size);
    // `--owned`: the batch's records, held until it is committed.
    let mut held: Vec<Owned> = Vec::with_capacity(options.batch_size);
    let mut single_progress = Progress {
        last: 0,
        since: Instant::now(),
        stall: options.stall,
    };
    'batches: while more(options, counts, count, options.batch) || single_reads(options, counts) {
        let collecting = Instant::now();
        let mut first: Option<Instant> = None;
        // A batch begun below the target ends at it, as before (timed, and counted when the
        // target is reached); batches past it go on while the single group reads. Latency
        // mode has no target: every batch is timed and the group's own stall is checked.
        let timed = options.latency || count < options.batch;
        let room = |taken: usize| {
            taken < options.batch_size
                && if timed {
                    more(options, counts, count + taken as u64, options.batch)
                } else {
                    single_reads(options, counts)
                }
        };
        while room(batch.len()) {
            // Latency mode: a partial batch is due BATCH_MAX_WAIT after its first record.
            let timeout = match first {
                Some(first) if options.latency => {
                    let left = BATCH_MAX_WAIT.saturating_sub(first.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    left.min(POLL)
                }
                _ => POLL,
            };
            match consumer.poll(timeout) {
                Some(Ok(message)) => {
                    let (handled, sent_us, owned) = handle(&message, options.owned);
                    sink += handled + black_box(&owned).as_ref().map_or(0, Owned::len);
                    batch.push((message.partition(), message.offset()));
                    held.extend(owned);
                    if options.latency {
                        sent.push(sent_us);
                        first.get_or_insert_with(Instant::now);
                    }
                }
                Some(Err(e)) => eprintln!("baseline batch: {e}"),
                None => {}
            }
            if timed {
                if progress.stalled(count + batch.len() as u64) {
                    return Err(format!(
                        "baseline batch: stalled at {count} of {}",
                        options.batch
                    ));
                }
            } else if single_progress.stalled(counts.single.load(Ordering::Relaxed)) {
                // Past its target the topic may be read to its end while the single group
                // reads on; a single group that stopped (its own loop says why) ends this.
                break 'batches;
            }
        }
        if batch.is_empty() {
            continue;
        }
        // The first batch waits for the group join and the first fetch: not a batch's cost;
        // batches past the target are not timed (the bound is of the batches measured).
        if count > 0 && timed {
            collect_s.push(collecting.elapsed().as_secs_f64());
        }
        // Handled: timed before the commit, as the daemon times a batch's records.
        if options.latency {
            let handled_us = now_us();
            for sent_us in sent.drain(..) {
                time(&counts.batch_latency, sent_us, handled_us);
            }
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
        if timed {
            commit_s.push(committing.elapsed().as_secs_f64());
        }
        count += batch.len() as u64;
        // Counted once committed, as the daemon counts a batch once it is handled.
        counter.store(count, Ordering::Relaxed);
        batch.clear();
        held.clear();
    }
    black_box(sink);
    // Means too: a commit's time has a long tail, so B / (mean + mean) is the rate the loop
    // can actually reach, lower than the bound of medians.
    put("commit_mean_s", mean(&commit_s));
    put("collect_mean_s", mean(&collect_s));
    put("commit_median_s", median(commit_s));
    put("collect_median_s", median(collect_s));
    Ok(())
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}
