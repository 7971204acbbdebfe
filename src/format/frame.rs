//! The Confluent wire format, written by hand: magic byte `0`, the schema id as 4 bytes
//! big-endian, then the Avro binary datum.

use std::fmt;

/// The only magic byte the Confluent format defines.
pub const MAGIC_BYTE: u8 = 0;

/// Bytes before the Avro datum: magic byte and schema id.
pub const HEADER_LEN: usize = 5;

/// Why a payload is not a Confluent-framed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The message has no value at all (a tombstone or a null payload).
    Missing,
    /// Fewer bytes than the 5-byte header.
    TooShort {
        /// Bytes present.
        len: usize,
    },
    /// The first byte is not [`MAGIC_BYTE`].
    BadMagic {
        /// The byte found.
        found: u8,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Missing => write!(f, "no payload (null value)"),
            FrameError::TooShort { len } => write!(
                f,
                "payload of {len} bytes is shorter than the {HEADER_LEN}-byte Confluent header"
            ),
            FrameError::BadMagic { found } => write!(
                f,
                "magic byte is {found:#04x}, expected {MAGIC_BYTE:#04x} (not Confluent wire format)"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Writes the header for `schema_id` into `out`, which must then receive the Avro datum.
pub fn write_header(schema_id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

/// Frames an already encoded Avro datum.
pub fn encode_framed(schema_id: u32, datum: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + datum.len());
    write_header(schema_id, &mut out);
    out.extend_from_slice(datum);
    out
}

/// Splits a framed payload into its schema id and Avro datum.
pub fn decode_framed(payload: Option<&[u8]>) -> Result<(u32, &[u8]), FrameError> {
    let payload = payload.ok_or(FrameError::Missing)?;
    if payload.len() < HEADER_LEN {
        return Err(FrameError::TooShort { len: payload.len() });
    }
    if payload[0] != MAGIC_BYTE {
        return Err(FrameError::BadMagic { found: payload[0] });
    }
    let id = u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]);
    Ok((id, &payload[HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_id_and_datum() {
        for id in [0, 1, 42, 0x0102_0304, u32::MAX] {
            let datum = [0x0c, b'u', b's', b'e', b'r', b'_', b'0'];
            let framed = encode_framed(id, &datum);
            assert_eq!(framed.len(), HEADER_LEN + datum.len());
            assert_eq!(decode_framed(Some(&framed)), Ok((id, &datum[..])));
        }
    }

    #[test]
    fn header_is_magic_then_big_endian_id() {
        assert_eq!(encode_framed(0x0102_0304, b"x"), vec![0, 1, 2, 3, 4, b'x']);
    }

    #[test]
    fn empty_datum_is_a_valid_frame() {
        assert_eq!(decode_framed(Some(&[0, 0, 0, 0, 7])), Ok((7, &[][..])));
    }

    #[test]
    fn null_payload_is_rejected() {
        assert_eq!(decode_framed(None), Err(FrameError::Missing));
    }

    #[test]
    fn short_payloads_are_rejected() {
        for len in 0..HEADER_LEN {
            let payload = vec![0u8; len];
            assert_eq!(
                decode_framed(Some(&payload)),
                Err(FrameError::TooShort { len })
            );
        }
    }

    #[test]
    fn wrong_magic_byte_is_rejected() {
        let err = decode_framed(Some(&[1, 0, 0, 0, 1, 2])).expect_err("magic 1");
        assert_eq!(err, FrameError::BadMagic { found: 1 });
        assert_eq!(
            err.to_string(),
            "magic byte is 0x01, expected 0x00 (not Confluent wire format)"
        );
    }
}
