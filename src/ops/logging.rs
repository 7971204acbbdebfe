//! Log set-up: `env_logger` filtered by `RUST_LOG` (default `info`). Under journald (systemd
//! sets `JOURNAL_STREAM`) each line carries its syslog priority as a `<N>` prefix and no
//! timestamp, since the journal records both itself. One line of a library is logged at a
//! lower level than the library chose (`relevelled`).

use std::io::Write;

use log::{Level, Log, Metadata, Record};

use crate::config::default_of;

/// What rust-rdkafka logs at `error` when a consumer fenced as a static member is dropped
/// (`Failed to close consumer queue on drop: … FencedInstanceId …`): the consumer loop creates
/// such a consumer again and says so (`StaticMemberRecovery`), so an `error` there would page
/// an operator for something that needs nobody.
const FENCED_CLOSE: (&str, &str) = ("rdkafka::consumer", "FencedInstanceId");

/// The level `record` is logged at here, if not its own.
fn relevelled(record: &Record<'_>) -> Option<Level> {
    let (target, text) = FENCED_CLOSE;
    (record.level() == Level::Error
        && record.target().starts_with(target)
        && record.args().to_string().contains(text))
    .then_some(Level::Warn)
}

/// `env_logger`, with the levels of [`relevelled`] lines changed.
struct Relevelling(env_logger::Logger);

impl Log for Relevelling {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        match relevelled(record) {
            None => self.0.log(record),
            Some(level) => {
                let record = Record::builder()
                    .level(level)
                    .target(record.target())
                    .args(*record.args())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build();
                if self.0.enabled(record.metadata()) {
                    self.0.log(&record);
                }
            }
        }
    }

    fn flush(&self) {
        self.0.flush()
    }
}

/// Installs the logger. Call once, first thing.
pub fn init() {
    let mut builder = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(default_of("RUST_LOG")),
    );
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.format(|out, record| {
            writeln!(
                out,
                "<{}>{}: {}",
                syslog_priority(record.level()),
                record.target(),
                record.args()
            )
        });
    }
    let logger = builder.build();
    let max_level = logger.filter();
    // As `Builder::init`: once per process (a second call keeps the first logger).
    if log::set_boxed_logger(Box::new(Relevelling(logger))).is_ok() {
        log::set_max_level(max_level);
    }
}

/// The sd-daemon priority of a log level.
fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdkafkas_error_on_dropping_a_fenced_consumer_is_a_warning_and_nothing_else_changes() {
        let line = |level, target: &str, text: std::fmt::Arguments<'_>| {
            relevelled(
                &Record::builder()
                    .level(level)
                    .target(target)
                    .args(text)
                    .build(),
            )
        };
        assert_eq!(
            line(
                Level::Error,
                "rdkafka::consumer::base_consumer",
                format_args!("Failed to close consumer queue on drop: Consumer queue close error: FencedInstanceId (Broker: Static consumer fenced by other consumer with same group.instance.id)")
            ),
            Some(Level::Warn)
        );
        let other = format_args!("Failed to close consumer queue on drop: BrokerTransportFailure");
        assert_eq!(
            line(Level::Error, "rdkafka::consumer::base_consumer", other),
            None
        );
        let ours = format_args!("FencedInstanceId");
        assert_eq!(
            line(Level::Error, "kafka_avro_daemon::consumer", ours),
            None
        );
    }

    #[test]
    fn levels_map_to_syslog_priorities() {
        let priorities: Vec<u8> = [
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ]
        .into_iter()
        .map(syslog_priority)
        .collect();
        assert_eq!(priorities, [3, 4, 6, 7, 7]);
    }
}
