//! Resolution of a generic value to a reader schema, by the Avro specification's rules, in one
//! pass over the value: records by field name and the reader's aliases (reader fields the
//! writer lacks from their defaults, writer fields the reader lacks dropped), enums by symbol
//! (else the reader's enum default), unions on either side or both, arrays, maps, fixed of
//! the same size, the promotions (int to long, float, double; long to float, double; float to
//! double; string and bytes either way), and logical types by their underlying types.
//!
//! It replaces apache-avro's `Value::resolve`, whose time doubles with each level of records
//! nested through unions (it validates a value's whole subtree against union branches at
//! every level: a 23-level datum took 154 s in a debug build) and which `expect`s on named
//! types inside unions. Here each value is visited once, and a union branch is chosen by the
//! writer's branch schema, never by trying the value against each reader branch. The value
//! comes from the bounded walk (`resolve.rs`), so its depth is bounded; defaults come from
//! the reader schema's JSON, whose nesting serde_json bounds at 128.

use std::cell::Cell;
use std::collections::HashMap;

use apache_avro::schema::{Name, Namespace, RecordSchema, Schema};
use apache_avro::types::Value;
use serde_json::Value as Json;

use super::error::{AvroError, AvroErrorKind};
use super::nodes::{type_name, ENTRY_BYTES, VALUE_BYTES};
use super::resolve::MAX_GENERIC_BYTES;

mod plan;
pub(crate) use plan::{check_defaults, ResolutionPlan};

/// Named types of a schema by full name, owned.
pub(crate) type Names = HashMap<Name, Schema>;

/// One side of a resolution: a schema, where its names are looked up, and the memory the
/// defaults it fills in may still take.
#[derive(Clone, Copy)]
struct Side<'a> {
    schema: &'a Schema,
    namespace: &'a Namespace,
    names: &'a Names,
    budget: &'a Cell<u64>,
}

impl<'a> Side<'a> {
    /// The type a reference names (with its own namespace), or the type itself.
    fn deref(self) -> Result<(&'a Schema, Namespace), AvroError> {
        match self.schema {
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(self.namespace);
                let target = self.names.get(&full).ok_or_else(|| {
                    unresolvable(format!("type {} is not defined", full.fullname(None)))
                })?;
                Ok((target, full.namespace.clone()))
            }
            Schema::Record(RecordSchema { name, .. })
            | Schema::Enum(apache_avro::schema::EnumSchema { name, .. })
            | Schema::Fixed(apache_avro::schema::FixedSchema { name, .. }) => Ok((
                self.schema,
                name.fully_qualified_name(self.namespace).namespace,
            )),
            other => Ok((other, self.namespace.clone())),
        }
    }
}

/// Takes `n` bytes from what defaults may still take.
fn charge(budget: &Cell<u64>, n: u64) -> Result<(), AvroError> {
    let left = budget.get().checked_sub(n).ok_or_else(|| {
        AvroError::new(
            AvroErrorKind::Limit,
            format!(
                "the reader's defaults would take the record over {} MiB",
                MAX_GENERIC_BYTES >> 20
            ),
        )
    })?;
    budget.set(left);
    Ok(())
}

/// The reader union's branch for the writer's type: the first that is the same type, else
/// the first of the same underlying type (a timestamp goes to a `long` branch, not to a
/// `double` one), else the first it promotes to.
fn union_branch<'r>(
    writer: Side<'_>,
    union: &'r apache_avro::schema::UnionSchema,
    reader: Side<'_>,
) -> Option<(usize, &'r Schema)> {
    let fits = |test: fn(Side<'_>, Side<'_>) -> bool| {
        union.variants().iter().enumerate().find(|(_, branch)| {
            test(
                writer,
                Side {
                    schema: branch,
                    ..reader
                },
            )
        })
    };
    fits(matches_exactly)
        .or_else(|| fits(same_base))
        .or_else(|| fits(promotes))
}

/// Whether the writer's type is the reader's: the same primitive or logical type, or the
/// same named type (by unqualified name or a reader alias).
fn matches_exactly(writer: Side<'_>, reader: Side<'_>) -> bool {
    let (Ok((w, _)), Ok((r, _))) = (writer.deref(), reader.deref()) else {
        return false;
    };
    match (w, r) {
        (Schema::Record(a), Schema::Record(b)) => {
            same_name(&a.name, &b.name.name, &b.aliases).is_ok()
        }
        (Schema::Enum(a), Schema::Enum(b)) => same_name(&a.name, &b.name.name, &b.aliases).is_ok(),
        (Schema::Fixed(a), Schema::Fixed(b)) => {
            a.size == b.size && same_name(&a.name, &b.name.name, &b.aliases).is_ok()
        }
        (Schema::Decimal(a), Schema::Decimal(b)) => {
            base(w) == base(r) && a.scale == b.scale && a.precision == b.precision
        }
        (Schema::Array(_), Schema::Array(_)) | (Schema::Map(_), Schema::Map(_)) => true,
        (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

/// Whether the writer's type and the reader's have the same underlying type (and, for fixed
/// types, the same name).
fn same_base(writer: Side<'_>, reader: Side<'_>) -> bool {
    let (Ok((w, _)), Ok((r, _))) = (writer.deref(), reader.deref()) else {
        return false;
    };
    base(w).is_some() && base(w) == base(r) && fixed_names_match(w, r)
}

/// Whether the writer's type can be read as the reader's by a promotion, or by their
/// underlying types (a logical type on one side only).
fn promotes(writer: Side<'_>, reader: Side<'_>) -> bool {
    let (Ok((w_schema, _)), Ok((r_schema, _))) = (writer.deref(), reader.deref()) else {
        return false;
    };
    let (Some(w), Some(r)) = (base(w_schema), base(r_schema)) else {
        return false;
    };
    promotes_base(w, r) && fixed_names_match(w_schema, r_schema)
}

/// A `fixed` (or a decimal on one) is read only as one of the same name; a `duration` has
/// none to compare.
fn fixed_names_match(w: &Schema, r: &Schema) -> bool {
    fn fixed(schema: &Schema) -> Option<&apache_avro::schema::FixedSchema> {
        match schema {
            Schema::Fixed(fixed) => Some(fixed),
            Schema::Decimal(decimal) => match decimal.inner.as_ref() {
                Schema::Fixed(fixed) => Some(fixed),
                _ => None,
            },
            _ => None,
        }
    }
    match (fixed(w), fixed(r)) {
        (Some(a), Some(b)) => same_name(&a.name, &b.name.name, &b.aliases).is_ok(),
        _ => true,
    }
}

/// The underlying type of a primitive or logical type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Base {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
}

fn base(schema: &Schema) -> Option<Base> {
    Some(match schema {
        Schema::Null => Base::Null,
        Schema::Boolean => Base::Boolean,
        Schema::Int | Schema::Date | Schema::TimeMillis => Base::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Base::Long,
        Schema::Float => Base::Float,
        Schema::Double => Base::Double,
        Schema::Bytes => Base::Bytes,
        Schema::String | Schema::Uuid => Base::String,
        Schema::Fixed(fixed) => Base::Fixed(fixed.size),
        Schema::Duration => Base::Fixed(12),
        Schema::Decimal(decimal) => match decimal.inner.as_ref() {
            Schema::Fixed(fixed) => Base::Fixed(fixed.size),
            _ => Base::Bytes,
        },
        _ => return None,
    })
}

/// Whether a primitive or logical type can be read as another at all: decimals of the same
/// scale and precision, fixed types of the same name, the same underlying type or a
/// promotion.
fn check_plain(w: &Schema, r: &Schema) -> Result<(), AvroError> {
    if let (Schema::Decimal(a), Schema::Decimal(b)) = (w, r) {
        if a.scale != b.scale || a.precision != b.precision {
            return Err(unresolvable(format!(
                "a decimal ({}, {}) cannot be read as one ({}, {})",
                a.precision, a.scale, b.precision, b.scale
            )));
        }
    }
    if let (Schema::BigDecimal, Schema::BigDecimal) = (w, r) {
        return Ok(());
    }
    if !fixed_names_match(w, r) {
        return Err(unresolvable("a fixed type of another name".to_string()));
    }
    match (base(w), base(r)) {
        (Some(w_base), Some(r_base)) if promotes_base(w_base, r_base) => Ok(()),
        _ => Err(cannot(w, r)),
    }
}

/// A primitive or logical value of `w` (a pair [`check_plain`] passed: the plan checks it
/// once, when compiled): to its underlying value, promoted, then to the reader's logical
/// type.
fn resolve_plain(value: Value, w: &Schema, r: &Schema) -> Result<Value, AvroError> {
    if let (Schema::BigDecimal, Schema::BigDecimal) = (w, r) {
        return Ok(value);
    }
    let (Some(w_base), Some(r_base)) = (base(w), base(r)) else {
        return Err(cannot(w, r));
    };
    let plain = to_base(value, w)?;
    let promoted = match (plain, r_base) {
        (Value::Int(n), Base::Long) => Value::Long(i64::from(n)),
        (Value::Int(n), Base::Float) => Value::Float(n as f32),
        (Value::Int(n), Base::Double) => Value::Double(f64::from(n)),
        (Value::Long(n), Base::Float) => Value::Float(n as f32),
        (Value::Long(n), Base::Double) => Value::Double(n as f64),
        (Value::Float(x), Base::Double) => Value::Double(f64::from(x)),
        (Value::String(s), Base::Bytes) => Value::Bytes(s.into_bytes()),
        (Value::Bytes(b), Base::String) => Value::String(
            String::from_utf8(b)
                .map_err(|_| unresolvable("bytes that are not UTF-8 read as a string".into()))?,
        ),
        (plain, _) if base_of_value(&plain) == Some(r_base) && promotes_base(w_base, r_base) => {
            plain
        }
        _ => return Err(cannot(w, r)),
    };
    to_logical(promoted, r)
}

/// Whether a value of underlying type `w` reads as `r`: the same type, or a promotion.
fn promotes_base(w: Base, r: Base) -> bool {
    w == r
        || matches!(
            (w, r),
            (Base::Int, Base::Long | Base::Float | Base::Double)
                | (Base::Long, Base::Float | Base::Double)
                | (Base::Float, Base::Double)
                | (Base::Bytes, Base::String)
                | (Base::String, Base::Bytes)
        )
}

fn base_of_value(value: &Value) -> Option<Base> {
    Some(match value {
        Value::Null => Base::Null,
        Value::Boolean(_) => Base::Boolean,
        Value::Int(_) => Base::Int,
        Value::Long(_) => Base::Long,
        Value::Float(_) => Base::Float,
        Value::Double(_) => Base::Double,
        Value::Bytes(_) => Base::Bytes,
        Value::String(_) => Base::String,
        Value::Fixed(size, _) => Base::Fixed(*size),
        _ => return None,
    })
}

/// A value of writer type `w` as its underlying type holds it.
fn to_base(value: Value, w: &Schema) -> Result<Value, AvroError> {
    Ok(match value {
        Value::Date(n) | Value::TimeMillis(n) => Value::Int(n),
        Value::TimeMicros(n)
        | Value::TimestampMillis(n)
        | Value::TimestampMicros(n)
        | Value::TimestampNanos(n)
        | Value::LocalTimestampMillis(n)
        | Value::LocalTimestampMicros(n)
        | Value::LocalTimestampNanos(n) => Value::Long(n),
        Value::Uuid(uuid) => Value::String(uuid.to_string()),
        Value::Duration(duration) => Value::Fixed(12, <[u8; 12]>::from(duration).to_vec()),
        Value::Decimal(decimal) => {
            let bytes = Vec::<u8>::try_from(decimal)
                .map_err(|e| unresolvable(format!("a decimal's bytes: {e}")))?;
            match base(w) {
                Some(Base::Fixed(size)) => Value::Fixed(size, bytes),
                _ => Value::Bytes(bytes),
            }
        }
        other => other,
    })
}

/// An underlying value as the reader's logical type (if it has one) holds it.
fn to_logical(value: Value, reader: &Schema) -> Result<Value, AvroError> {
    Ok(match (reader, value) {
        (Schema::Date, Value::Int(n)) => Value::Date(n),
        (Schema::TimeMillis, Value::Int(n)) => Value::TimeMillis(n),
        (Schema::TimeMicros, Value::Long(n)) => Value::TimeMicros(n),
        (Schema::TimestampMillis, Value::Long(n)) => Value::TimestampMillis(n),
        (Schema::TimestampMicros, Value::Long(n)) => Value::TimestampMicros(n),
        (Schema::TimestampNanos, Value::Long(n)) => Value::TimestampNanos(n),
        (Schema::LocalTimestampMillis, Value::Long(n)) => Value::LocalTimestampMillis(n),
        (Schema::LocalTimestampMicros, Value::Long(n)) => Value::LocalTimestampMicros(n),
        (Schema::LocalTimestampNanos, Value::Long(n)) => Value::LocalTimestampNanos(n),
        (Schema::Uuid, Value::String(s)) => Value::Uuid(
            s.parse()
                .map_err(|e| unresolvable(format!("{s:?} is no uuid: {e}")))?,
        ),
        (Schema::Duration, Value::Fixed(12, bytes)) => {
            let bytes: [u8; 12] = bytes
                .try_into()
                .map_err(|_| unresolvable("a duration of other than 12 bytes".into()))?;
            Value::Duration(apache_avro::Duration::from(bytes))
        }
        (Schema::Decimal(_), Value::Bytes(bytes) | Value::Fixed(_, bytes)) => {
            Value::Decimal(apache_avro::Decimal::from(bytes))
        }
        (_, value) => value,
    })
}

/// Deepest nesting of a default value: a record's missing field takes its own default, which
/// a recursive schema can make endless.
const MAX_DEFAULT_DEPTH: usize = 64;

/// The reader field's default (JSON) as a value of its schema, `depth` levels into a default;
/// a union's default is of its first branch.
fn from_default(default: &Json, reader: Side<'_>, depth: usize) -> Result<Value, AvroError> {
    if depth >= MAX_DEFAULT_DEPTH {
        return Err(unresolvable(format!(
            "a default nests deeper than {MAX_DEFAULT_DEPTH} levels"
        )));
    }
    let text_len = match default {
        Json::String(text) => text.len() as u64,
        _ => 0,
    };
    charge(
        reader.budget,
        VALUE_BYTES
            .saturating_add(ENTRY_BYTES)
            .saturating_add(text_len),
    )?;
    let depth = depth + 1;
    let (schema, namespace) = reader.deref()?;
    let reader = Side {
        schema,
        namespace: &namespace,
        ..reader
    };
    let bad = || unresolvable(format!("default {default} is not a {}", type_name(schema)));
    Ok(match schema {
        Schema::Union(union) => {
            let first = union.variants().first().ok_or_else(bad)?;
            Value::Union(
                0,
                Box::new(from_default(
                    default,
                    Side {
                        schema: first,
                        ..reader
                    },
                    depth,
                )?),
            )
        }
        Schema::Record(record) => {
            let Json::Object(object) = default else {
                return Err(bad());
            };
            let mut fields = Vec::with_capacity(record.fields.len());
            for field in &record.fields {
                let value = object
                    .get(&field.name)
                    .or(field.default.as_ref())
                    .ok_or_else(bad)?;
                let side = Side {
                    schema: &field.schema,
                    ..reader
                };
                fields.push((field.name.clone(), from_default(value, side, depth)?));
            }
            Value::Record(fields)
        }
        Schema::Array(array) => {
            let Json::Array(items) = default else {
                return Err(bad());
            };
            let side = Side {
                schema: &array.items,
                ..reader
            };
            Value::Array(
                items
                    .iter()
                    .map(|item| from_default(item, side, depth))
                    .collect::<Result<_, _>>()?,
            )
        }
        Schema::Map(map) => {
            let Json::Object(object) = default else {
                return Err(bad());
            };
            let side = Side {
                schema: &map.types,
                ..reader
            };
            Value::Map(
                object
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), from_default(v, side, depth)?)))
                    .collect::<Result<_, AvroError>>()?,
            )
        }
        Schema::Enum(e) => match default {
            Json::String(symbol) => {
                let index = e
                    .symbols
                    .iter()
                    .position(|s| s == symbol)
                    .and_then(|i| u32::try_from(i).ok())
                    .ok_or_else(bad)?;
                Value::Enum(index, symbol.clone())
            }
            _ => return Err(bad()),
        },
        other => {
            let plain = match (base(other).ok_or_else(bad)?, default) {
                (Base::Null, Json::Null) => Value::Null,
                (Base::Boolean, Json::Bool(b)) => Value::Boolean(*b),
                (Base::Int, Json::Number(n)) => Value::Int(
                    n.as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(bad)?,
                ),
                (Base::Long, Json::Number(n)) => Value::Long(n.as_i64().ok_or_else(bad)?),
                (Base::Float, Json::Number(n)) => Value::Float(n.as_f64().ok_or_else(bad)? as f32),
                (Base::Double, Json::Number(n)) => Value::Double(n.as_f64().ok_or_else(bad)?),
                (Base::String, Json::String(s)) => Value::String(s.clone()),
                (Base::Bytes, Json::String(s)) => Value::Bytes(latin1(s).ok_or_else(bad)?),
                (Base::Fixed(size), Json::String(s)) => {
                    let bytes = latin1(s).ok_or_else(bad)?;
                    if bytes.len() != size {
                        return Err(bad());
                    }
                    Value::Fixed(size, bytes)
                }
                _ => return Err(bad()),
            };
            to_logical(plain, other)?
        }
    })
}

/// Bytes from a JSON string as Avro writes them: one character per byte (ISO-8859-1).
fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// Whether a writer's named type is the reader's: the same unqualified name, or one of the
/// reader's aliases.
fn same_name(
    writer: &Name,
    reader: &str,
    aliases: &Option<Vec<apache_avro::schema::Alias>>,
) -> Result<(), AvroError> {
    let by_alias = || {
        aliases
            .iter()
            .flatten()
            .any(|alias| alias.name().rsplit('.').next() == Some(writer.name.as_str()))
    };
    if writer.name == reader || by_alias() {
        Ok(())
    } else {
        Err(unresolvable(format!(
            "the writer's {} is not the reader's {reader}",
            writer.name
        )))
    }
}

fn cannot(w: &Schema, r: &Schema) -> AvroError {
    unresolvable(format!(
        "a {} cannot be read as a {}",
        type_name(w),
        type_name(r)
    ))
}

fn unresolvable(message: String) -> AvroError {
    AvroError::new(AvroErrorKind::Unresolvable, message)
}
