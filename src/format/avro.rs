//! Avro encoding of [`User`] and decoding with schema resolution.
//!
//! Two paths give the same bytes and the same records:
//! - the direct path, used whenever the writer schema is our own `User` schema (the daemon's
//!   records and any producer using the same schema): a `User` is a single Avro `string`, i.e.
//!   a zig-zag varint length and UTF-8 bytes, so encoding and decoding need no allocation
//!   beyond the string itself;
//! - the resolving path for every other writer schema: admitted once per schema
//!   ([`super::admission`]: can its records become `User`s at all?), then read by a decoder
//!   that follows the writer schema over the datum, keeps `name` and skips the rest, bounded
//!   in depth, work and memory ([`super::resolve`]). A record written with another version
//!   (say, with an added field that has a default) becomes the `User` Avro's resolution rules
//!   say — the one apache-avro's resolution gives, which the tests check — and no writer
//!   schema or datum can make it crash or allocate beyond the name.
//!
//! Tests check the two paths against each other, and the resolving one against apache-avro.

use apache_avro::Schema;

use super::admission::{admit, Plan};
use super::error::{not_a_user, trailing_bytes, AvroError, AvroErrorKind};
use super::layout::UserLayout;
use super::resolve::{read_user, MAX_DECODE_ALLOCATION};
use super::schema_text::{parse_schema, parse_writer_schema};
use super::user::{User, USER_SCHEMA_JSON};
use super::varint::{read_long, VarintError};

/// A schema some producer wrote with, admitted and ready to decode its records into `User`s.
#[derive(Debug)]
pub struct WriterSchema {
    /// How the resolving decoder reads its records.
    plan: Plan,
    /// The writer schema is our reader schema, so the direct path applies.
    is_reader_schema: bool,
}

impl WriterSchema {
    /// Whether this is the daemon's own `User` schema.
    pub fn is_reader_schema(&self) -> bool {
        self.is_reader_schema
    }
}

/// Encodes and decodes `User` records; holds the parsed reader schema.
#[derive(Debug)]
pub struct UserCodec {
    reader: Schema,
    reader_canonical: String,
    registration_text: String,
}

impl UserCodec {
    /// Parses `schemas/user.avsc` (compiled in) once.
    pub fn new() -> Result<UserCodec, AvroError> {
        // A process-wide setting that only the first call can make.
        apache_avro::util::max_allocation_bytes(MAX_DECODE_ALLOCATION);
        let reader = Schema::parse_str(USER_SCHEMA_JSON).map_err(|e| {
            schema_error(format!("schemas/user.avsc is not a valid Avro schema: {e}"))
        })?;
        let json: serde_json::Value = serde_json::from_str(USER_SCHEMA_JSON)
            .map_err(|e| schema_error(format!("schemas/user.avsc is not JSON: {e}")))?;
        Ok(UserCodec {
            reader_canonical: reader.canonical_form(),
            reader,
            // Compact JSON with sorted keys: the same text on every start, so registries
            // that match schemas by content as sent (Apicurio) find the existing version.
            registration_text: json.to_string(),
        })
    }

    /// The schema text to register with the registry.
    pub fn registration_text(&self) -> &str {
        &self.registration_text
    }

    /// Parses a writer schema fetched from the registry, checks that its records can be read
    /// as `User`s and prepares their decoding (see `format/admission.rs` for the rules).
    pub fn writer_schema(&self, schema_text: &str) -> Result<WriterSchema, AvroError> {
        let schema = parse_writer_schema(schema_text)
            .map_err(|e| schema_error(format!("writer schema is not valid Avro: {e}")))?;
        let plan = admit(&schema).map_err(not_a_user)?;
        let is_reader_schema = schema.canonical_form() == self.reader_canonical;
        Ok(WriterSchema {
            plan,
            is_reader_schema,
        })
    }

    /// How to write a `User` with `schema_text` (the subject's latest version): it must be a
    /// record whose `name` is a string and whose other fields have defaults (see
    /// `format/layout.rs`), and its records must read back as `User`s. Also returns the
    /// schema's canonical form, which names it for the consumers' registry health check.
    pub fn layout_for(&self, schema_text: &str) -> Result<(UserLayout, String), AvroError> {
        let schema = parse_schema(schema_text)
            .map_err(|e| schema_error(format!("the schema is not valid Avro: {e}")))?;
        let layout = UserLayout::of(&schema)?;
        admit(&schema).map_err(not_a_user)?;
        Ok((layout, schema.canonical_form()))
    }

    /// The Parsing Canonical Form of our own schema.
    pub fn reader_canonical(&self) -> &str {
        &self.reader_canonical
    }

    /// Appends the Avro encoding of `user` to `out` with our own schema: what the producer
    /// writes ([`UserLayout::own`], whose `encode` it calls).
    pub fn encode(&self, user: &User, out: &mut Vec<u8>) {
        UserLayout::own().encode(user, out);
    }

    /// Encodes through apache-avro's generic `Value` (kept for tests and benchmarks).
    pub fn encode_generic(&self, user: &User) -> Result<Vec<u8>, AvroError> {
        let value = apache_avro::to_value(user).map_err(|e| schema_error(e.to_string()))?;
        apache_avro::to_avro_datum(&self.reader, value).map_err(|e| schema_error(e.to_string()))
    }

    /// Decodes one datum written with `writer` into a `User`. The whole datum must be used:
    /// trailing bytes mean the payload is not what its schema id says.
    pub fn decode(&self, writer: &WriterSchema, datum: &[u8]) -> Result<User, AvroError> {
        if writer.is_reader_schema {
            decode_direct(datum)
        } else {
            self.decode_generic(writer, datum)
        }
    }

    /// Decodes through the resolving decoder even when the direct path would apply (the tests
    /// and benchmarks compare the two).
    pub fn decode_generic(&self, writer: &WriterSchema, datum: &[u8]) -> Result<User, AvroError> {
        read_user(&writer.plan, datum)
    }
}

/// The Parsing Canonical Form of `schema_text`, which two texts of one schema share.
pub fn canonical_form(schema_text: &str) -> Result<String, AvroError> {
    parse_schema(schema_text)
        .map(|schema| schema.canonical_form())
        .map_err(|e| schema_error(format!("not a valid Avro schema: {e}")))
}

fn schema_error(message: String) -> AvroError {
    AvroError::new(AvroErrorKind::Schema, message)
}

/// A `User` is one `string` field: a length then UTF-8 bytes.
fn decode_direct(datum: &[u8]) -> Result<User, AvroError> {
    let (len, used) = read_long(datum).map_err(|e| match e {
        VarintError::Truncated => {
            AvroError::new(AvroErrorKind::Truncated, "truncated length".to_string())
        }
        VarintError::Overflow => AvroError::new(
            AvroErrorKind::Malformed,
            "length varint overflows 64 bits".to_string(),
        ),
    })?;
    let rest = &datum[used..];
    let len = usize::try_from(len).map_err(|_| {
        AvroError::new(
            AvroErrorKind::Malformed,
            format!("negative string length {len}"),
        )
    })?;
    if len > rest.len() {
        return Err(AvroError::new(
            AvroErrorKind::Truncated,
            format!(
                "string length {len} is longer than the {} bytes left",
                rest.len()
            ),
        ));
    }
    let (bytes, rest) = rest.split_at(len);
    if !rest.is_empty() {
        return Err(trailing_bytes(rest.len()));
    }
    let name = std::str::from_utf8(bytes).map_err(|e| {
        AvroError::new(
            AvroErrorKind::Malformed,
            format!("name is not valid UTF-8: {e}"),
        )
    })?;
    Ok(User {
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> UserCodec {
        UserCodec::new().expect("user.avsc parses")
    }

    fn names() -> Vec<String> {
        let mut names: Vec<String> = vec![
            String::new(),
            "user_0".to_string(),
            "o'neil \"quoted\"".to_string(),
            "ünïcødé ✓ 🦀".to_string(),
            "x".repeat(63),
            "x".repeat(64),
            "y".repeat(8191),
            "z".repeat(70_000),
        ];
        names.extend((0..200).map(|n| format!("user_{}", n * 7919)));
        names
    }

    #[test]
    fn direct_encoding_equals_apache_avro() {
        let codec = codec();
        for name in names() {
            let user = User { name };
            let mut direct = Vec::new();
            codec.encode(&user, &mut direct);
            assert_eq!(
                direct,
                codec.encode_generic(&user).expect("encodes"),
                "{user:?}"
            );
        }
    }

    #[test]
    fn both_decode_paths_round_trip() {
        let codec = codec();
        let writer = codec.writer_schema(USER_SCHEMA_JSON).expect("own schema");
        assert!(writer.is_reader_schema);
        for name in names() {
            let user = User { name };
            let mut datum = Vec::new();
            codec.encode(&user, &mut datum);
            assert_eq!(codec.decode(&writer, &datum), Ok(user.clone()));
            assert_eq!(codec.decode_generic(&writer, &datum), Ok(user));
        }
    }

    #[test]
    fn record_from_a_newer_schema_with_a_defaulted_field_resolves() {
        let codec = codec();
        let newer = r#"{"namespace":"example.avro","type":"record","name":"User","fields":[
            {"name":"name","type":"string"},
            {"name":"favorite_number","type":["null","int"],"default":null},
            {"name":"email","type":"string","default":""}]}"#;
        let writer = codec.writer_schema(newer).expect("newer schema parses");
        assert!(!writer.is_reader_schema);
        let record = apache_avro::types::Value::Record(vec![
            (
                "name".into(),
                apache_avro::types::Value::String("user_42".into()),
            ),
            (
                "favorite_number".into(),
                apache_avro::types::Value::Union(1, Box::new(apache_avro::types::Value::Int(7))),
            ),
            (
                "email".into(),
                apache_avro::types::Value::String("a@b.c".into()),
            ),
        ]);
        let schema = Schema::parse_str(newer).expect("parses");
        let datum = apache_avro::to_avro_datum(&schema, record).expect("encodes");
        assert_eq!(codec.decode(&writer, &datum), Ok(User::numbered(42)));
    }

    #[test]
    fn writer_schema_that_cannot_become_user_is_an_error() {
        let codec = codec();
        let other = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;
        let error = codec.writer_schema(other).expect_err("no name field");
        assert_eq!(error.kind(), AvroErrorKind::Schema);
        assert!(error.to_string().contains("no field `name`"), "{error}");
        // apache-avro, which admitted it, failed on every record written with it.
        let schema = Schema::parse_str(other).expect("parses");
        let datum = apache_avro::to_avro_datum(
            &schema,
            apache_avro::types::Value::Record(vec![(
                "id".into(),
                apache_avro::types::Value::Long(1),
            )]),
        )
        .expect("encodes");
        let reader = Schema::parse_str(USER_SCHEMA_JSON).expect("parses");
        assert!(apache_avro::from_avro_datum(&schema, &mut &datum[..], Some(&reader)).is_err());
        assert_eq!(
            codec
                .writer_schema("{not json")
                .map(|_| ())
                .map_err(|e| e.kind()),
            Err(AvroErrorKind::Schema)
        );
    }

    #[test]
    fn bad_bodies_are_errors_on_both_paths() {
        let codec = codec();
        let writer = codec.writer_schema(USER_SCHEMA_JSON).expect("own schema");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("truncated string", vec![0x0c, b'u', b's']),
            ("truncated varint", vec![0x80]),
            ("negative length", vec![0x01]),
            (
                "huge length",
                vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
            ("varint overflow", vec![0xff; 11]),
            ("invalid UTF-8", vec![0x04, 0xff, 0xfe]),
            ("trailing bytes", vec![0x02, b'a', b'b']),
        ];
        for (what, datum) in cases {
            assert!(
                codec.decode(&writer, &datum).is_err(),
                "direct accepted {what}"
            );
            assert!(
                codec.decode_generic(&writer, &datum).is_err(),
                "generic accepted {what}"
            );
        }
    }

    #[test]
    fn registration_text_is_stable_compact_json() {
        let codec = codec();
        assert_eq!(
            codec.registration_text(),
            r#"{"fields":[{"name":"name","type":"string"}],"name":"User","namespace":"example.avro","type":"record"}"#
        );
    }
}
