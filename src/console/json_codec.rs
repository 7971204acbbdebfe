//! The console's value decoder: any record, decoded by [`GenericCodec`] within its bounds,
//! then written as one line of Avro JSON (`format/avro_json.rs`).

use crate::format::{write_avro_json, AvroError, GenericCodec, GenericPlan, ValueDecoder};

/// Decodes values of any writer schema (resolved to a reader schema, if given) to their
/// Avro JSON text.
pub(crate) struct JsonCodec {
    generic: GenericCodec,
}

impl JsonCodec {
    pub(crate) fn new(generic: GenericCodec) -> JsonCodec {
        JsonCodec { generic }
    }
}

impl ValueDecoder for JsonCodec {
    type Value = String;
    type WriterPlan = GenericPlan;

    fn admit(&self, writer_schema: &str) -> Result<GenericPlan, AvroError> {
        self.generic.admit(writer_schema)
    }

    fn decode(&self, plan: &GenericPlan, body: &[u8]) -> Result<String, AvroError> {
        let value = self.generic.decode(plan, body)?;
        let (schema, names) = self.generic.value_schema(plan);
        let mut json = String::new();
        write_avro_json(&value, schema, names, &mut json)?;
        Ok(json)
    }
}
