//! Who a consumer is and what it reads ([`ConsumerSettings`]), and the key every piece of a
//! consumer files its state under: a partition of one of its topics ([`Tp`]).

use std::sync::Arc;

/// What makes one consumer: its group, its topics, and the names it goes by. Everything else
/// (brokers, registry, batch size, retry times, the decode-error policy) comes from the
/// shared [`crate::Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerSettings {
    /// Its consumer group (`group.id`).
    pub group: String,
    /// The topics it subscribes to, one or several; each is read and committed on its own.
    pub topics: Vec<String>,
    /// Its name in log lines and errors, e.g. `"batch consumer"`.
    pub name: String,
    /// Its `consumer` label in metrics.
    pub label: String,
    /// The log target of its own events (rebalances, retries, commits).
    pub log_target: String,
    /// Its static member id (`group.instance.id`): a restart within the session timeout
    /// keeps its partitions without a rebalance. Unique per member of a group.
    pub instance_id: Option<String>,
    /// How it gets its partitions: from its group, or all of them by itself.
    pub(crate) membership: Membership,
}

/// How a consumer gets its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Membership {
    /// As a member of its group, which assigns it partitions and keeps its offsets; where
    /// the group has none, it starts at the beginning (`earliest`) or the end (`latest`).
    Group { from_beginning: bool },
    /// Every partition of its topics, assigned by itself at the beginning or the end; it
    /// joins no group and commits nothing (the console without `--group`).
    Alone { from_beginning: bool },
}

impl Membership {
    /// Whether partitions without a committed offset are read from their beginning.
    pub(crate) fn starts_at_beginning(self) -> bool {
        match self {
            Membership::Group { from_beginning } | Membership::Alone { from_beginning } => {
                from_beginning
            }
        }
    }
}

impl ConsumerSettings {
    /// A consumer of `group` reading `topics`, named after its group, logging under
    /// `kafka_avro_daemon::consumer`, without a static member id.
    pub fn new<T: Into<String>>(
        group: impl Into<String>,
        topics: impl IntoIterator<Item = T>,
    ) -> ConsumerSettings {
        let group = group.into();
        ConsumerSettings {
            name: format!("consumer of group {group}"),
            label: group.clone(),
            log_target: "kafka_avro_daemon::consumer".to_string(),
            topics: topics.into_iter().map(Into::into).collect(),
            instance_id: None,
            membership: Membership::Group {
                from_beginning: true,
            },
            group,
        }
    }
}

/// A partition of one of a consumer's topics: the topic's place in its settings' list, and
/// the partition number. Every piece of a consumer that keeps state per partition (the
/// batch, its commits, revocations, pauses, the audit) keys it by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Tp {
    pub(crate) topic: usize,
    pub(crate) partition: i32,
}

/// A consumer's topics, in the order of its settings; a topic's index is its [`Tp::topic`].
#[derive(Debug, Clone)]
pub(crate) struct Topics(Vec<Arc<str>>);

impl Topics {
    pub(crate) fn new(names: &[String]) -> Topics {
        Topics(names.iter().map(|name| Arc::from(name.as_str())).collect())
    }

    /// Every name, in order.
    pub(crate) fn names(&self) -> &[Arc<str>] {
        &self.0
    }

    /// The index of `name`, if it is one of them.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|topic| &**topic == name)
    }

    /// The name of the topic at `index` (an index from [`Topics::index_of`]).
    pub(crate) fn name(&self, index: usize) -> &Arc<str> {
        &self.0[index]
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `partitions` as the log shows them: `[0, 2]` for a consumer of one topic, else
    /// `["orders[0]", "users[2]"]`.
    pub(crate) fn describe(&self, partitions: &[Tp]) -> String {
        if self.0.len() == 1 {
            let numbers: Vec<i32> = partitions.iter().map(|tp| tp.partition).collect();
            return format!("{numbers:?}");
        }
        let named: Vec<String> = partitions
            .iter()
            .map(|tp| format!("{}[{}]", self.name(tp.topic), tp.partition))
            .collect();
        format!("{named:?}")
    }
}
