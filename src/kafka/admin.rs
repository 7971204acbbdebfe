//! Two Kafka admin requests, synchronously: describe topics (with the operations the client's
//! principal may perform on them, KIP-430) and create topics. rdkafka's `AdminClient` answers
//! with futures, which this daemon has no executor for; so this module calls librdkafka's C
//! admin API directly, on a queue of its own that it polls with a timeout, in slices short
//! enough to see shutdown.
//!
//! Every C object is owned by a small RAII type below and destroyed on every path; nothing
//! outside this file touches a raw pointer. librdkafka copies the options, topic names and
//! new-topic specifications a request is given, so each can be freed as soon as the call
//! returns (librdkafka's `rdkafka.h`: "the caller may destroy … after the call").

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};

use crate::kafka::{create_client, ClientEvents, ClientRole};
use crate::lifecycle::shutdown::Shutdown;

/// Longest single wait on the admin queue, so shutdown is seen within this time.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// librdkafka answers a request that timed out itself; our own deadline comes this much
/// later, so its answer (naming what it waited for) wins over a bare "timed out".
const ANSWER_GRACE: Duration = Duration::from_secs(1);

/// An operation a principal may be allowed on a topic (librdkafka's `rd_kafka_AclOperation_t`,
/// Kafka's `AclOperation`); only those the daemon needs are named. `Debug` gives Kafka's name
/// of each, as error lines and `kafka-acls.sh --operation` use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    Write,
    Describe,
    Other,
}

impl Operation {
    fn from_native(operation: rd::rd_kafka_AclOperation_t) -> Operation {
        use rd::rd_kafka_AclOperation_t as Op;
        match operation {
            Op::RD_KAFKA_ACL_OPERATION_READ => Operation::Read,
            Op::RD_KAFKA_ACL_OPERATION_WRITE => Operation::Write,
            Op::RD_KAFKA_ACL_OPERATION_DESCRIBE => Operation::Describe,
            _ => Operation::Other,
        }
    }
}

/// What the brokers say about one existing topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicDescription {
    pub(crate) partitions: usize,
    /// Replicas of the first partition (every partition has as many, unless reassigned by hand).
    pub(crate) replication_factor: usize,
    /// The operations the principal may perform, or `None` when the brokers did not say: a
    /// cluster without an authorizer answers with every operation (Kafka's `AuthHelper`), and
    /// `None` only comes from brokers older than KIP-430 (2.3): not restricted as far as we
    /// can know.
    pub(crate) authorized: Option<Vec<Operation>>,
}

/// A per-topic error from the brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicError {
    pub(crate) code: RDKafkaErrorCode,
    pub(crate) message: String,
}

/// Why a request got no per-topic answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AdminError {
    /// No answer within the deadline (brokers unreachable or hung).
    TimedOut { reason: String },
    /// Shutdown began while waiting.
    Interrupted,
    /// The request as a whole failed.
    Failed {
        code: RDKafkaErrorCode,
        message: String,
    },
}

/// One line for a log line or an error's reason: what librdkafka said, and its code.
impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::TimedOut { reason } => f.write_str(reason),
            AdminError::Interrupted => f.write_str("stopped"),
            AdminError::Failed { code, message } => write!(f, "{message}: {code:?}"),
        }
    }
}

impl AdminError {
    /// Whether the error is one broker's own, not the cluster's answer: no answer in time, or
    /// a negative code (librdkafka's local errors: its connection, its authentication; and -1,
    /// a broker's unknown server error). Another broker may still answer.
    fn is_one_brokers(&self) -> bool {
        match self {
            AdminError::TimedOut { .. } => true,
            AdminError::Interrupted => false,
            AdminError::Failed { code, .. } => (*code as i32) < 0,
        }
    }
}

/// The first of `asked` answers to one request sent to several brokers, each got with
/// `next`: an error of one broker's own waits for the others; the last one's, or an answer
/// (a refusal too: every broker answers it alike), ends it. Each `next` ends by the request's
/// deadline (plus its grace), so this does too.
fn first_of<T>(
    asked: usize,
    mut next: impl FnMut() -> Result<T, AdminError>,
) -> Result<T, AdminError> {
    let mut left = asked;
    loop {
        match next() {
            Err(error) if left > 1 && error.is_one_brokers() => left -= 1,
            outcome => return outcome,
        }
    }
}

/// A broker of the cluster, as its metadata names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broker {
    pub(crate) id: i32,
    /// `host:port` (an IPv6 host in brackets), as a client's `bootstrap.servers` takes it;
    /// `None` when the metadata names no host.
    pub(crate) address: Option<String>,
}

/// A broker's answer to "do you know this topic?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicAnswer {
    /// It knows it, with a leader for every partition.
    Knows,
    /// It answered, and does not know it yet (or another broker answered instead).
    NotYet,
    /// No answer: refused, hung, or not reachable.
    Silent,
}

/// The admin client's role in the shared context: nothing beyond logs and error triage (an
/// authentication failure stops the daemon with its usual line).
pub(crate) struct AdminRole;

impl ClientRole for AdminRole {}

impl ProducerContext for ClientEvents<AdminRole> {
    type DeliveryOpaque = ();

    // It never produces; a producer handle is only the cheapest client to send requests from.
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// A client that sends admin requests and waits for their answers.
pub(crate) struct AdminClient {
    /// Serves librdkafka's log and error events (the main queue) while a request is waited for.
    client: BaseProducer<ClientEvents<AdminRole>>,
    shutdown: Shutdown,
}

impl AdminClient {
    /// A client named `name` in log lines, from `config` (bootstrap servers and security).
    pub(crate) fn new(
        name: &str,
        config: &ClientConfig,
        shutdown: &Shutdown,
    ) -> Result<AdminClient, KafkaError> {
        let client = create_client(config, ClientEvents::new(name, shutdown, AdminRole))?;
        Ok(AdminClient {
            client,
            shutdown: shutdown.clone(),
        })
    }

    /// Describes `topics`, asking for the operations the principal may perform on each.
    /// Answers in the order asked. Never creates a topic: librdkafka sends the metadata request
    /// behind it with `allow_auto_topic_creation=false`.
    ///
    /// Asks each broker numbered in `at` at once and takes the first answer, with the number of
    /// the broker that gave it; an error of one broker's own (its connection, its timeout: a
    /// local error) waits for the others' answers (see [`first_of`]). Left to itself,
    /// librdkafka would ask only the broker it takes for the controller (`topic_description`).
    pub(crate) fn describe_topics(
        &self,
        topics: &[&str],
        at: &[i32],
        deadline: Instant,
    ) -> Result<(Vec<Result<TopicDescription, TopicError>>, i32), AdminError> {
        let names = c_strings(topics)?;
        let mut pointers: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
        // SAFETY: `pointers` holds `pointers.len()` NUL-terminated strings that outlive the call;
        // librdkafka copies them into the collection it returns.
        let collection = unsafe {
            rd::rd_kafka_TopicCollection_of_topic_names(pointers.as_mut_ptr(), pointers.len())
        };
        let collection = TopicCollection(
            NonNull::new(collection)
                .ok_or_else(|| failed(RDKafkaErrorCode::InvalidArgument, "no topic collection"))?,
        );
        // One queue for every answer: the first one ends the wait, and the others are freed
        // with the queue (each request in flight holds a reference to it).
        let queue = Queue::new(self)?;
        for &broker in at {
            let options = Options::new(
                self,
                rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
                deadline,
            )?;
            options.send_to(broker)?;
            // SAFETY: `options` is a live AdminOptions of this client; the returned error, if
            // any, is owned here and destroyed by `take_error`.
            take_error(unsafe {
                rd::rd_kafka_AdminOptions_set_include_authorized_operations(options.0.as_ptr(), 1)
            })?;
            // The answer's event carries the broker's number back.
            // SAFETY: live options; the opaque is a number, never dereferenced.
            unsafe {
                rd::rd_kafka_AdminOptions_set_opaque(
                    options.0.as_ptr(),
                    broker as isize as *mut std::ffi::c_void,
                )
            };
            // SAFETY: client, collection, options and queue are live; librdkafka copies what
            // it needs from each before returning, and answers on `queue`.
            unsafe {
                rd::rd_kafka_DescribeTopics(
                    self.native(),
                    collection.0.as_ptr(),
                    options.0.as_ptr(),
                    queue.0.as_ptr(),
                )
            }
        }
        let event = first_of(at.len(), || self.wait(&queue, deadline))?;
        // SAFETY: `event` is live; its opaque is the number set above.
        let by = unsafe { rd::rd_kafka_event_opaque(event.0.as_ptr()) } as isize as i32;
        // SAFETY: the two accessors of a DescribeTopics answer.
        let descriptions = unsafe {
            event.topics(
                "DescribeTopics",
                rd::rd_kafka_event_DescribeTopics_result,
                rd::rd_kafka_DescribeTopics_result_topics,
            )
        }?;
        let answers = in_order_asked(
            topics,
            descriptions,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            // SAFETY: each element is a description valid while `event` lives.
            |d| unsafe { text(rd::rd_kafka_TopicDescription_name(*d)) },
            // SAFETY: as above.
            |d| unsafe { describe(*d) },
        );
        Ok((answers, by))
    }

    /// Creates `topics` with `partitions` and `replication_factor` (`None`: the brokers'
    /// `num.partitions` and `default.replication.factor`). Answers in the order asked; a topic
    /// another client created meanwhile answers `TopicAlreadyExists`. Asks the broker numbered
    /// `at`, or (`None`) the one librdkafka takes for the controller.
    pub(crate) fn create_topics(
        &self,
        topics: &[&str],
        partitions: Option<u32>,
        replication_factor: Option<u16>,
        at: Option<i32>,
        deadline: Instant,
    ) -> Result<Vec<Result<(), TopicError>>, AdminError> {
        let names = c_strings(topics)?;
        // -1: the broker's default (KIP-464, Kafka 2.4).
        let partitions = partitions.map_or(-1, |p| c_int::try_from(p).unwrap_or(c_int::MAX));
        let replication = replication_factor.map_or(-1, c_int::from);
        let mut new_topics = NewTopics(Vec::with_capacity(names.len()));
        for name in &names {
            let mut error = ErrorText::new();
            // SAFETY: `name` is NUL-terminated and copied by librdkafka; `error` is a
            // writable buffer of the size passed.
            let topic = unsafe {
                rd::rd_kafka_NewTopic_new(
                    name.as_ptr(),
                    partitions,
                    replication,
                    error.as_mut_ptr(),
                    error.size(),
                )
            };
            match NonNull::new(topic) {
                Some(topic) => new_topics.0.push(topic),
                None => return Err(failed(RDKafkaErrorCode::InvalidArgument, &error.text())),
            }
        }
        let options = Options::new(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATETOPICS,
            deadline,
        )?;
        // How long the controller may take to finish creating a topic before answering.
        options.set_timeout(rd::rd_kafka_AdminOptions_set_operation_timeout, deadline)?;
        if let Some(broker) = at {
            options.send_to(broker)?;
        }
        let mut pointers: Vec<*mut rd::rd_kafka_NewTopic_t> =
            new_topics.0.iter().map(|t| t.as_ptr()).collect();
        let event = self.request(&options, deadline, |client, options, queue| {
            // SAFETY: every pointer is a live NewTopic owned by `new_topics`; librdkafka copies
            // them (and the options) before returning, and answers on `queue`.
            unsafe {
                rd::rd_kafka_CreateTopics(
                    client,
                    pointers.as_mut_ptr(),
                    pointers.len(),
                    options,
                    queue,
                )
            }
        })?;
        // SAFETY: the two accessors of a CreateTopics answer.
        let results = unsafe {
            event.topics(
                "CreateTopics",
                rd::rd_kafka_event_CreateTopics_result,
                rd::rd_kafka_CreateTopics_result_topics,
            )
        }?;
        Ok(in_order_asked(
            topics,
            results,
            RDKafkaErrorCode::Fail,
            // SAFETY: each element is a topic result valid while `event` lives.
            |r| unsafe { text(rd::rd_kafka_topic_result_name(*r)) },
            |r| {
                // SAFETY: as above.
                let code = unsafe { rd::rd_kafka_topic_result_error(*r) };
                match RDKafkaErrorCode::from(code) {
                    RDKafkaErrorCode::NoError => Ok(()),
                    code => Err(TopicError {
                        code,
                        // SAFETY: as above; NULL or a NUL-terminated string.
                        message: unsafe { text(rd::rd_kafka_topic_result_error_string(*r)) },
                    }),
                }
            },
        ))
    }

    /// Sends one request and waits for its answer until `deadline`: `send` calls the C function
    /// with the client, `options` and a queue of this request's own, and keeps none of them.
    fn request(
        &self,
        options: &Options,
        deadline: Instant,
        send: impl FnOnce(
            *mut rd::rd_kafka_t,
            *mut rd::rd_kafka_AdminOptions_t,
            *mut rd::rd_kafka_queue_t,
        ),
    ) -> Result<Event, AdminError> {
        let queue = Queue::new(self)?;
        send(self.native(), options.0.as_ptr(), queue.0.as_ptr());
        self.wait(&queue, deadline)
    }

    /// Waits for the answer on `queue` until `deadline` (plus [`ANSWER_GRACE`]), serving the
    /// client's log and error events meanwhile; a stop ends the wait at once.
    fn wait(&self, queue: &Queue, deadline: Instant) -> Result<Event, AdminError> {
        let deadline = deadline + ANSWER_GRACE;
        loop {
            self.serve_events();
            if self.shutdown.is_stopping() {
                return Err(AdminError::Interrupted);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AdminError::TimedOut {
                    reason: "no answer from the brokers".to_string(),
                });
            }
            let slice = left.min(POLL_SLICE);
            // SAFETY: `queue` is live; a returned event is owned by the caller.
            let event = unsafe { rd::rd_kafka_queue_poll(queue.0.as_ptr(), millis(slice)) };
            if let Some(event) = NonNull::new(event).map(Event) {
                // SAFETY: `event` is live.
                let code =
                    RDKafkaErrorCode::from(unsafe { rd::rd_kafka_event_error(event.0.as_ptr()) });
                return match code {
                    RDKafkaErrorCode::NoError => Ok(event),
                    code => {
                        // SAFETY: `event` is live; NULL or a NUL-terminated string.
                        let message =
                            unsafe { text(rd::rd_kafka_event_error_string(event.0.as_ptr())) };
                        if code == RDKafkaErrorCode::OperationTimedOut {
                            Err(AdminError::TimedOut { reason: message })
                        } else {
                            Err(AdminError::Failed { code, message })
                        }
                    }
                };
            }
        }
    }

    /// Serves the client's log and error events: librdkafka's warnings reach the log, and an
    /// authentication failure stops the daemon from here. A loop that waits on this client
    /// without [`Self::wait`] calls it each turn.
    pub(crate) fn serve_events(&self) {
        self.client.poll(Duration::ZERO);
    }

    /// The cluster's brokers, from one metadata request answered within `timeout` (it blocks
    /// that long at most, shutdown or not). Host names are read lossily: rdkafka's
    /// `MetadataBroker::host` panics on one that is not UTF-8.
    pub(crate) fn brokers(&self, timeout: Duration) -> Result<Vec<Broker>, AdminError> {
        let mut answer: *const rd::rd_kafka_metadata_t = std::ptr::null();
        // SAFETY: the client is live; with `all_topics` 0 and no topic handle librdkafka asks
        // for every broker (and the cached topics whose entry is no longer valid, normally
        // none), and on success hands back an answer that `NativeMetadata` owns and destroys.
        let code = unsafe {
            rd::rd_kafka_metadata(
                self.native(),
                0,
                std::ptr::null_mut(),
                &mut answer,
                millis(timeout),
            )
        };
        match RDKafkaErrorCode::from(code) {
            RDKafkaErrorCode::NoError => {}
            RDKafkaErrorCode::OperationTimedOut => {
                return Err(AdminError::TimedOut {
                    reason: "no answer to a metadata request".to_string(),
                })
            }
            code => {
                return Err(AdminError::Failed {
                    code,
                    message: "metadata request failed".to_string(),
                })
            }
        }
        let Some(answer) = NonNull::new(answer.cast_mut()).map(NativeMetadata) else {
            return Ok(Vec::new());
        };
        // SAFETY: `answer` is live; librdkafka sets `brokers` to `broker_cnt` entries.
        let brokers = unsafe {
            let metadata = answer.0.as_ref();
            match usize::try_from(metadata.broker_cnt) {
                Ok(count) if !metadata.brokers.is_null() => {
                    std::slice::from_raw_parts(metadata.brokers, count)
                }
                _ => &[],
            }
        };
        Ok(brokers
            .iter()
            .map(|broker| {
                // SAFETY: NULL or a NUL-terminated string, valid while `answer` lives.
                let host = unsafe { text(broker.host) };
                let address = match host.contains(':') {
                    _ if host.is_empty() => None,
                    true => Some(format!("[{host}]:{}", broker.port)),
                    false => Some(format!("{host}:{}", broker.port)),
                };
                Broker {
                    id: broker.id,
                    address,
                }
            })
            .collect())
    }

    /// What the broker numbered `broker` (or this client's bootstrap connection) answers about
    /// `topic` within `timeout`: whether it knows it with a leader for every partition. Only
    /// numbers are read from the answer: rdkafka's string accessors panic on text that is not
    /// UTF-8.
    pub(crate) fn knows_topic(&self, broker: i32, topic: &str, timeout: Duration) -> TopicAnswer {
        match self.client.client().fetch_metadata(Some(topic), timeout) {
            // -1: the bootstrap connection answered (librdkafka never numbers it).
            Ok(metadata) if [broker, -1].contains(&metadata.orig_broker_id()) => {
                let knows = metadata.topics().first().is_some_and(|answer| {
                    answer.error().is_none()
                        && !answer.partitions().is_empty()
                        && answer.partitions().iter().all(|p| p.leader() >= 0)
                });
                match knows {
                    true => TopicAnswer::Knows,
                    false => TopicAnswer::NotYet,
                }
            }
            // Another broker answered: `broker` may still answer the next question.
            Ok(_) => TopicAnswer::NotYet,
            Err(_) => TopicAnswer::Silent,
        }
    }

    fn native(&self) -> *mut rd::rd_kafka_t {
        self.client.client().native_ptr()
    }
}

/// # Safety
/// `description` must be a live `rd_kafka_TopicDescription_t`.
unsafe fn describe(
    description: *const rd::rd_kafka_TopicDescription_t,
) -> Result<TopicDescription, TopicError> {
    let error = rd::rd_kafka_TopicDescription_error(description);
    if !error.is_null() {
        let code = RDKafkaErrorCode::from(rd::rd_kafka_error_code(error));
        if code != RDKafkaErrorCode::NoError {
            return Err(TopicError {
                code,
                message: text(rd::rd_kafka_error_string(error)),
            });
        }
    }
    let mut count = 0;
    let partitions = slice(
        rd::rd_kafka_TopicDescription_partitions(description, &mut count),
        count,
    );
    let replication_factor = partitions.first().map_or(0, |p| {
        let mut replicas = 0;
        rd::rd_kafka_TopicPartitionInfo_replicas(*p, &mut replicas);
        replicas
    });
    let mut count = 0;
    let operations = rd::rd_kafka_TopicDescription_authorized_operations(description, &mut count);
    let authorized = (!operations.is_null()).then(|| {
        slice(operations, count)
            .iter()
            .map(|o| Operation::from_native(*o))
            .collect()
    });
    Ok(TopicDescription {
        partitions: partitions.len(),
        replication_factor,
        authorized,
    })
}

/// The answer for each of `topics`, in the order asked: the item `name` says is that topic,
/// turned into an answer by `answer`, or a `missing` error when the brokers left the topic out.
fn in_order_asked<T, A>(
    topics: &[&str],
    items: &[T],
    missing: RDKafkaErrorCode,
    name: impl Fn(&T) -> String,
    answer: impl Fn(&T) -> Result<A, TopicError>,
) -> Vec<Result<A, TopicError>> {
    topics
        .iter()
        .map(|topic| {
            items.iter().find(|item| name(item) == *topic).map_or_else(
                || {
                    Err(TopicError {
                        code: missing,
                        message: "not in the answer".to_string(),
                    })
                },
                &answer,
            )
        })
        .collect()
}

/// The `count` elements at `items`; empty for NULL.
///
/// # Safety
/// `items` must be NULL or an array of `count` elements that stays valid while the slice is
/// used (an array librdkafka returned, valid while the event it came from lives).
unsafe fn slice<'a, T>(items: *const T, count: usize) -> &'a [T] {
    if items.is_null() || count == 0 {
        return &[];
    }
    std::slice::from_raw_parts(items, count)
}

/// A C string librdkafka returned, copied; empty for NULL.
///
/// # Safety
/// `s` must be NULL or a NUL-terminated string live for the call.
unsafe fn text(s: *const c_char) -> String {
    if s.is_null() {
        String::new()
    } else {
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}

fn c_strings(topics: &[&str]) -> Result<Vec<CString>, AdminError> {
    topics
        .iter()
        .map(|t| CString::new(*t))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            failed(
                RDKafkaErrorCode::InvalidArgument,
                "a topic name with a NUL byte",
            )
        })
}

fn failed(code: RDKafkaErrorCode, message: &str) -> AdminError {
    AdminError::Failed {
        code,
        message: message.to_string(),
    }
}

fn millis(duration: Duration) -> c_int {
    c_int::try_from(duration.as_millis()).unwrap_or(c_int::MAX)
}

/// Turns an `rd_kafka_error_t` a setter returned (owned by us) into a result, destroying it.
fn take_error(error: *mut rd::rd_kafka_error_t) -> Result<(), AdminError> {
    let Some(error) = NonNull::new(error) else {
        return Ok(());
    };
    // SAFETY: `error` is a live error object we own; destroyed once, here.
    unsafe {
        let code = RDKafkaErrorCode::from(rd::rd_kafka_error_code(error.as_ptr()));
        let message = text(rd::rd_kafka_error_string(error.as_ptr()));
        rd::rd_kafka_error_destroy(error.as_ptr());
        Err(AdminError::Failed { code, message })
    }
}

/// librdkafka's error text buffer for calls that report through `errstr`.
struct ErrorText([c_char; 512]);

impl ErrorText {
    fn new() -> ErrorText {
        ErrorText([0; 512])
    }
    fn as_mut_ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr()
    }
    fn size(&self) -> usize {
        self.0.len()
    }
    fn text(&self) -> String {
        // SAFETY: zero-initialised and librdkafka writes at most `size` bytes NUL-terminated,
        // so the buffer always holds a NUL.
        unsafe { text(self.0.as_ptr()) }
    }
}

/// An `rd_kafka_AdminOptions_t`.
struct Options(NonNull<rd::rd_kafka_AdminOptions_t>);

impl Options {
    /// Options for one `api` request, with librdkafka's request timeout (how long it waits for
    /// a broker and its answer) ending at `deadline`.
    fn new(
        client: &AdminClient,
        api: rd::rd_kafka_admin_op_t,
        deadline: Instant,
    ) -> Result<Options, AdminError> {
        // SAFETY: the client is live; the options are owned by the returned value.
        let options = unsafe { rd::rd_kafka_AdminOptions_new(client.native(), api) };
        let options = NonNull::new(options)
            .map(Options)
            .ok_or_else(|| failed(RDKafkaErrorCode::InvalidArgument, "no admin options"))?;
        options.set_timeout(rd::rd_kafka_AdminOptions_set_request_timeout, deadline)?;
        Ok(options)
    }

    /// Sends the request to the broker numbered `broker` (librdkafka connects to it if need
    /// be, and waits for it within the request's timeout).
    fn send_to(&self, broker: i32) -> Result<(), AdminError> {
        let mut error = ErrorText::new();
        // SAFETY: live options; `error` is a buffer of the size passed.
        let code = unsafe {
            rd::rd_kafka_AdminOptions_set_broker(
                self.0.as_ptr(),
                broker,
                error.as_mut_ptr(),
                error.size(),
            )
        };
        check(code, &error)
    }

    /// Sets the timeout `setter` names (one of librdkafka's `rd_kafka_AdminOptions_set_*_timeout`)
    /// to the time left until `deadline`.
    fn set_timeout(&self, setter: TimeoutSetter, deadline: Instant) -> Result<(), AdminError> {
        let mut error = ErrorText::new();
        let left = millis(deadline.saturating_duration_since(Instant::now())).max(1);
        // SAFETY: live options; `error` is a buffer of the size passed.
        let code = unsafe { setter(self.0.as_ptr(), left, error.as_mut_ptr(), error.size()) };
        check(code, &error)
    }
}

/// The shape of librdkafka's `rd_kafka_AdminOptions_set_*_timeout` functions.
type TimeoutSetter = unsafe extern "C" fn(
    *mut rd::rd_kafka_AdminOptions_t,
    c_int,
    *mut c_char,
    usize,
) -> rd::rd_kafka_resp_err_t;

fn check(code: rd::rd_kafka_resp_err_t, error: &ErrorText) -> Result<(), AdminError> {
    match RDKafkaErrorCode::from(code) {
        RDKafkaErrorCode::NoError => Ok(()),
        code => Err(AdminError::Failed {
            code,
            message: error.text(),
        }),
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: owned, destroyed once.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.0.as_ptr()) }
    }
}

/// An `rd_kafka_queue_t` of our own, for the answers to one request (sent to one or more
/// brokers).
struct Queue(NonNull<rd::rd_kafka_queue_t>);

impl Queue {
    fn new(client: &AdminClient) -> Result<Queue, AdminError> {
        // SAFETY: the client is live; the queue is owned by the returned value.
        let queue = unsafe { rd::rd_kafka_queue_new(client.native()) };
        NonNull::new(queue)
            .map(Queue)
            .ok_or_else(|| failed(RDKafkaErrorCode::Fail, "no queue"))
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: owned, destroyed once. A request still in flight holds its own reference to
        // the queue (librdkafka counts them), so an answer arriving later is freed with it.
        unsafe { rd::rd_kafka_queue_destroy(self.0.as_ptr()) }
    }
}

/// An `rd_kafka_event_t` taken from a queue.
struct Event(NonNull<rd::rd_kafka_event_t>);

impl Event {
    /// The per-topic array of this answer, borrowed from it: `result` is librdkafka's view of
    /// the event as one kind of answer (NULL for another kind), `topics` that answer's array;
    /// `kind` names the answer in the error.
    ///
    /// # Safety
    /// `result` and `topics` must be the two accessors of one kind of answer (e.g.
    /// `rd_kafka_event_CreateTopics_result` and `rd_kafka_CreateTopics_result_topics`).
    unsafe fn topics<R, T>(
        &self,
        kind: &str,
        result: unsafe extern "C" fn(*mut rd::rd_kafka_event_t) -> *const R,
        topics: unsafe extern "C" fn(*const R, *mut usize) -> *mut *const T,
    ) -> Result<&[*const T], AdminError> {
        let result = result(self.0.as_ptr());
        if result.is_null() {
            return Err(failed(
                RDKafkaErrorCode::Fail,
                &format!("not a {kind} answer"),
            ));
        }
        let mut count = 0;
        // The array is the event's: the returned borrow of `self` keeps it alive while used.
        Ok(slice(topics(result, &mut count), count))
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: owned, destroyed once; every view into it is gone by now (borrows above).
        unsafe { rd::rd_kafka_event_destroy(self.0.as_ptr()) }
    }
}

/// An `rd_kafka_metadata_t` answer.
struct NativeMetadata(NonNull<rd::rd_kafka_metadata_t>);

impl Drop for NativeMetadata {
    fn drop(&mut self) {
        // SAFETY: owned here, destroyed once.
        unsafe { rd::rd_kafka_metadata_destroy(self.0.as_ptr()) }
    }
}

/// An `rd_kafka_TopicCollection_t`.
struct TopicCollection(NonNull<rd::rd_kafka_TopicCollection_t>);

impl Drop for TopicCollection {
    fn drop(&mut self) {
        // SAFETY: owned, destroyed once.
        unsafe { rd::rd_kafka_TopicCollection_destroy(self.0.as_ptr()) }
    }
}

/// The `rd_kafka_NewTopic_t`s of one request.
struct NewTopics(Vec<NonNull<rd::rd_kafka_NewTopic_t>>);

impl Drop for NewTopics {
    fn drop(&mut self) {
        for topic in &self.0 {
            // SAFETY: owned, destroyed once each.
            unsafe { rd::rd_kafka_NewTopic_destroy(topic.as_ptr()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(code: RDKafkaErrorCode) -> AdminError {
        AdminError::Failed {
            code,
            message: "m".to_string(),
        }
    }

    /// Of the answers to one request sent to several brokers, the first answer wins; one
    /// broker's own failures (a timeout, a local error) wait for the others.
    #[test]
    fn the_first_answer_wins_and_one_brokers_failures_wait_for_the_others() {
        let mut answers = vec![
            Err(AdminError::TimedOut {
                reason: "r".to_string(),
            }),
            Err(failed(RDKafkaErrorCode::BrokerTransportFailure)),
            Ok(7),
            Ok(8),
        ]
        .into_iter();
        assert_eq!(first_of(4, || answers.next().expect("asked")).ok(), Some(7));
        assert_eq!(answers.len(), 1, "the fourth answer was not waited for");
    }

    /// A refusal is the cluster's answer (every broker gives it alike): it ends the wait.
    #[test]
    fn a_refusal_ends_the_wait_for_the_others() {
        let mut answers = vec![
            Err(failed(RDKafkaErrorCode::ClusterAuthorizationFailed)),
            Ok(1),
        ]
        .into_iter();
        let answer = first_of(2, || answers.next().expect("asked"));
        assert!(
            matches!(answer, Err(AdminError::Failed { .. })),
            "{answer:?}"
        );
    }

    /// When every broker fails on its own, the last failure is the answer; a stop ends it at
    /// once.
    #[test]
    fn the_last_failure_is_the_answer_and_a_stop_ends_it() {
        let mut asked = 0;
        let answer: Result<(), _> = first_of(3, || {
            asked += 1;
            Err(AdminError::TimedOut {
                reason: format!("no answer {asked}"),
            })
        });
        match answer {
            Err(AdminError::TimedOut { reason }) => assert_eq!(reason, "no answer 3"),
            other => panic!("{other:?}"),
        }
        let mut asked = 0;
        let answer: Result<(), _> = first_of(3, || {
            asked += 1;
            Err(AdminError::Interrupted)
        });
        assert!(matches!(answer, Err(AdminError::Interrupted)));
        assert_eq!(asked, 1);
    }

    #[test]
    fn answers_come_in_the_order_asked_and_a_topic_left_out_gets_the_missing_code() {
        let items = [("b", 2), ("a", 1)];
        let answers = in_order_asked(
            &["a", "c", "b"],
            &items,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            |(name, _)| name.to_string(),
            |(_, value)| Ok(*value),
        );
        assert_eq!(
            answers,
            vec![
                Ok(1),
                Err(TopicError {
                    code: RDKafkaErrorCode::UnknownTopicOrPartition,
                    message: "not in the answer".to_string(),
                }),
                Ok(2),
            ]
        );
    }
}
