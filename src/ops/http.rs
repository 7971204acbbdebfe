//! The HTTP endpoint on `METRICS_ADDR`: `GET /metrics` (Prometheus text) and `GET /healthz`
//! (200 while every loop makes progress, else 503 naming the stalled loop), over plain
//! HTTP/1.1. Deliberately tiny (one request per connection, GET only): it serves scrapes and
//! probes, nothing else. What it must get right is that no client — slow, silent, oversized or
//! one of a flood — keeps the probe from its answer or the daemon from stopping.
//!
//! # One thread, `poll(2)`
//!
//! The `metrics` thread owns every connection. All sockets are non-blocking; each turn waits
//! in `poll(2)` ([`sys`]) until any of them is ready, then moves each ready connection on:
//! take what arrived of the request head ([`request_head`]), or write what the socket takes of
//! the answer. A slow or silent client holds a slot in the table and nothing else, so every
//! other client is answered as soon as its bytes arrive. A turn never waits longer than
//! [`STOP_CHECK`], so `serve` returns within about that once the daemon stops, whatever the
//! clients do; the connections still open are closed then.
//!
//! The other design considered, a non-blocking accept loop handing connections to a small
//! pool of worker threads doing blocking reads, is not simpler once it meets the same bounds:
//! N slow clients occupy N workers, so the probe waits unless the workers can be interrupted
//! in `read` — to enforce a whole-request deadline, to close the idlest connection for a new
//! one, and to stop — which takes shared state between the acceptor and the workers. Here one
//! owner makes the cap, the eviction, the deadlines and the stop a few lines each, with no
//! locks. The answers are built in microseconds from in-memory counters, so one thread is not
//! a bottleneck. The price is two small `unsafe` calls through `libc`: `poll(2)`, and
//! `listen(2)` to queue more connections than std's default (below).
//!
//! # Bounds ([`LIMITS`])
//!
//! - At most 64 open connections. When the table is full, a new connection closes the one
//!   idle longest (no bytes in either direction for the longest time), so a flood of idle
//!   connections cannot lock out the probe, and the daemon's descriptors stay bounded.
//! - The request head (request line and header lines) is at most 8 KiB and 64 header lines,
//!   else `431 Request Header Fields Too Large` and close; a request line that is not text is
//!   `400 Bad Request`.
//! - 5 s from accept to the end of the head, for the whole head rather than per read, else
//!   `408 Request Timeout` (if the socket takes it at once) and close; 5 s to write the answer,
//!   else close.
//! - The kernel queues up to 1,024 connections not yet accepted, so a burst does not make it
//!   drop the probe's connection attempt while the thread is descheduled.

mod request_head;
mod sys;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use request_head::{Progress, Request, RequestHead};
use sys::{Interest, PollSet};

use super::health::stalled_loops;
use super::log_target;
use super::metrics::{prometheus_text, Groups};
use super::stats::Stats;
use crate::app::error::StartError;
use crate::app::shutdown::Shutdown;

/// The endpoint's bounds: [`LIMITS`] in the daemon, smaller ones in some tests.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Connections open at once; a new one beyond this closes the one idle longest.
    connections: usize,
    /// Bytes of the request line and header lines together.
    head_bytes: usize,
    /// Header lines.
    headers: usize,
    /// From accept to the end of the request head.
    request_deadline: Duration,
    /// From the end of the request head to the answer's last byte.
    write_deadline: Duration,
}

/// The daemon's bounds (no variables: nobody has needed to tune them).
const LIMITS: Limits = Limits {
    // A scraper and a probe or two use a handful at once; 64 leaves room for several of
    // each and stays far below any open-file limit (1024 by default).
    connections: 64,
    // Scrapes and probes send 100–300 bytes; 8 KiB is what nginx and Apache accept per header
    // line by default, so nothing legitimate comes near it.
    head_bytes: 8 * 1024,
    // Prometheus sends about 5 header lines, the kubelet about 4; 64 leaves room for proxies.
    headers: 64,
    // Scrapers and probes send the whole head right after connecting. 5 s is far beyond that
    // yet half of Prometheus' default scrape timeout, and it bounds how long a slow client
    // holds a slot whatever pace it sends at.
    request_deadline: Duration::from_secs(5),
    // The largest answer (/metrics) is a few KiB, which the socket's send buffer takes at
    // once; a client that has not read it within 5 s is gone.
    write_deadline: Duration::from_secs(5),
};

/// Connections the kernel queues until the thread accepts them. std's 128 overflowed when
/// 1,000 connections came at once while the thread was descheduled (the daemon and three
/// brokers share two cores here): the kernel then drops new connection attempts, a probe's
/// among them, and the client retries only after a second. A queued connection costs the
/// kernel a socket, not the daemon a descriptor.
const ACCEPT_BACKLOG: u16 = 1024;

/// The longest `poll(2)` wait, so a stop is seen within about this, whatever the clients do.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// After a failed accept (out of descriptors, say), how long new connections wait while the
/// open ones are still served, and after a failed `poll(2)`, how long the endpoint waits: a
/// failure that repeats would otherwise spin and flood the log.
const FAILURE_BACKOFF: Duration = Duration::from_millis(500);

/// Binds the metrics address; done at start-up so a taken port is a start-up error.
pub(crate) fn bind(address: &str) -> Result<TcpListener, StartError> {
    let failed = |error| StartError::MetricsAddress {
        address: address.to_string(),
        error,
    };
    let listener = TcpListener::bind(address).map_err(failed)?;
    listener.set_nonblocking(true).map_err(failed)?;
    sys::set_backlog(&listener, ACCEPT_BACKLOG).map_err(failed)?;
    Ok(listener)
}

/// Serves `/metrics` and `/healthz` until shutdown, and returns within about [`STOP_CHECK`]
/// of it. `listener` comes from [`bind`] (non-blocking).
pub(crate) fn serve(listener: TcpListener, stats: &Stats, groups: &Groups, shutdown: &Shutdown) {
    serve_within(listener, stats, groups, shutdown, LIMITS);
}

/// [`serve`] with the bounds given.
fn serve_within(
    listener: TcpListener,
    stats: &Stats,
    groups: &Groups,
    shutdown: &Shutdown,
    limits: Limits,
) {
    if let Ok(address) = listener.local_addr() {
        log::info!(target: log_target::METRICS, "metrics on http://{address}/metrics, health on http://{address}/healthz");
    }
    let mut endpoint = Endpoint {
        listener,
        connections: Vec::new(),
        limits,
        stats,
        groups,
        accept_after: None,
        poll: PollSet::default(),
    };
    while !shutdown.is_stopping() {
        if let Err(e) = endpoint.turn() {
            log::warn!(target: log_target::METRICS, "metrics: waiting for clients failed: {e}");
            shutdown.sleep(FAILURE_BACKOFF);
        }
    }
    // Dropping the endpoint closes the listener and every connection still open.
}

/// The listener and every open connection, owned by the `metrics` thread.
struct Endpoint<'a> {
    listener: TcpListener,
    /// In order of acceptance; never more than `limits.connections`.
    connections: Vec<Connection>,
    limits: Limits,
    stats: &'a Stats,
    groups: &'a Groups,
    /// While accepting is paused after a failure: when it resumes.
    accept_after: Option<Instant>,
    /// Reused from turn to turn.
    poll: PollSet,
}

impl Endpoint<'_> {
    /// One turn: close what is past its deadline, wait until a socket is ready (at most until
    /// the next deadline or [`STOP_CHECK`]), move the ready connections on, then accept.
    fn turn(&mut self) -> std::io::Result<()> {
        let now = Instant::now();
        self.connections
            .retain_mut(|connection| !connection.expire(now));
        if self.accept_after.is_some_and(|after| now >= after) {
            self.accept_after = None;
        }
        let accepting = self.accept_after.is_none();

        self.poll.clear();
        let mut wait = STOP_CHECK;
        if let Some(after) = self.accept_after {
            wait = wait.min(after.saturating_duration_since(now));
        }
        for connection in &self.connections {
            self.poll.add(&connection.stream, connection.interest());
            wait = wait.min(connection.deadline().saturating_duration_since(now));
        }
        // The listener goes last, so connection `i` is at index `i`.
        let listener_index = accepting.then(|| self.poll.add(&self.listener, Interest::Read));
        match self.poll.wait(wait) {
            Ok(()) => {}
            // A signal (SIGINT reaches any thread): the caller checks for a stop.
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }

        let now = Instant::now();
        let (answers, limits, poll) = (
            Answers::new(self.stats, self.groups),
            &self.limits,
            &self.poll,
        );
        let mut index = 0;
        self.connections.retain_mut(|connection| {
            let ready = poll.is_ready(index);
            index += 1;
            !ready || connection.advance(now, &answers, limits) == Step::Open
        });
        if listener_index.is_some_and(|index| self.poll.is_ready(index)) {
            self.accept(now);
        }
        Ok(())
    }

    /// Accepts what is waiting, at most a table's worth per turn so that a flood of new
    /// connections cannot starve the open ones.
    fn accept(&mut self, now: Instant) {
        let answers = Answers::new(self.stats, self.groups);
        for _ in 0..self.limits.connections {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // The client gave up before it was accepted; the next one may be waiting.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted | ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    log::warn!(target: log_target::METRICS, "metrics: accept failed: {e}");
                    self.accept_after = Some(now + FAILURE_BACKOFF);
                    return;
                }
            };
            if let Err(e) = stream.set_nonblocking(true) {
                log::debug!(target: log_target::METRICS, "metrics: {peer}: {e}");
                continue;
            }
            if self.connections.len() >= self.limits.connections {
                self.close_idlest();
            }
            let mut connection = Connection::new(stream, peer, now, self.limits);
            // A probe sends its request with the connection: answering it now means nothing
            // accepted after it in this turn can close it first.
            if connection.advance(now, &answers, &self.limits) == Step::Open {
                self.connections.push(connection);
            }
        }
    }

    /// Closes the connection idle longest, making room for a new one. Logged at debug level
    /// only: a flood would otherwise flood the log too.
    fn close_idlest(&mut self) {
        if let Some(index) = idlest(self.connections.iter().map(|c| c.last_active)) {
            let closed = self.connections.remove(index);
            log::debug!(
                target: log_target::METRICS,
                "metrics: {}: closed to make room ({} connections open)",
                closed.peer,
                self.limits.connections
            );
        }
    }
}

/// The position of the earliest of `last_active` (the first of equals: the earliest accepted).
fn idlest(last_active: impl Iterator<Item = Instant>) -> Option<usize> {
    last_active
        .enumerate()
        .min_by_key(|(_, at)| *at)
        .map(|(index, _)| index)
}

/// Whether a connection stays open after a turn.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Open,
    Close,
}

/// One client's connection: one request, one answer, then closed.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// The last time bytes moved either way (or the accept): what "idle longest" compares.
    last_active: Instant,
    phase: Phase,
}

/// Where a connection is in its one exchange.
enum Phase {
    /// Taking the request head until `deadline`.
    Reading {
        head: RequestHead,
        deadline: Instant,
    },
    /// Writing `answer`, of which `written` bytes are out, until `deadline`.
    Writing {
        answer: Vec<u8>,
        written: usize,
        deadline: Instant,
    },
}

impl Connection {
    fn new(stream: TcpStream, peer: SocketAddr, now: Instant, limits: Limits) -> Connection {
        Connection {
            stream,
            peer,
            last_active: now,
            phase: Phase::Reading {
                head: RequestHead::new(limits.head_bytes, limits.headers),
                deadline: now + limits.request_deadline,
            },
        }
    }

    /// What the connection waits for.
    fn interest(&self) -> Interest {
        match self.phase {
            Phase::Reading { .. } => Interest::Read,
            Phase::Writing { .. } => Interest::Write,
        }
    }

    /// When the current phase runs out.
    fn deadline(&self) -> Instant {
        match self.phase {
            Phase::Reading { deadline, .. } | Phase::Writing { deadline, .. } => deadline,
        }
    }

    /// Whether the phase ran out at `now`. A client still sending its head is told so with
    /// a 408 if the socket takes it at once: nothing waits on a client past its deadline.
    fn expire(&mut self, now: Instant) -> bool {
        if now < self.deadline() {
            return false;
        }
        let phase = match self.phase {
            Phase::Reading { .. } => {
                let _ = self
                    .stream
                    .write(&refusal(TIMEOUT, "request head not received in time"));
                "request head"
            }
            Phase::Writing { .. } => "answer",
        };
        log::debug!(target: log_target::METRICS, "metrics: {}: {phase} past its deadline; closed", self.peer);
        true
    }

    /// Reads or writes what the socket allows now; [`Step::Close`] once the exchange is over.
    fn advance(&mut self, now: Instant, answers: &Answers<'_>, limits: &Limits) -> Step {
        match self.phase {
            Phase::Reading { .. } => self.read(now, answers, limits),
            Phase::Writing { .. } => self.write(now),
        }
    }

    /// Takes what has arrived of the head (never more than its bound) and, once it is
    /// complete or refused, starts the answer.
    fn read(&mut self, now: Instant, answers: &Answers<'_>, limits: &Limits) -> Step {
        let Phase::Reading { head, .. } = &mut self.phase else {
            return Step::Open;
        };
        let mut buffer = [0u8; 4096];
        let answer = loop {
            let room = head.room().min(buffer.len());
            match self.stream.read(&mut buffer[..room]) {
                Ok(0) => {
                    log::debug!(target: log_target::METRICS, "metrics: {}: closed by the client before its request ended", self.peer);
                    return Step::Close;
                }
                Ok(received) => {
                    self.last_active = now;
                    match head.push(&buffer[..received]) {
                        Progress::Incomplete => continue,
                        Progress::Complete(request) => break answers.answer(&request),
                        Progress::TooLarge => {
                            break refusal(
                                TOO_LARGE,
                                &format!("request head over {} bytes", limits.head_bytes),
                            )
                        }
                        Progress::TooManyHeaders => {
                            break refusal(
                                TOO_LARGE,
                                &format!("over {} header lines", limits.headers),
                            )
                        }
                        Progress::Malformed => {
                            break refusal(BAD_REQUEST, "request line is not text")
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Open,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!(target: log_target::METRICS, "metrics: {}: request failed: {e}", self.peer);
                    return Step::Close;
                }
            }
        };
        self.phase = Phase::Writing {
            answer,
            written: 0,
            deadline: now + limits.write_deadline,
        };
        // The send buffer is nearly always empty here: write now rather than wait a turn.
        self.write(now)
    }

    /// Writes what the socket takes of the answer; [`Step::Close`] once it is all out.
    fn write(&mut self, now: Instant) -> Step {
        let Phase::Writing {
            answer, written, ..
        } = &mut self.phase
        else {
            return Step::Open;
        };
        while *written < answer.len() {
            match self.stream.write(&answer[*written..]) {
                Ok(0) => return Step::Close,
                Ok(sent) => {
                    *written += sent;
                    self.last_active = now;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Open,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!(target: log_target::METRICS, "metrics: {}: answer failed: {e}", self.peer);
                    return Step::Close;
                }
            }
        }
        Step::Close
    }
}

impl Drop for Connection {
    /// Closes in the order that lets the client read the answer: end our side first, then
    /// discard what the client sent that was not read (the rest of an oversized head, say).
    /// Closing a socket with unread bytes makes the kernel send a reset, which can destroy an
    /// answer the client has not read yet. Without blocking: what has not arrived yet is not
    /// waited for.
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Direction::Write);
        let mut discard = [0u8; 4096];
        for _ in 0..16 {
            match self.stream.read(&mut discard) {
                Ok(received) if received > 0 => {}
                _ => break,
            }
        }
    }
}

/// What the answers are made of, borrowed for one turn.
struct Answers<'a> {
    stats: &'a Stats,
    groups: &'a Groups,
}

impl<'a> Answers<'a> {
    fn new(stats: &'a Stats, groups: &'a Groups) -> Answers<'a> {
        Answers { stats, groups }
    }

    /// The whole answer to a complete request head.
    fn answer(&self, request: &Request) -> Vec<u8> {
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
            ("GET", _) => (
                "404 Not Found",
                "text/plain",
                "not found: try /metrics or /healthz\n".to_string(),
            ),
            _ => (
                "405 Method Not Allowed",
                "text/plain",
                "GET only\n".to_string(),
            ),
        };
        response(status, content_type, &body)
    }
}

/// Status lines of the requests refused before they are routed.
const BAD_REQUEST: &str = "400 Bad Request";
const TIMEOUT: &str = "408 Request Timeout";
const TOO_LARGE: &str = "431 Request Header Fields Too Large";

/// The answer to a request refused before it could be routed: the status and why.
fn refusal(status: &str, reason: &str) -> Vec<u8> {
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
    use crate::app::shutdown::StopReason;
    use crate::ops::metrics::tests::groups;

    fn get(address: std::net::SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).expect("connect");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
    }

    #[test]
    fn serves_metrics_health_and_404() {
        let listener = bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let stats = Stats::default();
        let shutdown = Shutdown::new();
        std::thread::scope(|scope| {
            scope.spawn(|| serve(listener, &stats, &groups(), &shutdown));
            let metrics = get(address, "/metrics");
            assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
            assert!(metrics.contains("kafka_avro_daemon_delivered_total 0"));
            let health = get(address, "/healthz");
            assert!(
                health.starts_with("HTTP/1.1 200 OK\r\n") && health.ends_with("ok\n"),
                "{health}"
            );
            assert!(get(address, "/nope").starts_with("HTTP/1.1 404"));
            shutdown.stop(StopReason::Requested);
        });
    }

    /// Stops the endpoint when dropped, so a failing test still ends its scope.
    struct StopOnDrop<'a>(&'a Shutdown);

    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.stop(StopReason::Requested);
        }
    }

    /// Serves within `limits` while `test` runs against the address, then stops. Returns what
    /// `test` returned (clients it keeps open are still open during the stop) and how long
    /// `serve` took to return after the stop.
    fn with_endpoint<T>(limits: Limits, test: impl FnOnce(SocketAddr) -> T) -> (T, Duration) {
        let listener = bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let (stats, groups, shutdown) = (Stats::default(), groups(), Shutdown::new());
        std::thread::scope(|scope| {
            let server = scope.spawn(|| {
                serve_within(listener, &stats, &groups, &shutdown, limits);
                Instant::now()
            });
            let stop = StopOnDrop(&shutdown);
            let kept = test(address);
            let stopped = Instant::now();
            drop(stop);
            let returned = server.join().expect("serve panicked");
            (kept, returned.saturating_duration_since(stopped))
        })
    }

    /// Connects, sends `request` and reads until the endpoint closes (at most 10 s).
    fn exchange(address: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(request).expect("write");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .expect("an answer, then a close, within 10 s");
        String::from_utf8_lossy(&response).into_owned()
    }

    /// Whether the endpoint has closed `stream` (its end read, or a reset), without waiting.
    fn is_closed(mut stream: &TcpStream) -> bool {
        stream.set_nonblocking(true).expect("non-blocking");
        let mut byte = [0u8; 1];
        loop {
            match stream.read(&mut byte) {
                // An answer (a 408, say) comes before the end; read on.
                Ok(received) if received > 0 => continue,
                Ok(_) => return true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }

    /// `count` connections that send nothing.
    fn idle_clients(address: SocketAddr, count: usize) -> Vec<TcpStream> {
        (0..count)
            .map(|_| TcpStream::connect(address).expect("connect an idle client"))
            .collect()
    }

    /// Waits up to 10 s until `done` holds.
    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "not within 10 s: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn other_methods_get_405_and_a_request_line_that_is_not_text_400() {
        let ((post, binary), _) = with_endpoint(LIMITS, |address| {
            (
                exchange(address, b"POST /metrics HTTP/1.1\r\n\r\n"),
                exchange(address, b"GET /\xff\xfe HTTP/1.1\r\n\r\n"),
            )
        });
        assert!(
            post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{post}"
        );
        assert!(
            post.ends_with("\r\nConnection: close\r\n\r\nGET only\n"),
            "{post}"
        );
        assert!(
            binary.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{binary}"
        );
    }

    #[test]
    fn an_oversized_request_line_or_head_or_too_many_headers_get_431_and_a_close() {
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9_000));
        let long_head = format!(
            "GET /healthz HTTP/1.1\r\n{}\r\n",
            // 50 lines of 210 bytes: within the line count, over the size.
            format!("X-Fill: {}\r\n", "a".repeat(200)).repeat(50)
        );
        let many_headers = format!("GET /healthz HTTP/1.1\r\n{}\r\n", "X: 1\r\n".repeat(65));
        let (answers, _) = with_endpoint(LIMITS, |address| {
            [&long_line, &long_head, &many_headers]
                .map(|request| exchange(address, request.as_bytes()))
        });
        // `exchange` read each answer to its end: the endpoint closed the connection.
        for (answer, reason) in answers.iter().zip([
            "request head over 8192 bytes\n",
            "request head over 8192 bytes\n",
            "over 64 header lines\n",
        ]) {
            assert!(
                answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n")
                    && answer.contains("\r\nConnection: close\r\n")
                    && answer.ends_with(reason),
                "{answer}"
            );
        }
    }

    #[test]
    fn a_client_that_sends_nothing_is_closed_at_the_request_deadline() {
        let limits = Limits {
            request_deadline: Duration::from_millis(300),
            ..LIMITS
        };
        let ((answer, waited), _) = with_endpoint(limits, |address| {
            let started = Instant::now();
            (exchange(address, b""), started.elapsed())
        });
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer}"
        );
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
            "closed after {waited:?}"
        );
    }

    #[test]
    fn a_client_sending_a_byte_every_100_ms_is_closed_at_the_deadline_of_the_whole_head() {
        let limits = Limits {
            request_deadline: Duration::from_secs(1),
            ..LIMITS
        };
        let ((answer, waited), _) = with_endpoint(limits, |address| {
            let mut stream = TcpStream::connect(address).expect("connect");
            // The read timeout paces the client: a byte, then up to 100 ms for the answer.
            stream
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            let started = Instant::now();
            let mut answer = Vec::new();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
                .expect("write");
            loop {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "still open after 10 s"
                );
                // Fails once the endpoint has closed; the read below then sees the end.
                let _ = stream.write_all(b"a");
                let mut buffer = [0u8; 1024];
                match stream.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(received) => answer.extend_from_slice(&buffer[..received]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
            (
                String::from_utf8_lossy(&answer).into_owned(),
                started.elapsed(),
            )
        });
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer}"
        );
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_secs(4),
            "closed after {waited:?}"
        );
    }

    #[test]
    fn many_idle_connections_do_not_delay_healthz() {
        let ((answer, took, idle), _) = with_endpoint(LIMITS, |address| {
            let idle = idle_clients(address, 300);
            let mut slow = TcpStream::connect(address).expect("connect");
            slow.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: a")
                .expect("write");
            let started = Instant::now();
            let answer = exchange(address, b"GET /healthz HTTP/1.1\r\n\r\n");
            let took = started.elapsed();
            // The table holds at most 64: the rest were closed to make room.
            let closed = || idle.iter().filter(|s| is_closed(s)).count();
            wait_until("the idle connections beyond the cap closed", || {
                closed() >= 300 - LIMITS.connections
            });
            (answer, took, idle.len())
        });
        println!("figures: /healthz answered in {took:?} with {idle} idle connections and a slow client open");
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("ok\n"),
            "{answer}"
        );
        assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    }

    #[test]
    fn a_full_table_closes_the_connections_idle_longest() {
        let limits = Limits {
            connections: 4,
            request_deadline: Duration::from_secs(60),
            ..LIMITS
        };
        let (closed, _) = with_endpoint(limits, |address| {
            let idle = idle_clients(address, 10);
            let answer = exchange(address, b"GET /healthz HTTP/1.1\r\n\r\n");
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
            // 10 idle and the probe came through a table of 4: the 7 accepted first made room.
            wait_until("7 idle connections closed", || {
                idle.iter().filter(|s| is_closed(s)).count() >= 7
            });
            idle.iter().map(is_closed).collect::<Vec<_>>()
        });
        assert_eq!(closed, [[true; 7].as_slice(), &[false; 3]].concat());
    }

    #[test]
    fn idlest_is_the_earliest_and_the_first_of_equals() {
        let now = Instant::now();
        let later = now + Duration::from_millis(1);
        assert_eq!(idlest([later, now, now].into_iter()), Some(1));
        assert_eq!(idlest(std::iter::empty()), None);
    }

    #[test]
    fn serve_returns_promptly_after_stop_with_clients_connected() {
        let (clients, returned_after) = with_endpoint(LIMITS, |address| {
            let mut clients = idle_clients(address, 100);
            let mut slow = TcpStream::connect(address).expect("connect");
            slow.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: a")
                .expect("write");
            clients.push(slow);
            // Make sure the endpoint holds connections when it stops: the probe is answered
            // only after everything before it was accepted.
            let answer = exchange(address, b"GET /healthz HTTP/1.1\r\n\r\n");
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
            clients
        });
        println!(
            "figures: serve returned {returned_after:?} after the stop, with 101 clients connected"
        );
        assert!(
            returned_after < Duration::from_millis(500),
            "serve returned {returned_after:?} after the stop"
        );
        wait_until("every client closed by the stop", || {
            clients.iter().all(is_closed)
        });
    }

    #[test]
    fn bind_queues_a_burst_of_connections_beyond_std_backlog_of_128() {
        let listener = bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        // Nothing accepts: every connection waits in the kernel's queue. Past a full queue the
        // kernel drops the attempt and connect times out.
        let queued: Vec<TcpStream> = (0..300)
            .map(|n| {
                TcpStream::connect_timeout(&address, Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connection {n} not queued: {e}"))
            })
            .collect();
        assert_eq!(queued.len(), 300);
    }

    #[test]
    fn a_taken_port_is_a_clear_error() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = taken.local_addr().expect("address").to_string();
        let err = bind(&address).expect_err("port is taken").to_string();
        assert!(
            err.starts_with(&format!("cannot listen on METRICS_ADDR={address}")),
            "{err}"
        );
    }
}
