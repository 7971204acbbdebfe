//! The registry over TLS and with bearer tokens: the stack's registry behind its two TLS
//! listeners (`scripts/stack up`: https on 8443 with the stack's CA, and 8444 that requires a
//! client certificate of that CA, `.stack/tls/client.pem` and its PKCS#8 key `client.key`), and
//! behind a proxy in this file that wants a bearer token and Confluent Cloud's two headers.
//!
//! A failed handshake must reach the operator as one line naming the registry and which side
//! refused; no key or token may reach the log (the daemons run at `RUST_LOG=debug`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use crate::security::AuthProxy;

/// The stack's registry over TLS, and over TLS with a client certificate required.
const HTTPS_URL: &str = "https://127.0.0.1:8443/apis/ccompat/v7";
const MTLS_URL: &str = "https://127.0.0.1:8444/apis/ccompat/v7";

/// `.stack/tls/` of this checkout: the stack's CA and the registry client's certificate.
fn tls_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".stack/tls")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: the stack has no registry TLS listeners; run `scripts/stack up`",
        path.display()
    );
    path.display().to_string()
}

/// Panics with instructions unless both TLS listeners serve the registry; holds the cluster
/// shared like [`require_stack`].
fn require_tls_stack() -> ClusterGuard {
    let cluster = require_stack();
    let ca = std::fs::read(tls_file("ca.pem")).expect("read ca.pem");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca.pem"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    if let Err(e) = client.get(format!("{HTTPS_URL}/subjects")).send() {
        panic!("the registry's TLS listener does not answer at {HTTPS_URL} ({e}): run `scripts/stack up`");
    }
    cluster
}

/// A scratch directory of this test's own.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("registry-tls"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs `openssl` with `args` in `dir`; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (installed by scripts/stack)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes a self-signed certificate for `subject` and its unencrypted key into `dir`.
fn self_signed(dir: &Path, key: &str, certificate: &str, subject: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            key,
            "-out",
            certificate,
            "-subj",
            subject,
        ],
    );
}

/// Asserts that no base64 line of the PEM file at `key` is in `log`.
fn assert_no_key_material(log: &str, key: &str) {
    let body = std::fs::read_to_string(key).expect("read PEM");
    for line in body
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
    {
        assert!(!log.contains(line), "key material in the log");
    }
}

/// Runs the daemon with `extra` on a topic of its own until it exits.
fn run_with(prefix: &str, extra: &[(&str, &str)], timeout: Duration) -> (ExitStatus, Vec<String>) {
    run_to_exit(&env_with(&unique(prefix), extra), timeout)
}

/// Asserts that a run was refused at start: exit 2 and one line, containing each of `wanted`.
/// Returns the log.
fn assert_refused_at_start(status: ExitStatus, lines: &[String], wanted: &[&str]) -> String {
    let log = lines.join("\n");
    assert_eq!(status.code(), Some(2), "{log}");
    assert_eq!(lines.len(), 1, "one line:\n{log}");
    for wanted in wanted {
        assert!(lines[0].contains(wanted), "{wanted:?} missing:\n{log}");
    }
    log
}

/// Runs the daemon with `extra` until both groups received its 3 records, and stops it; the
/// log must have no `ERROR` line. Returns the log.
fn three_records_through(prefix: &str, extra: &[(&str, &str)]) -> String {
    let mut env = extra.to_vec();
    env.push(("PRODUCE_COUNT", "3"));
    let mut daemon = Daemon::start(&env_with(&unique(prefix), &env));
    daemon.wait_for_received(3, Duration::from_secs(60));
    daemon.stop_cleanly();
    assert!(
        error_lines(&daemon.lines()).is_empty(),
        "{}",
        daemon.tail(40)
    );
    daemon.lines().join("\n")
}

#[test]
fn an_https_registry_signed_by_the_given_ca_serves_registration_and_writer_schemas() {
    let _cluster = require_tls_stack();
    three_records_through(
        "registry-https",
        &[
            ("SCHEMA_REGISTRY_URL", HTTPS_URL),
            ("SCHEMA_REGISTRY_SSL_CA_LOCATION", &tls_file("ca.pem")),
        ],
    );
}

/// Runs the daemon against the https registry with `SCHEMA_REGISTRY_SSL_CA_LOCATION` naming a
/// CA of its own that signed nothing, plus `extra`, until it exits.
fn run_trusting_another_ca(prefix: &str, extra: &[(&str, &str)]) -> (ExitStatus, Vec<String>) {
    let dir = scratch();
    self_signed(&dir, "other.key", "other-ca.pem", "/CN=another CA");
    let other_ca = dir.join("other-ca.pem").display().to_string();
    let mut env = vec![
        ("SCHEMA_REGISTRY_URL", HTTPS_URL),
        ("SCHEMA_REGISTRY_SSL_CA_LOCATION", other_ca.as_str()),
    ];
    env.extend_from_slice(extra);
    let ran = run_with(prefix, &env, Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&dir);
    ran
}

#[test]
fn a_registry_certificate_of_another_ca_is_one_line_and_exit_1_at_once() {
    let _cluster = require_tls_stack();
    let (status, lines) = run_trusting_another_ca("registry-wrong-ca", &[]);
    assert_exit_1_with_one_error_line(
        status,
        &lines,
        &[
            "https://127.0.0.1:8443/apis/ccompat/v7/subjects/",
            "certificate verify failed",
            "not trusted",
            "SCHEMA_REGISTRY_SSL_CA_LOCATION",
        ],
    );
    // A certificate that is not trusted stays so: no retries.
    let log = lines.join("\n");
    assert!(!log.contains("retrying"), "{log}");
}

#[test]
fn mutual_tls_with_a_client_certificate_of_the_registry_s_ca_works_and_the_key_is_not_logged() {
    let _cluster = require_tls_stack();
    let key = tls_file("client.key");
    let log = three_records_through(
        "registry-mtls",
        &[
            ("SCHEMA_REGISTRY_URL", MTLS_URL),
            ("SCHEMA_REGISTRY_SSL_CA_LOCATION", &tls_file("ca.pem")),
            (
                "SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION",
                &tls_file("client.pem"),
            ),
            ("SCHEMA_REGISTRY_SSL_KEY_LOCATION", &key),
            ("RUST_LOG", "debug"),
        ],
    );
    assert!(log.contains("configuration: "), "the debug line is there");
    assert_no_key_material(&log, &key);
}

#[test]
fn an_mtls_registry_without_a_client_certificate_is_one_line_and_exit_1() {
    let _cluster = require_tls_stack();
    let (status, lines) = run_with(
        "registry-no-client-cert",
        &[
            ("SCHEMA_REGISTRY_URL", MTLS_URL),
            ("SCHEMA_REGISTRY_SSL_CA_LOCATION", &tls_file("ca.pem")),
        ],
        Duration::from_secs(60),
    );
    assert_exit_1_with_one_error_line(
        status,
        &lines,
        &[
            "https://127.0.0.1:8444/apis/ccompat/v7/subjects/",
            "the registry refused the connection",
            "certificate required",
            "SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION",
        ],
    );
}

/// Runs the daemon with the client `certificate` and `key` for the https registry; asserts it
/// was refused at start with one line holding each of `wanted`. Returns the log.
fn refused_client_pair(prefix: &str, certificate: &str, key: &str, wanted: &[&str]) -> String {
    let (status, lines) = run_with(
        prefix,
        &[
            ("SCHEMA_REGISTRY_URL", HTTPS_URL),
            ("SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION", certificate),
            ("SCHEMA_REGISTRY_SSL_KEY_LOCATION", key),
        ],
        Duration::from_secs(30),
    );
    assert_refused_at_start(status, &lines, wanted)
}

#[test]
fn a_pkcs1_or_encrypted_key_is_refused_at_start_with_the_conversion_and_without_the_key() {
    // No stack needed: the key is checked while the configuration is read.
    let dir = scratch();
    self_signed(&dir, "key.pem", "cert.pem", "/CN=client");
    openssl(
        &dir,
        &[
            "pkey",
            "-in",
            "key.pem",
            "-traditional",
            "-out",
            "pkcs1.pem",
        ],
    );
    openssl(
        &dir,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "key.pem",
            "-passout",
            "pass:secret",
            "-out",
            "encrypted.pem",
        ],
    );
    let certificate = dir.join("cert.pem").display().to_string();
    for (file, named) in [("pkcs1.pem", "PKCS#1"), ("encrypted.pem", "encrypted")] {
        let key = dir.join(file).display().to_string();
        let log = refused_client_pair(
            "registry-bad-key",
            &certificate,
            &key,
            &[
                "SCHEMA_REGISTRY_SSL_KEY_LOCATION",
                named,
                "openssl pkcs8 -topk8 -nocrypt",
            ],
        );
        assert_no_key_material(&log, &key);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_key_of_another_certificate_is_refused_at_start_without_the_key() {
    // No stack needed: the pair is checked while the configuration is read.
    let dir = scratch();
    self_signed(&dir, "mine.key", "mine.pem", "/CN=client");
    self_signed(&dir, "other.key", "other.pem", "/CN=someone else");
    let certificate = dir.join("mine.pem").display().to_string();
    let key = dir.join("other.key").display().to_string();
    let log = refused_client_pair(
        "registry-other-key",
        &certificate,
        &key,
        &[
            "SCHEMA_REGISTRY_SSL_KEY_LOCATION",
            &certificate,
            &format!("{key} holds another key"),
        ],
    );
    assert_no_key_material(&log, &key);
    assert_no_key_material(&log, &dir.join("mine.key").display().to_string());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The given CA replaces the system's trusted CAs rather than adding to them. The system's
/// store is made to trust the stack's CA (`SSL_CERT_FILE`, which OpenSSL reads for its default
/// paths): with no CA given the registry is trusted through it, so the test can tell; with
/// another CA given it is not.
#[test]
fn the_given_ca_replaces_the_system_s_trusted_cas() {
    let _cluster = require_tls_stack();
    let stack_ca = tls_file("ca.pem");
    three_records_through(
        "registry-system-ca",
        &[
            ("SCHEMA_REGISTRY_URL", HTTPS_URL),
            ("SSL_CERT_FILE", &stack_ca),
        ],
    );
    let (status, lines) =
        run_trusting_another_ca("registry-ca-replaces", &[("SSL_CERT_FILE", &stack_ca)]);
    assert_exit_1_with_one_error_line(
        status,
        &lines,
        &[
            "certificate verify failed",
            "SCHEMA_REGISTRY_SSL_CA_LOCATION",
        ],
    );
}

/// `User` with an added optional field: a writer schema the daemon has not fetched yet, so
/// a record of it makes the daemon ask the registry mid-run.
const USER_V2: &str = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}"#;

/// What the bearer proxy wants and saw.
#[derive(Default)]
struct BearerState {
    /// The one token accepted now.
    accepted: String,
    /// Requests without `target-sr-cluster: lsrc-test` or `Confluent-Identity-Pool-Id: pool-test`.
    without_headers: usize,
}

/// A proxy in front of the registry that accepts `Authorization: Bearer <accepted>` only (the
/// test may change it in the state returned), and counts requests that lack Confluent Cloud's
/// two headers.
fn bearer_proxy(accepted: &str) -> (AuthProxy, Arc<Mutex<BearerState>>) {
    let state = Arc::new(Mutex::new(BearerState {
        accepted: accepted.to_string(),
        ..BearerState::default()
    }));
    let seen = Arc::clone(&state);
    let proxy = AuthProxy::checking(Arc::new(move |headers| {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let mut state = seen.lock().expect("state");
        if header("target-sr-cluster") != Some("lsrc-test")
            || header("confluent-identity-pool-id") != Some("pool-test")
        {
            state.without_headers += 1;
        }
        header("authorization") == Some(&format!("Bearer {}", state.accepted))
    }));
    (proxy, state)
}

/// Replaces `path`'s contents at once, as a token agent does (write aside, rename).
fn rotate(path: &Path, token: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, format!("{token}\n")).expect("write token");
    std::fs::rename(&aside, path).expect("rename token");
}

/// A token file holding `token`, in a scratch directory of its own: (the directory, the file).
fn token_file(token: &str) -> (PathBuf, String) {
    let dir = scratch();
    let file = dir.join("token");
    rotate(&file, token);
    (dir, file.display().to_string())
}

#[test]
fn a_rotated_bearer_token_is_read_again_on_a_401_and_no_record_is_skipped() {
    let _cluster = require_stack();
    let (old, new) = (unique("token-old"), unique("token-new"));
    let (dir, path) = token_file(&old);
    let (proxy, state) = bearer_proxy(&old);
    let topic = unique("registry-bearer");
    let url = proxy.url();
    let mut daemon = Daemon::start(&env_with(
        &topic,
        &[
            ("SCHEMA_REGISTRY_URL", &url),
            ("SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE", &path),
            ("SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER", "lsrc-test"),
            ("SCHEMA_REGISTRY_BEARER_AUTH_IDENTITY_POOL_ID", "pool-test"),
            ("PRODUCE_COUNT", "1"),
            ("RUST_LOG", "debug"),
        ],
    ));
    daemon.wait_for_received(1, Duration::from_secs(60));
    assert_eq!(proxy.rejected(), 0, "the first token was accepted");

    // The token expires: the registry refuses it from now on, and the agent has written the
    // new one. A record of a schema the daemon has not fetched yet makes it ask again.
    rotate(Path::new(&path), &new);
    state.lock().expect("state").accepted = new.clone();
    let v2 = register_schema(&format!("{topic}-v2"), USER_V2);
    let mut record = confluent_user_bytes(v2, "after-rotation");
    record.push(0); // the email union's null branch
    produce_raw(&topic, &[record]);
    daemon.wait_for_names(&["after-rotation"], Duration::from_secs(60));
    daemon.stop_cleanly();
    let _ = std::fs::remove_dir_all(&dir);

    let lines = daemon.lines();
    let log = lines.join("\n");
    assert!(proxy.rejected() >= 1, "the old token met a 401:\n{log}");
    assert!(
        log.contains(&format!("read a new bearer token from {path}")),
        "{log}"
    );
    for group in [Group::Single, Group::Batch] {
        assert!(undecodable_lines(&lines, group).is_empty(), "{log}");
    }
    assert_eq!(
        state.lock().expect("state").without_headers,
        0,
        "every request carried target-sr-cluster and Confluent-Identity-Pool-Id"
    );
    assert!(
        !log.contains(&old) && !log.contains(&new),
        "a token in the log"
    );
}

#[test]
fn a_bearer_token_still_refused_after_reading_it_again_is_one_line_naming_the_file() {
    let _cluster = require_stack();
    let token = unique("token-refused");
    let (dir, path) = token_file(&token);
    let (proxy, _state) = bearer_proxy(&unique("token-other"));
    let (status, lines) = run_with(
        "registry-bearer-refused",
        &[
            ("SCHEMA_REGISTRY_URL", &proxy.url()),
            ("SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE", &path),
            ("RUST_LOG", "debug"),
        ],
        Duration::from_secs(60),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_exit_1_with_one_error_line(
        status,
        &lines,
        &[
            "HTTP 401",
            &format!("SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE={path}"),
        ],
    );
    assert!(!lines.join("\n").contains(&token), "the token in the log");
}

#[test]
fn bearer_and_basic_auth_together_are_refused_at_start() {
    let (dir, path) = token_file("t0k3n-value");
    let (status, lines) = run_with(
        "registry-both-auth",
        &[
            ("SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE", &path),
            ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "user:pa55word"),
        ],
        Duration::from_secs(30),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let log = assert_refused_at_start(
        status,
        &lines,
        &[
            "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE",
            "set one of the two",
        ],
    );
    assert!(
        !log.contains("t0k3n-value") && !log.contains("pa55word"),
        "{log}"
    );
}
