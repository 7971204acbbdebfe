//! The table and the last line, from the figure files `run` wrote (one per stack size).

use std::collections::BTreeMap;

use crate::run::STAGES;

type Figures = BTreeMap<String, f64>;

fn load(path: &str) -> Result<Figures, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
        .collect())
}

fn get(f: &Figures, key: &str) -> f64 {
    f.get(key).copied().unwrap_or(f64::NAN)
}

/// `x` with `decimals`, or "-" when it is missing (NaN, infinite).
fn show(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "-".to_string()
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

/// The figures the last line and the table agree on.
struct Derived {
    producer: f64,
    single: f64,
    drain: f64,
    /// The same against the baseline with owned records.
    drain_owned: f64,
    batch_bound: f64,
    cpu_per_record: f64,
    rss_mb: f64,
    /// Latency quantile ratios to the baseline at 1,000 msg/s, steady, per group: the worse
    /// of the daemon at `RUST_LOG=warn` and at `info`.
    latency: [(&'static str, f64); 4],
}

/// The daemon's latency quantile `q` for `group` over the baseline's: the worse of its runs at
/// `RUST_LOG=warn` and `info`.
fn latency_ratio(f: &Figures, group: &str, q: &str) -> f64 {
    let base = get(f, &format!("lat.base.{group}.{q}"));
    let of = |level: &str| ratio(get(f, &format!("lat.{level}.{group}.{q}")), base);
    let (warn, info) = (of("warn"), of("info"));
    // Missing when either is: the worse of one is not the worse of both.
    if warn.is_nan() || info.is_nan() {
        f64::NAN
    } else {
        warn.max(info)
    }
}

fn derive(f: &Figures) -> Derived {
    let bound = |size: usize| {
        ratio(
            get(f, &format!("d.drain{size}.batch")),
            get(f, &format!("bound{size}")),
        )
    };
    Derived {
        producer: ratio(get(f, "d.prod"), get(f, "b.prod")),
        single: ratio(get(f, "d.single"), get(f, "b.single")),
        drain: ratio(get(f, "d.drain10.single"), get(f, "b.drain10.single")),
        drain_owned: ratio(get(f, "d.drain10.single"), get(f, "o.drain10.single")),
        // The worse of the two sizes with a target (1000 is reported only).
        batch_bound: bound(10).min(bound(100)),
        cpu_per_record: ratio(get(f, "d.cpu_consumed_s"), get(f, "b.cpu_consumed_s")),
        rss_mb: get(f, "idle.hwm_mb"),
        latency: [
            ("latency_p50_single", latency_ratio(f, "single", "p50")),
            ("latency_p99_single", latency_ratio(f, "single", "p99")),
            ("latency_p50_batch", latency_ratio(f, "batch", "p50")),
            ("latency_p99_batch", latency_ratio(f, "batch", "p99")),
        ],
    }
}

pub(crate) fn print(paths: &[String]) -> Result<(), String> {
    let runs: Vec<Figures> = paths.iter().map(|p| load(p)).collect::<Result<_, _>>()?;
    let Some(first) = runs.first() else {
        return Err("no figures to report".into());
    };
    let n = get(first, "count");
    println!();
    println!(
        "kafka-avro-daemon (d) vs the same-work baseline (b: benches/e2e/baseline.rs) and keyless"
    );
    println!("rdkafka_performance (raw, the ceiling); {} records per max-rate run, same brokers, same run;", show(n, 0));
    println!("rates from the first record seen to the last; daemon at RUST_LOG=warn; in the rows");
    println!("\"against the baseline with owned records\" the baseline column is its --owned run;");
    println!(
        "max-rate and drain figures: the median of {} rounds in a rotating order (rdkafka_performance: one)",
        show(get(first, "rounds"), 0)
    );
    let row = |brokers: &str, what: &str, d: String, b: String, db: f64, raw: String, draw: f64| {
        println!(
            "{brokers:<3} {what:<50} {d:>10} {b:>10} {:>6} {raw:>10} {:>6}",
            show(db, 2),
            show(draw, 2)
        );
    };
    println!(
        "{:<3} {:<50} {:>10} {:>10} {:>6} {:>10} {:>6}",
        "br", "measure", "daemon", "baseline", "d/b", "raw", "d/raw"
    );
    for f in &runs {
        let s = show(get(f, "brokers"), 0);
        let s = s.as_str();
        let per_record = |cpu: f64| cpu * 1e6 / n;
        let rate_row = |what: &str, d: f64, b: f64, raw: f64| {
            row(
                s,
                what,
                show(d, 0),
                show(b, 0),
                ratio(d, b),
                show(raw, 0),
                ratio(d, raw),
            );
        };
        rate_row(
            "produce msg/s (max rate)",
            get(f, "d.prod"),
            get(f, "b.prod"),
            get(f, "raw.prod"),
        );
        rate_row(
            "single group msg/s while producing",
            get(f, "d.single"),
            get(f, "b.single"),
            get(f, "raw.single"),
        );
        rate_row(
            "batch group msg/s while producing (BATCH_SIZE=1000)",
            get(f, "d.batch"),
            get(f, "b.batch"),
            f64::NAN,
        );
        rate_row(
            "drain msg/s, single group (BATCH_SIZE=10 run)",
            get(f, "d.drain10.single"),
            get(f, "b.drain10.single"),
            get(f, "raw.drain"),
        );
        for size in [100, 1000] {
            let what = format!("  same, BATCH_SIZE={size} run");
            rate_row(
                &what,
                get(f, &format!("d.drain{size}.single")),
                get(f, &format!("b.drain{size}.single")),
                f64::NAN,
            );
        }
        for size in [10, 100, 1000] {
            let what = format!("  against the baseline with owned records, {size}");
            rate_row(
                &what,
                get(f, &format!("d.drain{size}.single")),
                get(f, &format!("o.drain{size}.single")),
                f64::NAN,
            );
        }
        let cpu_row = |what: &str, d: f64, b: f64, raw: f64| {
            row(
                s,
                what,
                show(per_record(d), 1),
                show(per_record(b), 1),
                ratio(d, b),
                show(per_record(raw), 1),
                ratio(d, raw),
            );
        };
        cpu_row(
            "CPU µs/record until all delivered",
            get(f, "d.cpu_delivered_s"),
            get(f, "b.cpu_delivered_s"),
            f64::NAN,
        );
        cpu_row(
            "CPU µs/record until both groups have all",
            get(f, "d.cpu_consumed_s"),
            get(f, "b.cpu_consumed_s"),
            get(f, "raw.cpu_s"),
        );
        let (dh, bh, rh) = (get(f, "d.hwm_mb"), get(f, "b.hwm_mb"), get(f, "raw.hwm_mb"));
        row(
            s,
            "peak RSS MB, max-rate run (raw: 3 processes)",
            show(dh, 1),
            show(bh, 1),
            ratio(dh, bh),
            show(rh, 1),
            ratio(dh, rh),
        );
        let (pb, pr) = (get(f, "pace.prod"), get(f, "pace.raw"));
        row(
            s,
            "pace: produce msg/s, one fixed key + 42-byte header",
            "-".into(),
            show(pb, 0),
            f64::NAN,
            show(pr, 0),
            f64::NAN,
        );
        println!(
            "{s:<3} {:<50} {:>10}",
            "  baseline / rdkafka_performance",
            show(ratio(pb, pr), 2)
        );
        if f.contains_key("info.prod") {
            let what = format!(
                "produce msg/s, RUST_LOG=info ({} MB log)",
                show(get(f, "info.log_mb"), 0)
            );
            rate_row(
                &what,
                get(f, "info.prod"),
                get(f, "b.prod"),
                get(f, "raw.prod"),
            );
        }
        println!("{s:<3} batch bound = BATCH_SIZE / (median commit + median collect and handle), baseline, drain runs");
        println!(
            "{s:<3} (each column the median of its rounds: the bound is the rounds' median bound);"
        );
        println!("{s:<3} by means: the same with mean times (a commit's tail makes the mean the reachable rate)");
        println!(
            "{s:<3}   {:>10} {:>9} {:>10} {:>11} {:>11} {:>12} {:>12} {:>11}",
            "BATCH_SIZE",
            "commit ms",
            "collect ms",
            "bound msg/s",
            "daemon msg/s",
            "daemon/bound",
            "baseline/bnd",
            "by means"
        );
        for size in [10, 100, 1000] {
            let key = |k: &str| get(f, &format!("b.drain{size}.{k}"));
            let bound = get(f, &format!("bound{size}"));
            let d = get(f, &format!("d.drain{size}.batch"));
            println!(
                "{s:<3}   {size:>10} {:>9} {:>10} {:>11} {:>11} {:>12} {:>12} {:>11}",
                show(key("commit_median_s") * 1e3, 2),
                show(key("collect_median_s") * 1e3, 2),
                show(bound, 0),
                show(d, 0),
                show(ratio(d, bound), 2),
                show(ratio(key("batch"), bound), 2),
                show(get(f, &format!("bound_by_means{size}")), 0)
            );
        }
        println!("{s:<3} latency ms at 1,000 msg/s, steady (a second process's groups), mean of the rounds;");
        println!(
            "{s:<3} daemon at RUST_LOG=warn and at info (log to a file), baseline; ratios d/b"
        );
        println!(
            "{s:<3}   {:<7} {:<4} {:>8} {:>8} {:>8} {:>7} {:>7}",
            "group", "q", "warn", "info", "baseline", "warn/b", "info/b"
        );
        for kind in ["single", "batch"] {
            for q in ["p50", "p99", "max"] {
                let at = |run: &str| get(f, &format!("lat.{run}.{kind}.{q}"));
                let (w, i, b) = (at("warn"), at("info"), at("base"));
                println!(
                    "{s:<3}   {kind:<7} {q:<4} {:>8} {:>8} {:>8} {:>7} {:>7}",
                    show(w, 1),
                    show(i, 1),
                    show(b, 1),
                    show(ratio(w, b), 2),
                    show(ratio(i, b), 2)
                );
            }
        }
        println!(
            "{s:<3}   stages of sampled records, daemon (B's groups; acknowledged: writer A), ms"
        );
        println!(
            "{s:<3}   {:<28} {:>8} {:>8} {:>8} {:>8}",
            "stage", "warn p50", "warn p99", "info p50", "info p99"
        );
        // Each row's figures are `lat.<run>.<row>.<q>`.
        let mut stage_rows = vec!["acknowledged".to_string()];
        for kind in ["single", "batch"] {
            stage_rows.extend(STAGES.map(|stage| format!("{kind}.{stage}")));
        }
        for row in &stage_rows {
            let at = |run: &str, q: &str| get(f, &format!("lat.{run}.{row}.{q}"));
            println!(
                "{s:<3}   {:<28} {:>8} {:>8} {:>8} {:>8}",
                row.replace('.', " "),
                show(at("warn", "p50"), 2),
                show(at("warn", "p99"), 2),
                show(at("info", "p50"), 2),
                show(at("info", "p99"), 2)
            );
        }
        for kind in ["single", "batch"] {
            // Below zero the group was catching up; rounded first so that -0.3 shows as 0.
            let at = |run: &str| show(get(f, &format!("lat.{run}.{kind}.behind")).round() + 0.0, 0);
            println!(
                "{s:<3} {:<50} {:>10}",
                format!("  {kind} fell behind msg/s: warn/info/base"),
                format!("{}/{}/{}", at("warn"), at("info"), at("base"))
            );
        }
        println!(
            "{s:<3} {:<50} {:>10}",
            "  delivered msg/s: warn/info/baseline",
            format!(
                "{}/{}/{}",
                show(get(f, "lat.warn.rate"), 0),
                show(get(f, "lat.info.rate"), 0),
                show(get(f, "lat.base.rate"), 0)
            )
        );
        println!(
            "{s:<3} {:<50} {:>10}",
            "default rate (10 msg/s): CPU %",
            show(get(f, "idle.cpu_pct"), 1)
        );
        println!(
            "{s:<3} {:<50} {:>10}",
            "default rate: RSS MB now / peak",
            format!(
                "{}/{}",
                show(get(f, "idle.rss_mb"), 1),
                show(get(f, "idle.hwm_mb"), 1)
            )
        );
        if get(f, "failures") > 0.0 {
            println!(
                "{s:<3} {} run(s) FAILED: left out of their medians (\"-\" where every round failed)",
                show(get(f, "failures"), 0)
            );
        }
    }
    println!();
    // The last line: the 3-broker figures when several sizes ran.
    let pick = runs
        .iter()
        .find(|f| get(f, "brokers") == 3.0)
        .unwrap_or(&runs[runs.len() - 1]);
    let d = derive(pick);
    let latency: String = d
        .latency
        .iter()
        .map(|(name, value)| format!(" {name}={}", show(*value, 2)))
        .collect();
    println!(
        "ratio producer={} single={} drain={} drain_owned={} batch_bound={} cpu_per_record={} rss_mb={}{latency}",
        show(d.producer, 2),
        show(d.single, 2),
        show(d.drain, 2),
        show(d.drain_owned, 2),
        show(d.batch_bound, 2),
        show(d.cpu_per_record, 2),
        show(d.rss_mb, 1)
    );
    Ok(())
}
