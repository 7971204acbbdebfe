//! Log set-up: `env_logger` filtered by `RUST_LOG` (default `info`). Under journald (systemd
//! sets `JOURNAL_STREAM`) each line carries its syslog priority as a `<N>` prefix and no
//! timestamp, since the journal records both itself.

use std::io::Write;

use log::Level;

use crate::config::default_of;

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
    builder.init();
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
