//! The HTTP endpoint on `METRICS_ADDR`: `GET /metrics` (Prometheus text) and `GET /healthz`
//! (200 while every loop makes progress, else 503 naming the stalled loop), served over plain
//! HTTP/1.1 by one thread. Deliberately tiny (one request per connection, GET only): it serves
//! scrapes and probes, nothing else.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::health::stalled_loops;
use super::log_target;
use super::metrics::{prometheus_text, Groups};
use super::stats::Stats;
use crate::app::error::StartError;
use crate::app::shutdown::Shutdown;

/// Binds the metrics address; done at start-up so a taken port is a start-up error.
pub(crate) fn bind(address: &str) -> Result<TcpListener, StartError> {
    let failed = |error| StartError::MetricsAddress {
        address: address.to_string(),
        error,
    };
    let listener = TcpListener::bind(address).map_err(failed)?;
    listener.set_nonblocking(true).map_err(failed)?;
    Ok(listener)
}

/// Serves `/metrics` and `/healthz` until shutdown.
pub(crate) fn serve(listener: TcpListener, stats: &Stats, groups: &Groups, shutdown: &Shutdown) {
    if let Ok(address) = listener.local_addr() {
        log::info!(target: log_target::METRICS, "metrics on http://{address}/metrics, health on http://{address}/healthz");
    }
    while !shutdown.is_stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, stats, groups) {
                    log::debug!(target: log_target::METRICS, "metrics: request failed: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                shutdown.sleep(Duration::from_millis(50));
            }
            Err(e) => {
                log::warn!(target: log_target::METRICS, "metrics: accept failed: {e}");
                shutdown.sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Reads one request and writes the answer.
fn answer(stream: TcpStream, stats: &Stats, groups: &Groups) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut request_line = String::new();
    let mut reader = BufReader::new(&stream);
    reader.read_line(&mut request_line)?;
    // Drain the headers so the client sees a clean close.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4",
            prometheus_text(stats, groups),
        ),
        ("GET", "/healthz") => {
            let stalled = stalled_loops(&stats.heartbeats());
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
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::shutdown::StopReason;
    use crate::ops::metrics::tests::groups;
    use std::io::Read;

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
