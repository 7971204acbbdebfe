//! From a Kafka payload to a `User`: Confluent framing (the 5-byte prefix, or a
//! `__value_schema_id` header), writer schema by id or GUID (fetched from the registry once
//! per id or GUID), Avro decoding with resolution. Shared by both consumers.

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::format::{locate_datum, AvroError, AvroErrorKind, FrameError, SchemaRef, ValueDecoder};
use crate::lifecycle::retry::{retry_until_stopped, Backoff};
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::health::STALL_AFTER;
use crate::ops::log_target;
use crate::ops::stats::ConsumerStats;
use crate::registry::unknown_ids::{Ask, LogAnchors, NotFound, UnknownSchemaIds};
use crate::registry::{
    OwnAnswer, RegistryError, RegistryProbe, SchemaRegistryClient, ATTEMPT_BUDGET, REQUEST_TIMEOUT,
};

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a Confluent-framed payload.
    Frame(FrameError),
    /// The writer schema could not be fetched yet; waited out, never the record's fault.
    Registry {
        /// The schema id or GUID in the message.
        id: SchemaRef,
        /// What the registry said.
        error: RegistryError,
    },
    /// The registry does not know this id yet, or the other consumer is asking for it: asked
    /// again when `registry/unknown_ids.rs` says. Never leaves the decoder.
    NotFoundYet {
        /// The schema id or GUID in the message.
        id: SchemaRef,
    },
    /// The registry serves another schema under the id this daemon's own schema has: it
    /// contradicts what it said at start-up (an in-memory registry restarted and reusing ids,
    /// a restored backup, a misrouted proxy). The registry's fault, never the record's: waited
    /// out like an outage.
    OwnSchemaContradicted {
        /// Our schema's id.
        id: u32,
    },
    /// The registry has answered 404 for this id on every try for as long as the id could
    /// wait (`registry/unknown_ids.rs`), while it served the schema of the consumer's registry
    /// probe (if it has one): the record's fault.
    UnknownSchema {
        /// The schema id or GUID in the message.
        id: SchemaRef,
        /// From its first 404 to its last (zero: confirmed before, or no wait was due).
        waited: Duration,
    },
    /// The writer schema is not a usable Avro schema.
    Schema {
        /// The schema id or GUID in the message.
        id: SchemaRef,
        /// Why it is unusable.
        error: AvroError,
    },
    /// The body does not decode with the writer schema into a `User`.
    Body {
        /// The schema id or GUID in the message.
        id: SchemaRef,
        /// What was wrong with the body.
        error: AvroError,
    },
    /// The message names its writer schema by GUID, and the registry — healthy, serving this
    /// daemon's own schema by id — does not serve `/schemas/guids/…` (a bare 404: Apicurio; or
    /// a gateway's 403, 405 or 501) after the wait an unknown id gets. This deployment cannot
    /// read the record, which takes `ON_DECODE_ERROR` like a confirmed unknown id (stopping
    /// on it let any writer stop the daemon, at every restart); the reason says `dlq` keeps
    /// such records. Believed for a minute by both consumers, then asked again.
    NoGuidSupport {
        /// The GUID in the message.
        id: SchemaRef,
        /// What the registry answered.
        error: RegistryError,
    },
}

impl DecodeError {
    /// Whether to wait and try again: the registry's failures (401/403/429/5xx, timeouts, a
    /// body that is not a schema, a 404 not yet confirmed, another schema under our own id)
    /// are never the record's fault.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DecodeError::Registry { .. }
                | DecodeError::NotFoundYet { .. }
                | DecodeError::OwnSchemaContradicted { .. }
        )
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Frame(e) => write!(f, "{e}"),
            DecodeError::Registry { id, error } => write!(f, "writer schema {id}: {error}"),
            DecodeError::NotFoundYet { id } => {
                write!(f, "writer schema {id}: not found by the registry yet")
            }
            DecodeError::OwnSchemaContradicted { id } => write!(
                f,
                "the registry serves another schema under id {id}, the id of this daemon's own schema (a restarted registry reusing ids, a restored backup, a misrouted proxy?); records are held until it serves ours again"
            ),
            DecodeError::UnknownSchema { id, waited } if waited.is_zero() => write!(
                f,
                "writer schema {id} is unknown to the registry (HTTP 404)"
            ),
            DecodeError::UnknownSchema { id, waited } => write!(
                f,
                "writer schema {id} is unknown to the registry (HTTP 404 on every try for {waited:?})"
            ),
            DecodeError::Schema { id, error } => write!(f, "writer schema {id}: {error}"),
            DecodeError::Body { id: SchemaRef::Id(id), error } => {
                write!(f, "schema id {id}: {error}")
            }
            DecodeError::Body { id, error } => write!(f, "schema {id}: {error}"),
            DecodeError::NoGuidSupport { id, error } => write!(
                f,
                "writer schema {id} (from the __value_schema_id header) cannot be fetched: the schema registry has no GUID endpoint ({error}); it needs a registry that serves GET /schemas/guids/{{guid}} (Confluent 8+); ON_DECODE_ERROR=dlq keeps such records"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Between two tries of a message whose writer schema cannot be fetched: from 1 s, doubling
/// up to 10 s, well under [`STALL_AFTER`] so a registry outage never looks like a stalled loop.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
const REGISTRY_OUTAGE_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_secs(1), MAX_RETRY_WAIT);
const _: () = assert!(MAX_RETRY_WAIT.as_secs() < STALL_AFTER.as_secs());

// One registry call, cut short after its budget, leaves at most one request to run: under the
// stall limit, so fetching many references never looks like a stalled loop.
const _: () = assert!(ATTEMPT_BUDGET.as_secs() + REQUEST_TIMEOUT.as_secs() < STALL_AFTER.as_secs());

/// While the registry stays in one state, it is reported again this often.
const STILL_WAITING_EVERY: Duration = Duration::from_secs(60);

/// While a record's unknown schema id waits (`registry/unknown_ids.rs`), the registry is
/// asked again this often: a wait drawn from the budget can last the whole grace period.
const UNKNOWN_ID_RECHECK: Duration = Duration::from_secs(1);
const _: () = assert!(UNKNOWN_ID_RECHECK.as_secs() < STALL_AFTER.as_secs());

/// Where a message sits, for the wait an unknown schema id gets: its topic (the consumer's
/// index of it), partition and offset, and the ends of the assigned partitions as the client
/// last heard them (asked only for an unknown id; `LogAnchors`).
pub(crate) struct Place<'p> {
    pub(crate) topic: usize,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) log_ends: &'p dyn Fn() -> Vec<((usize, i32), i64)>,
    /// Called between two registry requests of one decode (the writer schema, then the check
    /// of our own schema behind a 404): each may take the request timeout, and their sum is
    /// past the stall limit, so the loop's heartbeat is beaten in between.
    pub(crate) progress: &'p dyn Fn(),
}

/// Decodes payloads for one consumer; caches writer schemas by id and GUID.
pub(crate) struct MessageDecoder<'a, D: ValueDecoder> {
    registry: &'a SchemaRegistryClient,
    codec: &'a D,
    /// Schema ids never change their schema, so a fetched one is kept for the run — and so is
    /// a refusal: a schema that cannot become `User` is fetched once, not once per message.
    /// A GUID names one schema for good too.
    schemas: HashMap<SchemaRef, Result<Arc<D::WriterPlan>, AvroError>>,
    /// The schema of the previous message: nearly always the one the next message needs.
    last: Option<(SchemaRef, Arc<D::WriterPlan>)>,
    /// Ids the registry answered 404 for, shared with the other consumer.
    unknown: &'a UnknownSchemaIds,
    /// Since when this consumer's records have been in the log, for unknown ids' retries.
    anchors: LogAnchors,
    /// When the writer schema of the last decode is to be asked for again: an unknown id's
    /// retry, or at once for a schema whose references are still being fetched.
    unknown_retry_at: Option<Instant>,
    /// The probe of the registry's health: whether it still serves a schema known to be
    /// there (the producer's) under its id. Then its 404s can be believed; if it serves
    /// another, records wait. Without a probe, a 404 is believed after its wait.
    own: Option<&'a RegistryProbe<'a>>,
    /// Requests sent to the registry so far: a decode that sent one may have taken a while, so
    /// a loop that read the clock before it reads it again.
    registry_requests: u64,
}

impl<'a, D: ValueDecoder> MessageDecoder<'a, D> {
    /// A decoder with an empty schema cache.
    pub(crate) fn new(
        registry: &'a SchemaRegistryClient,
        codec: &'a D,
        unknown: &'a UnknownSchemaIds,
        own: Option<&'a RegistryProbe<'a>>,
    ) -> MessageDecoder<'a, D> {
        MessageDecoder {
            registry,
            codec,
            schemas: HashMap::new(),
            last: None,
            unknown,
            anchors: LogAnchors::default(),
            unknown_retry_at: None,
            own,
            registry_requests: 0,
        }
    }

    /// Requests this decoder has sent to the registry (a cache miss, a retry while it waits).
    pub(crate) fn registry_requests(&self) -> u64 {
        self.registry_requests
    }

    /// Decodes one payload (`None` for a null value), whose writer schema the value's
    /// `__value_schema_id` header names if it has one, else the payload's prefix.
    pub(crate) fn decode_located(
        &mut self,
        payload: Option<&[u8]>,
        schema_id_header: Option<&[u8]>,
        place: &Place<'_>,
    ) -> Result<(SchemaRef, D::Value), DecodeError> {
        let (id, datum) = locate_datum(payload, schema_id_header).map_err(DecodeError::Frame)?;
        // Moved out and back rather than cloned: no reference-count traffic per record.
        let writer = match self.last.take() {
            Some((last_id, schema)) if last_id == id => schema,
            _ => self.writer_schema(id, place)?,
        };
        let decoded = self.codec.decode(&writer, datum);
        self.last = Some((id, writer));
        decoded
            .map(|value| (id, value))
            .map_err(|error| DecodeError::Body { id, error })
    }

    /// [`Self::decode_located`] without the writer schema's id.
    #[cfg(test)]
    pub(crate) fn decode(
        &mut self,
        payload: Option<&[u8]>,
        schema_id_header: Option<&[u8]>,
        place: &Place<'_>,
    ) -> Result<D::Value, DecodeError> {
        self.decode_located(payload, schema_id_header, place)
            .map(|(_, value)| value)
    }

    /// Decodes one payload; while the registry cannot answer, waits and tries again until it
    /// answers or shutdown begins, so a record is never skipped for an outage. The
    /// wait is logged once per change of what the registry answers (and once a minute while
    /// it lasts), beats the loop's heartbeat and shows in the consumer's `registry_wait`
    /// figure. An unknown schema id is asked for again when its wait says
    /// (`registry/unknown_ids.rs`), silently: it is not an outage. Returns `None` on shutdown:
    /// the message was not handled and its offset must not move.
    pub(crate) fn decode_patiently(
        &mut self,
        payload: Option<&[u8]>,
        schema_id_header: Option<&[u8]>,
        place: &Place<'_>,
        shutdown: &Shutdown,
        stats: &ConsumerStats,
        describe: impl Fn() -> String,
    ) -> Option<Result<(SchemaRef, D::Value), DecodeError>> {
        // Nearly every record: decoded, or the record's fault, at the first try. Only a
        // transient error takes the waits below, starting from this try's error.
        let mut first = match self.decode_located(payload, schema_id_header, place) {
            Err(e) if e.is_transient() => Some(Err(e)),
            outcome => return Some(outcome),
        };
        let mut reported: Option<(String, Instant)> = None;
        let outcome = retry_until_stopped(
            &REGISTRY_OUTAGE_BACKOFF,
            shutdown,
            Some(&stats.heartbeat),
            |_| loop {
                let tried = match first.take() {
                    Some(tried) => tried,
                    None => self.decode_located(payload, schema_id_header, place),
                };
                match tried {
                    Err(e) if e.is_transient() => {
                        let Some(at) = self.unknown_retry_at.take() else {
                            return ControlFlow::Continue(e);
                        };
                        stats.heartbeat.beat();
                        let next = at.min(Instant::now() + UNKNOWN_ID_RECHECK);
                        if shutdown.sleep_until(next) {
                            return ControlFlow::Break(None);
                        }
                    }
                    outcome => return ControlFlow::Break(Some(outcome)),
                }
            },
            |e, _, wait| {
                stats.registry_wait.start();
                let text = e.to_string();
                let changed = reported
                    .as_ref()
                    .is_none_or(|(last, at)| *last != text || at.elapsed() >= STILL_WAITING_EVERY);
                if changed {
                    log::warn!(
                        target: log_target::DECODE,
                        "{}: {text}; waiting for the registry (next try in {wait:?})",
                        describe()
                    );
                    reported = Some((text, Instant::now()));
                }
            },
        );
        let outcome = outcome.flatten();
        if reported.is_some() {
            stats.registry_wait.end();
            if outcome.is_some() {
                log::info!(target: log_target::DECODE, "{}: the registry answers again", describe());
            }
        }
        outcome
    }

    fn writer_schema(
        &mut self,
        id: SchemaRef,
        place: &Place<'_>,
    ) -> Result<Arc<D::WriterPlan>, DecodeError> {
        if let Some(known) = self.schemas.get(&id) {
            return known
                .clone()
                .map_err(|error| DecodeError::Schema { id, error });
        }
        let now = Instant::now();
        if matches!(id, SchemaRef::Guid(_)) {
            if let Some(error) = self.unknown.no_guid_endpoint(now) {
                return Err(DecodeError::NoGuidSupport { id, error });
            }
        }
        match self.unknown.ask(id, now) {
            Ask::Now => {}
            Ask::At(at) => {
                self.unknown_retry_at = Some(at);
                return Err(DecodeError::NotFoundYet { id });
            }
            Ask::Confirmed => {
                let waited = Duration::ZERO;
                return Err(DecodeError::UnknownSchema { id, waited });
            }
        }
        let text = match self.fetch_writer_schema(id, place, now) {
            Ok(text) => text,
            Err(error) => {
                self.unknown.unanswered(id);
                return Err(error);
            }
        };
        self.unknown.found(id, now);
        // Refused schemas are kept too: every message with their id is an error, and none
        // costs another registry request.
        let admitted = self.codec.admit(&text).map(Arc::new);
        self.schemas.insert(id, admitted.clone());
        admitted.map_err(|error| DecodeError::Schema { id, error })
    }

    /// Asks the registry for `id`'s schema text, and says what a failure means.
    fn fetch_writer_schema(
        &mut self,
        id: SchemaRef,
        place: &Place<'_>,
        now: Instant,
    ) -> Result<String, DecodeError> {
        self.registry_requests += 1;
        let fetched = self.registry.schema(id);
        (place.progress)();
        // Never cached: the registry may serve ours again.
        if let Some(own) = self.own {
            let own_id = own.id();
            if id == SchemaRef::Id(own_id) && own.fetched(&fetched) == OwnAnswer::Contradicts {
                return Err(DecodeError::OwnSchemaContradicted { id: own_id });
            }
        }
        match fetched {
            Ok(text) => Ok(text),
            // Progress, not an outage: asked again at once, the heartbeat beaten in between.
            Err(error) if error.is_references_pending() => {
                self.unknown_retry_at = Some(now);
                Err(DecodeError::Registry { id, error })
            }
            // A 404 for the id, or a GUID's path refused (no GUID endpoint, or a gateway that
            // does not route it): waited for like any unknown id (a registry upgraded in place,
            // a gateway still catching up), and believed only of a healthy registry — a wrong
            // URL or a proxy in between answers every path with a bare 404, and that is waited
            // out like any outage.
            Err(error) if error.is_not_found() || guid_route_refused(id, &error) => {
                // Read after the answer, which may have taken seconds: the ends noted now must
                // not be dated to before the request.
                let answered = Instant::now();
                let in_log_since = self.anchors.since(
                    (place.topic, place.partition),
                    place.offset,
                    answered,
                    place.log_ends,
                );
                match self.unknown.not_found(id, answered, in_log_since) {
                    NotFound::RetryAt(at) => {
                        self.unknown_retry_at = Some(at);
                        Err(DecodeError::NotFoundYet { id })
                    }
                    NotFound::Lasted { .. }
                        if guid_route_refused(id, &error) && self.registry_serves_own_schema() =>
                    {
                        // Not confirmed for the id's five minutes: the missing endpoint is
                        // believed for a minute, then asked again (a registry upgraded).
                        self.unknown.lacks_guid_endpoint(error.clone(), answered);
                        Err(DecodeError::NoGuidSupport { id, error })
                    }
                    NotFound::Lasted { waited } if self.registry_serves_own_schema() => {
                        self.unknown.confirm(id, answered);
                        Err(DecodeError::UnknownSchema { id, waited })
                    }
                    // Not believed: waited out like any outage.
                    NotFound::Lasted { .. } => Err(DecodeError::Registry { id, error }),
                }
            }
            // The id names a Protobuf or JSON schema, or one whose references can never be
            // resolved, or — by a whole answer larger than is read, from a registry that still
            // serves our own schema — one that large: the writer's choice, remembered like any
            // refused schema. (An oversized answer was waited out as an outage, and a stored
            // schema of 1 MiB stalled every consumer for good.)
            Err(error)
                if error.is_refused_schema()
                    || (error.is_too_large() && self.registry_serves_own_schema_after(now)) =>
            {
                let error = AvroError::new(AvroErrorKind::Schema, error.to_string());
                self.schemas.insert(id, Err(error.clone()));
                Err(DecodeError::Schema { id, error })
            }
            Err(error) => Err(DecodeError::Registry { id, error }),
        }
    }

    /// Whether the registry still serves this daemon's own schema, unchanged: then it is the
    /// same, healthy registry, and its 404 for another id can be believed. Asked at most once
    /// a second for both consumers.
    fn registry_serves_own_schema(&self) -> bool {
        self.own
            .is_none_or(|own| own.ask(Instant::now()) == OwnAnswer::Agrees)
    }

    /// As [`Self::registry_serves_own_schema`], by an answer that came after `since` (asked
    /// again if need be): a remembered answer may predate a fault that began meanwhile.
    fn registry_serves_own_schema_after(&self, since: Instant) -> bool {
        self.own
            .is_none_or(|own| own.ask_after(since) == OwnAnswer::Agrees)
    }
}

/// Whether `error` says the registry does not serve `id`'s GUID path (no GUID endpoint, or a
/// gateway that does not route it), rather than that it lacks the schema.
fn guid_route_refused(id: SchemaRef, error: &RegistryError) -> bool {
    matches!(id, SchemaRef::Guid(_)) && error.is_route_refused()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::Config;
    use crate::format::{User, UserCodec, USER_SCHEMA_JSON};
    use crate::registry::fake_registry::registry_replying;

    fn no_log_ends() -> Vec<((usize, i32), i64)> {
        Vec::new()
    }

    fn no_progress() {}

    /// A message long in the log: an unknown id's retry comes at once.
    const HERE: Place<'static> = Place {
        topic: 0,
        partition: 0,
        offset: 0,
        log_ends: &no_log_ends,
        progress: &no_progress,
    };

    /// A registry on a local port that answers each request with `answer(request line)`
    /// (status and body) and counts them.
    fn registry_answering(
        answer: impl Fn(&str) -> (u16, String) + Send + 'static,
    ) -> (String, Arc<AtomicUsize>) {
        let registry = registry_replying(move |_, line| Some(answer(line)));
        (registry.url, registry.requests)
    }

    /// A registry that answers every request with `schema`.
    fn registry_serving(schema: &str) -> (String, Arc<AtomicUsize>) {
        let body = serde_json::json!({ "schema": schema }).to_string();
        registry_answering(move |_| (200, body.clone()))
    }

    fn decoder_test<T>(url: &str, test: impl FnOnce(&mut MessageDecoder<'_, UserCodec>) -> T) -> T {
        let config = Config::from_pairs(&[
            ("SCHEMA_REGISTRY_URL", url),
            ("SCHEMA_REGISTRY_RETRIES", "0"),
        ])
        .expect("config");
        let registry =
            SchemaRegistryClient::new(&config, Shutdown::new()).expect("registry client");
        let codec = UserCodec::new().expect("codec");
        // No budget: an unknown id gets only its retry.
        let unknown = UnknownSchemaIds::new(Duration::ZERO);
        let own = RegistryProbe::new(&registry, 1, codec.reader_canonical().to_string());
        let mut decoder = MessageDecoder::new(&registry, &codec, &unknown, Some(&own));
        test(&mut decoder)
    }

    const GUID: &str = "0b8f3d3c-1111-2222-3333-444455556666";

    fn guid_header() -> Vec<u8> {
        let mut header = vec![1];
        header.extend_from_slice(uuid::Uuid::parse_str(GUID).expect("uuid").as_bytes());
        header
    }

    #[test]
    fn a_refused_writer_schema_is_fetched_once_and_every_message_of_its_id_is_an_error() {
        let no_name = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;
        let (url, requests) = registry_serving(no_name);
        decoder_test(&url, |decoder| {
            for _ in 0..5 {
                match decoder.decode(Some(&[0, 0, 0, 0, 7, 0x02]), None, &HERE) {
                    Err(DecodeError::Schema {
                        id: SchemaRef::Id(7),
                        error,
                    }) => assert!(error.to_string().contains("no field `name`"), "{error}"),
                    other => panic!("expected a schema error, got {other:?}"),
                }
            }
            // What the consumer reads the clock again by: one request for five messages.
            assert_eq!(decoder.registry_requests(), 1);
        });
        assert_eq!(requests.load(Ordering::SeqCst), 1, "fetched once");
    }

    #[test]
    fn a_schema_of_another_type_is_fetched_once_and_every_message_of_its_id_is_an_error() {
        let json = serde_json::json!({ "schema": "{}", "schemaType": "JSON" }).to_string();
        let (url, requests) = registry_answering(move |_| (200, json.clone()));
        decoder_test(&url, |decoder| {
            for _ in 0..5 {
                match decoder.decode(Some(&[0, 0, 0, 0, 7, 0x02]), None, &HERE) {
                    Err(error @ DecodeError::Schema { .. }) => {
                        assert!(!error.is_transient());
                        assert!(error.to_string().contains("not AVRO"), "{error}");
                    }
                    other => panic!("expected a schema error, got {other:?}"),
                }
            }
        });
        assert_eq!(requests.load(Ordering::SeqCst), 1, "fetched once");
    }

    #[test]
    fn a_reference_the_registry_cannot_serve_is_waited_out_and_asked_again() {
        let user = r#"{"type":"record","name":"User","fields":[{"name":"home","type":"Address"},{"name":"name","type":"string"}]}"#;
        let body = serde_json::json!({
            "schema": user,
            "references": [{ "name": "Address", "subject": "the address", "version": 1 }],
        })
        .to_string();
        let (url, requests) = registry_answering(move |line| {
            if line.starts_with("GET /schemas/ids/7 ") {
                (200, body.clone())
            } else {
                // The subject is encoded in the path: a space is %20.
                assert!(
                    line.starts_with("GET /subjects/the%20address/versions/1 "),
                    "{line}"
                );
                (
                    404,
                    r#"{"error_code":40401,"message":"Subject not found"}"#.to_string(),
                )
            }
        });
        decoder_test(&url, |decoder| {
            for _ in 0..2 {
                match decoder.decode(Some(&[0, 0, 0, 0, 7, 0x02]), None, &HERE) {
                    Err(error @ DecodeError::Registry { .. }) => {
                        assert!(error.is_transient());
                        assert!(error.to_string().contains("cannot serve now"), "{error}");
                    }
                    other => panic!("expected a registry error, got {other:?}"),
                }
            }
        });
        // The id's own answer is kept for the next try; the reference is asked for again.
        assert_eq!(
            requests.load(Ordering::SeqCst),
            3,
            "not remembered: asked again"
        );
    }

    /// A writer schema whose answer is larger than the client reads (a record of 1 MiB of
    /// fields, stored by the registry): refused and remembered once the registry still serves
    /// our own schema, so the policy applies; waited out while it does not (a proxy's page).
    #[test]
    fn a_writer_schema_larger_than_is_read_is_refused_once_of_a_healthy_registry() {
        let own = serde_json::json!({ "schema": USER_SCHEMA_JSON }).to_string();
        let huge = serde_json::json!({ "schema": "x".repeat(1_100_000) }).to_string();
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let is_healthy = Arc::clone(&healthy);
        let (url, requests) = registry_answering(move |line| {
            if line.starts_with("GET /schemas/ids/1 ") && is_healthy.load(Ordering::SeqCst) {
                (200, own.clone())
            } else if line.starts_with("GET /schemas/ids/7 ") {
                (200, huge.clone())
            } else {
                (503, String::new())
            }
        });
        decoder_test(&url, |decoder| {
            let outcome = decoder.decode(Some(&[0, 0, 0, 0, 7, 0x02, b'a']), None, &HERE);
            assert!(
                matches!(&outcome, Err(e @ DecodeError::Registry { .. }) if e.is_transient()),
                "{outcome:?}"
            );
            healthy.store(true, Ordering::SeqCst);
            // The own schema's answer is reused for a second: refused once it is asked again.
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut refused = 0;
            while refused < 3 {
                match decoder.decode(Some(&[0, 0, 0, 0, 7, 0x02, b'a']), None, &HERE) {
                    Err(error @ DecodeError::Schema { .. }) => {
                        assert!(!error.is_transient());
                        assert!(error.to_string().contains("larger than"), "{error}");
                        refused += 1;
                        if refused == 1 {
                            requests.store(0, Ordering::SeqCst);
                        }
                    }
                    Err(error @ DecodeError::Registry { .. })
                        if refused == 0 && Instant::now() < deadline =>
                    {
                        assert!(error.is_transient());
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    other => panic!("expected a refused schema, got {other:?}"),
                }
            }
        });
        // Once refused, id 7 is not asked for again.
        assert_eq!(requests.load(Ordering::SeqCst), 0);
    }

    /// The own schema's answer remembered for a second must not vouch for a fault that began
    /// after it: a proxy that starts answering every request with a page over 1 MiB has the
    /// oversized answer waited out, not the schema refused for the run.
    #[test]
    fn an_oversized_answer_is_judged_by_an_own_schema_answer_that_came_after_it() {
        let own = serde_json::json!({ "schema": USER_SCHEMA_JSON }).to_string();
        let huge = "x".repeat(1_100_000);
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let is_broken = Arc::clone(&broken);
        let (url, _) = registry_answering(move |line| {
            if is_broken.load(Ordering::SeqCst) {
                (200, huge.clone())
            } else if line.starts_with("GET /schemas/ids/1 ") {
                (200, own.clone())
            } else {
                let body = r#"{"error_code":40403,"message":"Schema not found"}"#;
                (404, body.to_string())
            }
        });
        decoder_test(&url, |decoder| {
            // An unknown id long in the log: the own schema is asked, and agrees.
            long_in_the_log(decoder);
            let unknown = decoder.decode(Some(&[0, 0, 0, 0, 8, 0x02, b'a']), None, &HERE);
            assert!(
                matches!(unknown, Err(DecodeError::UnknownSchema { .. })),
                "{unknown:?}"
            );
            broken.store(true, Ordering::SeqCst);
            let outcome = decoder.decode(Some(&[0, 0, 0, 0, 7, 0x02, b'a']), None, &HERE);
            assert!(
                matches!(&outcome, Err(e @ DecodeError::Registry { .. }) if e.is_transient()),
                "{outcome:?}"
            );
        });
    }

    #[test]
    fn a_guid_header_is_resolved_by_guid_once_and_the_payload_is_all_datum() {
        // Four ints before the name: the datum begins 0x00 0x00 0x00 0x00, like a prefix.
        let ints_first = r#"{"type":"record","name":"User","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"int"},{"name":"d","type":"int"},{"name":"name","type":"string"}]}"#;
        let body = serde_json::json!({ "schema": ints_first }).to_string();
        let (url, requests) = registry_answering(move |line| {
            if line.starts_with(&format!("GET /schemas/guids/{GUID} ")) {
                (200, body.clone())
            } else {
                (500, String::new())
            }
        });
        let datum = b"\x00\x00\x00\x00\x0cuser_1";
        decoder_test(&url, |decoder| {
            for _ in 0..3 {
                let user = decoder.decode(Some(datum), Some(&guid_header()), &HERE);
                assert_eq!(user, Ok(User::numbered(1)));
            }
        });
        assert_eq!(requests.load(Ordering::SeqCst), 1, "fetched once");
    }

    #[test]
    fn a_registry_without_a_guid_endpoint_is_named_and_asked_again_only_after_a_while() {
        let own = serde_json::json!({ "schema": USER_SCHEMA_JSON }).to_string();
        let (url, requests) = registry_answering(move |line| {
            if line.starts_with("GET /schemas/ids/1 ") {
                (200, own.clone())
            } else {
                (404, String::new())
            }
        });
        decoder_test(&url, |decoder| {
            // Its 404 comes long after the record was written, and there is no budget to wait.
            long_in_the_log(decoder);
            for _ in 0..3 {
                match decoder.decode(Some(b"\x02a"), Some(&guid_header()), &HERE) {
                    Err(error @ DecodeError::NoGuidSupport { .. }) => {
                        assert!(!error.is_transient());
                        assert!(error.to_string().contains("no GUID endpoint"), "{error}");
                    }
                    other => panic!("expected no GUID support, got {other:?}"),
                }
            }
        });
        // The GUID, then the own schema to believe the 404; then nothing for a while.
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    /// A bare 404 for the GUID path is waited for like an unknown id's 404 (a registry
    /// upgraded in place, a gateway whose routes lag): believed at once, as it was, a record
    /// written just then was skipped, and every GUID record after it for a minute.
    #[test]
    fn a_guid_endpoint_missing_for_a_moment_is_waited_for_like_an_unknown_id() {
        let own = serde_json::json!({ "schema": USER_SCHEMA_JSON }).to_string();
        let serving = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let serves = Arc::clone(&serving);
        let (url, _) = registry_answering(move |line| {
            // Our own schema by id, and the GUID's (the same) once the endpoint is there.
            let guid_served =
                line.starts_with("GET /schemas/guids/") && serves.load(Ordering::SeqCst);
            if line.starts_with("GET /schemas/ids/1 ") || guid_served {
                (200, own.clone())
            } else {
                (404, String::new())
            }
        });
        decoder_test(&url, |decoder| {
            // A record just written: its catch-up is not over.
            let first = decoder.decode(Some(b"\x0cuser_1"), Some(&guid_header()), &HERE);
            assert!(
                matches!(first, Err(DecodeError::NotFoundYet { .. })),
                "{first:?}"
            );
            serving.store(true, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match decoder.decode(Some(b"\x0cuser_1"), Some(&guid_header()), &HERE) {
                    Ok(user) => break assert_eq!(user, User::numbered(1)),
                    Err(DecodeError::NotFoundYet { .. }) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    other => panic!("expected the record decoded, got {other:?}"),
                }
            }
        });
    }

    #[test]
    fn a_bare_404_for_a_guid_from_a_registry_that_forgot_everything_is_waited_out() {
        let (url, _) = registry_answering(|_| (404, String::new()));
        decoder_test(&url, |decoder| {
            long_in_the_log(decoder);
            let outcome = decoder.decode(Some(b"\x02a"), Some(&guid_header()), &HERE);
            assert!(
                matches!(&outcome, Err(e @ DecodeError::Registry { .. }) if e.is_transient()),
                "{outcome:?}"
            );
        });
    }

    #[test]
    fn an_unknown_guid_is_an_unknown_schema_like_an_unknown_id() {
        let own = serde_json::json!({ "schema": USER_SCHEMA_JSON }).to_string();
        let (url, _) = registry_answering(move |line| {
            if line.starts_with("GET /schemas/ids/1 ") {
                (200, own.clone())
            } else {
                (
                    404,
                    r#"{"error_code":40403,"message":"Schema not found"}"#.to_string(),
                )
            }
        });
        decoder_test(&url, |decoder| {
            // Its 404 comes long after the record was written, and there is no budget to wait.
            long_in_the_log(decoder);
            match decoder.decode(Some(b"\x02a"), Some(&guid_header()), &HERE) {
                Err(DecodeError::UnknownSchema { id, .. }) => {
                    assert_eq!(id.to_string(), format!("guid {GUID}"))
                }
                other => panic!("expected an unknown schema, got {other:?}"),
            }
        });
    }

    /// The writer schema's 404 and the own-schema check behind it are two requests, each up
    /// to the request timeout: the loop's heartbeat is beaten between them, so one decode
    /// never holds it past the stall limit without a beat.
    #[test]
    fn the_heartbeat_is_beaten_between_the_404_and_the_own_schema_check() {
        let own = serde_json::json!({ "schema": USER_SCHEMA_JSON }).to_string();
        let asked_own = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&asked_own);
        let (url, _) = registry_answering(move |line| {
            if line.starts_with("GET /schemas/ids/1 ") {
                counted.fetch_add(1, Ordering::SeqCst);
                (200, own.clone())
            } else {
                (
                    404,
                    r#"{"error_code":40403,"message":"Schema not found"}"#.to_string(),
                )
            }
        });
        // The own schema not yet asked when the beat comes: the beat is between the two.
        let beats_before_own = AtomicUsize::new(0);
        let progress = || {
            if asked_own.load(Ordering::SeqCst) == 0 {
                beats_before_own.fetch_add(1, Ordering::SeqCst);
            }
        };
        let place = Place {
            progress: &progress,
            ..HERE
        };
        let outcome = decoder_test(&url, |decoder| {
            long_in_the_log(decoder);
            decoder.decode(Some(&[0, 0, 0, 0, 7, 0x02, b'a']), None, &place)
        });
        assert!(
            matches!(outcome, Err(DecodeError::UnknownSchema { .. })),
            "{outcome:?}"
        );
        assert_eq!(
            asked_own.load(Ordering::SeqCst),
            1,
            "the own schema was checked"
        );
        assert_eq!(beats_before_own.load(Ordering::SeqCst), 1);
    }

    /// Makes the decoder believe partition 0's records have been in the log for a minute.
    fn long_in_the_log(decoder: &mut MessageDecoder<'_, UserCodec>) {
        let minute_ago = Instant::now() - Duration::from_secs(60);
        decoder
            .anchors
            .since((0, 0), 0, minute_ago, || vec![((0, 0), i64::MAX)]);
    }

    /// A registry that answers our id 1 with `own` (changeable), and 404 for any other id.
    fn registry_with_own(own: Arc<std::sync::Mutex<String>>) -> (String, Arc<AtomicUsize>) {
        registry_answering(move |line| {
            if line.starts_with("GET /schemas/ids/1 ") {
                let schema = own.lock().expect("own").clone();
                (200, serde_json::json!({ "schema": schema }).to_string())
            } else {
                let body = r#"{"error_code":40403,"message":"Schema not found"}"#;
                (404, body.to_string())
            }
        })
    }

    #[test]
    fn another_schema_under_our_id_is_waited_out_and_never_cached() {
        // Decodes our bytes with "negative length" if believed.
        let other = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}"#;
        let own = Arc::new(std::sync::Mutex::new(other.to_string()));
        let (url, requests) = registry_with_own(Arc::clone(&own));
        let ours = b"\x00\x00\x00\x00\x01\x0cuser_1";
        decoder_test(&url, |decoder| {
            for _ in 0..2 {
                let outcome = decoder.decode(Some(ours), None, &HERE);
                match &outcome {
                    Err(e @ DecodeError::OwnSchemaContradicted { id: 1 }) => {
                        assert!(e.is_transient());
                        assert!(e.to_string().contains("another schema under id 1"), "{e}");
                    }
                    other => panic!("expected a contradiction, got {other:?}"),
                }
                assert!(decoder.own.expect("probe").contradicted());
            }
            *own.lock().expect("own") = USER_SCHEMA_JSON.to_string();
            assert_eq!(
                decoder.decode(Some(ours), None, &HERE),
                Ok(User::numbered(1))
            );
            assert!(!decoder.own.expect("probe").contradicted());
        });
        assert_eq!(requests.load(Ordering::SeqCst), 3, "asked each time");
    }

    #[test]
    fn a_flood_of_unknown_ids_asks_for_our_own_schema_about_once_a_second() {
        let own = Arc::new(std::sync::Mutex::new(USER_SCHEMA_JSON.to_string()));
        let (url, requests) = registry_with_own(own);
        decoder_test(&url, |decoder| {
            long_in_the_log(decoder);
            for id in 100..150u32 {
                let mut payload = vec![0];
                payload.extend_from_slice(&id.to_be_bytes());
                payload.extend_from_slice(b"\x02a");
                // Its 404 comes long after the record was written: believed at once (no
                // budget), since the registry serves our schema.
                let outcome = decoder.decode(Some(&payload), None, &HERE);
                assert!(
                    matches!(outcome, Err(DecodeError::UnknownSchema { .. })),
                    "id {id}: {outcome:?}"
                );
                assert!(decoder.unknown_retry_at.is_none());
                // Confirmed: asked no more.
                let again = decoder.decode(Some(&payload), None, &HERE);
                assert!(matches!(again, Err(DecodeError::UnknownSchema { .. })));
            }
        });
        let requests = requests.load(Ordering::SeqCst);
        // One per id, and our own schema once, or once more if the ids took over a second.
        assert!((51..=53).contains(&requests), "{requests} requests");
    }

    /// A registry serving a `User` schema under any id that references `n` schemas s0…s`n-1`,
    /// each `text(i)` answered after `delay`.
    fn registry_with_references(
        n: usize,
        delay: Duration,
        text: impl Fn(usize) -> String + Send + 'static,
    ) -> (String, Arc<AtomicUsize>) {
        let references: Vec<serde_json::Value> = (0..n)
            .map(|i| serde_json::json!({"name": format!("T{i}"), "subject": format!("s{i}"), "version": 1}))
            .collect();
        let user = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
        let body = serde_json::json!({ "schema": user, "references": references }).to_string();
        registry_answering(move |line| {
            if line.starts_with("GET /schemas/ids/") {
                return (200, body.clone());
            }
            std::thread::sleep(delay);
            let i: String = line
                .split("/subjects/s")
                .nth(1)
                .unwrap_or("0")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let i = i.parse().unwrap_or(0);
            (200, serde_json::json!({ "schema": text(i) }).to_string())
        })
    }

    fn small_fixed(i: usize) -> String {
        format!(r#"{{"type":"fixed","name":"T{i}","size":1}}"#)
    }

    /// 33 requests at 0.5 s each would hold the loop 16.5 s in one call (at 0.7 s, past the
    /// 20 s stall limit): a call sends requests for at most its budget, keeps what it fetched
    /// and says so, and the next call goes on from there; nothing is fetched twice.
    #[test]
    fn resolving_many_references_is_cut_into_calls_that_keep_what_they_fetched() {
        let max = crate::registry::MAX_REFERENCES;
        let (url, requests) =
            registry_with_references(max, Duration::from_millis(500), small_fixed);
        decoder_test(&url, |decoder| {
            let mut calls = 0;
            let decoded = loop {
                calls += 1;
                assert!(calls <= 1 + max, "{calls} calls");
                let before = requests.load(Ordering::SeqCst);
                let started = Instant::now();
                let outcome = decoder.decode(Some(&[0, 0, 0, 0, 7, 0x02, b'a']), None, &HERE);
                let (took, sent) = (started.elapsed(), requests.load(Ordering::SeqCst) - before);
                assert!(sent >= 1, "every call goes on");
                assert!(sent < 1 + max, "one call sent all {sent} requests");
                assert!(took < STALL_AFTER, "one call held the loop {took:?}");
                match outcome {
                    Err(DecodeError::Registry { error, .. }) if error.is_references_pending() => {}
                    outcome => break outcome,
                }
            };
            assert_eq!(decoded.expect("decoded").name, "a");
            assert!(calls > 1, "cut into calls");
            assert_eq!(
                requests.load(Ordering::SeqCst),
                1 + max,
                "each fetched once"
            );
            // Resolved: the references are kept for good; another id using them costs one.
            let outcome = decoder.decode(Some(&[0, 0, 0, 0, 8, 0x02, b'b']), None, &HERE);
            assert_eq!(outcome.expect("decoded").name, "b");
            assert_eq!(requests.load(Ordering::SeqCst), 2 + max);
        });
    }

    /// The patient decode asks again at once while references are being fetched, beating the
    /// heartbeat, not as a registry outage (no `registry_wait`, no WARN).
    #[test]
    fn a_patient_decode_goes_on_fetching_references_without_waiting_for_the_registry() {
        let (url, requests) =
            registry_with_references(3, Duration::from_millis(1_500), small_fixed);
        let stats = ConsumerStats::default();
        let shutdown = Shutdown::new();
        decoder_test(&url, |decoder| {
            let payload: &[u8] = &[0, 0, 0, 0, 7, 0x02, b'a'];
            let outcome =
                decoder.decode_patiently(Some(payload), None, &HERE, &shutdown, &stats, || {
                    "record".to_string()
                });
            assert_eq!(outcome.expect("not stopped").expect("decoded").1.name, "a");
            assert!(decoder.registry_requests() > 1, "cut into calls");
        });
        assert_eq!(requests.load(Ordering::SeqCst), 4);
        assert_eq!(stats.registry_wait.waited(), Duration::ZERO);
    }

    /// Referenced text the 1 MiB bound refuses is not kept: the refusal is remembered by the
    /// decoder, and another id using the same references fetches them again.
    #[test]
    fn referenced_text_refused_by_the_byte_bound_is_not_kept() {
        let big = |i: usize| {
            format!(
                r#"{{"type":"fixed","name":"T{i}","size":1,"doc":"{}"}}"#,
                "x".repeat(600 * 1024)
            )
        };
        let (url, requests) = registry_with_references(2, Duration::ZERO, big);
        decoder_test(&url, |decoder| {
            for id in [7u8, 8] {
                match decoder.decode(Some(&[0, 0, 0, 0, id, 0x02, b'a']), None, &HERE) {
                    Err(DecodeError::Schema { error, .. }) => {
                        assert!(error.to_string().contains("exceed"), "{error}");
                    }
                    other => panic!("expected a refused schema, got {other:?}"),
                }
            }
        });
        // Each id: its own answer and both references, refused (1.2 MiB); nothing kept.
        assert_eq!(
            requests.load(Ordering::SeqCst),
            6,
            "refused text is not kept"
        );
    }

    /// What the registry chooses (a schema type, its error message) reaches the per-record
    /// error and the decoder's map escaped and cut: no forged log line, no unbounded text.
    #[test]
    fn registry_chosen_text_is_escaped_and_cut_in_a_record_s_error() {
        let forged = format!("JSON\nERROR forged{}", "x".repeat(100_000));
        let not_avro = serde_json::json!({ "schema": "{}", "schemaType": forged }).to_string();
        let rejected = serde_json::json!({ "error_code": 40301, "message": forged }).to_string();
        let (url, _) = registry_answering(move |line| {
            if line.starts_with("GET /schemas/ids/7 ") {
                (200, not_avro.clone())
            } else {
                (403, rejected.clone())
            }
        });
        decoder_test(&url, |decoder| {
            for id in [7, 9] {
                let error = decoder
                    .decode(Some(&[0, 0, 0, 0, id, 0x02]), None, &HERE)
                    .expect_err("not Avro, or refused")
                    .to_string();
                assert!(!error.contains('\n'), "{error}");
                assert!(error.contains(r"JSON\nERROR forged"), "{error}");
                assert!(error.len() < 1_000, "{} bytes", error.len());
            }
        });
    }
}
