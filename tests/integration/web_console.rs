//! The web console (`/` on `METRICS_ADDR`) against a daemon on the local stack, looked at by a
//! real headless browser: Debian's `chromium` (`scripts/ensure-browser`), run with
//! `--no-sandbox` as root. What the page must show, that it loads without console errors,
//! that markup in a record stays text, that records are off unless asked for, and that it
//! moves as records flow. A screenshot is saved under `target/test-artifacts/`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// The browser, or a failure that says how to get one (never a skip).
fn chromium() -> PathBuf {
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    found.unwrap_or_else(|| panic!("no chromium on PATH: run scripts/ensure-browser"))
}

/// Runs the browser headless on `url` with `args`; its stdout and stderr.
fn browse(url: &str, args: &[&str]) -> (String, String) {
    let profile = std::env::temp_dir().join(unique("chromium-profile"));
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "chromium failed: {}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// The body of a `GET /api/status`, parsed.
fn status(port: u16) -> Value {
    let answer = http_get(port, "/api/status");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Polls `/api/status` until `done` holds, within `timeout`.
fn status_when(port: u16, what: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let status = status(port);
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {timeout:?}: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The sum of the topic's high watermarks the console shows.
fn highs(status: &Value) -> i64 {
    status["topic"]["partitions"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["high"].as_i64()).sum())
        .unwrap_or(0)
}

fn every_group(status: &Value, check: impl Fn(&Value) -> bool) -> bool {
    status["groups"]
        .as_array()
        .is_some_and(|groups| groups.len() == 2 && groups.iter().all(check))
}

#[test]
fn the_console_in_a_browser_shows_topic_groups_schema_audit_and_records_as_text() {
    let _cluster = require_stack();
    let topic = unique("web-console");
    let env = env_with(
        &topic,
        &[
            ("METRICS_ADDR", "127.0.0.1:0"),
            // A record every 2 s and the most records kept: the markup record stays on the
            // page for 40 s, long after the checks below found it.
            ("CONSOLE_RECORDS", "20"),
            ("PRODUCE_INTERVAL_MS", "2000"),
            ("STATS_INTERVAL_S", "1"),
        ],
    );
    let mut daemon = Daemon::start(&env);
    daemon.wait_for_received(2, Duration::from_secs(90));
    let port = metrics_port(&daemon);
    let id = logged_schema_id(&daemon);

    // A record named like markup, from another client, with the daemon's schema.
    produce_raw(&topic, &[confluent_user_bytes(id, "</script><b>x")]);
    let markup = "{'name': '</script><b>x'}";
    let shown = status_when(
        port,
        "both groups with lag and the markup record",
        Duration::from_secs(90),
        |s| {
            every_group(s, |g| {
                g["lag"].as_i64().is_some_and(|lag| lag >= 0)
                    && g["records"]
                        .as_array()
                        .is_some_and(|rs| rs.iter().any(|r| r["value"] == markup))
            }) && highs(s) > 0
        },
    );
    assert_eq!(shown["schema"]["id"], id, "{shown:#}");
    // The version is asked off the start-up path, so it may come a little later.
    let subject = format!("{topic}-value");
    let registered = registry_get(&format!("/subjects/{subject}/versions/latest"));
    let versioned = status_when(port, "the schema's version", Duration::from_secs(60), |s| {
        s["schema"]["version"].is_u64()
    });
    assert_eq!(
        versioned["schema"]["version"], registered["version"],
        "{versioned:#}"
    );
    assert_eq!(shown["topic"]["name"], topic.as_str());
    assert_eq!(shown["daemon"]["state"], "ready", "{shown:#}");

    // The page moves as records flow: a later load shows more records on the topic.
    let later = status_when(
        port,
        "the high watermarks to rise",
        Duration::from_secs(60),
        |s| highs(s) > highs(&shown),
    );
    assert!(highs(&later) > highs(&shown));

    let url = format!("http://127.0.0.1:{port}/");
    let (dom, log) = browse(&url, &["--dump-dom"]);
    let console_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Failed to load resource"))
        .collect();
    assert!(
        console_lines.is_empty(),
        "console messages: {console_lines:#?}"
    );
    assert!(
        dom.contains(&format!("<code id=\"topic\">{topic}</code>")),
        "{dom}"
    );
    for group in ["single", "batch"] {
        assert!(
            dom.contains(&format!("id=\"group-{group}\"")),
            "group {group}: {dom}"
        );
    }
    assert!(dom.contains("class=\"lag\""), "{dom}");
    assert!(
        dom.contains(&format!("<b id=\"schema-id\">{id}</b>")),
        "{dom}"
    );
    assert!(dom.contains("Delivery audit"), "{dom}");
    assert!(
        dom.contains("{'name': 'user_"),
        "no decoded record user_N on the page: {dom}"
    );
    // The browser's DOM holds the markup as text: escaped when serialized, no <b> element.
    assert!(dom.contains("&lt;/script&gt;&lt;b&gt;x"), "{dom}");
    assert!(
        !dom.contains("<b>x"),
        "markup from a record became an element: {dom}"
    );

    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact folder");
    let screenshot = artifacts.join("web-console.png");
    let _ = std::fs::remove_file(&screenshot);
    browse(
        &url,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,2200",
            "--hide-scrollbars",
        ],
    );
    let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot of {size} bytes at {}",
        screenshot.display()
    );
    println!(
        "figures: web console screenshot {} ({size} bytes)",
        screenshot.display()
    );
    daemon.stop_cleanly();
}

#[test]
fn without_console_records_no_record_reaches_the_page() {
    let _cluster = require_stack();
    let topic = unique("web-console-off");
    let env = env_with(
        &topic,
        &[("METRICS_ADDR", "127.0.0.1:0"), ("STATS_INTERVAL_S", "1")],
    );
    let mut daemon = Daemon::start(&env);
    daemon.wait_for_received(10, Duration::from_secs(90));
    let port = metrics_port(&daemon);
    let shown = status_when(port, "both groups counting", Duration::from_secs(60), |s| {
        every_group(s, |g| g["consumed"].as_u64().is_some_and(|n| n > 0))
    });
    assert!(every_group(&shown, |g| g["records"].is_null()), "{shown:#}");
    let page = http_get(port, "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        !page.contains("user_"),
        "a record on the page without CONSOLE_RECORDS: {page}"
    );
    assert!(page.contains("set CONSOLE_RECORDS"), "{page}");
    daemon.stop_cleanly();
}
