//! One stack size: every phase, its figures to a `key value` file (see main.rs for the phases).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::baseline::FIXED_KEY;
use crate::measured::{sample, Counts, Measured};
use crate::median::median;
use crate::proc::{cpu_s, status_mb, wait_with_usage};

const REGISTRY: &str = "http://127.0.0.1:8082/apis/ccompat/v7";
const PARTITIONS: u32 = 3;
/// rdkafka_performance's payload: the daemon's are 12..17 bytes (5-byte frame header, one
/// length byte, `user_<n>`).
const RAW_PAYLOAD: &str = "16";
/// The batch size of the max-rate runs: at 10, the batch group's rate is its commit bound
/// (measured in the drain phase), and a run of 1M records would last minutes.
const MAX_RATE_BATCH: usize = 1000;
/// The batch sizes whose bound the drain phase measures.
const BATCH_SIZES: [usize; 3] = [10, 100, 1000];
/// Batches the batch group handles per drain run (fewer with --smoke): enough to be timed
/// where a commit takes 0.3 ms (one broker; 300 batches were over before the first scrape)
/// and a few seconds where it takes 2 ms.
const BATCH_DRAIN_BATCHES: u64 = 2000;
/// The window of a rate must be at least this long to be timed by scraping every 50 ms.
const SHORTEST_WINDOW_S: f64 = 0.25;
const SCRAPE_EVERY: Duration = Duration::from_millis(50);
/// What the latency phase measures, under `lat.<name>.*`: the daemon at a log level, or the
/// baseline (`None`).
const LATENCY_RUNS: [(&str, Option<&str>); 3] = [
    ("warn", Some("warn")),
    ("info", Some("info")),
    ("base", None),
];
/// What the drain phase runs at each batch size, in this order in its first round.
#[derive(Clone, Copy)]
enum Drain {
    Daemon,
    Bare,
    Owned,
}
const DRAIN_RUNS: [Drain; 3] = [Drain::Daemon, Drain::Bare, Drain::Owned];
const QUANTILES: [(&str, &str); 3] = [("p50", "0.5"), ("p99", "0.99"), ("max", "1")];

/// The stages of sampled records (`ops/stages.rs`) the latency phase reports for the daemon,
/// from B's `kafka_avro_daemon_stage_seconds`, in a record's order.
pub(crate) const STAGES: [&str; 4] = [
    "sent_to_polled",
    "polled_to_decoded",
    "decoded_to_handled",
    "handled_to_committed",
];

/// What one latency measurement leaves: B's and A's /metrics text, A's delivered msg/s and how
/// fast B's groups fell behind.
struct Steady {
    text: String,
    writer_text: String,
    rate: f64,
    behind: Behind,
}

/// Records a second by which a group of B read fewer than A delivered over the steady window:
/// about zero for a group that keeps up (give or take the records in flight at either end, a
/// batch at most: ±0.5 msg/s over 20 s), the growth of its backlog, and so of its latency, for
/// one that does not; below zero while it catches up.
struct Behind {
    single: f64,
    batch: f64,
}

pub(crate) struct Settings {
    daemon: String,
    perf: String,
    admin: String,
    me: String,
    bootstrap: String,
    replication: u32,
    count: u64,
    smoke: bool,
    log_info: bool,
    /// Fetch the web console's page once a second from every daemon run (`--console`).
    console: bool,
    latency_s: u64,
    /// Rounds of the latency phase; each runs the daemon at warn, at info and the baseline, in
    /// an order rotated by one per round, so that a noisy moment hits all three alike (three
    /// rounds: each goes first once).
    latency_rounds: usize,
    /// Rounds of the max-rate phase (the daemon and the baseline) and of the drain phase (the
    /// daemon, the bare and the owned baseline at each batch size), in an order rotated each
    /// round; each figure is the median of its rounds (see [`Bench::fold_rounds`]).
    rounds: usize,
    default_s: u64,
    stall_s: u64,
    run_id: String,
    work: String,
    out: String,
    ledger: String,
}

impl Settings {
    pub(crate) fn parse(args: &mut Args) -> Result<Settings, String> {
        Ok(Settings {
            daemon: args.value("--daemon")?,
            perf: args.value("--perf")?,
            admin: args.value("--admin")?,
            me: std::env::current_exe()
                .map_err(|e| format!("cannot find this program: {e}"))?
                .display()
                .to_string(),
            bootstrap: args.value("--bootstrap")?,
            replication: args.number("--brokers")?,
            count: args.number("--count")?,
            smoke: args.flag("--smoke"),
            log_info: args.flag("--log-info"),
            console: args.flag("--console"),
            latency_s: args.number("--latency-s")?,
            latency_rounds: args.number("--latency-rounds")?,
            rounds: match args.number("--rounds")? {
                0 => return Err("--rounds must be at least 1".to_string()),
                rounds => rounds,
            },
            default_s: args.number("--default-s")?,
            stall_s: args.number("--stall-s")?,
            run_id: args.value("--run-id")?,
            work: args.value("--work")?,
            out: args.value("--out")?,
            ledger: args.value("--ledger")?,
        })
    }
}

/// The figures of one stack size and the failures met on the way.
struct Bench<'s> {
    s: &'s Settings,
    figures: BTreeMap<String, f64>,
    failures: Vec<String>,
}

pub(crate) fn run(settings: &Settings) -> Result<(), String> {
    let mut bench = Bench {
        s: settings,
        figures: BTreeMap::new(),
        failures: Vec::new(),
    };
    bench.put("brokers", f64::from(settings.replication));
    bench.put("count", settings.count as f64);
    bench.put("rounds", settings.rounds as f64);
    let base = format!("{}-b{}", settings.run_id, settings.replication);
    let say = |what: &str| eprintln!("bench: {what}");
    let n = settings.count;

    say(&format!(
        "warming the brokers up (rdkafka_performance, {} records)",
        warm_count(n)
    ));
    bench.attempt(|b| b.warm_up(&format!("{base}-warmup")));
    say(&format!(
        "max rate, {} round(s): the daemon (PRODUCE_INTERVAL_MS=0 PRODUCE_COUNT={n} \
         BATCH_SIZE={MAX_RATE_BATCH} RUST_LOG=warn) and the same-work baseline (baseline.rs: the \
         daemon's keys, header, value, partitioner, settings)",
        settings.rounds
    ));
    // The topics the drain reads again: the first of each side's rounds that succeeded.
    let (mut max_topic, mut base_topic) = (None, None);
    for round in 0..settings.rounds {
        for i in 0..2 {
            // Rotated each round (d b, b d, …): a noisy moment does not always hit one side.
            if (i + round) % 2 == 0 {
                let (key, topic) = (format!("d@{round}"), format!("{base}-max{round}"));
                if bench.attempt_round(&key, |b| b.daemon_max_rate(&key, &topic, &[], false)) {
                    max_topic.get_or_insert(topic);
                }
            } else {
                let (key, topic) = (format!("b@{round}"), format!("{base}-base{round}"));
                if bench.attempt_round(&key, |b| b.baseline_max_rate(&key, &topic)) {
                    base_topic.get_or_insert(topic);
                }
            }
        }
    }
    say("raw librdkafka, keyless (rdkafka_performance: 1 producer, 2 consumer groups)");
    let raw_topic = format!("{base}-raw");
    let raw_ok = bench.attempt(|b| b.raw_run(&raw_topic));
    say("pace: the baseline's producer against rdkafka_performance, one fixed key and the header");
    bench.attempt(|b| b.pace(&format!("{base}-pace")));
    for size in BATCH_SIZES {
        say(&format!(
            "drain at BATCH_SIZE={size}: {} round(s) of the daemon, the baseline and the baseline \
             with owned records, in new groups",
            settings.rounds
        ));
        for round in 0..settings.rounds {
            for i in 0..DRAIN_RUNS.len() {
                // Rotated each round, as the latency phase's runs.
                match (
                    DRAIN_RUNS[(i + round) % DRAIN_RUNS.len()],
                    &max_topic,
                    &base_topic,
                ) {
                    (Drain::Daemon, Some(topic), _) => {
                        let key = format!("d.drain{size}@{round}");
                        bench.attempt_round(&key, |b| b.daemon_drain(topic, size, round));
                    }
                    (Drain::Bare, _, Some(topic)) => {
                        // Its bounds are put only once the drain succeeded.
                        let key = format!("b.drain{size}@{round}");
                        bench.attempt_round(&key, |b| b.baseline_drain(topic, size, round));
                    }
                    (Drain::Owned, _, Some(topic)) => {
                        let key = format!("o.drain{size}@{round}");
                        bench.attempt_round(&key, |b| b.owned_baseline_drain(topic, size, round));
                    }
                    _ => {}
                }
            }
        }
    }
    bench.fold_rounds();
    if raw_ok {
        say("drain: rdkafka_performance");
        bench.attempt(|b| b.raw_drain(&raw_topic));
    }
    if settings.log_info {
        say("daemon max rate with RUST_LOG=info (log to a file; producer figure only)");
        bench.attempt(|b| {
            b.daemon_max_rate(
                "info",
                &format!("{base}-info"),
                &[("RUST_LOG", "info")],
                true,
            )
        });
    }
    say(&format!(
        "latency: 1,000 msg/s, {} rounds of the daemon at RUST_LOG=warn, at info \
         and the baseline, {}s each (a second process measures steady state)",
        settings.latency_rounds, settings.latency_s
    ));
    bench.attempt(|b| b.latency(&format!("{base}-lat")));
    say(&format!(
        "default rate: 10 msg/s for {}s",
        settings.default_s
    ));
    bench.attempt(|b| b.default_rate(&format!("{base}-idle")));

    bench.put("failures", bench.failures.len() as f64);
    let mut text = String::new();
    for (key, value) in &bench.figures {
        text.push_str(&format!("{key} {value}\n"));
    }
    std::fs::write(&settings.out, text).map_err(|e| format!("{}: {e}", settings.out))?;
    let cleaned = cleanup_ledger(&settings.admin, &settings.bootstrap, &settings.ledger);
    if !bench.failures.is_empty() {
        return Err(format!(
            "{} run(s) failed: {}",
            bench.failures.len(),
            bench.failures.join("; ")
        ));
    }
    cleaned
}

fn warm_count(n: u64) -> u64 {
    (n / 4).min(250_000)
}

/// `(n1 - n0) / (t1 - t0)`, or NaN (shown as "-") when the window is too short to time by
/// scraping or the first look came after half the records.
fn rate(n0: f64, t0: Instant, n1: f64, t1: Instant) -> f64 {
    let window = t1.duration_since(t0).as_secs_f64();
    if window < SHORTEST_WINDOW_S || (n1 - n0) * 2.0 < n1 {
        return f64::NAN;
    }
    (n1 - n0) / window
}

/// What the baseline does: records to produce (with a random key each, or one fixed key), to
/// handle in the single group and in the batch group, and the batch size.
struct Work {
    produce: u64,
    key: &'static str,
    single: u64,
    batch: u64,
    batch_size: usize,
}

/// What a watched process must reach; `None`: not watched.
struct Want {
    produce: Option<f64>,
    single: Option<f64>,
    batch: Option<f64>,
}

/// The first look at a count above zero and the time it reached its target.
#[derive(Default)]
struct Window {
    first: Option<(Instant, f64)>,
    done: Option<Instant>,
}

impl Window {
    fn see(&mut self, at: Instant, started: f64, reached: f64, target: f64) {
        if self.first.is_none() && started > 0.0 {
            self.first = Some((at, reached));
        }
        if self.done.is_none() && reached >= target {
            self.done = Some(at);
        }
    }

    fn rate(&self, target: f64) -> f64 {
        match (self.first, self.done) {
            (Some((t0, n0)), Some(t1)) => rate(n0, t0, target, t1),
            _ => f64::NAN,
        }
    }
}

impl Bench<'_> {
    fn put(&mut self, key: &str, value: f64) {
        self.figures.insert(key.to_string(), value);
    }

    /// Runs one phase; a failure is noted (and the phase's figures stay missing).
    fn attempt(&mut self, phase: impl FnOnce(&mut Self) -> Result<(), String>) -> bool {
        match phase(self) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("bench: FAILED: {e}");
                self.failures.push(e);
                false
            }
        }
    }

    /// [`Self::attempt`] for one round of a phase that puts its figures under `<key>.*`: a
    /// round that fails leaves none of them, so that its partial figures do not enter the
    /// medians beside the complete rounds'.
    fn attempt_round(
        &mut self,
        key: &str,
        phase: impl FnOnce(&mut Self) -> Result<(), String>,
    ) -> bool {
        let ok = self.attempt(phase);
        if !ok {
            self.figures.retain(|figure, _| {
                !figure
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with('.'))
            });
        }
        ok
    }

    /// Replaces the figures of rounds, `<name>@<round><rest>`, by their median under
    /// `<name><rest>` (missing ones left out; the mean of the middle two of an even count). The
    /// figures of each round stay in the file as they were, for whoever wants the spread.
    fn fold_rounds(&mut self) {
        let mut rounds: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (key, value) in &self.figures {
            let Some((name, tail)) = key.split_once('@') else {
                continue;
            };
            let rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            let values = rounds.entry(format!("{name}{rest}")).or_default();
            if value.is_finite() {
                values.push(*value);
            }
        }
        for (key, values) in rounds {
            self.put(&key, median(values));
        }
    }

    fn note(&self, what: &str, name: &str) -> Result<(), String> {
        let mut ledger = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.s.ledger)
            .map_err(|e| format!("{}: {e}", self.s.ledger))?;
        writeln!(ledger, "{what} {name}").map_err(|e| format!("{}: {e}", self.s.ledger))
    }

    fn new_topic(&self, topic: &str) -> Result<(), String> {
        self.note("topic", topic)?;
        let status = Command::new(&self.s.admin)
            .args([&self.s.bootstrap, "create", topic])
            .args([PARTITIONS.to_string(), self.s.replication.to_string()])
            .status()
            .map_err(|e| format!("{}: {e}", self.s.admin))?;
        status
            .success()
            .then_some(())
            .ok_or_else(|| format!("cannot create topic {topic}"))
    }

    fn daemon(
        &self,
        topic: &str,
        groups: &str,
        extra: &[(&str, String)],
    ) -> Result<Measured, String> {
        self.note("group", &format!("{groups}-g1"))?;
        self.note("group", &format!("{groups}-g2"))?;
        self.note("subject", &format!("{topic}-value"))?;
        let log = format!("{}/{groups}.log", self.s.work);
        let daemon = Measured::start(
            &self.s.daemon,
            &self.s.bootstrap,
            REGISTRY,
            topic,
            groups,
            &log,
            extra,
        )?;
        Ok(if self.s.console {
            daemon.poll_console()
        } else {
            daemon
        })
    }

    fn stall(&self) -> Duration {
        Duration::from_secs(self.s.stall_s)
    }

    /// rdkafka_performance with `args`, its output to `<work>/<name>.out`.
    fn raw<S: AsRef<std::ffi::OsStr>>(
        &self,
        name: &str,
        args: impl IntoIterator<Item = S>,
    ) -> Result<Child, String> {
        let out = format!("{}/{name}.out", self.s.work);
        let file = std::fs::File::create(&out).map_err(|e| format!("{out}: {e}"))?;
        let err = file.try_clone().map_err(|e| format!("{out}: {e}"))?;
        Command::new(&self.s.perf)
            .args(args)
            .args(["-b", &self.s.bootstrap, "-i", "60000"])
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.s.perf))
    }

    /// Waits for an rdkafka_performance run and reads its rate (msg/s) from its summary line.
    fn raw_result(
        &self,
        name: &str,
        child: &mut Child,
        what: &str,
    ) -> Result<(f64, crate::proc::Ended), String> {
        let limit = self.stall() + Duration::from_millis(self.s.count);
        let ended = wait_with_usage(child, limit);
        let out = format!("{}/{name}.out", self.s.work);
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let n = self.s.count;
        // % 1000000 messages produced (16000000 bytes), 1000000 delivered (offset 0, 0 failed) in 9876ms: 101255 msgs/s ...
        // % 1000000 messages (16000000 bytes) consumed in 9876ms: 101255 msgs/s (1.62 MB/s)
        let line = text
            .lines()
            .rfind(|l| l.contains(what))
            .ok_or_else(|| format!("rdkafka_performance printed no summary (output in {out})"))?;
        let complete = if what == "messages produced" {
            line.contains(&format!(", {n} delivered"))
        } else {
            line.starts_with(&format!("% {n} messages"))
        };
        if ended.code != Some(0) || !complete {
            return Err(format!("rdkafka_performance: {line} (output in {out})"));
        }
        let rate = line
            .split(": ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| format!("rdkafka_performance: no rate in {line:?}"))?;
        Ok((rate, ended))
    }

    fn warm_up(&mut self, topic: &str) -> Result<(), String> {
        let n = warm_count(self.s.count).to_string();
        self.new_topic(topic)?;
        let group = format!("{topic}-w");
        self.note("group", &group)?;
        let mut c = self.raw("warm-c", raw_consumer(topic, &group, &n))?;
        let mut p = self.raw("warm-p", raw_producer(topic, &n, &[]))?;
        wait_with_usage(&mut p, self.stall());
        wait_with_usage(&mut c, self.stall());
        Ok(())
    }

    /// Watches `m` (every 50 ms on /metrics) until it has delivered `want.produce` and its
    /// groups have handled `want.single` and `want.batch` records; puts under `key`: the rates
    /// (`.prod`, `.single`, `.batch`: first record seen → target), its CPU seconds when all were
    /// delivered (`.cpu_delivered_s`) and when everything was (`.cpu_consumed_s`), its peak RSS.
    fn watch(&mut self, key: &str, m: &mut Measured, want: Want) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        while m.counts().is_none() {
            if !m.alive() || Instant::now() > deadline {
                return Err(format!("{key}: did not start: {}", m.last_words()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let (mut prod, mut single, mut batch) =
            (Window::default(), Window::default(), Window::default());
        let mut last: Option<Counts> = None;
        let mut last_change = Instant::now();
        loop {
            if let Some(c) = m.counts() {
                if let Some(n) = want.produce {
                    prod.see(c.at, c.produced, c.delivered, n);
                    if prod.done == Some(c.at) {
                        self.put(
                            &format!("{key}.cpu_delivered_s"),
                            cpu_s(m.pid()).unwrap_or(f64::NAN),
                        );
                    }
                }
                single.see(c.at, c.single, c.single, want.single.unwrap_or(0.0));
                batch.see(c.at, c.batch, c.batch, want.batch.unwrap_or(0.0));
                let done = |w: &Window, target: Option<f64>| target.is_none() || w.done.is_some();
                if done(&prod, want.produce)
                    && done(&single, want.single)
                    && done(&batch, want.batch)
                {
                    self.put(
                        &format!("{key}.cpu_consumed_s"),
                        cpu_s(m.pid()).unwrap_or(f64::NAN),
                    );
                    self.put(
                        &format!("{key}.hwm_mb"),
                        status_mb(m.pid(), "VmHWM").unwrap_or(f64::NAN),
                    );
                    break;
                }
                let moved = last.is_none_or(|l| {
                    (l.delivered, l.single, l.batch) != (c.delivered, c.single, c.batch)
                });
                if moved {
                    last = Some(c);
                    last_change = Instant::now();
                }
            }
            if !m.alive() {
                return Err(format!("{key}: ended early: {}", m.last_words()));
            }
            if last_change.elapsed() > self.stall() {
                let c = last.map(|c| {
                    format!(
                        "delivered={} single={} batch={}",
                        c.delivered, c.single, c.batch
                    )
                });
                return Err(format!(
                    "{key}: no progress for {}s at {} ({})",
                    self.s.stall_s,
                    c.unwrap_or_default(),
                    m.log
                ));
            }
            std::thread::sleep(SCRAPE_EVERY);
        }
        for (name, window, target) in [
            ("prod", &prod, want.produce),
            ("single", &single, want.single),
            ("batch", &batch, want.batch),
        ] {
            if let Some(n) = target {
                self.put(&format!("{key}.{name}"), window.rate(n));
            }
        }
        Ok(())
    }

    /// The daemon at full speed (`d.*`), or its producer only (`info.*`, at RUST_LOG=info).
    fn daemon_max_rate(
        &mut self,
        key: &str,
        topic: &str,
        extra: &[(&str, &str)],
        producer_only: bool,
    ) -> Result<(), String> {
        let n = self.s.count as f64;
        self.new_topic(topic)?;
        let mut env: Vec<(&str, String)> = vec![
            ("PRODUCE_INTERVAL_MS", "0".into()),
            ("PRODUCE_COUNT", self.s.count.to_string()),
            ("BATCH_SIZE", MAX_RATE_BATCH.to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let mut daemon = self.daemon(topic, topic, &env)?;
        let want = if producer_only {
            Want {
                produce: Some(n),
                single: None,
                batch: None,
            }
        } else {
            Want {
                produce: Some(n),
                single: Some(n),
                batch: Some(n),
            }
        };
        self.watch(key, &mut daemon, want)?;
        let log = daemon.log.clone();
        daemon.stop()?;
        if key == "info" {
            let size = std::fs::metadata(&log).map_or(f64::NAN, |m| m.len() as f64 / 1048576.0);
            self.put("info.log_mb", size);
            // Hundreds of MB: keep the tail only.
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            let _ = std::fs::write(&log, tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        Ok(())
    }

    /// Starts the baseline on `topic` with groups `<groups>-g1/-g2` doing `work`, with `extra`
    /// arguments.
    fn start_baseline(
        &self,
        topic: &str,
        groups: &str,
        work: &Work,
        extra: &[&str],
    ) -> Result<Measured, String> {
        self.note("group", &format!("{groups}-g1"))?;
        self.note("group", &format!("{groups}-g2"))?;
        let mut args: Vec<String> = [
            ("--bootstrap", self.s.bootstrap.clone()),
            ("--topic", topic.to_string()),
            ("--groups", groups.to_string()),
            ("--partitions", PARTITIONS.to_string()),
            ("--stall-s", self.s.stall_s.to_string()),
            ("--produce", work.produce.to_string()),
            ("--key", work.key.to_string()),
            ("--single", work.single.to_string()),
            ("--batch", work.batch.to_string()),
            ("--batch-size", work.batch_size.to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect();
        args.extend(extra.iter().map(|a| a.to_string()));
        let log = format!("{}/{groups}-baseline.log", self.s.work);
        Measured::baseline(&self.s.me, &args, &log)
    }

    /// Runs the baseline on `topic` with groups `<groups>-g1/-g2`; its figures under `key.*`.
    fn baseline(&mut self, key: &str, topic: &str, groups: &str, work: Work) -> Result<(), String> {
        self.baseline_with(key, topic, groups, work, &[])
    }

    /// [`Self::baseline`] with `extra` arguments.
    fn baseline_with(
        &mut self,
        key: &str,
        topic: &str,
        groups: &str,
        work: Work,
        extra: &[&str],
    ) -> Result<(), String> {
        let mut m = self.start_baseline(topic, groups, &work, extra)?;
        let Work {
            produce,
            single,
            batch,
            ..
        } = work;
        let positive = |x: u64| (x > 0).then_some(x as f64);
        let want = Want {
            produce: positive(produce),
            single: positive(single),
            batch: positive(batch),
        };
        self.watch(key, &mut m, want)?;
        let out = m.finish_baseline()?;
        for line in out.lines() {
            if let Some((name, value)) = line.split_once(' ') {
                let value = value.parse().unwrap_or(f64::NAN);
                self.put(&format!("{key}.{name}"), value);
            }
        }
        Ok(())
    }

    fn baseline_max_rate(&mut self, key: &str, topic: &str) -> Result<(), String> {
        self.new_topic(topic)?;
        let n = self.s.count;
        let work = Work {
            produce: n,
            key: "random",
            single: n,
            batch: n,
            batch_size: MAX_RATE_BATCH,
        };
        self.baseline(key, topic, topic, work)
    }

    fn raw_run(&mut self, topic: &str) -> Result<(), String> {
        self.new_topic(topic)?;
        let n = self.s.count.to_string();
        let (g1, g2) = (format!("{topic}-r1"), format!("{topic}-r2"));
        self.note("group", &g1)?;
        self.note("group", &g2)?;
        let c1_args = raw_consumer(topic, &g1, &n);
        let c2_args = raw_consumer(topic, &g2, &n);
        let mut c1 = self.raw("raw-c1", &c1_args)?;
        let mut c2 = self.raw("raw-c2", &c2_args)?;
        let mut p = self.raw("raw-p", raw_producer(topic, &n, &[]))?;
        let (prod, pe) = self.raw_result("raw-p", &mut p, "messages produced")?;
        let (r1, e1) = self.raw_result("raw-c1", &mut c1, "consumed in")?;
        let (r2, e2) = self.raw_result("raw-c2", &mut c2, "consumed in")?;
        self.put("raw.prod", prod);
        self.put("raw.single", r1.min(r2));
        self.put("raw.cpu_s", pe.cpu_s + e1.cpu_s + e2.cpu_s);
        self.put("raw.hwm_mb", pe.hwm_mb + e1.hwm_mb + e2.hwm_mb);
        Ok(())
    }

    /// The baseline's producer against rdkafka_performance, both with one fixed 36-byte key and
    /// a 42-byte `kad.audit` header (rdkafka_performance has no key per record).
    fn pace(&mut self, base: &str) -> Result<(), String> {
        let (raw_topic, own_topic) = (format!("{base}-raw"), format!("{base}-own"));
        self.new_topic(&raw_topic)?;
        self.new_topic(&own_topic)?;
        let n = self.s.count.to_string();
        let header = format!("kad.audit={}", "s".repeat(42));
        let mut p = self.raw(
            "pace-p",
            raw_producer(&raw_topic, &n, &["-k", FIXED_KEY, "-H", &header]),
        )?;
        let (rate, _) = self.raw_result("pace-p", &mut p, "messages produced")?;
        self.put("pace.raw", rate);
        let work = Work {
            produce: self.s.count,
            key: "fixed",
            single: 0,
            batch: 0,
            batch_size: 1,
        };
        self.baseline("pace", &own_topic, &own_topic, work)
    }

    /// The daemon reads the max-rate topic again in new groups at BATCH_SIZE=`size`: the single
    /// group all N+1 records (its own producer adds one), the batch group `batch_target`.
    fn daemon_drain(&mut self, topic: &str, size: usize, round: usize) -> Result<(), String> {
        let groups = format!("{topic}-drain{size}-{round}");
        let mut daemon = self.daemon(
            topic,
            &groups,
            &[
                ("PRODUCE_INTERVAL_MS", "86400000".into()),
                ("BATCH_SIZE", size.to_string()),
            ],
        )?;
        let want = Want {
            produce: None,
            single: Some(self.s.count as f64 + 1.0),
            batch: Some(self.batch_target(size) as f64),
        };
        self.watch(&format!("d.drain{size}@{round}"), &mut daemon, want)?;
        daemon.stop()
    }

    /// The baseline's work in a drain at BATCH_SIZE=`size`: what `daemon_drain` waits for.
    fn drain_work(&self, size: usize) -> Work {
        Work {
            produce: 0,
            key: "random",
            single: self.s.count,
            batch: self.batch_target(size),
            batch_size: size,
        }
    }

    fn batch_target(&self, size: usize) -> u64 {
        let batches = if self.s.smoke {
            BATCH_DRAIN_BATCHES / 6
        } else {
            BATCH_DRAIN_BATCHES
        };
        (size as u64 * batches).min(self.s.count)
    }

    /// The baseline reads its max-rate topic again, as `daemon_drain`; its median commit and
    /// collect+handle times give the batch bound at `size`.
    fn baseline_drain(&mut self, topic: &str, size: usize, round: usize) -> Result<(), String> {
        let groups = format!("{topic}-drain{size}-{round}");
        let key = format!("b.drain{size}@{round}");
        self.baseline(&key, topic, &groups, self.drain_work(size))?;
        let get = |k: &str| {
            self.figures
                .get(&format!("{key}.{k}"))
                .copied()
                .unwrap_or(f64::NAN)
        };
        let bound = size as f64 / (get("commit_median_s") + get("collect_median_s"));
        let by_means = size as f64 / (get("commit_mean_s") + get("collect_mean_s"));
        self.put(&format!("bound{size}@{round}"), bound);
        self.put(&format!("bound_by_means{size}@{round}"), by_means);
        Ok(())
    }

    /// The baseline reads its max-rate topic again with owned records (`--owned`: the value
    /// decoded into a `String`, the key and headers copied), as `baseline_drain`; its figures
    /// under `o.drain<size>.*`. The bare baseline's figures stay beside it.
    fn owned_baseline_drain(
        &mut self,
        topic: &str,
        size: usize,
        round: usize,
    ) -> Result<(), String> {
        let groups = format!("{topic}-owned{size}-{round}");
        let work = self.drain_work(size);
        self.baseline_with(
            &format!("o.drain{size}@{round}"),
            topic,
            &groups,
            work,
            &["--owned"],
        )
    }

    fn raw_drain(&mut self, topic: &str) -> Result<(), String> {
        let group = format!("{topic}-r3");
        self.note("group", &group)?;
        let n = self.s.count.to_string();
        let mut c = self.raw("raw-drain", raw_consumer(topic, &group, &n))?;
        let (rate, _) = self.raw_result("raw-drain", &mut c, "consumed in")?;
        self.put("raw.drain", rate);
        Ok(())
    }

    /// Latency at 1,000 msg/s, like for like: per round, the daemon at `RUST_LOG=warn`, at
    /// `info` (its log to a file, as a journal would take it) and the same-work baseline, in a
    /// rotating order; each as a writing process A (producing and consuming in its own groups)
    /// and a measuring process B (new groups from the end of the topic, started once A is
    /// receiving). The figures are B's quantiles, `lat.<run>.<group>.<q>` (ms), the mean over
    /// the rounds; `lat.<run>.rate`: A's delivered msg/s; `lat.<run>.<group>.behind`: how many
    /// records a second B's group fell further behind A's deliveries (see [`Steady`]).
    fn latency(&mut self, base: &str) -> Result<(), String> {
        let mut seen: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        // A quantile of `metric` in a process's /metrics text, in ms (NaN when missing).
        let ms = |text: &str, metric: &str, labels: &[(&str, &str)]| {
            sample(text, metric, labels).map_or(f64::NAN, |s| s * 1000.0)
        };
        for round in 0..self.s.latency_rounds {
            for i in 0..LATENCY_RUNS.len() {
                let (name, level) = LATENCY_RUNS[(i + round) % LATENCY_RUNS.len()];
                let topic = format!("{base}-{name}{round}");
                let steady = match level {
                    Some(level) => self.daemon_latency(&topic, level)?,
                    None => self.baseline_latency(&topic)?,
                };
                let Steady {
                    text,
                    writer_text,
                    rate,
                    behind,
                } = steady;
                seen.entry(format!("lat.{name}.rate"))
                    .or_default()
                    .push(rate);
                for (kind, behind) in [("single", behind.single), ("batch", behind.batch)] {
                    seen.entry(format!("lat.{name}.{kind}.behind"))
                        .or_default()
                        .push(behind);
                }
                for kind in ["single", "batch"] {
                    for (q_name, q) in QUANTILES {
                        let labels = [("consumer", kind), ("quantile", q)];
                        seen.entry(format!("lat.{name}.{kind}.{q_name}"))
                            .or_default()
                            .push(ms(&text, "kafka_avro_daemon_latency_seconds", &labels));
                        if level.is_none() {
                            continue;
                        }
                        // Where the daemon's time goes: its stages (the baseline has none).
                        for stage in STAGES {
                            let labels = [("consumer", kind), ("stage", stage), ("quantile", q)];
                            seen.entry(format!("lat.{name}.{kind}.{stage}.{q_name}"))
                                .or_default()
                                .push(ms(&text, "kafka_avro_daemon_stage_seconds", &labels));
                        }
                    }
                }
                if level.is_some() {
                    for (q_name, q) in QUANTILES {
                        let labels = [("quantile", q)];
                        let acknowledged = ms(
                            &writer_text,
                            "kafka_avro_daemon_acknowledged_seconds",
                            &labels,
                        );
                        seen.entry(format!("lat.{name}.acknowledged.{q_name}"))
                            .or_default()
                            .push(acknowledged);
                    }
                }
            }
        }
        for (key, values) in seen {
            self.put(&key, values.iter().sum::<f64>() / values.len() as f64);
        }
        Ok(())
    }

    /// Daemon A at 1,000 msg/s; daemon B in new groups from the end of the topic (its own
    /// producer idle after one record, acks=1 without idempotence so that it is not held back
    /// waiting for a producer id) measures A's records in steady state. Both at `level`.
    fn daemon_latency(&mut self, topic: &str, level: &str) -> Result<Steady, String> {
        self.new_topic(topic)?;
        let log = ("RUST_LOG", level.to_string());
        let mut a = self.daemon(
            topic,
            topic,
            &[("PRODUCE_INTERVAL_MS", "1".into()), log.clone()],
        )?;
        a.wait_up()?;
        a.wait_receiving()?;
        let mut b = self.daemon(
            topic,
            &format!("{topic}-steady"),
            &[
                ("PRODUCE_INTERVAL_MS", "86400000".into()),
                ("PRODUCER_ACKS", "1".into()),
                ("PRODUCER_ENABLE_IDEMPOTENCE", "false".into()),
                ("LIBRDKAFKA_AUTO_OFFSET_RESET", "latest".into()),
                log,
            ],
        )?;
        b.wait_up()?;
        b.wait_receiving()?;
        let measured = self.steady(&a, &b);
        b.stop()?;
        a.stop()?;
        measured
    }

    /// The baseline as [`Self::daemon_latency`] runs the daemon: A writes one record per
    /// millisecond and reads in its own groups, B reads from the end in new groups.
    fn baseline_latency(&mut self, topic: &str) -> Result<Steady, String> {
        self.new_topic(topic)?;
        let mut a = self.latency_baseline(topic, topic, 1, &[])?;
        a.wait_up()?;
        a.wait_receiving()?;
        let steady = format!("{topic}-steady");
        let mut b = self.latency_baseline(topic, &steady, 0, &["--from-end"])?;
        b.wait_up()?;
        b.wait_receiving()?;
        let measured = self.steady(&a, &b);
        b.finish_baseline()?;
        a.finish_baseline()?;
        measured
    }

    /// The baseline in latency mode on `topic`, groups `<groups>-g1/-g2`, producing if
    /// `produce` is not zero; the daemon's default BATCH_SIZE (10), as in its latency runs.
    fn latency_baseline(
        &self,
        topic: &str,
        groups: &str,
        produce: u64,
        extra: &[&str],
    ) -> Result<Measured, String> {
        let work = Work {
            produce,
            key: "random",
            single: 1,
            batch: 1,
            batch_size: 10,
        };
        let mut args = vec!["--latency", "--interval-ms", "1"];
        args.extend_from_slice(extra);
        self.start_baseline(topic, groups, &work, &args)
    }

    /// Lets A write for `--latency-s`, then reads B's /metrics text, A's delivered rate and
    /// how fast B's groups fell behind it. A figure whose metric is missing is NaN ("-").
    fn steady(&self, a: &Measured, b: &Measured) -> Result<Steady, String> {
        let read = |m: &Measured| m.metrics().ok_or("latency: /metrics did not answer");
        // Not `Measured::counts`: it reads a missing metric as 0, which would show as a figure.
        let delivered_in =
            |text: &str| sample(text, "kafka_avro_daemon_delivered_total", &[]).unwrap_or(f64::NAN);
        let consumed_in = |text: &str, group: &str| {
            sample(
                text,
                "kafka_avro_daemon_consumed_total",
                &[("consumer", group)],
            )
            .unwrap_or(f64::NAN)
        };
        let ((a0, t0), (b0, _)) = (read(a)?, read(b)?);
        std::thread::sleep(Duration::from_secs(self.s.latency_s));
        let ((a1, t1), (text, _)) = (read(a)?, read(b)?);
        let seconds = t1.duration_since(t0).as_secs_f64();
        let delivered = delivered_in(&a1) - delivered_in(&a0);
        let behind = |group: &str| {
            (delivered - (consumed_in(&text, group) - consumed_in(&b0, group))) / seconds
        };
        Ok(Steady {
            writer_text: a1.clone(),
            rate: delivered / seconds,
            behind: Behind {
                single: behind("single"),
                batch: behind("batch"),
            },
            text,
        })
    }

    fn default_rate(&mut self, topic: &str) -> Result<(), String> {
        self.new_topic(topic)?;
        let mut daemon = self.daemon(topic, topic, &[("PRODUCE_INTERVAL_MS", "100".into())])?;
        daemon.wait_up()?;
        daemon.wait_receiving()?;
        let (cpu0, t0) = (cpu_s(daemon.pid()).unwrap_or(f64::NAN), Instant::now());
        std::thread::sleep(Duration::from_secs(self.s.default_s));
        let cpu1 = cpu_s(daemon.pid()).ok_or("default rate: the daemon died")?;
        self.put(
            "idle.cpu_pct",
            100.0 * (cpu1 - cpu0) / t0.elapsed().as_secs_f64(),
        );
        self.put(
            "idle.rss_mb",
            status_mb(daemon.pid(), "VmRSS").unwrap_or(f64::NAN),
        );
        self.put(
            "idle.hwm_mb",
            status_mb(daemon.pid(), "VmHWM").unwrap_or(f64::NAN),
        );
        daemon.stop()
    }
}

/// `cleanup --admin A --bootstrap B --ledger FILE`.
pub(crate) fn cleanup(args: &mut Args) -> Result<(), String> {
    let admin = args.value("--admin")?;
    let bootstrap = args.value("--bootstrap")?;
    let ledger = args.value("--ledger")?;
    cleanup_ledger(&admin, &bootstrap, &ledger)
}

/// Deletes the groups, topics and registry subjects the ledger lists, then the ledger.
fn cleanup_ledger(admin: &str, bootstrap: &str, ledger: &str) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(ledger) else {
        return Ok(());
    };
    let of = |what: &str| -> Vec<&str> {
        text.lines()
            .filter_map(|l| l.strip_prefix(what)?.strip_prefix(' '))
            .collect()
    };
    let mut problems = Vec::new();
    for (what, names) in [
        ("delete-groups", of("group")),
        ("delete-topics", of("topic")),
    ] {
        if names.is_empty() {
            continue;
        }
        let ok = Command::new(admin)
            .args([bootstrap, what])
            .args(&names)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            problems.push(format!("bench_admin {what} failed"));
        }
    }
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    for subject in of("subject") {
        for suffix in ["", "?permanent=true"] {
            let _ = http
                .delete(format!("{REGISTRY}/subjects/{subject}{suffix}"))
                .send();
        }
    }
    let _ = std::fs::remove_file(ledger);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "could not delete everything the bench created: {}",
            problems.join(", ")
        ))
    }
}

/// rdkafka_performance producing `n` records of `RAW_PAYLOAD` bytes to `topic` with the
/// daemon's producer settings (acks=all, idempotence, linger.ms=5), plus `extra` arguments.
fn raw_producer(topic: &str, n: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["-P", "-t", topic, "-s", RAW_PAYLOAD]
        .into_iter()
        .chain(extra.iter().copied())
        .map(String::from)
        .collect();
    for arg in [
        "-c",
        n,
        "-X",
        "acks=all",
        "-X",
        "enable.idempotence=true",
        "-X",
        "linger.ms=5",
    ] {
        args.push(arg.to_string());
    }
    args
}

/// rdkafka_performance consuming `n` records of `topic` in `group`, from the start.
fn raw_consumer(topic: &str, group: &str, n: &str) -> Vec<String> {
    [
        "-C",
        "-G",
        group,
        "-t",
        topic,
        "-c",
        n,
        "-X",
        "auto.offset.reset=earliest",
    ]
    .map(String::from)
    .to_vec()
}
