//! End-to-end benchmark of the daemon against a same-work baseline and raw librdkafka, on the
//! running local stack: `scripts/bench` builds things, manages the stack and calls this binary
//! (`cargo bench --bench e2e -- <command>`); everything measured, computed and printed is here.
//!
//! Commands:
//! - `run`: every phase on one stack size; writes `key value` figures to `--out`;
//! - `report FILE...`: the table and the last `ratio …` line from those files;
//! - `baseline`: the same-work loops (baseline.rs), started by `run` as a process of its own so
//!   that its CPU and memory are its own;
//! - `cleanup`: deletes what a run's ledger lists (topics, groups, registry subjects), for
//!   `scripts/bench` to call when a run was interrupted.
//!
//! Phases of `run` (each on fresh topics and groups, all noted in the ledger first):
//! 1. warm-up: rdkafka_performance produces and consumes min(N/4, 250k) records;
//! 2. max rate, in `--rounds` rounds (the order of (a) and (b) rotated each round; each figure
//!    the median of its rounds, the rounds' own figures kept as `<name>@<round>…`; a round
//!    that fails leaves no figures):
//!    - (a) the daemon (PRODUCE_INTERVAL_MS=0, PRODUCE_COUNT=N, BATCH_SIZE=1000); /metrics
//!      every 50 ms for each rate (first record seen → N), CPU when all N are delivered and
//!      when both groups have all N, peak RSS;
//!    - (b) the baseline: the same work (baseline.rs), the same figures measured in-process;
//! 3. raw: keyless rdkafka_performance, a producer and two consumer groups (the ceiling);
//! 4. pace: the baseline's producer against rdkafka_performance given the same keys (one fixed
//!    36-byte key, the 42-byte header): the baseline is not a straw man if it keeps pace;
//! 5. drain, at BATCH_SIZE 10, 100 and 1000: the N records of the first topics of 2 that
//!    were written whole (one per side) read again in new groups by the daemon, by the baseline and by the baseline with owned records
//!    (`--owned`: what any consumer handing records to other code adds), in `--rounds` rounds
//!    rotated and folded as in 2; the single group to the end, the batch group for at most
//!    `BATCH_DRAIN_BATCHES` batches; the baseline's median commit and collect+handle times
//!    give the batch bound; then rdkafka_performance drains once;
//! 6. latency at 1,000 msg/s, like for like: rounds of the daemon at RUST_LOG=warn, at info and
//!    the baseline in latency mode, in a rotating order; in each a second process in new groups
//!    measures steady state: its quantiles, and how many records a second each of its groups
//!    fell behind the writer's deliveries;
//! 7. the default rate (10 msg/s): CPU % and RSS.

mod args;
mod baseline;
mod measured;
mod median;
mod proc;
mod report;
mod run;

use std::process::ExitCode;

use args::Args;

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` adds --bench; a bare `cargo bench` runs this with nothing else.
    argv.retain(|a| a != "--bench");
    let Some(command) = argv.first().cloned() else {
        eprintln!("e2e: started by scripts/bench (see its --help); nothing to do on its own");
        return ExitCode::SUCCESS;
    };
    let mut args = Args::new(argv.split_off(1));
    let outcome = match command.as_str() {
        "baseline" => baseline::Options::parse(&mut args).and_then(|o| baseline::run(&o)),
        "run" => run::Settings::parse(&mut args).and_then(|s| run::run(&s)),
        "report" => report::print(&args.rest()),
        "cleanup" => run::cleanup(&mut args),
        other => Err(format!("unknown command {other}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e {command}: {e}");
            ExitCode::FAILURE
        }
    }
}
