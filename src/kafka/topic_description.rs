//! Where the topic check's description is asked: at every broker at once, the first answer
//! taken.
//!
//! librdkafka sends a DescribeTopics request to the broker it takes for the controller, and
//! KRaft brokers name a live broker at random for that. A hung broker (stopped, in a long GC
//! pause, behind a dropped network path) named so held the check to `TOPIC_CHECK_TIMEOUT_S`,
//! and the start failed: a third of starts with one broker of three hung, until the
//! controllers fenced it. Asking up to [`AT_ONCE`] brokers at once, each with the whole
//! deadline, a hung broker costs nothing, and a slow connection (TLS and SASL to a distant
//! cluster) is not cut short. A missing topic is then created at the broker that answered.

use std::time::{Duration, Instant};

use super::admin::{AdminClient, AdminError, Broker, TopicDescription, TopicError};
use crate::lifecycle::shutdown::Shutdown;

/// Brokers asked at once: each question is a connection of the check's client.
const AT_ONCE: usize = 8;
/// The longest one request for the list of brokers blocks (a stop is seen within it).
const LIST_SLICE: Duration = Duration::from_millis(500);
/// Pause before asking for the list again after a request that failed at once (every broker
/// refusing connections), so the retries are no busy loop.
const LIST_AGAIN: Duration = Duration::from_millis(100);

/// Describes `topics` at the first of `brokers` (at most [`AT_ONCE`] of them) that answers by
/// `deadline`: every topic's answer in the order asked, and the broker that gave them (alive a
/// moment ago, so the one to ask to create a topic). A stop ends the wait within about a tenth
/// of a second.
pub(crate) fn describe_at_the_first_broker(
    admin: &AdminClient,
    brokers: &[Broker],
    topics: &[&str],
    deadline: Instant,
) -> Result<(Vec<Result<TopicDescription, TopicError>>, i32), AdminError> {
    let ids: Vec<i32> = brokers.iter().take(AT_ONCE).map(|b| b.id).collect();
    admin.describe_topics(topics, &ids, deadline)
}

/// The cluster's brokers, asked of `admin` until one answers with at least one, the deadline
/// passes or a stop begins (seen within about half a second).
pub(crate) fn list_brokers(
    admin: &AdminClient,
    deadline: Instant,
    shutdown: &Shutdown,
) -> Result<Vec<Broker>, AdminError> {
    list_with(deadline, shutdown, |timeout| {
        // librdkafka's warnings (a refused connection), and an authentication failure, which
        // stops the daemon with its own line rather than after the whole check.
        admin.serve_events();
        admin.brokers(timeout)
    })
}

/// [`list_brokers`] with `ask(timeout)` for one request.
fn list_with(
    deadline: Instant,
    shutdown: &Shutdown,
    mut ask: impl FnMut(Duration) -> Result<Vec<Broker>, AdminError>,
) -> Result<Vec<Broker>, AdminError> {
    loop {
        if shutdown.is_stopping() {
            return Err(AdminError::Interrupted);
        }
        let asked = Instant::now();
        let why = match ask(LIST_SLICE.min(deadline.saturating_duration_since(asked))) {
            Ok(brokers) if !brokers.is_empty() => return Ok(brokers),
            Ok(_) => "the metadata named no broker".to_string(),
            Err(AdminError::Interrupted) => return Err(AdminError::Interrupted),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(AdminError::TimedOut {
                reason: format!("no list of the brokers: {why}"),
            });
        }
        if asked.elapsed() < LIST_AGAIN && shutdown.sleep_until(asked + LIST_AGAIN) {
            return Err(AdminError::Interrupted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::shutdown::StopReason;

    fn broker(id: i32) -> Broker {
        Broker {
            id,
            address: Some(format!("h{id}:9092")),
        }
    }

    /// The list is asked for again, each request bounded by the slice, until one names a
    /// broker; failures that come at once are paced.
    #[test]
    fn the_list_is_asked_again_until_it_names_a_broker() {
        let shutdown = Shutdown::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut asked = Vec::new();
        let started = Instant::now();
        let listed = list_with(deadline, &shutdown, |timeout| {
            asked.push(timeout);
            match asked.len() {
                1 => Err(AdminError::Failed {
                    code: rdkafka::error::RDKafkaErrorCode::BrokerTransportFailure,
                    message: "refused".to_string(),
                }),
                2 => Ok(Vec::new()),
                _ => Ok(vec![broker(1), broker(2)]),
            }
        });
        assert_eq!(listed.expect("a list").len(), 2);
        assert_eq!(asked.len(), 3);
        assert!(asked.iter().all(|&t| t <= LIST_SLICE), "{asked:?}");
        // Two failures at once, two pauses.
        assert!(
            started.elapsed() >= LIST_AGAIN * 2,
            "{:?}",
            started.elapsed()
        );
    }

    /// Past the deadline, the last reason is the error; a request never outlasts it.
    #[test]
    fn no_list_by_the_deadline_is_a_timeout_with_the_reason() {
        let shutdown = Shutdown::new();
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut asked = Vec::new();
        let listed = list_with(deadline, &shutdown, |timeout| {
            asked.push(Instant::now() + timeout <= deadline + Duration::from_millis(5));
            Err(AdminError::TimedOut {
                reason: "no answer to a metadata request".to_string(),
            })
        });
        match listed {
            Err(AdminError::TimedOut { reason }) => {
                assert!(
                    reason.contains("no answer to a metadata request"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() >= deadline);
        assert!(asked.iter().all(|&within| within), "{asked:?}");
        assert!(asked.len() <= 4, "{asked:?}");
    }

    /// A stop ends the retries, before a request or during the pause.
    #[test]
    fn a_stop_ends_the_list() {
        let shutdown = Shutdown::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let stopper = shutdown.clone();
        let mut asked = 0;
        let listed = list_with(deadline, &shutdown, |_| {
            asked += 1;
            stopper.stop(StopReason::Requested);
            Ok(Vec::new())
        });
        assert!(matches!(listed, Err(AdminError::Interrupted)), "{listed:?}");
        assert_eq!(asked, 1);
    }
}
