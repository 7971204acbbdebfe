//! One client's connection: reading its request head within the deadline, then writing
//! the answer, moving only when its socket is ready.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpStream};
use std::time::Instant;

use super::answers::{refusal, Answers, BAD_REQUEST, TIMEOUT, TOO_LARGE};
use super::request_head::{Progress, RequestHead};
use super::sys::Interest;
use super::Limits;
use crate::ops::log_target;

/// Whether a connection stays open after a turn.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    Open,
    Close,
}

/// One client's connection: one request, one answer, then closed.
pub(super) struct Connection {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    /// The last time bytes moved either way (or the accept): what "idle longest" compares.
    pub(super) last_active: Instant,
    phase: Phase,
}

/// Where a connection is in its one exchange.
pub(super) enum Phase {
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
    pub(super) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        now: Instant,
        limits: Limits,
    ) -> Connection {
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
    pub(super) fn interest(&self) -> Interest {
        match self.phase {
            Phase::Reading { .. } => Interest::Read,
            Phase::Writing { .. } => Interest::Write,
        }
    }

    /// When the current phase runs out.
    pub(super) fn deadline(&self) -> Instant {
        match self.phase {
            Phase::Reading { deadline, .. } | Phase::Writing { deadline, .. } => deadline,
        }
    }

    /// Whether the phase ran out at `now`. A client still sending its head is told so with
    /// a 408 if the socket takes it at once: nothing waits on a client past its deadline.
    pub(super) fn expire(&mut self, now: Instant) -> bool {
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
    pub(super) fn advance(&mut self, now: Instant, answers: &Answers<'_>, limits: &Limits) -> Step {
        match self.phase {
            Phase::Reading { .. } => self.read(now, answers, limits),
            Phase::Writing { .. } => self.write(now),
        }
    }

    /// Takes what has arrived of the head (never more than its bound) and, once it is
    /// complete or refused, starts the answer.
    pub(super) fn read(&mut self, now: Instant, answers: &Answers<'_>, limits: &Limits) -> Step {
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
    pub(super) fn write(&mut self, now: Instant) -> Step {
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
