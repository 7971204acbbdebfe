//! A writer schema compiled for skipping: each type a [`Node`], a reference to a named type
//! the index of its node, so a recursive schema is a finite cyclic graph and the decoder
//! never looks a name up. Types that always encode to no bytes (`null`, `fixed` of size 0,
//! records of only those) are left out of records, arrays and maps, so every value the
//! decoder visits takes at least one byte of the datum.

use std::collections::HashMap;

use apache_avro::schema::{Name, Namespace, RecordSchema, Schema};

use super::error::{rejected, AvroError};

/// Deepest nesting of types a writer schema may have. apache-avro's JSON parser already stops
/// at 128 levels of JSON; this keeps the compiler's recursion bounded on its own terms.
pub(crate) const MAX_SCHEMA_DEPTH: usize = 256;

/// Index of a [`Node`] in the compiled list.
pub(crate) type NodeId = usize;

/// How to skip one value of a writer type.
#[derive(Debug)]
pub(crate) enum Node {
    /// No bytes: `null`, `fixed` of size 0, a record of only such fields.
    Empty,
    /// One byte, 0 or 1.
    Boolean,
    /// `int`, `date`, `time-millis`: a varint that must fit in 32 bits.
    Int,
    /// `long` and the timestamps and times on it.
    Long,
    /// Exactly this many bytes: `float` (4), `double` (8), `fixed`, `duration` (12), a decimal
    /// on `fixed`.
    Fixed(usize),
    /// A length, then that many bytes: `string` (which must be UTF-8), `bytes`, and the
    /// logical types on them (`uuid`, decimals).
    Counted {
        /// Whether the bytes must be UTF-8 (a `string`).
        utf8: bool,
    },
    /// An `int` index below the number of symbols.
    Enum {
        /// How many symbols the enum has.
        symbols: usize,
    },
    /// A branch index, then a value of that branch.
    Union(Box<[NodeId]>),
    /// Its fields that take bytes, in order.
    Record(Box<[NodeId]>),
    /// Blocks of items; `None` when the items take no bytes.
    Array(Option<NodeId>),
    /// Blocks of string keys and values; `None` when the values take no bytes.
    Map(Option<NodeId>),
}

/// Turns a parsed schema into [`Node`]s.
pub(crate) struct Compiler<'s> {
    /// Every named type by its full name, as apache-avro resolves them.
    names: &'s HashMap<Name, &'s Schema>,
    nodes: Vec<Node>,
    /// Records compiled (or being compiled) by full name: a recursive reference gets the
    /// record's node, so a recursive schema compiles to a cyclic graph of finite size.
    records: HashMap<Name, NodeId>,
    /// Every field's node (including those that take no bytes) by record node, for plans.
    fields: HashMap<NodeId, Box<[NodeId]>>,
    /// The item (or value) node of each array (or map) whose items take no bytes.
    empty_items: HashMap<NodeId, NodeId>,
}

/// How many values apache-avro's decoder makes of one value of each node, beyond those of
/// its parts that take bytes (the walk visits and counts those itself): what bounds the
/// memory a generic decode may take, since values that take no bytes cost memory all the
/// same (an array of 2^31 nulls fits in 10 bytes).
#[derive(Debug)]
pub(crate) struct Weights {
    /// Per node: 1, plus the values of a record's fields that take no bytes.
    pub(crate) own: Box<[u64]>,
    /// Per array or map node whose items take no bytes: the values of one item.
    pub(crate) empty_items: HashMap<NodeId, u64>,
}

impl<'s> Compiler<'s> {
    /// A compiler for a schema whose named types apache-avro resolved into `names`.
    pub(crate) fn new(names: &'s HashMap<Name, &'s Schema>) -> Compiler<'s> {
        Compiler {
            names,
            nodes: Vec::new(),
            records: HashMap::new(),
            fields: HashMap::new(),
            empty_items: HashMap::new(),
        }
    }

    /// The [`Weights`] of the nodes compiled so far.
    pub(crate) fn weights(&self) -> Weights {
        let mut full = vec![None; self.nodes.len()];
        let own = (0..self.nodes.len())
            .map(|id| match self.nodes[id] {
                Node::Record(_) => 1u64.saturating_add(self.empty_fields_weight(id, &mut full)),
                _ => 1,
            })
            .collect();
        let empty_items = self
            .empty_items
            .iter()
            .map(|(&container, &item)| (container, self.full_weight(item, &mut full)))
            .collect();
        Weights { own, empty_items }
    }

    /// The values of the fields of record `id` that take no bytes.
    fn empty_fields_weight(&self, id: NodeId, memo: &mut [Option<u64>]) -> u64 {
        let Some(fields) = self.fields.get(&id) else {
            return 0;
        };
        fields
            .iter()
            .filter(|&&f| self.takes_bytes(f).is_none())
            .fold(0u64, |sum, &f| {
                sum.saturating_add(self.full_weight(f, memo))
            })
    }

    /// The values of one value of a node that takes no bytes: a null, an empty `fixed`, or a
    /// record of only such fields (never recursive: a record that holds itself takes bytes,
    /// see `compile_record`), nested at most [`MAX_SCHEMA_DEPTH`] deep.
    fn full_weight(&self, id: NodeId, memo: &mut [Option<u64>]) -> u64 {
        if let Some(Some(known)) = memo.get(id) {
            return *known;
        }
        let weight = 1u64.saturating_add(self.empty_fields_weight(id, memo));
        if let Some(slot) = memo.get_mut(id) {
            *slot = Some(weight);
        }
        weight
    }

    /// The nodes compiled so far, for the decoder.
    pub(crate) fn into_nodes(self) -> Box<[Node]> {
        self.nodes.into()
    }

    /// The nodes of every field of the record named `full_name` (also those that take no
    /// bytes), once it is compiled.
    pub(crate) fn record_fields(&self, full_name: &Name) -> Option<&[NodeId]> {
        let id = self.records.get(full_name)?;
        self.fields.get(id).map(|fields| &fields[..])
    }

    /// Compiles `schema` (inside `namespace`, `depth` types deep) and returns its node.
    pub(crate) fn compile(
        &mut self,
        schema: &Schema,
        namespace: &Namespace,
        depth: usize,
    ) -> Result<NodeId, AvroError> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(rejected(format!(
                "it nests deeper than {MAX_SCHEMA_DEPTH} levels"
            )));
        }
        let node = match schema {
            Schema::Null => Node::Empty,
            Schema::Boolean => Node::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Node::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Node::Long,
            Schema::Float => Node::Fixed(4),
            Schema::Double => Node::Fixed(8),
            Schema::Duration => Node::Fixed(12),
            Schema::String => Node::Counted { utf8: true },
            // apache-avro reads a `uuid` as length-prefixed bytes even on `fixed`; so do we.
            Schema::Bytes | Schema::Uuid | Schema::BigDecimal => Node::Counted { utf8: false },
            Schema::Fixed(fixed) => sized(fixed.size),
            Schema::Decimal(decimal) => match decimal.inner.as_ref() {
                Schema::Fixed(fixed) => sized(fixed.size),
                Schema::Bytes => Node::Counted { utf8: false },
                other => return Err(rejected(format!("a decimal on {}", type_name(other)))),
            },
            Schema::Enum(e) => Node::Enum {
                symbols: e.symbols.len(),
            },
            Schema::Array(array) => {
                let items = self.compile(&array.items, namespace, depth + 1)?;
                return Ok(self.container(Node::Array(self.takes_bytes(items)), items));
            }
            Schema::Map(map) => {
                let values = self.compile(&map.types, namespace, depth + 1)?;
                return Ok(self.container(Node::Map(self.takes_bytes(values)), values));
            }
            Schema::Union(union) => Node::Union(
                union
                    .variants()
                    .iter()
                    .map(|branch| self.compile(branch, namespace, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            Schema::Record(record) => return self.compile_record(record, namespace, depth),
            Schema::Ref { .. } => {
                let (target, namespace) = self.named(schema, namespace);
                if let Schema::Ref { name } = target {
                    return Err(rejected(format!("type {} is not defined", name.name)));
                }
                return self.compile(target, &namespace, depth + 1);
            }
        };
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn compile_record(
        &mut self,
        record: &RecordSchema,
        namespace: &Namespace,
        depth: usize,
    ) -> Result<NodeId, AvroError> {
        let full_name = record.name.fully_qualified_name(namespace);
        if let Some(&id) = self.records.get(&full_name) {
            return Ok(id);
        }
        // A placeholder that counts as taking bytes: a record that holds itself through
        // record fields alone has no finite value, and its decoding must hit the depth bound
        // rather than be skipped as empty.
        self.nodes.push(Node::Record(Box::new([])));
        let id = self.nodes.len() - 1;
        self.records.insert(full_name.clone(), id);
        let fields: Box<[NodeId]> = record
            .fields
            .iter()
            .map(|field| self.compile(&field.schema, &full_name.namespace, depth + 1))
            .collect::<Result<_, _>>()?;
        let kept: Box<[NodeId]> = fields
            .iter()
            .copied()
            .filter(|&f| self.takes_bytes(f).is_some())
            .collect();
        self.nodes[id] = if kept.is_empty() {
            Node::Empty
        } else {
            Node::Record(kept)
        };
        self.fields.insert(id, fields);
        Ok(id)
    }

    /// Adds an array or map node whose items are of node `items`.
    fn container(&mut self, node: Node, items: NodeId) -> NodeId {
        self.nodes.push(node);
        let id = self.nodes.len() - 1;
        if self.takes_bytes(items).is_none() {
            self.empty_items.insert(id, items);
        }
        id
    }

    /// `Some(id)` unless every value of the node takes no bytes.
    pub(crate) fn takes_bytes(&self, id: NodeId) -> Option<NodeId> {
        match self.nodes.get(id) {
            Some(Node::Empty) => None,
            _ => Some(id),
        }
    }

    /// The type a reference names, with the namespace its own references resolve in, as
    /// apache-avro's decoder resolves them; any other type as it is.
    pub(crate) fn named<'a>(
        &self,
        schema: &'a Schema,
        namespace: &Namespace,
    ) -> (&'a Schema, Namespace)
    where
        's: 'a,
    {
        if let Schema::Ref { name } = schema {
            let full_name = name.fully_qualified_name(namespace);
            if let Some(&target) = self.names.get(&full_name) {
                return (target, full_name.namespace);
            }
        }
        (schema, namespace.clone())
    }
}

fn sized(size: usize) -> Node {
    if size == 0 {
        Node::Empty
    } else {
        Node::Fixed(size)
    }
}

/// The Avro name of a type, for messages.
pub(crate) fn type_name(schema: &Schema) -> &'static str {
    match schema {
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        Schema::Int => "int",
        Schema::Long => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes => "bytes",
        Schema::String => "string",
        Schema::Array(_) => "array",
        Schema::Map(_) => "map",
        Schema::Union(_) => "union",
        Schema::Record(_) => "record",
        Schema::Enum(_) => "enum",
        Schema::Fixed(_) => "fixed",
        Schema::Decimal(_) => "decimal",
        Schema::BigDecimal => "big-decimal",
        Schema::Uuid => "uuid",
        Schema::Date => "date",
        Schema::TimeMillis => "time-millis",
        Schema::TimeMicros => "time-micros",
        Schema::TimestampMillis => "timestamp-millis",
        Schema::TimestampMicros => "timestamp-micros",
        Schema::TimestampNanos => "timestamp-nanos",
        Schema::LocalTimestampMillis => "local-timestamp-millis",
        Schema::LocalTimestampMicros => "local-timestamp-micros",
        Schema::LocalTimestampNanos => "local-timestamp-nanos",
        Schema::Duration => "duration",
        Schema::Ref { .. } => "reference",
    }
}
