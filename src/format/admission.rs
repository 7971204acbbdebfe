//! Admission of writer schemas: which ones a `User` can be read from, compiled once per schema
//! id (when the schema is fetched) into the [`Plan`] that the resolving decoder
//! ([`super::resolve`]) follows over every datum written with it.
//!
//! A writer schema is admitted when apache-avro parses it, every name in it resolves, and:
//! - its top level is a record, or a union with at least one such record among its branches
//!   (Avro resolves a writer union against a non-union reader by the branch each datum
//!   selects, and a registry checking BACKWARD compatibility accepts `["null", User]` as a new
//!   version of `User`);
//! - that record has a field `name` of a type Avro reads as a `string`: `string`, `bytes`
//!   (promoted), `fixed` (apache-avro reads its bytes as UTF-8 too, and did so in this daemon
//!   before), or a union with at least one such branch. The reader's `name` has no default,
//!   so a record without one can never become a `User`;
//! - it nests no deeper than [`MAX_SCHEMA_DEPTH`](super::nodes::MAX_SCHEMA_DEPTH) types (the
//!   compiler recurses over the schema).
//!
//! Everything else is the decoder's to bound, per datum. Deliberately not checked: the writer
//! record's own name. Avro's specification asks it to match the reader's; apache-avro never
//! checked it, so producers may write `User`s under other names, and refusing them now would
//! lose their records without making anything safer. Deliberately narrower than apache-avro:
//! a `map` is never read as a record (apache-avro turns a map with a `name` key into a `User`;
//! no Avro rule does).
//!
//! The types around `name` are compiled for skipping by [`super::nodes`].

use apache_avro::schema::{Namespace, RecordSchema, ResolvedSchema, Schema};

use super::error::{rejected, AvroError};
use super::nodes::{type_name, Compiler, Node, NodeId};

/// How the writer encodes the `name` it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameEncoding {
    /// A length, then UTF-8 bytes.
    String,
    /// A length, then bytes that must be UTF-8 to become a name.
    Bytes,
    /// This many bytes that must be UTF-8 to become a name.
    Fixed(usize),
}

/// The writer's `name` field.
#[derive(Debug)]
pub(crate) enum NameField {
    /// Always a value readable as a string.
    Plain(NameEncoding),
    /// A union: per branch, how to read it, or the branch's type when it cannot be a name.
    Union(Box<[Result<NameEncoding, &'static str>]>),
}

/// How to read one writer record as a `User`.
#[derive(Debug)]
pub(crate) struct RecordPlan {
    /// Fields before `name` that take bytes, to skip.
    pub(crate) before: Box<[NodeId]>,
    pub(crate) name: NameField,
    /// Fields after `name` that take bytes, to skip.
    pub(crate) after: Box<[NodeId]>,
}

/// What the datum starts with.
#[derive(Debug)]
pub(crate) enum Top {
    /// The record itself.
    Record(RecordPlan),
    /// A union index, then the branch: per branch, its plan, or why it cannot be a `User`.
    Union(Box<[Result<RecordPlan, String>]>),
}

/// An admitted writer schema, compiled for the resolving decoder.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Every type the datum may hold, referenced by index.
    pub(crate) nodes: Box<[Node]>,
    pub(crate) top: Top,
}

/// Checks that records written with `schema` can become `User`s and compiles its plan.
pub(crate) fn admit(schema: &Schema) -> Result<Plan, AvroError> {
    // The same name resolution apache-avro runs before each decode: an undefined or
    // ambiguous name fails here once instead of on every datum.
    let resolved = ResolvedSchema::try_from(schema)
        .map_err(|e| rejected(format!("its names do not resolve: {e}")))?;
    let mut compiler = Compiler::new(resolved.get_names());
    compiler.compile(schema, &None, 0)?;
    let top = match schema {
        Schema::Record(record) => {
            Top::Record(record_plan(&compiler, record, &None).map_err(rejected)?)
        }
        Schema::Union(union) => {
            let branches: Box<[Result<RecordPlan, String>]> = union
                .variants()
                .iter()
                .map(|branch| match compiler.named(branch, &None) {
                    (Schema::Record(record), namespace) => {
                        record_plan(&compiler, record, &namespace)
                    }
                    (other, _) => Err(format!("it is a {}", type_name(other))),
                })
                .collect();
            if !branches.iter().any(Result::is_ok) {
                let reasons: Vec<&str> = branches
                    .iter()
                    .filter_map(|b| b.as_ref().err())
                    .map(String::as_str)
                    .collect();
                return Err(rejected(format!(
                    "it is a union with no branch that can become a User ({})",
                    reasons.join("; ")
                )));
            }
            Top::Union(branches)
        }
        other => {
            return Err(rejected(format!(
                "it is a {}, not a record",
                type_name(other)
            )))
        }
    };
    Ok(Plan {
        nodes: compiler.into_nodes(),
        top,
    })
}

/// How to read `record` as a `User`, or why it cannot be one.
fn record_plan(
    compiler: &Compiler<'_>,
    record: &RecordSchema,
    namespace: &Namespace,
) -> Result<RecordPlan, String> {
    let full_name = record.name.fully_qualified_name(namespace);
    let fields = compiler
        .record_fields(&full_name)
        .ok_or_else(|| format!("record {} was not compiled", full_name.name))?;
    let position = record
        .fields
        .iter()
        .position(|field| field.name == "name")
        .ok_or_else(|| format!("record {} has no field `name`", full_name.name))?;
    let name_schema = &record.fields[position].schema;
    let name = match (
        name_encoding(compiler, name_schema, &full_name.namespace),
        name_schema,
    ) {
        (Ok(encoding), _) => NameField::Plain(encoding),
        (Err(_), Schema::Union(union)) => {
            let branches: Box<[Result<NameEncoding, &'static str>]> = union
                .variants()
                .iter()
                .map(|branch| name_encoding(compiler, branch, &full_name.namespace))
                .collect();
            if !branches.iter().any(Result::is_ok) {
                return Err(format!(
                    "field `name` of record {} is a union with no string, bytes or fixed branch",
                    full_name.name
                ));
            }
            NameField::Union(branches)
        }
        (Err(kind), _) => {
            return Err(format!(
                "field `name` of record {} is a {kind}, which Avro does not read as a string",
                full_name.name
            ))
        }
    };
    let keep = |ids: &[NodeId]| {
        ids.iter()
            .copied()
            .filter(|&f| compiler.takes_bytes(f).is_some())
            .collect()
    };
    Ok(RecordPlan {
        before: keep(fields.get(..position).unwrap_or_default()),
        name,
        after: keep(fields.get(position + 1..).unwrap_or_default()),
    })
}

/// How a `name` of type `schema` is encoded, or the type's name if it cannot be a string.
fn name_encoding(
    compiler: &Compiler<'_>,
    schema: &Schema,
    namespace: &Namespace,
) -> Result<NameEncoding, &'static str> {
    match compiler.named(schema, namespace).0 {
        Schema::String => Ok(NameEncoding::String),
        Schema::Bytes => Ok(NameEncoding::Bytes),
        Schema::Fixed(fixed) => Ok(NameEncoding::Fixed(fixed.size)),
        other => Err(type_name(other)),
    }
}
