//! The endpoint's bounds, each shown on a real socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;

use super::*;
use crate::app::metrics::tests::groups;
use crate::lifecycle::shutdown::StopReason;

fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn serves_the_console_metrics_health_and_404() {
    let listener = bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let stats = Stats::default();
    let shutdown = Shutdown::new();
    let console = crate::app::web_console::tests::console(3);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            serve(
                listener,
                &stats,
                &groups(),
                &console,
                Duration::from_secs(60),
                &shutdown,
            )
        });
        let page = get(address, "/");
        assert!(
            page.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"),
            "{page}"
        );
        assert!(page.contains("<h2>Topic <code id=\"topic\">test-topic-homework-1</code>"));
        let status = get(address, "/api/status");
        let (head, body) = status.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["schema"]["id"], 42);
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
    with_endpoint_on(bind("127.0.0.1:0").expect("bind"), None, limits, test)
}

/// [`with_endpoint`] on `listener` (from [`bind`]), serving `console` too if given.
fn with_endpoint_on<T>(
    listener: TcpListener,
    console: Option<&WebConsole>,
    limits: Limits,
    test: impl FnOnce(SocketAddr) -> T,
) -> (T, Duration) {
    let address = listener.local_addr().expect("address");
    let (stats, groups, shutdown) = (Stats::default(), groups(), Shutdown::new());
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let answers = Answers::new(&stats, &groups, Duration::from_secs(60));
            let answers = match console {
                Some(console) => answers.with_console(console),
                None => answers,
            };
            serve_within(listener, answers, &shutdown, limits);
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
        [&long_line, &long_head, &many_headers].map(|request| exchange(address, request.as_bytes()))
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

/// Makes the sockets `listener` accepts (they inherit it) hold at most `bytes` of unsent answer
/// (Linux doubles the figure), rather than the megabytes the kernel otherwise grows a send
/// buffer to when the client does not read.
fn limit_send_buffer(listener: &TcpListener, bytes: libc::c_int) {
    // SAFETY: setsockopt on a descriptor `listener` owns and keeps open, reading one `c_int`
    // that lives through the call, of the size given.
    let result = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            std::ptr::from_ref(&bytes).cast(),
            std::mem::size_of_val(&bytes) as libc::socklen_t,
        )
    };
    assert_eq!(result, 0, "SO_SNDBUF: {}", std::io::Error::last_os_error());
}

/// Reads `stream` until the endpoint closes it (its end, or a reset), at most 10 s; what
/// arrived.
fn read_until_closed(mut stream: TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut received = Vec::new();
    // A reset ends it too; what came before it is kept in `received`.
    if let Err(e) = stream.read_to_end(&mut received) {
        assert_eq!(
            e.kind(),
            ErrorKind::ConnectionReset,
            "not closed within 10 s: {e} ({} bytes received)",
            received.len()
        );
    }
    received
}

/// An answer's `Content-Length` and how many bytes of its body arrived.
fn body_received(answer: &[u8]) -> (usize, usize) {
    let end = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {} bytes", answer.len()));
    let head = String::from_utf8_lossy(&answer[..end]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .and_then(|length| length.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head}"));
    (length, answer.len() - end - 4)
}

/// Clients that ask for a page of a megabyte and do not read fill their sockets' buffers: the
/// endpoint gives up on them 5 s after their request ([`LIMITS`]) and closes them, answering
/// `/healthz` meanwhile. Read 3 s past that deadline, their pages are cut short (had the
/// endpoint still been writing, the read would have let it finish); a client that reads at
/// half the deadline gets its page whole.
#[test]
fn an_answer_not_read_is_cut_off_at_the_write_deadline_while_healthz_answers() {
    // How long after the write deadline the silent clients read, to see whether they were closed.
    const MARGIN: Duration = Duration::from_secs(3);
    let listener = bind("127.0.0.1:0").expect("bind");
    // 8 KiB of unsent answer per connection, and about 128 KiB in the client's receive buffer:
    // a page of a megabyte does not fit. Left to itself the kernel grows the send buffer up to
    // tcp_wmem's maximum (4 MiB here) and takes the whole page at once: the endpoint is then
    // done with the connection, and there is no deadline to see.
    limit_send_buffer(&listener, 4096);
    let mut console = crate::app::web_console::tests::console(3);
    // A page of about a megabyte: the most the daemon's page reaches (records and schema
    // text are cut at the source).
    console.schema.text = "a".repeat(1 << 20);
    let ((silent, late, probes), _) =
        with_endpoint_on(listener, Some(&console), LIMITS, |address| {
            let ask_for_the_page = || {
                let mut stream = TcpStream::connect(address).expect("connect");
                stream
                    .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    .expect("write");
                stream
            };
            let started = Instant::now();
            // Never read until past the deadline.
            let silent: Vec<TcpStream> = (0..3).map(|_| ask_for_the_page()).collect();
            // Reads its answer at half the deadline: not closed before it.
            let late = ask_for_the_page();
            // The pages are built and being written: /healthz is timed from here on, not
            // behind the building (a few milliseconds each in a debug build).
            for stream in silent.iter().chain([&late]) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let begun = stream
                    .peek(&mut [0u8; 1])
                    .expect("the page begun within 10 s");
                assert!(begun > 0, "closed before the page began");
            }
            let mut late = Some(late);
            let mut late_answer = None;
            let mut probes = Vec::new();
            // Letting the deadline pass (nothing to wait on: the silent clients cannot see a
            // close without reading), asking for /healthz meanwhile.
            while started.elapsed() < LIMITS.write_deadline + MARGIN {
                if started.elapsed() >= LIMITS.write_deadline / 2 {
                    if let Some(stream) = late.take() {
                        late_answer = Some(read_until_closed(stream));
                    }
                }
                let asked = Instant::now();
                let answer = exchange(address, b"GET /healthz HTTP/1.1\r\n\r\n");
                probes.push(asked.elapsed());
                assert!(
                    answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("ok\n"),
                    "{answer}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            // Had the endpoint still been writing, reading now would let it write the rest.
            let silent: Vec<_> = silent.into_iter().map(read_until_closed).collect();
            (silent, late_answer.expect("the late client read"), probes)
        });
    let slowest = probes.iter().max().copied().unwrap_or_default();
    let (length, late_received) = body_received(&late);
    let silent: Vec<usize> = silent
        .iter()
        .map(|answer| body_received(answer).1)
        .collect();
    println!(
        "figures: a page of {length} bytes; the clients silent for {:?} received {silent:?} bytes of it before the close, the one reading at {:?} all {late_received}; {} /healthz meanwhile, the slowest in {slowest:?}",
        LIMITS.write_deadline + MARGIN,
        LIMITS.write_deadline / 2,
        probes.len()
    );
    assert_eq!(late_received, length, "the late reader's answer was cut");
    for received in silent {
        assert!(
            received < length,
            "a client silent {:?} received the whole page: the endpoint was still writing",
            LIMITS.write_deadline + MARGIN
        );
    }
    assert!(
        slowest < Duration::from_secs(1),
        "/healthz took {slowest:?}"
    );
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
