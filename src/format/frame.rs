//! The Confluent wire format, written by hand: magic byte `0`, the schema id as 4 bytes
//! big-endian, then the Avro binary datum. Since Confluent 8 a writer may instead name the
//! schema in a `__value_schema_id` record header (Confluent's `SchemaId`: version byte `0x01`
//! and a 16-byte GUID, or `0x00` and a 4-byte id) and leave the value as the bare datum; the
//! header then takes precedence, as in Confluent's `DualSchemaIdDeserializer`, so a datum that
//! happens to begin with `0x00` is not mistaken for a prefix.

use std::fmt;

use uuid::Uuid;

/// The only magic byte the Confluent format defines.
pub const MAGIC_BYTE: u8 = 0;

/// Bytes before the Avro datum: magic byte and schema id.
pub const HEADER_LEN: usize = 5;

/// The record header that names the value's writer schema (Confluent's
/// `SchemaId.VALUE_SCHEMA_ID_HEADER`).
pub const VALUE_SCHEMA_ID_HEADER: &str = "__value_schema_id";

/// Version byte of a schema-id header value that carries a 16-byte GUID
/// (Confluent's `MAGIC_BYTE_V1`).
const GUID_VERSION: u8 = 1;

/// Length of a schema-id header value: a version byte and a GUID, or a version byte and an id.
const GUID_HEADER_LEN: usize = 1 + 16;

/// How a record names its writer schema.
// A whole word for the tag, so either variant starts at 8: the GUID's bytes (alignment 1) sat
// at offset 1, the compiler copies the enum by that layout whatever the variant, and loads
// after those piecewise copies stalled in each record's decoding (seen in the drain's
// profile, where every record names an id). Costs 4 bytes (24 instead of 20) and an
// alignment of 8, so a `Record` grows by 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u64)]
pub enum SchemaRef {
    /// A registry schema id (the 5-byte prefix, or a version-0 header).
    Id(u32),
    /// A registry schema GUID (a version-1 header), resolved with `GET /schemas/guids/{guid}`.
    Guid(Uuid),
}

impl fmt::Display for SchemaRef {
    /// An id as its number (as log lines have always shown it), a GUID as `guid <uuid>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaRef::Id(id) => write!(f, "{id}"),
            SchemaRef::Guid(guid) => write!(f, "guid {guid}"),
        }
    }
}

/// Why a payload is not a Confluent-framed message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The `__value_schema_id` header is not a version byte followed by a GUID or an id.
    BadSchemaIdHeader {
        /// The header value's length.
        len: usize,
        /// Its first byte, if any.
        version: Option<u8>,
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
            FrameError::BadSchemaIdHeader { len, version: None } => write!(
                f,
                "the {VALUE_SCHEMA_ID_HEADER} header is empty ({len} bytes), expected a version byte and a schema GUID or id"
            ),
            FrameError::BadSchemaIdHeader { len, version: Some(version) } => write!(
                f,
                "the {VALUE_SCHEMA_ID_HEADER} header of {len} bytes with version byte {version:#04x} is neither {GUID_VERSION:#04x} and a 16-byte GUID nor {MAGIC_BYTE:#04x} and a 4-byte id"
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

/// The writer schema a `__value_schema_id` header value names. Only the exact lengths are
/// accepted: an Avro value carries no Protobuf message indexes after the GUID or id.
pub fn parse_schema_id_header(value: &[u8]) -> Result<SchemaRef, FrameError> {
    let malformed = || FrameError::BadSchemaIdHeader {
        len: value.len(),
        version: value.first().copied(),
    };
    match value {
        [GUID_VERSION, guid @ ..] if value.len() == GUID_HEADER_LEN => {
            let bytes: [u8; 16] = guid.try_into().map_err(|_| malformed())?;
            Ok(SchemaRef::Guid(Uuid::from_bytes(bytes)))
        }
        [MAGIC_BYTE, a, b, c, d] => Ok(SchemaRef::Id(u32::from_be_bytes([*a, *b, *c, *d]))),
        _ => Err(malformed()),
    }
}

/// Splits a record into the writer schema it names and its Avro datum: from the
/// `__value_schema_id` header when there is one (`schema_id_header`, the last such header
/// with a value, as Confluent reads it), the whole payload being the datum; otherwise from the
/// 5-byte prefix.
pub fn locate_datum<'p>(
    payload: Option<&'p [u8]>,
    schema_id_header: Option<&[u8]>,
) -> Result<(SchemaRef, &'p [u8]), FrameError> {
    match schema_id_header {
        Some(header) => {
            let schema = parse_schema_id_header(header)?;
            Ok((schema, payload.ok_or(FrameError::Missing)?))
        }
        None => decode_framed(payload).map(|(id, datum)| (SchemaRef::Id(id), datum)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: [u8; 16] = [
        0x0b, 0x8f, 0x3d, 0x3c, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66,
        0x66,
    ];

    fn guid_header() -> Vec<u8> {
        let mut header = vec![1];
        header.extend_from_slice(&GUID);
        header
    }

    #[test]
    fn a_guid_header_names_the_schema_and_the_whole_payload_is_the_datum() {
        // The datum begins with 0x00 and is five bytes long: it would parse as a prefix.
        let payload = [0, 0, 0, 0, 7, 0x02];
        let (schema, datum) =
            locate_datum(Some(&payload), Some(&guid_header())).expect("header-framed");
        assert_eq!(schema, SchemaRef::Guid(Uuid::from_bytes(GUID)));
        assert_eq!(datum, &payload[..]);
        assert_eq!(
            schema.to_string(),
            "guid 0b8f3d3c-1111-2222-3333-444455556666"
        );
    }

    #[test]
    fn a_version_0_header_names_an_id() {
        let payload = [0x02, b'a'];
        assert_eq!(
            locate_datum(Some(&payload), Some(&[0, 0, 0, 1, 2])),
            Ok((SchemaRef::Id(258), &payload[..]))
        );
    }

    #[test]
    fn without_a_header_the_prefix_names_the_schema() {
        assert_eq!(
            locate_datum(Some(&[0, 0, 0, 0, 7, 0x02]), None),
            Ok((SchemaRef::Id(7), &[0x02][..]))
        );
    }

    #[test]
    fn a_header_with_a_null_value_is_still_a_null_value() {
        assert_eq!(
            locate_datum(None, Some(&guid_header())),
            Err(FrameError::Missing)
        );
    }

    #[test]
    fn malformed_headers_are_rejected_with_what_was_found() {
        let mut long = guid_header();
        long.push(0);
        let mut v0_long = vec![0, 0, 0, 0, 1];
        v0_long.push(9);
        for (header, version) in [
            (vec![], None),
            (vec![1], Some(1)),
            (guid_header()[..16].to_vec(), Some(1)),
            (long, Some(1)),
            (vec![0, 0, 0, 1], Some(0)),
            (v0_long, Some(0)),
            (vec![2; 17], Some(2)),
            (vec![0xff; 5], Some(0xff)),
        ] {
            let len = header.len();
            assert_eq!(
                parse_schema_id_header(&header),
                Err(FrameError::BadSchemaIdHeader { len, version }),
                "{header:?}"
            );
        }
        assert_eq!(
            parse_schema_id_header(&[2; 17]).expect_err("version 2").to_string(),
            "the __value_schema_id header of 17 bytes with version byte 0x02 is neither 0x01 and a 16-byte GUID nor 0x00 and a 4-byte id"
        );
    }

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
