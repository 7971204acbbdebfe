//! A writer schema and the reader schema compiled, once, into a plan of how every value of
//! the one becomes a value of the other ([`ResolutionPlan`]); the resolver then follows the
//! plan for each record with no name looked up, no field matched by name and no default
//! built again: a record's fields are taken by position, a union branch and an enum symbol
//! by a table, a default cloned from its value.
//!
//! Compiling is the admission check as well: a pair no datum of which can resolve (a reader
//! field without default the writer lacks, a type that can never be read as the reader's, a
//! writer union none of whose branches can — each where every datum meets it) is refused when
//! the writer schema is admitted, once per schema id. What depends on the data stays in the
//! plan as a failure the record meets, as Java's resolving decoder meets its error symbols: a
//! writer union's branch that cannot be read, an enum symbol the reader lacks and has no
//! default for, items of an array or values of a map that cannot be read (an empty one
//! resolves).
//!
//! The rules are the resolver's (`reader_schema.rs`): named types by unqualified name or a
//! reader alias, reader fields by name or alias, union branches by exact type, then the same
//! underlying type, then promotion, and the plain conversions of `resolve_plain`.

use std::collections::HashMap;

use apache_avro::schema::{Name, RecordSchema, Schema};
use apache_avro::types::Value;

use super::{
    charge, check_plain, from_default, resolve_plain, same_name, union_branch, unresolvable,
    AvroError, Names, Side,
};
use crate::format::nodes::type_name;
use crate::format::resolve::MAX_GENERIC_DEPTH;

/// Where a step is in its plan.
type StepId = usize;

/// How every value of a writer schema becomes a value of a reader schema.
#[derive(Debug)]
pub(crate) struct ResolutionPlan {
    steps: Vec<Step>,
    root: StepId,
}

/// One writer type read as one reader type.
#[derive(Debug)]
enum Step {
    /// A record pair being compiled (a recursive schema reaches it first), or one that failed
    /// to compile: no value of it can be read, and why.
    Fail(String),
    /// The same primitive type on both sides: the value as it is.
    Same,
    /// A primitive or logical type read as another by `resolve_plain`'s rules (boxed: most
    /// steps are small).
    Plain(Box<(Schema, Schema)>),
    /// A record: the reader's fields in its order, each from a writer field or a default.
    Record {
        writer_fields: usize,
        fields: Vec<(String, Source)>,
    },
    /// An enum: the reader's index and symbol for each of the writer's symbols.
    Enum(Vec<Result<(u32, String), String>>),
    Array(StepId),
    Map(StepId),
    /// The writer's union: a step per branch, or why that branch cannot be read.
    WriterUnion(Vec<Result<StepId, String>>),
    /// A value the reader reads as the branch `index` of its union.
    ReaderUnion {
        index: u32,
        step: StepId,
    },
}

/// Where a reader field's value comes from.
#[derive(Debug)]
enum Source {
    /// The writer's field at this position, resolved by the step.
    Writer { position: usize, step: StepId },
    /// The reader's default, and the memory it takes (charged each time it is used).
    Default { value: Value, cost: u64 },
}

impl ResolutionPlan {
    /// Compiles how `writer` (whose names are `writer_names`) reads as `reader`; an error if no
    /// datum of it can. `default_budget`: what one default may take at most.
    pub(crate) fn compile(
        writer: &Schema,
        writer_names: &Names,
        reader: &Schema,
        reader_names: &Names,
        default_budget: u64,
    ) -> Result<ResolutionPlan, AvroError> {
        let none = None;
        let budget = std::cell::Cell::new(default_budget);
        let mut compiler = Compiler {
            steps: Vec::new(),
            records: HashMap::new(),
            failed: HashMap::new(),
            default_budget,
            depth: 0,
        };
        let root = compiler.step(
            Side {
                schema: writer,
                namespace: &none,
                names: writer_names,
                budget: &budget,
            },
            Side {
                schema: reader,
                namespace: &none,
                names: reader_names,
                budget: &budget,
            },
        )?;
        Ok(ResolutionPlan {
            steps: compiler.steps,
            root,
        })
    }

    /// Whether some reader field is filled from its default (the writer lacks it).
    pub(crate) fn uses_defaults(&self) -> bool {
        self.steps.iter().any(|step| match step {
            Step::Record { fields, .. } => fields
                .iter()
                .any(|(_, source)| matches!(source, Source::Default { .. })),
            _ => false,
        })
    }

    /// `value` (a value of the writer schema) as a value of the reader schema; the defaults
    /// it fills in take from `budget`.
    pub(crate) fn resolve(&self, value: Value, budget: u64) -> Result<Value, AvroError> {
        let budget = std::cell::Cell::new(budget);
        self.apply(self.root, value, &budget)
    }

    fn apply(
        &self,
        step: StepId,
        value: Value,
        budget: &std::cell::Cell<u64>,
    ) -> Result<Value, AvroError> {
        let Some(step) = self.steps.get(step) else {
            return Err(unresolvable("a step outside the plan".to_string()));
        };
        match step {
            Step::Same => Ok(value),
            Step::Plain(pair) => resolve_plain(value, &pair.0, &pair.1),
            Step::Record {
                writer_fields,
                fields,
            } => {
                let Value::Record(written) = value else {
                    return Err(unresolvable("a record value that is not a record".into()));
                };
                if written.len() != *writer_fields {
                    return Err(unresolvable(
                        "a record value of another number of fields".into(),
                    ));
                }
                let mut written: Vec<Option<Value>> =
                    written.into_iter().map(|(_, v)| Some(v)).collect();
                let mut out = Vec::with_capacity(fields.len());
                for (name, source) in fields {
                    let value = match source {
                        Source::Writer { position, step } => {
                            let taken = written.get_mut(*position).and_then(Option::take);
                            let Some(taken) = taken else {
                                return Err(unresolvable("a writer field read twice".into()));
                            };
                            self.apply(*step, taken, budget)?
                        }
                        Source::Default { value, cost } => {
                            charge(budget, *cost)?;
                            value.clone()
                        }
                    };
                    out.push((name.clone(), value));
                }
                Ok(Value::Record(out))
            }
            Step::Enum(symbols) => {
                let Value::Enum(index, _) = value else {
                    return Err(unresolvable("an enum value that is not a symbol".into()));
                };
                match usize::try_from(index).ok().and_then(|i| symbols.get(i)) {
                    Some(Ok((index, symbol))) => Ok(Value::Enum(*index, symbol.clone())),
                    Some(Err(why)) => Err(unresolvable(why.clone())),
                    None => Err(unresolvable(format!(
                        "no symbol {index} in the writer's enum"
                    ))),
                }
            }
            Step::Array(items) => {
                let Value::Array(values) = value else {
                    return Err(unresolvable("an array value that is not an array".into()));
                };
                values
                    .into_iter()
                    .map(|item| self.apply(*items, item, budget))
                    .collect::<Result<_, _>>()
                    .map(Value::Array)
            }
            Step::Map(values) => {
                let Value::Map(entries) = value else {
                    return Err(unresolvable("a map value that is not a map".into()));
                };
                entries
                    .into_iter()
                    .map(|(key, item)| Ok((key, self.apply(*values, item, budget)?)))
                    .collect::<Result<_, AvroError>>()
                    .map(Value::Map)
            }
            Step::WriterUnion(branches) => {
                let Value::Union(index, inner) = value else {
                    return Err(unresolvable("a union value without its branch".to_string()));
                };
                match usize::try_from(index).ok().and_then(|i| branches.get(i)) {
                    Some(Ok(step)) => self.apply(*step, *inner, budget),
                    Some(Err(why)) => Err(unresolvable(why.clone())),
                    None => Err(unresolvable(format!(
                        "no branch {index} in the writer's union"
                    ))),
                }
            }
            Step::ReaderUnion { index, step } => Ok(Value::Union(
                *index,
                Box::new(self.apply(*step, value, budget)?),
            )),
            Step::Fail(why) => Err(unresolvable(why.clone())),
        }
    }
}

/// Checks that every field default of a reader schema (whose named types are `names`) is a
/// value of its field's type, as the resolver builds it: a reader schema with one that is not
/// is refused when given, not found out on every record that needs it.
pub(crate) fn check_defaults(names: &Names, default_budget: u64) -> Result<(), AvroError> {
    let budget = std::cell::Cell::new(default_budget);
    for schema in names.values() {
        let Schema::Record(record) = schema else {
            continue;
        };
        let namespace = record.name.namespace.clone();
        for field in &record.fields {
            let Some(default) = &field.default else {
                continue;
            };
            budget.set(default_budget);
            let side = Side {
                schema: &field.schema,
                namespace: &namespace,
                names,
                budget: &budget,
            };
            from_default(default, side, 0).map_err(|e| {
                AvroError::new(
                    e.kind(),
                    format!(
                        "the default of field {} of {}: {e}",
                        field.name,
                        record.name.fullname(None)
                    ),
                )
            })?;
        }
    }
    Ok(())
}

/// Builds a plan's steps.
struct Compiler {
    steps: Vec<Step>,
    /// The step of each pair of named records (writer's full name, reader's) compiled or
    /// being compiled: a recursive schema meets its pair again and takes the same step.
    records: HashMap<(Name, Name), StepId>,
    /// Record pairs no value of which can be read, and why.
    failed: HashMap<(Name, Name), AvroError>,
    default_budget: u64,
    /// Records, arrays and maps around the step being compiled.
    depth: usize,
}

/// Past this many records, arrays and maps no datum reaches (the bounded walk refuses it
/// first): steps there are compiled as failures, so a chain of thousands of named types
/// costs no stack.
const MAX_PLAN_DEPTH: usize = MAX_GENERIC_DEPTH + 1;

impl Compiler {
    fn push(&mut self, step: Step) -> StepId {
        self.steps.push(step);
        self.steps.len() - 1
    }

    /// Where each of the reader record's fields comes from: the writer's field of its name
    /// (or an alias), resolved, else its default.
    fn record_fields(
        &mut self,
        w_record: &RecordSchema,
        writer: Side<'_>,
        r_record: &RecordSchema,
        reader: Side<'_>,
    ) -> Result<Vec<(String, Source)>, AvroError> {
        let mut fields = Vec::with_capacity(r_record.fields.len());
        for field in &r_record.fields {
            let names = std::iter::once(&field.name).chain(field.aliases.iter().flatten());
            let written = names
                .filter_map(|name| w_record.fields.iter().position(|f| &f.name == name))
                .next();
            let reader_field = Side {
                schema: &field.schema,
                ..reader
            };
            let source = match (written, &field.default) {
                (Some(position), _) => {
                    let writer_field = Side {
                        schema: &w_record.fields[position].schema,
                        ..writer
                    };
                    let step = self
                        .step(writer_field, reader_field)
                        .map_err(|e| within(&field.name, e))?;
                    Source::Writer { position, step }
                }
                (None, Some(default)) => {
                    // Built once; what it takes is charged each time it is used.
                    let budget = std::cell::Cell::new(self.default_budget);
                    let value = from_default(
                        default,
                        Side {
                            budget: &budget,
                            ..reader_field
                        },
                        0,
                    )
                    .map_err(|e| within(&field.name, e))?;
                    let cost = self.default_budget - budget.get();
                    Source::Default { value, cost }
                }
                (None, None) => {
                    return Err(unresolvable(format!(
                        "the writer has no field {} and the reader's has no default",
                        field.name
                    )))
                }
            };
            fields.push((field.name.clone(), source));
        }
        Ok(fields)
    }

    /// The step for the items of an array or the values of a map: one that cannot be read
    /// fails the record that holds one, not every record (an empty array resolves).
    fn lazily(&mut self, writer: Side<'_>, reader: Side<'_>) -> StepId {
        match self.step(writer, reader) {
            Ok(step) => step,
            Err(error) => self.push(Step::Fail(error.to_string())),
        }
    }

    /// The step that reads `writer` as `reader`, or why no value of it can be read so.
    fn step(&mut self, writer: Side<'_>, reader: Side<'_>) -> Result<StepId, AvroError> {
        let (w, w_ns) = writer.deref()?;
        let (r, r_ns) = reader.deref()?;
        let writer = Side {
            schema: w,
            namespace: &w_ns,
            ..writer
        };
        let reader = Side {
            schema: r,
            namespace: &r_ns,
            ..reader
        };
        // The writer's union: each branch on its own; refused only if none can be read.
        if let Schema::Union(union) = w {
            let mut branches = Vec::with_capacity(union.variants().len());
            let mut first_error = None;
            for branch in union.variants() {
                let branch = Side {
                    schema: branch,
                    ..writer
                };
                match self.step(branch, reader) {
                    Ok(step) => branches.push(Ok(step)),
                    Err(e) => {
                        branches.push(Err(e.to_string()));
                        first_error.get_or_insert(e);
                    }
                }
            }
            return match first_error {
                Some(e) if branches.iter().all(Result::is_err) => Err(e),
                None if branches.is_empty() => Err(unresolvable(
                    "the writer's union has no branches".to_string(),
                )),
                _ => Ok(self.push(Step::WriterUnion(branches))),
            };
        }
        if let Schema::Union(union) = r {
            let Some((index, branch)) = union_branch(writer, union, reader) else {
                return Err(unresolvable(format!(
                    "no branch of the reader's union takes a {}",
                    type_name(w)
                )));
            };
            let index =
                u32::try_from(index).map_err(|_| unresolvable("union too large".to_string()))?;
            let step = self.step(
                writer,
                Side {
                    schema: branch,
                    ..reader
                },
            )?;
            return Ok(self.push(Step::ReaderUnion { index, step }));
        }
        let container = matches!(w, Schema::Record(_) | Schema::Array(_) | Schema::Map(_));
        if container && self.depth >= MAX_PLAN_DEPTH {
            return Ok(self.push(Step::Fail(format!(
                "nested deeper than {MAX_GENERIC_DEPTH} records, arrays and maps"
            ))));
        }
        self.depth += usize::from(container);
        let step = self.container_or_plain(w, writer, r, reader);
        self.depth -= usize::from(container);
        step
    }

    /// [`Compiler::step`] for a writer type that is no union read as a reader type that is
    /// none either.
    fn container_or_plain(
        &mut self,
        w: &Schema,
        writer: Side<'_>,
        r: &Schema,
        reader: Side<'_>,
    ) -> Result<StepId, AvroError> {
        match (w, r) {
            (Schema::Record(w_record), Schema::Record(r_record)) => {
                same_name(
                    &w_record.name,
                    r_record.name.name.as_str(),
                    &r_record.aliases,
                )?;
                let pair = (
                    w_record.name.fully_qualified_name(writer.namespace),
                    r_record.name.fully_qualified_name(reader.namespace),
                );
                if let Some(error) = self.failed.get(&pair) {
                    return Err(error.clone());
                }
                if let Some(&step) = self.records.get(&pair) {
                    return Ok(step);
                }
                let id = self.push(Step::Fail("a record read while compiled".to_string()));
                self.records.insert(pair.clone(), id);
                match self.record_fields(w_record, writer, r_record, reader) {
                    Ok(fields) => {
                        self.steps[id] = Step::Record {
                            writer_fields: w_record.fields.len(),
                            fields,
                        };
                        Ok(id)
                    }
                    Err(error) => {
                        // Steps compiled meanwhile may lead here: they fail as the pair does.
                        self.steps[id] = Step::Fail(error.to_string());
                        self.records.remove(&pair);
                        self.failed.insert(pair, error.clone());
                        Err(error)
                    }
                }
            }
            (Schema::Enum(w_enum), Schema::Enum(r_enum)) => {
                same_name(&w_enum.name, r_enum.name.name.as_str(), &r_enum.aliases)?;
                let symbols = w_enum
                    .symbols
                    .iter()
                    .map(|symbol| {
                        let chosen = match r_enum.symbols.contains(symbol) {
                            true => symbol,
                            false => r_enum.default.as_ref().ok_or_else(|| {
                                format!("symbol {symbol} is not in the reader's enum, which has no default")
                            })?,
                        };
                        let index = r_enum
                            .symbols
                            .iter()
                            .position(|s| s == chosen)
                            .and_then(|i| u32::try_from(i).ok())
                            .ok_or_else(|| format!("no symbol {chosen} in the reader's enum"))?;
                        Ok((index, chosen.clone()))
                    })
                    .collect::<Vec<Result<(u32, String), String>>>();
                let none_readable = symbols.iter().all(Result::is_err);
                if let (true, Some(Err(why))) = (none_readable, symbols.first()) {
                    // Not one of the writer's symbols can be read.
                    return Err(unresolvable(why.clone()));
                }
                Ok(self.push(Step::Enum(symbols)))
            }
            (Schema::Array(w_array), Schema::Array(r_array)) => {
                let items = self.lazily(
                    Side {
                        schema: &w_array.items,
                        ..writer
                    },
                    Side {
                        schema: &r_array.items,
                        ..reader
                    },
                );
                Ok(self.push(Step::Array(items)))
            }
            (Schema::Map(w_map), Schema::Map(r_map)) => {
                let values = self.lazily(
                    Side {
                        schema: &w_map.types,
                        ..writer
                    },
                    Side {
                        schema: &r_map.types,
                        ..reader
                    },
                );
                Ok(self.push(Step::Map(values)))
            }
            _ => {
                check_plain(w, r)?;
                let same = std::mem::discriminant(w) == std::mem::discriminant(r)
                    && matches!(
                        w,
                        Schema::Null
                            | Schema::Boolean
                            | Schema::Int
                            | Schema::Long
                            | Schema::Float
                            | Schema::Double
                            | Schema::Bytes
                            | Schema::String
                    );
                Ok(self.push(match same {
                    true => Step::Same,
                    false => Step::Plain(Box::new((w.clone(), r.clone()))),
                }))
            }
        }
    }
}

/// `error`, said of the field `name`.
fn within(name: &str, error: AvroError) -> AvroError {
    AvroError::new(error.kind(), format!("field {name}: {error}"))
}
