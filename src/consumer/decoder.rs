//! From a Kafka payload to a `User`: Confluent framing, writer schema by id (fetched from the
//! registry once per id), Avro decoding with resolution. Shared by both consumers.

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use crate::app::retry::{retry_until_stopped, Backoff};
use crate::app::shutdown::Shutdown;
use crate::format::{decode_framed, AvroError, FrameError, User, UserCodec, WriterSchema};
use crate::ops::health::{Heartbeat, STALL_AFTER};
use crate::ops::log_target;
use crate::registry::{RegistryError, SchemaRegistryClient};

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a Confluent-framed payload.
    Frame(FrameError),
    /// The writer schema could not be fetched.
    Registry {
        /// The schema id in the message.
        id: u32,
        /// What the registry said.
        error: RegistryError,
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
    /// Whether retrying later may succeed (the registry is down rather than the message bad).
    pub fn is_transient(&self) -> bool {
        matches!(self, DecodeError::Registry { error, .. } if error.is_transient())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Frame(e) => write!(f, "{e}"),
            DecodeError::Registry { id, error } => write!(f, "writer schema {id}: {error}"),
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

/// Decodes payloads for one consumer; caches writer schemas by id.
pub(crate) struct MessageDecoder<'a> {
    registry: &'a SchemaRegistryClient,
    codec: &'a UserCodec,
    /// Schema ids never change their schema, so a fetched one is kept for the run — and so is
    /// a refusal: a schema that cannot become `User` is fetched once, not once per message.
    schemas: HashMap<u32, Result<Arc<WriterSchema>, AvroError>>,
    /// The schema of the previous message: nearly always the one the next message needs.
    last: Option<(u32, Arc<WriterSchema>)>,
}

impl<'a> MessageDecoder<'a> {
    /// A decoder with an empty schema cache.
    pub(crate) fn new(
        registry: &'a SchemaRegistryClient,
        codec: &'a UserCodec,
    ) -> MessageDecoder<'a> {
        MessageDecoder {
            registry,
            codec,
            schemas: HashMap::new(),
            last: None,
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

    /// Decodes one payload; while the registry is unreachable, waits and tries again until it
    /// answers or shutdown begins, so the message is never skipped for a registry outage.
    /// Returns `None` on shutdown: the message was not handled and its offset must not move.
    pub(crate) fn decode_patiently(
        &mut self,
        payload: Option<&[u8]>,
        shutdown: &Shutdown,
        heartbeat: &Heartbeat,
        describe: impl Fn() -> String,
    ) -> Option<Result<User, DecodeError>> {
        retry_until_stopped(
            &REGISTRY_OUTAGE_BACKOFF,
            shutdown,
            Some(heartbeat),
            |_| match self.decode(payload) {
                Err(e) if e.is_transient() => ControlFlow::Continue(e),
                outcome => ControlFlow::Break(outcome),
            },
            |e, _, wait| {
                log::warn!(target: log_target::DECODE, "{}: {e}; will retry in {wait:?}", describe());
            },
        )
    }

    fn writer_schema(&mut self, id: u32) -> Result<Arc<WriterSchema>, DecodeError> {
        let admitted = match self.schemas.get(&id) {
            Some(known) => known.clone(),
            None => {
                let text = self
                    .registry
                    .schema_by_id(id)
                    .map_err(|error| DecodeError::Registry { id, error })?;
                let admitted = self.codec.writer_schema(&text).map(Arc::new);
                self.schemas.insert(id, admitted.clone());
                admitted
            }
        };
        admitted.map_err(|error| DecodeError::Schema { id, error })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

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
        let registry =
            SchemaRegistryClient::new(&url, None, 0, Shutdown::new()).expect("registry client");
        let codec = UserCodec::new().expect("codec");
        let mut decoder = MessageDecoder::new(&registry, &codec);
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
