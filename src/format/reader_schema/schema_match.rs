//! Whether a writer schema can be read as the reader schema at all: checked once, when the
//! writer schema is admitted, so that a pair the Avro specification's rules cannot resolve
//! is refused once per schema id (and every record written with it is a decode error without
//! being decoded), rather than found out again record by record.
//!
//! The rules are those of the value resolver above, applied to the schemas: the same named
//! types (by unqualified name or a reader alias), a reader field the writer lacks needs a
//! default, arrays by their items, maps by their values, the same underlying type or a
//! promotion, decimals of the same scale and precision, fixed types of the same name and
//! size. What depends on the data stays with the resolver: a writer union passes when one of
//! its branches can be read (a record on another branch is an error then), and an enum when
//! its name matches (a symbol the reader lacks, without a default, is an error then).

use std::collections::HashSet;

use apache_avro::schema::{Name, Schema};

use super::{
    base, cannot, fixed_names_match, promotes_base, same_name, union_branch, unresolvable,
    AvroError, Names, Side,
};

/// `Ok` if some datum written with `writer` (whose names are `writer_names`) can be read as
/// `reader`; else why none can.
pub(crate) fn check_resolvable(
    writer: &Schema,
    writer_names: &Names,
    reader: &Schema,
    reader_names: &Names,
) -> Result<(), AvroError> {
    let none = None;
    // Defaults are not built here: the budget is never charged.
    let budget = std::cell::Cell::new(0);
    let mut seen = HashSet::new();
    check(
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
        &mut seen,
    )
}

/// Pairs of named records already being checked: a recursive schema meets them again, and
/// what is being checked is taken as matching there (any mismatch is found on the first
/// visit).
type Seen = HashSet<(Name, Name)>;

fn check(writer: Side<'_>, reader: Side<'_>, seen: &mut Seen) -> Result<(), AvroError> {
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
    if let Schema::Union(union) = w {
        let mut first_error = None;
        for branch in union.variants() {
            let branch = Side {
                schema: branch,
                ..writer
            };
            match check(branch, reader, seen) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        return Err(first_error
            .unwrap_or_else(|| unresolvable("the writer's union has no branches".to_string())));
    }
    if let Schema::Union(union) = r {
        let Some((_, branch)) = union_branch(writer, union, reader) else {
            return Err(unresolvable(format!(
                "no branch of the reader's union takes a {}",
                super::type_name(w)
            )));
        };
        let branch = Side {
            schema: branch,
            ..reader
        };
        return check(writer, branch, seen);
    }
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
            if !seen.insert(pair) {
                return Ok(());
            }
            for field in &r_record.fields {
                let names = std::iter::once(&field.name).chain(field.aliases.iter().flatten());
                let written = names
                    .filter_map(|name| w_record.fields.iter().find(|f| &f.name == name))
                    .next();
                match written {
                    Some(written) => check(
                        Side {
                            schema: &written.schema,
                            ..writer
                        },
                        Side {
                            schema: &field.schema,
                            ..reader
                        },
                        seen,
                    )
                    .map_err(|e| within(&field.name, e))?,
                    None if field.default.is_some() => {}
                    None => {
                        return Err(unresolvable(format!(
                            "the writer has no field {} and the reader's has no default",
                            field.name
                        )))
                    }
                }
            }
            Ok(())
        }
        (Schema::Enum(w_enum), Schema::Enum(r_enum)) => {
            same_name(&w_enum.name, r_enum.name.name.as_str(), &r_enum.aliases)
        }
        (Schema::Array(w_array), Schema::Array(r_array)) => check(
            Side {
                schema: &w_array.items,
                ..writer
            },
            Side {
                schema: &r_array.items,
                ..reader
            },
            seen,
        ),
        (Schema::Map(w_map), Schema::Map(r_map)) => check(
            Side {
                schema: &w_map.types,
                ..writer
            },
            Side {
                schema: &r_map.types,
                ..reader
            },
            seen,
        ),
        _ => check_plain(w, r),
    }
}

/// A primitive or logical type: as the value resolver reads one (`resolve_plain`).
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

/// `error`, said of the field `name`.
fn within(name: &str, error: AvroError) -> AvroError {
    AvroError::new(error.kind(), format!("field {name}: {error}"))
}
