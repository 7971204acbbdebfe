//! The `kafka-avro-daemon` binary: arguments, logging, configuration, signals, exit status.

use std::process::ExitCode;

use kafka_avro_daemon::internals::config::help_text;
use kafka_avro_daemon::internals::{last_line, log_target, logging, BuildInfo};
use kafka_avro_daemon::{Config, Shutdown, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK};

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("consume") => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            return ExitCode::from(kafka_avro_daemon::internals::consume(&args));
        }
        Some("-h" | "--help") => {
            print!("{}", help_text());
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version") => {
            let info = BuildInfo::get();
            println!(
                "{} {} (librdkafka {}, features {})",
                env!("CARGO_PKG_NAME"),
                info.version,
                info.librdkafka,
                info.features
            );
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("error: unknown argument {other:?}; the daemon is configured through environment variables, see --help");
            return ExitCode::from(EXIT_CONFIG);
        }
    }

    // Before any thread starts (glibc fixes the cap once it has made a ninth arena). Not for
    // `consume` above: one client's few threads stay well under glibc's default cap.
    let arenas = kafka_avro_daemon::malloc_arena_per_thread();
    logging::init();
    // A panic becomes one log line (the loop's thread then stops the daemon, exit 1).
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        log::error!(target: log_target::SHUTDOWN, "the {name} thread panicked: {info}");
    }));

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            log::error!(target: log_target::MAIN, "{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    log::debug!(target: log_target::MAIN, "configuration: {config:?}");
    // After the configuration: an invalid one is one line and nothing else. The usual case is
    // no news; a cap the environment sets is worth a line (it may bring the waits back).
    if arenas.is_unusual() {
        log::info!(target: log_target::MAIN, "{arenas}");
    } else {
        log::debug!(target: log_target::MAIN, "{arenas}");
    }

    let shutdown = Shutdown::new();
    if let Err(e) = shutdown.install_signal_handler() {
        log::error!(target: log_target::MAIN, "cannot install the SIGINT/SIGTERM handler: {e}");
        return ExitCode::from(EXIT_FAILURE);
    }

    // The loops have returned and the stop deadline with them: the last line is bounded by
    // `last_line` (a stderr nobody reads would otherwise hold the exit without end).
    let status = match kafka_avro_daemon::run(&config, &shutdown) {
        Ok(()) => last_line(EXIT_OK, || log::info!(target: log_target::MAIN, "stopped")),
        Err(error) => last_line(error.exit_status(), || {
            if !error.already_reported() {
                log::error!(target: log_target::MAIN, "{error}");
            }
        }),
    };
    ExitCode::from(status)
}
