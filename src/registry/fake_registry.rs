//! A registry on a local port for unit tests (integration tests use the stack's real one):
//! each request is answered as the test says, or held unanswered, and its request line kept.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A running fake registry: its URL, how many requests it read, their request lines and
/// their `Authorization` headers.
pub(crate) struct FakeRegistry {
    pub(crate) url: String,
    pub(crate) requests: Arc<AtomicUsize>,
    lines: Arc<Mutex<Vec<String>>>,
    authorizations: Arc<Mutex<Vec<Option<String>>>>,
}

impl FakeRegistry {
    /// The paths of the requests read so far, in order (each is recorded before its answer).
    pub(crate) fn paths(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines
            .iter()
            .map(|line| line.split(' ').nth(1).unwrap_or("").to_string())
            .collect()
    }

    /// Each request's `Authorization` header value, if it had one, in order.
    pub(crate) fn authorizations(&self) -> Vec<Option<String>> {
        let kept = self.authorizations.lock();
        kept.unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Serves until the test process ends: request `n` (from 0) with request line `line` gets
/// `reply(n, line)` — a status and a JSON body, or `None` to hold its connection open without
/// an answer. The request's body is read first (a POST's), so an answer is never cut by a
/// reset over unread bytes.
pub(crate) fn registry_replying(
    reply: impl Fn(usize, &str) -> Option<(u16, String)> + Send + 'static,
) -> FakeRegistry {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let requests = Arc::new(AtomicUsize::new(0));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let authorizations = Arc::new(Mutex::new(Vec::new()));
    let (counted, kept) = (Arc::clone(&requests), Arc::clone(&lines));
    let kept_authorizations = Arc::clone(&authorizations);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(&stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut length = 0;
            let mut authorization = None;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    authorization = Some(line["authorization:".len()..].trim().to_string());
                }
                line.clear();
            }
            let _ = reader.read_exact(&mut vec![0; length]);
            let n = counted.fetch_add(1, Ordering::SeqCst);
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(request_line.clone());
            kept_authorizations
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(authorization);
            let Some((status, body)) = reply(n, &request_line) else {
                held.push(stream);
                continue;
            };
            let _ = write!(
                &stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    FakeRegistry {
        url,
        requests,
        lines,
        authorizations,
    }
}
