//! Which of the two consumers a piece of code serves, and everything that names it: its name
//! in log lines, its label in metrics, its thread, its log target and its group. Declared once
//! here so the four never drift apart.

use crate::config::Config;
use crate::ops::log_target;

/// One of the daemon's two consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerKind {
    /// Group `CONSUMER_GROUP_ID_1`: handles and logs each record as it arrives; auto-commit
    /// of stored offsets.
    Single,
    /// Group `CONSUMER_GROUP_ID_2`: processes records in batches; synchronous commit after
    /// each batch.
    Batch,
}

impl ConsumerKind {
    /// Both consumers, in the order the stats line and `/metrics` show them.
    pub const ALL: [ConsumerKind; 2] = [ConsumerKind::Single, ConsumerKind::Batch];

    /// Its name in log lines and in `/healthz`.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerKind::Single => "single-message consumer",
            ConsumerKind::Batch => "batch consumer",
        }
    }

    /// Its `consumer` label in `/metrics` and the stats line.
    pub fn label(self) -> &'static str {
        match self {
            ConsumerKind::Single => "single",
            ConsumerKind::Batch => "batch",
        }
    }

    /// The name of its OS thread.
    pub fn thread_name(self) -> &'static str {
        match self {
            ConsumerKind::Single => "single-consumer",
            ConsumerKind::Batch => "batch-consumer",
        }
    }

    /// The log target of its `received` lines and its own events.
    pub fn log_target(self) -> &'static str {
        match self {
            ConsumerKind::Single => log_target::SINGLE_CONSUMER,
            ConsumerKind::Batch => log_target::BATCH_CONSUMER,
        }
    }

    /// Its consumer group.
    pub fn group_id(self, config: &Config) -> &str {
        match self {
            ConsumerKind::Single => &config.single_group_id,
            ConsumerKind::Batch => &config.batch_group_id,
        }
    }

    /// Its static member id (`group.instance.id`) with `CONSUMER_INSTANCE_ID`: one per
    /// consumer, since a member id must be unique in its group.
    pub(crate) fn instance_id(self, config: &Config) -> Option<String> {
        let id = config.consumer_instance_id.as_ref()?;
        Some(format!("{id}-{}", self.label()))
    }

    /// Whether librdkafka commits its stored offsets in the background.
    pub(crate) fn auto_commit(self) -> bool {
        match self {
            ConsumerKind::Single => true,
            ConsumerKind::Batch => false,
        }
    }

    /// Its slot in per-consumer arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            ConsumerKind::Single => 0,
            ConsumerKind::Batch => 1,
        }
    }
}
