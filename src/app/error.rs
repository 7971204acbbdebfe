//! The daemon's failures, typed. Each reaches the operator as one line; [`DaemonError`] says
//! whether that line was already logged, so `main` neither repeats it nor loses it.

use std::fmt;

pub use crate::lifecycle::LoopError;

use crate::format::AvroError;
use crate::kafka::TopicCheckError;
use crate::producer::ProducerError;
use crate::registry::RegistryError;

/// Exit status of a daemon that stopped cleanly (also when asked to stop during start-up).
pub const EXIT_OK: u8 = 0;
/// Exit status of a failure at start-up or while running.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a configuration the daemon cannot use (systemd does not restart it).
pub const EXIT_CONFIG: u8 = 2;
pub use crate::lifecycle::EXIT_STOP_DEADLINE;

/// Exit status of a stop after the delivery audit found lost records, with
/// `AUDIT_FAIL_ON_LOSS=true` (the unit file keeps systemd from restarting away the evidence).
pub const EXIT_AUDIT_LOSS: u8 = 4;

/// Why `run` returned an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum DaemonError {
    /// Start-up failed before any loop ran; not logged yet.
    Start(StartError),
    /// A loop failed and stopped the daemon; logged when it happened.
    Stopped(LoopError),
    /// The daemon stopped as asked, but the delivery audit found lost records and
    /// `AUDIT_FAIL_ON_LOSS=true`: `(group, records lost)` per group that lost any; not logged
    /// yet.
    AuditLoss {
        /// Per group, the records the audit found lost.
        lost: Vec<(String, u64)>,
    },
}

impl DaemonError {
    /// Whether the error line was already logged.
    pub fn already_reported(&self) -> bool {
        matches!(self, DaemonError::Stopped(_))
    }

    /// The process's exit status for this error.
    pub fn exit_status(&self) -> u8 {
        match self {
            DaemonError::Start(_) | DaemonError::Stopped(_) => EXIT_FAILURE,
            DaemonError::AuditLoss { .. } => EXIT_AUDIT_LOSS,
        }
    }
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Start(e) => e.fmt(f),
            DaemonError::Stopped(e) => e.fmt(f),
            DaemonError::AuditLoss { lost } => {
                write!(f, "the delivery audit found lost records:")?;
                for (i, (group, count)) in lost.iter().enumerate() {
                    let comma = if i == 0 { "" } else { "," };
                    write!(f, "{comma} {count} in group {group}")?;
                }
                write!(f, " (AUDIT_FAIL_ON_LOSS=true; the audit: lines say which)")
            }
        }
    }
}

impl std::error::Error for DaemonError {}

/// A start-up step that failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// `schemas/user.avsc` compiled into the binary does not parse.
    Schema(AvroError),
    /// `METRICS_ADDR` cannot be listened on.
    MetricsAddress {
        /// The address that could not be bound.
        address: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The registry client cannot be built.
    RegistryClient(RegistryError),
    /// The producer could not start: the schema to write with, or its client.
    Producer(ProducerError),

    /// A topic the daemon uses is missing, not permitted, or could not be checked.
    Topics(TopicCheckError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Schema(e) => e.fmt(f),
            StartError::MetricsAddress { address, error } => {
                write!(f, "cannot listen on METRICS_ADDR={address}: {error}")
            }
            StartError::RegistryClient(e) => e.fmt(f),
            StartError::Producer(e) => e.fmt(f),
            StartError::Topics(e) => e.fmt(f),
        }
    }
}
