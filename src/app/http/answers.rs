//! What the endpoint answers: `/metrics`, `/healthz`, `/readyz`, and the refusals.

use std::time::Duration;

use super::request_head::Request;
use crate::app::metrics::{prometheus_text, Groups};
use crate::app::ConsumerKind;
use crate::ops::health::stalled_loops;
use crate::ops::stats::Stats;

/// What the answers are made of, borrowed for one turn.
pub(super) struct Answers<'a> {
    stats: &'a Stats,
    groups: &'a Groups,
    /// How long a consumer may wait for the registry before the daemon is not ready.
    degraded_after: Duration,
}

impl<'a> Answers<'a> {
    pub(super) fn new(
        stats: &'a Stats,
        groups: &'a Groups,
        degraded_after: Duration,
    ) -> Answers<'a> {
        Answers {
            stats,
            groups,
            degraded_after,
        }
    }

    /// The whole answer to a complete request head.
    pub(super) fn answer(&self, request: &Request) -> Vec<u8> {
        let (status, content_type, body) = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/metrics") => (
                "200 OK",
                "text/plain; version=0.0.4",
                prometheus_text(self.stats, self.groups),
            ),
            ("GET", "/healthz") => {
                let stalled = stalled_loops(&self.stats.heartbeats());
                if stalled.is_empty() {
                    ("200 OK", "text/plain", "ok\n".to_string())
                } else {
                    (
                        "503 Service Unavailable",
                        "text/plain",
                        format!("stalled: {}\n", stalled.join(", ")),
                    )
                }
            }
            ("GET", "/readyz") => match self.waiting_too_long() {
                None => ("200 OK", "text/plain", "ready\n".to_string()),
                Some(waiting) => ("503 Service Unavailable", "text/plain", waiting),
            },
            ("GET", _) => (
                "404 Not Found",
                "text/plain",
                "not found: try /metrics, /healthz or /readyz\n".to_string(),
            ),
            _ => (
                "405 Method Not Allowed",
                "text/plain",
                "GET only\n".to_string(),
            ),
        };
        response(status, content_type, &body)
    }

    /// Readiness, apart from liveness: a consumer waiting for the registry is alive (it will
    /// go on once the registry answers) but not doing its work, and so is one whose handler
    /// is failing and being retried. `Some` names who has waited for the registry longer than
    /// `REGISTRY_DEGRADED_AFTER_S`, and whose handler is failing (at once: it is not a peer's
    /// passing trouble).
    fn waiting_too_long(&self) -> Option<String> {
        let waiting: Vec<String> = ConsumerKind::ALL
            .iter()
            .flat_map(|&kind| {
                let stats = self.stats.consumer(kind);
                let registry = stats.registry_wait.waited();
                let registry = (registry > self.degraded_after).then(|| {
                    format!(
                        "{} waiting for the registry for {}s",
                        kind.name(),
                        registry.as_secs()
                    )
                });
                let handler = stats.handler_wait.is_waiting().then(|| {
                    format!(
                        "{} retrying its failing handler for {}s",
                        kind.name(),
                        stats.handler_wait.waited().as_secs()
                    )
                });
                registry.into_iter().chain(handler)
            })
            .collect();
        (!waiting.is_empty()).then(|| format!("degraded: {}\n", waiting.join(", ")))
    }
}

/// Status lines of the requests refused before they are routed.
pub(super) const BAD_REQUEST: &str = "400 Bad Request";
pub(super) const TIMEOUT: &str = "408 Request Timeout";
pub(super) const TOO_LARGE: &str = "431 Request Header Fields Too Large";

/// The answer to a request refused before it could be routed: the status and why.
pub(super) fn refusal(status: &str, reason: &str) -> Vec<u8> {
    response(status, "text/plain", &format!("{reason}\n"))
}

/// One HTTP/1.1 response, closing the connection.
fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::metrics::tests::groups;

    fn get(answers: &Answers<'_>, path: &str) -> String {
        let request = Request {
            method: "GET".to_string(),
            path: path.to_string(),
        };
        String::from_utf8(answers.answer(&request)).expect("UTF-8")
    }

    #[test]
    fn a_long_registry_wait_is_not_ready_but_alive() {
        let stats = Stats::default();
        let groups = groups();
        let answers = Answers::new(&stats, &groups, Duration::from_millis(10));
        assert!(get(&answers, "/readyz").starts_with("HTTP/1.1 200 OK"));
        let batch = stats.consumer(ConsumerKind::Batch);
        batch.registry_wait.start();
        std::thread::sleep(Duration::from_millis(30));
        let readyz = get(&answers, "/readyz");
        assert!(readyz.starts_with("HTTP/1.1 503"), "{readyz}");
        assert!(
            readyz.ends_with("degraded: batch consumer waiting for the registry for 0s\n"),
            "{readyz}"
        );
        assert!(get(&answers, "/healthz").starts_with("HTTP/1.1 200 OK"));
        batch.registry_wait.end();
        assert!(get(&answers, "/readyz").starts_with("HTTP/1.1 200 OK"));
    }

    #[test]
    fn a_failing_handler_is_not_ready_at_once_but_alive() {
        let stats = Stats::default();
        let groups = groups();
        let answers = Answers::new(&stats, &groups, Duration::from_secs(60));
        let single = stats.consumer(ConsumerKind::Single);
        single.handler_wait.start();
        let readyz = get(&answers, "/readyz");
        assert!(readyz.starts_with("HTTP/1.1 503"), "{readyz}");
        assert!(
            readyz.ends_with(
                "degraded: single-message consumer retrying its failing handler for 0s\n"
            ),
            "{readyz}"
        );
        assert!(get(&answers, "/healthz").starts_with("HTTP/1.1 200 OK"));
        single.handler_wait.end();
        assert!(get(&answers, "/readyz").starts_with("HTTP/1.1 200 OK"));
    }
}
