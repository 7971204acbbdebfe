//! Parsing schema text that came from outside (the registry's answers) without letting
//! apache-avro panic on it. apache-avro 0.21 validates some names with `unwrap()`: a named
//! type whose `name` or `aliases` break Avro's name rules (`{"type":"record","name":"1x",…}`)
//! panics `Schema::parse_str`. And its canonical form walks every reserved key it finds in
//! the schema's JSON as a schema: an attribute such as `"items": 1` on a field (kept as a
//! custom attribute), or a `precision` that is not an integer, panics it. Registries store
//! such schemas (Apicurio serves a field's `"items": 1` back as written). Either would panic
//! a consumer thread on every record naming the schema, and again after each restart.
//!
//! [`parse_schema`] therefore walks the schema's structure first — named types, fields,
//! `items`, `values`, union branches; never defaults or other attributes, which may hold any
//! JSON — refuses the names apache-avro would unwrap, refuses a `size`, `precision` or
//! `scale` that is not an integer, and drops the reserved keys that have no meaning where
//! they stand (`"items"` on a field or a record, `"order"` on a record, …), as Java's Avro
//! ignores them. It also drops a `uuid` logical type on a fixed, which apache-avro would decode
//! as a length-prefixed string. What it lets through, apache-avro parses or refuses by itself.
//! Writer schemas to decode with are parsed without their fields' defaults
//! ([`parse_writer_schema`]), which apache-avro checks by rules of its own.

use apache_avro::Schema;
use serde_json::{Map, Value};

use super::error::{AvroError, AvroErrorKind};

/// Avro's primitive type names, which a `type` string may name besides a defined type.
const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The keys apache-avro's canonical form treats as part of the schema (its `RESERVED_FIELDS`
/// less those it strips: `default`, `doc`, `aliases`, `logicalType`), which it walks
/// wherever they stand.
const WALKED_KEYS: [&str; 10] = [
    "name",
    "type",
    "fields",
    "symbols",
    "items",
    "values",
    "size",
    "order",
    "precision",
    "scale",
];

/// Longest name or namespace of a named type, in bytes.
pub(crate) const MAX_NAME_LEN: usize = 1024;

/// Parses `text` as an Avro schema; every way it can be wrong is an `Err`, never a panic.
pub(crate) fn parse_schema(text: &str) -> Result<Schema, AvroError> {
    parse(text, false)
}

/// Parses a writer schema to decode with: as [`parse_schema`], without its fields' defaults,
/// which decoding never reads (the reader's fill in what the writer lacks). apache-avro 0.21
/// checks each default as it parses, by resolving its JSON as a value, and so refuses valid
/// ones: every decimal or duration default (no JSON resolves to either), a union's value in a
/// record's default whose JSON is of another branch's kind, a default that holds the record
/// being defined. Every record written with such a schema (Debezium and Kafka Connect
/// register decimal defaults) was an error.
pub(crate) fn parse_writer_schema(text: &str) -> Result<Schema, AvroError> {
    parse(text, true)
}

fn parse(text: &str, without_defaults: bool) -> Result<Schema, AvroError> {
    // serde_json stops at 128 levels of nesting, which bounds the walks below too.
    let mut json: Value =
        serde_json::from_str(text).map_err(|e| schema_error(format!("not JSON: {e}")))?;
    sanitize(&mut json)?;
    inline_logical_fixed_references(&mut json)?;
    if without_defaults {
        drop_field_defaults(&mut json);
        check_named_copies(&json)?;
        return Schema::parse(&json).map_err(|e| schema_error(e.to_string()));
    }
    // apache-avro refuses valid defaults as it parses (see `parse_writer_schema`): it parses
    // the schema without them, and they are put back as written. Whoever reads them checks
    // them by the specification's rules (`reader_schema::check_defaults`).
    let mut bare = json.clone();
    drop_field_defaults(&mut bare);
    check_named_copies(&bare)?;
    let mut schema = Schema::parse(&bare).map_err(|e| schema_error(e.to_string()))?;
    restore_field_defaults(&json, &mut schema)?;
    Ok(schema)
}

/// The most apache-avro may copy of a schema's named types as it parses, in bytes of their
/// JSON: it keeps each named type, whole, once per name and once more per alias (its alias
/// list too), so nested records are copied once per level they are nested in, and aliases
/// multiply it. One record of 84 KB with 10,000 aliases took 4.65 GB to parse and aborted the
/// daemon, at every restart; 40 records of 500 fields, each nested in the one before (578 KB),
/// took 400 MB. Counted as each named type's JSON length times one plus its aliases; a real
/// schema of 1 MiB, or one nested a few levels deep, stays well within it.
const MAX_NAMED_COPIES_BYTES: usize = 4 << 20;

/// Refuses a schema whose named types would cost more than [`MAX_NAMED_COPIES_BYTES`] to
/// parse; `schema` is what apache-avro is given (without field defaults).
fn check_named_copies(schema: &Value) -> Result<(), AvroError> {
    let mut copies = 0usize;
    weigh(schema, 0, &mut copies).map(|_| ())
}

/// The bytes apache-avro keeps of `value` (of a schema whose enclosing namespace is `ns`
/// bytes long), about: its JSON length plus the namespace every name without one of its own
/// gets — an alias or a reference to a named type is kept as namespace and name, so a short
/// alias under a long namespace costs the namespace. (`"type":"record"` is counted as a
/// reference too: an over-estimate of a few bytes per type, on the side of refusing.) Adds
/// each named type's copies, its weight times one plus its aliases, to `copies`, and fails
/// past [`MAX_NAMED_COPIES_BYTES`]. Recursion is bounded by serde_json's 128 levels.
fn weigh(value: &Value, ns: usize, copies: &mut usize) -> Result<usize, AvroError> {
    // A name that takes the enclosing namespace: no dot, and not a primitive type.
    let unqualified = |name: &Value| {
        name.as_str()
            .is_some_and(|name| !name.contains('.') && !PRIMITIVES.contains(&name))
    };
    match value {
        Value::Array(items) => items.iter().try_fold(items.len() + 1, |size, item| {
            Ok(size + weigh(item, ns, copies)?)
        }),
        Value::Object(object) => {
            let named = object
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|kind| ["record", "error", "enum", "fixed"].contains(&kind));
            let own_ns = match (named, object.get("name").and_then(Value::as_str)) {
                (true, Some(name)) if name.contains('.') => name.rfind('.').unwrap_or(0),
                (true, _) => object
                    .get("namespace")
                    .and_then(Value::as_str)
                    .map_or(ns, str::len),
                (false, _) => ns,
            };
            let mut size = object.len() + 1;
            let mut aliases = 0usize;
            for (key, inner) in object {
                size += key.len() + 3 + weigh(inner, own_ns, copies)?;
                // Names kept with the namespace: a type named where a schema stands (alone,
                // or as a union's branch), and a named type's aliases.
                let names: &[Value] = match (key.as_str(), inner) {
                    ("type" | "items" | "values", Value::Array(branches)) => branches,
                    ("type" | "items" | "values", name) => std::slice::from_ref(name),
                    ("aliases", Value::Array(list)) if named => {
                        aliases = list.len();
                        list
                    }
                    _ => &[],
                };
                size += names.iter().filter(|name| unqualified(name)).count() * own_ns;
            }
            if named {
                *copies = copies.saturating_add(size.saturating_mul(aliases.saturating_add(1)));
                if *copies > MAX_NAMED_COPIES_BYTES {
                    return Err(schema_error(format!(
                        "its named types (nested, or with aliases) would make the parser copy more than {} MiB of it",
                        MAX_NAMED_COPIES_BYTES >> 20
                    )));
                }
            }
            Ok(size)
        }
        Value::String(text) => Ok(text.len() + 2),
        other => Ok(other.to_string().len()),
    }
}

/// Puts each record field's `default` in `json` back on the field `schema` parsed it into,
/// walking both side by side (the structure apache-avro parsed is the JSON's, in its order).
fn restore_field_defaults(json: &Value, schema: &mut Schema) -> Result<(), AvroError> {
    match (json, schema) {
        (Value::Array(branches), Schema::Union(union)) => {
            let mut variants = union.variants().to_vec();
            for (branch, variant) in branches.iter().zip(variants.iter_mut()) {
                restore_field_defaults(branch, variant)?;
            }
            *union = apache_avro::schema::UnionSchema::new(variants)
                .map_err(|e| schema_error(e.to_string()))?;
        }
        (Value::Object(object), schema) => match (object.get("type"), schema) {
            (Some(Value::String(kind)), Schema::Record(record))
                if kind == "record" || kind == "error" =>
            {
                let fields = object.get("fields").and_then(Value::as_array);
                for (json, field) in fields.into_iter().flatten().zip(&mut record.fields) {
                    if json.get("name").and_then(Value::as_str) != Some(field.name.as_str()) {
                        return Err(schema_error(format!(
                            "the fields of {} do not parse in their order",
                            record.name.fullname(None)
                        )));
                    }
                    field.default = json.get("default").cloned();
                    if let Some(ty) = json.get("type") {
                        restore_field_defaults(ty, &mut field.schema)?;
                    }
                }
            }
            (Some(Value::String(kind)), Schema::Array(array)) if kind == "array" => {
                if let Some(items) = object.get("items") {
                    restore_field_defaults(items, &mut array.items)?;
                }
            }
            (Some(Value::String(kind)), Schema::Map(map)) if kind == "map" => {
                if let Some(values) = object.get("values") {
                    restore_field_defaults(values, &mut map.types)?;
                }
            }
            // `{"type": <schema>}`: the inner schema is the one parsed.
            (Some(inner @ (Value::Object(_) | Value::Array(_))), schema) => {
                restore_field_defaults(inner, schema)?;
            }
            _ => {}
        },
        _ => {}
    }
    Ok(())
}

/// The most bytes of JSON [`inline_logical_fixed_references`] may add to a schema: a
/// definition with a long name referenced by a short one many times would otherwise grow
/// the schema a thousandfold.
const MAX_INLINED_BYTES: usize = 1 << 20;

/// Replaces each reference by name to a `fixed` with a `decimal` or `duration` logical type
/// by a copy of its definition. apache-avro 0.21 parses these as logical types that keep no
/// name, so a schema that defines one and names it again (a `Money` fixed used by two
/// fields, as Java's Avro writes schemas) failed to resolve: every record written with it
/// was an error. The copies define the same type (apache-avro takes a name defined twice
/// within one schema).
fn inline_logical_fixed_references(schema: &mut Value) -> Result<(), AvroError> {
    let mut definitions = std::collections::HashMap::new();
    collect_logical_fixed(schema, "", &mut definitions)?;
    if definitions.is_empty() {
        return Ok(());
    }
    let definitions: std::collections::HashMap<String, (Value, usize)> = definitions
        .into_iter()
        .map(|(name, definition)| {
            let len = definition.to_string().len();
            (name, (definition, len))
        })
        .collect();
    let mut budget = MAX_INLINED_BYTES;
    replace_logical_fixed_references(schema, "", &definitions, &mut budget)
}

/// The namespace a named type's `object` defines its name in (and its fields' types
/// inherit), inside `enclosing`.
fn namespace_of(object: &Map<String, Value>, enclosing: &str) -> String {
    match object.get("name").and_then(Value::as_str) {
        Some(name) if name.contains('.') => {
            let namespace = name.rsplit_once('.').map_or("", |(ns, _)| ns);
            namespace.trim_start_matches('.').to_string()
        }
        _ => match object.get("namespace").and_then(Value::as_str) {
            Some(namespace) => namespace.to_string(),
            None => enclosing.to_string(),
        },
    }
}

/// The full name `name` stands for inside `enclosing` (a leading dot: the null namespace).
fn full_name(name: &str, enclosing: &str) -> String {
    if let Some(absolute) = name.strip_prefix('.') {
        absolute.to_string()
    } else if name.contains('.') || enclosing.is_empty() {
        name.to_string()
    } else {
        format!("{enclosing}.{name}")
    }
}

/// Each `fixed` with a `decimal` or `duration` logical type defined in `schema`, by full
/// name, as a definition that can stand anywhere (its name made full).
fn collect_logical_fixed(
    schema: &Value,
    enclosing: &str,
    found: &mut std::collections::HashMap<String, Value>,
) -> Result<(), AvroError> {
    match schema {
        Value::Array(branches) => {
            for branch in branches {
                collect_logical_fixed(branch, enclosing, found)?;
            }
        }
        Value::Object(object) => match object.get("type") {
            Some(Value::String(kind)) => match kind.as_str() {
                "record" | "error" => {
                    let namespace = namespace_of(object, enclosing);
                    let fields = object.get("fields").and_then(Value::as_array);
                    for ty in fields.into_iter().flatten().filter_map(|f| f.get("type")) {
                        collect_logical_fixed(ty, &namespace, found)?;
                    }
                }
                "array" => {
                    if let Some(items) = object.get("items") {
                        collect_logical_fixed(items, enclosing, found)?;
                    }
                }
                "map" => {
                    if let Some(values) = object.get("values") {
                        collect_logical_fixed(values, enclosing, found)?;
                    }
                }
                "fixed" => {
                    let logical = object.get("logicalType").and_then(Value::as_str);
                    let name = object.get("name").and_then(Value::as_str);
                    if let (Some("decimal" | "duration"), Some(name)) = (logical, name) {
                        let namespace = namespace_of(object, enclosing);
                        let local = name.rsplit('.').next().unwrap_or(name);
                        let full = full_name(local, &namespace);
                        // Only what defines the type: a long `doc` is not copied per use.
                        let mut definition = object.clone();
                        definition.retain(|key, _| {
                            ["type", "size", "logicalType", "precision", "scale"]
                                .contains(&key.as_str())
                        });
                        // A name in the null namespace is written `.Name`, so that a
                        // namespace around a reference is not taken as its own.
                        let name = match full.contains('.') {
                            true => full.clone(),
                            false => format!(".{full}"),
                        };
                        definition.insert("name".into(), Value::String(name));
                        let definition = Value::Object(definition);
                        if found.get(&full).is_some_and(|known| *known != definition) {
                            return Err(schema_error(format!("{full} is defined twice")));
                        }
                        found.insert(full, definition);
                    }
                }
                _ => {}
            },
            Some(inner) => collect_logical_fixed(inner, enclosing, found)?,
            None => {}
        },
        Value::String(_) | Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// Replaces the references in `schema` to the `definitions` (full name to a definition and
/// its length) by copies of them, charging each copy's length to `budget`.
fn replace_logical_fixed_references(
    schema: &mut Value,
    enclosing: &str,
    definitions: &std::collections::HashMap<String, (Value, usize)>,
    budget: &mut usize,
) -> Result<(), AvroError> {
    match schema {
        // A primitive's name is the primitive, whatever is defined (Java and apache-avro
        // read it so); a bare name not found in the enclosing namespace is looked up in the
        // null namespace, as Java does.
        Value::String(name) if !PRIMITIVES.contains(&name.as_str()) => {
            let found = definitions.get(&full_name(name, enclosing)).or_else(|| {
                (!name.contains('.'))
                    .then(|| definitions.get(name.as_str()))
                    .flatten()
            });
            if let Some((definition, len)) = found {
                *budget = budget.checked_sub(*len).ok_or_else(|| {
                    schema_error(format!(
                        "its references to decimal and duration fixed types would grow it by \
                         more than {} KiB",
                        MAX_INLINED_BYTES >> 10
                    ))
                })?;
                *schema = definition.clone();
            }
        }
        Value::Array(branches) => {
            for branch in branches {
                replace_logical_fixed_references(branch, enclosing, definitions, budget)?;
            }
        }
        Value::Object(object) => {
            let kind = object
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match kind.as_deref() {
                Some("record" | "error") => {
                    let namespace = namespace_of(object, enclosing);
                    if let Some(Value::Array(fields)) = object.get_mut("fields") {
                        for ty in fields.iter_mut().filter_map(|f| f.get_mut("type")) {
                            replace_logical_fixed_references(ty, &namespace, definitions, budget)?;
                        }
                    }
                }
                Some("array") => {
                    if let Some(items) = object.get_mut("items") {
                        replace_logical_fixed_references(items, enclosing, definitions, budget)?;
                    }
                }
                Some("map") => {
                    if let Some(values) = object.get_mut("values") {
                        replace_logical_fixed_references(values, enclosing, definitions, budget)?;
                    }
                }
                Some("enum" | "fixed") => {}
                // A primitive, a reference by name (`{"type": "Money"}`), or `{"type": <schema>}`.
                _ => {
                    if let Some(ty) = object.get_mut("type") {
                        replace_logical_fixed_references(ty, enclosing, definitions, budget)?;
                    }
                }
            }
        }
        Value::String(_) | Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// Removes every record field's `default`, walking the schema's structure only (never into
/// a default or another attribute).
fn drop_field_defaults(schema: &mut Value) {
    match schema {
        Value::Array(branches) => branches.iter_mut().for_each(drop_field_defaults),
        Value::Object(object) => {
            if let Some(Value::Array(fields)) = object.get_mut("fields") {
                for field in fields.iter_mut().filter_map(Value::as_object_mut) {
                    field.remove("default");
                    if let Some(ty) = field.get_mut("type") {
                        drop_field_defaults(ty);
                    }
                }
            }
            for key in ["type", "items", "values"] {
                if let Some(inner) = object.get_mut(key) {
                    drop_field_defaults(inner);
                }
            }
        }
        _ => {}
    }
}

/// Checks and tidies one schema: a type name, a union, or a schema object.
fn sanitize(schema: &mut Value) -> Result<(), AvroError> {
    match schema {
        Value::String(name) => check_type_name(name),
        Value::Array(branches) => branches.iter_mut().try_for_each(sanitize),
        Value::Object(object) => sanitize_object(object),
        // Not a schema: apache-avro refuses it with an error of its own.
        _ => Ok(()),
    }
}

fn sanitize_object(object: &mut Map<String, Value>) -> Result<(), AvroError> {
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        // `{"type": <schema>}`: only the inner schema counts.
        Some(inner) => {
            if inner.get("type").and_then(Value::as_str) == Some("fixed") {
                drop_uuid_on_fixed(object);
            }
            keep_only(object, &["type"]);
            return object.get_mut("type").map_or(Ok(()), sanitize);
        }
        None => return Ok(()),
    };
    match kind.as_str() {
        "record" | "error" => {
            check_named(object)?;
            keep_only(object, &["type", "name", "fields"]);
            if let Some(Value::Array(fields)) = object.get_mut("fields") {
                for field in fields.iter_mut() {
                    // apache-avro skips such an entry where Java refuses it; skipped, it would
                    // put the next field's default on the field after it (`restore_field_defaults`).
                    let Value::Object(field) = field else {
                        return Err(schema_error(format!(
                            "a record's field {} is not an object",
                            shown(field)
                        )));
                    };
                    sanitize_field(field)?;
                }
            }
            Ok(())
        }
        "enum" => {
            check_named(object)?;
            keep_only(object, &["type", "name", "symbols"]);
            Ok(())
        }
        "fixed" => {
            check_named(object)?;
            check_integers(object)?;
            keep_only(object, &["type", "name", "size", "precision", "scale"]);
            drop_uuid_on_fixed(object);
            drop_duration_not_of_12_bytes(object);
            Ok(())
        }
        "array" => {
            keep_only(object, &["type", "items"]);
            object.get_mut("items").map_or(Ok(()), sanitize)
        }
        "map" => {
            keep_only(object, &["type", "values"]);
            object.get_mut("values").map_or(Ok(()), sanitize)
        }
        primitive if PRIMITIVES.contains(&primitive) => {
            check_integers(object)?;
            keep_only(object, &["type", "precision", "scale"]);
            Ok(())
        }
        // `{"type": "some.Named"}`, a reference to a named type.
        named => {
            check_type_name(named)?;
            keep_only(object, &["type"]);
            Ok(())
        }
    }
}

fn sanitize_field(field: &mut Map<String, Value>) -> Result<(), AvroError> {
    if let Some(name) = field.get("name") {
        if !name.as_str().is_some_and(is_identifier) {
            return Err(schema_error(format!(
                "field name {} is not an Avro name",
                shown(name)
            )));
        }
    }
    // `order` is the field's own (apache-avro reads it and leaves it out of the canonical form).
    keep_only(field, &["name", "type", "order"]);
    field.get_mut("type").map_or(Ok(()), sanitize)
}

/// Drops a `uuid` logical type on a fixed. apache-avro 0.21 parses a `uuid` on a 16-byte
/// fixed as its `uuid` on a string, and then decodes a length and that many bytes where the
/// datum holds 16 raw bytes: every record failed (or was misread). Without it the fixed is
/// read as the fixed it is, its value its 16 bytes (a reader may ignore a logical type).
fn drop_uuid_on_fixed(object: &mut Map<String, Value>) {
    if object.get("logicalType").and_then(Value::as_str) == Some("uuid") {
        object.remove("logicalType");
    }
}

/// Drops a `duration` logical type on a fixed of other than 12 bytes, as Java's Avro ignores
/// it there: apache-avro read 12 bytes whatever the fixed's size.
fn drop_duration_not_of_12_bytes(object: &mut Map<String, Value>) {
    let size = object.get("size").and_then(as_integer);
    if object.get("logicalType").and_then(Value::as_str) == Some("duration") && size != Some(12) {
        object.remove("logicalType");
    }
}

/// Drops the walked keys other than `wanted`: they mean nothing there (Java's Avro ignores
/// them too), and apache-avro's canonical form would walk them as schemas.
fn keep_only(object: &mut Map<String, Value>, wanted: &[&str]) {
    object.retain(|key, _| !WALKED_KEYS.contains(&key.as_str()) || wanted.contains(&key.as_str()));
}

/// A named type's name, namespace and aliases, by the rules apache-avro checks with `unwrap`.
fn check_named(object: &Map<String, Value>) -> Result<(), AvroError> {
    // apache-avro copies and hashes a named type's full name per value it decodes by
    // reference; no real name comes near this.
    for key in ["name", "namespace"] {
        if let Some(Value::String(text)) = object.get(key) {
            if text.len() > MAX_NAME_LEN {
                return Err(schema_error(format!(
                    "a {key} of {} bytes is longer than {MAX_NAME_LEN}",
                    text.len()
                )));
            }
        }
    }
    if let Some(name) = object.get("name") {
        if !name.as_str().is_some_and(is_full_name) {
            return Err(schema_error(format!(
                "name {} is not an Avro name",
                shown(name)
            )));
        }
    }
    if let Some(namespace) = object.get("namespace") {
        if !namespace.as_str().is_some_and(is_namespace) {
            return Err(schema_error(format!(
                "namespace {} is not an Avro namespace",
                shown(namespace)
            )));
        }
    }
    if let Some(aliases) = object.get("aliases") {
        let valid = aliases
            .as_array()
            .is_some_and(|all| all.iter().all(|a| a.as_str().is_some_and(is_full_name)));
        if !valid {
            return Err(schema_error(format!(
                "aliases {} are not Avro names",
                shown(aliases)
            )));
        }
    }
    Ok(())
}

/// `size`, `precision` and `scale`, which the canonical form parses as integers with `expect`.
fn check_integers(object: &Map<String, Value>) -> Result<(), AvroError> {
    for key in ["size", "precision", "scale"] {
        if let Some(value) = object.get(key) {
            if as_integer(value).is_none() {
                return Err(schema_error(format!(
                    "`{key}` must be an integer, not {}",
                    shown(value)
                )));
            }
        }
    }
    Ok(())
}

/// An integer attribute, as apache-avro's canonical form reads it: a number or a string of one.
fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn check_type_name(name: &str) -> Result<(), AvroError> {
    if PRIMITIVES.contains(&name) || is_full_name(name) {
        Ok(())
    } else {
        Err(schema_error(format!(
            "type {} is not an Avro name",
            shown(&Value::String(name.to_string()))
        )))
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Empty, or identifiers joined by dots (apache-avro's namespace rule).
fn is_namespace(s: &str) -> bool {
    s.is_empty() || s.split('.').all(is_identifier)
}

/// A name, optionally after a namespace and a dot (apache-avro's rule, which also takes a
/// leading dot: `.Name` is `Name` in the null namespace).
fn is_full_name(s: &str) -> bool {
    match s.rsplit_once('.') {
        Some((namespace, name)) => is_namespace(namespace) && is_identifier(name),
        None => is_identifier(s),
    }
}

/// A value for an error line, cut short: it came from outside.
fn shown(value: &Value) -> String {
    const MAX: usize = 80;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn schema_error(message: String) -> AvroError {
    AvroError::new(AvroErrorKind::Schema, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of these panicked apache-avro 0.21's `Schema::parse_str` or its canonical form.
    const PANICKED_APACHE_AVRO: [&str; 6] = [
        r#"{"type":"record","name":"1bad","fields":[]}"#,
        r#"{"type":"record","name":"Ok","aliases":["1bad"],"fields":[]}"#,
        r#"{"type":{"type":"record","name":"!x","fields":[]}}"#,
        r#"{"type":"enum","name":"E","symbols":["a"],"aliases":["!"]}"#,
        r#"{"type":"fixed","name":"F","size":4,"aliases":["9"]}"#,
        r#"{"type":"fixed","name":"F","size":4,"logicalType":"decimal","precision":"x"}"#,
    ];

    #[test]
    fn names_and_numbers_apache_avro_would_unwrap_are_ordinary_errors() {
        for text in PANICKED_APACHE_AVRO {
            let outcome = std::panic::catch_unwind(|| parse_schema(text).map(|_| ()));
            match outcome {
                Ok(Err(error)) => assert_eq!(error.kind(), AvroErrorKind::Schema, "{text}"),
                Ok(Ok(())) => panic!("accepted {text}"),
                Err(_) => panic!("panicked on {text}"),
            }
        }
        let precision = r#"{"type":"bytes","logicalType":"decimal","precision":1.5}"#;
        assert!(parse_schema(precision).is_err());
    }

    #[test]
    fn valid_schemas_still_parse_and_keep_their_canonical_form() {
        for text in [
            r#"{"type":"record","name":"com.example.User","aliases":[".Old","a.b.C"],"fields":[{"name":"name","type":"string","aliases":["9x"]}]}"#,
            r#"{"type":"record","name":"R","namespace":"","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":16}}]}"#,
            r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":"2"}"#,
            r#"["null",{"type":"enum","name":"E","symbols":["A"]}]"#,
            r#""string""#,
        ] {
            assert_parsed_as_apache_avro_parses(text);
        }
    }

    /// `text` parses, to the canonical form apache-avro gives it.
    fn assert_parsed_as_apache_avro_parses(text: &str) {
        let schema = parse_schema(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let reference = Schema::parse_str(text).expect("apache-avro parses it");
        assert_eq!(schema.canonical_form(), reference.canonical_form());
    }

    /// Registries store these (Apicurio serves a field's `"items": 1` back as written), and
    /// apache-avro's canonical form panicked on each.
    #[test]
    fn reserved_keys_where_they_mean_nothing_are_dropped_not_walked() {
        let texts = [
            r#"{"type":"record","name":"User","items":1,"fields":[{"name":"name","type":"string"}]}"#,
            r#"{"type":"record","name":"User","symbols":[1],"fields":[{"name":"name","type":"string"}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string","values":true}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string","items":1}]}"#,
            r#"{"type":"record","name":"User","order":1,"fields":[{"name":"name","type":"string"},{"name":"e","type":{"type":"enum","name":"E","symbols":["A"],"fields":0},"default":"A"}]}"#,
        ];
        for text in texts {
            let outcome =
                std::panic::catch_unwind(|| parse_schema(text).map(|s| s.canonical_form()));
            let canonical = outcome
                .unwrap_or_else(|_| panic!("panicked on {text}"))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(
                !canonical.contains(":1") && !canonical.contains("true"),
                "{canonical}"
            );
        }
    }

    /// Defaults and attributes hold any JSON: an object default with `size`, `type` or `name`
    /// keys is data, not a schema.
    #[test]
    fn defaults_and_attributes_are_never_read_as_schemas() {
        for text in [
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"shirt","type":{"type":"record","name":"Shirt","fields":[{"name":"size","type":"string"}]},"default":{"size":"M"}}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"plan","type":{"type":"record","name":"Plan","fields":[{"name":"type","type":"string"},{"name":"name","type":"string"}]},"default":{"type":"basic","name":"Basic plan"}}]}"#,
            r#"{"type":"record","name":"User","connect.parameters":{"name":"a b","size":"x"},"fields":[{"name":"name","type":"string"}]}"#,
        ] {
            assert_parsed_as_apache_avro_parses(text);
        }
    }

    /// One extra key (every reserved word, `namespace`) with values of every JSON kind, at
    /// every place of a `User` writer schema with each kind of type: never a panic, whether
    /// the schema is then taken or refused (2,850 schemas; before, 196 panicked).
    #[test]
    fn no_extra_key_anywhere_panics_parsing_or_the_canonical_form() {
        let keys = [
            "name",
            "type",
            "fields",
            "symbols",
            "items",
            "values",
            "size",
            "logicalType",
            "order",
            "doc",
            "aliases",
            "default",
            "precision",
            "scale",
            "namespace",
        ];
        let values = [
            "1",
            "true",
            "null",
            r#""x""#,
            "[1]",
            "{}",
            "[]",
            r#""1bad""#,
            "-1",
            "1.5",
            r#""1""#,
            r#"["A"]"#,
            r#""decimal""#,
            r#""big-decimal""#,
            r#""duration""#,
            r#""uuid""#,
            r#""timestamp-millis""#,
            r#"{"type":"int"}"#,
            "99999999999999999999",
        ];
        let templates = [
            r#"{"type":"record","name":"User",@"fields":[{"name":"name","type":"string"}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name",@"type":"string"}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"e",@"type":{"type":"enum","name":"E","symbols":["A"]},"default":"A"}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"e","type":{"type":"enum","name":"E",@"symbols":["A"]},"default":"A"}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"f","type":{"type":"fixed","name":"F",@"size":2},"default":"ab"}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"b","type":{"type":"bytes",@"logicalType":"decimal","precision":4},"default":"\u0001"}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"a","type":{"type":"array",@"items":"int"},"default":[]}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"m","type":{"type":"map",@"values":"int"},"default":{}}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"u","type":["null",{"type":"long",@"logicalType":"timestamp-millis"}],"default":null}]}"#,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"x",@"type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"},"default":"abcdefghijkl"}]}"#,
        ];
        let mut panicked = Vec::new();
        let mut tried = 0;
        for template in templates {
            for key in keys {
                for value in values {
                    let text = template.replace('@', &format!(r#""{key}":{value},"#));
                    if serde_json::from_str::<Value>(&text).is_err() {
                        continue;
                    }
                    tried += 1;
                    let outcome = std::panic::catch_unwind(|| {
                        parse_schema(&text).map(|schema| schema.canonical_form())
                    });
                    if outcome.is_err() {
                        panicked.push(text);
                    }
                }
            }
        }
        assert!(tried > 2_000, "{tried} schemas tried");
        assert!(
            panicked.is_empty(),
            "{} of {tried} panicked: {panicked:#?}",
            panicked.len()
        );
    }

    #[test]
    fn the_name_rules_follow_apache_avro() {
        for name in ["a", "_", "A_1", "x.y.Z", ".Z"] {
            assert!(is_full_name(name), "{name}");
        }
        for name in ["", "1a", "a-b", "a..b", "a.", "é", "a b"] {
            assert!(!is_full_name(name), "{name}");
        }
        assert!(is_namespace("") && is_namespace("a.b_c"));
        assert!(!is_namespace(".a") && !is_namespace("a.1"));
    }

    /// 10,000 aliases on a record of 200 fields took 4.65 GB to parse (apache-avro copies a
    /// named type per alias, alias list included), 40 records of 500 fields nested in each
    /// other 400 MB; a few aliases, a few levels and a large flat schema are fine.
    #[test]
    fn named_types_that_would_make_the_parser_copy_hundreds_of_megabytes_are_refused() {
        let fields = |count: usize, prefix: &str| -> Vec<String> {
            (0..count)
                .map(|n| format!(r#"{{"name":"{prefix}{n}","type":"int"}}"#))
                .collect()
        };
        let record = |aliases: usize| {
            let aliases: Vec<String> = (0..aliases).map(|n| format!(r#""x{n}""#)).collect();
            format!(
                r#"{{"type":"record","name":"A","aliases":[{}],"fields":[{}]}}"#,
                aliases.join(","),
                fields(200, "f").join(",")
            )
        };
        let nested = |levels: usize, width: usize| {
            let mut schema = format!(
                r#"{{"type":"record","name":"R0","fields":[{}]}}"#,
                fields(width, "f").join(",")
            );
            for level in 1..levels {
                schema = format!(
                    r#"{{"type":"record","name":"R{level}","fields":[{},{{"name":"inner","type":{schema}}}]}}"#,
                    fields(width, "f").join(",")
                );
            }
            schema
        };
        // 880 one- and two-letter aliases under an inherited namespace of 1,000 bytes (5.5 KB of
        // JSON): each alias is kept as namespace and name, 811 MB to parse.
        let short_aliases: Vec<String> = (0..880).map(|n| format!(r#""a{n}""#)).collect();
        let under_long_namespace = format!(
            r#"{{"type":"record","name":"Outer","namespace":"{}","fields":[{{"name":"b","type":{{"type":"record","name":"B","aliases":[{}],"fields":[]}}}}]}}"#,
            "n".repeat(1_000),
            short_aliases.join(",")
        );
        for refused in [record(10_000), nested(40, 500), under_long_namespace] {
            let error = parse_writer_schema(&refused).expect_err("refused");
            assert!(error.to_string().contains("copy more than"), "{error}");
        }
        let flat_large = format!(
            r#"{{"type":"record","name":"Wide","fields":[{}]}}"#,
            fields(30_000, "field_with_a_long_name_").join(",")
        );
        assert!(flat_large.len() > 1_000_000);
        for accepted in [record(5), nested(6, 200), flat_large] {
            parse_writer_schema(&accepted).expect("accepted");
        }
    }
}
