//! Which of the two consumers a piece of code serves, and everything that names it: its name
//! in log lines, its label in metrics, its thread, its log target and its group. Declared once
//! here so the four never drift apart.

use crate::config::Config;
use crate::consumer::ConsumerSettings;
use crate::ops::health::Heartbeat;
use crate::ops::log_target;
use crate::ops::stats::{ConsumerStats, Stats};

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

    /// Its settings: its group, the daemon's topic, its names and static member id.
    pub(crate) fn settings(self, config: &Config) -> ConsumerSettings {
        let mut settings = ConsumerSettings::new(self.group_id(config), [config.topic.clone()]);
        settings.name = self.name().to_string();
        settings.label = self.label().to_string();
        settings.log_target = self.log_target().to_string();
        settings.instance_id = self.instance_id(config);
        settings
    }

    /// Its slot in per-consumer arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            ConsumerKind::Single => 0,
            ConsumerKind::Batch => 1,
        }
    }
}

impl Stats {
    /// The figures of one consumer.
    pub(crate) fn consumer(&self, kind: ConsumerKind) -> &ConsumerStats {
        &self.consumers[kind.index()]
    }

    /// Each loop's name and heartbeat, for liveness checks.
    pub(crate) fn heartbeats(&self) -> [(&'static str, &Heartbeat); 3] {
        let [single, batch] =
            ConsumerKind::ALL.map(|kind| (kind.name(), &self.consumer(kind).heartbeat));
        [("producer", &self.producer_heartbeat), single, batch]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_member_id_per_consumer_derived_from_the_instance_id() {
        let c = Config::from_pairs(&[("CONSUMER_INSTANCE_ID", "host-7")]).expect("config");
        assert_eq!(
            ConsumerKind::Single.settings(&c).instance_id.as_deref(),
            Some("host-7-single")
        );
        assert_eq!(
            ConsumerKind::Batch.settings(&c).instance_id.as_deref(),
            Some("host-7-batch")
        );
        let none = Config::from_pairs(&[]).expect("config");
        assert_eq!(ConsumerKind::Single.settings(&none).instance_id, None);
    }

    #[test]
    fn each_consumer_reads_the_topic_in_its_group() {
        let c = Config::from_pairs(&[("CONSUMER_GROUP_ID_1", "g1"), ("CONSUMER_GROUP_ID_2", "g2")])
            .expect("config");
        let (single, batch) = (
            ConsumerKind::Single.settings(&c),
            ConsumerKind::Batch.settings(&c),
        );
        assert_eq!((single.group.as_str(), batch.group.as_str()), ("g1", "g2"));
        assert_eq!(single.topics, vec![c.topic.clone()]);
        assert_eq!(batch.log_target, log_target::BATCH_CONSUMER);
    }
}
