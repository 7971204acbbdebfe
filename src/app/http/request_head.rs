//! The request head — the request line and the header lines, up to the blank line — taken a
//! piece at a time as it arrives, within a size and a header-count bound. Each byte is scanned
//! once, however the client splits its bytes, so a client sending one byte at a time costs no
//! more than one sending the head at once.

use std::ops::Range;

/// What the bytes received so far amount to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The blank line that ends the head has not arrived yet, and there is room for it.
    Incomplete,
    /// The head is complete: the request line, split as the answer needs it.
    Complete(Request),
    /// The size bound was reached before the end of the head (answered 431).
    TooLarge,
    /// More header lines than the bound (answered 431).
    TooManyHeaders,
    /// The request line is not text (answered 400).
    Malformed,
}

/// The parts of the request line the endpoint answers on. Missing parts are empty, as
/// before: an empty method is answered 405, an empty path 404.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    /// The `Host` header's value, if the request had one (the last, if several).
    pub(crate) host: Option<String>,
}

/// A request head being received.
pub(crate) struct RequestHead {
    /// What has arrived, never more than `max_bytes`.
    bytes: Vec<u8>,
    max_bytes: usize,
    max_headers: usize,
    /// Where the line not yet ended starts.
    line_start: usize,
    /// The request line (without its line end), once it has ended.
    request_line: Option<Range<usize>>,
    /// Header lines ended so far.
    headers: usize,
    /// The `Host` header line's value, once it has ended.
    host: Option<Range<usize>>,
}

impl RequestHead {
    /// An empty head that may grow to `max_bytes` bytes and `max_headers` header lines.
    pub(crate) fn new(max_bytes: usize, max_headers: usize) -> RequestHead {
        RequestHead {
            bytes: Vec::new(),
            max_bytes,
            max_headers,
            line_start: 0,
            request_line: None,
            headers: 0,
            host: None,
        }
    }

    /// How many more bytes the head may take; the caller reads no more than this, so the
    /// socket keeps what lies beyond the bound.
    pub(crate) fn room(&self) -> usize {
        self.max_bytes.saturating_sub(self.bytes.len())
    }

    /// Takes the next bytes received (beyond [`RequestHead::room`] they are dropped) and says
    /// what the head now amounts to.
    pub(crate) fn push(&mut self, received: &[u8]) -> Progress {
        let mut scan_from = self.bytes.len();
        let taken = received.len().min(self.room());
        self.bytes.extend_from_slice(&received[..taken]);
        while let Some(offset) = self.bytes[scan_from..].iter().position(|&b| b == b'\n') {
            let line_end = scan_from + offset;
            let mut line = self.line_start..line_end;
            if line_end > line.start && self.bytes[line_end - 1] == b'\r' {
                line.end -= 1;
            }
            self.line_start = line_end + 1;
            scan_from = line_end + 1;
            match (&self.request_line, line.is_empty()) {
                // Blank lines before the request line are ignored (RFC 9112, section 2.2).
                (None, true) => {}
                (None, false) => self.request_line = Some(line),
                (Some(request_line), true) => return self.request(request_line.clone()),
                (Some(_), false) => {
                    self.headers += 1;
                    if self.headers > self.max_headers {
                        return Progress::TooManyHeaders;
                    }
                    let header = &self.bytes[line.clone()];
                    if header.len() >= 5 && header[..5].eq_ignore_ascii_case(b"host:") {
                        self.host = Some(line.start + 5..line.end);
                    }
                }
            }
        }
        if self.room() == 0 {
            Progress::TooLarge
        } else {
            Progress::Incomplete
        }
    }

    /// The complete head's request line, split into method and path.
    fn request(&self, request_line: Range<usize>) -> Progress {
        let Ok(text) = std::str::from_utf8(&self.bytes[request_line]) else {
            return Progress::Malformed;
        };
        let mut parts = text.split_whitespace();
        let host = self.host.clone().map(|range| {
            String::from_utf8_lossy(&self.bytes[range])
                .trim()
                .to_string()
        });
        Progress::Complete(Request {
            method: parts.next().unwrap_or_default().to_string(),
            path: parts.next().unwrap_or_default().to_string(),
            host,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(method: &str, path: &str) -> Progress {
        complete_with_host(method, path, Some("x"))
    }

    fn complete_with_host(method: &str, path: &str, host: Option<&str>) -> Progress {
        Progress::Complete(Request {
            method: method.to_string(),
            path: path.to_string(),
            host: host.map(str::to_string),
        })
    }

    #[test]
    fn the_host_header_is_kept_whatever_its_case() {
        let mut head = RequestHead::new(8192, 64);
        assert_eq!(
            head.push(b"GET / HTTP/1.1\r\nhOsT:  127.0.0.1:9464 \r\n\r\n"),
            complete_with_host("GET", "/", Some("127.0.0.1:9464"))
        );
        let mut head = RequestHead::new(8192, 64);
        assert_eq!(
            head.push(b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n"),
            complete_with_host("GET", "/", None)
        );
    }

    #[test]
    fn a_head_in_one_piece_with_crlf_or_bare_lf() {
        let mut head = RequestHead::new(8192, 64);
        assert_eq!(
            head.push(b"GET /healthz HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"),
            complete("GET", "/healthz")
        );
        let mut head = RequestHead::new(8192, 64);
        assert_eq!(
            head.push(b"POST /metrics HTTP/1.0\nHost: x\n\n"),
            complete("POST", "/metrics")
        );
    }

    #[test]
    fn a_head_one_byte_at_a_time_completes_on_its_last_byte() {
        let text = b"\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut head = RequestHead::new(8192, 64);
        for byte in &text[..text.len() - 1] {
            assert_eq!(head.push(&[*byte]), Progress::Incomplete);
        }
        assert_eq!(
            head.push(&text[text.len() - 1..]),
            complete("GET", "/metrics")
        );
    }

    #[test]
    fn bytes_after_the_head_are_ignored() {
        let mut head = RequestHead::new(8192, 64);
        assert_eq!(
            head.push(b"GET / HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n"),
            complete_with_host("GET", "/", None)
        );
    }

    #[test]
    fn a_head_that_reaches_the_size_bound_unfinished_is_too_large() {
        let mut head = RequestHead::new(32, 64);
        assert_eq!(head.push(b"GET /"), Progress::Incomplete);
        assert_eq!(head.room(), 27);
        assert_eq!(head.push(&[b'a'; 100]), Progress::TooLarge);
        assert_eq!(head.room(), 0);
        // Exactly at the bound, a head that ends is complete.
        let mut head = RequestHead::new(18, 64);
        assert_eq!(
            head.push(b"GET / HTTP/1.1\r\n\r\n"),
            complete_with_host("GET", "/", None)
        );
    }

    #[test]
    fn more_header_lines_than_the_bound_are_refused_before_the_head_ends() {
        let mut head = RequestHead::new(8192, 2);
        assert_eq!(
            head.push(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\n"),
            Progress::Incomplete
        );
        assert_eq!(head.push(b"c: 3\r\n"), Progress::TooManyHeaders);
    }

    #[test]
    fn a_request_line_that_is_not_text_is_malformed_and_missing_parts_are_empty() {
        let mut head = RequestHead::new(8192, 64);
        assert_eq!(
            head.push(b"GET /\xff HTTP/1.1\r\n\r\n"),
            Progress::Malformed
        );
        let mut head = RequestHead::new(8192, 64);
        assert_eq!(
            head.push(b"GET\r\n\r\n"),
            complete_with_host("GET", "", None)
        );
    }
}
