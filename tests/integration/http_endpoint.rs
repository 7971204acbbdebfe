//! The metrics endpoint against hostile clients during a real run: a thousand idle
//! connections and a client sending its head one byte every 500 ms neither keep `/healthz`
//! from answering within a second nor keep the daemon from stopping on SIGINT. Prints its
//! figures (`figures: …`) for docs/RELIABILITY.md.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;

/// Idle connections opened against the endpoint: far beyond its cap of 64, so most are
/// closed by the endpoint to make room, and the probe must still come through.
const IDLE_CONNECTIONS: usize = 1_000;

/// The pace of the slow client: the attack that used to keep `/healthz` from answering.
const SLOW_BYTE_EVERY: Duration = Duration::from_millis(500);

/// What `/healthz` must answer within, whatever the other clients do.
const HEALTHZ_WITHIN: Duration = Duration::from_secs(1);

/// How long the daemon may take to stop after SIGINT (it flushes and closes its clients).
const STOP_WITHIN: Duration = Duration::from_secs(15);

/// Where the daemon's endpoint listens (it names its port in a log line).
fn metrics_address(daemon: &Daemon) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], metrics_port(daemon)))
}

/// Makes sure this process may hold `needed` descriptors, raising the soft limit only if it
/// is lower (up to the hard limit; the child daemons inherit it, harmlessly).
fn ensure_open_files(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid, exclusive pointer.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(got, 0, "getrlimit: {}", std::io::Error::last_os_error());
    if limit.rlim_cur >= needed {
        return;
    }
    assert!(
        limit.rlim_max >= needed,
        "this test holds {needed} sockets open, but the hard open-file limit is {}: raise it (ulimit -Hn)",
        limit.rlim_max
    );
    limit.rlim_cur = needed;
    // SAFETY: setrlimit reads one `rlimit` through a valid pointer.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(set, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// Opens up to `count` connections that send nothing, for at most `within`; fewer when the
/// endpoint stops accepting (the error is returned with them).
fn open_idle(
    address: SocketAddr,
    count: usize,
    within: Duration,
) -> (Vec<TcpStream>, Option<String>) {
    let deadline = Instant::now() + within;
    let mut idle = Vec::with_capacity(count);
    while idle.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (idle, Some(format!("not all open within {within:?}")));
        }
        match TcpStream::connect_timeout(&address, left.min(Duration::from_secs(5))) {
            Ok(stream) => idle.push(stream),
            Err(e) => return (idle, Some(e.to_string())),
        }
    }
    (idle, None)
}

/// A client that sends a request line, then one header byte every [`SLOW_BYTE_EVERY`] until
/// `stop` or until the endpoint closes it (the thread then ends). Returns once it has sent
/// its first bytes.
fn start_slow_client(address: SocketAddr, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let (started, is_started) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut stream = TcpStream::connect(address).expect("connect the slow client");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: a")
            .expect("slow client's first bytes");
        let _ = started.send(());
        while !stop.load(Ordering::SeqCst) {
            thread::sleep(SLOW_BYTE_EVERY);
            // After a close, the first write may still succeed (and earn a reset); the next
            // one fails.
            if stream.write_all(b"a").is_err() {
                return;
            }
        }
    });
    is_started
        .recv_timeout(Duration::from_secs(30))
        .expect("the slow client connected and sent its first byte");
    handle
}

/// GETs `path` and returns the whole answer and how long it took, or why there was none.
fn timed_get(
    address: SocketAddr,
    path: &str,
    within: Duration,
) -> Result<(String, Duration), String> {
    let started = Instant::now();
    let mut stream =
        TcpStream::connect_timeout(&address, within).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("no answer after {:?}: {e}", started.elapsed()))?;
    Ok((answer, started.elapsed()))
}

#[test]
fn healthz_and_the_console_answer_through_idle_and_slow_clients_and_sigint_still_stops() {
    let _cluster = require_stack();
    // The idle connections, the probe, the slow client, and what the other tests running
    // alongside hold.
    ensure_open_files(IDLE_CONNECTIONS as u64 + 500);
    let topic = unique("http-endpoint");
    let mut daemon = Daemon::start(&env_with(&topic, &[("METRICS_ADDR", "127.0.0.1:0")]));
    let address = metrics_address(&daemon);
    // A daemon in full flow, so the stop below is the whole stop sequence (flush, consumers
    // leaving their groups), not one of a daemon still starting.
    daemon.wait_for_received(1, Duration::from_secs(60));

    let opening = Instant::now();
    let (idle, open_error) = open_idle(address, IDLE_CONNECTIONS, Duration::from_secs(30));
    let opened_in = opening.elapsed();
    let stop_slow = Arc::new(AtomicBool::new(false));
    let slow = start_slow_client(address, Arc::clone(&stop_slow));

    // Generous read timeout, so a late answer is measured rather than cut off.
    let probe = timed_get(address, "/healthz", Duration::from_secs(10));
    let opened = idle.len();
    match &probe {
        Ok((_, took)) => println!(
            "figures: /healthz answered in {took:?} with {opened} idle connections (opened in {opened_in:?}) and a slow client open"
        ),
        Err(e) => println!("figures: /healthz did not answer: {e}"),
    }
    let (answer, took) = probe.unwrap_or_else(|e| {
        panic!("/healthz with {opened} idle connections and a slow client open: {e}")
    });
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("ok\n"),
        "{answer}"
    );
    assert!(
        took < HEALTHZ_WITHIN,
        "/healthz took {took:?} with {opened} idle connections and a slow client open"
    );
    assert!(
        open_error.is_none(),
        "only {opened} of {IDLE_CONNECTIONS} idle connections opened in {opened_in:?}: {open_error:?}"
    );

    // The web console through the same crowd, and the probe again right after it: building
    // the page holds nobody up.
    let (page, page_took) = timed_get(address, "/", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("/ with {opened} idle connections and a slow client open: {e}"));
    assert!(
        page.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/html") && page.ends_with("</html>"),
        "{page}"
    );
    let (answer, healthz_after_page) = timed_get(address, "/healthz", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("/healthz after the page: {e}"));
    println!(
        "figures: / answered in {page_took:?} ({} bytes), then /healthz in {healthz_after_page:?}",
        page.len()
    );
    assert!(answer.ends_with("ok\n"), "{answer}");
    assert!(
        healthz_after_page < HEALTHZ_WITHIN,
        "/healthz took {healthz_after_page:?} after the page, with {opened} idle connections"
    );

    let slow_connected_at_sigint = !slow.is_finished();
    let signalled = Instant::now();
    daemon.signal("INT");
    let status = daemon.wait_exit(STOP_WITHIN);
    let exited_in = signalled.elapsed();
    stop_slow.store(true, Ordering::SeqCst);
    slow.join().expect("slow client thread");
    println!(
        "figures: {status} {exited_in:?} after SIGINT (as the harness sees it: up to 250 ms late), the test holding {opened} idle connections, slow client still sending at SIGINT: {slow_connected_at_sigint}"
    );
    assert!(
        status.success(),
        "exit {status} after SIGINT; log:\n{}",
        daemon.tail(40)
    );
    // Held open until here: the stop happened with every one of them connected.
    drop(idle);
}
