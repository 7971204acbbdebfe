//! A consumed message's headers, read as bytes. Kafka and librdkafka treat a header key as
//! bytes, and other clients write keys that are not UTF-8; rdkafka's `Headers::iter` (and
//! `get`, `try_get`) turns every key into `&str` with `unwrap()`, so one such record would
//! panic the consumer thread, and again on every restart. This reads them through librdkafka's
//! C header API on the message instead, trusting nothing in them.
//!
//! `rd_kafka_header_get_all` gives each key as a NUL-terminated C string, so a key with an
//! embedded NUL byte is read up to that byte: `kad.audit\0x` reads as `kad.audit`. That gives
//! a writer nothing it does not have already (it could write `kad.audit` itself), and the
//! header's value is still read whole, from its own length.

use std::ffi::CStr;
use std::marker::PhantomData;
use std::ptr;

use rdkafka::bindings as rd;
use rdkafka::message::BorrowedMessage;

/// One header of a message: its key (up to any embedded NUL byte) and its value (`None` for a
/// null value), borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawHeader<'m> {
    pub(crate) key: &'m [u8],
    pub(crate) value: Option<&'m [u8]>,
}

/// The headers of `message`, in order, as bytes.
pub(crate) fn raw_headers<'m>(message: &'m BorrowedMessage<'_>) -> RawHeaders<'m> {
    let mut headers: *mut rd::rd_kafka_headers_t = ptr::null_mut();
    // SAFETY: the message pointer is valid for `'m`; librdkafka parses the headers into the
    // message (owned by it, freed with it) and returns them, or an error without any.
    let error = unsafe { rd::rd_kafka_message_headers(message.ptr(), &mut headers) };
    let count =
        if error == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && !headers.is_null() {
            // SAFETY: `headers` is the message's own list, valid while the message lives.
            unsafe { rd::rd_kafka_header_cnt(headers) }
        } else {
            0
        };
    RawHeaders {
        headers,
        count,
        next: 0,
        _message: PhantomData,
    }
}

/// Iterator over a message's headers; see [`raw_headers`].
pub(crate) struct RawHeaders<'m> {
    headers: *const rd::rd_kafka_headers_t,
    count: usize,
    next: usize,
    _message: PhantomData<&'m ()>,
}

impl<'m> Iterator for RawHeaders<'m> {
    type Item = RawHeader<'m>;

    fn next(&mut self) -> Option<RawHeader<'m>> {
        while self.next < self.count {
            let index = self.next;
            self.next += 1;
            let mut name: *const libc::c_char = ptr::null();
            let mut value: *const libc::c_void = ptr::null();
            let mut size = 0usize;
            // SAFETY: `index < count` of the message's own list, valid for `'m`.
            let error = unsafe {
                rd::rd_kafka_header_get_all(self.headers, index, &mut name, &mut value, &mut size)
            };
            if error != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                continue;
            }
            // SAFETY: librdkafka keeps each name NUL-terminated and each value `size` bytes
            // long, both inside the message's header list, which lives as long as the message.
            let key = unsafe { CStr::from_ptr(name) }.to_bytes();
            let value = (!value.is_null())
                .then(|| unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) });
            return Some(RawHeader { key, value });
        }
        None
    }
}
