//! Waiting, after creating a topic, until every broker knows it.
//!
//! A broker learns of a new topic a moment after the controller; until then it answers
//! "unknown topic". A consumer group's leader computes the assignment from one broker's
//! metadata: when that broker does not know the topic yet, the leader assigns nothing, and
//! librdkafka (2.12, classic protocol) does not look again, since its members joined with the
//! topic already in their own metadata and later refreshes show them no change. The group
//! then reads nothing until something else rebalances it (seen once: a consumer with no
//! partitions for two minutes, its records unread). So the consumers start only once every
//! broker has answered that it knows the topics the daemon just created, each asked by a
//! client of its own whose only bootstrap server it is.
//!
//! The wait is bounded, and its end is a warning, not a refusal to start: a broker that does
//! not answer (down, hung) must not keep the daemon from starting, and the risk it guards
//! against is a rare race.

use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, Producer};

use super::admin::{AdminClient, AdminRole, Broker};
use super::{client_config_with, create_client, ClientEvents, ClientKind};
use crate::config::Config;
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::log_target;

/// How long the daemon waits for every broker to know a topic it created.
const PROPAGATION_BOUND: Duration = Duration::from_secs(15);
/// One broker's answer to one question.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between rounds of questions to the brokers not yet sure.
const RECHECK: Duration = Duration::from_millis(200);

/// How the wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Propagation {
    /// Every broker answered that it knows every topic.
    Everywhere { brokers: usize },
    /// Past the bound, these brokers had not (they did not know a topic, or did not answer).
    Unconfirmed(Vec<Broker>),
    /// The cluster's broker list itself did not come.
    NoBrokerList(String),
    /// Shutdown began.
    Interrupted,
}

/// Waits until every broker of the cluster `admin` talks to knows each of `topics`, and logs
/// the outcome (a warning when not confirmed). Returns how it ended.
pub(crate) fn wait_until_every_broker_knows(
    admin: &AdminClient,
    config: &Config,
    topics: &[&str],
    shutdown: &Shutdown,
) -> Propagation {
    let brokers = match admin.brokers(PROBE_TIMEOUT) {
        Ok(brokers) if !brokers.is_empty() => brokers,
        Ok(_) => return report(topics, Propagation::NoBrokerList("none listed".to_string())),
        Err(e) => return report(topics, Propagation::NoBrokerList(format!("{e:?}"))),
    };
    let outcome = until_every_broker_knows(
        brokers,
        |broker| knows(config, broker, topics, shutdown),
        Instant::now() + PROPAGATION_BOUND,
        shutdown,
    );
    report(topics, outcome)
}

/// Asks each broker in `brokers` with `knows` until every one said yes, re-asking only those
/// that had not, or until `deadline`.
fn until_every_broker_knows(
    brokers: Vec<Broker>,
    mut knows: impl FnMut(&Broker) -> bool,
    deadline: Instant,
    shutdown: &Shutdown,
) -> Propagation {
    let count = brokers.len();
    let mut unsure = brokers;
    loop {
        unsure.retain(|broker| !knows(broker));
        if unsure.is_empty() {
            return Propagation::Everywhere { brokers: count };
        }
        if Instant::now() + RECHECK >= deadline {
            return Propagation::Unconfirmed(unsure);
        }
        if shutdown.sleep(RECHECK) {
            return Propagation::Interrupted;
        }
    }
}

/// Whether `broker` itself answers that it knows every topic of `topics`, each with a leader
/// for every partition. A client whose only bootstrap server is `broker` asks; an answer from
/// another broker (librdkafka may have learnt of it) confirms nothing.
fn knows(config: &Config, broker: &Broker, topics: &[&str], shutdown: &Shutdown) -> bool {
    let settings = client_config_with(
        config,
        ClientKind::Producer,
        &[
            ("bootstrap.servers", broker.address.clone()),
            // A question, never a creation (a producer's default is to create).
            ("allow.auto.create.topics", "false".to_string()),
        ],
    );
    let created: Result<BaseProducer<ClientEvents<AdminRole>>, _> = create_client(
        &settings,
        ClientEvents::new("topic check", shutdown, AdminRole),
    );
    let Ok(client) = created else {
        return false;
    };
    topics.iter().all(|topic| {
        // Only numbers are read from the answer: rdkafka's string accessors panic on text
        // that is not UTF-8.
        match client.client().fetch_metadata(Some(topic), PROBE_TIMEOUT) {
            // -1: the bootstrap connection answered, which is `broker`'s address.
            Ok(metadata) if [broker.id, -1].contains(&metadata.orig_broker_id()) => {
                metadata.topics().first().is_some_and(|answer| {
                    answer.error().is_none()
                        && !answer.partitions().is_empty()
                        && answer.partitions().iter().all(|p| p.leader() >= 0)
                })
            }
            _ => false,
        }
    })
}

fn report(topics: &[&str], outcome: Propagation) -> Propagation {
    let topics = topics.join(", ");
    match &outcome {
        Propagation::Everywhere { brokers } => log::info!(
            target: log_target::KAFKA,
            "topic {topics} known to every broker ({brokers})"
        ),
        Propagation::Unconfirmed(brokers) => {
            let names: Vec<String> = brokers
                .iter()
                .map(|b| format!("{} ({})", b.id, b.address))
                .collect();
            log::warn!(
                target: log_target::KAFKA,
                "topic {topics}: broker {} did not confirm it knows the topic within {}s; starting anyway (a consumer group whose leader asks such a broker may be assigned no partitions until its next rebalance)",
                names.join(", "),
                PROPAGATION_BOUND.as_secs()
            )
        }
        Propagation::NoBrokerList(why) => log::warn!(
            target: log_target::KAFKA,
            "topic {topics}: cannot list the brokers to confirm each knows the topic ({why}); starting anyway"
        ),
        Propagation::Interrupted => {}
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn broker(id: i32) -> Broker {
        Broker {
            id,
            address: format!("127.0.0.1:{}", 9093 + id),
        }
    }

    #[test]
    fn only_the_brokers_not_yet_sure_are_asked_again_until_each_says_yes() {
        let shutdown = Shutdown::new();
        // Broker 2 learns of the topic at its third question.
        let mut asked: HashMap<i32, usize> = HashMap::new();
        let outcome = until_every_broker_knows(
            vec![broker(1), broker(2), broker(3)],
            |b| {
                let count = asked.entry(b.id).or_default();
                *count += 1;
                b.id != 2 || *count >= 3
            },
            Instant::now() + Duration::from_secs(30),
            &shutdown,
        );
        assert_eq!(outcome, Propagation::Everywhere { brokers: 3 });
        assert_eq!(asked[&1], 1);
        assert_eq!(asked[&2], 3);
        assert_eq!(asked[&3], 1);
    }

    #[test]
    fn a_broker_that_never_confirms_is_named_at_the_deadline() {
        let shutdown = Shutdown::new();
        let started = Instant::now();
        let outcome = until_every_broker_knows(
            vec![broker(1), broker(2)],
            |b| b.id == 1,
            started + Duration::from_millis(700),
            &shutdown,
        );
        assert_eq!(outcome, Propagation::Unconfirmed(vec![broker(2)]));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_stop_ends_the_wait() {
        let shutdown = Shutdown::new();
        shutdown.stop(crate::lifecycle::shutdown::StopReason::Requested);
        let outcome = until_every_broker_knows(
            vec![broker(1)],
            |_| false,
            Instant::now() + Duration::from_secs(30),
            &shutdown,
        );
        assert_eq!(outcome, Propagation::Interrupted);
    }
}
