//! From a Kafka payload to a `User`: Confluent framing, writer schema by id (fetched from the
//! registry once per id), Avro decoding with resolution. Shared by both consumers.

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::unknown_ids::UnknownSchemaIds;
use crate::app::retry::{retry_until_stopped, Backoff};
use crate::app::shutdown::Shutdown;
use crate::format::{
    decode_framed, AvroError, AvroErrorKind, FrameError, User, UserCodec, WriterSchema,
};
use crate::ops::health::STALL_AFTER;
use crate::ops::log_target;
use crate::ops::stats::ConsumerStats;
use crate::registry::{RegistryError, SchemaRegistryClient};

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a Confluent-framed payload.
    Frame(FrameError),
    /// The writer schema could not be fetched yet; waited out, never the record's fault.
    Registry {
        /// The schema id in the message.
        id: u32,
        /// What the registry said.
        error: RegistryError,
    },
    /// The registry, healthy and serving this daemon's own schema, has answered 404 for this
    /// id for the whole grace period: the record's fault.
    UnknownSchema {
        /// The schema id in the message.
        id: u32,
        /// How long the 404s lasted at least.
        grace: Duration,
    },
    /// The writer schema is not a usable Avro schema.
    Schema {
        /// The schema id in the message.
        id: u32,
        /// Why it is unusable.
        error: AvroError,
    },
    /// The body does not decode with the writer schema into a `User`.
    Body {
        /// The schema id in the message.
        id: u32,
        /// What was wrong with the body.
        error: AvroError,
    },
}

impl DecodeError {
    /// Whether to wait and try again: the registry's failures (401/403/429/5xx, timeouts, a
    /// body that is not a schema, a 404 not yet confirmed) are never the record's fault.
    pub fn is_transient(&self) -> bool {
        matches!(self, DecodeError::Registry { .. })
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Frame(e) => write!(f, "{e}"),
            DecodeError::Registry { id, error } => write!(f, "writer schema {id}: {error}"),
            DecodeError::UnknownSchema { id, grace } => write!(
                f,
                "writer schema {id} is unknown to the registry (HTTP 404 for at least {grace:?} while it served this daemon's own schema)"
            ),
            DecodeError::Schema { id, error } => write!(f, "writer schema {id}: {error}"),
            DecodeError::Body { id, error } => write!(f, "schema id {id}: {error}"),
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

/// While the registry stays in one state, it is reported again this often.
const STILL_WAITING_EVERY: Duration = Duration::from_secs(60);

/// Decodes payloads for one consumer; caches writer schemas by id.
pub(crate) struct MessageDecoder<'a> {
    registry: &'a SchemaRegistryClient,
    codec: &'a UserCodec,
    /// Schema ids never change their schema, so a fetched one is kept for the run — and so is
    /// a refusal: a schema that cannot become `User` is fetched once, not once per message.
    schemas: HashMap<u32, Result<Arc<WriterSchema>, AvroError>>,
    /// The schema of the previous message: nearly always the one the next message needs.
    last: Option<(u32, Arc<WriterSchema>)>,
    /// Ids the registry answered 404 for, shared with the other consumer.
    unknown: &'a UnknownSchemaIds,
    /// The daemon's own schema id: if the registry still serves it, the registry is healthy
    /// and its 404s can be believed.
    own_schema_id: u32,
}

impl<'a> MessageDecoder<'a> {
    /// A decoder with an empty schema cache.
    pub(crate) fn new(
        registry: &'a SchemaRegistryClient,
        codec: &'a UserCodec,
        unknown: &'a UnknownSchemaIds,
        own_schema_id: u32,
    ) -> MessageDecoder<'a> {
        MessageDecoder {
            registry,
            codec,
            schemas: HashMap::new(),
            last: None,
            unknown,
            own_schema_id,
        }
    }

    /// Decodes one payload (`None` for a null value).
    pub(crate) fn decode(&mut self, payload: Option<&[u8]>) -> Result<User, DecodeError> {
        let (id, datum) = decode_framed(payload).map_err(DecodeError::Frame)?;
        // Moved out and back rather than cloned: no reference-count traffic per record.
        let writer = match self.last.take() {
            Some((last_id, schema)) if last_id == id => schema,
            _ => self.writer_schema(id)?,
        };
        let decoded = self.codec.decode(&writer, datum);
        self.last = Some((id, writer));
        decoded.map_err(|error| DecodeError::Body { id, error })
    }

    /// Decodes one payload; while the registry cannot answer, waits and tries again until it
    /// answers or shutdown begins, so a record is never skipped for the registry's fault. The
    /// wait is logged once per change of what the registry answers (and once a minute while
    /// it lasts), beats the loop's heartbeat and shows in the consumer's `registry_wait`
    /// figure. Returns `None` on shutdown: the message was not handled and its offset must
    /// not move.
    pub(crate) fn decode_patiently(
        &mut self,
        payload: Option<&[u8]>,
        shutdown: &Shutdown,
        stats: &ConsumerStats,
        describe: impl Fn() -> String,
    ) -> Option<Result<User, DecodeError>> {
        let mut reported: Option<(String, Instant)> = None;
        let outcome = retry_until_stopped(
            &REGISTRY_OUTAGE_BACKOFF,
            shutdown,
            Some(&stats.heartbeat),
            |_| match self.decode(payload) {
                Err(e) if e.is_transient() => ControlFlow::Continue(e),
                outcome => ControlFlow::Break(outcome),
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
        if reported.is_some() {
            stats.registry_wait.end();
            if outcome.is_some() {
                log::info!(target: log_target::DECODE, "{}: the registry answers again", describe());
            }
        }
        outcome
    }

    fn writer_schema(&mut self, id: u32) -> Result<Arc<WriterSchema>, DecodeError> {
        if let Some(known) = self.schemas.get(&id) {
            return known
                .clone()
                .map_err(|error| DecodeError::Schema { id, error });
        }
        let now = Instant::now();
        let grace = self.unknown.grace();
        if self.unknown.is_confirmed(id, now) {
            return Err(DecodeError::UnknownSchema { id, grace });
        }
        let text = match self.registry.schema_by_id(id) {
            Ok(text) => text,
            Err(error) if error.is_not_found() => {
                if self.unknown.not_found(id, now) && self.registry_serves_own_schema() {
                    self.unknown.confirm(id, now);
                    return Err(DecodeError::UnknownSchema { id, grace });
                }
                return Err(DecodeError::Registry { id, error });
            }
            // The id names a Protobuf or JSON schema: the writer's choice.
            Err(error @ RegistryError::NotAvro { .. }) => {
                return Err(DecodeError::Schema {
                    id,
                    error: AvroError::new(AvroErrorKind::Schema, error.to_string()),
                })
            }
            Err(error) => return Err(DecodeError::Registry { id, error }),
        };
        self.unknown.found(id);
        // Refused schemas are kept too: every message with their id is an error, and none
        // costs another registry request.
        let admitted = self.codec.writer_schema(&text).map(Arc::new);
        self.schemas.insert(id, admitted.clone());
        admitted.map_err(|error| DecodeError::Schema { id, error })
    }

    /// Whether the registry still serves this daemon's own schema, unchanged: then it is the
    /// same, healthy registry, and its 404 for another id can be believed.
    fn registry_serves_own_schema(&self) -> bool {
        self.registry
            .schema_by_id(self.own_schema_id)
            .ok()
            .and_then(|text| self.codec.writer_schema(&text).ok())
            .is_some_and(|schema| schema.is_reader_schema())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::Config;

    /// A registry on a local port that answers every request with `schema` and counts them.
    fn registry_serving(schema: &str) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        let body = serde_json::json!({ "schema": schema }).to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    &stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, requests)
    }

    #[test]
    fn a_refused_writer_schema_is_fetched_once_and_every_message_of_its_id_is_an_error() {
        let no_name = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;
        let (url, requests) = registry_serving(no_name);
        let config = Config::from_pairs(&[("SCHEMA_REGISTRY_URL", &url)]).expect("config");
        let registry =
            SchemaRegistryClient::new(&config, Shutdown::new()).expect("registry client");
        let codec = UserCodec::new().expect("codec");
        let unknown = UnknownSchemaIds::new(Duration::from_secs(30));
        let mut decoder = MessageDecoder::new(&registry, &codec, &unknown, 1);
        for _ in 0..5 {
            match decoder.decode(Some(&[0, 0, 0, 0, 7, 0x02])) {
                Err(DecodeError::Schema { id: 7, error }) => {
                    assert!(error.to_string().contains("no field `name`"), "{error}")
                }
                other => panic!("expected a schema error, got {other:?}"),
            }
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1, "fetched once");
    }
}
