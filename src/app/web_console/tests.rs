use std::sync::Arc;
use std::time::Instant;

use super::page::{escape, render};
use super::*;
use crate::app::metrics::tests::groups;
use crate::format::SchemaRef;
use crate::handler::Record;
use crate::ops::stats::Stats;

/// A console of the daemon's topic and schema (id 42, version 3), keeping `records`.
pub(crate) fn console(records: usize) -> WebConsole {
    let version = SchemaVersion::default();
    version.set(3);
    WebConsole {
        topic: "test-topic-homework-1".to_string(),
        groups: groups(),
        schema: SchemaShown {
            subject: "test-topic-homework-1-value".to_string(),
            id: 42,
            version,
            text: "{\n  \"type\": \"record\",\n  \"name\": \"User\"\n}".to_string(),
        },
        recent: [
            Arc::new(RecentRecords::new(records)),
            Arc::new(RecentRecords::new(records)),
        ],
        started: Instant::now(),
    }
}

fn user(offset: i64, name: &str) -> Record<String> {
    Record::new(
        "test-topic-homework-1",
        0,
        offset,
        SchemaRef::Id(42),
        name.to_string(),
    )
}

#[test]
fn a_record_named_like_markup_shows_as_text() {
    let console = console(5);
    console.recent[0].keep(&user(7, "{'name': '</script><b>x'}"));
    let stats = Stats::default();
    let html = render(&console.status(&stats, None, &[]));
    assert!(
        html.contains("{&#39;name&#39;: &#39;&lt;/script&gt;&lt;b&gt;x&#39;}"),
        "{html}"
    );
    assert!(!html.contains("<b>x"), "markup from a record got through");
    assert!(!html.contains("<script"), "the page has no script");
    assert_eq!(escape("a&b\"c'<>"), "a&amp;b&quot;c&#39;&lt;&gt;");
}

#[test]
fn records_are_shown_only_when_asked_for() {
    let stats = Stats::default();
    let off = console(0);
    off.recent[0].keep(&user(1, "user_1"));
    let status = off.status(&stats, None, &[]);
    assert!(status.groups.iter().all(|g| g.records.is_none()));
    let html = render(&status);
    assert!(!html.contains("user_1"), "{html}");
    assert!(html.contains("set CONSOLE_RECORDS"), "{html}");

    let on = console(5);
    on.recent[0].keep(&user(1, "user_1"));
    on.recent[0].keep(&user(2, "user_2"));
    let status = on.status(&stats, None, &[]);
    let shown: Vec<i64> = status.groups[0]
        .records
        .as_ref()
        .expect("records on")
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(shown, [2, 1], "newest first");
    assert!(render(&status).contains("user_2"));
}

#[test]
fn the_status_names_the_schema_the_state_and_the_audit_and_is_json() {
    let stats = Stats::default();
    let console = console(0);
    stats
        .consumer(crate::app::ConsumerKind::Batch)
        .audit
        .lost
        .store(3, std::sync::atomic::Ordering::Relaxed);
    stats
        .consumer(crate::app::ConsumerKind::Single)
        .writer_schemas
        .count(&crate::ops::writer_schemas::SchemaKey::Id(42));
    let status = console.status(
        &stats,
        Some("degraded: batch consumer waiting for the registry for 40s\n".to_string()),
        &[],
    );
    let json = serde_json::to_value(&status).expect("JSON");
    assert_eq!(json["schema"]["id"], 42);
    assert_eq!(json["schema"]["version"], 3);
    assert_eq!(json["daemon"]["state"], "degraded");
    assert_eq!(json["groups"][1]["audit"]["lost"], 3);
    assert_eq!(json["groups"][0]["writer_schemas"][0]["schema"], "42");
    assert_eq!(json["groups"][0]["writer_schemas"][0]["records"], 1);
    let html = render(&status);
    assert!(html.contains("<b id=\"schema-id\">42</b>"), "{html}");
    assert!(html.contains("waiting for the registry for 40s"), "{html}");
    assert!(
        html.contains("class=\"bad\">3</td>"),
        "a loss stands out: {html}"
    );

    let stalled = console.status(&stats, None, &["batch-consumer"]);
    assert_eq!(stalled.daemon.state, "stalled");
}

/// The version is asked off the start-up path: until the registry answers, the page and the
/// JSON say it is not known; once it does, both show it, and a second answer changes nothing.
#[test]
fn the_schema_version_is_unknown_until_the_registry_answers() {
    let mut console = console(0);
    console.schema.version = SchemaVersion::default();
    let stats = Stats::default();
    let status = console.status(&stats, None, &[]);
    assert_eq!(
        serde_json::to_value(&status).expect("JSON")["schema"]["version"],
        serde_json::Value::Null
    );
    assert!(render(&status).contains("version unknown"));

    console.schema.version.set(7);
    console.schema.version.set(8);
    let status = console.status(&stats, None, &[]);
    assert_eq!(
        serde_json::to_value(&status).expect("JSON")["schema"]["version"],
        7
    );
    assert!(render(&status).contains("version 7</p>"));
}

/// The version is asked on a thread of its own: the call returns while the registry still
/// holds the request (a blocking ask would have waited out `REQUEST_TIMEOUT` and given up),
/// and the registry's answer, once given, shows.
#[test]
fn the_schema_version_is_asked_without_waiting_for_the_registry() {
    use std::sync::mpsc;
    let (asked, was_asked) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let registry = crate::registry::fake_registry::registry_replying(move |_, _| {
        let _ = asked.send(());
        let _ = released.recv();
        let body = r#"{"subject":"s-value","id":1,"version":3,"schema":"\"string\""}"#;
        Some((200, body.to_string()))
    });
    let url = registry.url;
    let config = crate::config::Config::from_pairs(&[
        ("SCHEMA_REGISTRY_URL", url.as_str()),
        ("SCHEMA_REGISTRY_RETRIES", "0"),
    ])
    .expect("config");
    let version = SchemaVersion::default();
    let shutdown = crate::lifecycle::shutdown::Shutdown::new();
    let client = crate::registry::SchemaRegistryClient::new(&config, shutdown.clone())
        .expect("registry client");
    crate::app::ask_schema_version(&client, &shutdown, "s-value", "\"string\"", version.clone());
    was_asked
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the registry was asked");
    assert_eq!(version.get(), None, "known before the registry answered");
    release.send(()).expect("release the answer");
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while version.get().is_none() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(version.get(), Some(3));
}

/// The worst the records can do to a page: 20 per consumer, each with a huge key, value and
/// headers made of the characters that escape longest. The page stays bounded, and its
/// building time is printed (measured, not asserted).
#[test]
fn the_worst_records_and_schema_keep_the_page_under_a_megabyte() {
    use crate::handler::Wire;
    let worst = |offset: i64| {
        let mut wire = Wire::with_key(Some("'".repeat(10_000).as_bytes()), 0);
        for _ in 0..10 {
            wire.push_header(
                "\"".repeat(10_000).as_bytes(),
                Some("<".repeat(10_000).as_bytes()),
            );
        }
        Record::with_wire(
            Arc::from("test-topic-homework-1"),
            0,
            offset,
            Some(1),
            SchemaRef::Id(1),
            "\"".repeat(100_000),
            wire,
        )
    };
    let mut console = console(20);
    console.schema.text = super::cut(&"\"".repeat(1 << 20), 32 * 1024);
    for offset in 0..20 {
        console.recent[0].keep(&worst(offset));
        console.recent[1].keep(&worst(offset));
    }
    let stats = Stats::default();
    let started = Instant::now();
    let html = render(&console.status(&stats, None, &[]));
    let json = serde_json::to_string(&console.status(&stats, None, &[])).expect("JSON");
    println!(
        "figures: worst page {} bytes, its JSON {} bytes, both built in {:?}",
        html.len(),
        json.len(),
        started.elapsed()
    );
    assert!(html.len() < 1 << 20, "page of {} bytes", html.len());
    assert!(json.len() < 1 << 20, "JSON of {} bytes", json.len());
}
