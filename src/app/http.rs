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
//! locks. The answers are built from in-memory figures — microseconds for the probes and
//! `/metrics`; the console's page, whose records and schema text are cut at the source, takes
//! under a millisecond with records of the usual size and a few with the largest (the
//! `web_console` tests measure it) — so one thread is not a bottleneck. The price is two small `unsafe` calls through `libc`: `poll(2)`, and
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

mod answers;
mod connection;
mod request_head;
mod sys;
#[cfg(test)]
mod tests;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use answers::Answers;
use connection::{Connection, Step};
use sys::{Interest, PollSet};

use super::error::StartError;
use super::metrics::Groups;
use super::web_console::WebConsole;
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::log_target;
use crate::ops::stats::Stats;

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
    // /metrics is a few KiB, the console's page usually about 10 KiB and at most about a
    // megabyte (records and schema text cut at the source); a client that has not read its
    // answer within 5 s is gone.
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

/// Serves the web console (`/`, `/api/status`), `/metrics`, `/healthz` and `/readyz` until shutdown, and returns within about
/// [`STOP_CHECK`] of it. `listener` comes from [`bind`] (non-blocking); `/readyz` turns 503
/// once a consumer has waited for the registry longer than `degraded_after`.
pub(crate) fn serve(
    listener: TcpListener,
    stats: &Stats,
    groups: &Groups,
    console: &WebConsole,
    degraded_after: Duration,
    shutdown: &Shutdown,
) {
    let answers = Answers::new(stats, groups, degraded_after).with_console(console);
    serve_within(listener, answers, shutdown, LIMITS);
}

/// [`serve`] with the bounds given.
fn serve_within(listener: TcpListener, answers: Answers<'_>, shutdown: &Shutdown, limits: Limits) {
    if let Ok(address) = listener.local_addr() {
        log::info!(target: log_target::METRICS, "console on http://{address}/, metrics on http://{address}/metrics, health on http://{address}/healthz");
    }
    let mut endpoint = Endpoint {
        listener,
        connections: Vec::new(),
        limits,
        answers,
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
    answers: Answers<'a>,
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
        let (answers, limits, poll) = (&self.answers, &self.limits, &self.poll);
        let mut index = 0;
        self.connections.retain_mut(|connection| {
            let ready = poll.is_ready(index);
            index += 1;
            !ready || connection.advance(now, answers, limits) == Step::Open
        });
        if listener_index.is_some_and(|index| self.poll.is_ready(index)) {
            self.accept(now);
        }
        Ok(())
    }

    /// Accepts what is waiting, at most a table's worth per turn so that a flood of new
    /// connections cannot starve the open ones.
    fn accept(&mut self, now: Instant) {
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
            if connection.advance(now, &self.answers, &self.limits) == Step::Open {
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
