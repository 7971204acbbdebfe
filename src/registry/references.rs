//! Confluent schema `references`: a writer schema may use a named type defined under another
//! subject (`{"name": "com.ex.Address", "subject": "address", "version": 1}`), and the registry
//! serves it without that type's definition. apache-avro and the admission in `format/` read
//! one self-contained schema, so the referenced schemas are fetched (recursively) and each
//! named type they define is written into the writer schema at its first use, under its full
//! name, as Confluent's deserializer would have parsed them before it.
//!
//! Bounded, since a registry (or whoever registers schemas) chooses the references: at most
//! [`MAX_DEPTH`] references deep, [`MAX_REFERENCES`] distinct ones per writer schema and
//! [`MAX_REFERENCED_BYTES`] of referenced schema text, and the schema written out nests at most
//! [`MAX_JSON_DEPTH`] JSON levels; a cycle, or any bound exceeded, is a refused schema
//! ([`Refusal`]). A reference the registry cannot serve right now is the registry's failure,
//! returned as the fetch's own error, and never remembered as a refusal.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::{Map, Value};

/// How deep references may nest: a schema referencing one that references another is 2.
pub(crate) const MAX_DEPTH: usize = 8;
/// Distinct references (subject and version) one writer schema may use in all.
pub(crate) const MAX_REFERENCES: usize = 32;
/// Referenced schema text one writer schema may use in all.
pub(crate) const MAX_REFERENCED_BYTES: usize = 1024 * 1024;

/// One entry of a registry answer's `references`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
pub(crate) struct Reference {
    /// The referenced type's full name (for Avro); informative only: every named type the
    /// referenced schema defines becomes known, as in Confluent's deserializer.
    pub(crate) name: String,
    pub(crate) subject: String,
    pub(crate) version: i32,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The registry chose these: quoted and cut, so no line break or length of theirs
        // reaches a log line.
        write!(
            f,
            "{} (subject {} version {})",
            registry_text(&self.name),
            registry_text(&self.subject),
            self.version
        )
    }
}

/// Text the registry chose (a name, a type, a message), fit for a log line: its control
/// characters escaped as `{:?}` would (`\n`), so a line break of theirs cannot forge a line,
/// and cut at [`MAX_REGISTRY_TEXT`] characters, so no text of theirs is long or kept long.
pub(crate) fn registry_text(text: &str) -> String {
    let mut shown = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_REGISTRY_TEXT {
            shown.push('…');
            break;
        }
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// How much of a registry-chosen text a log line shows.
pub(crate) const MAX_REGISTRY_TEXT: usize = 200;

/// A schema as the registry serves it: its text, its type (`None` for Avro) and references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Served {
    pub(crate) schema: String,
    pub(crate) schema_type: Option<String>,
    pub(crate) references: Vec<Reference>,
}

/// Why a schema's references are refused: the schema's fault, remembered like any refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub(crate) String);

/// How resolving references failed.
#[derive(Debug)]
pub(crate) enum Failure<E> {
    /// The references can never be resolved.
    Refused(Refusal),
    /// Fetching this reference failed (the registry's failure, to wait out).
    Fetch(Reference, E),
}

/// The writer schema `root` made self-contained: `root.schema` unchanged when it has no
/// references, else with every referenced named type defined at its first use. `fetch` asks
/// the registry for one reference (`GET /subjects/{subject}/versions/{version}`).
pub(crate) fn resolve<E>(
    root: &Served,
    fetch: &mut dyn FnMut(&Reference) -> Result<Served, E>,
) -> Result<String, Failure<E>> {
    if root.references.is_empty() {
        return Ok(root.schema.clone());
    }
    let mut resolver = Resolver {
        fetch,
        path: Vec::new(),
        done: HashSet::new(),
        fetched: 0,
        bytes: 0,
        available: HashMap::new(),
    };
    resolver.references_of(&root.references)?;
    let mut value: Value = serde_json::from_str(&root.schema)
        .map_err(|e| refused(format!("the schema is not JSON: {e}")))?;
    Inliner::inline_into(&mut value, &resolver.available).map_err(Failure::Refused)?;
    Ok(value.to_string())
}

fn refused<E>(reason: String) -> Failure<E> {
    Failure::Refused(Refusal(reason))
}

/// Where a named type a referenced schema defines is: that schema (inlined itself) and the
/// JSON pointer of the definition in it.
struct Definition {
    document: Rc<Value>,
    pointer: String,
    full_name: String,
}

struct Resolver<'f, E> {
    fetch: &'f mut dyn FnMut(&Reference) -> Result<Served, E>,
    /// The references being resolved, outermost first: a cycle comes back to one of them.
    path: Vec<(String, i32)>,
    /// References resolved already (a second path to one costs nothing).
    done: HashSet<(String, i32)>,
    /// References fetched so far, finished or still on the path: what [`MAX_REFERENCES`]
    /// bounds.
    fetched: usize,
    /// Referenced schema text fetched so far.
    bytes: usize,
    /// Every named type the referenced schemas define, by full name.
    available: HashMap<String, Definition>,
}

impl<E> Resolver<'_, E> {
    /// Fetches `references` and what they reference, depth first, and makes each one's named
    /// types available.
    fn references_of(&mut self, references: &[Reference]) -> Result<(), Failure<E>> {
        for reference in references {
            let key = (reference.subject.clone(), reference.version);
            if self.path.contains(&key) {
                return Err(refused(format!("reference cycle through {reference}")));
            }
            if self.done.contains(&key) {
                continue;
            }
            if self.path.len() >= MAX_DEPTH {
                return Err(refused(format!(
                    "references nest deeper than {MAX_DEPTH} at {reference}"
                )));
            }
            if self.fetched >= MAX_REFERENCES {
                return Err(refused(format!(
                    "more than {MAX_REFERENCES} references (at {reference})"
                )));
            }
            self.fetched += 1;
            let served = (self.fetch)(reference)
                .map_err(|error| Failure::Fetch(reference.clone(), error))?;
            self.bytes = self.bytes.saturating_add(served.schema.len());
            if self.bytes > MAX_REFERENCED_BYTES {
                return Err(refused(format!(
                    "referenced schemas exceed {MAX_REFERENCED_BYTES} bytes (at {reference})"
                )));
            }
            if let Some(other) = served.schema_type.as_deref().filter(|t| *t != "AVRO") {
                let other = registry_text(other);
                return Err(refused(format!("{reference} is of type {other}, not AVRO")));
            }
            self.path.push(key.clone());
            self.references_of(&served.references)?;
            self.path.pop();
            self.done.insert(key);
            self.define(reference, &served.schema)?;
        }
        Ok(())
    }

    /// Makes the named types of one referenced schema available, inlining its own references.
    fn define(&mut self, reference: &Reference, text: &str) -> Result<(), Failure<E>> {
        let mut value: Value = serde_json::from_str(text)
            .map_err(|e| refused(format!("{reference} is not JSON: {e}")))?;
        Inliner::inline_into(&mut value, &self.available).map_err(Failure::Refused)?;
        let document = Rc::new(value);
        let mut found = Vec::new();
        named_types(&document, &None, String::new(), &mut found);
        for (full_name, pointer) in found {
            self.available
                .entry(full_name.clone())
                .or_insert_with(|| Definition {
                    document: Rc::clone(&document),
                    pointer,
                    full_name,
                });
        }
        Ok(())
    }
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The full name of the named type `name` used in `namespace`, as apache-avro qualifies it.
fn qualify(name: &str, namespace: &Option<String>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

/// The full name of the named type that `object`, written in `namespace`, defines.
fn defined_name(object: &Map<String, Value>, namespace: &Option<String>) -> Option<String> {
    let name = object.get("name")?.as_str()?;
    if name.contains('.') {
        return Some(name.to_string());
    }
    let own = match object.get("namespace") {
        Some(Value::String(ns)) => Some(ns.clone()),
        _ => namespace.clone(),
    };
    Some(qualify(name, &own.filter(|ns| !ns.is_empty())))
}

/// The namespace of the full name `full_name` (`None` for the null namespace).
fn namespace_of(full_name: &str) -> Option<String> {
    full_name
        .rsplit_once('.')
        .map(|(namespace, _)| namespace.to_string())
}

/// How deep the schema written out may nest, in JSON values: apache-avro parses it with
/// serde_json, which refuses more than 128, and the walk below recurses once a level.
const MAX_JSON_DEPTH: usize = 128;

/// Writes the definition of each available named type in place of its first use.
struct Inliner<'a> {
    /// Types defined so far in the schema being written.
    defined: HashSet<String>,
    available: &'a HashMap<String, Definition>,
}

impl Inliner<'_> {
    /// `value` with the available definitions written in, or why it cannot be.
    fn inline_into(
        value: &mut Value,
        available: &HashMap<String, Definition>,
    ) -> Result<(), Refusal> {
        let mut inliner = Inliner {
            defined: HashSet::new(),
            available,
        };
        inliner.inline(value, &None, false, 0)
    }

    /// Walks the schema `value` (in `namespace`, `depth` levels down) in the order apache-avro
    /// parses it. Types defined in the walk go into `defined`; inside an inlined copy
    /// (`copy`), a type defined already is written as its name instead (two referenced
    /// schemas may both define a type they share).
    fn inline(
        &mut self,
        value: &mut Value,
        namespace: &Option<String>,
        copy: bool,
        depth: usize,
    ) -> Result<(), Refusal> {
        if depth > MAX_JSON_DEPTH {
            return Err(Refusal(format!(
                "with its references written in, it nests deeper than {MAX_JSON_DEPTH}"
            )));
        }
        match value {
            Value::String(name) if !PRIMITIVES.contains(&name.as_str()) => {
                let full_name = qualify(name, namespace);
                if self.defined.contains(&full_name) {
                    return Ok(());
                }
                if let Some(mut copied) = self.available.get(&full_name).and_then(Definition::copy)
                {
                    self.inline(&mut copied, namespace, true, depth + 1)?;
                    *value = copied;
                }
            }
            Value::Array(branches) => {
                for branch in branches {
                    self.inline(branch, namespace, copy, depth + 1)?;
                }
            }
            Value::Object(_) => self.inline_object(value, namespace, copy, depth)?,
            _ => {}
        }
        Ok(())
    }

    /// [`Inliner::inline`] for a schema written as a JSON object.
    fn inline_object(
        &mut self,
        value: &mut Value,
        namespace: &Option<String>,
        copy: bool,
        depth: usize,
    ) -> Result<(), Refusal> {
        let Value::Object(object) = value else {
            return Ok(());
        };
        let kind = object
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (inner, namespace) = match kind.as_deref() {
            Some("record" | "error" | "enum" | "fixed") => {
                let Some(full_name) = defined_name(object, namespace) else {
                    return Ok(());
                };
                if !self.defined.insert(full_name.clone()) {
                    if copy {
                        *value = Value::String(full_name);
                    }
                    return Ok(());
                }
                let fields = match object.get_mut("fields") {
                    Some(Value::Array(fields)) => fields
                        .iter_mut()
                        .filter_map(|f| f.get_mut("type"))
                        .collect(),
                    _ => Vec::new(),
                };
                (fields, namespace_of(&full_name))
            }
            Some("array") => (
                object.get_mut("items").into_iter().collect(),
                namespace.clone(),
            ),
            Some("map") => (
                object.get_mut("values").into_iter().collect(),
                namespace.clone(),
            ),
            // A primitive with attributes (a logical type): nothing named in it.
            Some(primitive) if PRIMITIVES.contains(&primitive) => (Vec::new(), None),
            // `{"type": "Name"}` or `{"type": {…}}`: the schema is the `type`.
            _ => (
                object.get_mut("type").into_iter().collect(),
                namespace.clone(),
            ),
        };
        for schema in inner {
            // A field's type is two levels down (`fields`, the field).
            self.inline(schema, &namespace, copy, depth + 2)?;
        }
        Ok(())
    }
}

impl Definition {
    /// The definition, named by its full name, so it means the same wherever it is written.
    fn copy(&self) -> Option<Value> {
        let mut copied = self.document.pointer(&self.pointer)?.clone();
        let object = copied.as_object_mut()?;
        match namespace_of(&self.full_name) {
            Some(_) => {
                object.insert("name".into(), Value::String(self.full_name.clone()));
                object.remove("namespace");
            }
            // The null namespace, not the namespace of wherever it is written.
            None => {
                object.insert("namespace".into(), Value::String(String::new()));
            }
        }
        Some(copied)
    }
}

/// Every named type defined in `value` (in `namespace`, at JSON pointer `pointer`): its full
/// name and pointer, outermost first.
fn named_types(
    value: &Value,
    namespace: &Option<String>,
    pointer: String,
    found: &mut Vec<(String, String)>,
) {
    match value {
        Value::Array(branches) => {
            for (i, branch) in branches.iter().enumerate() {
                named_types(branch, namespace, format!("{pointer}/{i}"), found);
            }
        }
        Value::Object(object) => {
            let kind = object.get("type").and_then(Value::as_str);
            let mut namespace = namespace.clone();
            if let (Some("record" | "error" | "enum" | "fixed"), Some(full_name)) =
                (kind, defined_name(object, &namespace))
            {
                namespace = namespace_of(&full_name);
                found.push((full_name, pointer.clone()));
            }
            if let Some(Value::Array(fields)) = object.get("fields") {
                for (i, field) in fields.iter().enumerate() {
                    if let Some(field_type) = field.get("type") {
                        let at = format!("{pointer}/fields/{i}/type");
                        named_types(field_type, &namespace, at, found);
                    }
                }
            }
            for key in ["items", "values", "type"] {
                if let Some(inner) = object.get(key).filter(|v| !v.is_string()) {
                    named_types(inner, &namespace, format!("{pointer}/{key}"), found);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str, subject: &str) -> Reference {
        Reference {
            name: name.to_string(),
            subject: subject.to_string(),
            version: 1,
        }
    }

    fn served(schema: &str, references: Vec<Reference>) -> Served {
        Served {
            schema: schema.to_string(),
            schema_type: None,
            references,
        }
    }

    /// Resolves `root` against `registry` (subject → schema), counting the fetches.
    fn resolve_with(
        root: &Served,
        registry: &HashMap<String, Served>,
    ) -> (Result<String, Failure<String>>, usize) {
        let mut fetches = 0;
        let outcome = resolve(root, &mut |r: &Reference| {
            fetches += 1;
            registry
                .get(&r.subject)
                .cloned()
                .ok_or_else(|| format!("no subject {}", r.subject))
        });
        (outcome, fetches)
    }

    fn refusal(outcome: Result<String, Failure<String>>) -> String {
        match outcome {
            Err(Failure::Refused(Refusal(reason))) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    const ADDRESS: &str = r#"{"type":"record","name":"Address","namespace":"com.ex","fields":[{"name":"city","type":"string"},{"name":"country","type":{"type":"enum","name":"Country","symbols":["DE","FR"]}}]}"#;

    #[test]
    fn a_referenced_type_is_defined_at_its_first_use_under_its_full_name() {
        let registry = HashMap::from([("address".to_string(), served(ADDRESS, vec![]))]);
        let root = served(
            r#"{"type":"record","name":"User","namespace":"app","fields":[
                {"name":"home","type":"com.ex.Address"},
                {"name":"work","type":["null","com.ex.Address"]},
                {"name":"born","type":"com.ex.Country"},
                {"name":"name","type":"string"}]}"#,
            vec![reference("com.ex.Address", "address")],
        );
        let (outcome, fetches) = resolve_with(&root, &registry);
        let text = outcome.expect("resolved");
        assert_eq!(fetches, 1);
        let schema = apache_avro::Schema::parse_str(&text).expect("self-contained");
        let apache_avro::Schema::Record(user) = schema else {
            panic!("a record: {text}")
        };
        let home = &user.fields[0].schema;
        assert!(
            matches!(home, apache_avro::Schema::Record(r) if r.name.fullname(None) == "com.ex.Address"),
            "{home:?}"
        );
        // Used again, and a type nested in it: named, not defined twice.
        assert!(text.matches(r#""symbols""#).count() == 1, "{text}");
        assert!(text.matches(r#""city""#).count() == 1, "{text}");
    }

    #[test]
    fn a_type_in_the_null_namespace_keeps_it_inside_a_namespaced_record() {
        let registry = HashMap::from([(
            "flag".to_string(),
            served(r#"{"type":"enum","name":"Flag","symbols":["A"]}"#, vec![]),
        )]);
        // Its copy says so (`"namespace": ""`), or the record `app.Inner` written before it
        // would not matter, but a copy written inside a namespaced record would be renamed.
        let root = served(
            r#"{"type":"record","name":"User","fields":[{"name":"inner","type":{"type":"record","name":"Inner","namespace":"app","fields":[{"name":"x","type":"int"}]}},{"name":"flag","type":"Flag"},{"name":"name","type":"string"}]}"#,
            vec![reference("Flag", "flag")],
        );
        let text = resolve_with(&root, &registry).0.expect("resolved");
        apache_avro::Schema::parse_str(&text).expect("self-contained");
        assert!(text.contains(r#""namespace":"""#), "{text}");
    }

    #[test]
    fn references_of_references_and_a_shared_one_are_fetched_once_each() {
        let registry = HashMap::from([
            (
                "country".to_string(),
                served(
                    r#"{"type":"enum","name":"Country","namespace":"geo","symbols":["DE"]}"#,
                    vec![],
                ),
            ),
            (
                "address".to_string(),
                served(
                    r#"{"type":"record","name":"Address","namespace":"geo","fields":[{"name":"country","type":"Country"}]}"#,
                    vec![reference("geo.Country", "country")],
                ),
            ),
        ]);
        let root = served(
            r#"{"type":"record","name":"User","fields":[{"name":"born","type":"geo.Country"},{"name":"home","type":"geo.Address"},{"name":"name","type":"string"}]}"#,
            vec![
                reference("geo.Country", "country"),
                reference("geo.Address", "address"),
            ],
        );
        let (outcome, fetches) = resolve_with(&root, &registry);
        let text = outcome.expect("resolved");
        assert_eq!(fetches, 2);
        apache_avro::Schema::parse_str(&text).expect("self-contained, Country defined once");
    }

    #[test]
    fn a_reference_cycle_is_refused() {
        let registry = HashMap::from([
            (
                "a".to_string(),
                served(
                    r#"{"type":"record","name":"A","fields":[]}"#,
                    vec![reference("B", "b")],
                ),
            ),
            (
                "b".to_string(),
                served(
                    r#"{"type":"record","name":"B","fields":[]}"#,
                    vec![reference("A", "a")],
                ),
            ),
        ]);
        let root = served(r#""A""#, vec![reference("A", "a")]);
        let reason = refusal(resolve_with(&root, &registry).0);
        assert!(reason.contains("reference cycle"), "{reason}");
    }

    /// A chain root → s1 → s2 → … → s`n`.
    fn chain(n: usize) -> HashMap<String, Served> {
        (1..=n)
            .map(|i| {
                let next = if i < n {
                    vec![reference(&format!("T{}", i + 1), &format!("s{}", i + 1))]
                } else {
                    vec![]
                };
                let schema = format!(r#"{{"type":"fixed","name":"T{i}","size":1}}"#);
                (format!("s{i}"), served(&schema, next))
            })
            .collect()
    }

    #[test]
    fn references_deeper_than_the_bound_are_refused() {
        let root = served(r#""T1""#, vec![reference("T1", "s1")]);
        let (outcome, fetches) = resolve_with(&root, &chain(MAX_DEPTH));
        outcome.expect("as deep as allowed");
        assert_eq!(fetches, MAX_DEPTH);
        let (outcome, fetches) = resolve_with(&root, &chain(MAX_DEPTH + 1));
        let reason = refusal(outcome);
        assert!(reason.contains("deeper than 8"), "{reason}");
        assert_eq!(fetches, MAX_DEPTH, "nothing fetched past the bound");
    }

    #[test]
    fn more_references_than_the_bound_are_refused() {
        let many = |n: usize| -> (Served, HashMap<String, Served>) {
            let references = (0..n)
                .map(|i| reference(&format!("T{i}"), &format!("s{i}")))
                .collect();
            let registry = (0..n)
                .map(|i| {
                    (
                        format!("s{i}"),
                        served(
                            &format!(r#"{{"type":"fixed","name":"T{i}","size":1}}"#),
                            vec![],
                        ),
                    )
                })
                .collect();
            (served(r#""string""#, references), registry)
        };
        let (root, registry) = many(MAX_REFERENCES);
        resolve_with(&root, &registry)
            .0
            .expect("as many as allowed");
        let (root, registry) = many(MAX_REFERENCES + 1);
        let (outcome, fetches) = resolve_with(&root, &registry);
        assert!(refusal(outcome).contains("more than 32 references"));
        assert_eq!(fetches, MAX_REFERENCES);
    }

    #[test]
    fn too_much_referenced_text_and_a_reference_of_another_type_are_refused() {
        let padding = " ".repeat(MAX_REFERENCED_BYTES);
        let big = format!(r#"{{"type":"fixed","name":"Big","size":1}}{padding}"#);
        let registry = HashMap::from([
            ("big".to_string(), served(&big, vec![])),
            (
                "json".to_string(),
                Served {
                    schema_type: Some("JSON".to_string()),
                    ..served("{}", vec![])
                },
            ),
        ]);
        let root = served(r#""Big""#, vec![reference("Big", "big")]);
        assert!(refusal(resolve_with(&root, &registry).0).contains("exceed"));
        let root = served(r#""J""#, vec![reference("J", "json")]);
        assert!(refusal(resolve_with(&root, &registry).0).contains("not AVRO"));
    }

    #[test]
    fn a_chain_of_names_written_in_too_deep_is_refused_not_a_stack_overflow() {
        // One referenced schema: a union of 5,000 records, each using the next by name, so
        // writing T0 in writes in all of them, each inside the one before.
        let chain: Vec<String> = (0..5_000)
            .map(|i| {
                format!(
                    r#"{{"type":"record","name":"T{i}","fields":[{{"name":"next","type":"T{}"}}]}}"#,
                    i + 1
                )
            })
            .collect();
        let registry = HashMap::from([(
            "chain".to_string(),
            served(&format!("[{}]", chain.join(",")), vec![]),
        )]);
        let root = served(r#""T0""#, vec![reference("T0", "chain")]);
        let reason = refusal(resolve_with(&root, &registry).0);
        assert!(reason.contains("nests deeper than 128"), "{reason}");
    }

    #[test]
    fn a_reference_that_cannot_be_fetched_is_the_fetch_s_failure_not_a_refusal() {
        let root = served(r#""A""#, vec![reference("A", "missing")]);
        match resolve_with(&root, &HashMap::new()).0 {
            Err(Failure::Fetch(reference, error)) => {
                assert_eq!(reference.subject, "missing");
                assert_eq!(error, "no subject missing");
            }
            other => panic!("expected the fetch's failure, got {other:?}"),
        }
    }

    /// References still being resolved (on the path) count too: a chain of 7 whose last one
    /// references 32 more is refused at the 32nd fetch, not let through with 39.
    #[test]
    fn no_more_than_max_references_are_fetched_counting_those_on_the_path() {
        let mut registry: HashMap<String, Served> = (0..MAX_REFERENCES)
            .map(|i| {
                let schema = format!(r#"{{"type":"fixed","name":"L{i}","size":1}}"#);
                (format!("leaf{i}"), served(&schema, vec![]))
            })
            .collect();
        for d in 1..MAX_DEPTH {
            let next = if d + 1 < MAX_DEPTH {
                vec![reference(&format!("A{}", d + 1), &format!("a{}", d + 1))]
            } else {
                (0..MAX_REFERENCES)
                    .map(|i| reference(&format!("L{i}"), &format!("leaf{i}")))
                    .collect()
            };
            let schema = format!(r#"{{"type":"fixed","name":"A{d}","size":1}}"#);
            registry.insert(format!("a{d}"), served(&schema, next));
        }
        let root = served(r#""string""#, vec![reference("A1", "a1")]);
        let (outcome, fetches) = resolve_with(&root, &registry);
        assert!(fetches <= MAX_REFERENCES, "{fetches} fetched");
        assert!(refusal(outcome).contains("more than 32 references"));
    }

    #[test]
    fn a_reference_s_registry_chosen_name_is_escaped_and_cut_in_what_is_logged() {
        let forged = Reference {
            name: format!("A\nINFO forged line{}", "x".repeat(1_000)),
            subject: "s\r".to_string(),
            version: 1,
        };
        let shown = forged.to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
        assert!(shown.contains(r"A\nINFO forged line"), "{shown}");
        assert!(
            shown.chars().count() < 2 * MAX_REGISTRY_TEXT + 50,
            "{shown}"
        );
    }
}
