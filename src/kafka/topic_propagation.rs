//! Waiting at start-up until every broker knows the topics the consumers read.
//!
//! A broker learns of a new topic a moment after the controller; until then it answers
//! "unknown topic". A consumer group's leader computes the assignment from metadata it asks
//! the group's coordinator for: when that broker does not know the topic yet, the leader
//! assigns nothing, and librdkafka (2.12, classic protocol) does not look again, since its
//! members joined with the topic already in their own metadata and later refreshes show them no
//! change. The group then reads nothing until something else rebalances it (seen in CI: a
//! consumer with no partitions for two minutes, its records unread). So the consumers start
//! only once every broker has answered that it knows the topics they read, each asked by a
//! client of its own whose only bootstrap server it is.
//!
//! Only a broker that answers "not yet" is waited for: one that does not answer (down, hung)
//! answers no group leader either, and waiting for it would only delay every start during an
//! outage. The wait ends within the topic check's deadline and at most [`PROPAGATION_BOUND`]
//! after it begins, and its end is a warning, never a refusal to start. It guards only the start: a partition added later, or a topic created while the
//! daemon runs, still depends on every broker knowing it when the group next rebalances.
//! An advertised address that reaches another broker (a load balancer in front of all) would
//! confirm for the wrong broker.

use std::thread;
use std::time::{Duration, Instant};

use super::admin::{AdminClient, Broker, TopicAnswer};
use super::client_config_with;
use super::ClientKind;
use crate::config::Config;
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::log_target;

/// How long, at most, the daemon waits for every broker to know the topics.
const PROPAGATION_BOUND: Duration = Duration::from_secs(15);
/// The longest one question to one broker may take; the stop is seen within it.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Questions asked at once: each is a client of librdkafka's with its threads and sockets.
const AT_ONCE: usize = 8;
/// Pause between rounds of questions to the brokers not yet sure.
const RECHECK: Duration = Duration::from_millis(250);

/// How the wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Propagation {
    /// Every broker answered that it knows every topic.
    Everywhere { brokers: usize },
    /// Not every broker said so: `not_yet` still answered that it does not know a topic at
    /// the deadline; `silent` did not answer (down, hung, no address) and was not waited for.
    Unconfirmed {
        not_yet: Vec<Broker>,
        silent: Vec<Broker>,
    },
    /// Shutdown began.
    Interrupted,
}

/// Waits until each of `brokers` (the cluster's, as the topic check listed them) knows each
/// of `topics`, until `deadline` or [`PROPAGATION_BOUND`] from now, whichever is first; logs
/// how it ended.
pub(crate) fn wait_until_every_broker_knows(
    brokers: &[Broker],
    config: &Config,
    topics: &[&str],
    deadline: Instant,
    shutdown: &Shutdown,
) -> Propagation {
    let deadline = deadline.min(Instant::now() + PROPAGATION_BOUND);
    let questions: Vec<(&Broker, &str)> = brokers
        .iter()
        .flat_map(|broker| topics.iter().map(move |topic| (broker, *topic)))
        .collect();
    let asked = until_each_knows(
        questions,
        |(broker, topic), timeout| match probe_client(config, broker, shutdown) {
            Some(probe) => probe.knows_topic(broker.id, topic, timeout),
            None => TopicAnswer::Silent,
        },
        deadline,
        shutdown,
    );
    let outcome = match asked {
        Waited::Done { not_yet, silent } if not_yet.is_empty() && silent.is_empty() => {
            Propagation::Everywhere {
                brokers: brokers.len(),
            }
        }
        Waited::Done { not_yet, silent } => Propagation::Unconfirmed {
            not_yet: brokers_of(not_yet),
            silent: brokers_of(silent),
        },
        Waited::Interrupted => Propagation::Interrupted,
    };
    if let Some((level, line)) = outcome_line(topics, &outcome) {
        log::log!(target: log_target::KAFKA, level, "{line}");
    }
    outcome
}

/// A client whose only bootstrap server is `broker`, with the user's security settings;
/// `None` when the metadata gave no address or the client cannot be created. One per
/// question: a client that has had an answer knows the other brokers, and librdkafka may send
/// its next question to one of them (an answer from another broker confirms nothing, so a kept
/// client would rarely confirm).
fn probe_client(config: &Config, broker: &Broker, shutdown: &Shutdown) -> Option<AdminClient> {
    let address = broker.address.as_ref()?;
    let mut settings = client_config_with(config, ClientKind::Producer, &[]);
    // Set after the user's `LIBRDKAFKA_*` settings, which must not widen the question.
    settings
        .remove("metadata.broker.list")
        .set("bootstrap.servers", address)
        // Fewer connections to brokers it learns of, so the bootstrap one answers more often.
        .set("enable.sparse.connections", "true")
        // A question, never a creation (a producer's default is to create).
        .set("allow.auto.create.topics", "false")
        // No telemetry push, whose end a client's destruction waits for (up to 1 s).
        .set("enable.metrics.push", "false");
    let name = format!("topic check (broker {})", broker.id);
    AdminClient::new(&name, &settings, shutdown).ok()
}

/// Each broker once, in the order of the questions about them.
fn brokers_of(questions: Vec<(&Broker, &str)>) -> Vec<Broker> {
    let mut brokers: Vec<Broker> = Vec::new();
    for (broker, _) in questions {
        if !brokers.contains(broker) {
            brokers.push(broker.clone());
        }
    }
    brokers
}

/// How the questions ended.
#[derive(Debug, PartialEq, Eq)]
enum Waited<T> {
    /// Every item said it knows, but `not_yet` (still answering that it does not at the
    /// deadline) and `silent` (gave no answer once, and was not asked again).
    Done {
        not_yet: Vec<T>,
        silent: Vec<T>,
    },
    Interrupted,
}

/// Asks the items of `unsure` with `knows` ([`AT_ONCE`] at a time, each with a timeout that
/// ends by `deadline`), round after round, each round only those that answered that they do
/// not know yet, until none does, `deadline` passes, or a stop. An item that does not answer
/// is not asked again: a broker that answers nobody cannot answer a group's leader either,
/// and waiting for one that is down would only delay the start.
fn until_each_knows<T: Sync>(
    mut unsure: Vec<T>,
    knows: impl Fn(&T, Duration) -> TopicAnswer + Sync,
    deadline: Instant,
    shutdown: &Shutdown,
) -> Waited<T> {
    let mut silent = Vec::new();
    loop {
        if shutdown.is_stopping() {
            return Waited::Interrupted;
        }
        let mut answers: Vec<TopicAnswer> = Vec::with_capacity(unsure.len());
        for some in unsure.chunks(AT_ONCE) {
            let timeout = PROBE_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
            if timeout.is_zero() || shutdown.is_stopping() {
                answers.resize(unsure.len(), TopicAnswer::NotYet);
                break;
            }
            thread::scope(|scope| {
                let asking: Vec<_> = some
                    .iter()
                    .map(|item| {
                        let knows = &knows;
                        thread::Builder::new()
                            .name("topic check".to_string())
                            .spawn_scoped(scope, move || knows(item, timeout))
                    })
                    .collect();
                // A question that could not be asked, or panicked, is asked again.
                answers.extend(asking.into_iter().map(|asked| {
                    asked
                        .ok()
                        .and_then(|asked| asked.join().ok())
                        .unwrap_or(TopicAnswer::NotYet)
                }));
            });
        }
        let mut not_yet = Vec::new();
        for (item, answer) in unsure.into_iter().zip(answers) {
            match answer {
                TopicAnswer::Knows => {}
                TopicAnswer::NotYet => not_yet.push(item),
                TopicAnswer::Silent => silent.push(item),
            }
        }
        unsure = not_yet;
        if unsure.is_empty() || Instant::now() + RECHECK >= deadline {
            return Waited::Done {
                not_yet: unsure,
                silent,
            };
        }
        if shutdown.is_stopping() {
            return Waited::Interrupted;
        }
        if shutdown.sleep(RECHECK) {
            return Waited::Interrupted;
        }
    }
}

/// The line that reports `outcome`, if any.
fn outcome_line(topics: &[&str], outcome: &Propagation) -> Option<(log::Level, String)> {
    let topics = topics.join(", ");
    match outcome {
        Propagation::Everywhere { brokers } => Some((
            log::Level::Info,
            format!("topic {topics} known to every broker ({brokers})"),
        )),
        Propagation::Unconfirmed { not_yet, silent } => {
            let mut parts = Vec::new();
            if !not_yet.is_empty() {
                let (noun, they) = plural(not_yet.len());
                parts.push(format!(
                    "{noun} {} did not say {they} the topic in time",
                    names(not_yet)
                ));
            }
            if !silent.is_empty() {
                let (noun, _) = plural(silent.len());
                parts.push(format!(
                    "{noun} {} did not answer (not waited for: a broker that answers nobody answers no group leader either)",
                    names(silent)
                ));
            }
            Some((
                log::Level::Warn,
                format!(
                    "topic {topics}: {}; starting anyway (a consumer group whose coordinator does not know the topic yet is assigned no partitions until it next rebalances)",
                    parts.join("; ")
                ),
            ))
        }
        Propagation::Interrupted => None,
    }
}

fn plural(count: usize) -> (&'static str, &'static str) {
    match count {
        1 => ("broker", "it knows"),
        _ => ("brokers", "they know"),
    }
}

fn names(brokers: &[Broker]) -> String {
    let names: Vec<String> = brokers
        .iter()
        .map(|b| match &b.address {
            Some(address) => format!("{} ({address})", b.id),
            None => format!("{} (no address)", b.id),
        })
        .collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::shutdown::StopReason;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn broker(id: i32) -> Broker {
        Broker {
            id,
            address: Some(format!("127.0.0.1:{}", 9093 + id)),
        }
    }

    #[test]
    fn only_the_brokers_not_yet_sure_are_asked_again_until_each_says_yes() {
        let shutdown = Shutdown::new();
        let asked: Vec<(i32, AtomicUsize)> = (1..=3).map(|id| (id, AtomicUsize::new(0))).collect();
        // Broker 2 learns of the topic at its third question.
        let outcome = until_each_knows(
            asked.iter().collect(),
            |(id, count), _| {
                let count = count.fetch_add(1, Ordering::SeqCst) + 1;
                match *id != 2 || count >= 3 {
                    true => TopicAnswer::Knows,
                    false => TopicAnswer::NotYet,
                }
            },
            Instant::now() + Duration::from_secs(30),
            &shutdown,
        );
        assert!(
            matches!(&outcome, Waited::Done { not_yet, silent } if not_yet.is_empty() && silent.is_empty()),
            "{outcome:?}"
        );
        let counts: Vec<usize> = asked
            .iter()
            .map(|(_, c)| c.load(Ordering::SeqCst))
            .collect();
        assert_eq!(counts, [1, 3, 1]);
    }

    #[test]
    fn slow_brokers_not_knowing_yet_are_asked_at_once_and_named_by_the_deadline() {
        let shutdown = Shutdown::new();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(1_200);
        // Each question takes its whole timeout before its "not yet".
        let outcome = until_each_knows(
            (1..=6).map(broker).collect(),
            |b, timeout| {
                thread::sleep(timeout);
                match b.id {
                    1 => TopicAnswer::Knows,
                    _ => TopicAnswer::NotYet,
                }
            },
            deadline,
            &shutdown,
        );
        let took = started.elapsed();
        assert_eq!(
            outcome,
            Waited::Done {
                not_yet: (2..=6).map(broker).collect(),
                silent: Vec::new()
            }
        );
        // Asked together, each question cut at the deadline: one at a time, the first round
        // alone would take 6 × 500 ms.
        assert!(took < Duration::from_millis(2_000), "{took:?}");
    }

    #[test]
    fn a_broker_that_does_not_answer_is_asked_once_and_not_waited_for() {
        let shutdown = Shutdown::new();
        let asked = AtomicUsize::new(0);
        let outcome = until_each_knows(
            vec![broker(1), broker(2)],
            |b, _| match b.id {
                1 => TopicAnswer::Knows,
                _ => {
                    asked.fetch_add(1, Ordering::SeqCst);
                    TopicAnswer::Silent
                }
            },
            Instant::now() + Duration::from_secs(30),
            &shutdown,
        );
        assert_eq!(
            outcome,
            Waited::Done {
                not_yet: Vec::new(),
                silent: vec![broker(2)]
            }
        );
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_stop_ends_the_wait() {
        let shutdown = Shutdown::new();
        shutdown.stop(StopReason::Requested);
        let outcome = until_each_knows(
            vec![broker(1)],
            |_, _| TopicAnswer::NotYet,
            Instant::now() + Duration::from_secs(30),
            &shutdown,
        );
        assert_eq!(outcome, Waited::Interrupted);
    }

    #[test]
    fn the_warning_names_each_unconfirmed_broker_and_what_it_risks() {
        let (level, line) = outcome_line(
            &["t"],
            &Propagation::Unconfirmed {
                not_yet: vec![broker(2), broker(4)],
                silent: vec![Broker {
                    id: 3,
                    address: None,
                }],
            },
        )
        .expect("a line");
        assert_eq!(level, log::Level::Warn);
        assert!(
            line.starts_with(
                "topic t: brokers 2 (127.0.0.1:9095), 4 (127.0.0.1:9097) did not say they know the topic in time; broker 3 (no address) did not answer (not waited for"
            ),
            "{line}"
        );
        assert!(line.contains("starting anyway"), "{line}");
        let (level, line) =
            outcome_line(&["t"], &Propagation::Everywhere { brokers: 3 }).expect("a line");
        assert_eq!(
            (level, line.as_str()),
            (log::Level::Info, "topic t known to every broker (3)")
        );
        assert_eq!(outcome_line(&["t"], &Propagation::Interrupted), None);
    }
}
