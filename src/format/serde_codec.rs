//! Records of a type of yours, both ways: [`SerdeCodec`] writes a serde `Serialize` type with
//! its Avro schema and reads records of any compatible writer schema into a
//! `DeserializeOwned` one, through apache-avro's generic value and the bounded generic codec.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{AvroError, AvroErrorKind};
use super::generic::{GenericCodec, GenericPlan};
use super::generic_encoder::{GenericEncoder, GenericWritePlan};
use super::value::{ValueDecoder, ValueEncoder};

/// Writes and reads values of your type `T` with its Avro schema (an `.avsc`'s text, or
/// `T::get_schema().canonical_form()` with apache-avro's `derive` feature).
///
/// - As a [`ValueEncoder`]: `T` becomes apache-avro's generic value (`apache_avro::to_value`),
///   shaped to the schema (an `Option` as its union, a unit enum variant as its symbol, an
///   `i64` as a timestamp), and is written as [`GenericEncoder`] writes it, with
///   `SCHEMA_REGISTRY_USE_LATEST` alike. Shaping is apache-avro's own `Value::resolve`, on
///   your values only: its time grows with each level of records nested through unions, so
///   keep such values shallow.
/// - As a [`ValueDecoder`]: a record of any writer schema is decoded within the generic
///   codec's bounds and resolved to the schema ([`GenericCodec::with_reader_schema`]), then
///   becomes a `T` (`apache_avro::from_value`). A value that does not fit `T` is a decode
///   error of its record.
///
/// ```
/// use kafka_avro_daemon::{SerdeCodec, ValueDecoder, ValueEncoder};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Point { x: i64, label: Option<String> }
///
/// let schema = r#"{"type": "record", "name": "Point", "fields": [
///     {"name": "x", "type": "long"}, {"name": "label", "type": ["null", "string"]}]}"#;
/// let codec = SerdeCodec::<Point>::new(schema)?;
/// let point = Point { x: 42, label: Some("here".into()) };
/// let mut body = Vec::new();
/// codec.encode(&codec.own_plan(), &point, &mut body)?;
/// let plan = codec.admit(schema)?;
/// assert_eq!(codec.decode(&plan, &body)?, point);
/// # Ok::<(), kafka_avro_daemon::AvroError>(())
/// ```
pub struct SerdeCodec<T> {
    encoder: GenericEncoder,
    decoder: GenericCodec,
    /// `fn() -> T`: the codec holds no `T`, so it is `Send` and `Sync` whatever `T` is.
    of: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for SerdeCodec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerdeCodec")
            .field("full_name", &self.encoder.full_name())
            .finish()
    }
}

impl<T> SerdeCodec<T> {
    /// A codec of `T` values with `schema` (an Avro schema's JSON); an error if it is none.
    pub fn new(schema: &str) -> Result<SerdeCodec<T>, AvroError> {
        Ok(SerdeCodec {
            encoder: GenericEncoder::new(schema)?,
            decoder: GenericCodec::with_reader_schema(schema)?,
            of: PhantomData,
        })
    }
}

impl<T: Serialize + Sync> ValueEncoder for SerdeCodec<T> {
    type Value = T;
    type WriterPlan = GenericWritePlan;

    fn schema(&self) -> &str {
        self.encoder.schema()
    }

    fn full_name(&self) -> &str {
        self.encoder.full_name()
    }

    fn own_plan(&self) -> GenericWritePlan {
        self.encoder.own_plan()
    }

    fn plan_for(&self, writer_schema: &str) -> Result<GenericWritePlan, AvroError> {
        self.encoder.plan_for(writer_schema)
    }

    fn fills_defaults(&self, plan: &GenericWritePlan) -> bool {
        self.encoder.fills_defaults(plan)
    }

    fn encode(
        &self,
        plan: &GenericWritePlan,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), AvroError> {
        let full_name = self.encoder.full_name();
        let not_written = |why: String| {
            AvroError::new(
                AvroErrorKind::Unresolvable,
                format!("the value cannot be written as a {full_name}: {why}"),
            )
        };
        let generic = apache_avro::to_value(value).map_err(|e| not_written(e.to_string()))?;
        // A panic in apache-avro's resolution is a refused value, not a crash.
        let shaped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            generic.resolve(self.encoder.parsed_schema())
        }))
        .map_err(|_| not_written("apache-avro panicked shaping it".to_string()))?
        .map_err(|e| not_written(e.to_string()))?;
        self.encoder.encode(plan, &shaped, out)
    }
}

impl<T: DeserializeOwned + Send> ValueDecoder for SerdeCodec<T> {
    type Value = T;
    type WriterPlan = GenericPlan;

    fn admit(&self, writer_schema: &str) -> Result<GenericPlan, AvroError> {
        self.decoder.admit(writer_schema)
    }

    fn decode(&self, plan: &GenericPlan, body: &[u8]) -> Result<T, AvroError> {
        let value = self.decoder.decode(plan, body)?;
        apache_avro::from_value(&value).map_err(|e| {
            AvroError::new(
                AvroErrorKind::Unresolvable,
                format!("cannot be read as a {}: {e}", self.encoder.full_name()),
            )
        })
    }
}
