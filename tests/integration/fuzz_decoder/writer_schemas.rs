//! Writer schemas made at random for `fuzz_decoder`: a model of the types, the JSON a registry
//! would hold, and valid records encoded by hand from the model (independently of both the
//! daemon's decoder and apache-avro), each with the `User` it must become.
//!
//! The schemas are evolutions of `User` as a producer might register them: extra fields before
//! and after `name` of every kind (primitives, logical types, `fixed` including size 0, enums,
//! arrays, maps, unions, nested records, references to earlier named types), `name` as
//! `string`, `bytes`, `fixed` or a union, a top-level `["null", User]` union, and recursive
//! ones (a `User` holding `User`s through a union, an array or a map). Some cannot become a
//! `User` at all (no `name`, or a `name` of another type). Records for them: `records.rs`.

use serde_json::{json, Value as Json};

use super::Rng;

/// A writer type.
#[derive(Debug, Clone)]
pub enum Ty {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    Str,
    Date,
    TimestampMillis,
    Decimal,
    Uuid,
    /// A named type: its index in [`Model::named`]; written in full where it first appears.
    Named(usize),
    Array(Box<Ty>),
    Map(Box<Ty>),
    Union(Vec<Ty>),
    /// The top-level `User` record itself: only as a union branch (next to `null`), an array
    /// item or a map value, so that every value is finite.
    User,
}

/// A named type's definition.
#[derive(Debug, Clone)]
pub enum Named {
    Fixed { size: usize, duration: bool },
    Enum { symbols: usize },
    Record { fields: Vec<(String, Ty)> },
}

/// A generated writer schema.
#[derive(Debug)]
pub struct Model {
    pub named: Vec<Named>,
    /// The fields of the top-level record, `name` among them unless `admissible` is false.
    pub fields: Vec<(String, Ty)>,
    /// The top-level record's name (`User`, or another: apache-avro never checked it).
    pub record_name: &'static str,
    /// The top level is `["null", <record>]`.
    pub top_union: bool,
    /// Some value may hold a `User` again.
    pub recursive: bool,
    /// Whether records written with it can become `User`s at all.
    pub admissible: bool,
}

pub fn generate(rng: &mut Rng) -> Model {
    let mut g = Generator {
        rng,
        named: Vec::new(),
        recursive: false,
    };
    g.recursive = g.rng.below(3) == 0;
    let mut fields = Vec::new();
    for i in 0..g.rng.below(4) {
        let ty = g.ty(0, false);
        fields.push((format!("before{i}"), ty));
    }
    let (name_ty, admissible) = g.name_ty();
    if let Some(ty) = name_ty {
        fields.push(("name".to_string(), ty));
    }
    if g.recursive {
        // Where a `User` holds `User`s, as the attack's `next`.
        let next = [
            Ty::Union(vec![Ty::Null, Ty::User]),
            Ty::Array(Box::new(Ty::User)),
            Ty::Map(Box::new(Ty::User)),
        ][g.rng.below(3) as usize]
            .clone();
        let at = g.rng.below(fields.len() as u64 + 1) as usize;
        fields.insert(at, ("next".to_string(), next));
    }
    for i in 0..g.rng.below(4) {
        let ty = g.ty(0, false);
        fields.push((format!("after{i}"), ty));
    }
    let record_name = ["User", "User", "User", "Person"][g.rng.below(4) as usize];
    let top_union = g.rng.below(6) == 0;
    Model {
        recursive: g.recursive && mentions_user(&fields, &g.named),
        named: g.named,
        fields,
        record_name,
        top_union,
        admissible,
    }
}

fn mentions_user(fields: &[(String, Ty)], named: &[Named]) -> bool {
    fn ty_mentions(ty: &Ty, named: &[Named], seen: &mut Vec<usize>) -> bool {
        match ty {
            Ty::User => true,
            Ty::Array(t) | Ty::Map(t) => ty_mentions(t, named, seen),
            Ty::Union(ts) => ts.iter().any(|t| ty_mentions(t, named, seen)),
            Ty::Named(i) if !seen.contains(i) => {
                seen.push(*i);
                match &named[*i] {
                    Named::Record { fields } => {
                        fields.iter().any(|(_, t)| ty_mentions(t, named, seen))
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
    let mut seen = Vec::new();
    fields.iter().any(|(_, t)| ty_mentions(t, named, &mut seen))
}

struct Generator<'r> {
    rng: &'r mut Rng,
    named: Vec<Named>,
    recursive: bool,
}

impl Generator<'_> {
    /// A type `depth` levels below the top record; `may_be_user` where a `User` may stand.
    fn ty(&mut self, depth: usize, may_be_user: bool) -> Ty {
        let leaf = depth >= 3;
        let choice = self.rng.below(if leaf { 13 } else { 21 });
        match choice {
            0 => Ty::Null,
            1 => Ty::Boolean,
            2 => Ty::Int,
            3 => Ty::Long,
            4 => Ty::Float,
            5 => Ty::Double,
            6 => Ty::Bytes,
            7 => Ty::Str,
            8 => [Ty::Date, Ty::TimestampMillis, Ty::Decimal, Ty::Uuid][self.rng.below(4) as usize]
                .clone(),
            9 => {
                let size = [0, 0, 1, 4, 12, 16][self.rng.below(6) as usize];
                let duration = size == 12 && self.rng.below(2) == 0;
                self.define(Named::Fixed { size, duration })
            }
            10 => {
                let symbols = 1 + self.rng.below(4) as usize;
                self.define(Named::Enum { symbols })
            }
            11 if !self.named.is_empty() => {
                // A reference to a named type defined earlier (a record only once complete).
                // Not to a `duration`: apache-avro's parser drops its name, so no reference to
                // it resolves (and every record of such a schema fails, in apache-avro too).
                let i = self.rng.below(self.named.len() as u64) as usize;
                match self.named[i] {
                    Named::Fixed { duration: true, .. } => Ty::Long,
                    _ => Ty::Named(i),
                }
            }
            12 if may_be_user && self.recursive => Ty::User,
            13 | 14 => Ty::Array(Box::new(self.ty(depth + 1, true))),
            15 | 16 => Ty::Map(Box::new(self.ty(depth + 1, true))),
            17 | 18 => self.union(depth),
            19 | 20 => {
                let count = self.rng.below(4);
                let mut fields = Vec::new();
                for i in 0..count {
                    // Nested records may have a `name` too; only the top one's counts.
                    let field = if i == 0 && self.rng.below(4) == 0 {
                        "name".to_string()
                    } else {
                        format!("g{i}")
                    };
                    fields.push((field, self.ty(depth + 1, false)));
                }
                self.define(Named::Record { fields })
            }
            _ => Ty::Long,
        }
    }

    fn define(&mut self, named: Named) -> Ty {
        self.named.push(named);
        Ty::Named(self.named.len() - 1)
    }

    /// A union of distinct branches (Avro allows one of each unnamed kind), never directly
    /// holding a union, with `null` wherever it holds a `User`.
    fn union(&mut self, depth: usize) -> Ty {
        let mut branches: Vec<Ty> = Vec::new();
        let mut kinds: Vec<String> = Vec::new();
        for _ in 0..1 + self.rng.below(4) {
            let ty = match self.ty(depth + 1, true) {
                Ty::Union(_) => Ty::Str,
                ty => ty,
            };
            let kind = match &ty {
                // apache-avro parses every `duration` into one type, whatever its name.
                Ty::Named(i) if matches!(self.named[*i], Named::Fixed { duration: true, .. }) => {
                    "duration".to_string()
                }
                Ty::Named(i) => format!("named{i}"),
                other => format!("{:?}", std::mem::discriminant(&unlogical(other))),
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
                branches.push(ty);
            }
        }
        if branches.iter().any(|b| matches!(b, Ty::User))
            && !branches.iter().any(|b| matches!(b, Ty::Null))
        {
            branches.insert(0, Ty::Null);
        }
        Ty::Union(branches)
    }

    /// The type of `name`, or none; and whether the record can become a `User`.
    fn name_ty(&mut self) -> (Option<Ty>, bool) {
        match self.rng.below(20) {
            0..=6 => (Some(Ty::Str), true),
            7 | 8 => (Some(Ty::Bytes), true),
            9 | 10 => {
                let size = self.rng.below(10) as usize;
                (
                    Some(self.define(Named::Fixed {
                        size,
                        duration: false,
                    })),
                    true,
                )
            }
            11 | 12 => (Some(Ty::Union(vec![Ty::Null, Ty::Str])), true),
            13 => (Some(Ty::Union(vec![Ty::Int, Ty::Bytes, Ty::Str])), true),
            14 => (Some(Ty::Union(vec![Ty::Str, Ty::Null])), true),
            15 => (None, false),
            16 => (Some(Ty::Int), false),
            17 => (Some(Ty::Uuid), false),
            18 => (Some(Ty::Union(vec![Ty::Null, Ty::Long])), false),
            _ => (Some(Ty::Array(Box::new(Ty::Str))), false),
        }
    }
}

/// Logical types share their underlying type's slot in a union.
fn unlogical(ty: &Ty) -> Ty {
    match ty {
        Ty::Date => Ty::Int,
        Ty::TimestampMillis => Ty::Long,
        Ty::Decimal => Ty::Bytes,
        Ty::Uuid => Ty::Str,
        other => other.clone(),
    }
}

impl Model {
    /// The schema as JSON text.
    pub fn json(&self) -> String {
        let mut written = vec![false; self.named.len()];
        let fields: Vec<Json> = self
            .fields
            .iter()
            .map(|(name, ty)| self.field_json(name, ty, &mut written))
            .collect();
        let record = json!({
            "type": "record",
            "name": self.record_name,
            "namespace": "example.avro",
            "fields": fields,
        });
        if self.top_union {
            json!(["null", record]).to_string()
        } else {
            record.to_string()
        }
    }

    fn field_json(&self, name: &str, ty: &Ty, written: &mut [bool]) -> Json {
        let mut field = json!({"name": name, "type": self.ty_json(ty, written)});
        if matches!(ty, Ty::Union(branches) if matches!(branches.first(), Some(Ty::Null))) {
            field["default"] = Json::Null;
        }
        field
    }

    fn ty_json(&self, ty: &Ty, written: &mut [bool]) -> Json {
        match ty {
            Ty::Null => json!("null"),
            Ty::Boolean => json!("boolean"),
            Ty::Int => json!("int"),
            Ty::Long => json!("long"),
            Ty::Float => json!("float"),
            Ty::Double => json!("double"),
            Ty::Bytes => json!("bytes"),
            Ty::Str => json!("string"),
            Ty::Date => json!({"type": "int", "logicalType": "date"}),
            Ty::TimestampMillis => json!({"type": "long", "logicalType": "timestamp-millis"}),
            Ty::Decimal => {
                json!({"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2})
            }
            Ty::Uuid => json!({"type": "string", "logicalType": "uuid"}),
            Ty::Array(items) => json!({"type": "array", "items": self.ty_json(items, written)}),
            Ty::Map(values) => json!({"type": "map", "values": self.ty_json(values, written)}),
            Ty::Union(branches) => {
                Json::Array(branches.iter().map(|b| self.ty_json(b, written)).collect())
            }
            Ty::User => json!(self.record_name),
            Ty::Named(i) => {
                let name = format!("T{i}");
                if std::mem::replace(&mut written[*i], true) {
                    return json!(name);
                }
                match &self.named[*i] {
                    Named::Fixed {
                        size,
                        duration: false,
                    } => json!({"type": "fixed", "name": name, "size": size}),
                    Named::Fixed {
                        size,
                        duration: true,
                    } => {
                        json!({"type": "fixed", "name": name, "size": size, "logicalType": "duration"})
                    }
                    Named::Enum { symbols } => {
                        let symbols: Vec<String> = (0..*symbols).map(|s| format!("S{s}")).collect();
                        json!({"type": "enum", "name": name, "symbols": symbols})
                    }
                    Named::Record { fields } => {
                        let fields: Vec<Json> = fields
                            .iter()
                            .map(|(n, t)| self.field_json(n, t, written))
                            .collect();
                        json!({"type": "record", "name": name, "fields": fields})
                    }
                }
            }
        }
    }
}
