//! A blocking client for the Confluent Schema Registry REST API (also served by Apicurio's
//! `/apis/ccompat/v7`): register a schema under a subject, fetch a schema by id.
//!
//! Connection errors, timeouts and 5xx answers are retried a bounded number of times with
//! exponential backoff; a 4xx is final and reported with the registry's own message.

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde::Deserialize;

use super::error::RegistryError;
use crate::app::retry::{retry_until_stopped, Backoff};
use crate::app::shutdown::Shutdown;
use crate::config::Secret;
use crate::format::SchemaRef;
use crate::ops::log_target;

/// Content type the Confluent API speaks.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// Longest a request may take: connecting, then the whole answer.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest answer read: a schema is a few KiB; a registry that sends more is broken or
/// hostile, and its answer is not read into memory.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// Between retries of a failed request: from 200 ms, doubling up to 5 s, so the default five
/// retries span about 6 s, enough for a registry that restarts.
const RETRY_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5));

/// The part of a registry answer we read.
#[derive(Deserialize)]
struct IdResponse {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaResponse {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
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

/// Talks to one registry; cheap to share by reference between threads.
pub struct SchemaRegistryClient {
    base_url: String,
    http: Client,
    basic_auth: Option<(String, Option<String>)>,
    retries: u32,
    shutdown: Shutdown,
}

impl fmt::Debug for SchemaRegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaRegistryClient")
            .field("base_url", &self.base_url)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl SchemaRegistryClient {
    /// A client for `base_url` (which may carry a path). `user_info` is `user:password` for
    /// basic auth. Waits between retries end early when `shutdown` starts.
    pub fn new(
        base_url: &str,
        user_info: Option<&Secret>,
        retries: u32,
        shutdown: Shutdown,
    ) -> Result<SchemaRegistryClient, RegistryError> {
        let http = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| RegistryError::BadResponse {
                request: "HTTP client set-up".to_string(),
                error: e.to_string(),
            })?;
        let basic_auth = user_info
            .map(Secret::expose)
            .map(|info| match info.split_once(':') {
                Some((user, password)) => (user.to_string(), Some(password.to_string())),
                None => (info.to_string(), None),
            });
        Ok(SchemaRegistryClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
            basic_auth,
            retries,
            shutdown,
        })
    }

    /// Registers `schema` (Avro JSON) under `subject` and returns its id. Registering the same
    /// schema again returns the same id.
    pub fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        self.post_schema(
            &format!("{}/subjects/{subject}/versions", self.base_url),
            schema,
        )
    }

    /// Looks up the id of `schema` (Avro JSON) among the versions of `subject`, without writing
    /// to the registry: `POST /subjects/{subject}?normalize=true`, so a schema registered by
    /// another client with other formatting still matches. Retried like [`Self::register`].
    pub fn lookup(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = format!("{}/subjects/{subject}?normalize=true", self.base_url);
        self.post_schema(&url, schema)
    }

    /// The id and Avro schema text of the latest version under `subject`
    /// (`GET /subjects/{subject}/versions/latest`), without writing to the registry. Retried
    /// like [`Self::register`].
    pub fn latest(&self, subject: &str) -> Result<(u32, String), RegistryError> {
        let url = format!("{}/subjects/{subject}/versions/latest", self.base_url);
        let request = format!("GET {url}");
        let response = self.send(&request, self.retries, || self.http.get(&url))?;
        let parsed: VersionResponse = parse_json(&request, response)?;
        match parsed.schema_type.as_deref() {
            None | Some("AVRO") => Ok((parsed.id, parsed.schema)),
            Some(other) => Err(RegistryError::NotAvro {
                schema: SchemaRef::Id(parsed.id),
                schema_type: other.to_string(),
            }),
        }
    }

    /// POSTs `{"schema": schema}` to `url` (with retries) and reads the `id` of the answer.
    fn post_schema(&self, url: &str, schema: &str) -> Result<u32, RegistryError> {
        let body = serde_json::json!({ "schema": schema }).to_string();
        let request = format!("POST {url}");
        let response = self.send(&request, self.retries, || {
            self.http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .body(body.clone())
        })?;
        let parsed: IdResponse = parse_json(&request, response)?;
        Ok(parsed.id)
    }

    /// Fetches the Avro schema text with the given id, in one attempt: the consumers wait
    /// out a failure themselves (with their heartbeat beating), so no retries are hidden here.
    pub fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        self.schema(SchemaRef::Id(id))
    }

    /// Fetches the Avro schema text an id (`GET /schemas/ids/{id}`) or a GUID
    /// (`GET /schemas/guids/{guid}`, Confluent 8+) names, in one attempt like
    /// [`Self::schema_by_id`].
    pub fn schema(&self, schema: SchemaRef) -> Result<String, RegistryError> {
        let url = match schema {
            SchemaRef::Id(id) => format!("{}/schemas/ids/{id}", self.base_url),
            SchemaRef::Guid(guid) => format!("{}/schemas/guids/{guid}", self.base_url),
        };
        let request = format!("GET {url}");
        let response = self.send(&request, 0, || self.http.get(&url))?;
        let parsed: SchemaResponse = parse_json(&request, response)?;
        match parsed.schema_type.as_deref() {
            None | Some("AVRO") => Ok(parsed.schema),
            Some(other) => Err(RegistryError::NotAvro {
                schema,
                schema_type: other.to_string(),
            }),
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
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let attempts = retries + 1;
        let outcome = retry_until_stopped(
            &RETRY_BACKOFF,
            &self.shutdown,
            None,
            |attempt| match self.send_once(request, &build) {
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
                    "schema registry: {request} failed (attempt {attempt} of {attempts}): {error}; retrying in {delay:?}"
                );
            },
        );
        match outcome {
            // A stop that came during the last attempt: a requested stop, not a failure.
            Some(Err(RegistryError::Unavailable { .. })) | None if self.shutdown.is_stopping() => {
                Err(RegistryError::Interrupted)
            }
            Some(result) => result,
            None => Err(RegistryError::Interrupted),
        }
    }

    /// One try of a request.
    fn send_once(
        &self,
        request: &str,
        build: &impl Fn() -> RequestBuilder,
    ) -> Result<Response, Attempt> {
        let mut builder = build().header(
            reqwest::header::ACCEPT,
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some((user, password)) = &self.basic_auth {
            builder = builder.basic_auth(user, password.as_ref());
        }
        match builder.send() {
            Ok(response) if response.status().is_success() => Ok(response),
            Ok(response) if response.status().is_server_error() => {
                let status = response.status().as_u16();
                let (message, _) = error_body(response);
                Err(Attempt::Retryable(format!("HTTP {status}: {message}")))
            }
            Ok(response) => {
                let status = response.status();
                let (message, error_code) = error_body(response);
                Err(Attempt::Final(RegistryError::Rejected {
                    request: request.to_string(),
                    status: status.as_u16(),
                    message: rejection_message(status, message),
                    error_code,
                }))
            }
            Err(e) => Err(Attempt::Retryable(describe_transport_error(&e))),
        }
    }
}

/// How one try of a request failed.
enum Attempt {
    /// Worth another try: no answer, or a 5xx (the error as text).
    Retryable(String),
    /// The registry's final word.
    Final(RegistryError),
}

/// The body of `response`, at most [`MAX_RESPONSE_BYTES`] of it.
fn bounded_text(response: Response) -> Result<String, String> {
    let mut body = Vec::new();
    response
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("could not read the body: {e}"))?;
    if body.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(format!(
            "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
        ));
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn parse_json<T: for<'de> Deserialize<'de>>(
    request: &str,
    response: Response,
) -> Result<T, RegistryError> {
    let text = bounded_text(response).map_err(|error| RegistryError::BadResponse {
        request: request.to_string(),
        error,
    })?;
    serde_json::from_str(&text).map_err(|e| RegistryError::BadResponse {
        request: request.to_string(),
        error: format!("{e} in {}", truncate(&text)),
    })
}

fn rejection_message(status: StatusCode, message: String) -> String {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        format!("{message} (check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO)")
    } else {
        message
    }
}

/// The registry's `message` field, or the start of the body; and its `error_code`, if any.
fn error_body(response: Response) -> (String, Option<u32>) {
    let text = bounded_text(response).unwrap_or_default();
    let parsed = serde_json::from_str::<ErrorResponse>(&text).ok();
    let error_code = parsed.as_ref().and_then(|p| p.error_code);
    let message = match parsed {
        Some(ErrorResponse {
            message: Some(m), ..
        }) => m,
        _ if text.trim().is_empty() => "(empty body)".to_string(),
        _ => truncate(&text),
    };
    (message, error_code)
}

/// reqwest's top-level message hides the cause ("error sending request"); walk the chain.
fn describe_transport_error(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn truncate(text: &str) -> String {
    const LIMIT: usize = 200;
    match text.char_indices().nth(LIMIT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
