//! Where the topic check's description is asked: at a broker that answers.
//!
//! librdkafka sends a DescribeTopics request to the broker it takes for the controller, and
//! KRaft brokers name a live broker at random for that. A hung broker (stopped, in a long GC
//! pause, behind a dropped network path) named so held the check to `TOPIC_CHECK_TIMEOUT_S`
//! and the start failed: a third of starts with one broker of three hung. So the brokers are
//! asked in turn, first the one that answered the list of brokers (alive a moment ago), each
//! for at most [`AT_ONE_BROKER`] in the first round, twice that in the next, and so on: a slow
//! but healthy cluster is still waited for, and one hung broker costs one such bound.

use std::time::{Duration, Instant};

use super::admin::{AdminClient, AdminError, Broker, TopicDescription, TopicError};
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::log_target;

/// How long one broker may take to describe the topics in the first round before the next one
/// is asked; doubled after each round.
const AT_ONE_BROKER: Duration = Duration::from_secs(2);
/// The longest one request for the list of brokers blocks (a stop is seen within it).
const LIST_SLICE: Duration = Duration::from_millis(500);
/// Pause between requests for the list that failed at once (every broker refusing).
const LIST_AGAIN: Duration = Duration::from_millis(100);

/// The topics' descriptions and who gave them.
pub(crate) struct Described {
    /// Every topic's answer, in the order asked.
    pub(crate) topics: Vec<Result<TopicDescription, TopicError>>,
    /// The broker that answered: alive a moment ago, so the one to ask to create a topic.
    pub(crate) by: i32,
}

/// Describes `topics` at the first broker that answers by `deadline` (see the module's docs);
/// a stop ends the wait within about half a second.
pub(crate) fn describe_at_a_live_broker(
    admin: &AdminClient,
    topics: &[&str],
    deadline: Instant,
    shutdown: &Shutdown,
) -> Result<Described, AdminError> {
    let brokers = list_brokers(admin, deadline, shutdown)?;
    first_answer(
        &brokers,
        deadline,
        AT_ONE_BROKER,
        shutdown,
        |broker, until| {
            let topics = admin.describe_topics(topics, broker.id, until)?;
            Ok(Described {
                topics,
                by: broker.id,
            })
        },
    )
}

/// The cluster's brokers, the one that answered first; asked again until one answers, the
/// deadline passes or a stop begins.
fn list_brokers(
    admin: &AdminClient,
    deadline: Instant,
    shutdown: &Shutdown,
) -> Result<Vec<Broker>, AdminError> {
    loop {
        // librdkafka's warnings (a refused connection) and an authentication failure, which
        // stops the daemon with its own line rather than after the whole check.
        admin.serve_events();
        if shutdown.is_stopping() {
            return Err(AdminError::Interrupted);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let asked = Instant::now();
        let why = match admin.brokers(LIST_SLICE.min(left)) {
            Ok(brokers) if !brokers.is_empty() => return Ok(brokers),
            Ok(_) => "the metadata named no broker".to_string(),
            Err(AdminError::Interrupted) => return Err(AdminError::Interrupted),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(AdminError::TimedOut {
                reason: format!("no list of brokers: {why}"),
            });
        }
        if asked.elapsed() < LIST_AGAIN && shutdown.sleep(LIST_AGAIN) {
            return Err(AdminError::Interrupted);
        }
    }
}

/// Asks `brokers` in turn with `ask(broker, until)` until one answers — with an error too: a
/// refusal is an answer, the same from any broker. A broker that does not answer by `until`
/// (`first_bound` after it was asked in the first round, doubled each round, never past
/// `deadline`) is named in a warning and the next one asked; the last question ends at
/// `deadline`, and its outcome is the answer.
fn first_answer<T>(
    brokers: &[Broker],
    deadline: Instant,
    first_bound: Duration,
    shutdown: &Shutdown,
    mut ask: impl FnMut(&Broker, Instant) -> Result<T, AdminError>,
) -> Result<T, AdminError> {
    let mut bound = first_bound;
    loop {
        for (index, broker) in brokers.iter().enumerate() {
            let until = deadline.min(Instant::now() + bound);
            match ask(broker, until) {
                Err(AdminError::TimedOut { reason }) if until < deadline => {
                    let next = &brokers[(index + 1) % brokers.len()];
                    log::warn!(
                        target: log_target::KAFKA,
                        "topic check: broker {} did not describe the topics within {bound:?} ({reason}); asking broker {}",
                        named(broker),
                        named(next)
                    );
                    // A question that ended early must not turn the rounds into a busy loop.
                    if shutdown.sleep_until(until) {
                        return Err(AdminError::Interrupted);
                    }
                }
                outcome => return outcome,
            }
        }
        bound = bound.saturating_mul(2);
    }
}

/// A broker as the warnings name it: `1 (host:port)`.
fn named(broker: &Broker) -> String {
    match &broker.address {
        Some(address) => format!("{} ({address})", broker.id),
        None => format!("{} (no address)", broker.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::shutdown::StopReason;

    fn brokers(ids: &[i32]) -> Vec<Broker> {
        ids.iter()
            .map(|&id| Broker {
                id,
                address: Some(format!("h{id}:9092")),
            })
            .collect()
    }

    fn timed_out() -> AdminError {
        AdminError::TimedOut {
            reason: "no answer".to_string(),
        }
    }

    /// The first broker that answers ends the questions; one that does not is asked for at
    /// most the bound and passed over.
    #[test]
    fn a_broker_that_does_not_answer_is_passed_over_for_the_next() {
        let shutdown = Shutdown::new();
        let bound = Duration::from_millis(40);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut asked = Vec::new();
        let answer = first_answer(
            &brokers(&[2, 3, 1]),
            deadline,
            bound,
            &shutdown,
            |b, until| {
                asked.push((b.id, until.saturating_duration_since(Instant::now())));
                match b.id {
                    2 => Err(timed_out()),
                    id => Ok(id),
                }
            },
        );
        assert_eq!(answer.ok(), Some(3));
        assert_eq!(asked.iter().map(|a| a.0).collect::<Vec<_>>(), [2, 3]);
        assert!(asked.iter().all(|a| a.1 <= bound), "{asked:?}");
    }

    /// A refusal is an answer (the same from any broker): returned, not passed over.
    #[test]
    fn an_error_answer_is_the_answer() {
        let shutdown = Shutdown::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut asked = Vec::new();
        let answer: Result<(), _> = first_answer(
            &brokers(&[1, 2]),
            deadline,
            Duration::from_millis(40),
            &shutdown,
            |b, _| {
                asked.push(b.id);
                Err(AdminError::Failed {
                    code: rdkafka::error::RDKafkaErrorCode::ClusterAuthorizationFailed,
                    message: "denied".to_string(),
                })
            },
        );
        assert!(
            matches!(answer, Err(AdminError::Failed { .. })),
            "{answer:?}"
        );
        assert_eq!(asked, [1]);
    }

    /// When no broker answers, the rounds go on with twice the bound each, the last question
    /// ends at the deadline and its timeout is the answer.
    #[test]
    fn the_bound_doubles_each_round_and_the_last_question_ends_at_the_deadline() {
        let shutdown = Shutdown::new();
        let bound = Duration::from_millis(30);
        let started = Instant::now();
        let deadline = started + Duration::from_millis(400);
        let mut asked = Vec::new();
        let answer: Result<(), _> =
            first_answer(&brokers(&[1, 2]), deadline, bound, &shutdown, |b, until| {
                asked.push((b.id, until.saturating_duration_since(Instant::now()), until));
                Err(timed_out())
            });
        assert!(
            matches!(answer, Err(AdminError::TimedOut { .. })),
            "{answer:?}"
        );
        // Each question waited out its bound (the fake answers at once): 30, 30, 60, 60 ms,
        // then 120 and what is left of the 400 ms.
        let ids: Vec<i32> = asked.iter().map(|a| a.0).collect();
        assert_eq!(ids[..4], [1, 2, 1, 2], "{asked:?}");
        assert!(asked[0].1 <= bound && asked[2].1 > bound, "{asked:?}");
        assert!(asked[2].1 <= bound * 2, "{asked:?}");
        let last = asked.last().expect("asked");
        assert_eq!(last.2, deadline, "{asked:?}");
        assert!(
            asked[..asked.len() - 1].iter().all(|a| a.2 < deadline),
            "{asked:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(180), "{asked:?}");
    }

    /// A stop during the pause after a question that ended early ends the questions.
    #[test]
    fn a_stop_ends_the_questions() {
        let shutdown = Shutdown::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let stopper = shutdown.clone();
        let answer: Result<(), _> = first_answer(
            &brokers(&[1, 2]),
            deadline,
            Duration::from_secs(20),
            &shutdown,
            |_, _| {
                stopper.stop(StopReason::Requested);
                Err(timed_out())
            },
        );
        assert!(matches!(answer, Err(AdminError::Interrupted)), "{answer:?}");
    }

    #[test]
    fn a_warning_names_the_broker_and_its_address() {
        assert_eq!(named(&brokers(&[3])[0]), "3 (h3:9092)");
        assert_eq!(
            named(&Broker {
                id: 4,
                address: None
            }),
            "4 (no address)"
        );
    }
}
