//! Writing a `User` with a schema other than our own: the subject's latest version, for
//! `SCHEMA_REGISTRY_USE_LATEST=true`. Such a schema is usable when it is a record whose
//! `name` field is a `string` and whose every other field has a default: those fields are
//! written with their defaults, as Confluent's serializer with `use.latest.version` writes a
//! `User` object's missing fields. Their bytes never change, so they are encoded once, at
//! start-up, into the bytes before and after the name ([`UserLayout`]); each record then
//! costs two copies more than our own schema does.
//!
//! The defaults are encoded by apache-avro (which fills in nested records' defaults too).
//! Bounded: a defaulted field may not refer to a named type (`Ref`), since a record that
//! contains itself and defaults to `{}` would be filled in without end; the defaults'
//! encoding may take at most [`MAX_DEFAULTS_BYTES`].

use apache_avro::schema::RecordSchema;
use apache_avro::types::Value;
use apache_avro::Schema;

use super::error::{AvroError, AvroErrorKind};
use super::user::User;
use super::varint::write_long;

/// The most bytes the defaulted fields of one record may take: every record carries them.
pub(crate) const MAX_DEFAULTS_BYTES: usize = 64 * 1024;

/// Deepest nesting of a defaulted field's type that is walked.
const MAX_DEPTH: usize = 32;

/// Stands for the name while the defaults are encoded, then is cut out: control characters
/// around a text no schema default carries by accident.
const NAME_MARKER: &str = "\u{1}kafka-avro-daemon:name-goes-here\u{1}";

/// The schema this daemon's records are written with: its own, or the subject's latest
/// version (`SCHEMA_REGISTRY_USE_LATEST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnSchema {
    /// Its registry id, in every record's prefix.
    pub id: u32,
    /// Its Parsing Canonical Form: the consumers recognise it when the registry serves it
    /// back, which tells them the registry is still the healthy one.
    pub canonical: String,
    /// How a `User` is written with it.
    pub layout: UserLayout,
}

/// How a `User` is laid out in the datum of one writer schema: the fields before `name`, the
/// name, the fields after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserLayout {
    before_name: Vec<u8>,
    after_name: Vec<u8>,
}

impl UserLayout {
    /// Our own schema: the name is all there is.
    pub fn own() -> UserLayout {
        UserLayout::default()
    }

    /// The layout for `schema`, or why a `User` cannot be written with it.
    pub(crate) fn of(schema: &Schema) -> Result<UserLayout, AvroError> {
        let Schema::Record(record) = schema else {
            return Err(unusable("it is not a record".to_string()));
        };
        check_fields(record)?;
        // Resolution fills in every field but `name` from its default.
        let value = Value::Record(vec![(
            "name".to_string(),
            Value::String(NAME_MARKER.to_string()),
        )])
        .resolve(schema)
        .map_err(|e| unusable(format!("its defaults do not fit their fields: {e}")))?;
        let datum = apache_avro::to_avro_datum(schema, value)
            .map_err(|e| unusable(format!("its defaults cannot be encoded: {e}")))?;
        let mut marker = Vec::new();
        write_long(NAME_MARKER.len() as i64, &mut marker);
        marker.extend_from_slice(NAME_MARKER.as_bytes());
        let mut found = datum
            .windows(marker.len())
            .enumerate()
            .filter(|(_, window)| *window == marker.as_slice())
            .map(|(at, _)| at);
        let (Some(at), None) = (found.next(), found.next()) else {
            return Err(unusable(
                "a default holds the text that stands for the name".to_string(),
            ));
        };
        if datum.len() - marker.len() > MAX_DEFAULTS_BYTES {
            return Err(unusable(format!(
                "its defaults take {} bytes per record, more than {MAX_DEFAULTS_BYTES}",
                datum.len() - marker.len()
            )));
        }
        Ok(UserLayout {
            before_name: datum[..at].to_vec(),
            after_name: datum[at + marker.len()..].to_vec(),
        })
    }

    /// Appends the Avro encoding of `user` to `out`.
    pub fn encode(&self, user: &User, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.before_name);
        write_long(user.name.len() as i64, out);
        out.extend_from_slice(user.name.as_bytes());
        out.extend_from_slice(&self.after_name);
    }

    /// Whether fields other than `name` are written.
    pub fn has_defaults(&self) -> bool {
        !self.before_name.is_empty() || !self.after_name.is_empty()
    }
}

/// `name` is a `string`; every other field has a default and refers to no named type.
fn check_fields(record: &RecordSchema) -> Result<(), AvroError> {
    let mut has_name = false;
    for field in &record.fields {
        if field.name == "name" {
            if field.schema != Schema::String {
                return Err(unusable(format!(
                    "its field `name` is {}, not a string",
                    field.schema.canonical_form()
                )));
            }
            has_name = true;
        } else if field.default.is_none() {
            return Err(unusable(format!(
                "its field `{}` has no default, and a User has nothing to write there",
                field.name
            )));
        } else if refers_to_named_type(&field.schema, 0) {
            return Err(unusable(format!(
                "its field `{}` refers to another named type (or nests deeper than {MAX_DEPTH}); only self-contained field types are written from defaults",
                field.name
            )));
        }
    }
    if has_name {
        Ok(())
    } else {
        Err(unusable("it has no field `name`".to_string()))
    }
}

fn refers_to_named_type(schema: &Schema, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match schema {
        Schema::Ref { .. } => true,
        Schema::Array(array) => refers_to_named_type(&array.items, depth + 1),
        Schema::Map(map) => refers_to_named_type(&map.types, depth + 1),
        Schema::Union(union) => union
            .variants()
            .iter()
            .any(|branch| refers_to_named_type(branch, depth + 1)),
        Schema::Record(record) => record
            .fields
            .iter()
            .any(|field| refers_to_named_type(&field.schema, depth + 1)),
        _ => false,
    }
}

fn unusable(reason: String) -> AvroError {
    AvroError::new(
        AvroErrorKind::Schema,
        format!("a User cannot be written with this schema: {reason}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(schema: &str) -> Result<UserLayout, AvroError> {
        UserLayout::of(&Schema::parse_str(schema).expect("valid schema"))
    }

    fn encode(layout: &UserLayout, name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        layout.encode(
            &User {
                name: name.to_string(),
            },
            &mut out,
        );
        out
    }

    #[test]
    fn our_own_schema_writes_the_name_alone() {
        let own = layout(super::super::user::USER_SCHEMA_JSON).expect("own");
        assert_eq!(own, UserLayout::own());
        assert!(!own.has_defaults());
        assert_eq!(encode(&own, "ab"), vec![4, b'a', b'b']);
    }

    #[test]
    fn fields_around_the_name_are_written_from_their_defaults_as_apache_avro_writes_them() {
        let schema = r#"{"type":"record","name":"User","namespace":"example.avro","fields":[
            {"name":"id","type":"long","default":-2},
            {"name":"name","type":"string"},
            {"name":"email","type":["null","string"],"default":null},
            {"name":"tags","type":{"type":"array","items":"string"},"default":["a"]},
            {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["X","Y"]},"default":"Y"},
            {"name":"nested","type":{"type":"record","name":"N","fields":[{"name":"n","type":"int","default":3}]},"default":{}}
        ]}"#;
        let layout = layout(schema).expect("usable");
        assert!(layout.has_defaults());
        let expected = apache_avro::to_avro_datum(
            &Schema::parse_str(schema).expect("schema"),
            Value::Record(vec![
                ("id".to_string(), Value::Long(-2)),
                ("name".to_string(), Value::String("user_7".to_string())),
                ("email".to_string(), Value::Union(0, Box::new(Value::Null))),
                (
                    "tags".to_string(),
                    Value::Array(vec![Value::String("a".to_string())]),
                ),
                ("kind".to_string(), Value::Enum(1, "Y".to_string())),
                (
                    "nested".to_string(),
                    Value::Record(vec![("n".to_string(), Value::Int(3))]),
                ),
            ]),
        )
        .expect("reference encoding");
        assert_eq!(encode(&layout, "user_7"), expected);
    }

    #[test]
    fn schemas_a_user_cannot_be_written_with_are_refused_saying_why() {
        for (schema, reason) in [
            (r#""string""#, "not a record"),
            (
                r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long","default":1}]}"#,
                "no field `name`",
            ),
            (
                r#"{"type":"record","name":"User","fields":[{"name":"name","type":"int"}]}"#,
                "field `name` is \"int\", not a string",
            ),
            (
                r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#,
                "field `age` has no default",
            ),
            (
                r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"next","type":["null","User"],"default":null}]}"#,
                "field `next` refers to another named type",
            ),
            (
                r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"pad","type":"bytes","default":"\u0001kafka-avro-daemon:name-goes-here\u0001"}]}"#,
                "holds the text that stands for the name",
            ),
        ] {
            let error = layout(schema).expect_err(schema);
            assert_eq!(error.kind(), AvroErrorKind::Schema);
            assert!(error.to_string().contains(reason), "{reason:?} in {error}");
        }
    }

    #[test]
    fn defaults_larger_than_the_bound_are_refused() {
        let big = "x".repeat(MAX_DEFAULTS_BYTES + 1);
        let schema = format!(
            r#"{{"type":"record","name":"User","fields":[{{"name":"name","type":"string"}},{{"name":"pad","type":"string","default":"{big}"}}]}}"#
        );
        let error = layout(&schema).expect_err("too big");
        assert!(error.to_string().contains("more than 65536"), "{error}");
    }
}
