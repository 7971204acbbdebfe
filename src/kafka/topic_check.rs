//! The start-up check of the topics the daemon uses: the topic (and `<topic>.dlq` with
//! `ON_DECODE_ERROR=dlq`) must exist and the client's principal must be allowed what the daemon
//! does with it, or the daemon stops with one line saying what to fix. Many platforms turn the
//! brokers' topic auto-creation off; `CREATE_TOPICS=true` creates what is missing instead.
//!
//! Permissions come from the topic description (KIP-430 authorized operations). A cluster
//! without an authorizer reports every operation as allowed; brokers that report none (older
//! than Kafka 2.3) are taken as not restricting anything, since nothing better can be known
//! before trying.
//!
//! The topics are described, and created, at brokers that answer, not at the one librdkafka
//! takes for the controller, which may be hung (`topic_description`). Then it waits, briefly,
//! until every broker knows the topics the consumers read (`topic_propagation`).
//!
//! The whole check, creation and that wait included, waits at most `TOPIC_CHECK_TIMEOUT_S` for
//! the brokers and ends on a stop within about a second.

use std::fmt;
use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;

use super::admin::Broker;
use super::admin::{AdminClient, AdminError, Operation, TopicDescription, TopicError};
use super::topic_description::{describe_at_the_first_broker, list_brokers};
use super::topic_propagation::{wait_until_every_broker_knows, Propagation};
use super::{client_config_with, ClientKind};
use crate::config::{dead_letter_topic, Config};
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::log_target;

/// Pause between descriptions of a topic just created, until the brokers answering know it.
const CREATED_RECHECK: Duration = Duration::from_millis(200);

/// A topic the daemon uses and what it does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicUse {
    pub(crate) topic: String,
    /// The operations the daemon performs on it.
    pub(crate) needs: &'static [Operation],
    /// Whether a consumer group reads it: the start waits until every broker knows it.
    pub(crate) read_by_group: bool,
}

/// The producer writes the topic, the consumers read it (and every client describes it).
const MAIN_TOPIC_NEEDS: &[Operation] = &[Operation::Describe, Operation::Write, Operation::Read];
/// A reader only (the console).
const READ_NEEDS: &[Operation] = &[Operation::Describe, Operation::Read];
/// Only the dead-letter producer uses `<topic>.dlq`.
const DEAD_LETTER_NEEDS: &[Operation] = &[Operation::Describe, Operation::Write];

/// The topics `config` makes the daemon use.
pub(crate) fn topics_in_use(config: &Config) -> Vec<TopicUse> {
    let mut uses = vec![TopicUse {
        topic: config.topic.clone(),
        needs: MAIN_TOPIC_NEEDS,
        read_by_group: true,
    }];
    if config.dead_letters_used() {
        uses.push(TopicUse {
            topic: dead_letter_topic(&config.topic),
            needs: DEAD_LETTER_NEEDS,
            read_by_group: false,
        });
    }
    uses
}

/// Why the topics are not usable.
#[derive(Debug, Clone, PartialEq)]
pub enum TopicCheckError {
    /// The admin client could not be created.
    Client(String),
    /// The brokers did not answer in time, or refused the request as a whole.
    Unanswered {
        topics: Vec<String>,
        bootstrap: String,
        waited: Duration,
        reason: String,
    },
    /// Topics that do not exist, with `CREATE_TOPICS=false`.
    Missing(Vec<String>),
    /// The principal may not perform `missing` on `topic`.
    NotPermitted {
        topic: String,
        missing: Vec<Operation>,
    },
    /// The brokers answered about a topic with an error.
    Topic {
        topic: String,
        code: RDKafkaErrorCode,
        message: String,
    },
    /// `CREATE_TOPICS=true` and the brokers refused to create `topic`.
    Create {
        topic: String,
        code: RDKafkaErrorCode,
        message: String,
    },
    /// Shutdown began during the check.
    Interrupted,
}

impl fmt::Display for TopicCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicCheckError::Client(e) => {
                write!(f, "topic check: cannot create the Kafka client: {e}")
            }
            TopicCheckError::Unanswered {
                topics,
                bootstrap,
                waited,
                reason,
            } => write!(
                f,
                "cannot check topic {} within TOPIC_CHECK_TIMEOUT_S={}: {reason} (check that the brokers at KAFKA_BOOTSTRAP_SERVERS={bootstrap} are up and reachable)",
                topics.join(", "),
                waited.as_secs()
            ),
            TopicCheckError::Missing(topics) => {
                let (noun, verb) = if topics.len() == 1 {
                    ("topic", "does")
                } else {
                    ("topics", "do")
                };
                let list = topics.join(", ");
                write!(
                    f,
                    "{noun} {list} {verb} not exist and CREATE_TOPICS=false: create {} (kafka-topics.sh --create --topic {}) or set CREATE_TOPICS=true (with CREATE_TOPIC_PARTITIONS and CREATE_TOPIC_REPLICATION_FACTOR)",
                    if topics.len() == 1 { "it" } else { "them" },
                    topics.first().map_or("", String::as_str)
                )
            }
            TopicCheckError::NotPermitted { topic, missing } => {
                let names: Vec<String> = missing.iter().map(|o| format!("{o:?}")).collect();
                write!(
                    f,
                    "the Kafka principal may not {} topic {topic}: grant it (kafka-acls.sh --add --operation {} --topic {topic}) or check LIBRDKAFKA_SASL_USERNAME",
                    names.join(", "),
                    names.join(" --operation ")
                )
            }
            TopicCheckError::Topic {
                topic,
                code,
                message,
            } => write!(f, "cannot check topic {topic}: {code:?}: {message}"),
            TopicCheckError::Create {
                topic,
                code,
                message,
            } => write!(
                f,
                "cannot create topic {topic} (CREATE_TOPICS=true): {code:?}: {message} (check CREATE_TOPIC_PARTITIONS, CREATE_TOPIC_REPLICATION_FACTOR and the principal's CREATE permission)"
            ),
            TopicCheckError::Interrupted => write!(f, "stopped during the topic check"),
        }
    }
}

/// What one description says about a topic in use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// It exists and the principal may do what the daemon needs.
    Usable(TopicDescription),
    /// It does not exist.
    Missing,
}

/// Judges one answer about `wanted`: usable, missing, or why not.
pub(crate) fn judge(
    wanted: &TopicUse,
    answer: Result<TopicDescription, TopicError>,
) -> Result<Verdict, TopicCheckError> {
    let topic = wanted.topic.clone();
    match answer {
        Ok(description) => {
            let missing: Vec<Operation> = match &description.authorized {
                // Not reported: nothing known to be refused.
                None => Vec::new(),
                Some(allowed) => wanted
                    .needs
                    .iter()
                    .copied()
                    .filter(|need| !allowed.contains(need))
                    .collect(),
            };
            if missing.is_empty() {
                Ok(Verdict::Usable(description))
            } else {
                Err(TopicCheckError::NotPermitted { topic, missing })
            }
        }
        Err(error) if error.code == RDKafkaErrorCode::UnknownTopicOrPartition => {
            Ok(Verdict::Missing)
        }
        // Kafka answers this whether or not the topic exists, so as not to reveal it.
        Err(error) if error.code == RDKafkaErrorCode::TopicAuthorizationFailed => {
            Err(TopicCheckError::NotPermitted {
                topic,
                missing: vec![Operation::Describe],
            })
        }
        Err(error) => Err(TopicCheckError::Topic {
            topic,
            code: error.code,
            message: error.message,
        }),
    }
}

/// Checks (and with `CREATE_TOPICS=true` creates) every topic the daemon uses.
pub(crate) fn check_topics(config: &Config, shutdown: &Shutdown) -> Result<(), TopicCheckError> {
    check_uses(&topics_in_use(config), config, shutdown)
}

/// Checks that `topic` exists and may be read (the console's check: it creates nothing). Only
/// a reader that joins a group (`in_group`) waits for every broker to know the topic: one
/// that assigns itself every partition cannot be assigned none.
pub(crate) fn check_readable(
    topic: &str,
    in_group: bool,
    config: &Config,
    shutdown: &Shutdown,
) -> Result<(), TopicCheckError> {
    let read = TopicUse {
        topic: topic.to_string(),
        needs: READ_NEEDS,
        read_by_group: in_group,
    };
    let config = Config {
        create_topics: false,
        ..config.clone()
    };
    check_uses(&[read], &config, shutdown)
}

/// Checks (and with `CREATE_TOPICS=true` creates) the topics of `uses`.
fn check_uses(
    uses: &[TopicUse],
    config: &Config,
    shutdown: &Shutdown,
) -> Result<(), TopicCheckError> {
    let admin = AdminClient::new(
        "topic check",
        &client_config_with(config, ClientKind::Producer, &[]),
        shutdown,
    )
    .map_err(|e| TopicCheckError::Client(e.to_string()))?;
    let deadline = Instant::now() + config.topic_check_timeout;

    let all: Vec<&TopicUse> = uses.iter().collect();
    // Listed once, for the descriptions and the wait for every broker to know the topics: a
    // broker that stops answering keeps its connection for a while, and librdkafka would keep
    // asking it for the list.
    let brokers =
        list_brokers(&admin, deadline, shutdown).map_err(|e| unanswered(config, &all, e))?;
    let (mut missing, answered_by) = missing_of(&admin, &brokers, config, &all, deadline, "found")?;
    if missing.is_empty() {
        return wait_until_read_topics_known(&brokers, config, uses, deadline, shutdown);
    }
    if !config.create_topics {
        return Err(TopicCheckError::Missing(
            missing.iter().map(|u| u.topic.clone()).collect(),
        ));
    }

    let names: Vec<&str> = missing.iter().map(|u| u.topic.as_str()).collect();
    let created = create_at(answered_by, |at| {
        admin.create_topics(
            &names,
            config.create_topic_partitions,
            config.create_topic_replication_factor,
            at,
            deadline,
        )
    })
    .map_err(|e| unanswered(config, &missing, e))?;
    for (wanted, result) in missing.iter().zip(created) {
        match result {
            // Another instance created it meanwhile: as good.
            Ok(()) => {}
            Err(error) if error.code == RDKafkaErrorCode::TopicAlreadyExists => {}
            Err(error) => {
                return Err(TopicCheckError::Create {
                    topic: wanted.topic.clone(),
                    code: error.code,
                    message: error.message,
                })
            }
        }
    }
    // Every broker learns of a new topic a moment after the controller; until then it may
    // answer "unknown topic".
    loop {
        let (still_missing, _) =
            missing_of(&admin, &brokers, config, &missing, deadline, "created")?;
        if still_missing.is_empty() {
            return wait_until_read_topics_known(&brokers, config, uses, deadline, shutdown);
        }
        missing = still_missing;
        if Instant::now() + CREATED_RECHECK >= deadline {
            return Err(unanswered(
                config,
                &missing,
                AdminError::TimedOut {
                    reason: "created, but the brokers still do not know it".to_string(),
                },
            ));
        }
        if shutdown.sleep(CREATED_RECHECK) {
            return Err(TopicCheckError::Interrupted);
        }
    }
}

/// Waits (bounded, see [`wait_until_every_broker_knows`]) until every broker knows the topics
/// of `uses` a consumer group reads: a group can be left with no partitions of one its
/// coordinator does not know yet. Only a stop makes it an error.
fn wait_until_read_topics_known(
    brokers: &[Broker],
    config: &Config,
    uses: &[TopicUse],
    deadline: Instant,
    shutdown: &Shutdown,
) -> Result<(), TopicCheckError> {
    let read: Vec<&str> = uses
        .iter()
        .filter(|u| u.read_by_group)
        .map(|u| u.topic.as_str())
        .collect();
    if read.is_empty() {
        return Ok(());
    }
    match wait_until_every_broker_knows(brokers, config, &read, deadline, shutdown) {
        Propagation::Interrupted => Err(TopicCheckError::Interrupted),
        _ => Ok(()),
    }
}

/// Describes `uses` (at the first of `brokers` that answers: `topic_description`), logging
/// each usable one as `how` ("found", "created"); returns those the brokers do not know (yet),
/// and the broker that answered. A topic that exists but is not usable is the error.
fn missing_of<'u>(
    admin: &AdminClient,
    brokers: &[Broker],
    config: &Config,
    uses: &[&'u TopicUse],
    deadline: Instant,
    how: &str,
) -> Result<(Vec<&'u TopicUse>, i32), TopicCheckError> {
    let names: Vec<&str> = uses.iter().map(|u| u.topic.as_str()).collect();
    let (answers, answered_by) = describe_at_the_first_broker(admin, brokers, &names, deadline)
        .map_err(|e| unanswered(config, uses, e))?;
    let mut missing = Vec::new();
    for (wanted, answer) in uses.iter().zip(answers) {
        match judge(wanted, answer)? {
            Verdict::Usable(description) => log_usable(wanted, &description, how),
            Verdict::Missing => missing.push(*wanted),
        }
    }
    Ok((missing, answered_by))
}

/// Creates topics with `create(at)` at the broker numbered `at`, one that just answered:
/// librdkafka, left to itself (`None`), asks the one it takes for the controller, which may be
/// hung (`topic_description`). KRaft brokers pass the request on to the controllers; a broker
/// of a ZooKeeper cluster that is not its controller answers "not controller", and then the
/// controller is asked (a topic the first request created answers "already exists" then).
fn create_at(
    at: i32,
    mut create: impl FnMut(Option<i32>) -> Result<Vec<Result<(), TopicError>>, AdminError>,
) -> Result<Vec<Result<(), TopicError>>, AdminError> {
    let answers = create(Some(at))?;
    let not_controller = |answer: &Result<(), TopicError>| matches!(answer, Err(e) if e.code == RDKafkaErrorCode::NotController);
    if answers.iter().any(not_controller) {
        return create(None);
    }
    Ok(answers)
}

/// The error for a request about `uses` that got no per-topic answer.
fn unanswered(config: &Config, uses: &[&TopicUse], error: AdminError) -> TopicCheckError {
    match error {
        AdminError::Interrupted => TopicCheckError::Interrupted,
        error => TopicCheckError::Unanswered {
            topics: uses.iter().map(|u| u.topic.clone()).collect(),
            bootstrap: config.bootstrap_servers.clone(),
            waited: config.topic_check_timeout,
            reason: error.to_string(),
        },
    }
}

fn log_usable(wanted: &TopicUse, description: &TopicDescription, how: &str) {
    let permissions = if description.authorized.is_some() {
        "permissions checked"
    } else {
        "permissions not reported by the brokers"
    };
    log::info!(
        target: log_target::KAFKA,
        "topic {} {how}: {} partitions, replication factor {}, {permissions}",
        wanted.topic,
        description.partitions,
        description.replication_factor
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main_topic() -> TopicUse {
        TopicUse {
            topic: "t".to_string(),
            needs: MAIN_TOPIC_NEEDS,
            read_by_group: true,
        }
    }

    fn described(authorized: Option<Vec<Operation>>) -> Result<TopicDescription, TopicError> {
        Ok(TopicDescription {
            partitions: 3,
            replication_factor: 3,
            authorized,
        })
    }

    fn refused(code: RDKafkaErrorCode) -> Result<TopicDescription, TopicError> {
        Err(TopicError {
            code,
            message: "m".to_string(),
        })
    }

    /// A topic is created at the broker that answered; only a "not controller" answer (a
    /// ZooKeeper cluster's broker) sends the request to the controller.
    #[test]
    fn creation_asks_the_broker_that_answered_and_the_controller_only_after_not_controller() {
        let mut asked = Vec::new();
        let created = create_at(2, |at| {
            asked.push(at);
            Ok(vec![
                Ok(()),
                refused(RDKafkaErrorCode::TopicAlreadyExists).map(|_| ()),
            ])
        });
        assert_eq!(asked, [Some(2)]);
        assert_eq!(created.expect("answers").len(), 2);

        let mut asked = Vec::new();
        let created = create_at(2, |at| {
            asked.push(at);
            Ok(match at {
                Some(_) => vec![Ok(()), refused(RDKafkaErrorCode::NotController).map(|_| ())],
                None => vec![
                    refused(RDKafkaErrorCode::TopicAlreadyExists).map(|_| ()),
                    Ok(()),
                ],
            })
        });
        assert_eq!(asked, [Some(2), None]);
        let created = created.expect("answers");
        assert_eq!(created[1], Ok(()));

        let mut asked = Vec::new();
        let timed_out = create_at(2, |at| {
            asked.push(at);
            Err(AdminError::TimedOut {
                reason: "no answer".to_string(),
            })
        });
        assert!(matches!(timed_out, Err(AdminError::TimedOut { .. })));
        assert_eq!(asked, [Some(2)]);
    }

    #[test]
    fn the_dead_letter_topic_is_checked_only_with_the_dlq_policy() {
        let skip = Config::from_pairs(&[("TEST_TOPIC_NAME", "orders")]).expect("config");
        assert_eq!(
            topics_in_use(&skip)
                .iter()
                .map(|u| u.topic.as_str())
                .collect::<Vec<_>>(),
            ["orders"]
        );
        let dlq = Config::from_pairs(&[("TEST_TOPIC_NAME", "orders"), ("ON_DECODE_ERROR", "dlq")])
            .expect("config");
        let uses = topics_in_use(&dlq);
        assert_eq!(uses[1].topic, "orders.dlq");
        assert_eq!(uses[1].needs, DEAD_LETTER_NEEDS);
        assert!(!uses[1].needs.contains(&Operation::Read));
    }

    #[test]
    fn a_topic_is_usable_when_every_needed_operation_is_allowed_or_none_are_reported() {
        let all = vec![
            Operation::Describe,
            Operation::Write,
            Operation::Read,
            Operation::Other,
        ];
        assert!(matches!(
            judge(&main_topic(), described(Some(all))),
            Ok(Verdict::Usable(_))
        ));
        assert!(matches!(
            judge(&main_topic(), described(None)),
            Ok(Verdict::Usable(_))
        ));
    }

    #[test]
    fn a_missing_permission_is_named_with_how_to_grant_it() {
        let error = judge(&main_topic(), described(Some(vec![Operation::Describe])))
            .expect_err("not permitted");
        assert_eq!(
            error,
            TopicCheckError::NotPermitted {
                topic: "t".to_string(),
                missing: vec![Operation::Write, Operation::Read],
            }
        );
        let line = error.to_string();
        assert!(line.contains("may not Write, Read topic t"), "{line}");
        assert!(
            line.contains("--operation Write --operation Read"),
            "{line}"
        );
    }

    #[test]
    fn unknown_is_missing_and_an_authorization_failure_is_a_refused_describe() {
        assert_eq!(
            judge(
                &main_topic(),
                refused(RDKafkaErrorCode::UnknownTopicOrPartition)
            ),
            Ok(Verdict::Missing)
        );
        assert_eq!(
            judge(
                &main_topic(),
                refused(RDKafkaErrorCode::TopicAuthorizationFailed)
            ),
            Err(TopicCheckError::NotPermitted {
                topic: "t".to_string(),
                missing: vec![Operation::Describe],
            })
        );
        assert!(matches!(
            judge(&main_topic(), refused(RDKafkaErrorCode::LeaderNotAvailable)),
            Err(TopicCheckError::Topic { .. })
        ));
    }

    #[test]
    fn missing_topics_are_one_line_naming_each_and_the_two_fixes() {
        let line = TopicCheckError::Missing(vec!["t".to_string(), "t.dlq".to_string()]).to_string();
        assert!(line.starts_with("topics t, t.dlq do not exist"), "{line}");
        assert!(line.contains("CREATE_TOPICS=true"), "{line}");
        assert!(!line.contains('\n'));
        let one = TopicCheckError::Missing(vec!["t".to_string()]).to_string();
        assert!(one.starts_with("topic t does not exist"), "{one}");
    }
}
