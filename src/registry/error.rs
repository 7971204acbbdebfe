//! How a registry request can fail, and which failures may pass by themselves.

use std::fmt;

use super::client::MAX_RESPONSE_BYTES;
use crate::config::without_url_secrets;
use crate::format::SchemaRef;

/// A registry request that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
        /// The Confluent `error_code` of the answer's body, if it had one.
        error_code: Option<u32>,
    },
    /// The HTTP client cannot be built with the configured TLS files or token.
    Setup {
        /// What is wrong.
        error: String,
    },
    /// The TLS handshake failed: the registry's certificate is not trusted, or it refused
    /// the client's certificate (or its absence). Retrying will not help.
    Tls {
        /// What was requested.
        request: String,
        /// The handshake's error, cause included.
        error: String,
        /// Whether the registry ended it with an alert (it refused the client's certificate
        /// or its absence), rather than the client refusing the registry's certificate.
        refused_by_registry: bool,
    },
    /// A 2xx answer that is not what the API promises.
    BadResponse {
        /// What was requested.
        request: String,
        /// What was wrong with it.
        error: String,
    },
    /// A 2xx answer larger than this client reads (1 MiB): for a writer schema from a
    /// registry that still serves our own, the schema itself is that large — the writer's
    /// choice, refused like one that is not Avro; otherwise waited out.
    TooLarge {
        /// What was requested.
        request: String,
    },
    /// The id names a schema that is not Avro: the writer's choice, not an outage.
    NotAvro {
        /// The schema's id or GUID.
        schema: SchemaRef,
        /// What the registry says it is.
        schema_type: String,
    },
    /// The schema's `references` can never be resolved (a cycle, too many or too deep, one
    /// that is not Avro or not JSON): the writer's choice, not an outage.
    BadReferences {
        /// The schema's id or GUID.
        schema: SchemaRef,
        /// What is wrong with them.
        reason: String,
    },
    /// A schema the id's schema references could not be fetched: the registry's failure.
    Reference {
        /// The referencing schema's id or GUID.
        schema: SchemaRef,
        /// The reference (its name, subject and version).
        reference: String,
        /// How fetching it failed.
        error: Box<RegistryError>,
    },
    /// The schema's references are still being fetched: one call sends requests for at most
    /// `ATTEMPT_BUDGET` (`registry/client.rs`) and keeps what it fetched. Progress, not an
    /// outage: asked again at once.
    ReferencesPending {
        /// The referencing schema's id or GUID.
        schema: SchemaRef,
        /// References fetched so far.
        fetched: usize,
    },
    /// Shutdown began: while waiting to retry, while waiting for an answer, or before a
    /// request was sent (then it is not).
    Interrupted,
}

impl RegistryError {
    /// Whether the registry said it has no such schema (HTTP 404). Only a definite answer
    /// from a healthy registry makes a record's unknown schema id the record's fault; a
    /// restarted, restored, lagging or wrong registry answers 404 too.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Rejected { status: 404, .. })
    }

    /// Whether the schema's references are still being fetched: to ask again at once.
    pub fn is_references_pending(&self) -> bool {
        matches!(self, RegistryError::ReferencesPending { .. })
    }

    /// Whether the registry's answer refuses the schema for good (not Avro, references that
    /// cannot be resolved): remembered, as every refused writer schema is.
    pub fn is_refused_schema(&self) -> bool {
        matches!(
            self,
            RegistryError::NotAvro { .. } | RegistryError::BadReferences { .. }
        )
    }

    /// Whether the answer was larger than this client reads: the schema's, or one of its
    /// references'.
    pub fn is_too_large(&self) -> bool {
        match self {
            RegistryError::TooLarge { .. } => true,
            RegistryError::Reference { error, .. } => error.is_too_large(),
            _ => false,
        }
    }

    /// Whether the registry (or a gateway in front of it) refuses the request's *route*: a
    /// 405 or 501, a 403 without a Confluent `error_code` (API gateways answer an unrouted
    /// path so; a registry's own refusal, RBAC's 40301, is a permission, waited out), or a
    /// bare 404 ([`RegistryError::is_missing_endpoint`]).
    pub fn is_route_refused(&self) -> bool {
        self.is_missing_endpoint()
            || matches!(
                self,
                RegistryError::Rejected {
                    status: 405 | 501,
                    ..
                } | RegistryError::Rejected {
                    status: 403,
                    error_code: None,
                    ..
                }
            )
    }

    /// Whether a 404 says the registry has no such *endpoint*, rather than no such schema: a
    /// registry that serves the path answers an unknown schema with a Confluent error body
    /// whose `error_code` is a 404xx (40403 "Schema not found"); Apicurio's ccompat API, which
    /// has no `/schemas/guids/…`, answers with an empty body, and Confluent's own REST layer
    /// answers an unmatched path with `error_code` 404.
    pub fn is_missing_endpoint(&self) -> bool {
        matches!(
            self,
            RegistryError::Rejected { status: 404, error_code, .. }
                if !error_code.is_some_and(|code| code / 100 == 404)
        )
    }
}

/// Every line says which request failed, and a transport error repeats its URL: both go
/// through `without_url_secrets`, so no user info, query or fragment of a URL reaches a log line
/// even if one got past the configuration's check.
impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = without_url_secrets;
        match self {
            RegistryError::Unavailable { request, attempts, error } => write!(
                f,
                "schema registry unreachable: {} failed {attempts} times, last error: {} \
                 (check SCHEMA_REGISTRY_URL and that the registry is running)",
                shown(request),
                shown(error)
            ),
            RegistryError::Rejected { request, status, message, .. } => {
                let request = shown(request);
                write!(f, "schema registry rejected {request}: HTTP {status}: {message}")
            }
            RegistryError::Setup { error } => {
                write!(f, "cannot set up the schema registry client: {error}")
            }
            RegistryError::Tls { request, error, refused_by_registry: true } => write!(
                f,
                "schema registry TLS handshake failed: {}: the registry refused the connection: {} (it wants a client certificate it trusts: check SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION and SCHEMA_REGISTRY_SSL_KEY_LOCATION)",
                shown(request),
                shown(error)
            ),
            RegistryError::Tls { request, error, refused_by_registry: false } => write!(
                f,
                "schema registry TLS handshake failed: {}: the registry's certificate is not trusted: {} (check SCHEMA_REGISTRY_SSL_CA_LOCATION: it must hold the CA that signed the registry's certificate)",
                shown(request),
                shown(error)
            ),
            RegistryError::BadResponse { request, error } => {
                let request = shown(request);
                write!(f, "schema registry gave an unexpected answer to {request}: {error}")
            }
            RegistryError::TooLarge { request } => {
                let request = shown(request);
                write!(
                    f,
                    "schema registry gave an unexpected answer to {request}: the answer is larger than {MAX_RESPONSE_BYTES} bytes"
                )
            }
            RegistryError::NotAvro { schema, schema_type } => {
                write!(f, "schema {schema} is of type {schema_type}, not AVRO")
            }
            RegistryError::BadReferences { schema, reason } => {
                write!(f, "schema {schema} has references that cannot be resolved: {reason}")
            }
            RegistryError::Reference { schema, reference, error } => write!(
                f,
                "schema {schema} references {reference}, which the registry cannot serve now: {error}"
            ),
            RegistryError::ReferencesPending { schema, fetched } => write!(
                f,
                "schema {schema}: its references are still being fetched ({fetched} so far)"
            ),
            RegistryError::Interrupted => write!(f, "schema registry request interrupted by shutdown"),
        }
    }
}

impl std::error::Error for RegistryError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found(error_code: Option<u32>) -> RegistryError {
        RegistryError::Rejected {
            request: "GET /schemas/guids/x".to_string(),
            status: 404,
            message: "(empty body)".to_string(),
            error_code,
        }
    }

    #[test]
    fn no_error_line_shows_a_urls_user_info_or_fragment() {
        let request = "GET http://bob:pa55@registry:8082/x#fr4g/schemas/ids/7".to_string();
        let transport = "error sending request for url (http://bob:pa55@registry:8082/x#fr4g/schemas/ids/7): connection refused".to_string();
        let errors = [
            RegistryError::Unavailable {
                request: request.clone(),
                attempts: 3,
                error: transport.clone(),
            },
            RegistryError::Rejected {
                request: request.clone(),
                status: 401,
                message: "unauthorized".to_string(),
                error_code: None,
            },
            RegistryError::Tls {
                request: request.clone(),
                error: transport.clone(),
                refused_by_registry: true,
            },
            RegistryError::Tls {
                request: request.clone(),
                error: transport,
                refused_by_registry: false,
            },
            RegistryError::BadResponse {
                request,
                error: "expected value".to_string(),
            },
        ];
        for error in errors {
            let line = error.to_string();
            for secret in ["bob", "pa55", "fr4g"] {
                assert!(!line.contains(secret), "{secret} shown: {line}");
            }
            assert!(
                line.contains("GET http://<redacted>@registry:8082/x#<redacted>"),
                "{line}"
            );
        }
    }

    #[test]
    fn no_error_line_shows_a_urls_query() {
        let request = "GET http://registry:8082/x?api_key=SECRET1/schemas/ids/7".to_string();
        let transport = "error sending request for url (http://registry:8082/x?api_key=SECRET1/schemas/ids/7): connection refused".to_string();
        let errors = [
            RegistryError::Unavailable {
                request: request.clone(),
                attempts: 3,
                error: transport.clone(),
            },
            RegistryError::Rejected {
                request: request.clone(),
                status: 401,
                message: "unauthorized".to_string(),
                error_code: None,
            },
            RegistryError::Tls {
                request: request.clone(),
                error: transport,
                refused_by_registry: true,
            },
            RegistryError::BadResponse {
                request,
                error: "expected value".to_string(),
            },
        ];
        for error in errors {
            let line = error.to_string();
            assert!(!line.contains("SECRET1"), "{line}");
            assert!(!line.contains("api_key"), "{line}");
            assert!(
                line.contains("GET http://registry:8082/x?<redacted>"),
                "{line}"
            );
        }
    }

    #[test]
    fn a_404_without_a_schema_not_found_code_is_a_missing_endpoint() {
        assert!(
            not_found(None).is_missing_endpoint(),
            "Apicurio: empty body"
        );
        assert!(
            not_found(Some(404)).is_missing_endpoint(),
            "Confluent: no such path"
        );
        for code in [40401, 40402, 40403] {
            assert!(!not_found(Some(code)).is_missing_endpoint(), "{code}");
            assert!(not_found(Some(code)).is_not_found());
        }
        let forbidden = RegistryError::Rejected {
            request: "GET /schemas/guids/x".to_string(),
            status: 403,
            message: String::new(),
            error_code: None,
        };
        assert!(!forbidden.is_missing_endpoint());
    }

    /// A reference's oversized answer is the schema's (refused, not waited out for good); a
    /// route refused is a bare 404, a 403, 405 or 501, not a Confluent 404xx.
    #[test]
    fn an_oversized_reference_is_too_large_and_refused_routes_are_told_from_missing_schemas() {
        let too_large = RegistryError::TooLarge {
            request: "GET /subjects/s/versions/1".to_string(),
        };
        let via_reference = RegistryError::Reference {
            schema: crate::format::SchemaRef::Id(9),
            reference: "s".to_string(),
            error: Box::new(too_large),
        };
        assert!(via_reference.is_too_large());
        let rejected = |status, error_code| RegistryError::Rejected {
            request: "GET /schemas/guids/x".to_string(),
            status,
            message: String::new(),
            error_code,
        };
        for refused in [
            rejected(404, None),
            rejected(404, Some(404)),
            rejected(403, None),
            rejected(405, None),
            rejected(501, None),
        ] {
            assert!(refused.is_route_refused(), "{refused}");
        }
        for not_refused in [
            rejected(404, Some(40403)),
            rejected(403, Some(40301)),
            rejected(401, None),
            rejected(500, None),
        ] {
            assert!(!not_refused.is_route_refused(), "{not_refused}");
        }
    }
}
