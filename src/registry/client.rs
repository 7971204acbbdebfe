//! A blocking client for the Confluent Schema Registry REST API (also served by Apicurio's
//! `/apis/ccompat/v7`): register a schema under a subject, fetch a schema by id.
//!
//! Connection errors, timeouts and 5xx answers are retried a bounded number of times with
//! exponential backoff; a 4xx is final and reported with the registry's own message.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde::Deserialize;

use super::error::RegistryError;
use super::references::{self, Failure, Reference, Refusal, Served};
use crate::config::{
    registry_identity as identity, without_url_secrets, Config, Secret, TokenFile,
};
use crate::format::SchemaRef;
use crate::lifecycle::retry::{retry_until_stopped, Backoff};
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::log_target;

/// Content type the Confluent API speaks.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// Longest a request may take: connecting, then the whole answer.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest answer read: a schema is a few KiB; a registry that sends more is broken or
/// hostile, and its answer is not read into memory.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// Between retries of a failed request: from 200 ms, doubling up to 5 s, each drawn from the
/// upper half of that (jitter), so the default twelve retries span 20.6–41.2 s: a registry that
/// restarts (a JVM: 5–20 s; the soak's registry kills are down 7–10 s) is waited out rather
/// than the start failing (`tests::the_default_retries_wait_out_a_twenty_second_restart`).
const RETRY_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5));

/// The part of a registry answer we read.
#[derive(Deserialize)]
struct IdResponse {
    id: u32,
}

#[derive(Deserialize)]
struct VersionOfResponse {
    version: u32,
}

#[derive(Deserialize)]
struct SchemaResponse {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    /// Types the schema uses from other subjects (Confluent's schema references).
    #[serde(default, deserialize_with = "objects_only")]
    references: Vec<Reference>,
}

/// A list of objects, each read as a `T`: serde's derived readers take an array too, filling
/// the fields by position, and a registry's answer is read as it says, by name, or not at all.
fn objects_only<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    let items = Vec::<serde_json::Value>::deserialize(deserializer)?;
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::Object(_) => serde_json::from_value(item).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "expected an object, found {other}"
            ))),
        })
        .collect()
}

impl From<SchemaResponse> for Served {
    fn from(answer: SchemaResponse) -> Served {
        Served {
            schema: answer.schema,
            schema_type: answer.schema_type,
            references: answer.references,
        }
    }
}

#[derive(Deserialize)]
struct VersionResponse {
    id: u32,
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    message: Option<String>,
    error_code: Option<u32>,
}

/// Referenced schemas kept for good at most, by number and by text: a version names one
/// schema for good, so each is fetched once while it fits; past the bounds, older ones make room.
const MAX_CACHED_REFERENCES: usize = 256;
const MAX_CACHED_REFERENCE_BYTES: usize = 8 * references::MAX_REFERENCED_BYTES;

/// How long one [`SchemaRegistryClient::schema`] call may go on sending requests: with one
/// request (at most [`REQUEST_TIMEOUT`]) started just before it ends, well under the 20 s a
/// consumer loop may go without a heartbeat (`ops/health.rs`, asserted in
/// `consumer/decoder.rs`).
pub(crate) const ATTEMPT_BUDGET: Duration = Duration::from_secs(2);

/// Schemas whose references are being fetched over several calls, kept at most: one per
/// consumer, with room to spare.
const MAX_PENDING: usize = 4;
/// How long an unfinished resolution is kept for the next call.
const PENDING_KEPT_FOR: Duration = Duration::from_secs(600);

/// Referenced schemas kept for good, by subject and version, bounded by number and bytes.
#[derive(Default)]
struct ReferenceCache {
    entries: HashMap<(String, i32), Served>,
    bytes: usize,
}

impl ReferenceCache {
    fn get(&self, key: &(String, i32)) -> Option<&Served> {
        self.entries.get(key)
    }

    /// Keeps `served`, making room if needed; -1 ("latest") names no schema for good.
    fn admit(&mut self, key: (String, i32), served: Served) {
        let size = served.schema.len();
        if key.1 <= 0 || size > MAX_CACHED_REFERENCE_BYTES || self.entries.contains_key(&key) {
            return;
        }
        while self.entries.len() >= MAX_CACHED_REFERENCES
            || self.bytes + size > MAX_CACHED_REFERENCE_BYTES
        {
            let Some(old) = self.entries.keys().next().cloned() else {
                break;
            };
            if let Some(gone) = self.entries.remove(&old) {
                self.bytes -= gone.schema.len();
            }
        }
        self.bytes += size;
        self.entries.insert(key, served);
    }
}

/// A schema whose references are still being fetched: its own answer and the references
/// fetched so far (each within the bounds of `registry/references.rs`).
struct Pending {
    root: Served,
    fetched: HashMap<(String, i32), Served>,
    since: Instant,
}

/// Unfinished resolutions, by schema.
#[derive(Default)]
struct PendingResolutions(HashMap<SchemaRef, Pending>);

impl PendingResolutions {
    fn remove(&mut self, schema: &SchemaRef) -> Option<Pending> {
        let pending = self.0.remove(schema)?;
        (pending.since.elapsed() < PENDING_KEPT_FOR).then_some(pending)
    }

    /// Keeps an unfinished resolution for the next call, dropping stale or surplus ones.
    fn keep(&mut self, schema: SchemaRef, root: Served, fetched: HashMap<(String, i32), Served>) {
        self.0.retain(|_, p| p.since.elapsed() < PENDING_KEPT_FOR);
        while self.0.len() >= MAX_PENDING {
            let oldest = self.0.iter().min_by_key(|(_, p)| p.since).map(|(s, _)| *s);
            match oldest {
                Some(oldest) => self.0.remove(&oldest),
                None => break,
            };
        }
        let since = Instant::now();
        self.0.insert(
            schema,
            Pending {
                root,
                fetched,
                since,
            },
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Talks to one registry; cheap to share by reference between threads.
pub struct SchemaRegistryClient {
    base_url: String,
    http: Client,
    /// Shared with its siblings.
    credentials: Arc<Credentials>,
    retries: u32,
    shutdown: Shutdown,
    /// Schemas fetched as references, by subject and version, shared by both consumers:
    /// only those of a resolution that succeeded.
    referenced: Mutex<ReferenceCache>,
    /// Resolutions that ran out of [`ATTEMPT_BUDGET`] or met a failed fetch, for the next call.
    pending: Mutex<PendingResolutions>,
}

impl fmt::Debug for SchemaRegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaRegistryClient")
            .field("base_url", &self.base_url)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// The longest the start-up check of the registry's API waits for an answer: it only warns
/// of a registry that does not answer, so it need not hold the start for a request's full
/// time.
const CHECK_API_TIMEOUT: Duration = Duration::from_secs(3);
/// Tries of each request of the check: a registry busy for one request's [`CHECK_API_TIMEOUT`]
/// (a JVM's pause under load) is asked again, so its 404 for a wrong path is still heard and
/// is not taken for a registry that does not answer. A hung one costs three timeouts.
const CHECK_API_ATTEMPTS: u32 = 3;

impl SchemaRegistryClient {
    /// A client for the registry `config` names, with its credentials and TLS settings. Waits
    /// between retries end early when `shutdown` starts.
    pub fn new(config: &Config, shutdown: Shutdown) -> Result<SchemaRegistryClient, RegistryError> {
        let setup_error = |error: String| RegistryError::Setup { error };
        let mut builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ));
        if let Some(ca) = &config.schema_registry_ca {
            // Only the given CAs, as Confluent's clients use schema.registry.ssl.truststore: a
            // private registry's certificate must not be accepted because a public CA signed it.
            let certificates = reqwest::Certificate::from_pem_bundle(&ca.pem)
                .map_err(|e| setup_error(format!("{}: {e}", ca.path)))?;
            builder = builder.tls_built_in_root_certs(false);
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let (Some(certificate), Some(key)) = (
            &config.schema_registry_certificate,
            &config.schema_registry_key,
        ) {
            builder = builder.identity(identity(certificate, key).map_err(setup_error)?);
        }
        let http = builder
            .build()
            .map_err(|e| setup_error(describe_transport_error(&e)))?;
        let credentials = match (
            &config.schema_registry_user_info,
            &config.schema_registry_bearer_token,
        ) {
            (Some(user_info), _) => {
                let info = user_info.expose();
                let (user, password) = match info.split_once(':') {
                    Some((user, password)) => (user.to_string(), Some(password.to_string())),
                    None => (info.to_string(), None),
                };
                Credentials::Basic { user, password }
            }
            (None, Some(file)) => Credentials::Bearer(BearerAuth {
                token: Mutex::new(file.read().map_err(setup_error)?),
                file: file.clone(),
                logical_cluster: config.schema_registry_logical_cluster.clone(),
                identity_pool: config.schema_registry_identity_pool.clone(),
            }),
            (None, None) => Credentials::None,
        };
        Ok(SchemaRegistryClient {
            base_url: config.schema_registry_url.trim_end_matches('/').to_string(),
            http,
            credentials: Arc::new(credentials),
            retries: config.schema_registry_retries,
            shutdown,
            referenced: Mutex::default(),
            pending: Mutex::default(),
        })
    }

    /// A client of the same registry whose waits end when `shutdown` starts, sharing this
    /// one's HTTP client (its connections, and the TLS roots that building a client loads:
    /// about 50 ms of CPU with the system's roots, which a second client built at start-up
    /// took from the consumers' first records) and its credentials (a bearer token read again
    /// after a 401 is read for both). Its caches start empty.
    pub(crate) fn sibling(&self, shutdown: Shutdown) -> SchemaRegistryClient {
        SchemaRegistryClient {
            base_url: self.base_url.clone(),
            http: self.http.clone(),
            credentials: Arc::clone(&self.credentials),
            retries: self.retries,
            shutdown,
            referenced: Mutex::default(),
            pending: Mutex::default(),
        }
    }

    /// Registers `schema` (Avro JSON) under `subject` and returns its id. Registering the same
    /// schema again returns the same id.
    pub fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = format!("{}/subjects/{subject}/versions", self.base_url);
        let parsed: IdResponse = self.post_schema(&url, schema)?;
        Ok(parsed.id)
    }

    /// Looks up the id of `schema` (Avro JSON) among the versions of `subject`, without writing
    /// to the registry: `POST /subjects/{subject}?normalize=true`, so a schema registered by
    /// another client with other formatting still matches. Retried like [`Self::register`].
    pub fn lookup(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = format!("{}/subjects/{subject}?normalize=true", self.base_url);
        let parsed: IdResponse = self.post_schema(&url, schema)?;
        Ok(parsed.id)
    }

    /// The version number of `schema` under `subject` (`POST /subjects/{subject}?normalize=true`,
    /// as [`Self::lookup`]), for the web console. Retried like [`Self::register`].
    pub fn version_of(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = format!("{}/subjects/{subject}?normalize=true", self.base_url);
        let parsed: VersionOfResponse = self.post_schema(&url, schema)?;
        Ok(parsed.version)
    }

    /// The id and Avro schema text of the latest version under `subject`
    /// (`GET /subjects/{subject}/versions/latest`), without writing to the registry. Retried
    /// like [`Self::register`].
    pub fn latest(&self, subject: &str) -> Result<(u32, String), RegistryError> {
        let url = format!("{}/subjects/{subject}/versions/latest", self.base_url);
        let request = format!("GET {url}");
        let answer = self.send(&request, self.retries, REQUEST_TIMEOUT, || {
            self.http.get(&url)
        })?;
        let parsed: VersionResponse = parse_json(&request, answer)?;
        avro_only(parsed.schema_type.as_deref(), SchemaRef::Id(parsed.id))?;
        Ok((parsed.id, parsed.schema))
    }

    /// POSTs `{"schema": schema}` to `url` (with retries) and reads the answer as `T`.
    fn post_schema<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        schema: &str,
    ) -> Result<T, RegistryError> {
        let body = serde_json::json!({ "schema": schema }).to_string();
        let request = format!("POST {url}");
        let answer = self.send(&request, self.retries, REQUEST_TIMEOUT, || {
            self.http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .body(body.clone())
        })?;
        parse_json(&request, answer)
    }

    /// Fetches the Avro schema text with the given id, in one attempt: the consumers wait
    /// out a failure themselves (with their heartbeat beating), so no retries are hidden here.
    pub fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        self.schema(SchemaRef::Id(id))
    }

    /// Fetches the Avro schema text an id (`GET /schemas/ids/{id}`) or a GUID
    /// (`GET /schemas/guids/{guid}`, Confluent 8+) names, in one attempt like
    /// [`Self::schema_by_id`]. A schema with `references` comes back self-contained, each
    /// referenced type defined at its first use (`registry/references.rs`).
    ///
    /// One call holds its caller's loop: it sends no request once [`ATTEMPT_BUDGET`] has
    /// passed, and then returns [`RegistryError::ReferencesPending`], keeping what it fetched
    /// for the next call (which the caller makes at once, its heartbeat beaten in between). So a
    /// call lasts at most the budget plus one request, and every call but the last sends at
    /// least one: a schema costs at most 1 + [`references::MAX_REFERENCES`] requests, however
    /// many calls it takes.
    pub fn schema(&self, schema: SchemaRef) -> Result<String, RegistryError> {
        let started = Instant::now();
        let pending = lock(&self.pending).remove(&schema);
        let (root, mut fetched) = match pending {
            Some(Pending { root, fetched, .. }) => (root, fetched),
            None => (self.fetch_root(schema)?, HashMap::new()),
        };
        let outcome = references::resolve(&root, &mut |reference| {
            let key = (reference.subject.clone(), reference.version);
            if let Some(served) = fetched.get(&key) {
                return Ok(served.clone());
            }
            if let Some(served) = lock(&self.referenced).get(&key) {
                return Ok(served.clone());
            }
            if started.elapsed() >= ATTEMPT_BUDGET {
                let fetched = fetched.len();
                return Err(RegistryError::ReferencesPending { schema, fetched });
            }
            let served = self.referenced(reference)?;
            fetched.insert(key, served.clone());
            Ok(served)
        });
        let failure = match outcome {
            Ok(text) => {
                // Only a whole resolution's references are kept for good.
                let mut cache = lock(&self.referenced);
                for ((subject, version), served) in fetched {
                    cache.admit((subject, version), served);
                }
                return Ok(text);
            }
            Err(failure) => failure,
        };
        if let Failure::Fetch(..) = failure {
            lock(&self.pending).keep(schema, root, fetched);
        }
        Err(match failure {
            Failure::Refused(Refusal(reason)) => RegistryError::BadReferences { schema, reason },
            Failure::Fetch(_, error @ RegistryError::Interrupted) => error,
            Failure::Fetch(_, error @ RegistryError::ReferencesPending { .. }) => error,
            Failure::Fetch(reference, error) => RegistryError::Reference {
                schema,
                reference: reference.to_string(),
                error: Box::new(error),
            },
        })
    }

    /// The registry's answer for `schema` itself, in one attempt: Avro, or refused.
    fn fetch_root(&self, schema: SchemaRef) -> Result<Served, RegistryError> {
        let url = match schema {
            SchemaRef::Id(id) => format!("{}/schemas/ids/{id}", self.base_url),
            SchemaRef::Guid(guid) => format!("{}/schemas/guids/{guid}", self.base_url),
        };
        let request = format!("GET {url}");
        let answer = self.send(&request, 0, REQUEST_TIMEOUT, || self.http.get(&url))?;
        let parsed: SchemaResponse = parse_json(&request, answer)?;
        avro_only(parsed.schema_type.as_deref(), schema)?;
        Ok(parsed.into())
    }

    /// One referenced schema (`GET /subjects/{subject}/versions/{version}`), in one attempt.
    fn referenced(&self, reference: &Reference) -> Result<Served, RegistryError> {
        let mut url = reqwest::Url::parse(&self.base_url).map_err(|e| RegistryError::Setup {
            error: format!("the registry URL: {e}"),
        })?;
        url.path_segments_mut()
            .map_err(|()| RegistryError::Setup {
                error: "the registry URL cannot have a path".to_string(),
            })?
            .pop_if_empty()
            .extend(["subjects", &reference.subject, "versions"])
            .push(&reference.version.to_string());
        let request = format!("GET {url}");
        let answer = self.send(&request, 0, REQUEST_TIMEOUT, || self.http.get(url.clone()))?;
        let parsed: SchemaResponse = parse_json(&request, answer)?;
        Ok(Served::from(parsed))
    }

    /// Whether the registry URL answers as a Schema Registry API, each request tried up to
    /// [`CHECK_API_ATTEMPTS`] times (a timeout, a refused connection or a 5xx is tried again)
    /// for at most [`CHECK_API_TIMEOUT`] each: `GET /schemas/types` (Confluent 5.5+, Apicurio's
    /// `ccompat` v6+, Karapace, Redpanda), and on a 404 there `GET /subjects`, which every
    /// version serves. Only both 404 make it a wrong path, which answers 404 for every schema
    /// id too, where a 404 is waited out per id before it is believed.
    pub(crate) fn check_api(&self) -> Result<(), RegistryError> {
        let get = |path: &str| {
            let url = format!("{}/{path}", self.base_url);
            let request = format!("GET {url}");
            self.send(&request, CHECK_API_ATTEMPTS - 1, CHECK_API_TIMEOUT, || {
                self.http.get(&url)
            })
            .map(drop)
        };
        let checked = match get("schemas/types") {
            // A stop during the first request: the second is not sent.
            Err(RegistryError::Rejected { status: 404, .. }) if !self.shutdown.is_stopping() => {
                get("subjects")
            }
            other => other,
        };
        match checked {
            // Whatever a request answered while the stop came, the check was interrupted: a
            // stop is never a usage error.
            Err(_) if self.shutdown.is_stopping() => Err(RegistryError::Interrupted),
            checked => checked,
        }
    }

    /// The longest [`SchemaRegistryClient::register`] can take before it gives up: every
    /// attempt timing out, plus the longest waits between them. Start-up tells systemd.
    pub fn longest_registration(&self) -> Duration {
        let attempts = self.retries + 1;
        let waits: Duration = (1..attempts).map(|a| RETRY_BACKOFF.longest(a)).sum();
        (CONNECT_TIMEOUT + REQUEST_TIMEOUT) * attempts + waits
    }

    /// Sends the request built by `build`, retrying connection errors and 5xx answers up to
    /// `retries` times.
    fn send(
        &self,
        request: &str,
        retries: u32,
        timeout: Duration,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Answer, RegistryError> {
        let attempts = retries + 1;
        let outcome = retry_until_stopped(
            &RETRY_BACKOFF,
            &self.shutdown,
            None,
            |attempt| match self.send_once(request, timeout, &build) {
                Ok(response) => ControlFlow::Break(Ok(response)),
                Err(Attempt::Final(error)) => ControlFlow::Break(Err(error)),
                Err(Attempt::Retryable(error)) if attempt < attempts => {
                    ControlFlow::Continue(error)
                }
                Err(Attempt::Retryable(error)) => {
                    ControlFlow::Break(Err(RegistryError::Unavailable {
                        request: request.to_string(),
                        attempts,
                        error,
                    }))
                }
            },
            |error, attempt, delay| {
                log::warn!(
                    target: log_target::REGISTRY,
                    "schema registry: {} failed (attempt {attempt} of {attempts}): {}; retrying in {delay:?}",
                    without_url_secrets(request),
                    without_url_secrets(&error)
                );
            },
        );
        match outcome {
            // A stop that came during an attempt: a requested stop, not a failure, whatever
            // the registry answered meanwhile.
            Some(Err(_)) | None if self.shutdown.is_stopping() => Err(RegistryError::Interrupted),
            Some(result) => result,
            None => Err(RegistryError::Interrupted),
        }
    }

    /// One try of a request. A 401 to a bearer token is answered by reading the token file
    /// again: when it holds a new token, the request is sent once more with it.
    fn send_once(
        &self,
        request: &str,
        timeout: Duration,
        build: &impl Fn() -> RequestBuilder,
    ) -> Result<Answer, Attempt> {
        let bearer = match &*self.credentials {
            Credentials::Bearer(bearer) => Some(bearer),
            Credentials::None | Credentials::Basic { .. } => None,
        };
        let token = bearer.map(BearerAuth::current);
        let mut outcome = self.send_with_credentials(build, timeout, token.as_ref())?;
        if let (Some(bearer), Some(refused), Ok(answer)) = (bearer, &token, &outcome) {
            if answer.status == StatusCode::UNAUTHORIZED {
                match bearer.reread(refused) {
                    Ok(Some(fresh)) => {
                        outcome = self.send_with_credentials(build, timeout, Some(&fresh))?
                    }
                    Ok(None) => {}
                    Err(error) => {
                        return Err(Attempt::Final(RegistryError::Rejected {
                            request: request.to_string(),
                            status: StatusCode::UNAUTHORIZED.as_u16(),
                            message: format!(
                                "the bearer token was refused, and reading it again failed: {error}"
                            ),
                            error_code: None,
                        }))
                    }
                }
            }
        }
        match outcome {
            Ok(answer) if answer.status.is_success() => Ok(answer),
            Ok(answer) if answer.status.is_server_error() => {
                let status = answer.status.as_u16();
                let (message, _) = error_body(answer);
                Err(Attempt::Retryable(format!("HTTP {status}: {message}")))
            }
            Ok(answer) => {
                let status = answer.status;
                let (message, error_code) = error_body(answer);
                Err(Attempt::Final(RegistryError::Rejected {
                    request: request.to_string(),
                    status: status.as_u16(),
                    message: self.rejection_message(status, message),
                    error_code,
                }))
            }
            Err(e) => match tls_failure(request, &e) {
                Some(error) => Err(Attempt::Final(error)),
                None => Err(Attempt::Retryable(describe_transport_error(&e))),
            },
        }
    }

    /// Sends the request built by `build` with the client's credentials (`token`: the bearer
    /// token to send, with bearer auth), answered whole within `timeout`; see
    /// [`Self::send_until_stopped`].
    fn send_with_credentials(
        &self,
        build: &impl Fn() -> RequestBuilder,
        timeout: Duration,
        token: Option<&Secret>,
    ) -> Result<reqwest::Result<Answer>, Attempt> {
        // Per request: reqwest's blocking client bounds each read of a body by its own
        // timeout, not the whole answer, so a registry sending a byte at a time would be
        // waited for far longer; this bounds the answer's head and body together.
        let mut builder = build().timeout(timeout).header(
            reqwest::header::ACCEPT,
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        match &*self.credentials {
            Credentials::None => {}
            Credentials::Basic { user, password } => {
                builder = builder.basic_auth(user, password.as_ref());
            }
            Credentials::Bearer(bearer) => {
                if let Some(token) = token {
                    builder = builder.bearer_auth(token.expose());
                }
                if let Some(cluster) = &bearer.logical_cluster {
                    builder = builder.header("target-sr-cluster", cluster);
                }
                if let Some(pool) = &bearer.identity_pool {
                    builder = builder.header("Confluent-Identity-Pool-Id", pool);
                }
            }
        }
        self.send_until_stopped(builder)
    }

    /// Sends `builder`'s request from a thread of its own, which also reads the answer's body,
    /// and waits for the whole answer or for a stop (then `Attempt::Final(Interrupted)`): a
    /// registry that holds a request, or its body, would otherwise hold a stop for the
    /// request's timeout (15 s), at start-up beyond `STOP_TIMEOUT_MS`. The thread left behind
    /// ends by that timeout, its answer dropped. A panic in it is the caller's again.
    fn send_until_stopped(
        &self,
        builder: RequestBuilder,
    ) -> Result<reqwest::Result<Answer>, Attempt> {
        if self.shutdown.is_stopping() {
            return Err(Attempt::Final(RegistryError::Interrupted));
        }
        let (answer, answered) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("registry-request".to_string())
            .spawn(move || {
                let read = builder.send().map(|response| Answer {
                    status: response.status(),
                    body: bounded_text(response),
                });
                // The receiver is gone after a stop: nobody waits for this answer any more.
                let _ = answer.send(read);
            })
            .map_err(|e| {
                Attempt::Retryable(format!("cannot start a thread for the request: {e}"))
            })?;
        crossbeam_channel::select! {
            recv(answered) -> read => match read {
                Ok(read) => Ok(read),
                // The thread ended without answering: it panicked.
                Err(_) => match thread.join() {
                    Err(panic) => std::panic::resume_unwind(panic),
                    Ok(()) => Err(Attempt::Retryable(
                        "the request's thread ended without an answer".to_string(),
                    )),
                },
            },
            recv(self.shutdown.wake_receiver()) -> _ => Err(Attempt::Final(RegistryError::Interrupted)),
        }
    }

    /// A 4xx's message, with what to check when the credentials were refused.
    fn rejection_message(&self, status: StatusCode, message: String) -> String {
        if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
            return message;
        }
        match &*self.credentials {
            Credentials::None => format!(
                "{message} (the registry wants credentials: set SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO or SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE)"
            ),
            Credentials::Basic { .. } => {
                format!("{message} (check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO)")
            }
            Credentials::Bearer(bearer) => format!(
                "{message} (check the token in SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE={}, read again after the 401, and SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER, SCHEMA_REGISTRY_BEARER_AUTH_IDENTITY_POOL_ID)",
                bearer.file.path
            ),
        }
    }
}

/// What the client proves itself with to the registry.
enum Credentials {
    None,
    /// HTTP basic auth (`SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO`).
    Basic {
        user: String,
        password: Option<String>,
    },
    /// A bearer token from a file, with the headers Confluent Cloud routes it by.
    Bearer(BearerAuth),
}

/// A bearer token and where it comes from. The token is shared by every thread that asks the
/// registry; the one that meets a 401 reads the file again for all of them.
struct BearerAuth {
    file: TokenFile,
    token: Mutex<Secret>,
    logical_cluster: Option<String>,
    identity_pool: Option<String>,
}

impl BearerAuth {
    fn current(&self) -> Secret {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the token file again after the registry refused `refused` with a 401: the token
    /// to try once more, when the file holds another one (compared with the refused token, not
    /// the current one: another thread may have read the new token first).
    fn reread(&self, refused: &Secret) -> Result<Option<Secret>, String> {
        let fresh = self.file.read()?;
        let mut token = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        if *token != fresh {
            log::info!(
                target: log_target::REGISTRY,
                "schema registry answered 401: read a new bearer token from {}",
                self.file.path
            );
            *token = fresh.clone();
        }
        Ok((fresh != *refused).then_some(fresh))
    }
}

/// A registry's answer, read whole on the request's thread.
struct Answer {
    status: StatusCode,
    /// At most [`MAX_RESPONSE_BYTES`] of it, or why it could not be read.
    body: Result<String, Unread>,
}

/// Why an answer's body was not read.
#[derive(Debug)]
enum Unread {
    /// It is larger than [`MAX_RESPONSE_BYTES`].
    TooLarge,
    /// The connection failed or timed out while it was read.
    Failed(String),
}

/// How one try of a request failed.
enum Attempt {
    /// Worth another try: no answer, or a 5xx (the error as text).
    Retryable(String),
    /// The registry's final word.
    Final(RegistryError),
}

/// The body of `response`, at most [`MAX_RESPONSE_BYTES`] of it.
fn bounded_text(response: Response) -> Result<String, Unread> {
    let mut body = Vec::new();
    response
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| Unread::Failed(format!("could not read the body: {e}")))?;
    if body.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(Unread::TooLarge);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn parse_json<T: for<'de> Deserialize<'de>>(
    request: &str,
    answer: Answer,
) -> Result<T, RegistryError> {
    let text = answer.body.map_err(|unread| match unread {
        Unread::TooLarge => RegistryError::TooLarge {
            request: request.to_string(),
        },
        Unread::Failed(error) => RegistryError::BadResponse {
            request: request.to_string(),
            error,
        },
    })?;
    let Some(text) = json_object(&text) else {
        return Err(RegistryError::BadResponse {
            request: request.to_string(),
            error: format!("not a JSON object: {}", references::registry_text(&text)),
        });
    };
    serde_json::from_str(text).map_err(|e| RegistryError::BadResponse {
        request: request.to_string(),
        error: format!("{e} in {}", references::registry_text(text)),
    })
}

/// `text` without a leading byte order mark (RFC 8259, 8.1, lets a reader ignore it), if it is
/// a JSON object. Only objects are read: serde's derived readers take an array too, filling
/// the fields by position, so a list of subjects, `["t-value","orders-value"]`, read as a
/// schema of type "orders-value" (refused for the rest of the run) and `[5]` as id 5. (Nested
/// lists of structs: `objects_only`.)
fn json_object(text: &str) -> Option<&str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.trim_start().starts_with('{').then_some(text)
}

/// The registry's `message` field, or the start of the body; and its `error_code`, if any.
fn error_body(answer: Answer) -> (String, Option<u32>) {
    let text = answer.body.unwrap_or_default();
    let parsed = json_object(&text).and_then(|o| serde_json::from_str::<ErrorResponse>(o).ok());
    let error_code = parsed.as_ref().and_then(|p| p.error_code);
    let message = match parsed {
        Some(ErrorResponse {
            message: Some(m), ..
        }) => references::registry_text(&m),
        _ if text.trim().is_empty() => "(empty body)".to_string(),
        _ => references::registry_text(&text),
    };
    (message, error_code)
}

/// A registry answer's `schemaType` (absent for Avro, as Confluent's registry answers) must be
/// Avro: the daemon reads nothing else.
fn avro_only(schema_type: Option<&str>, schema: SchemaRef) -> Result<(), RegistryError> {
    match schema_type {
        None | Some("AVRO") => Ok(()),
        Some(other) => Err(RegistryError::NotAvro {
            schema,
            schema_type: references::registry_text(other),
        }),
    }
}

/// reqwest's top-level message hides the cause ("error sending request"); walk the chain.
fn describe_transport_error(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        // Some errors repeat their cause in their own message.
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// What failed in the TLS handshake of `request`, if `e` is such a failure (an untrusted
/// certificate, a refused or missing client certificate): a configuration fault that no retry
/// mends, unlike a refused connection. Only a failure OpenSSL gives reasons for counts; a
/// connection that dropped during the handshake (no reason, only an I/O error) is retried like
/// any other. Said as OpenSSL's reasons and the certificate check's result, e.g.
/// "certificate verify failed (unable to get local issuer certificate)", without OpenSSL's
/// codes and source lines.
fn tls_failure(request: &str, e: &reqwest::Error) -> Option<RegistryError> {
    let mut reasons: Option<String> = None;
    let mut verify_result: Option<String> = None;
    let mut refused_by_peer = false;
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        // An `io::Error` hides the error it wraps from `source()` (a failure after the
        // handshake, such as a TLS 1.3 "certificate required" alert, arrives as one).
        let wrapped = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for error in std::iter::once(cause).chain(wrapped) {
            // native-tls's `source()` skips its `ssl::Error` and gives the `ErrorStack`.
            let stack = error
                .downcast_ref::<openssl::error::ErrorStack>()
                .or_else(|| error.downcast_ref::<openssl::ssl::Error>()?.ssl_error());
            if let Some(stack) = stack {
                // OpenSSL's reason for a received alert is 1000 + the alert's number.
                refused_by_peer |= stack
                    .errors()
                    .iter()
                    .any(|e| (1000..1256).contains(&(e.code() & 0x7F_FFFF)));
                let text: Vec<&str> = stack.errors().iter().filter_map(|e| e.reason()).collect();
                if !text.is_empty() {
                    reasons = Some(text.join("; "));
                }
            }
            if error.is::<native_tls::Error>() {
                // native-tls appends the certificate check's result as " (<result>)".
                let text = error.to_string();
                verify_result = error
                    .source()
                    .and_then(|inner| text.strip_prefix(&inner.to_string()))
                    .and_then(|rest| rest.strip_prefix(" ("))
                    .and_then(|rest| rest.strip_suffix(')'))
                    .map(str::to_string);
            }
        }
        source = cause.source();
    }
    let reasons = reasons?;
    Some(RegistryError::Tls {
        request: request.to_string(),
        error: match verify_result {
            Some(result) => format!("{reasons} ({result})"),
            None => reasons,
        },
        refused_by_registry: refused_by_peer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_answer(body: &str) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: Ok(body.to_string()),
        }
    }

    /// A 200 whose body is a JSON array is a bad answer, waited out like any other, never a
    /// schema or an id read by position (a review's probe: a subject list behind the schema's
    /// URL made both groups dead-letter the record as "of type orders-value, not AVRO").
    #[test]
    fn an_array_answer_is_a_bad_answer_not_fields_by_position() {
        let schema =
            parse_json::<SchemaResponse>("GET x", ok_answer(r#"["t-value","orders-value"]"#));
        assert!(
            matches!(&schema, Err(RegistryError::BadResponse { error, .. }) if error.starts_with("not a JSON object")),
            "{:?}",
            schema.err().map(|e| e.to_string())
        );
        let id = parse_json::<IdResponse>("POST x", ok_answer(" [5]"));
        assert!(matches!(id, Err(RegistryError::BadResponse { .. })));
        let id = parse_json::<IdResponse>("POST x", ok_answer(r#" {"id": 5}"#));
        assert_eq!(id.ok().map(|i| i.id), Some(5));
        let nested = parse_json::<SchemaResponse>(
            "GET x",
            ok_answer(r#"{"schema":"\"string\"","references":[["n","other-subject",3]]}"#),
        );
        assert!(matches!(nested, Err(RegistryError::BadResponse { .. })));
        let by_name = parse_json::<SchemaResponse>(
            "GET x",
            ok_answer(
                r#"{"schema":"\"string\"","references":[{"name":"n","subject":"s","version":3}]}"#,
            ),
        );
        assert_eq!(by_name.ok().map(|r| r.references.len()), Some(1));
        let with_bom = parse_json::<IdResponse>("POST x", ok_answer("\u{feff}{\"id\": 7}"));
        assert_eq!(with_bom.ok().map(|i| i.id), Some(7));
        let (message, code) = error_body(Answer {
            status: StatusCode::NOT_FOUND,
            body: Ok(r#"["gone", 40403]"#.to_string()),
        });
        assert_eq!((message.as_str(), code), (r#"["gone", 40403]"#, None));
    }
    use crate::registry::fake_registry::{registry_replying, FakeRegistry};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Even with every wait drawn at its shortest, the default retries of the start-up
    /// registration span 20 s of a registry that refuses connections while it restarts. (The
    /// default five of before spanned 3.1–6.2 s, and a soak's daemon restarted into a registry
    /// kill exited 1.)
    #[test]
    fn the_default_retries_wait_out_a_twenty_second_restart() {
        let config = Config::from_pairs(&[]).expect("config");
        let shortest: Duration = (1..=config.schema_registry_retries)
            .map(|attempt| RETRY_BACKOFF.longest(attempt) / 2)
            .sum();
        assert!(shortest >= Duration::from_secs(20), "{shortest:?}");
    }

    /// A stop during a request the registry holds ends the request at once, not at its timeout
    /// (15 s): at start-up nothing else bounds that stop (`STOP_TIMEOUT_MS` guards the loops').
    #[test]
    fn a_stop_during_a_held_request_ends_it_at_once() {
        let registry = registry_replying(|_, _| None);
        stop_during_registration(&registry.url, Arc::clone(&registry.requests));
    }

    /// A registry that answers every request with a 200 head for a 100-byte body, then holds
    /// the body (`drip: None`) or sends a byte of it every `drip`; its URL, and how many
    /// requests it has read.
    fn slow_body_registry(drip: Option<Duration>) -> (String, Arc<AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counted = Arc::clone(&counted);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                        line.clear();
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    let mut stream = stream;
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
                    if stream.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    for _ in 0..100 {
                        match drip {
                            None => std::thread::sleep(Duration::from_secs(60)),
                            Some(every) => std::thread::sleep(every),
                        }
                        if stream.write_all(b" ").is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, requests)
    }

    /// A stop while the registry holds the body of its answer ends the wait at once, and the
    /// registration is interrupted (exit 0 at start-up), not a bad answer (exit 1).
    #[test]
    fn a_stop_during_a_held_body_ends_it_at_once() {
        let (url, requests) = slow_body_registry(None);
        stop_during_registration(&url, requests);
    }

    /// Registers at `url` and stops 200 ms after the registry has read the request (counted
    /// in `requests`): the registration must be interrupted within 2 s of the stop.
    fn stop_during_registration(url: &str, requests: Arc<AtomicUsize>) {
        let config = Config::from_pairs(&[("SCHEMA_REGISTRY_URL", url)]).expect("config");
        let shutdown = Shutdown::new();
        let client = SchemaRegistryClient::new(&config, shutdown.clone()).expect("client");
        let took =
            interrupted_by_a_stop(&shutdown, requests, 1, Duration::from_millis(200), || {
                client.register("s-value", r#""string""#)
            });
        assert!(
            took < Duration::from_secs(2),
            "returned {took:?} after the stop"
        );
    }

    /// Calls `call`, and stops `shutdown` `settle` after the registry has read `at_least`
    /// requests (counted in `requests`) while it runs; asserts the call was interrupted, and
    /// returns how long after the stop it returned.
    fn interrupted_by_a_stop<T: fmt::Debug>(
        shutdown: &Shutdown,
        requests: Arc<AtomicUsize>,
        at_least: usize,
        settle: Duration,
        call: impl FnOnce() -> Result<T, RegistryError>,
    ) -> Duration {
        let stopper = shutdown.clone();
        let stop = std::thread::spawn(move || {
            while requests.load(Ordering::SeqCst) < at_least {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(settle);
            stopper.stop(crate::lifecycle::shutdown::StopReason::Requested);
            Instant::now()
        });
        let answer = call();
        let returned = Instant::now();
        let stopped = stop.join().expect("the stopping thread");
        assert!(
            matches!(answer, Err(RegistryError::Interrupted)),
            "{answer:?}"
        );
        returned.saturating_duration_since(stopped)
    }

    /// An answer is bounded as a whole by the request's timeout: a body sent a byte at a time
    /// (10 s here) is cut at the timeout, though every single read is quick.
    #[test]
    fn a_body_sent_a_byte_at_a_time_is_cut_at_the_request_timeout() {
        let (url, _) = slow_body_registry(Some(Duration::from_millis(100)));
        let config = Config::from_pairs(&[("SCHEMA_REGISTRY_URL", url.as_str())]).expect("config");
        let client = SchemaRegistryClient::new(&config, Shutdown::new()).expect("client");
        let started = Instant::now();
        let answer = client.send("GET /", 0, Duration::from_millis(700), || {
            client.http.get(url.as_str())
        });
        let took = started.elapsed();
        let body = answer.map(|answer| answer.body);
        assert!(
            matches!(body, Ok(Err(_)) | Err(_)),
            "the whole body came: {:?}",
            body.map(|b| b.map(|t| t.len()))
        );
        assert!(took < Duration::from_secs(4), "took {took:?}");
    }

    /// A sibling (the console's version ask) talks to the same registry with the same
    /// credentials (a bearer token's state shared: one read again after a 401 serves both),
    /// and its waits end with its own stop handle, not the original's, which goes on.
    #[test]
    fn a_sibling_asks_with_the_same_credentials_and_stops_with_its_own_handle() {
        use std::sync::atomic::AtomicBool;
        let busy = Arc::new(AtomicBool::new(false));
        let busy_now = Arc::clone(&busy);
        let registry = registry_replying(move |_, _| {
            Some(if busy_now.load(Ordering::SeqCst) {
                (503, r#"{"error_code":50301,"message":"busy"}"#.to_string())
            } else {
                (
                    200,
                    r#"{"id":7,"version":3,"subject":"s-value","schema":"\"string\""}"#.to_string(),
                )
            })
        });
        let config = Config::from_pairs(&[
            ("SCHEMA_REGISTRY_URL", registry.url.as_str()),
            ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "reader:s3cret"),
        ])
        .expect("config");
        let client = SchemaRegistryClient::new(&config, Shutdown::new()).expect("client");
        let version = |client: &SchemaRegistryClient| client.version_of("s-value", r#""string""#);
        assert_eq!(version(&client).expect("version"), 3);
        let stopped = Shutdown::new();
        let sibling = client.sibling(stopped.clone());
        assert_eq!(version(&sibling).expect("version"), 3);
        let basic = Some("Basic cmVhZGVyOnMzY3JldA==".to_string()); // reader:s3cret
        assert_eq!(registry.authorizations(), [basic.clone(), basic]);

        // The registry turns busy: the sibling retries until its own handle stops it.
        busy.store(true, Ordering::SeqCst);
        let requests = Arc::clone(&registry.requests);
        let took =
            interrupted_by_a_stop(&stopped, requests, 3, Duration::ZERO, || version(&sibling));
        assert!(
            took < Duration::from_secs(5),
            "returned {took:?} after the stop"
        );
        // The original is not stopped with it.
        busy.store(false, Ordering::SeqCst);
        assert_eq!(
            version(&client).expect("version after the sibling's stop"),
            3
        );

        let token = std::env::temp_dir().join(format!("token-{}", uuid::Uuid::new_v4()));
        std::fs::write(&token, "t0k3n").expect("write token");
        let token_path = token.to_string_lossy().into_owned();
        let config = Config::from_pairs(&[
            ("SCHEMA_REGISTRY_URL", registry.url.as_str()),
            (
                "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE",
                token_path.as_str(),
            ),
        ])
        .expect("config");
        let client = SchemaRegistryClient::new(&config, Shutdown::new()).expect("client");
        let sibling = client.sibling(Shutdown::new());
        assert!(Arc::ptr_eq(&client.credentials, &sibling.credentials));
        assert_eq!(version(&sibling).expect("version"), 3);
        let _ = std::fs::remove_file(&token);
        let last = registry.authorizations().pop().flatten();
        assert_eq!(last.as_deref(), Some("Bearer t0k3n"));
    }

    /// A registry that holds its first `held` requests unanswered and answers the rest with
    /// `status`; its URL with a wrong path.
    fn wrong_path_registry(held: usize, status: u16) -> (String, FakeRegistry) {
        let registry = registry_replying(move |n, _| {
            (n >= held).then(|| {
                (
                    status,
                    format!(r#"{{"error_code":{status},"message":"refused"}}"#),
                )
            })
        });
        (format!("{}/wrong", registry.url), registry)
    }

    /// The API check asks a registry that held one request again: its 404 for a wrong path
    /// (both paths) is a rejection, not a registry that does not answer (which only warns,
    /// and the console went on to wait per record on a URL that can never serve a schema).
    #[test]
    fn the_api_check_asks_again_after_a_request_the_registry_held() {
        let (url, registry) = wrong_path_registry(1, 404);
        let config = Config::from_pairs(&[("SCHEMA_REGISTRY_URL", url.as_str())]).expect("config");
        let client = SchemaRegistryClient::new(&config, Shutdown::new()).expect("client");
        let checked = client.check_api();
        assert!(
            matches!(checked, Err(RegistryError::Rejected { status: 404, .. })),
            "{checked:?}"
        );
        assert_eq!(
            registry.paths(),
            [
                "/wrong/schemas/types",
                "/wrong/schemas/types",
                "/wrong/subjects"
            ]
        );
    }

    /// A stop that comes while the check runs makes it interrupted, whatever the registry
    /// answered: refused credentials (401) too, which would otherwise be a usage error (exit
    /// 2) where a stop is exit 0.
    #[test]
    fn a_stop_during_the_api_check_interrupts_it_whatever_the_registry_answered() {
        let shutdown = Shutdown::new();
        // The stop comes while the registry answers the first request, with a 401.
        let stopper = shutdown.clone();
        let registry = registry_replying(move |_, _| {
            stopper.stop(crate::lifecycle::shutdown::StopReason::Requested);
            Some((401, r#"{"error_code":401,"message":"refused"}"#.to_string()))
        });
        let checked = |url: &str| {
            let config = Config::from_pairs(&[("SCHEMA_REGISTRY_URL", url)]).expect("config");
            let client = SchemaRegistryClient::new(&config, shutdown.clone()).expect("client");
            let checked = client.check_api();
            assert!(
                matches!(checked, Err(RegistryError::Interrupted)),
                "{checked:?}"
            );
        };
        checked(&format!("{}/wrong", registry.url));
        assert_eq!(registry.paths(), ["/wrong/schemas/types"]);

        // Stopped before it begins: nothing is sent.
        let (url, registry) = wrong_path_registry(0, 401);
        checked(&url);
        assert!(registry.paths().is_empty(), "{:?}", registry.paths());
    }

    /// The cache of referenced schemas is bounded by its text, not only by count: 12 answers
    /// of 1 MiB each leave at most 8 MiB kept, and the newest one is kept (room is made).
    #[test]
    fn the_reference_cache_is_bounded_by_bytes_and_makes_room_for_new_ones() {
        let mut cache = ReferenceCache::default();
        let big = " ".repeat(references::MAX_REFERENCED_BYTES);
        for i in 0..12 {
            let served = Served {
                schema: big.clone(),
                schema_type: None,
                references: Vec::new(),
            };
            cache.admit((format!("s{i}"), 1), served);
            let kept: usize = cache.entries.values().map(|s| s.schema.len()).sum();
            assert_eq!(kept, cache.bytes);
            assert!(
                cache.bytes <= MAX_CACHED_REFERENCE_BYTES,
                "{} bytes",
                cache.bytes
            );
            assert!(cache.get(&(format!("s{i}"), 1)).is_some(), "s{i} kept");
        }
        let latest = Served {
            schema: "{}".to_string(),
            schema_type: None,
            references: Vec::new(),
        };
        cache.admit(("latest".to_string(), -1), latest);
        assert!(
            cache.get(&("latest".to_string(), -1)).is_none(),
            "-1 is not kept"
        );
    }

    #[test]
    fn every_request_refused_with_the_old_token_is_retried_with_the_new_one() {
        let path = std::env::temp_dir().join(format!("token-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, "old").expect("write token");
        let bearer = BearerAuth {
            file: TokenFile {
                path: path.display().to_string(),
            },
            token: Mutex::new(Secret::new("old")),
            logical_cluster: None,
            identity_pool: None,
        };
        let old = bearer.current();
        std::fs::write(&path, "new\n").expect("rotate token");
        // Two threads sent the old token; the first to meet the 401 reads the new one, and
        // the second must still retry, although the shared token changed under it.
        for _ in 0..2 {
            let retry = bearer.reread(&old).expect("readable").expect("a new token");
            assert_eq!(retry.expose(), "new");
        }
        assert_eq!(bearer.current().expose(), "new");
        // Refused with the newest token: nothing new to try.
        assert!(bearer
            .reread(&bearer.current())
            .expect("readable")
            .is_none());
        let _ = std::fs::remove_file(path);
    }
}
