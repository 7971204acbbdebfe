//! The resolving decoder: reads a `User` from a datum written with any admitted writer schema
//! by following its [`Plan`] — the `name` is read, everything else skipped — within bounds
//! that no schema and no bytes can get past. It replaces apache-avro's generic decoder, which
//! recursed once per nesting level (a record nested 100,000 deep overflowed a consumer
//! thread's stack and aborted the daemon), reserved collections by the counts the data
//! claimed, and allocated `fixed` values by sizes taken from the schema unchecked.
//!
//! Bounds, each an ordinary [`AvroError`] when exceeded:
//! - **Depth**: at most [`MAX_DEPTH`] records, arrays and maps inside one another. Unions are
//!   followed in a loop, not by recursion, so each level costs one frame of `Reader::skip`
//!   (about 270 bytes in a release build, 1.6 KiB in a debug one; an array or map adds a
//!   frame of `skip_blocks`): 64 levels take tens of KiB of a consumer thread's 2 MiB, and a
//!   test runs the deepest datums on a 256 KiB thread in a debug build.
//! - **Bytes**: every length, `fixed` size and block count is checked against the bytes left
//!   before it is used. Every value visited takes at least one byte (admission leaves out the
//!   types that take none and counts a block of them as one visit), so a block cannot claim
//!   more items than bytes are left.
//! - **Work**: visits are therefore linear in the datum's size (times the depth, for records
//!   directly inside records), and capped at [`MAX_VISITS`] per record besides.
//! - **Memory**: the only allocation is the name: at most
//!   [`MAX_DECODE_ALLOCATION`] bytes, and never more
//!   than the datum holds.
//!
//! What is kept follows Avro's resolution rules as apache-avro applies them: the writer
//! record's `name` becomes the reader's `name` (a `bytes` or `fixed` one if it is UTF-8); a
//! union's selected branch must be one of those; skipped values are checked as apache-avro's
//! decoder checks them (booleans 0 or 1, `int`s and enum indexes within range, union indexes
//! within the union, strings UTF-8), so a valid datum gives the `User` apache-avro gives, and
//! the tests compare the two on generated schemas and data. Stricter than apache-avro: a datum
//! that ends early is an error (apache-avro reads a missing boolean, string or union index at
//! the very end as null), and so is a varint whose 10th byte has bits beyond 64. More lenient:
//! `uuid` and `big-decimal` values that are skipped are not parsed.

use super::admission::{NameEncoding, NameField, Plan, RecordPlan, Top};
use super::error::{trailing_bytes, AvroError, AvroErrorKind};
use super::nodes::{Node, NodeId, Weights, ENTRY_BYTES};
use super::user::User;
use super::varint::{read_long, VarintError};

/// The longest name a record may carry, and apache-avro's allocation limit (its default,
/// 512 MiB, would let a 20-byte hostile message claim half a gigabyte in the tests that use it
/// as the reference). No record on a Kafka topic (1 MiB per message by default) needs more.
pub(crate) const MAX_DECODE_ALLOCATION: usize = 16 * 1024 * 1024;

/// Deepest nesting of records, arrays and maps in one datum. Far beyond any real `User`
/// evolution, far below what a consumer thread's stack holds.
pub(crate) const MAX_DEPTH: usize = 64;

/// Most values one datum may make the decoder visit: 16 Mi, 74 ms of work in a release build
/// (`bounds_tests::visits_per_record_are_capped`). A 1 MiB Kafka message of one-byte values
/// needs 1 Mi.
pub(crate) const MAX_VISITS: usize = 16 * 1024 * 1024;

/// Most memory apache-avro's decoder may take for one datum of a generic decode
/// (`format/generic.rs`), as [`Weights`] estimate it: its `Value`s (those of types that take
/// no bytes too), record field names and enum symbols (copied into every value), strings,
/// bytes and map keys. A record that would take more is refused with an
/// [`AvroErrorKind::Limit`] error before anything is allocated: 32 MiB, about 440 Ki small
/// values.
pub(crate) const MAX_GENERIC_BYTES: u64 = 32 * 1024 * 1024;

/// Deepest nesting of records, arrays and maps for a generic decode: apache-avro's decoder
/// takes a few frames per level (a debug build overflows a 2 MiB thread stack at 63), so
/// less than [`MAX_DEPTH`] (`tests::generic::a_100000_deep_datum_is_an_error_and_the_deepest_…`).
pub(crate) const MAX_GENERIC_DEPTH: usize = 24;

/// Walks the datum written with the schema compiled into `nodes` (its top type `root`) as
/// the decoder skips, checking every bound and every value as apache-avro's decoder does;
/// returns the bytes apache-avro's decoder will take for it, at most [`MAX_GENERIC_BYTES`].
pub(crate) fn walk_datum(
    nodes: &[Node],
    weights: &Weights,
    root: NodeId,
    datum: &[u8],
) -> Result<u64, AvroError> {
    let mut reader = Reader {
        nodes,
        rest: datum,
        visits_left: MAX_VISITS,
        max_depth: MAX_GENERIC_DEPTH,
        weights: Some(weights),
        cost: 0,
    };
    reader.skip(root, 0)?;
    if !reader.rest.is_empty() {
        return Err(trailing_bytes(reader.rest.len()));
    }
    Ok(reader.cost)
}

/// Reads the `User` in `datum`, which was written with the schema `plan` was admitted from.
pub(crate) fn read_user(plan: &Plan, datum: &[u8]) -> Result<User, AvroError> {
    let mut reader = Reader {
        nodes: &plan.nodes,
        rest: datum,
        visits_left: MAX_VISITS,
        max_depth: MAX_DEPTH,
        weights: None,
        cost: 0,
    };
    let record = match &plan.top {
        Top::Record(record) => record,
        Top::Union(branches) => match reader.union_branch(branches)? {
            Ok(record) => record,
            Err(reason) => {
                return Err(unresolvable(format!(
                    "the datum's union branch cannot become a User: {reason}"
                )))
            }
        },
    };
    let user = reader.read_record(record)?;
    if !reader.rest.is_empty() {
        return Err(trailing_bytes(reader.rest.len()));
    }
    Ok(user)
}

/// A cursor over one datum.
struct Reader<'a> {
    nodes: &'a [Node],
    /// The bytes not read yet.
    rest: &'a [u8],
    /// Visits this datum may still make.
    visits_left: usize,
    /// Deepest nesting of records, arrays and maps allowed.
    max_depth: usize,
    /// For a generic decode: what each node costs in bytes, counted into `cost`.
    weights: Option<&'a Weights>,
    /// The bytes a generic decode will take, as counted so far.
    cost: u64,
}

impl<'a> Reader<'a> {
    /// Reads the top-level record (depth 1): skips the fields around `name`.
    fn read_record(&mut self, record: &RecordPlan) -> Result<User, AvroError> {
        for &field in record.before.iter() {
            self.skip(field, 1)?;
        }
        let name = self.read_name(&record.name)?;
        for &field in record.after.iter() {
            self.skip(field, 1)?;
        }
        Ok(User { name })
    }

    fn read_name(&mut self, field: &NameField) -> Result<String, AvroError> {
        let encoding = match field {
            NameField::Plain(encoding) => *encoding,
            NameField::Union(branches) => match self.union_branch(branches)? {
                Ok(encoding) => *encoding,
                Err(kind) => return Err(unresolvable(format!("name is a {kind}, not a string"))),
            },
        };
        let len = match encoding {
            NameEncoding::String | NameEncoding::Bytes => self.length()?,
            NameEncoding::Fixed(size) => size,
        };
        let bytes = self.take(len, "the name")?;
        if len > MAX_DECODE_ALLOCATION {
            return Err(limit(format!(
                "name of {len} bytes is over the {MAX_DECODE_ALLOCATION}-byte limit"
            )));
        }
        let name = std::str::from_utf8(bytes)
            .map_err(|e| malformed(format!("name is not valid UTF-8: {e}")))?;
        Ok(name.to_string())
    }

    /// Skips one value of node `id`, inside `depth` records, arrays and maps. The only
    /// recursive function: it keeps to the containers, so its frame stays small.
    fn skip(&mut self, mut id: NodeId, depth: usize) -> Result<(), AvroError> {
        let nodes = self.nodes;
        loop {
            self.visit()?;
            if let Some(weights) = self.weights {
                self.count(weights.cost.get(id).copied().unwrap_or(u64::MAX))?;
                // Records that take no bytes below it: apache-avro recurses into them too.
                self.nest_below(depth, weights.empty_depth.get(id).copied())?;
            }
            match nodes.get(id) {
                // The branch is the same value: a loop, not a deeper call.
                Some(Node::Union(branches)) => {
                    id = *self.union_branch(branches)?;
                    continue;
                }
                Some(Node::Record(fields)) => {
                    let depth = self.enter(depth)?;
                    for &field in fields.iter() {
                        self.skip(field, depth)?;
                    }
                }
                Some(Node::Array(items)) => {
                    self.skip_blocks(id, false, *items, self.enter(depth)?)?
                }
                Some(Node::Map(values)) => {
                    self.skip_blocks(id, true, *values, self.enter(depth)?)?
                }
                Some(leaf) => self.skip_leaf(leaf)?,
                None => return Err(malformed(format!("no type {id} in the plan"))),
            }
            return Ok(());
        }
    }

    /// Skips one value of a node that holds no other values.
    fn skip_leaf(&mut self, leaf: &Node) -> Result<(), AvroError> {
        match leaf {
            Node::Boolean => match self.take(1, "a boolean")? {
                [0 | 1] => {}
                other => return Err(malformed(format!("boolean byte {other:02x?}"))),
            },
            Node::Int => {
                self.int()?;
            }
            Node::Long => {
                self.long()?;
            }
            Node::Fixed(size) => {
                self.take(*size, "a fixed-size value")?;
                self.count_bytes(*size)?;
            }
            Node::Counted { utf8 } => {
                let len = self.length()?;
                let bytes = self.take(len, "a string or bytes")?;
                self.count_bytes(len)?;
                if *utf8 {
                    std::str::from_utf8(bytes)
                        .map_err(|e| malformed(format!("a string is not valid UTF-8: {e}")))?;
                }
            }
            Node::Enum { symbols } => {
                let index = self.int()?;
                if usize::try_from(index).map_or(true, |i| i >= *symbols) {
                    return Err(malformed(format!(
                        "enum index {index} is not below its {symbols} symbols"
                    )));
                }
            }
            Node::Empty | Node::Union(_) | Node::Record(_) | Node::Array(_) | Node::Map(_) => {}
        }
        Ok(())
    }

    /// Skips the blocks of array (`keyed` false) or map `container`: each block a count, then
    /// that many items (a map's: a string key and a value); a count of 0 ends them.
    fn skip_blocks(
        &mut self,
        container: NodeId,
        keyed: bool,
        items: Option<NodeId>,
        depth: usize,
    ) -> Result<(), AvroError> {
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(());
            }
            if count == i64::MIN {
                return Err(malformed("a block count of -2^63 has no size".to_string()));
            }
            if count < 0 {
                // The block's size in bytes follows; apache-avro reads and ignores it, and so
                // do we (using it to jump would accept items apache-avro rejects).
                self.long()?;
            }
            let count = count.unsigned_abs();
            if let Some(weights) = self.weights {
                // Per item: a map's entry (its key's bytes are counted when read), and an
                // item that takes no bytes (one that takes bytes is counted when visited).
                let entry = if keyed { ENTRY_BYTES } else { 0 };
                let empty = match (items, weights.empty_items.get(&container)) {
                    (None, Some(&item)) => {
                        self.nest_below(depth, weights.empty_depth.get(item).copied())?;
                        weights.cost.get(item).copied().unwrap_or(u64::MAX)
                    }
                    _ => 0,
                };
                self.count(count.saturating_mul(entry.saturating_add(empty)))?;
            }
            if !keyed && items.is_none() {
                // Items that take no bytes: nothing to read, one visit for the whole block.
                self.visit()?;
                continue;
            }
            // Every item takes at least one byte, so the count cannot exceed the bytes left.
            if count > self.rest.len() as u64 {
                return Err(truncated(format!(
                    "a block claims {count} items with {} bytes left",
                    self.rest.len()
                )));
            }
            for _ in 0..count {
                if keyed {
                    self.visit()?;
                    let len = self.length()?;
                    let key = self.take(len, "a map key")?;
                    self.count_bytes(len)?;
                    std::str::from_utf8(key)
                        .map_err(|e| malformed(format!("a map key is not valid UTF-8: {e}")))?;
                }
                if let Some(item) = items {
                    self.skip(item, depth)?;
                }
            }
        }
    }

    /// One level deeper, if allowed.
    fn enter(&self, depth: usize) -> Result<usize, AvroError> {
        if depth >= self.max_depth {
            return Err(limit(format!(
                "the record nests deeper than {} records, arrays and maps",
                self.max_depth
            )));
        }
        Ok(depth + 1)
    }

    /// Whether `below` records that take no bytes (`None`: unknown) fit below `depth`.
    fn nest_below(&self, depth: usize, below: Option<usize>) -> Result<(), AvroError> {
        match below {
            Some(0) => Ok(()),
            Some(below) => self.enter(depth.saturating_add(below - 1)).map(|_| ()),
            None => Err(malformed("a type without its weight".to_string())),
        }
    }

    fn visit(&mut self) -> Result<(), AvroError> {
        self.visits_left = self
            .visits_left
            .checked_sub(1)
            .ok_or_else(|| limit(format!("the record holds more than {MAX_VISITS} values")))?;
        Ok(())
    }

    /// Counts `n` bytes a generic decode will allocate, within [`MAX_GENERIC_BYTES`].
    fn count(&mut self, n: u64) -> Result<(), AvroError> {
        self.cost = self.cost.saturating_add(n);
        if self.cost > MAX_GENERIC_BYTES {
            return Err(limit(format!(
                "the record would take more than {} MiB decoded",
                MAX_GENERIC_BYTES >> 20
            )));
        }
        Ok(())
    }

    /// Counts `len` bytes of the datum a generic decode copies (a string, bytes, a key).
    fn count_bytes(&mut self, len: usize) -> Result<(), AvroError> {
        if self.weights.is_some() {
            self.count(u64::try_from(len).unwrap_or(u64::MAX))?;
        }
        Ok(())
    }

    fn long(&mut self) -> Result<i64, AvroError> {
        match read_long(self.rest) {
            Ok((n, used)) => {
                self.rest = self.rest.get(used..).unwrap_or_default();
                Ok(n)
            }
            Err(VarintError::Truncated) => {
                Err(truncated("the datum ends inside a number".to_string()))
            }
            Err(VarintError::Overflow) => Err(malformed("a number overflows 64 bits".to_string())),
        }
    }

    fn int(&mut self) -> Result<i32, AvroError> {
        let n = self.long()?;
        i32::try_from(n).map_err(|_| malformed(format!("int {n} is out of the 32-bit range")))
    }

    /// A length of bytes to follow.
    fn length(&mut self) -> Result<usize, AvroError> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| malformed(format!("negative length {n}")))
    }

    /// Reads a union index and returns that branch of `branches`.
    fn union_branch<'b, T>(&mut self, branches: &'b [T]) -> Result<&'b T, AvroError> {
        let n = self.long()?;
        usize::try_from(n)
            .ok()
            .and_then(|i| branches.get(i))
            .ok_or_else(|| {
                malformed(format!(
                    "union index {n} is not below its {} branches",
                    branches.len()
                ))
            })
    }

    /// The next `len` bytes of the datum.
    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], AvroError> {
        if len > self.rest.len() {
            return Err(truncated(format!(
                "{what} of {len} bytes is longer than the {} bytes left",
                self.rest.len()
            )));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }
}

fn truncated(message: String) -> AvroError {
    AvroError::new(AvroErrorKind::Truncated, message)
}

fn malformed(message: String) -> AvroError {
    AvroError::new(AvroErrorKind::Malformed, message)
}

fn unresolvable(message: String) -> AvroError {
    AvroError::new(AvroErrorKind::Unresolvable, message)
}

fn limit(message: String) -> AvroError {
    AvroError::new(AvroErrorKind::Limit, message)
}
