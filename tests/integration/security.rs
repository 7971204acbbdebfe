//! The daemon against secured endpoints: Kafka over SASL_SSL with SCRAM-SHA-512 (the listeners
//! `scripts/stack up` adds on 127.0.0.1:9194.., with its CA and password in `.stack/tls/`), and
//! a schema registry behind HTTP basic auth (Apicurio does auth only with Keycloak, so a small
//! reverse proxy in this file checks the credentials in front of the stack's registry).
//!
//! Secrets must never reach the log: every test runs the daemon at `RUST_LOG=debug` and checks
//! that no line holds the password it was given.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

const SASL_USER: &str = "daemon";
const SASL_MECHANISM: &str = "SCRAM-SHA-512";
/// Node N of the stack serves SASL_SSL on 9193+N.
const SASL_PORT_BASE: u16 = 9193;

/// `.stack/tls/` of this checkout: the stack's CA and the SCRAM user's password.
fn tls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".stack/tls")
}

fn ca_location() -> String {
    tls_dir().join("ca.pem").display().to_string()
}

/// The SASL_SSL listeners of every node of the stack.
fn sasl_bootstrap() -> String {
    (1..=expected_brokers() as u16)
        .map(|n| format!("127.0.0.1:{}", SASL_PORT_BASE + n))
        .collect::<Vec<_>>()
        .join(",")
}

/// The SCRAM password of user `daemon`, as `scripts/stack up` made it.
fn sasl_password() -> String {
    let path = tls_dir().join("daemon.password");
    let password = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): the stack has no SASL_SSL listener. Start it with `scripts/stack up` (after `scripts/stack down` if it was started without SASL_SSL or with STACK_SASL_SSL=0)",
            path.display()
        )
    });
    let password = password.trim().to_string();
    assert!(!password.is_empty(), "{} is empty", path.display());
    password
}

/// Panics with instructions unless the stack runs and its SASL_SSL listeners accept the
/// stack's SCRAM user over TLS with the stack's CA. Never skips. Holds the cluster shared
/// like [`require_stack`], until the returned guard drops.
fn require_sasl_stack() -> ClusterGuard {
    let cluster = require_stack();
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECKED.get_or_init(|| {
        let password = sasl_password();
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", sasl_bootstrap())
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanisms", SASL_MECHANISM)
            .set("sasl.username", SASL_USER)
            .set("sasl.password", &password)
            .set("ssl.ca.location", ca_location())
            .create()
            .map_err(|e| format!("cannot create a SASL_SSL Kafka client: {e}"))?;
        let metadata = client
            .fetch_metadata(None, Duration::from_secs(20))
            .map_err(|e| format!("no SASL_SSL listener answers at {}: {e}", sasl_bootstrap()))?;
        let mut ports: Vec<i32> = metadata.brokers().iter().map(|b| b.port()).collect();
        ports.sort();
        let expected: Vec<i32> = (1..=expected_brokers() as i32)
            .map(|n| i32::from(SASL_PORT_BASE) + n)
            .collect();
        if ports != expected {
            return Err(format!(
                "the SASL_SSL metadata lists broker ports {ports:?}, expected {expected:?}"
            ));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("the security tests need the stack's SASL_SSL listeners: {e}. Restart the stack with `scripts/stack down && scripts/stack up` (without STACK_SASL_SSL=0).");
    }
    cluster
}

/// The daemon's environment for the SASL_SSL listeners, logging at debug level.
fn sasl_env(topic: &str, password: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = daemon_env(topic).into_iter().collect();
    for (key, value) in [
        ("KAFKA_BOOTSTRAP_SERVERS", sasl_bootstrap()),
        ("LIBRDKAFKA_SECURITY_PROTOCOL", "SASL_SSL".to_string()),
        ("LIBRDKAFKA_SASL_MECHANISMS", SASL_MECHANISM.to_string()),
        ("LIBRDKAFKA_SASL_USERNAME", SASL_USER.to_string()),
        ("LIBRDKAFKA_SASL_PASSWORD", password.to_string()),
        ("LIBRDKAFKA_SSL_CA_LOCATION", ca_location()),
        ("RUST_LOG", "debug".to_string()),
    ] {
        env.insert(key.to_string(), value);
    }
    for (key, value) in extra {
        env.insert(key.to_string(), value.to_string());
    }
    env.into_iter().collect()
}

/// Panics if any line holds `secret`.
fn assert_not_logged(lines: &[String], secret: &str) {
    assert!(secret.len() >= 8, "a secret this short proves nothing");
    let leaks: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
    assert!(
        leaks.is_empty(),
        "the password appears in {} log line(s):\n{}",
        leaks.len(),
        leaks
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The configuration is logged at debug level, with the secrets redacted: proof that the
/// debug output the leak check reads was there at all.
fn assert_config_logged_redacted(lines: &[String]) {
    let config = lines
        .iter()
        .find(|l| l.contains("configuration: Config"))
        .unwrap_or_else(|| {
            panic!(
                "no debug line with the configuration:\n{}",
                lines.join("\n")
            )
        });
    assert!(config.contains("<redacted>"), "{config}");
}

#[test]
fn daemon_runs_over_sasl_ssl_with_scram() {
    let _cluster = require_sasl_stack();
    let password = sasl_password();
    let topic = unique("sec");
    let n = 30;
    let mut daemon = Daemon::start(&sasl_env(
        &topic,
        &password,
        &[("PRODUCE_INTERVAL_MS", "10"), ("PRODUCE_COUNT", "30")],
    ));
    daemon.wait_for_received(n, Duration::from_secs(120));
    daemon.stop_cleanly();

    let lines = daemon.lines();
    let (sent, delivered, failed, undelivered) = producer_summary(&lines)
        .unwrap_or_else(|| panic!("no producer summary:\n{}", daemon.tail(40)));
    assert_eq!(
        (sent, delivered, failed, undelivered),
        (n as u64, n as u64, 0, 0)
    );
    for group in [Group::Single, Group::Batch] {
        let mut names: Vec<String> = daemon
            .received()
            .into_iter()
            .filter(|r| r.group == group)
            .map(|r| r.name)
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "{group:?} logged every record once");
    }
    assert_config_logged_redacted(&lines);
    assert_not_logged(&lines, &password);
}

#[test]
fn wrong_kafka_password_is_a_clear_error() {
    let _cluster = require_sasl_stack();
    let wrong = format!("wrong-{}", unique("password"));
    let topic = unique("sec");
    let started = Instant::now();
    let (status, lines) = run_to_exit(
        &sasl_env(&topic, &wrong, &[("PRODUCE_INTERVAL_MS", "100")]),
        Duration::from_secs(60),
    );
    // RELIABILITY: exit 1 at start-up, one line naming the client.
    let error = assert_exit_1_with_one_error_line(
        status,
        &lines,
        &["check LIBRDKAFKA_SASL_USERNAME and LIBRDKAFKA_SASL_PASSWORD"],
    );
    assert!(
        error.to_lowercase().contains("authentication failed"),
        "{error}"
    );
    let log = lines.join("\n");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        lines.iter().any(|l| {
            l.to_lowercase().contains("authentication failed")
                && l.contains("check LIBRDKAFKA_SASL_USERNAME and LIBRDKAFKA_SASL_PASSWORD")
        }),
        "no line names the authentication failure with the hint:\n{log}"
    );
    assert_config_logged_redacted(&lines);
    assert_not_logged(&lines, &wrong);
}

const SCRAM_USER: &str = r#"
import org.apache.kafka.clients.admin.*;
import java.util.List;
import java.util.Properties;

/** Sets the SCRAM-SHA-512 password of user args[1] to args[2] (creating the user) through args[0]. */
public class ScramUser {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put("bootstrap.servers", args[0]);
        ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192);
        try (Admin admin = Admin.create(config)) {
            admin.alterUserScramCredentials(List.of(
                new UserScramCredentialUpsertion(args[1], info, args[2]))).all().get();
        }
        System.out.println("password set");
    }
}
"#;

/// Sets the SCRAM password of `user` through the PLAINTEXT listener (a super user there).
fn set_scram_password(user: &str, password: &str) {
    let answer = run_java(
        "ScramUser",
        SCRAM_USER,
        &[bootstrap(), user.to_string(), password.to_string()],
        "",
    );
    assert!(answer.contains("password set"), "{answer}");
}

/// Closes every TCP connection process `pid` holds to the SASL_SSL listeners (`ss -K`, as
/// root): its clients must connect, and so authenticate, again. Returns how many it closed.
fn drop_sasl_connections(pid: u32) -> usize {
    let listing = std::process::Command::new("ss")
        .args(["-tnpH", "state", "established"])
        .output()
        .expect("ss");
    let listing = String::from_utf8_lossy(&listing.stdout);
    let sasl_ports: Vec<String> = (1..=expected_brokers() as u16)
        .map(|n| format!("127.0.0.1:{}", SASL_PORT_BASE + n))
        .collect();
    let mut closed = 0;
    for line in listing
        .lines()
        .filter(|l| l.contains(&format!("pid={pid},")))
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Recv-Q Send-Q Local Peer Process
        let (Some(local), Some(peer)) = (fields.get(2), fields.get(3)) else {
            continue;
        };
        if !sasl_ports.iter().any(|p| p == peer) {
            continue;
        }
        let sport = local.rsplit_once(':').map_or("", |(_, p)| p);
        let dport = peer.rsplit_once(':').map_or("", |(_, p)| p);
        let status = std::process::Command::new("ss")
            .args(["-K", "-tn", "dport", "=", dport, "sport", "=", sport])
            .output()
            .expect("ss -K");
        assert!(status.status.success(), "ss -K needs root");
        closed += 1;
    }
    closed
}

/// Credentials that stop working after start-up: the SCRAM password is changed while the
/// daemon runs, and its connections are dropped so its clients log in again. The producer and
/// the consumers all meet the refusal: the daemon stops with exit 1 and one line naming it.
#[test]
fn credentials_refused_after_start_up_stop_the_daemon_with_a_clear_error() {
    let _cluster = require_sasl_stack();
    let user = unique("scram");
    let password = format!("first-{}", unique("password"));
    set_scram_password(&user, &password);
    let topic = unique("sec");
    let env: Vec<(String, String)> = sasl_env(
        &topic,
        &password,
        &[
            ("PRODUCE_INTERVAL_MS", "20"),
            ("FLUSH_TIMEOUT_MS", "2000"),
            ("STOP_TIMEOUT_MS", "8000"),
        ],
    )
    .into_iter()
    .map(|(k, v)| match k.as_str() {
        "LIBRDKAFKA_SASL_USERNAME" => (k, user.clone()),
        _ => (k, v),
    })
    .collect();
    let mut daemon = Daemon::start(&env);
    daemon.wait_for_received(10, Duration::from_secs(120));
    let delivered_before = daemon
        .lines()
        .iter()
        .filter(|l| l.contains("] delivered to "))
        .count();
    set_scram_password(&user, &format!("second-{}", unique("password")));
    let closed = drop_sasl_connections(daemon.pid());
    assert!(closed >= 1, "the daemon held no SASL_SSL connection");
    let status = daemon.wait_exit(Duration::from_secs(60));
    let lines = daemon.lines();
    // The log without the per-record lines.
    let log = lines
        .iter()
        .filter(|l| !l.contains("] received ") && !l.contains("] delivered to "))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    // 1 when every client closes in time. Mid-run the consumers cannot leave their groups or
    // commit without logging in, so their close waits until the stop deadline ends it: 3.
    assert!(
        matches!(status.code(), Some(1) | Some(3)),
        "exit {status}:\n{log}"
    );
    assert!(delivered_before > 0, "nothing was delivered before");
    let refusal = lines
        .iter()
        .find(|l| l.contains("Kafka authentication failed"))
        .unwrap_or_else(|| panic!("no authentication failure line:\n{log}"));
    assert!(
        refusal.contains(" ERROR ")
            && refusal.contains("check LIBRDKAFKA_SASL_USERNAME and LIBRDKAFKA_SASL_PASSWORD"),
        "{refusal}"
    );
    // The producer's own client met the refusal too (librdkafka's line, under its name).
    assert!(
        lines
            .iter()
            .any(|l| l.contains("librdkafka] producer: ")
                && l.to_lowercase().contains("authentication")),
        "the producer's client never tried to log in again:\n{log}"
    );
    let (sent, acknowledged, failed, undelivered) =
        producer_summary(&lines).unwrap_or_else(|| panic!("no producer summary:\n{log}"));
    assert_eq!(acknowledged + failed + undelivered, sent, "{log}");
    println!(
        "figures: credentials refused mid-run: {closed} connections dropped; {status}; \
         sent {sent}, acknowledged {acknowledged}, failed {failed}, undelivered {undelivered}; {refusal}"
    );
    assert_not_logged(&lines, &password);
}

/// Writes the brokers refuse after start-up (an ACL denying Write, added mid-run), on the
/// producer's own path: the failed delivery is an ERROR line with the record's key, counted
/// in `failed`; the refusal is permanent, so the daemon stops with exit 1 and a line naming it.
#[test]
fn writes_refused_mid_run_are_error_lines_and_stop_the_daemon_with_exit_1() {
    let _cluster = require_sasl_stack();
    let password = sasl_password();
    let topic = unique("acl-mid-run");
    let mut daemon = Daemon::start(&sasl_env(
        &topic,
        &password,
        &[("RUST_LOG", "info"), ("PRODUCE_INTERVAL_MS", "20")],
    ));
    let delivered = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("] delivered to "))
            .count()
    };
    daemon.wait_until("20 deliveries", Duration::from_secs(60), |l| {
        delivered(l) >= 20
    });
    // Through the PLAINTEXT listener (a super user): the consumers may go on reading.
    let rules = [
        bootstrap(),
        format!("User:{SASL_USER}"),
        topic.clone(),
        "ALLOW:DESCRIBE".to_string(),
        "ALLOW:READ".to_string(),
        "DENY:WRITE".to_string(),
    ];
    run_java("TopicAcls", TOPIC_ACLS, &rules, "");
    let status = daemon.wait_exit(Duration::from_secs(60));
    let lines = daemon.lines();
    let log = lines
        .iter()
        .filter(|l| !l.contains("] received ") && !l.contains("] delivered to "))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(status.code(), Some(1), "{log}");
    let (sent, acknowledged, failed, undelivered) =
        producer_summary(&lines).unwrap_or_else(|| panic!("no producer summary:\n{log}"));
    let refused: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.contains(" ERROR ")
                && l.contains(&format!(
                    "delivery to {topic} failed for the record with key "
                ))
                && l.contains("Topic authorization failed")
        })
        .collect();
    let stop_line = lines
        .iter()
        .find(|l| l.contains(" ERROR ") && l.contains("shutdown] producer: "))
        .unwrap_or_else(|| panic!("no line naming the producer's failure:\n{log}"));
    println!(
        "figures: writes refused mid-run: {status}; sent {sent}, acknowledged {acknowledged}, \
         failed {failed} ({} ERROR lines), undelivered {undelivered}; {stop_line}",
        refused.len()
    );
    assert!(failed >= 1, "no failed delivery counted:\n{log}");
    assert_eq!(
        refused.len() as u64,
        failed,
        "one ERROR line per failed delivery"
    );
    assert!(
        refused
            .iter()
            .all(|l| l.split("with key ").nth(1).is_some_and(|k| k.len() > 36)),
        "an ERROR line without the record's key: {refused:?}"
    );
    assert!(stop_line.contains("uthorization"), "{stop_line}");
    assert_eq!(acknowledged + failed + undelivered, sent);
}

// ---------------------------------------------------------------------------------------------
// Registry basic auth
// ---------------------------------------------------------------------------------------------

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
        ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
    }
}

/// The stack's registry, where the proxy forwards to.
const REGISTRY_UPSTREAM: &str = "127.0.0.1:8082";
/// The proxy stops by itself after this long, whatever the test does.
const PROXY_LIFETIME: Duration = Duration::from_secs(300);
/// Connections one proxy serves at most.
const PROXY_MAX_CONNECTIONS: usize = 2000;

/// Whether a request's headers (names in lower case) carry the credentials a proxy wants.
pub(crate) type CredentialCheck = Arc<dyn Fn(&[(String, String)]) -> bool + Send + Sync>;

/// A reverse proxy on 127.0.0.1 (ephemeral port) in front of the stack's registry that
/// demands credentials (`Authorization: Basic base64(user:password)`, or what a
/// [`CredentialCheck`] accepts): without them, 401 with a Confluent-style error; with them, the
/// request is forwarded (one request per connection, `Connection: close`) and the response
/// relayed as it comes.
pub(crate) struct AuthProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    authorized: Arc<AtomicUsize>,
    rejected: Arc<AtomicUsize>,
    accept_thread: Option<JoinHandle<()>>,
}

impl AuthProxy {
    fn start(user_info: &str) -> AuthProxy {
        let expected = format!("Basic {}", base64(user_info.as_bytes()));
        AuthProxy::checking(Arc::new(move |headers| {
            headers
                .iter()
                .any(|(name, value)| name == "authorization" && *value == expected)
        }))
    }

    /// A proxy that forwards the requests `check` accepts.
    pub(crate) fn checking(check: CredentialCheck) -> AuthProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let authorized = Arc::new(AtomicUsize::new(0));
        let rejected = Arc::new(AtomicUsize::new(0));
        let accept_thread = {
            let (stop, authorized, rejected) = (
                Arc::clone(&stop),
                Arc::clone(&authorized),
                Arc::clone(&rejected),
            );
            thread::spawn(move || {
                let deadline = Instant::now() + PROXY_LIFETIME;
                let mut served = 0;
                while !stop.load(Ordering::SeqCst)
                    && Instant::now() < deadline
                    && served < PROXY_MAX_CONNECTIONS
                {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            served += 1;
                            let (check, authorized, rejected) = (
                                Arc::clone(&check),
                                Arc::clone(&authorized),
                                Arc::clone(&rejected),
                            );
                            thread::spawn(move || {
                                if let Err(e) = serve(stream, &check, &authorized, &rejected) {
                                    eprintln!("auth proxy: {e}");
                                }
                            });
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(10));
                        }
                        Err(e) => {
                            eprintln!("auth proxy: accept: {e}");
                            thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            })
        };
        AuthProxy {
            port,
            stop,
            authorized,
            rejected,
            accept_thread: Some(accept_thread),
        }
    }

    /// The registry's Confluent API through the proxy.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/apis/ccompat/v7", self.port)
    }

    pub(crate) fn authorized(&self) -> usize {
        self.authorized.load(Ordering::SeqCst)
    }

    pub(crate) fn rejected(&self) -> usize {
        self.rejected.load(Ordering::SeqCst)
    }
}

impl Drop for AuthProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.accept_thread.take() {
            let _ = handle.join();
        }
    }
}

/// One request on one connection.
fn serve(
    client: TcpStream,
    check: &CredentialCheck,
    authorized: &AtomicUsize,
    rejected: &AtomicUsize,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    client.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(()); // closed before a request
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > 1 << 20 {
        return Err(std::io::Error::other(format!(
            "request body of {length} bytes"
        )));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut client = client;

    if !check(&headers) {
        rejected.fetch_add(1, Ordering::SeqCst);
        let body = r#"{"error_code":401,"message":"Unauthorized"}"#;
        write!(
            client,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"schema-registry\"\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        client.flush()?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    authorized.fetch_add(1, Ordering::SeqCst);

    let mut upstream = TcpStream::connect(REGISTRY_UPSTREAM)?;
    upstream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {REGISTRY_UPSTREAM}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for name in ["content-type", "accept"] {
        if let Some(value) = header(name) {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str("\r\n");
    upstream.write_all(request.as_bytes())?;
    upstream.write_all(&body)?;
    upstream.flush()?;
    // Connection: close, so the response ends where the upstream closes.
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    client.write_all(&response)?;
    client.flush()?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// The daemon's environment for the stack's (PLAINTEXT) Kafka and the registry behind `proxy`.
fn registry_auth_env(
    topic: &str,
    proxy: &AuthProxy,
    user_info: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = daemon_env(topic).into_iter().collect();
    env.insert("SCHEMA_REGISTRY_URL".to_string(), proxy.url());
    env.insert(
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO".to_string(),
        user_info.to_string(),
    );
    env.insert("RUST_LOG".to_string(), "debug".to_string());
    for (key, value) in extra {
        env.insert(key.to_string(), value.to_string());
    }
    env.into_iter().collect()
}

#[test]
fn registry_basic_auth_is_sent() {
    let _cluster = require_stack();
    let password = format!("pw-{}", unique("registry"));
    let user_info = format!("registry-user:{password}");
    let proxy = AuthProxy::start(&user_info);
    let topic = unique("sec");
    let n = 10;
    let mut daemon = Daemon::start(&registry_auth_env(
        &topic,
        &proxy,
        &user_info,
        &[("PRODUCE_INTERVAL_MS", "10"), ("PRODUCE_COUNT", "10")],
    ));
    daemon.wait_for_line("schema registered", Duration::from_secs(60));
    daemon.wait_for_received(n, Duration::from_secs(120));
    daemon.stop_cleanly();

    assert!(
        proxy.authorized() >= 1,
        "no request reached the registry through the proxy"
    );
    assert_eq!(
        proxy.rejected(),
        0,
        "the proxy rejected requests without the right Authorization header"
    );
    let lines = daemon.lines();
    assert_config_logged_redacted(&lines);
    assert_not_logged(&lines, &password);
}

#[test]
fn wrong_registry_password_is_a_clear_error() {
    let _cluster = require_stack();
    let right = format!("registry-user:pw-{}", unique("right"));
    let wrong_password = format!("pw-{}", unique("wrong"));
    let proxy = AuthProxy::start(&right);
    let topic = unique("sec");
    let (status, lines) = run_to_exit(
        &registry_auth_env(
            &topic,
            &proxy,
            &format!("registry-user:{wrong_password}"),
            &[],
        ),
        Duration::from_secs(60),
    );
    let log = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{log}");
    // README: a 4xx fails at once (not retried as a 5xx is).
    assert_eq!(proxy.rejected(), 1, "requests refused:\n{log}");
    let last = lines.last().expect("a log line");
    assert!(
        last.contains("HTTP 401") && last.contains("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"),
        "the last line does not name HTTP 401 and SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO:\n{log}"
    );
    assert_config_logged_redacted(&lines);
    assert_not_logged(&lines, &wrong_password);
}

#[test]
fn secrets_from_files_reach_kafka_and_the_registry_and_stay_out_of_the_environment() {
    let _cluster = require_sasl_stack();
    let kafka_password = sasl_password();
    let registry_password = format!("pw-{}", unique("registry"));
    let user_info = format!("registry-user:{registry_password}");
    let proxy = AuthProxy::start(&user_info);
    let dir = std::env::temp_dir().join(unique("credentials"));
    std::fs::create_dir_all(&dir).expect("credentials dir");
    let (kafka_file, registry_file) = (dir.join("sasl-password"), dir.join("registry-user-info"));
    std::fs::write(&kafka_file, format!("{kafka_password}\n")).expect("write");
    std::fs::write(&registry_file, &user_info).expect("write");

    let topic = unique("sec-files");
    let env: Vec<(String, String)> = sasl_env(
        &topic,
        "unused",
        &[
            ("PRODUCE_INTERVAL_MS", "10"),
            ("PRODUCE_COUNT", "10"),
            ("SCHEMA_REGISTRY_URL", &proxy.url()),
            (
                "LIBRDKAFKA_SASL_PASSWORD_FILE",
                &kafka_file.display().to_string(),
            ),
            (
                "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO_FILE",
                &registry_file.display().to_string(),
            ),
        ],
    )
    .into_iter()
    .filter(|(k, _)| k != "LIBRDKAFKA_SASL_PASSWORD")
    .collect();
    let mut daemon = Daemon::start(&env);
    daemon.wait_for_received(10, Duration::from_secs(120));
    let environ = std::fs::read(format!("/proc/{}/environ", daemon.pid())).expect("environ");
    daemon.stop_cleanly();
    let _ = std::fs::remove_dir_all(&dir);

    assert!(
        proxy.authorized() >= 1 && proxy.rejected() == 0,
        "registry auth from the file"
    );
    let environ = String::from_utf8_lossy(&environ);
    for secret in [&kafka_password, &registry_password] {
        assert!(
            !environ.contains(secret.as_str()),
            "a secret in /proc/<pid>/environ"
        );
        assert_not_logged(&daemon.lines(), secret);
    }
}

const TOPIC_ACLS: &str = r#"
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.resource.*;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;

/** ACLs for principal args[1] on topic args[2]: each further argument is PERMISSION:OPERATION. */
public class TopicAcls {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put("bootstrap.servers", args[0]);
        List<AclBinding> acls = new java.util.ArrayList<>();
        for (String rule : Arrays.asList(args).subList(3, args.length)) {
            String[] parts = rule.split(":");
            acls.add(new AclBinding(
                new ResourcePattern(ResourceType.TOPIC, args[2], PatternType.LITERAL),
                new AccessControlEntry(args[1], "*", AclOperation.fromString(parts[1]),
                    AclPermissionType.fromString(parts[0]))));
        }
        try (Admin admin = Admin.create(config)) {
            admin.createAcls(acls).all().get();
        }
        System.out.println("acls added");
    }
}
"#;

#[test]
fn a_topic_the_principal_may_not_write_or_read_is_one_line_and_exit_1() {
    let _cluster = require_sasl_stack();
    let password = sasl_password();
    // Once a topic has ACLs, only what they allow is allowed: Describe and the other operation
    // are granted, the one under test denied.
    for (operation, other) in [("Write", "READ"), ("Read", "WRITE")] {
        let topic = unique(&format!("acl-{}", operation.to_lowercase()));
        ensure_topic(&topic);
        // Through the PLAINTEXT listener, whose principal the stack makes a super user.
        let answer = run_java(
            "TopicAcls",
            TOPIC_ACLS,
            &[
                bootstrap(),
                format!("User:{SASL_USER}"),
                topic.clone(),
                "ALLOW:DESCRIBE".to_string(),
                format!("ALLOW:{other}"),
                format!("DENY:{}", operation.to_uppercase()),
            ],
            "",
        );
        assert!(
            answer.contains("acls added"),
            "cannot add the ACL ({answer}); the brokers need the authorizer scripts/stack configures: restart the stack (scripts/stack down && scripts/stack up)"
        );
        let (status, lines) = run_to_exit(
            &sasl_env(&topic, &password, &[("RUST_LOG", "info")]),
            Duration::from_secs(90),
        );
        assert_exit_1_with_one_error_line(
            status,
            &lines,
            &[&format!("may not {operation} topic {topic}")],
        );
        assert!(
            !lines.iter().any(|l| l.contains("schema registered")),
            "the check comes before anything is written"
        );
    }
    // Granted everything it needs on a topic with ACLs: it starts, produces and consumes.
    let topic = unique("acl-granted");
    ensure_topic(&topic);
    let mut rules = vec![bootstrap(), format!("User:{SASL_USER}"), topic.clone()];
    rules.extend(["ALLOW:DESCRIBE", "ALLOW:READ", "ALLOW:WRITE"].map(String::from));
    run_java("TopicAcls", TOPIC_ACLS, &rules, "");
    let mut daemon = Daemon::start(&sasl_env(&topic, &password, &[("RUST_LOG", "info")]));
    daemon.wait_for_line("permissions checked", Duration::from_secs(60));
    daemon.wait_for_received(2, Duration::from_secs(60));
    daemon.stop_cleanly();
}

/// A group ACL for the SASL user, removed again however the test ends.
struct GroupAcl {
    group: String,
    rule: &'static str,
}

impl GroupAcl {
    fn add(group: &str, rule: &'static str) -> GroupAcl {
        kafka_admin(&[
            "acl",
            "add",
            &bootstrap(),
            &format!("User:{SASL_USER}"),
            "group",
            group,
            rule,
        ]);
        GroupAcl {
            group: group.to_string(),
            rule,
        }
    }
}

impl Drop for GroupAcl {
    fn drop(&mut self) {
        kafka_admin(&[
            "acl",
            "remove",
            &bootstrap(),
            &format!("User:{SASL_USER}"),
            "group",
            &self.group,
            self.rule,
        ]);
    }
}

#[test]
fn commits_refused_past_the_retry_time_then_kill_9_repeat_at_most_one_batch() {
    let _cluster = require_sasl_stack();
    let password = sasl_password();
    let topic = unique("acl-commit");
    let batch_size = 20;
    let env = sasl_env(
        &topic,
        &password,
        &[
            ("RUST_LOG", "info"),
            ("PRODUCE_INTERVAL_MS", "20"),
            ("BATCH_SIZE", &batch_size.to_string()),
        ],
    );
    let mut first = Daemon::start(&env);
    first.wait_for_received(2 * batch_size, Duration::from_secs(120));
    // OffsetCommit needs Read on the group: denied, every commit of the batch group fails
    // (heartbeats too: the session ends 45 s later; the kill comes well before).
    let acl = GroupAcl::add(&format!("{topic}-g2"), "DENY:READ");
    first.wait_until("a refused commit", Duration::from_secs(60), |lines| {
        lines
            .iter()
            .any(|l| l.contains("batch consumer: commit of") && l.contains("failed"))
    });
    // More than twice the 10 s a commit is retried for, while records keep coming.
    thread::sleep(Duration::from_secs(25));
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10));
    drop(acl);

    let on_topic: BTreeSet<(i32, i64)> = read_topic(&topic)
        .iter()
        .map(|m| (m.partition, m.offset))
        .collect();
    let batch_group = |d: &Daemon| -> BTreeSet<(i32, i64)> {
        d.received()
            .iter()
            .filter(|r| r.group == Group::Batch)
            .map(|r| (r.partition, r.offset))
            .collect()
    };
    let mut env = env;
    env.push(("PRODUCE_COUNT".to_string(), "1".to_string()));
    let mut second = Daemon::start(&env);
    // The dead member holds its partitions until its session expires (45 s).
    second.wait_until(
        "the batch group reading everything the first run left",
        Duration::from_secs(150),
        |_| {
            let covered: BTreeSet<(i32, i64)> = batch_group(&first)
                .union(&batch_group(&second))
                .copied()
                .collect();
            on_topic.is_subset(&covered)
        },
    );
    second.stop_cleanly();
    let repeated = batch_group(&first)
        .intersection(&batch_group(&second))
        .count();
    println!(
        "figures: commits refused for 25 s, then kill -9: {} records on the topic, {} processed before the kill, {repeated} processed again after the restart",
        on_topic.len(),
        batch_group(&first).len()
    );
    assert!(
        repeated <= batch_size,
        "{repeated} records processed twice, more than one batch of {batch_size}"
    );
}

/// A secret where the daemon takes none (a registry URL's query, user info in the bootstrap
/// servers, a Java JAAS line) is refused at start (exit 2) with a line that names the variable
/// and shows no secret; librdkafka never sees it, so none of its lines can echo it. A secret
/// property librdkafka refuses (a Java client's truststore password) stops the daemon with
/// exit 1 and librdkafka's error, the value hidden.
#[test]
fn secrets_in_a_url_query_bootstrap_servers_jaas_or_a_refused_property_are_never_shown() {
    let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="Secr3tJaas";"#;
    let cases = [
        (
            "SCHEMA_REGISTRY_URL",
            "http://host:8082/?api_key=Secr3tQuery",
            "Secr3tQuery",
            2,
        ),
        ("LIBRDKAFKA_SASL_JAAS_CONFIG", jaas, "Secr3tJaas", 2),
        (
            "KAFKA_BOOTSTRAP_SERVERS",
            "SASL_SSL://user:Secr3tBootstrap@broker:9092",
            "Secr3tBootstrap",
            2,
        ),
        (
            "LIBRDKAFKA_SSL_TRUSTSTORE_PASSWORD",
            "Secr3tTruststore",
            "Secr3tTruststore",
            1,
        ),
    ];
    for (variable, value, secret, exit) in cases {
        let env = env_with(
            &unique("secrets"),
            &[
                ("RUST_LOG", "debug"),
                ("TOPIC_CHECK_TIMEOUT_S", "5"),
                (variable, value),
            ],
        );
        let (status, lines) = run_to_exit(&env, Duration::from_secs(60));
        let log = lines.join("\n");
        assert_not_logged(&lines, secret);
        assert_eq!(status.code(), Some(exit), "{variable}:\n{log}");
        let errors = error_lines(&lines);
        assert_eq!(errors.len(), 1, "{variable}: one ERROR line:\n{log}");
        let named = match exit {
            2 => variable.to_string(),
            _ => "ssl.truststore.password".to_string(),
        };
        assert!(errors[0].contains(&named), "{log}");
    }
}
