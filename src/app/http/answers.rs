//! What the endpoint answers: the web console (`/` and `/api/status`), `/metrics`,
//! `/healthz`, `/readyz`, and the refusals.

use std::time::Duration;

use super::request_head::Request;
use crate::app::metrics::{prometheus_text, Groups};
use crate::app::web_console::status::Status;
use crate::app::web_console::{page, WebConsole};
use crate::app::ConsumerKind;
use crate::ops::health::stalled_loops;
use crate::ops::stats::Stats;

/// What the answers are made of, borrowed for one turn.
pub(super) struct Answers<'a> {
    stats: &'a Stats,
    groups: &'a Groups,
    /// How long a consumer may wait for the registry before the daemon is not ready.
    degraded_after: Duration,
    /// The web console, in the daemon (the endpoint's tests do without).
    console: Option<&'a WebConsole>,
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
            console: None,
        }
    }

    pub(super) fn with_console(self, console: &'a WebConsole) -> Answers<'a> {
        Answers {
            console: Some(console),
            ..self
        }
    }

    /// The whole answer to a complete request head.
    pub(super) fn answer(&self, request: &Request) -> Vec<u8> {
        let route = (request.method.as_str(), request.path.as_str(), self.console);
        let (status, content_type, body) = match route {
            ("GET", "/metrics", _) => (
                "200 OK",
                "text/plain; version=0.0.4",
                prometheus_text(self.stats, self.groups),
            ),
            ("GET", "/healthz", _) => {
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
            ("GET", "/readyz", _) => match self.waiting_too_long() {
                None => ("200 OK", "text/plain", "ready\n".to_string()),
                Some(waiting) => ("503 Service Unavailable", "text/plain", waiting),
            },
            ("GET", "/" | "/api/status", Some(_)) if !local_host(request.host.as_deref()) => (
                "403 Forbidden",
                "text/plain",
                "the console answers only requests to an IP address or localhost (Host)\n"
                    .to_string(),
            ),
            ("GET", "/", Some(console)) => (
                "200 OK",
                "text/html; charset=utf-8",
                page::render(&self.console_status(console)),
            ),
            ("GET", "/api/status", Some(console)) => (
                "200 OK",
                "application/json",
                // Plain numbers and strings: serializing cannot fail.
                serde_json::to_string(&self.console_status(console)).unwrap_or_default(),
            ),
            ("GET", _, _) => (
                "404 Not Found",
                "text/plain",
                "not found: try /, /metrics, /healthz or /readyz\n".to_string(),
            ),
            _ => (
                "405 Method Not Allowed",
                "text/plain",
                "GET only\n".to_string(),
            ),
        };
        response(status, content_type, &body)
    }

    fn console_status(&self, console: &WebConsole) -> Status {
        let heartbeats = self.stats.heartbeats();
        let stalled = stalled_loops(&heartbeats);
        console.status(self.stats, self.waiting_too_long(), &stalled)
    }

    /// Readiness, apart from liveness: a consumer waiting for the registry is alive (it will
    /// go on once the registry answers) but not doing its work, and so is one whose handler
    /// is failing and being retried, one holding a commit given up on, and one waiting for a
    /// dead-letter copy's acknowledgement. `Some` names who has waited for the registry longer
    /// than `REGISTRY_DEGRADED_AFTER_S`, whose handler is failing (at once: it is not a peer's
    /// passing trouble), who holds a commit (at once: it was retried for 10 s before it was
    /// given up), and who waits for a copy (at once: from its first failed or unacknowledged
    /// attempt).
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
                // Said at once, each: what the consumer is doing while it waits.
                let at_once = [
                    (&stats.handler_wait, "retrying its failing handler"),
                    (
                        &stats.commit_wait,
                        "holding a commit without an answer or failing",
                    ),
                    (
                        &stats.dead_letter_wait,
                        "waiting for a dead-letter copy to be acknowledged",
                    ),
                ]
                .into_iter()
                .filter(|(clock, _)| clock.is_waiting())
                .map(move |(clock, what)| {
                    format!("{} {what} for {}s", kind.name(), clock.waited().as_secs())
                });
                registry.into_iter().chain(at_once)
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

/// Whether a request's `Host` names this machine by address or as `localhost`, with or
/// without a port: what a browser sends to a console it was pointed at. A name that resolves
/// here only for the moment (DNS rebinding: a page the operator visits points its own name at
/// 127.0.0.1) must not read the records and figures. No `Host` (HTTP/1.0, a probe) is allowed:
/// browsers always send one.
fn local_host(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:9464`.
        Some(rest) => match rest.split_once(']') {
            Some((address, port)) if port.is_empty() || port.starts_with(':') => {
                return address.parse::<std::net::Ipv6Addr>().is_ok();
            }
            _ => return false,
        },
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// One HTTP/1.1 response, closing the connection. Nothing is cached or sniffed, and a page may
/// load nothing but its own inline style and images (the console has no script).
fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::metrics::tests::groups;

    #[test]
    fn the_console_answers_only_to_an_address_or_localhost() {
        for host in [
            None,
            Some("127.0.0.1"),
            Some("127.0.0.1:9464"),
            Some("10.1.2.3:80"),
            Some("LocalHost:9464"),
            Some("[::1]:9464"),
            Some("[::1]"),
        ] {
            assert!(local_host(host), "{host:?}");
        }
        for host in [
            Some("attacker.example:9464"),
            Some("localhost.attacker.example"),
            Some("[::1"),
            Some("[::1]x"),
            Some(""),
        ] {
            assert!(!local_host(host), "{host:?}");
        }
        let stats = Stats::default();
        let groups = groups();
        let console = crate::app::web_console::tests::console(0);
        let answers = Answers::new(&stats, &groups, Duration::from_secs(60)).with_console(&console);
        let request = |host: &str| Request {
            method: "GET".to_string(),
            path: "/api/status".to_string(),
            host: Some(host.to_string()),
        };
        let refused = String::from_utf8(answers.answer(&request("rebound.example"))).expect("text");
        assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
        let served = String::from_utf8(answers.answer(&request("localhost:9464"))).expect("text");
        assert!(served.starts_with("HTTP/1.1 200"), "{served}");
        assert!(
            served.contains("\r\nCache-Control: no-store\r\n"),
            "{served}"
        );
    }

    fn get(answers: &Answers<'_>, path: &str) -> String {
        let request = Request {
            method: "GET".to_string(),
            path: path.to_string(),
            host: Some("127.0.0.1:9464".to_string()),
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
    fn a_held_commit_or_an_unacknowledged_copy_is_not_ready_at_once_but_alive() {
        let stats = Stats::default();
        let groups = groups();
        let answers = Answers::new(&stats, &groups, Duration::from_secs(60));
        let batch = stats.consumer(ConsumerKind::Batch);
        batch.commit_wait.start();
        let readyz = get(&answers, "/readyz");
        assert!(readyz.starts_with("HTTP/1.1 503"), "{readyz}");
        assert!(
            readyz.ends_with(
                "degraded: batch consumer holding a commit without an answer or failing for 0s\n"
            ),
            "{readyz}"
        );
        assert!(get(&answers, "/healthz").starts_with("HTTP/1.1 200 OK"));
        batch.commit_wait.end();
        assert!(get(&answers, "/readyz").starts_with("HTTP/1.1 200 OK"));
        let single = stats.consumer(ConsumerKind::Single);
        single.dead_letter_wait.start();
        let readyz = get(&answers, "/readyz");
        assert!(
            readyz.ends_with("degraded: single-message consumer waiting for a dead-letter copy to be acknowledged for 0s\n"),
            "{readyz}"
        );
        single.dead_letter_wait.end();
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
