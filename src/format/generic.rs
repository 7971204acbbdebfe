//! Records of any type: [`GenericCodec`] decodes a body written with any writer schema into
//! apache-avro's generic [`Value`], as its writer schema says, within the same bounds as the
//! `User` decoder.
//!
//! How it stays bounded: apache-avro's decoder recurses once per nesting level and reserves
//! collections by the counts the data claims, so no datum reaches it unchecked. Each datum is
//! first walked with the writer schema compiled for skipping (`nodes.rs`, `resolve.rs`): depth,
//! lengths and counts against the bytes left, every value as apache-avro checks it, no bytes
//! left over, and the number of values apache-avro will make of it (values that take no
//! bytes included) at most [`MAX_GENERIC_VALUES`](super::resolve::MAX_GENERIC_VALUES). Only
//! a datum that passes is decoded by apache-avro. Writer schemas are parsed as every schema
//! from outside is (`schema_text.rs`).
//!
//! Not resolved to a reader schema: apache-avro's `Value::resolve` is no bounded step. Its
//! cost doubles with each level of records nested through unions (a 23-level datum of a
//! recursive schema took 154 s in a debug build, a few hundred bytes of input), and it
//! `expect`s on named types inside unions. Resolution needs a resolver of this project's
//! own, linear in the datum.

use apache_avro::schema::{ResolvedSchema, Schema};
use apache_avro::types::Value;

use super::error::{rejected, AvroError, AvroErrorKind};
use super::nodes::{Compiler, Node, NodeId, Weights};
use super::resolve::{walk_datum, MAX_DECODE_ALLOCATION};
use super::schema_text::parse_schema;
use super::value::ValueDecoder;

/// Decodes records of any type into apache-avro's [`Value`], as their writer schema says
/// (not resolved to a reader schema: see the module's docs).
///
/// Every datum is checked against the bounds of the `User` decoder before apache-avro reads
/// it (depth, lengths and counts against the bytes left, at most 512 Ki values per record):
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
pub struct GenericCodec(());

/// A writer schema admitted by [`GenericCodec`]: parsed, and compiled for the bounded walk.
#[derive(Debug)]
pub struct GenericPlan {
    schema: Schema,
    nodes: Box<[Node]>,
    root: NodeId,
    weights: Weights,
}

impl GenericCodec {
    /// A decoder of values as their writer schema says.
    pub fn new() -> GenericCodec {
        // The allocation limit apache-avro checks its lengths against (process-wide, set
        // once: the `User` codec sets the same).
        apache_avro::util::max_allocation_bytes(MAX_DECODE_ALLOCATION);
        GenericCodec(())
    }
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
        let schema = parse_schema(writer_schema)?;
        let (nodes, root, weights) = {
            let resolved = ResolvedSchema::try_from(&schema)
                .map_err(|e| rejected(format!("its names do not resolve: {e}")))?;
            let mut compiler = Compiler::new(resolved.get_names());
            let root = compiler.compile(&schema, &None, 0)?;
            let weights = compiler.weights();
            (compiler.into_nodes(), root, weights)
        };
        Ok(GenericPlan {
            schema,
            nodes,
            root,
            weights,
        })
    }

    fn decode(&self, plan: &GenericPlan, body: &[u8]) -> Result<Value, AvroError> {
        walk_datum(&plan.nodes, &plan.weights, plan.root, body)?;
        let mut rest = body;
        apache_avro::from_avro_datum(&plan.schema, &mut rest, None)
            .map_err(|e| AvroError::new(AvroErrorKind::Malformed, e.to_string()))
    }
}
