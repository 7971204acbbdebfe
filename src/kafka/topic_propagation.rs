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
//! The wait ends within the topic check's deadline and at most [`PROPAGATION_BOUND`] after it
//! begins, and its end is a warning, not a refusal to start: a broker that does not answer
//! (down, hung) must not keep the daemon from starting, and the race it guards against is
//! rare. It guards only the start: a partition added later, or a topic created while the
//! daemon runs, still depends on every broker knowing it when the group next rebalances.
//! An advertised address that reaches another broker (a load balancer in front of all) would
//! confirm for the wrong broker.

use std::thread;
use std::time::{Duration, Instant};

use super::admin::{AdminClient, AdminError, Broker};
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
    /// At the deadline these brokers had not: they did not know a topic, or did not answer.
    Unconfirmed(Vec<Broker>),
    /// The list of brokers itself did not come.
    NoBrokerList(String),
    /// Shutdown began.
    Interrupted,
}

/// Waits until every broker of the cluster `admin` talks to knows each of `topics`, until
/// `deadline` or [`PROPAGATION_BOUND`] from now, whichever is first; logs how it ended.
pub(crate) fn wait_until_every_broker_knows(
    admin: &AdminClient,
    config: &Config,
    topics: &[&str],
    deadline: Instant,
    shutdown: &Shutdown,
) -> Propagation {
    let deadline = deadline.min(Instant::now() + PROPAGATION_BOUND);
    let left = deadline.saturating_duration_since(Instant::now());
    let listed = match left.is_zero() {
        true => Err("the topic check's time was used up".to_string()),
        false => admin
            .brokers(PROBE_TIMEOUT.min(left))
            .map_err(|e| admin_error_text(&e)),
    };
    let outcome = match listed {
        _ if shutdown.is_stopping() => Propagation::Interrupted,
        Ok(brokers) if brokers.is_empty() => Propagation::NoBrokerList("none listed".to_string()),
        Err(why) => Propagation::NoBrokerList(why),
        Ok(brokers) => {
            let count = brokers.len();
            // One without an address cannot be asked: named at once, not waited for.
            let (brokers, unreachable): (Vec<Broker>, Vec<Broker>) =
                brokers.into_iter().partition(|b| b.address.is_some());
            let questions: Vec<(&Broker, &str)> = brokers
                .iter()
                .flat_map(|broker| topics.iter().map(move |topic| (broker, *topic)))
                .collect();
            let asked = until_each_knows(
                questions,
                |(broker, topic), timeout| {
                    probe_client(config, broker, shutdown)
                        .is_some_and(|probe| probe.knows_topic(broker.id, topic, timeout))
                },
                deadline,
                shutdown,
            );
            let mut unsure: Vec<Broker> = Vec::new();
            match asked {
                Waited::Everywhere => {}
                Waited::Unconfirmed(left) => {
                    for (broker, _) in left {
                        if !unsure.contains(broker) {
                            unsure.push(broker.clone());
                        }
                    }
                }
                Waited::Interrupted => return Propagation::Interrupted,
            }
            unsure.extend(unreachable);
            match unsure.is_empty() {
                true => Propagation::Everywhere { brokers: count },
                false => Propagation::Unconfirmed(unsure),
            }
        }
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

/// How a round of questions ended.
#[derive(Debug, PartialEq, Eq)]
enum Waited<T> {
    Everywhere,
    Unconfirmed(Vec<T>),
    Interrupted,
}

/// Asks the items of `unsure` with `knows` ([`AT_ONCE`] at a time, each with a timeout that
/// ends by `deadline`), round after round, each round only those that had not said yes, until
/// all have, `deadline` passes, or a stop.
fn until_each_knows<T: Sync>(
    mut unsure: Vec<T>,
    knows: impl Fn(&T, Duration) -> bool + Sync,
    deadline: Instant,
    shutdown: &Shutdown,
) -> Waited<T> {
    loop {
        if shutdown.is_stopping() {
            return Waited::Interrupted;
        }
        let mut answers: Vec<bool> = Vec::with_capacity(unsure.len());
        for some in unsure.chunks(AT_ONCE) {
            let timeout = PROBE_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
            if timeout.is_zero() || shutdown.is_stopping() {
                answers.resize(unsure.len(), false);
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
                // A question that could not be asked, or panicked, confirmed nothing.
                answers.extend(asking.into_iter().map(|asked| {
                    asked
                        .ok()
                        .and_then(|asked| asked.join().ok())
                        .unwrap_or(false)
                }));
            });
        }
        let mut answers = answers.into_iter();
        unsure.retain(|_| !answers.next().unwrap_or(false));
        if unsure.is_empty() {
            return Waited::Everywhere;
        }
        if shutdown.is_stopping() {
            return Waited::Interrupted;
        }
        if Instant::now() + RECHECK >= deadline {
            return Waited::Unconfirmed(unsure);
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
        Propagation::Unconfirmed(brokers) => {
            let names: Vec<String> = brokers
                .iter()
                .map(|b| match &b.address {
                    Some(address) => format!("{} ({address})", b.id),
                    None => format!("{} (no address)", b.id),
                })
                .collect();
            let (noun, they) = match brokers.len() {
                1 => ("broker", "it knows"),
                _ => ("brokers", "they know"),
            };
            Some((
                log::Level::Warn,
                format!(
                    "topic {topics}: {noun} {} did not say {they} the topic in time (no answer, or not yet); starting anyway (a consumer group whose coordinator does not know it yet is assigned no partitions until it next rebalances)",
                    names.join(", ")
                ),
            ))
        }
        Propagation::NoBrokerList(why) => Some((
            log::Level::Warn,
            format!("topic {topics}: cannot list the brokers to confirm each knows the topic ({why}); starting anyway"),
        )),
        Propagation::Interrupted => None,
    }
}

fn admin_error_text(error: &AdminError) -> String {
    match error {
        AdminError::TimedOut { reason } => reason.clone(),
        AdminError::Interrupted => "stopped".to_string(),
        AdminError::Failed { code, message } => format!("{message}: {code:?}"),
    }
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
                *id != 2 || count >= 3
            },
            Instant::now() + Duration::from_secs(30),
            &shutdown,
        );
        assert!(matches!(outcome, Waited::Everywhere), "{outcome:?}");
        let counts: Vec<usize> = asked
            .iter()
            .map(|(_, c)| c.load(Ordering::SeqCst))
            .collect();
        assert_eq!(counts, [1, 3, 1]);
    }

    #[test]
    fn brokers_that_hang_are_asked_at_once_and_named_by_the_deadline() {
        let shutdown = Shutdown::new();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(1_200);
        // Each question takes its whole timeout, as a hung broker's would.
        let outcome = until_each_knows(
            (1..=6).map(broker).collect(),
            |b, timeout| {
                thread::sleep(timeout);
                b.id == 1
            },
            deadline,
            &shutdown,
        );
        let took = started.elapsed();
        assert_eq!(outcome, Waited::Unconfirmed((2..=6).map(broker).collect()));
        // Asked together, each question cut at the deadline: one at a time, the first round
        // alone would take 6 × 500 ms.
        assert!(took < Duration::from_millis(2_000), "{took:?}");
    }

    #[test]
    fn a_stop_ends_the_wait() {
        let shutdown = Shutdown::new();
        shutdown.stop(StopReason::Requested);
        let outcome = until_each_knows(
            vec![broker(1)],
            |_, _| false,
            Instant::now() + Duration::from_secs(30),
            &shutdown,
        );
        assert_eq!(outcome, Waited::Interrupted);
    }

    #[test]
    fn the_warning_names_each_unconfirmed_broker_and_what_it_risks() {
        let (level, line) = outcome_line(
            &["t"],
            &Propagation::Unconfirmed(vec![
                broker(2),
                Broker {
                    id: 3,
                    address: None,
                },
            ]),
        )
        .expect("a line");
        assert_eq!(level, log::Level::Warn);
        assert!(
            line.starts_with(
                "topic t: brokers 2 (127.0.0.1:9095), 3 (no address) did not say they know the topic in time"
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
