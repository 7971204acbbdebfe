//! The console's page: server-rendered HTML from a [`Status`], inline CSS, no script, a
//! refresh every few seconds, the latency charts as inline SVG, the favicon inline (so a
//! browser asks for nothing else). Everything that came from a record, a peer or the registry
//! is escaped, and was cut to a bounded length before it got here.

use std::fmt::Write as _;

use super::status::{GroupStatus, LatencyStatus, Status};

/// Seconds between the page's reloads.
pub(crate) const REFRESH_S: u32 = 2;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
h3{font-size:1em;margin:1em 0 .3em}table{border-collapse:collapse;margin:.3em 0}\
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right;vertical-align:top}\
td.value{min-width:16em}\
th{background:#f3f3f3}td.text{text-align:left;font-family:monospace;white-space:pre-wrap;\
word-break:break-all;max-width:50em}pre{background:#f7f7f7;padding:.6em;overflow:auto}\
.ready{color:#070}.degraded{color:#a60}.stalled{color:#b00}.bad{color:#b00;font-weight:bold}\
.group{border-top:2px solid #ddd;margin-top:1.2em}.note{color:#666}";

/// The whole page.
pub(crate) fn render(status: &Status) -> String {
    let mut html = String::with_capacity(16 * 1024);
    let d = &status.daemon;
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>kafka-avro-daemon: {topic}</title><style>{STYLE}</style></head><body>\
         <h1>kafka-avro-daemon <span class=\"{state}\" id=\"state\">{state}</span></h1>",
        topic = escape(&status.topic.name),
        state = d.state,
    );
    if let Some(why) = &d.why {
        let _ = write!(html, "<p class=\"{}\">{}</p>", d.state, escape(why));
    }
    let _ = write!(
        html,
        "<p>up {uptime} · version {version} · librdkafka {librdkafka} · produced {produced}, \
         delivered {delivered}, failed {failed}</p>",
        uptime = duration_text(d.uptime_s),
        version = escape(d.version),
        librdkafka = escape(&d.librdkafka),
        produced = d.produced,
        delivered = d.delivered,
        failed = d.delivery_failed,
    );

    let _ = write!(
        html,
        "<h2>Topic <code id=\"topic\">{}</code></h2><table id=\"partitions\"><tr><th>partition\
         </th><th>leader</th><th>low</th><th>high</th><th>written/s</th></tr>",
        escape(&status.topic.name)
    );
    for p in &status.topic.partitions {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.partition,
            known(i64::from(p.leader)),
            known(p.low),
            known(p.high),
            rate(p.written_per_s)
        );
    }
    html.push_str("</table>");
    if status.topic.partitions.is_empty() {
        html.push_str("<p class=\"note\">no statistics from the consumers yet</p>");
    }

    let s = &status.schema;
    let _ = write!(
        html,
        "<h2>Schema</h2><p>subject <code>{subject}</code> · id <b id=\"schema-id\">{id}</b> · \
         version {version}</p><pre>{text}</pre>",
        subject = escape(&s.subject),
        id = s.id,
        version = s
            .version
            .get()
            .map_or("unknown".to_string(), |v| v.to_string()),
        text = escape(&s.text),
    );

    for group in &status.groups {
        render_group(&mut html, group);
    }
    html.push_str(
        "<p class=\"note\">JSON: <a href=\"/api/status\">/api/status</a> · \
         <a href=\"/metrics\">/metrics</a> · <a href=\"/healthz\">/healthz</a> · \
         <a href=\"/readyz\">/readyz</a></p></body></html>",
    );
    html
}

fn render_group(html: &mut String, g: &GroupStatus) {
    let _ = write!(
        html,
        "<div class=\"group\" id=\"group-{consumer}\"><h2>Group <code>{group}</code> \
         ({consumer} consumer)</h2><p>handled {consumed} · decode errors {errors} · \
         lag <b class=\"lag\">{lag}</b> · redeliveries {redeliveries}</p>",
        consumer = g.consumer,
        group = escape(&g.group),
        consumed = g.consumed,
        errors = g.decode_errors,
        lag = known(g.lag),
        redeliveries = g.audit.redeliveries,
    );

    html.push_str(
        "<h3>Partitions</h3><table><tr><th>partition</th><th>assigned here</th>\
         <th>committed</th><th>lag</th><th>fetched/s</th></tr>",
    );
    for p in &g.partitions {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.partition,
            if p.assigned { "yes" } else { "" },
            known(p.committed),
            known(p.lag),
            rate(p.fetched_per_s)
        );
    }
    html.push_str("</table>");

    let a = &g.audit;
    let lost_class = if a.lost > 0 { " class=\"bad\"" } else { "" };
    let _ = write!(
        html,
        "<h3>Delivery audit</h3><table class=\"audit\"><tr><th>audited</th><th>lost</th>\
         <th>lost, reported by the producer</th><th>duplicate writes</th><th>out of order</th>\
         <th>pending</th><th>skipped</th><th>not stamped</th></tr><tr><td>{}</td>\
         <td{lost_class}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td></tr></table>",
        a.audited,
        a.lost,
        a.lost_reported_by_producer,
        a.duplicate_writes,
        a.out_of_order,
        a.pending,
        a.skipped,
        a.unaudited,
    );

    html.push_str("<h3>Send-to-handled latency</h3>");
    latency_chart(html, &g.latency);

    html.push_str("<h3>Writer schemas seen</h3><table><tr><th>schema</th><th>records</th></tr>");
    for w in &g.writer_schemas {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&w.schema),
            w.records
        );
    }
    if g.other_writer_schemas > 0 {
        let _ = write!(
            html,
            "<tr><td>others</td><td>{}</td></tr>",
            g.other_writer_schemas
        );
    }
    html.push_str("</table>");

    html.push_str("<h3>Last records handled</h3>");
    match &g.records {
        None => html.push_str(
            "<p class=\"note\">not shown: set CONSOLE_RECORDS to a count to show the last \
             records (their values can be personal data)</p>",
        ),
        Some(records) => {
            html.push_str(
                "<table class=\"records\"><tr><th>partition</th><th>offset</th>\
                 <th>timestamp (UTC)</th><th>schema</th><th>key</th><th>value</th>\
                 <th>headers</th></tr>",
            );
            for r in records {
                let mut headers = String::new();
                for (key, value) in &r.headers {
                    let _ = writeln!(
                        headers,
                        "{}: {}",
                        escape(key),
                        value.as_deref().map_or("(null)".to_string(), escape)
                    );
                }
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td>\
                     <td class=\"text value\">{}</td><td class=\"text\">{}</td></tr>",
                    r.partition,
                    r.offset,
                    r.timestamp_ms.map_or("-".to_string(), utc_text),
                    escape(&r.schema),
                    r.key.as_deref().map_or("(null)".to_string(), escape),
                    escape(&r.value),
                    headers,
                );
            }
            html.push_str("</table>");
        }
    }
    html.push_str("</div>");
}

/// Bars of records per latency bucket, as inline SVG.
fn latency_chart(html: &mut String, latency: &LatencyStatus) {
    const WIDTH: usize = 36;
    const HEIGHT: f64 = 80.0;
    let highest = latency.counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let width = WIDTH * latency.counts.len();
    let _ = write!(
        html,
        "<p>p50 {} · p99 {} (every handled record, from its stamp's send time or its timestamp); the bars: \
         audited records by bucket, from the send time in their stamps</p>\
         <svg width=\"{width}\" height=\"{h}\" role=\"img\" aria-label=\"latency histogram\">",
        millis(latency.p50_ms),
        millis(latency.p99_ms),
        h = HEIGHT + 30.0,
    );
    for (i, count) in latency.counts.iter().enumerate() {
        let bar = (*count as f64 / highest * HEIGHT).round();
        let x = i * WIDTH;
        let label = match latency.bounds_s.get(i) {
            Some(bound) => bound_text(*bound),
            None => "more".to_string(),
        };
        let _ = write!(
            html,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{bar}\" fill=\"#4a7fc1\">\
             <title>≤ {label}: {count}</title></rect>\
             <text x=\"{tx}\" y=\"{ty}\" font-size=\"9\" text-anchor=\"middle\">{label}</text>",
            y = HEIGHT - bar,
            w = WIDTH - 4,
            tx = x + WIDTH / 2,
            ty = HEIGHT + 12.0,
        );
    }
    html.push_str("</svg>");
}

/// `&`, `<`, `>`, `"` and `'` as entities: text from outside stays text, in an element or an
/// attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn known(n: i64) -> String {
    if n < 0 {
        "-".to_string()
    } else {
        n.to_string()
    }
}

fn rate(per_s: Option<f64>) -> String {
    per_s.map_or("-".to_string(), |r| format!("{r:.1}"))
}

fn millis(ms: Option<f64>) -> String {
    ms.map_or("-".to_string(), |ms| format!("{ms:.1} ms"))
}

fn bound_text(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{}ms", (seconds * 1e3).round())
    } else {
        format!("{seconds}s")
    }
}

/// Milliseconds since the Unix epoch as `2026-12-04 12:00:00.000` (UTC); a time before 1970
/// or past year 9999 (a producer can write any timestamp) as the number.
fn utc_text(ms: i64) -> String {
    if !(0..253_402_300_800_000).contains(&ms) {
        return ms.to_string();
    }
    let (days, in_day) = (ms / 86_400_000, ms % 86_400_000);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

fn duration_text(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_utc_and_impossible_ones_as_numbers() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc_text(1_796_387_611_236), "2026-12-04 12:33:31.236");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00:00.000");
        assert_eq!(utc_text(-1), "-1");
        assert_eq!(utc_text(i64::MAX), i64::MAX.to_string());
    }
}
