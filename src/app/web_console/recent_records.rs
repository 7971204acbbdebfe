//! The last records each of the daemon's consumers handled, for the web console's record view:
//! kept only when `CONSOLE_RECORDS` asks for them (decoded records can be personal data), at
//! most that many per consumer, each field cut to a bounded length. The handler copies a
//! record's text here; the HTTP thread reads a copy.

use std::collections::VecDeque;
use std::fmt::{Display, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use crate::handler::Record;

/// The longest value text kept, in characters; longer ones end with `…`.
pub(crate) const VALUE_CHARS: usize = 512;
/// The longest key, header key or header value kept, in characters.
pub(crate) const FIELD_CHARS: usize = 128;
/// Headers kept per record.
pub(crate) const HEADERS: usize = 4;

/// One record as the console shows it: text only, already cut.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct RecordLine {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp_ms: Option<i64>,
    pub(crate) key: Option<String>,
    pub(crate) headers: Vec<(String, Option<String>)>,
    pub(crate) schema: String,
    pub(crate) value: String,
}

#[derive(Debug)]
pub(crate) struct RecentRecords {
    capacity: usize,
    /// Shared with readers: a reader's copy is a reference count per line, so the handler
    /// never waits on a page being built.
    lines: Mutex<VecDeque<Arc<RecordLine>>>,
}

impl RecentRecords {
    /// Keeps the last `capacity` records (0: none).
    pub(crate) fn new(capacity: usize) -> RecentRecords {
        RecentRecords {
            capacity,
            lines: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// Whether records are kept at all.
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Keeps `record`'s text, dropping the oldest beyond the capacity.
    pub(crate) fn keep<V: Display>(&self, record: &Record<V>) {
        if !self.enabled() {
            return;
        }
        let line = Arc::new(RecordLine {
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
            key: record.key().map(|key| bytes_text(key, FIELD_CHARS)),
            headers: record
                .headers()
                .take(HEADERS)
                .map(|(key, value)| {
                    (
                        bytes_text(key, FIELD_CHARS),
                        value.map(|value| bytes_text(value, FIELD_CHARS)),
                    )
                })
                .collect(),
            schema: record.writer_schema.to_string(),
            value: display_cut(&record.value, VALUE_CHARS),
        });
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The records kept, newest first.
    pub(crate) fn newest_first(&self) -> Vec<Arc<RecordLine>> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().rev().cloned().collect()
    }
}

/// Bytes as text: UTF-8 as it is, anything else as `0x` and hex; at most `chars` characters.
fn bytes_text(bytes: &[u8], chars: usize) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => cut(text, chars),
        Err(_) => {
            let mut hex = String::from("0x");
            for byte in bytes.iter().take(chars.saturating_sub(2) / 2) {
                let _ = write!(hex, "{byte:02x}");
            }
            if bytes.len() > chars.saturating_sub(2) / 2 {
                hex.push('…');
            }
            hex
        }
    }
}

/// A value's text, written at most `chars` characters into the buffer: a huge value costs no
/// more than its cut.
fn display_cut<V: Display>(value: &V, chars: usize) -> String {
    struct Bounded {
        text: String,
        left: usize,
        cut: bool,
    }
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                if self.left == 0 {
                    self.cut = true;
                    // Stop the formatting: the rest is not wanted.
                    return Err(std::fmt::Error);
                }
                self.text.push(c);
                self.left -= 1;
            }
            Ok(())
        }
    }
    let mut out = Bounded {
        text: String::new(),
        left: chars,
        cut: false,
    };
    let _ = write!(out, "{value}");
    if out.cut {
        out.text.push('…');
    }
    out.text
}

/// `text`, at most `chars` characters, `…` at the end if cut.
pub(crate) fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SchemaRef;

    fn record(offset: i64, value: &str) -> Record<String> {
        Record::new("t", 0, offset, SchemaRef::Id(3), value.to_string())
    }

    #[test]
    fn nothing_is_kept_unless_asked_and_then_the_last_n_newest_first() {
        let off = RecentRecords::new(0);
        off.keep(&record(1, "user_1"));
        assert!(off.newest_first().is_empty());

        let recent = RecentRecords::new(2);
        for offset in 0..5 {
            recent.keep(&record(offset, &format!("user_{offset}")));
        }
        let lines = recent.newest_first();
        assert_eq!(
            lines
                .iter()
                .map(|l| (l.offset, l.value.as_str()))
                .collect::<Vec<_>>(),
            [(4, "user_4"), (3, "user_3")]
        );
        assert_eq!(lines[0].schema, "3");
    }

    #[test]
    fn long_values_and_keys_are_cut_and_bytes_that_are_not_text_shown_in_hex() {
        let recent = RecentRecords::new(1);
        recent.keep(&record(0, &"é".repeat(100_000)));
        let value = &recent.newest_first()[0].value;
        assert_eq!(value.chars().count(), VALUE_CHARS + 1);
        assert!(value.ends_with('…'));
        assert_eq!(bytes_text(&[0xff, 0xfe], 16), "0xfffe");
        assert_eq!(bytes_text(&[0xff; 100], 10), "0xffffffff…");
        assert_eq!(bytes_text("</script>".as_bytes(), 4), "</sc…");
    }
}
