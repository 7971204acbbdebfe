//! Records of any type: [`GenericCodec`] decodes a body written with any writer schema into
//! apache-avro's generic [`Value`], as written or resolved to a reader schema, within the same
//! bounds as the `User` decoder.
//!
//! How it stays bounded: apache-avro's decoder recurses once per nesting level and reserves
//! collections by the counts the data claims, so no datum reaches it unchecked. Each datum is
//! first walked with the writer schema compiled for skipping (`nodes.rs`, `resolve.rs`): depth,
//! lengths and counts against the bytes left, every value as apache-avro checks it, no bytes
//! left over, and the memory apache-avro will take for it (values of types that take no
//! bytes, record field names and enum symbols it copies per value, strings, bytes and keys
//! included) at most [`MAX_GENERIC_BYTES`](super::resolve::MAX_GENERIC_BYTES); records of
//! only nulls nested by name count towards the depth. Only a datum that passes is decoded
//! by apache-avro. Writer schemas are parsed as every schema from outside is
//! (`schema_text.rs`).
//!
//! Resolution to a reader schema is this project's own (`reader_schema.rs`), one pass over
//! the value: apache-avro's `Value::resolve` is no bounded step (its time doubles with each
//! level of records nested through unions: a 23-level datum of a recursive schema, a few
//! hundred bytes, took 154 s in a debug build; and it `expect`s on named types in unions).

use apache_avro::schema::{ResolvedSchema, Schema};
use apache_avro::types::Value;

use super::error::{rejected, AvroError, AvroErrorKind};
use super::nodes::{Compiler, Node, NodeId, Weights};
use super::reader_schema::{check_defaults, Names, ResolutionPlan};
use super::resolve::{walk_datum, MAX_DECODE_ALLOCATION, MAX_GENERIC_BYTES};
use super::schema_text::{parse_schema, parse_writer_schema};
use super::value::ValueDecoder;

/// Decodes records of any type into apache-avro's [`Value`]: as their writer schema says, or
/// resolved to a reader schema ([`GenericCodec::with_reader_schema`]) by the Avro
/// specification's rules — records by field name and the reader's aliases, missing reader
/// fields from their defaults, enums by symbol (else the reader's default), unions on either
/// side, arrays, maps, fixed, the promotions, logical types by their underlying types.
///
/// Every datum is checked before apache-avro reads it (at most 24 nested records, arrays and
/// maps, lengths and counts against the bytes left, at most 32 MiB decoded per record):
/// hostile bytes and schemas are an [`AvroError`], never a crash or an allocation the bytes do
/// not pay for.
///
/// ```
/// use kafka_avro_daemon::{GenericCodec, ValueDecoder};
///
/// let codec = GenericCodec::new();
/// let plan = codec.admit(r#"{"type": "record", "name": "P", "fields": [{"name": "n", "type": "long"}]}"#)?;
/// let value = codec.decode(&plan, &[0x54])?; // 42, zigzag
/// assert_eq!(format!("{value:?}"), r#"Record([("n", Long(42))])"#);
/// # Ok::<(), kafka_avro_daemon::AvroError>(())
/// ```
#[derive(Debug)]
pub struct GenericCodec {
    reader: Option<ReaderSchema>,
}

/// A reader schema and its named types.
#[derive(Debug)]
struct ReaderSchema {
    schema: Schema,
    names: Names,
}

/// A writer schema admitted by [`GenericCodec`]: parsed, and compiled for the bounded walk.
#[derive(Debug)]
pub struct GenericPlan {
    schema: Schema,
    names: Names,
    nodes: Box<[Node]>,
    root: NodeId,
    weights: Weights,
    /// With a reader schema: how its values become the reader's.
    resolution: Option<ResolutionPlan>,
}

impl GenericCodec {
    /// A decoder of values as their writer schema says.
    pub fn new() -> GenericCodec {
        // The allocation limit apache-avro checks its lengths against (process-wide, set
        // once: the `User` codec sets the same).
        apache_avro::util::max_allocation_bytes(MAX_DECODE_ALLOCATION);
        GenericCodec { reader: None }
    }

    /// A decoder of values resolved to `reader_schema` (an Avro schema's JSON text) by the
    /// Avro specification's rules (`format/reader_schema.rs`); an error if it is no schema. A
    /// writer schema none of whose data can resolve to it (a reader field without default the
    /// writer lacks, a type that can never be read as the reader's) is refused when admitted,
    /// once per schema id; a record whose data does not resolve (an enum symbol the reader
    /// lacks, a union branch it cannot take) is a decode error of its own.
    pub fn with_reader_schema(reader_schema: &str) -> Result<GenericCodec, AvroError> {
        let schema = parse_schema(reader_schema)?;
        let names = owned_names(&schema)?;
        check_defaults(&names, MAX_GENERIC_BYTES)?;
        let mut codec = GenericCodec::new();
        codec.reader = Some(ReaderSchema { schema, names });
        Ok(codec)
    }

    /// The schema the values this codec decodes with `plan` follow, and its named types: its
    /// reader schema if it has one, else the plan's writer schema (what writing a value as
    /// Avro JSON needs beside it).
    pub(crate) fn value_schema<'a>(&'a self, plan: &'a GenericPlan) -> (&'a Schema, &'a Names) {
        match &self.reader {
            Some(reader) => (&reader.schema, &reader.names),
            None => plan.writer_schema(),
        }
    }
}

impl GenericPlan {
    /// The writer schema, and its named types.
    /// Whether values read with it take fields from the reader schema's defaults.
    pub(crate) fn fills_defaults(&self) -> bool {
        self.resolution
            .as_ref()
            .is_some_and(ResolutionPlan::uses_defaults)
    }

    pub(crate) fn writer_schema(&self) -> (&Schema, &Names) {
        (&self.schema, &self.names)
    }
}

/// The named types of `schema`, owned.
pub(super) fn owned_names(schema: &Schema) -> Result<Names, AvroError> {
    let resolved = ResolvedSchema::try_from(schema)
        .map_err(|e| rejected(format!("its names do not resolve: {e}")))?;
    Ok(resolved
        .get_names()
        .iter()
        .map(|(name, schema)| (name.clone(), (*schema).clone()))
        .collect())
}

impl Default for GenericCodec {
    fn default() -> Self {
        GenericCodec::new()
    }
}

impl ValueDecoder for GenericCodec {
    type Value = Value;
    type WriterPlan = GenericPlan;

    fn admit(&self, writer_schema: &str) -> Result<GenericPlan, AvroError> {
        let schema = parse_writer_schema(writer_schema)?;
        let names = owned_names(&schema)?;
        let (nodes, root, weights) = {
            let by_ref = names
                .iter()
                .map(|(name, schema)| (name.clone(), schema))
                .collect();
            let mut compiler = Compiler::new(&by_ref);
            let root = compiler.compile(&schema, &None, 0)?;
            let weights = compiler.weights();
            (compiler.into_nodes(), root, weights)
        };
        // Compiled once per writer schema; a pair no datum of which can resolve is refused
        // here, not found out record by record.
        let resolution = match &self.reader {
            None => None,
            Some(reader) => Some(
                ResolutionPlan::compile(
                    &schema,
                    &names,
                    &reader.schema,
                    &reader.names,
                    MAX_GENERIC_BYTES,
                )
                .map_err(|e| rejected(format!("cannot be read as the reader schema: {e}")))?,
            ),
        };
        Ok(GenericPlan {
            resolution,
            schema,
            names,
            nodes,
            root,
            weights,
        })
    }

    fn decode(&self, plan: &GenericPlan, body: &[u8]) -> Result<Value, AvroError> {
        let used = walk_datum(&plan.nodes, &plan.weights, plan.root, body)?;
        let mut rest = body;
        let value = apache_avro::from_avro_datum(&plan.schema, &mut rest, None)
            .map_err(|e| AvroError::new(AvroErrorKind::Malformed, e.to_string()))?;
        match &plan.resolution {
            None => Ok(value),
            Some(resolution) => resolution.resolve(value, MAX_GENERIC_BYTES.saturating_sub(used)),
        }
    }
}
