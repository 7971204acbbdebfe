//! Records of any type written: [`GenericEncoder`] writes apache-avro generic values with a
//! schema of your own, registered under the producer's subject, or with the subject's latest
//! version (`SCHEMA_REGISTRY_USE_LATEST`) when that version can read what your schema writes.

use apache_avro::schema::Schema;
use apache_avro::types::Value;

use super::error::{rejected, AvroError, AvroErrorKind};
use super::generic::{owned_names, GenericCodec, GenericPlan};
use super::nodes::type_name;
use super::schema_text::parse_schema;
use super::value::{ValueDecoder, ValueEncoder};

/// Writes apache-avro [`Value`]s of one schema (an Avro schema's JSON, from an `.avsc` file
/// or `apache_avro::AvroSchema::get_schema().canonical_form()`).
///
/// With `SCHEMA_REGISTRY_USE_LATEST=true` the producer writes with the subject's latest
/// version instead, if that version can read what this schema writes by the Avro
/// specification's rules (every field the value lacks has a default there; names, types and
/// promotions as [`GenericCodec::with_reader_schema`] resolves them): each value is written
/// as this schema says, read back as the latest version (its defaults filled in), and
/// written so. A latest version that cannot read it is refused at start-up.
///
/// A value that is not of its schema is an [`AvroError`] from [`crate::Producer::send`],
/// nothing sent.
///
/// ```
/// use apache_avro::types::Value;
/// use kafka_avro_daemon::{GenericEncoder, ValueEncoder};
///
/// let encoder = GenericEncoder::new(r#"{"type": "record", "name": "P", "namespace": "ex", "fields": [{"name": "n", "type": "long"}]}"#)?;
/// assert_eq!(encoder.full_name(), "ex.P");
/// let mut body = Vec::new();
/// let value = Value::Record(vec![("n".into(), Value::Long(42))]);
/// encoder.encode(&encoder.own_plan(), &value, &mut body)?;
/// assert_eq!(body, [0x54]); // 42, zigzag
/// # Ok::<(), kafka_avro_daemon::AvroError>(())
/// ```
#[derive(Debug)]
pub struct GenericEncoder {
    text: String,
    schema: Schema,
    full_name: String,
}

/// How much of apache-avro's reason for refusing a value an error keeps.
const MAX_REASON_CHARS: usize = 400;

/// How a [`GenericEncoder`] writes: with its own schema, or with a later version of it.
#[derive(Debug)]
pub struct GenericWritePlan {
    /// The schema the bodies are written with.
    schema: Schema,
    /// With a later version: the own schema's bodies read as that version.
    to_latest: Option<ToLatest>,
}

/// The own schema's values read as a later version.
#[derive(Debug)]
struct ToLatest {
    codec: GenericCodec,
    own: GenericPlan,
}

impl GenericEncoder {
    /// An encoder of values of `schema` (an Avro schema's JSON); an error if it is no schema.
    pub fn new(schema: &str) -> Result<GenericEncoder, AvroError> {
        let parsed = parse_schema(schema)?;
        // Checked once here: every named type it uses is defined.
        owned_names(&parsed)?;
        let full_name = match &parsed {
            Schema::Record(record) => record.name.fullname(None),
            Schema::Enum(named) => named.name.fullname(None),
            Schema::Fixed(named) => named.name.fullname(None),
            other => type_name(other).to_string(),
        };
        Ok(GenericEncoder {
            text: schema.to_string(),
            schema: parsed,
            full_name,
        })
    }
}

impl ValueEncoder for GenericEncoder {
    type Value = Value;
    type WriterPlan = GenericWritePlan;

    fn schema(&self) -> &str {
        &self.text
    }

    fn full_name(&self) -> &str {
        &self.full_name
    }

    fn own_plan(&self) -> GenericWritePlan {
        GenericWritePlan {
            schema: self.schema.clone(),
            to_latest: None,
        }
    }

    fn plan_for(&self, writer_schema: &str) -> Result<GenericWritePlan, AvroError> {
        let schema = parse_schema(writer_schema)?;
        let codec = GenericCodec::with_reader_schema(writer_schema)?;
        let own = codec.admit(&self.text).map_err(|e| {
            rejected(format!(
                "values of {} cannot be written with it: {e}",
                self.full_name
            ))
        })?;
        Ok(GenericWritePlan {
            schema,
            to_latest: Some(ToLatest { codec, own }),
        })
    }

    fn fills_defaults(&self, plan: &GenericWritePlan) -> bool {
        plan.to_latest
            .as_ref()
            .is_some_and(|latest| latest.own.fills_defaults())
    }

    fn encode(
        &self,
        plan: &GenericWritePlan,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), AvroError> {
        // apache-avro checks the value against the schema before it writes it.
        let body = match &plan.to_latest {
            None => apache_avro::to_avro_datum(&plan.schema, value.clone()),
            Some(latest) => {
                let own = apache_avro::to_avro_datum(&self.schema, value.clone())
                    .map_err(|e| self.cannot_write(e))?;
                let resolved = latest.codec.decode(&latest.own, &own)?;
                apache_avro::to_avro_datum(&plan.schema, resolved)
            }
        };
        out.extend_from_slice(&body.map_err(|e| self.cannot_write(e))?);
        Ok(())
    }
}

impl GenericEncoder {
    /// Its schema, parsed.
    pub(crate) fn parsed_schema(&self) -> &Schema {
        &self.schema
    }

    /// apache-avro's refusal, in one line of bounded length (its message quotes the whole
    /// value and schema).
    fn cannot_write(&self, error: apache_avro::Error) -> AvroError {
        let text = error.to_string().replace('\n', " ");
        let cut = text
            .char_indices()
            .nth(MAX_REASON_CHARS)
            .map_or(text.len(), |(i, _)| i);
        AvroError::new(
            AvroErrorKind::Unresolvable,
            format!(
                "the value cannot be written as a {}: {}",
                self.full_name,
                &text[..cut]
            ),
        )
    }
}
