//! Parsing schema text that came from outside (the registry's answers) without letting
//! apache-avro panic on it. apache-avro 0.21 validates some names with `unwrap()`: a named
//! type whose `name` or `aliases` break Avro's name rules (`{"type":"record","name":"1x",…}`)
//! panics `Schema::parse_str`, and so does the canonical form of a schema with a `size`,
//! `precision` or `scale` that is not an integer (`"precision":"x"` on a `fixed`, kept as an
//! attribute). Either would panic a consumer thread on every record naming such a schema, and
//! again after each restart. [`parse_schema`] checks those rules first and refuses the text
//! with an ordinary error; what it lets through, apache-avro parses or refuses by itself.

use apache_avro::Schema;
use serde_json::{Map, Value};

use super::avro::{AvroError, AvroErrorKind};

/// Avro's primitive type names, which a `type` string may name besides a defined type.
const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// Parses `text` as an Avro schema; every way it can be wrong is an `Err`, never a panic.
pub(crate) fn parse_schema(text: &str) -> Result<Schema, AvroError> {
    // serde_json stops at 128 levels of nesting, which bounds the walk below too.
    let json: Value =
        serde_json::from_str(text).map_err(|e| schema_error(format!("not JSON: {e}")))?;
    check(&json)?;
    Schema::parse(&json).map_err(|e| schema_error(e.to_string()))
}

/// Checks what apache-avro would `unwrap()`, everywhere in the schema.
fn check(value: &Value) -> Result<(), AvroError> {
    match value {
        Value::Object(object) => {
            check_object(object)?;
            object.values().try_for_each(check)
        }
        Value::Array(items) => items.iter().try_for_each(check),
        _ => Ok(()),
    }
}

fn check_object(object: &Map<String, Value>) -> Result<(), AvroError> {
    for key in ["size", "precision", "scale"] {
        if let Some(value) = object.get(key) {
            let integer = match value {
                Value::Number(n) => n.as_i64().is_some(),
                Value::String(s) => s.parse::<i64>().is_ok(),
                _ => false,
            };
            if !integer {
                return Err(schema_error(format!(
                    "`{key}` must be an integer, not {}",
                    shown(value)
                )));
            }
        }
    }
    let Some(kind) = object.get("type") else {
        return Ok(());
    };
    if let Value::String(type_name) = kind {
        if !PRIMITIVES.contains(&type_name.as_str()) && !is_full_name(type_name) {
            return Err(schema_error(format!(
                "type {} is not an Avro name",
                shown(kind)
            )));
        }
    }
    // A schema object or a field: its name is a (full) name wherever apache-avro reads one.
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
    let named = matches!(kind.as_str(), Some("record" | "error" | "enum" | "fixed"));
    if let (true, Some(aliases)) = (named, object.get("aliases")) {
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
            let schema = parse_schema(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let reference = Schema::parse_str(text).expect("apache-avro parses it");
            assert_eq!(schema.canonical_form(), reference.canonical_form());
        }
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
}
