//! A seeded fuzz of [`GenericCodec`]'s resolution to a reader schema. Each pair is a random
//! writer schema (records nested and recursive, enums, arrays, maps, unions with and without
//! null and with named branches, fixed, every primitive, and the logical types decimal on
//! bytes and on fixed, uuid on string and on fixed, date, times, timestamps, local timestamps,
//! duration; named types used again by name, short or in full), a reader schema derived from
//! it as the specification lets a schema evolve (fields added with defaults of every kind,
//! removed, reordered, renamed with the old name as an alias; types renamed with an alias or
//! moved to another namespace; enum symbols added, removed behind an enum default; the
//! promotions; string and bytes either way; logical types read as their underlying types and
//! back; a type read by a union holding it, a union by a union with more branches, a union by
//! one of its branches' types), and random values of the writer schema.
//!
//! Each datum is decoded as written (it must be the value encoded) and resolved, and the
//! resolved value is held against two references: [`Model::expect`], this file's own reading
//! of the specification's rules over the generated types (independent of the `Schema` the
//! resolver walks), which must give the same value or the same refusal; and apache-avro's
//! `from_avro_datum` with the reader schema. Where apache-avro errs or panics, the record is
//! counted, not compared. Where it gives another value, the test fails unless the model
//! gives ours and the first difference lies where the value went through a place where
//! apache-avro departs from the specification ([`Deviation`], each documented), which is then
//! counted. Mutated datums (cut short, bytes flipped or inserted) decode to a value or an
//! error, never a panic.
//!
//! A union that holds both a type the writer's promotes to and the writer's own type is read
//! as the writer's own type (then a branch of the same underlying type, then the first it
//! promotes to): Java's rule and the resolver's, where the specification's "the first that
//! matches" could be read as the promoted one. Defaults of unions are of the first branch, so
//! either edition of the specification ("the first schema", "the first that matches") gives
//! the same value.
//!
//! Not generated, as the codec parses schemas with apache-avro 0.21: in a reader schema, a
//! default that is or holds a decimal or a duration, or a union's value of another kind than
//! its first branch's, or a record that holds the default (apache-avro refuses such schemas:
//! [`parses`], [`refused_default`]; writer schemas are parsed without their defaults, and
//! have every kind); a reference by name to a duration or a decimal on a fixed (apache-avro
//! forgets their names); a name in no namespace (the root has one, so that every name can be
//! referred to from anywhere).
//!
//! Deterministic: pair `n` is generated from seed `n`. `RESOLUTION_FUZZ_PAIRS` (default 300)
//! and `RESOLUTION_FUZZ_RECORDS` (default 10 per pair) run more; `RESOLUTION_FUZZ_SEED` runs
//! that one pair only; `RESOLUTION_FUZZ_SHOW` prints each disagreement put down to
//! apache-avro. The figures are printed (`cargo test … -- --nocapture`).

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::Instant;

use apache_avro::types::Value;
use apache_avro::Schema;
use serde_json::{json, Map, Value as Json};

use crate::format::generic::GenericCodec;
use crate::format::value::ValueDecoder;

// ---------------------------------------------------------------------------------------------
// Randomness

/// SplitMix64: small, seedable, and good enough to pick shapes and values.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_f0cc_a11d_a7a5)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas as generated

/// A type of a generated schema; named types are entries of the schema's [`Schemas`].
#[derive(Clone, Debug, PartialEq)]
enum Ty {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Uuid,
    Date,
    TimeMillis,
    TimeMicros,
    TimestampMillis,
    TimestampMicros,
    LocalTimestampMillis,
    LocalTimestampMicros,
    TimestampNanos,
    LocalTimestampNanos,
    /// A decimal on bytes.
    Decimal {
        precision: usize,
        scale: usize,
    },
    Array(Box<Ty>),
    Map(Box<Ty>),
    Union(Vec<Ty>),
    /// The named type at this index of the model.
    Named(usize),
}

#[derive(Clone, Debug)]
struct Named {
    name: String,
    namespace: Option<String>,
    aliases: Vec<String>,
    kind: NamedKind,
    /// A 16-byte fixed with the `uuid` logical type, which the codec reads as the fixed it is
    /// (apache-avro 0.21 reads a length-prefixed string there).
    uuid: bool,
}

#[derive(Clone, Debug)]
enum NamedKind {
    Record(Vec<Field>),
    Enum {
        symbols: Vec<String>,
        default: Option<String>,
    },
    Fixed(usize),
    /// A decimal on a fixed of `size` bytes.
    FixedDecimal {
        size: usize,
        precision: usize,
        scale: usize,
    },
    Duration,
}

#[derive(Clone, Debug)]
struct Field {
    name: String,
    aliases: Vec<String>,
    ty: Ty,
    /// The default as the value it stands for (of the first branch, for a union).
    default: Option<Value>,
}

/// The named types of one schema, by index.
#[derive(Clone, Debug, Default)]
struct Schemas {
    named: Vec<Named>,
}

/// Deepest nesting of generated types, and of generated values.
const MAX_TYPE_DEPTH: usize = 4;
const MAX_VALUE_DEPTH: usize = 5;

/// Symbols enums take theirs from.
const SYMBOLS: [&str; 8] = ["A", "B", "C", "D", "E", "F", "G", "H"];

/// What unions may not hold twice: the underlying type (the specification's rule, as Java
/// applies it to logical types) and apache-avro's kind (which keeps e.g. decimals apart, and
/// a duration's kind has no name).
fn union_keys(schemas: &Schemas, ty: &Ty) -> Vec<String> {
    let base = match base(schemas, ty) {
        Some(Base::Fixed(_)) | None => match ty {
            Ty::Named(i) => format!("named {}", schemas.named[*i].name),
            Ty::Array(_) => "array".into(),
            Ty::Map(_) => "map".into(),
            _ => "union".into(),
        },
        Some(base) => format!("{base:?}"),
    };
    let kind = match apache_kind(schemas, ty) {
        Some(kind) => kind.to_string(),
        None => base.clone(),
    };
    vec![base, kind]
}

/// apache-avro's `SchemaKind` of an unnamed type (its unions index their branches by it).
fn apache_kind(schemas: &Schemas, ty: &Ty) -> Option<&'static str> {
    Some(match ty {
        Ty::Null => "Null",
        Ty::Boolean => "Boolean",
        Ty::Int => "Int",
        Ty::Long => "Long",
        Ty::Float => "Float",
        Ty::Double => "Double",
        Ty::Bytes => "Bytes",
        Ty::String => "String",
        Ty::Uuid => "Uuid",
        Ty::Date => "Date",
        Ty::TimeMillis => "TimeMillis",
        Ty::TimeMicros => "TimeMicros",
        Ty::TimestampMillis => "TimestampMillis",
        Ty::TimestampMicros => "TimestampMicros",
        Ty::LocalTimestampMillis => "LocalTimestampMillis",
        Ty::LocalTimestampMicros => "LocalTimestampMicros",
        Ty::TimestampNanos => "TimestampNanos",
        Ty::LocalTimestampNanos => "LocalTimestampNanos",
        Ty::Decimal { .. } => "Decimal",
        Ty::Array(_) => "Array",
        Ty::Map(_) => "Map",
        Ty::Union(_) => "Union",
        Ty::Named(i) => match schemas.named[*i].kind {
            NamedKind::FixedDecimal { .. } => "Decimal",
            NamedKind::Duration => "Duration",
            NamedKind::Fixed(_) if schemas.named[*i].uuid => "Uuid",
            _ => return None,
        },
    })
}

/// apache-avro's `SchemaKind` of a value.
fn apache_value_kind(value: &Value) -> String {
    format!("{:?}", apache_avro::schema::SchemaKind::from(value))
}

// ---------------------------------------------------------------------------------------------
// Writing schemas as JSON

/// A schema's JSON: each named type defined where it first appears, named after that by its
/// full name or, where that names it, its short name.
fn to_json(schemas: &Schemas, root: &Ty) -> String {
    let mut full_names = vec![None; schemas.named.len()];
    emit(schemas, root, None, &mut full_names).to_string()
}

/// The schema as apache-avro writes it right: without a `uuid` on a fixed, where apache-avro
/// 0.21 would write a length-prefixed string.
fn without_uuid_on_fixed(text: &str) -> String {
    rewritten(text, false)
}

/// The writer's schema as apache-avro writes with it: without a `uuid` on a fixed, nor the
/// defaults it might refuse (the codec drops them too).
fn to_write_with(text: &str) -> String {
    rewritten(text, true)
}

fn rewritten(text: &str, without_defaults: bool) -> String {
    fn strip(json: &mut Json, without_defaults: bool) {
        match json {
            Json::Object(object) => {
                if without_defaults {
                    object.remove("default");
                }
                if object.get("type") == Some(&json!("fixed"))
                    && object.get("logicalType") == Some(&json!("uuid"))
                {
                    object.remove("logicalType");
                }
                object.values_mut().for_each(|v| strip(v, without_defaults));
            }
            Json::Array(items) => items.iter_mut().for_each(|v| strip(v, without_defaults)),
            _ => {}
        }
    }
    let mut json: Json = serde_json::from_str(text).expect("generated JSON");
    strip(&mut json, without_defaults);
    json.to_string()
}

fn emit(
    schemas: &Schemas,
    ty: &Ty,
    enclosing: Option<&str>,
    full_names: &mut Vec<Option<String>>,
) -> Json {
    let logical = |base: &str, logical: &str| json!({"type": base, "logicalType": logical});
    match ty {
        Ty::Null => json!("null"),
        Ty::Boolean => json!("boolean"),
        Ty::Int => json!("int"),
        Ty::Long => json!("long"),
        Ty::Float => json!("float"),
        Ty::Double => json!("double"),
        Ty::Bytes => json!("bytes"),
        Ty::String => json!("string"),
        Ty::Uuid => logical("string", "uuid"),
        Ty::Date => logical("int", "date"),
        Ty::TimeMillis => logical("int", "time-millis"),
        Ty::TimeMicros => logical("long", "time-micros"),
        Ty::TimestampMillis => logical("long", "timestamp-millis"),
        Ty::TimestampMicros => logical("long", "timestamp-micros"),
        Ty::LocalTimestampMillis => logical("long", "local-timestamp-millis"),
        Ty::LocalTimestampMicros => logical("long", "local-timestamp-micros"),
        Ty::TimestampNanos => logical("long", "timestamp-nanos"),
        Ty::LocalTimestampNanos => logical("long", "local-timestamp-nanos"),
        Ty::Decimal { precision, scale } => {
            json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale})
        }
        Ty::Array(items) => {
            json!({"type": "array", "items": emit(schemas, items, enclosing, full_names)})
        }
        Ty::Map(values) => {
            json!({"type": "map", "values": emit(schemas, values, enclosing, full_names)})
        }
        Ty::Union(branches) => Json::Array(
            branches
                .iter()
                .map(|b| emit(schemas, b, enclosing, full_names))
                .collect(),
        ),
        Ty::Named(i) => {
            let named = &schemas.named[*i];
            if let Some(full) = &full_names[*i] {
                // By its short name where that names it (every other type), else in full.
                let in_enclosing = enclosing.map(|ns| format!("{ns}.{}", named.name));
                return if i % 2 == 0 && in_enclosing.as_ref() == Some(full) {
                    json!(named.name)
                } else {
                    json!(full)
                };
            }
            let namespace = named.namespace.as_deref().or(enclosing);
            full_names[*i] = Some(match namespace {
                Some(ns) => format!("{ns}.{}", named.name),
                None => named.name.clone(),
            });
            let mut object = Map::new();
            object.insert("name".into(), json!(named.name));
            if let Some(ns) = &named.namespace {
                object.insert("namespace".into(), json!(ns));
            }
            if !named.aliases.is_empty() {
                object.insert("aliases".into(), json!(named.aliases));
            }
            match &named.kind {
                NamedKind::Record(fields) => {
                    object.insert("type".into(), json!("record"));
                    let fields: Vec<Json> = fields
                        .iter()
                        .map(|field| {
                            let mut f = Map::new();
                            f.insert("name".into(), json!(field.name));
                            f.insert(
                                "type".into(),
                                emit(schemas, &field.ty, namespace, full_names),
                            );
                            if !field.aliases.is_empty() {
                                f.insert("aliases".into(), json!(field.aliases));
                            }
                            if let Some(default) = &field.default {
                                f.insert(
                                    "default".into(),
                                    default_json(schemas, &field.ty, default),
                                );
                            }
                            Json::Object(f)
                        })
                        .collect();
                    object.insert("fields".into(), Json::Array(fields));
                }
                NamedKind::Enum { symbols, default } => {
                    object.insert("type".into(), json!("enum"));
                    object.insert("symbols".into(), json!(symbols));
                    if let Some(default) = default {
                        object.insert("default".into(), json!(default));
                    }
                }
                NamedKind::Fixed(size) => {
                    object.insert("type".into(), json!("fixed"));
                    object.insert("size".into(), json!(size));
                    if named.uuid {
                        object.insert("logicalType".into(), json!("uuid"));
                    }
                }
                NamedKind::FixedDecimal {
                    size,
                    precision,
                    scale,
                } => {
                    object.insert("type".into(), json!("fixed"));
                    object.insert("size".into(), json!(size));
                    object.insert("logicalType".into(), json!("decimal"));
                    object.insert("precision".into(), json!(precision));
                    object.insert("scale".into(), json!(scale));
                }
                NamedKind::Duration => {
                    object.insert("type".into(), json!("fixed"));
                    object.insert("size".into(), json!(12));
                    object.insert("logicalType".into(), json!("duration"));
                }
            }
            Json::Object(object)
        }
    }
}

/// A default's JSON (of `ty` in `schemas`): bytes and fixed as one character per byte
/// (ISO-8859-1), a union's as its branch's value, a record's without the fields whose value is
/// their own default (which then stands in).
fn default_json(schemas: &Schemas, ty: &Ty, value: &Value) -> Json {
    let latin1 = |bytes: &[u8]| json!(bytes.iter().map(|&b| char::from(b)).collect::<String>());
    match (ty, value) {
        (Ty::Union(branches), Value::Union(index, inner)) => {
            default_json(schemas, &branches[*index as usize], inner)
        }
        (Ty::Array(items), Value::Array(values)) => Json::Array(
            values
                .iter()
                .map(|v| default_json(schemas, items, v))
                .collect(),
        ),
        (Ty::Map(values), Value::Map(entries)) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), default_json(schemas, values, v)))
                .collect(),
        ),
        (Ty::Named(i), Value::Record(values)) => {
            let NamedKind::Record(fields) = &schemas.named[*i].kind else {
                panic!("a record's value for a record")
            };
            Json::Object(
                fields
                    .iter()
                    .zip(values)
                    .filter(|(field, (_, v))| !field.default.as_ref().is_some_and(|d| same(d, v)))
                    .map(|(field, (k, v))| (k.clone(), default_json(schemas, &field.ty, v)))
                    .collect(),
            )
        }
        (_, Value::Null) => Json::Null,
        (_, Value::Boolean(b)) => json!(b),
        (_, Value::Int(n) | Value::Date(n) | Value::TimeMillis(n)) => json!(n),
        (
            _,
            Value::Long(n)
            | Value::TimeMicros(n)
            | Value::TimestampMillis(n)
            | Value::TimestampMicros(n)
            | Value::LocalTimestampMillis(n)
            | Value::LocalTimestampMicros(n)
            | Value::TimestampNanos(n)
            | Value::LocalTimestampNanos(n),
        ) => json!(n),
        (_, Value::Float(x)) => json!(f64::from(*x)),
        (_, Value::Double(x)) => json!(x),
        (_, Value::Bytes(bytes) | Value::Fixed(_, bytes)) => latin1(bytes),
        (_, Value::String(s)) => json!(s),
        (_, Value::Uuid(uuid)) => json!(uuid.to_string()),
        (_, Value::Enum(_, symbol)) => json!(symbol),
        (_, Value::Decimal(decimal)) => {
            latin1(&Vec::<u8>::try_from(decimal).expect("a decimal's bytes"))
        }
        (_, Value::Duration(duration)) => latin1(&<[u8; 12]>::from(*duration)),
        (_, other) => panic!("no default of {other:?} is generated"),
    }
}

// ---------------------------------------------------------------------------------------------
// Generating writer schemas (and the types of fields a reader adds)

/// Generates types into `schemas`.
struct TypeGen<'a> {
    rng: &'a mut Rng,
    schemas: &'a mut Schemas,
    /// Records being generated: a field may hold one of them only through a union with null
    /// or an array, and is never given one as a reused type.
    open: Vec<usize>,
    /// Generating the writer's schema: named types already defined may be used again by
    /// name (not in a reader's new fields, whose defaults must not recurse), and defaults need
    /// only end (the codec drops a writer's defaults; a reader's must parse).
    writer: bool,
}

impl TypeGen<'_> {
    fn ty(&mut self, depth: usize) -> Ty {
        if depth >= MAX_TYPE_DEPTH || self.rng.chance(45) {
            return self.leaf();
        }
        match self.rng.below(6) {
            0..=1 => self.record(depth),
            2 => Ty::Array(Box::new(self.ty(depth + 1))),
            3 => Ty::Map(Box::new(self.ty(depth + 1))),
            _ => self.union(depth),
        }
    }

    fn leaf(&mut self) -> Ty {
        match self.rng.below(24) {
            0 => Ty::Null,
            1 => Ty::Boolean,
            2 => Ty::Int,
            3 => Ty::Long,
            4 => Ty::Float,
            5 => Ty::Double,
            6 => Ty::Bytes,
            7 => Ty::String,
            8 => Ty::Uuid,
            9 => Ty::Date,
            10 => Ty::TimeMillis,
            11 => Ty::TimeMicros,
            12 => Ty::TimestampMillis,
            13 => Ty::TimestampMicros,
            14 => Ty::LocalTimestampMillis,
            15 => Ty::LocalTimestampMicros,
            16 => {
                let precision = 1 + self.rng.below(20);
                Ty::Decimal {
                    precision,
                    scale: self.rng.below(precision + 1),
                }
            }
            17 => self.enumeration(),
            18 => {
                let size = self.rng.below(17);
                self.named("F", NamedKind::Fixed(size))
            }
            19 if self.rng.chance(30) => {
                let Ty::Named(index) = self.named("U", NamedKind::Fixed(16)) else {
                    unreachable!("a named type")
                };
                self.schemas.named[index].uuid = true;
                Ty::Named(index)
            }
            19 => {
                let size = 1 + self.rng.below(16);
                let precision = 1 + self.rng.below(max_precision(size));
                let scale = self.rng.below(precision + 1);
                self.named(
                    "D",
                    NamedKind::FixedDecimal {
                        size,
                        precision,
                        scale,
                    },
                )
            }
            20 => self.named("T", NamedKind::Duration),
            21 => self
                .rng
                .pick(&[Ty::TimestampNanos, Ty::LocalTimestampNanos])
                .clone(),
            _ => self.reused().unwrap_or(Ty::Int),
        }
    }

    /// A named type defined earlier, by name: not a record being generated (that would be a
    /// record holding itself), and neither a duration nor a decimal on a fixed, whose names
    /// apache-avro 0.21 forgets (a reference to one does not resolve).
    fn reused(&mut self) -> Option<Ty> {
        if !self.writer {
            return None;
        }
        let candidates: Vec<usize> = (0..self.schemas.named.len())
            .filter(|i| !self.open.contains(i))
            .filter(|&i| {
                !matches!(
                    self.schemas.named[i].kind,
                    NamedKind::Duration | NamedKind::FixedDecimal { .. }
                )
            })
            .collect();
        (!candidates.is_empty()).then(|| Ty::Named(*self.rng.pick(&candidates)))
    }

    fn named(&mut self, prefix: &str, kind: NamedKind) -> Ty {
        let index = self.schemas.named.len();
        let namespace = if self.rng.chance(20) {
            Some(self.rng.pick(&["a", "b.c"]).to_string())
        } else {
            None
        };
        self.schemas.named.push(Named {
            name: format!("{prefix}{index}"),
            namespace,
            aliases: Vec::new(),
            kind,
            uuid: false,
        });
        Ty::Named(index)
    }

    fn enumeration(&mut self) -> Ty {
        let mut symbols: Vec<String> = SYMBOLS.iter().map(|s| s.to_string()).collect();
        self.rng.shuffle(&mut symbols);
        symbols.truncate(1 + self.rng.below(5));
        let default = self.rng.chance(30).then(|| self.rng.pick(&symbols).clone());
        self.named("E", NamedKind::Enum { symbols, default })
    }

    fn record(&mut self, depth: usize) -> Ty {
        let Ty::Named(index) = self.named("R", NamedKind::Record(Vec::new())) else {
            unreachable!("a named type")
        };
        self.open.push(index);
        let mut fields = Vec::new();
        for k in 0..self.rng.below(5) {
            let ty = self.ty(depth + 1);
            fields.push(Field {
                name: format!("f{k}"),
                aliases: Vec::new(),
                ty,
                default: None,
            });
        }
        if self.writer && self.rng.chance(20) {
            // The record within itself: through a union with null, or an array.
            let ty = if self.rng.chance(70) {
                Ty::Union(vec![Ty::Null, Ty::Named(index)])
            } else {
                Ty::Array(Box::new(Ty::Named(index)))
            };
            let at = self.rng.below(fields.len() + 1);
            fields.insert(
                at,
                Field {
                    name: "next".into(),
                    aliases: Vec::new(),
                    ty,
                    default: None,
                },
            );
        }
        self.open.pop();
        // A writer's defaults are never read; some are there as registries hold them. A
        // reader's are, and apache-avro checks a default while it parses: not on `next`, which
        // it checks before the record it holds is defined, and refuses.
        for field in &mut fields {
            if (self.writer || field.name != "next") && self.rng.chance(20) {
                let default = gen_value(self.rng, self.schemas, &field.ty, 0, true);
                let kept = if self.writer {
                    ends(&default)
                } else {
                    parses(&default)
                };
                field.default = kept.then_some(default);
            }
        }
        self.schemas.named[index].kind = NamedKind::Record(fields);
        Ty::Named(index)
    }

    fn union(&mut self, depth: usize) -> Ty {
        let mut branches = Vec::new();
        let mut keys = HashSet::new();
        if self.rng.chance(50) {
            branches.push(Ty::Null);
            keys.extend(union_keys(self.schemas, &Ty::Null));
        }
        let wanted = 1 + self.rng.below(3);
        for _ in 0..wanted * 3 {
            if branches.len() > wanted {
                break;
            }
            let branch = self.ty(depth + 1);
            let branch_keys = union_keys(self.schemas, &branch);
            if matches!(branch, Ty::Union(_)) || branch_keys.iter().any(|k| keys.contains(k)) {
                continue;
            }
            keys.extend(branch_keys);
            branches.push(branch);
        }
        if branches.is_empty() {
            branches.push(Ty::Null);
        }
        self.rng.shuffle(&mut branches);
        Ty::Union(branches)
    }
}

/// What [`gen_value`] gives for a default that does not end (a value it never generates).
const ENDLESS: Value = Value::Enum(u32::MAX, String::new());

/// Whether a default ends: no [`ENDLESS`] in it.
fn ends(default: &Value) -> bool {
    !holds(default, &|v| *v == ENDLESS)
}

/// Whether apache-avro 0.21 parses a reader schema with this default: it checks each default
/// by resolving its JSON as a value, and no JSON resolves to a decimal or a duration, so it
/// refuses every schema with a default that is or holds one (which the specification allows:
/// their defaults are those of their underlying types). The codec parses reader schemas with
/// apache-avro (writer schemas without their defaults), so such readers are not generated.
fn parses(default: &Value) -> bool {
    ends(default)
        && !holds(default, &|v| {
            matches!(v, Value::Decimal(_) | Value::Duration(_))
        })
}

/// Whether `value` or a value inside it is `wanted`.
fn holds(value: &Value, wanted: &dyn Fn(&Value) -> bool) -> bool {
    wanted(value)
        || match value {
            Value::Union(_, inner) => holds(inner, wanted),
            Value::Array(items) => items.iter().any(|v| holds(v, wanted)),
            Value::Map(entries) => entries.values().any(|v| holds(v, wanted)),
            Value::Record(fields) => fields.iter().any(|(_, v)| holds(v, wanted)),
            _ => false,
        }
}

/// The most decimal digits `size` bytes hold, as apache-avro computes it.
fn max_precision(size: usize) -> usize {
    ((2.0_f64).powi(8 * size as i32 - 1) - 1.0).log10().floor() as usize
}

// ---------------------------------------------------------------------------------------------
// Generating values

/// A random value of `ty`; a default's (`for_default`) is of a union's first branch, with
/// finite floating-point numbers that JSON holds exactly.
fn gen_value(rng: &mut Rng, schemas: &Schemas, ty: &Ty, depth: usize, for_default: bool) -> Value {
    let deep = depth >= MAX_VALUE_DEPTH;
    if for_default && depth > 3 * MAX_VALUE_DEPTH {
        // A union whose first branch is a record that holds the union: no default ends.
        return ENDLESS;
    }
    match ty {
        Ty::Null => Value::Null,
        Ty::Boolean => Value::Boolean(rng.chance(50)),
        Ty::Int => Value::Int(gen_int(rng)),
        Ty::Long => Value::Long(gen_long(rng)),
        Ty::Float => Value::Float(if for_default {
            *rng.pick(&[0.0, 1.5, -2.25, 1024.0])
        } else {
            let random = f32::from_bits(rng.next() as u32);
            *rng.pick(&[
                0.0,
                -0.0,
                1.5,
                f32::NAN,
                f32::INFINITY,
                f32::MIN_POSITIVE,
                random,
            ])
        }),
        Ty::Double => Value::Double(if for_default {
            *rng.pick(&[0.0, 0.5, -3.75, 1e15])
        } else {
            let random = f64::from_bits(rng.next());
            *rng.pick(&[0.0, -0.0, 2.5, f64::NAN, f64::NEG_INFINITY, random])
        }),
        Ty::Bytes => Value::Bytes(gen_bytes(rng)),
        Ty::String => Value::String(gen_string(rng)),
        Ty::Uuid => Value::Uuid(uuid::Uuid::from_u128(
            u128::from(rng.next()) << 64 | u128::from(rng.next()),
        )),
        Ty::Date => Value::Date(gen_int(rng)),
        Ty::TimeMillis => Value::TimeMillis(gen_int(rng)),
        Ty::TimeMicros => Value::TimeMicros(gen_long(rng)),
        Ty::TimestampMillis => Value::TimestampMillis(gen_long(rng)),
        Ty::TimestampMicros => Value::TimestampMicros(gen_long(rng)),
        Ty::LocalTimestampMillis => Value::LocalTimestampMillis(gen_long(rng)),
        Ty::LocalTimestampMicros => Value::LocalTimestampMicros(gen_long(rng)),
        Ty::TimestampNanos => Value::TimestampNanos(gen_long(rng)),
        Ty::LocalTimestampNanos => Value::LocalTimestampNanos(gen_long(rng)),
        Ty::Decimal { .. } => {
            let len = 1 + rng.below(6);
            Value::Decimal(apache_avro::Decimal::from(rng.bytes(len)))
        }
        Ty::Array(items) => {
            let count = if deep { 0 } else { rng.below(4) };
            Value::Array(
                (0..count)
                    .map(|_| gen_value(rng, schemas, items, depth + 1, for_default))
                    .collect(),
            )
        }
        Ty::Map(values) => {
            let count = if deep { 0 } else { rng.below(4) };
            Value::Map(
                (0..count)
                    .map(|k| {
                        let value = gen_value(rng, schemas, values, depth + 1, for_default);
                        (format!("k{k}"), value)
                    })
                    .collect(),
            )
        }
        Ty::Union(branches) => {
            let index = if for_default {
                0
            } else if deep {
                // A null ends a record that holds itself.
                branches.iter().position(|b| *b == Ty::Null).unwrap_or(0)
            } else {
                rng.below(branches.len())
            };
            let value = gen_value(rng, schemas, &branches[index], depth + 1, for_default);
            Value::Union(index as u32, Box::new(value))
        }
        Ty::Named(i) => match &schemas.named[*i].kind {
            NamedKind::Record(fields) => Value::Record(
                fields
                    .iter()
                    .map(|f| {
                        let value = match &f.default {
                            // Left out of the default's JSON: the field's default stands in.
                            Some(default) if for_default && rng.chance(50) => default.clone(),
                            _ => gen_value(rng, schemas, &f.ty, depth + 1, for_default),
                        };
                        (f.name.clone(), value)
                    })
                    .collect(),
            ),
            NamedKind::Enum { symbols, .. } => {
                let index = rng.below(symbols.len());
                Value::Enum(index as u32, symbols[index].clone())
            }
            NamedKind::Fixed(size) => Value::Fixed(*size, rng.bytes(*size)),
            NamedKind::FixedDecimal { size, .. } => {
                Value::Decimal(apache_avro::Decimal::from(rng.bytes(*size)))
            }
            NamedKind::Duration => {
                let bytes: [u8; 12] = rng.bytes(12).try_into().expect("12 bytes");
                Value::Duration(apache_avro::Duration::from(bytes))
            }
        },
    }
}

fn gen_int(rng: &mut Rng) -> i32 {
    match rng.below(4) {
        0 => *rng.pick(&[0, -1, 1, i32::MIN, i32::MAX]),
        1 => rng.below(200) as i32 - 100,
        _ => rng.next() as i32,
    }
}

fn gen_long(rng: &mut Rng) -> i64 {
    match rng.below(4) {
        0 => *rng.pick(&[0, -1, i64::MIN, i64::MAX, 1 << 53]),
        1 => rng.below(200) as i64 - 100,
        _ => rng.next() as i64,
    }
}

/// Bytes: mostly text (so that some read as strings), some not UTF-8, some above 0x7f.
fn gen_bytes(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(60) {
        gen_string(rng).into_bytes()
    } else {
        let len = rng.below(9);
        rng.bytes(len)
    }
}

/// Text: ASCII, accents, emoji, and some uuids (so that some strings read as uuids).
fn gen_string(rng: &mut Rng) -> String {
    if rng.chance(15) {
        return uuid::Uuid::from_u128(u128::from(rng.next())).to_string();
    }
    let len = rng.below(6);
    (0..len)
        .map(|_| *rng.pick(&["a", "Z", "0", " ", "é", "ÿ", "😀", "\u{0}"]))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Deriving a reader schema the specification calls compatible

/// Derives the reader: the writer's named types keep their indices (each read as its reader
/// counterpart), and the reader's own new types come after them.
struct Derive<'a> {
    rng: &'a mut Rng,
    writer: &'a Schemas,
    reader: Schemas,
    derived: Vec<bool>,
}

impl Derive<'_> {
    fn ty(&mut self, w: &Ty) -> Ty {
        let core = self.core(w);
        if !matches!(w, Ty::Union(_)) && self.rng.chance(12) {
            self.in_union(w, core)
        } else {
            core
        }
    }

    /// The reader's type for the writer's `w`, not wrapped in a union; rarely one of any
    /// type, which the model and the codec must then refuse alike (or resolve alike, where it
    /// happens to match).
    fn core(&mut self, w: &Ty) -> Ty {
        use Ty::*;
        if self.rng.chance(1) {
            return TypeGen {
                rng: self.rng,
                schemas: &mut self.reader,
                open: Vec::new(),
                writer: false,
            }
            .leaf();
        }
        let options: &[Ty] = match w {
            Int => &[
                Int,
                Int,
                Long,
                Float,
                Double,
                Date,
                TimeMillis,
                TimestampMillis,
            ],
            Long => &[
                Long,
                Long,
                Float,
                Double,
                TimeMicros,
                TimestampMicros,
                LocalTimestampMillis,
                TimestampNanos,
            ],
            Float => &[Float, Double],
            Bytes => &[
                Bytes,
                Bytes,
                String,
                Decimal {
                    precision: 10,
                    scale: 3,
                },
            ],
            String => &[String, String, Bytes, Uuid],
            Uuid => &[Uuid, Uuid, String, Bytes],
            Date | TimeMillis => &[w.clone(), w.clone(), Int, Long, Double],
            TimeMicros | TimestampMillis | TimestampMicros | LocalTimestampMillis
            | LocalTimestampMicros | TimestampNanos | LocalTimestampNanos => {
                &[w.clone(), w.clone(), Long, Float, Double]
            }
            Decimal { .. } => &[w.clone(), w.clone(), Bytes],
            Array(items) => return Array(Box::new(self.ty(items))),
            Map(values) => return Map(Box::new(self.ty(values))),
            Union(branches) => return self.union(branches),
            Named(i) => {
                self.named(*i);
                return Named(*i);
            }
            Null | Boolean | Double => return w.clone(),
        };
        self.rng.pick(options).clone()
    }

    /// The writer's union read by a union of its branches' readers and more branches, or
    /// (rarely) by one branch's reader alone: the records of other branches then fail.
    fn union(&mut self, branches: &[Ty]) -> Ty {
        if self.rng.chance(8) {
            let branch = self.rng.pick(branches).clone();
            return self.core(&branch);
        }
        let mut out: Vec<Ty> = Vec::new();
        let mut keys: HashSet<String> = HashSet::new();
        for (j, branch) in branches.iter().enumerate() {
            let others: HashSet<String> = branches
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != j)
                .flat_map(|(_, b)| union_keys(self.writer, b))
                .collect();
            let mut reader = self.core(branch);
            let reader_keys = union_keys(&self.reader, &reader);
            if reader_keys
                .iter()
                .any(|k| keys.contains(k) || others.contains(k))
            {
                reader = branch.clone();
            }
            keys.extend(union_keys(&self.reader, &reader));
            out.push(reader);
        }
        for _ in 0..self.rng.below(3) {
            let shaped_after = self.rng.pick(branches).clone();
            let filler = self.filler(&shaped_after);
            let filler_keys = union_keys(&self.reader, &filler);
            let matches_any = branches.iter().any(|b| {
                Model::new(self.writer, &self.reader)
                    .branch(b, std::slice::from_ref(&filler))
                    .is_some()
            });
            if !matches_any && !filler_keys.iter().any(|k| keys.contains(k)) {
                keys.extend(filler_keys);
                out.push(filler);
            }
        }
        if self.rng.chance(40) {
            self.rng.shuffle(&mut out);
        }
        Ty::Union(out)
    }

    /// The writer's non-union `w` read by a union holding its reader `core` and branches that
    /// do not match `w`.
    fn in_union(&mut self, w: &Ty, core: Ty) -> Ty {
        let mut out = Vec::new();
        let mut keys: HashSet<String> = union_keys(&self.reader, &core).into_iter().collect();
        for _ in 0..1 + self.rng.below(3) {
            let filler = self.filler(w);
            let filler_keys = union_keys(&self.reader, &filler);
            let matches = Model::new(self.writer, &self.reader)
                .branch(w, std::slice::from_ref(&filler))
                .is_some();
            if !matches && !filler_keys.iter().any(|k| keys.contains(k)) {
                keys.extend(filler_keys);
                out.push(filler);
            }
        }
        let at = self.rng.below(out.len() + 1);
        out.insert(at, core);
        Ty::Union(out)
    }

    /// A branch for a reader's union beside the one that reads `w`: of another type, or a
    /// named type of another name shaped to accept `w`'s values by their shape alone.
    fn filler(&mut self, w: &Ty) -> Ty {
        let fresh = |d: &mut Self, prefix: &str, kind: NamedKind| {
            let index = d.reader.named.len();
            d.reader.named.push(Named {
                name: format!("{prefix}{index}"),
                namespace: None,
                aliases: Vec::new(),
                kind,
                uuid: false,
            });
            Ty::Named(index)
        };
        let w_kind = match w {
            Ty::Named(i) => Some(&self.writer.named[*i].kind),
            _ => None,
        };
        match self.rng.below(13) {
            0 => Ty::Null,
            1 => Ty::Boolean,
            2 => Ty::Int,
            3 => Ty::Long,
            4 => Ty::Float,
            5 => Ty::Double,
            6 => Ty::String,
            7 => Ty::Bytes,
            8 => Ty::Array(Box::new(Ty::Int)),
            9 => Ty::Map(Box::new(Ty::String)),
            10 => {
                // Every field with a default: a record of any shape resolves to it.
                let fields = (0..self.rng.below(3))
                    .map(|k| {
                        let ty = self.rng.pick(&[Ty::Int, Ty::String, Ty::Null]).clone();
                        let default = gen_value(self.rng, &self.reader, &ty, 0, true);
                        Field {
                            name: format!("z{k}"),
                            aliases: Vec::new(),
                            ty,
                            default: Some(default),
                        }
                    })
                    .collect();
                fresh(self, "Q", NamedKind::Record(fields))
            }
            11 => {
                let (symbols, default) = match w_kind {
                    Some(NamedKind::Enum { symbols, .. }) => {
                        (symbols.clone(), Some(symbols[0].clone()))
                    }
                    _ => (vec!["A".to_string()], None),
                };
                fresh(self, "N", NamedKind::Enum { symbols, default })
            }
            _ => {
                let size = match w_kind {
                    Some(NamedKind::Fixed(size)) => *size,
                    _ => self.rng.below(4),
                };
                fresh(self, "G", NamedKind::Fixed(size))
            }
        }
    }

    /// Derives the reader's counterpart of the writer's named type `i`, once.
    fn named(&mut self, i: usize) {
        if self.derived[i] {
            return;
        }
        self.derived[i] = true;
        let w = self.writer.named[i].clone();
        let mut r = Named {
            name: w.name.clone(),
            namespace: w.namespace.clone(),
            aliases: Vec::new(),
            kind: w.kind.clone(),
            uuid: w.uuid && self.rng.chance(80),
        };
        if self.rng.chance(15) {
            r.name = format!("{}_v2", w.name);
            // The old name, short or in full where the writer gave its namespace.
            r.aliases = match &w.namespace {
                Some(ns) if self.rng.chance(50) => vec![format!("{ns}.{}", w.name)],
                _ => vec![w.name.clone()],
            };
        }
        if self.rng.chance(10) {
            r.namespace = Some("moved".into());
        }
        r.kind = match w.kind {
            NamedKind::Record(fields) => NamedKind::Record(self.fields(&fields)),
            NamedKind::Enum { symbols, default } => self.symbols(symbols, default),
            NamedKind::Duration if self.rng.chance(20) => NamedKind::Fixed(12),
            kind => kind,
        };
        self.reader.named[i] = r;
    }

    fn fields(&mut self, written: &[Field]) -> Vec<Field> {
        let mut out = Vec::new();
        for field in written {
            if self.rng.chance(12) {
                continue;
            }
            let ty = self.ty(&field.ty);
            let (name, aliases) = if self.rng.chance(12) {
                (format!("{}_r", field.name), vec![field.name.clone()])
            } else {
                (field.name.clone(), Vec::new())
            };
            let default = (field.name != "next" && self.rng.chance(25))
                .then(|| gen_value(self.rng, &self.reader, &ty, 0, true))
                .filter(parses);
            out.push(Field {
                name,
                aliases,
                ty,
                default,
            });
        }
        for k in 0..self.rng.below(3) {
            let ty = TypeGen {
                rng: self.rng,
                schemas: &mut self.reader,
                open: Vec::new(),
                writer: false,
            }
            .ty(2);
            let default = gen_value(self.rng, &self.reader, &ty, 0, true);
            if !parses(&default) {
                continue;
            }
            out.push(Field {
                name: format!("n{k}"),
                aliases: Vec::new(),
                ty,
                default: Some(default),
            });
        }
        if self.rng.chance(30) {
            self.rng.shuffle(&mut out);
        }
        out
    }

    /// Symbols added; one removed when the reader has a default for it.
    fn symbols(&mut self, mut symbols: Vec<String>, default: Option<String>) -> NamedKind {
        for extra in ["X", "Y"] {
            if self.rng.chance(30) {
                let at = self.rng.below(symbols.len() + 1);
                symbols.insert(at, extra.to_string());
            }
        }
        let mut default = if self.rng.chance(50) {
            Some(self.rng.pick(&symbols).clone())
        } else {
            default
        };
        if symbols.len() > 1 && self.rng.chance(25) {
            let removed = symbols.remove(self.rng.below(symbols.len()));
            if default.as_ref().is_none_or(|d| *d == removed) {
                default = Some(symbols[0].clone());
            }
        }
        NamedKind::Enum { symbols, default }
    }
}

/// A writer schema and a reader derived from it.
struct Pair {
    writer: Schemas,
    writer_root: Ty,
    reader: Schemas,
    reader_root: Ty,
}

fn gen_pair(rng: &mut Rng) -> Pair {
    let mut writer = Schemas::default();
    let writer_root = TypeGen {
        rng,
        schemas: &mut writer,
        open: Vec::new(),
        writer: true,
    }
    .record(0);
    // A name in no namespace cannot be referred to from inside a namespace: the root has one.
    if let Ty::Named(root) = writer_root {
        writer.named[root].namespace = Some("w".into());
    }
    let mut derive = Derive {
        rng,
        writer: &writer,
        reader: writer.clone(),
        derived: vec![false; writer.named.len()],
    };
    let reader_root = derive.core(&writer_root);
    let reader = derive.reader;
    Pair {
        writer,
        writer_root,
        reader,
        reader_root,
    }
}

// ---------------------------------------------------------------------------------------------
// The specification's rules, over the generated types

/// The underlying type of a primitive or logical type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

fn base(schemas: &Schemas, ty: &Ty) -> Option<Base> {
    Some(match ty {
        Ty::Null => Base::Null,
        Ty::Boolean => Base::Boolean,
        Ty::Int | Ty::Date | Ty::TimeMillis => Base::Int,
        Ty::Long
        | Ty::TimeMicros
        | Ty::TimestampMillis
        | Ty::TimestampMicros
        | Ty::LocalTimestampMillis
        | Ty::LocalTimestampMicros
        | Ty::TimestampNanos
        | Ty::LocalTimestampNanos => Base::Long,
        Ty::Float => Base::Float,
        Ty::Double => Base::Double,
        Ty::Bytes | Ty::Decimal { .. } => Base::Bytes,
        Ty::String | Ty::Uuid => Base::String,
        Ty::Named(i) => match schemas.named[*i].kind {
            NamedKind::Fixed(size) | NamedKind::FixedDecimal { size, .. } => Base::Fixed(size),
            NamedKind::Duration => Base::Fixed(12),
            _ => return None,
        },
        Ty::Array(_) | Ty::Map(_) | Ty::Union(_) => return None,
    })
}

/// The specification's promotions (and a type to itself).
fn promotes(w: Base, r: Base) -> bool {
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

/// Where apache-avro's resolution departs from the specification: a disagreement that goes
/// through one of these, where the model gives the codec's value, is apache-avro's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Deviation {
    /// apache-avro finds a reader field by its name only, never by its aliases (the
    /// specification: "a reader's schema's aliases are used to match writer names"): a field
    /// renamed with its old name as an alias takes the reader's default, where it has one,
    /// instead of the value written.
    FieldAliasIgnored,
    /// apache-avro chooses a reader union's branch by the value's kind, else by trying the
    /// value against each branch in turn, and takes the first that accepts it; its trials
    /// check no names (a record of another name whose fields all have defaults, an enum of
    /// another name with the symbol, a fixed of another name and the same size) and accept
    /// what no promotion allows (a long as an int, a double as a float, a string as a fixed).
    /// Where its resolution to the right branch fails (by another of its departures: a field
    /// found by alias, a logical type read as its underlying type), a later branch that
    /// accepts anything takes the value. The specification matches named types by name, and
    /// primitives by type or promotion.
    UnionBranchByTrial,
    /// apache-avro reads a value as a type it does not match, where the specification
    /// signals an error: a map as a record (whose fields have defaults), a record or enum of
    /// another name, a string of any length or bytes of the size as a fixed, a fixed or bytes
    /// of any size as a decimal, a fixed as a string, a long as an int (truncated), a double
    /// as a float.
    MismatchAccepted,
    /// apache-avro 0.21 decodes a `uuid` on a 16-byte fixed as its `uuid` on a string: a
    /// length, then that many bytes, where the datum holds 16 raw bytes. Mostly an error;
    /// where the bytes happen to read as a length and a uuid, a wrong uuid, and every value
    /// after it misread.
    UuidOnFixedReadAsString,
    /// apache-avro reads a `bytes` or `fixed` default as the UTF-8 bytes of its JSON string;
    /// the specification maps each code point 0-255 to one byte.
    DefaultBytesAsUtf8,
    /// apache-avro reads a union's value inside a default (a record's field, an item) as the
    /// branch of its JSON's kind (a JSON string as a `string` branch before a first `bytes`
    /// one); a union's default is of its first branch.
    NestedDefaultUnionByKind,
}

/// The specification's resolution over a writer's and a reader's generated types, noting
/// where (by the path into the resolved value) a value went through a place where apache-avro
/// departs from it, and where it refused the value.
struct Model<'a> {
    writer: &'a Schemas,
    reader: &'a Schemas,
    /// Where the value being resolved goes in the resolved value: field names, `[i]` items,
    /// `{k}` entries, `<i>` union branches.
    path: Vec<String>,
    deviations: Vec<(Deviation, Vec<String>)>,
    refused_at: Option<Vec<String>>,
}

impl<'a> Model<'a> {
    fn new(writer: &'a Schemas, reader: &'a Schemas) -> Model<'a> {
        Model {
            writer,
            reader,
            path: Vec::new(),
            deviations: Vec::new(),
            refused_at: None,
        }
    }

    /// The departure from the specification that explains a disagreement at `at`: one noted
    /// there or above it.
    fn explains(&self, at: &[String]) -> Option<Deviation> {
        self.deviations
            .iter()
            .find(|(_, noted)| at.starts_with(noted))
            .map(|(deviation, _)| *deviation)
    }

    fn note(&mut self, deviation: Deviation) {
        self.deviations.push((deviation, self.path.clone()));
    }

    /// The specification signals an error here: the writer's type does not match the
    /// reader's.
    fn mismatch(&mut self) -> Option<Value> {
        self.note(Deviation::MismatchAccepted);
        self.refuse()
    }

    /// The specification signals an error here.
    fn refuse(&mut self) -> Option<Value> {
        if self.refused_at.is_none() {
            self.refused_at = Some(self.path.clone());
        }
        None
    }

    /// `expect` one level down the path.
    fn expect_at(&mut self, step: String, w: &Ty, r: &Ty, value: Value) -> Option<Value> {
        self.path.push(step);
        let resolved = self.expect(w, r, value);
        self.path.pop();
        resolved
    }

    /// The reader's union branch for the writer's type `w`: the first of the same type, else
    /// of the same underlying type, else the first `w` promotes to.
    fn branch(&self, w: &Ty, branches: &[Ty]) -> Option<usize> {
        let exact = |r: &Ty| match (w, r) {
            (Ty::Named(a), Ty::Named(b)) => {
                let (wn, rn) = (&self.writer.named[*a], &self.reader.named[*b]);
                let kinds = match (&wn.kind, &rn.kind) {
                    (NamedKind::Record(_), NamedKind::Record(_))
                    | (NamedKind::Enum { .. }, NamedKind::Enum { .. }) => true,
                    (NamedKind::Fixed(x), NamedKind::Fixed(y)) => x == y,
                    (
                        NamedKind::FixedDecimal {
                            size,
                            precision,
                            scale,
                        },
                        NamedKind::FixedDecimal {
                            size: s2,
                            precision: p2,
                            scale: c2,
                        },
                    ) => (size, precision, scale) == (s2, p2, c2),
                    (NamedKind::Duration, NamedKind::Duration) => return true,
                    _ => false,
                };
                kinds && same_name(wn, rn)
            }
            (Ty::Array(_), Ty::Array(_)) | (Ty::Map(_), Ty::Map(_)) => true,
            (Ty::Named(_), _) | (_, Ty::Named(_)) => false,
            // Primitives and logical types; decimals of the same precision and scale.
            (a, b) => a == b,
        };
        let same_base = |r: &Ty| {
            base(self.writer, w).is_some()
                && base(self.writer, w) == base(self.reader, r)
                && self.fixed_names_match(w, r)
        };
        let promoted = |r: &Ty| match (base(self.writer, w), base(self.reader, r)) {
            (Some(a), Some(b)) => promotes(a, b) && self.fixed_names_match(w, r),
            _ => false,
        };
        branches
            .iter()
            .position(exact)
            .or_else(|| branches.iter().position(same_base))
            .or_else(|| branches.iter().position(promoted))
    }

    /// A fixed (or a decimal on one) is read only as a fixed of its name; a duration's name
    /// is not compared.
    fn fixed_names_match(&self, w: &Ty, r: &Ty) -> bool {
        let fixed = |schemas: &'a Schemas, ty: &Ty| match ty {
            Ty::Named(i) => match schemas.named[*i].kind {
                NamedKind::Fixed(_) | NamedKind::FixedDecimal { .. } => Some(*i),
                _ => None,
            },
            _ => None,
        };
        match (fixed(self.writer, w), fixed(self.reader, r)) {
            (Some(a), Some(b)) => same_name(&self.writer.named[a], &self.reader.named[b]),
            _ => true,
        }
    }

    /// The value the specification resolves `value` (of the writer's `w`) to as the reader's
    /// `r`, or `None` where it signals an error.
    fn expect(&mut self, w: &Ty, r: &Ty, value: Value) -> Option<Value> {
        if let Ty::Named(i) = w {
            if self.writer.named[*i].uuid {
                // apache-avro's decoding is wrong from here on: any difference may follow.
                self.deviations
                    .push((Deviation::UuidOnFixedReadAsString, Vec::new()));
            }
        }
        if let Ty::Union(branches) = w {
            let Value::Union(index, inner) = value else {
                panic!("a union's value")
            };
            return self.expect(&branches[index as usize], r, *inner);
        }
        if let Ty::Union(branches) = r {
            let Some(index) = self.branch(w, branches) else {
                // apache-avro may take a branch by trying the value.
                self.note(Deviation::UnionBranchByTrial);
                return self.refuse();
            };
            self.note_union_choice(&value, branches, index);
            let resolved = self.expect_at(format!("<{index}>"), w, &branches[index], value)?;
            return Some(Value::Union(index as u32, Box::new(resolved)));
        }
        if let (Ty::Named(a), Ty::Named(b)) = (w, r) {
            let (wn, rn) = (&self.writer.named[*a], &self.reader.named[*b]);
            match (&wn.kind, &rn.kind) {
                (NamedKind::Record(w_fields), NamedKind::Record(r_fields)) => {
                    if !same_name(wn, rn) {
                        return self.mismatch();
                    }
                    return self.record(w_fields, r_fields, value);
                }
                (NamedKind::Enum { .. }, NamedKind::Enum { symbols, default }) => {
                    if !same_name(wn, rn) {
                        return self.mismatch();
                    }
                    let Value::Enum(_, symbol) = value else {
                        panic!("an enum's value")
                    };
                    let chosen = match (symbols.contains(&symbol), default) {
                        (true, _) => symbol,
                        (false, Some(default)) => default.clone(),
                        (false, None) => return self.refuse(),
                    };
                    let index = symbols.iter().position(|s| *s == chosen)?;
                    return Some(Value::Enum(index as u32, chosen));
                }
                (NamedKind::Record(_) | NamedKind::Enum { .. }, _)
                | (_, NamedKind::Record(_) | NamedKind::Enum { .. }) => return self.mismatch(),
                _ => {}
            }
        }
        match (w, r) {
            (Ty::Array(w_items), Ty::Array(r_items)) => {
                let Value::Array(items) = value else {
                    panic!("an array's value")
                };
                let items: Option<Vec<Value>> = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| self.expect_at(format!("[{i}]"), w_items, r_items, item))
                    .collect();
                Some(Value::Array(items?))
            }
            (Ty::Map(w_values), Ty::Map(r_values)) => {
                let Value::Map(entries) = value else {
                    panic!("a map's value")
                };
                let mut entries: Vec<(String, Value)> = entries.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let entries: Option<HashMap<String, Value>> = entries
                    .into_iter()
                    .map(|(k, v)| {
                        let resolved = self.expect_at(format!("{{{k}}}"), w_values, r_values, v)?;
                        Some((k, resolved))
                    })
                    .collect();
                Some(Value::Map(entries?))
            }
            _ => match self.plain(w, r, value) {
                Some(value) => Some(value),
                None => self.mismatch(),
            },
        }
    }

    /// Notes where apache-avro's choice of a union branch may depart from the specification's.
    fn note_union_choice(&mut self, value: &Value, branches: &[Ty], index: usize) {
        let kind = apache_value_kind(value);
        let by_kind = branches
            .iter()
            .position(|b| apache_kind(self.reader, b) == Some(kind.as_str()));
        // By kind, apache-avro takes that branch; else it tries them all in turn, and where
        // its resolution of the value to the right branch fails (by another of its
        // departures), a later branch may accept it.
        let departs = match by_kind {
            Some(j) => j != index,
            None => branches.len() > 1,
        };
        if departs {
            self.note(Deviation::UnionBranchByTrial);
        }
    }

    fn record(&mut self, w_fields: &[Field], r_fields: &[Field], value: Value) -> Option<Value> {
        let Value::Record(written) = value else {
            panic!("a record's value")
        };
        let mut written: HashMap<String, (Value, &Ty)> = written
            .into_iter()
            .zip(w_fields)
            .map(|((name, v), f)| (name, (v, &f.ty)))
            .collect();
        let mut out = Vec::new();
        for field in r_fields {
            self.path.push(field.name.clone());
            let by_alias = field.aliases.iter().find(|a| written.contains_key(*a));
            let found = match (written.remove(&field.name), by_alias) {
                (Some(found), _) => Some(found),
                (None, Some(alias)) => {
                    self.note(Deviation::FieldAliasIgnored);
                    written.remove(alias)
                }
                (None, None) => None,
            };
            let resolved = match found {
                Some((v, w_ty)) => self.expect(w_ty, &field.ty, v),
                None => match &field.default {
                    Some(default) => {
                        self.note_default(&field.ty, default, true);
                        Some(default.clone())
                    }
                    None => self.refuse(),
                },
            };
            self.path.pop();
            out.push((field.name.clone(), resolved?));
        }
        Some(Value::Record(out))
    }

    /// Notes where apache-avro's reading of a default departs from the specification's (all
    /// at the field the default stands for).
    fn note_default(&mut self, ty: &Ty, value: &Value, top: bool) {
        let above_ascii = |bytes: &[u8]| bytes.iter().any(|&b| b > 0x7f);
        match (ty, value) {
            (Ty::Union(branches), Value::Union(_, inner)) => {
                if !top {
                    let json_kind = apache_value_kind(&Value::from(default_json(
                        self.reader,
                        &branches[0],
                        inner,
                    )));
                    let by_kind = branches
                        .iter()
                        .position(|b| apache_kind(self.reader, b) == Some(json_kind.as_str()));
                    if by_kind.is_some_and(|j| j != 0) {
                        self.note(Deviation::NestedDefaultUnionByKind);
                    }
                }
                self.note_default(&branches[0], inner, false);
            }
            (Ty::Array(items), Value::Array(values)) => {
                for v in values {
                    self.note_default(items, v, false);
                }
            }
            (Ty::Map(items), Value::Map(values)) => {
                for v in values.values() {
                    self.note_default(items, v, false);
                }
            }
            (Ty::Named(i), Value::Record(values)) => {
                if let NamedKind::Record(fields) = &self.reader.named[*i].kind {
                    for (field, (_, v)) in fields.iter().zip(values) {
                        self.note_default(&field.ty, v, false);
                    }
                }
            }
            (_, Value::Bytes(bytes) | Value::Fixed(_, bytes)) if above_ascii(bytes) => {
                self.note(Deviation::DefaultBytesAsUtf8)
            }
            _ => {}
        }
    }

    /// A primitive, logical or fixed value: to its underlying value, promoted, then as the
    /// reader's logical type.
    fn plain(&self, w: &Ty, r: &Ty, value: Value) -> Option<Value> {
        let (w_base, r_base) = (base(self.writer, w)?, base(self.reader, r)?);
        if !promotes(w_base, r_base) || !self.fixed_names_match(w, r) {
            return None;
        }
        let decimal = |schemas: &Schemas, ty: &Ty| match ty {
            Ty::Decimal { precision, scale } => Some((*precision, *scale)),
            Ty::Named(i) => match schemas.named[*i].kind {
                NamedKind::FixedDecimal {
                    precision, scale, ..
                } => Some((precision, scale)),
                _ => None,
            },
            _ => None,
        };
        if let (Some(a), Some(b)) = (decimal(self.writer, w), decimal(self.reader, r)) {
            if a != b {
                return None;
            }
        }
        let underlying = match value {
            Value::Date(n) | Value::TimeMillis(n) => Value::Int(n),
            Value::TimeMicros(n)
            | Value::TimestampMillis(n)
            | Value::TimestampMicros(n)
            | Value::LocalTimestampMillis(n)
            | Value::LocalTimestampMicros(n)
            | Value::TimestampNanos(n)
            | Value::LocalTimestampNanos(n) => Value::Long(n),
            Value::Uuid(uuid) => Value::String(uuid.to_string()),
            Value::Duration(d) => Value::Fixed(12, <[u8; 12]>::from(d).to_vec()),
            Value::Decimal(d) => {
                let bytes = Vec::<u8>::try_from(d).expect("decimal bytes");
                match w_base {
                    Base::Fixed(size) => Value::Fixed(size, bytes),
                    _ => Value::Bytes(bytes),
                }
            }
            other => other,
        };
        let promoted = match (underlying, r_base) {
            (Value::Int(n), Base::Long) => Value::Long(n.into()),
            (Value::Int(n), Base::Float) => Value::Float(n as f32),
            (Value::Int(n), Base::Double) => Value::Double(n.into()),
            (Value::Long(n), Base::Float) => Value::Float(n as f32),
            (Value::Long(n), Base::Double) => Value::Double(n as f64),
            (Value::Float(x), Base::Double) => Value::Double(x.into()),
            (Value::String(s), Base::Bytes) => Value::Bytes(s.into_bytes()),
            (Value::Bytes(b), Base::String) => Value::String(String::from_utf8(b).ok()?),
            (same, _) => same,
        };
        Some(match (r, promoted) {
            (Ty::Date, Value::Int(n)) => Value::Date(n),
            (Ty::TimeMillis, Value::Int(n)) => Value::TimeMillis(n),
            (Ty::TimeMicros, Value::Long(n)) => Value::TimeMicros(n),
            (Ty::TimestampMillis, Value::Long(n)) => Value::TimestampMillis(n),
            (Ty::TimestampMicros, Value::Long(n)) => Value::TimestampMicros(n),
            (Ty::LocalTimestampMillis, Value::Long(n)) => Value::LocalTimestampMillis(n),
            (Ty::LocalTimestampMicros, Value::Long(n)) => Value::LocalTimestampMicros(n),
            (Ty::TimestampNanos, Value::Long(n)) => Value::TimestampNanos(n),
            (Ty::LocalTimestampNanos, Value::Long(n)) => Value::LocalTimestampNanos(n),
            (Ty::Uuid, Value::String(s)) => Value::Uuid(s.parse().ok()?),
            (Ty::Decimal { .. }, Value::Bytes(b)) => Value::Decimal(apache_avro::Decimal::from(b)),
            (Ty::Named(i), Value::Fixed(_, b)) => match self.reader.named[*i].kind {
                NamedKind::FixedDecimal { .. } => Value::Decimal(apache_avro::Decimal::from(b)),
                NamedKind::Duration => {
                    Value::Duration(apache_avro::Duration::from(<[u8; 12]>::try_from(b).ok()?))
                }
                _ => Value::Fixed(b.len(), b),
            },
            (_, v) => v,
        })
    }
}

/// Whether the writer's named type is the reader's: the same unqualified name, or one of the
/// reader's aliases (given short, or in full with the writer's namespace).
fn same_name(writer: &Named, reader: &Named) -> bool {
    writer.name == reader.name
        || reader
            .aliases
            .iter()
            .any(|alias| alias.rsplit('.').next() == Some(writer.name.as_str()))
}

/// Where two values first differ (as `Model::path` names places), if they do.
fn first_difference(a: &Value, b: &Value, path: &mut Vec<String>) -> Option<Vec<String>> {
    let within = |step: String, a: &Value, b: &Value, path: &mut Vec<String>| {
        path.push(step);
        let found = first_difference(a, b, path);
        path.pop();
        found
    };
    match (a, b) {
        (Value::Union(i, x), Value::Union(j, y)) if i == j => within(format!("<{i}>"), x, y, path),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| within(format!("[{i}]"), x, y, path)),
        (Value::Map(x), Value::Map(y))
            if x.len() == y.len() && x.keys().all(|k| y.contains_key(k)) =>
        {
            let mut keys: Vec<&String> = x.keys().collect();
            keys.sort();
            keys.into_iter()
                .find_map(|k| within(format!("{{{k}}}"), &x[k], &y[k], path))
        }
        (Value::Record(x), Value::Record(y))
            if x.len() == y.len() && x.iter().zip(y).all(|(m, n)| m.0 == n.0) =>
        {
            x.iter()
                .zip(y)
                .find_map(|((name, x), (_, y))| within(name.clone(), x, y, path))
        }
        _ => (!same(a, b)).then(|| path.clone()),
    }
}

/// Values equal as data: floating-point numbers by their bits (any NaN equals any NaN), maps
/// whatever their order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Value::Double(x), Value::Double(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Value::Union(i, x), Value::Union(j, y)) => i == j && same(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Record(x), Value::Record(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((m, v), (n, w))| m == n && same(v, w))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// The runs

thread_local! {
    /// Set while apache-avro runs on this thread: its panics are counted, not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, catching a panic; panics on this thread while it runs are not printed.
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    result.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seeds to run: `RESOLUTION_FUZZ_SEED` alone, or `0..RESOLUTION_FUZZ_PAIRS`.
fn seeds() -> Vec<u64> {
    match std::env::var("RESOLUTION_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (0..env_count("RESOLUTION_FUZZ_PAIRS", 300)).collect(),
    }
}

/// What a run saw.
#[derive(Default)]
struct Figures {
    pairs: u64,
    /// Pairs whose reader schema apache-avro refuses for a valid default (the codec takes it;
    /// their records are compared with the model only).
    refused_defaults: u64,
    records: u64,
    /// Records the model refuses (and the codec with it).
    refused: u64,
    /// Pairs the codec refused when the writer schema was admitted (the model refusing every
    /// record generated for them).
    refused_pairs: u64,
    /// Records apache-avro resolved to the codec's value.
    agreed: u64,
    apache_errors: u64,
    apache_panics: u64,
    /// apache-avro's errors by kind, and its panics by message.
    apache_failures: BTreeMap<String, u64>,
    /// Disagreements that are apache-avro's, by the departure they went through.
    apache_wrong: BTreeMap<Deviation, u64>,
    /// The slowest resolving decode: nanoseconds, writer and reader schema sizes, seed.
    slowest: (u128, usize, usize, u64),
    failures: Vec<String>,
}

/// Whether apache-avro refused a schema for one of its defaults. It checks each default by
/// resolving its JSON as a value, by its own rules: a union's value inside a default is taken
/// as the branch of the JSON's kind (`NestedDefaultUnionByKind`), so a valid default can fail.
/// The codec parses a reader schema with apache-avro and refuses it too.
fn refused_default(error: &apache_avro::Error) -> bool {
    use apache_avro::error::Details;
    matches!(
        error.details(),
        Details::GetDefaultUnion(..) | Details::GetDefaultRecordField(..)
    )
}

/// Generates pair `seed` and checks `records` values of it; what went wrong is in `failures`.
fn check_pair(seed: u64, records: u64, figures: &mut Figures) {
    let mut rng = Rng::new(seed);
    let pair = gen_pair(&mut rng);
    let writer_json = to_json(&pair.writer, &pair.writer_root);
    let reader_json = to_json(&pair.reader, &pair.reader_root);
    let mut fail = |what: String| {
        figures.failures.push(format!(
            "seed {seed}: {what}\n  writer: {writer_json}\n  reader: {reader_json}"
        ))
    };
    // apache-avro writes the data with the writer's schema as the codec parses it to decode
    // (a uuid on a fixed is the fixed; no defaults). The reader's, as the codec parses it,
    // must parse, unless apache-avro refuses a valid default.
    let writer_schema = match Schema::parse_str(&to_write_with(&writer_json)) {
        Ok(schema) => schema,
        Err(e) => {
            return fail(format!(
                "apache-avro refuses a generated writer schema: {e}"
            ))
        }
    };
    match Schema::parse_str(&without_uuid_on_fixed(&reader_json)) {
        Ok(_) => {}
        // The codec takes it (it checks defaults by the specification's rules): its records
        // are compared with the model only.
        Err(e) if refused_default(&e) => figures.refused_defaults += 1,
        Err(e) => {
            return fail(format!(
                "apache-avro refuses a generated reader schema: {e}"
            ))
        }
    }
    // apache-avro's resolution, with the schemas as they are.
    let theirs =
        Schema::parse_str(&writer_json).and_then(|w| Ok((w, Schema::parse_str(&reader_json)?)));
    let plain = GenericCodec::new();
    let resolving = match GenericCodec::with_reader_schema(&reader_json) {
        Ok(codec) => codec,
        Err(e) => return fail(format!("reader schema refused: {e}")),
    };
    let (plain_plan, resolving_plan) =
        match (plain.admit(&writer_json), resolving.admit(&writer_json)) {
            (Ok(a), Ok(b)) => (a, b),
            // Refused when admitted: only right if no datum of the writer resolves, so the
            // specification's model must refuse every one generated.
            (Ok(_), Err(refusal)) => {
                for _ in 0..records {
                    let value = gen_value(&mut rng, &pair.writer, &pair.writer_root, 0, false);
                    let mut model = Model::new(&pair.writer, &pair.reader);
                    if let Some(resolved) =
                        model.expect(&pair.writer_root, &pair.reader_root, value.clone())
                    {
                        return fail(format!(
                            "refused when admitted ({refusal}), but the specification resolves \
                             {value:?} to {resolved:?}"
                        ));
                    }
                    figures.records += 1;
                }
                figures.pairs += 1;
                figures.refused_pairs += 1;
                return;
            }
            (a, b) => {
                return fail(format!(
                    "writer schema refused: {:?} {:?}",
                    a.err(),
                    b.err()
                ))
            }
        };
    figures.pairs += 1;
    for _ in 0..records {
        let value = gen_value(&mut rng, &pair.writer, &pair.writer_root, 0, false);
        let datum = match apache_avro::to_avro_datum(&writer_schema, value.clone()) {
            Ok(datum) => datum,
            Err(e) => return fail(format!("apache-avro cannot encode {value:?}: {e}")),
        };
        figures.records += 1;
        match plain.decode(&plain_plan, &datum) {
            Ok(decoded) if same(&decoded, &value) => {}
            other => {
                return fail(format!(
                    "decoded as written: {other:?}\n  written: {value:?}"
                ))
            }
        }
        let timed = || {
            let started = Instant::now();
            let ours = resolving.decode(&resolving_plan, &datum);
            (ours, started.elapsed().as_nanos())
        };
        let (ours, mut nanos) = timed();
        if nanos > figures.slowest.0 {
            // The least of three: the machine is shared, a single time may be a pause.
            nanos = nanos.min(timed().1).min(timed().1);
            if nanos > figures.slowest.0 {
                figures.slowest = (nanos, writer_json.len(), reader_json.len(), seed);
            }
        }
        let mut model = Model::new(&pair.writer, &pair.reader);
        let expected = model.expect(&pair.writer_root, &pair.reader_root, value.clone());
        let agrees_with_model = match (&ours, &expected) {
            (Ok(a), Some(b)) => same(a, b),
            (Err(_), None) => true,
            _ => false,
        };
        if !agrees_with_model {
            return fail(format!(
                "resolved: {ours:?}\n  the specification's: {expected:?}\n  written: {value:?}"
            ));
        }
        if expected.is_none() {
            figures.refused += 1;
        }
        let apache = match &theirs {
            Ok((writer, reader)) => quietly(|| {
                apache_avro::from_avro_datum(writer, &mut &datum[..], Some(reader))
                    .map_err(|e| e.to_string())
            }),
            Err(e) => Ok(Err(format!("refuses the schema: {e}"))),
        };
        match (apache, &ours) {
            (Err(panic), _) => {
                figures.apache_panics += 1;
                *figures
                    .apache_failures
                    .entry(format!("panic: {panic}"))
                    .or_default() += 1;
            }
            (Ok(Err(message)), _) => {
                figures.apache_errors += 1;
                // Its message's first words, names and values left out.
                let words: Vec<&str> = message
                    .split([' ', ':', '(', '{'])
                    .filter(|w| !w.is_empty())
                    .take(5)
                    .map(|w| if w.starts_with('"') { "…" } else { w })
                    .collect();
                *figures.apache_failures.entry(words.join(" ")).or_default() += 1;
            }
            (Ok(Ok(theirs)), Ok(ours)) if same(&theirs, ours) => figures.agreed += 1,
            (Ok(Ok(theirs)), _) => {
                let at = match &ours {
                    Ok(ours) => first_difference(ours, &theirs, &mut Vec::new()),
                    Err(_) => model.refused_at.clone(),
                };
                match at.as_ref().and_then(|at| model.explains(at)) {
                    Some(deviation) => {
                        *figures.apache_wrong.entry(deviation).or_default() += 1;
                        if std::env::var_os("RESOLUTION_FUZZ_SHOW").is_some() {
                            eprintln!(
                                "seed {seed}: {deviation:?} at {at:?}\n  apache-avro: \
                                 {theirs:?}\n  resolved: {ours:?}\n  written: {value:?}\n  \
                                 writer: {writer_json}\n  reader: {reader_json}\n"
                            );
                        }
                    }
                    None => {
                        return fail(format!(
                            "apache-avro: {theirs:?}\n  resolved: {ours:?}\n  written: {value:?}"
                        ))
                    }
                }
            }
        }
    }
}

#[test]
fn resolution_to_derived_reader_schemas_follows_the_specification() {
    let records = env_count("RESOLUTION_FUZZ_RECORDS", 10);
    let mut figures = Figures::default();
    for seed in seeds() {
        check_pair(seed, records, &mut figures);
        if figures.failures.len() >= 5 {
            break;
        }
    }
    let Figures {
        pairs,
        refused_defaults,
        records,
        refused,
        refused_pairs,
        agreed,
        apache_errors,
        apache_panics,
        apache_failures,
        apache_wrong,
        slowest,
        failures,
    } = &figures;
    eprintln!(
        "resolution fuzz: {pairs} pairs ({refused_defaults} of them with a reader apache-avro \
         refuses for a default), {records} records resolved and compared with the \
         specification's model ({refused} refused by both; {refused_pairs} pairs refused when \
         admitted, every record of theirs refused by the model); apache-avro: {agreed} the same, \
         {apache_errors} errors, {apache_panics} panics, {} wrong: {apache_wrong:?}; slowest \
         resolving decode {} ns (seed {}, writer schema {} bytes, reader {} bytes)",
        apache_wrong.values().sum::<u64>(),
        slowest.0,
        slowest.3,
        slowest.1,
        slowest.2,
    );
    let mut failures_by_count: Vec<(&String, &u64)> = apache_failures.iter().collect();
    failures_by_count.sort_by(|a, b| b.1.cmp(a.1));
    failures_by_count.truncate(8);
    eprintln!("apache-avro's most frequent errors and panics: {failures_by_count:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Mutations of a valid datum: cut short, bytes flipped, a byte inserted, a varint made
/// endless, bytes appended.
fn mutate(rng: &mut Rng, datum: &[u8]) -> Vec<u8> {
    let mut out = datum.to_vec();
    match rng.below(5) {
        0 => out.truncate(rng.below(datum.len().max(1))),
        1 => {
            for _ in 0..1 + rng.below(3) {
                if !out.is_empty() {
                    let at = rng.below(out.len());
                    out[at] ^= 1 + rng.below(255) as u8;
                }
            }
        }
        2 => {
            let at = rng.below(out.len() + 1);
            out.insert(at, rng.next() as u8);
        }
        3 => {
            if !out.is_empty() {
                let at = rng.below(out.len());
                out[at] = *rng.pick(&[0x80, 0xff, 0x7f, 0x01]);
            }
        }
        _ => {
            let extra = rng.below(4) + 1;
            out.extend(rng.bytes(extra));
        }
    }
    out
}

#[test]
fn mutated_datums_are_errors_or_values_never_panics() {
    let (mut decoded, mut refused) = (0u64, 0u64);
    let mut panics = Vec::new();
    for seed in seeds() {
        let mut rng = Rng::new(seed);
        let pair = gen_pair(&mut rng);
        let writer_json = to_json(&pair.writer, &pair.writer_root);
        let reader_json = to_json(&pair.reader, &pair.reader_root);
        let (Ok(writer_schema), Ok(resolving)) = (
            Schema::parse_str(&to_write_with(&writer_json)),
            GenericCodec::with_reader_schema(&reader_json),
        ) else {
            continue;
        };
        let plain = GenericCodec::new();
        let (Ok(plain_plan), Ok(resolving_plan)) =
            (plain.admit(&writer_json), resolving.admit(&writer_json))
        else {
            continue;
        };
        for _ in 0..3 {
            let value = gen_value(&mut rng, &pair.writer, &pair.writer_root, 0, false);
            let Ok(datum) = apache_avro::to_avro_datum(&writer_schema, value) else {
                continue;
            };
            for _ in 0..6 {
                let bytes = mutate(&mut rng, &datum);
                for (codec, plan) in [(&plain, &plain_plan), (&resolving, &resolving_plan)] {
                    match catch_unwind(AssertUnwindSafe(|| codec.decode(plan, &bytes))) {
                        Ok(Ok(_)) => decoded += 1,
                        Ok(Err(_)) => refused += 1,
                        Err(_) => panics.push(format!("seed {seed}: {bytes:?}")),
                    }
                }
            }
        }
    }
    eprintln!(
        "mutated datums: {decoded} decoded, {refused} errors, {} panics",
        panics.len()
    );
    assert!(panics.is_empty(), "{}", panics.join("\n"));
}
