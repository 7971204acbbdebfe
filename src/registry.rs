//! A blocking client for the Confluent Schema Registry REST API (also served by Apicurio's
//! `/apis/ccompat/v7`): register a schema under a subject, fetch a schema by id.
//!
//! Connection errors, timeouts and 5xx answers are retried a bounded number of times with
//! exponential backoff; a 4xx is final and reported with the registry's own message.

use std::fmt;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::shutdown::Shutdown;

/// Content type the Confluent API speaks.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// First retry delay; doubles on each retry up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A registry request that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// No answer, or only 5xx answers, after every retry.
    Unavailable {
        /// What was requested (method and URL).
        request: String,
        /// Attempts made.
        attempts: u32,
        /// The last error seen.
        error: String,
    },
    /// The registry answered 4xx: retrying will not help.
    Rejected {
        /// What was requested.
        request: String,
        /// HTTP status.
        status: u16,
        /// The registry's own message.
        message: String,
    },
    /// A 2xx answer that is not what the API promises.
    BadResponse {
        /// What was requested.
        request: String,
        /// What was wrong with it.
        error: String,
    },
    /// Shutdown began while waiting to retry.
    Interrupted,
}

impl RegistryError {
    /// Whether the same request may succeed later (the registry is down, not refusing).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RegistryError::Unavailable { .. } | RegistryError::Interrupted
        )
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Unavailable { request, attempts, error } => write!(
                f,
                "schema registry unreachable: {request} failed {attempts} times, last error: {error} \
                 (check SCHEMA_REGISTRY_URL and that the registry is running)"
            ),
            RegistryError::Rejected { request, status, message } => {
                write!(f, "schema registry rejected {request}: HTTP {status}: {message}")
            }
            RegistryError::BadResponse { request, error } => {
                write!(f, "schema registry gave an unexpected answer to {request}: {error}")
            }
            RegistryError::Interrupted => write!(f, "schema registry request interrupted by shutdown"),
        }
    }
}

impl std::error::Error for RegistryError {}

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
struct ErrorResponse {
    message: Option<String>,
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
        user_info: Option<&str>,
        retries: u32,
        shutdown: Shutdown,
    ) -> Result<SchemaRegistryClient, RegistryError> {
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
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
        let basic_auth = user_info.map(|info| match info.split_once(':') {
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
        let url = format!("{}/subjects/{subject}/versions", self.base_url);
        let body = serde_json::json!({ "schema": schema }).to_string();
        let request = format!("POST {url}");
        let response = self.send(&request, || {
            self.http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .body(body.clone())
        })?;
        let parsed: IdResponse = parse_json(&request, response)?;
        Ok(parsed.id)
    }

    /// Fetches the Avro schema text with the given id.
    pub fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        let url = format!("{}/schemas/ids/{id}", self.base_url);
        let request = format!("GET {url}");
        let response = self.send(&request, || self.http.get(&url))?;
        let parsed: SchemaResponse = parse_json(&request, response)?;
        match parsed.schema_type.as_deref() {
            None | Some("AVRO") => Ok(parsed.schema),
            Some(other) => Err(RegistryError::BadResponse {
                request,
                error: format!("schema {id} is of type {other}, not AVRO"),
            }),
        }
    }

    /// Sends the request built by `build`, retrying connection errors and 5xx answers.
    fn send(
        &self,
        request: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let attempts = self.retries + 1;
        let mut backoff = FIRST_BACKOFF;
        let mut last_error = String::new();
        for attempt in 1..=attempts {
            let mut builder = build().header(
                reqwest::header::ACCEPT,
                "application/vnd.schemaregistry.v1+json, application/json",
            );
            if let Some((user, password)) = &self.basic_auth {
                builder = builder.basic_auth(user, password.as_ref());
            }
            match builder.send() {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) if response.status().is_server_error() => {
                    last_error = format!(
                        "HTTP {}: {}",
                        response.status().as_u16(),
                        error_message(response)
                    );
                }
                Ok(response) => {
                    let status = response.status();
                    return Err(RegistryError::Rejected {
                        request: request.to_string(),
                        status: status.as_u16(),
                        message: rejection_message(status, response),
                    });
                }
                Err(e) => last_error = describe_transport_error(&e),
            }
            if attempt < attempts {
                log::warn!(
                    "schema registry: {request} failed (attempt {attempt} of {attempts}): {last_error}; retrying in {backoff:?}"
                );
                if self.shutdown.sleep(backoff) {
                    return Err(RegistryError::Interrupted);
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        Err(RegistryError::Unavailable {
            request: request.to_string(),
            attempts,
            error: last_error,
        })
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(
    request: &str,
    response: Response,
) -> Result<T, RegistryError> {
    let text = response.text().map_err(|e| RegistryError::BadResponse {
        request: request.to_string(),
        error: format!("could not read the body: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| RegistryError::BadResponse {
        request: request.to_string(),
        error: format!("{e} in {}", truncate(&text)),
    })
}

fn rejection_message(status: StatusCode, response: Response) -> String {
    let message = error_message(response);
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        format!("{message} (check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO)")
    } else {
        message
    }
}

/// The registry's `message` field, or the start of the body.
fn error_message(response: Response) -> String {
    let text = response.text().unwrap_or_default();
    match serde_json::from_str::<ErrorResponse>(&text) {
        Ok(ErrorResponse { message: Some(m) }) => m,
        _ if text.trim().is_empty() => "(empty body)".to_string(),
        _ => truncate(&text),
    }
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
