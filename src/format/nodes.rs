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
    /// Per node, what a generic decode's value of it costs ([`Weights`]), set as it is made.
    costs: Vec<u64>,
    /// Per node, how many records that take no bytes apache-avro nests below it.
    empty_depths: Vec<usize>,
}

/// What apache-avro's decoder allocates for one value of each node, in bytes (estimated:
/// its `Value`s, record field names and enum symbols, which it copies per value), beyond
/// the parts that take bytes of the datum (the walk visits and counts those itself); and how
/// deep it recurses into records that take no bytes. Values that take no bytes cost memory
/// and stack all the same: an array of 2^31 nulls fits in 6 bytes, and a chain of records of
/// only nulls, defined by name, recurses as deep as it is long.
#[derive(Debug)]
pub(crate) struct Weights {
    /// Per node: its own value, a record's field names and fields that take no bytes, an
    /// enum's longest symbol; a node that takes no bytes, all of it.
    pub(crate) cost: Box<[u64]>,
    /// Per node: the records that take no bytes nested below it.
    pub(crate) empty_depth: Box<[usize]>,
    /// Per array or map node whose items take no bytes: that item node.
    pub(crate) empty_items: HashMap<NodeId, NodeId>,
}

/// Bytes one `Value` takes, with the allocator's overhead.
pub(crate) const VALUE_BYTES: u64 = std::mem::size_of::<apache_avro::types::Value>() as u64 + 16;

/// Bytes one record field or map entry takes besides its value: its name and its place.
pub(crate) const ENTRY_BYTES: u64 =
    std::mem::size_of::<(String, apache_avro::types::Value)>() as u64 + 16;

impl<'s> Compiler<'s> {
    /// A compiler for a schema whose named types apache-avro resolved into `names`.
    pub(crate) fn new(names: &'s HashMap<Name, &'s Schema>) -> Compiler<'s> {
        Compiler {
            names,
            nodes: Vec::new(),
            records: HashMap::new(),
            fields: HashMap::new(),
            empty_items: HashMap::new(),
            costs: Vec::new(),
            empty_depths: Vec::new(),
        }
    }

    /// The [`Weights`] of the nodes compiled so far.
    pub(crate) fn weights(&self) -> Weights {
        Weights {
            cost: self.costs.clone().into(),
            empty_depth: self.empty_depths.clone().into(),
            empty_items: self.empty_items.clone(),
        }
    }

    /// Adds `node`, whose generic value costs `cost`, with nothing nested below it.
    fn push(&mut self, node: Node, cost: u64) -> NodeId {
        self.nodes.push(node);
        self.costs.push(cost);
        self.empty_depths.push(0);
        self.nodes.len() - 1
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
            Schema::Enum(e) => {
                // apache-avro copies the symbol into every value.
                let longest = e.symbols.iter().map(String::len).max().unwrap_or(0);
                let cost = VALUE_BYTES.saturating_add(longest as u64);
                let node = Node::Enum {
                    symbols: e.symbols.len(),
                };
                return Ok(self.push(node, cost));
            }
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
        Ok(self.push(node, VALUE_BYTES))
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
        let id = self.push(Node::Record(Box::new([])), VALUE_BYTES);
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
        // Its fields are final (a field that is this record is its placeholder, which takes
        // bytes): what the fields that take no bytes cost and nest is known now, bottom-up.
        let mut cost = VALUE_BYTES;
        let mut below = 0;
        for (field, &f) in record.fields.iter().zip(fields.iter()) {
            cost = cost
                .saturating_add(ENTRY_BYTES)
                .saturating_add(field.name.len() as u64);
            if self.takes_bytes(f).is_none() {
                cost = cost.saturating_add(self.costs.get(f).copied().unwrap_or(0));
                below = below.max(self.empty_depths.get(f).copied().unwrap_or(0));
            }
        }
        let (node, depth) = if kept.is_empty() {
            (Node::Empty, below.saturating_add(1))
        } else {
            (Node::Record(kept), below)
        };
        self.nodes[id] = node;
        self.costs[id] = cost;
        self.empty_depths[id] = depth;
        self.fields.insert(id, fields);
        Ok(id)
    }

    /// Adds an array or map node whose items are of node `items`.
    fn container(&mut self, node: Node, items: NodeId) -> NodeId {
        let id = self.push(node, VALUE_BYTES);
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
