//! The error every part of the format's Avro side returns, and its common constructors: the
//! one file the others all import, so that imports inside `format/` point one way.

use std::fmt;

/// Why a writer schema or a datum could not be read into (or a value written as) the record
/// type: what a [`crate::ValueDecoder`] or [`crate::ValueEncoder`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvroError {
    kind: AvroErrorKind,
    message: String,
}

/// What kind of problem an [`AvroError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AvroErrorKind {
    /// The writer schema is not valid Avro, or no record written with it can become the
    /// record type.
    Schema,
    /// The datum ends before the value it encodes, or claims more bytes or items than it has.
    Truncated,
    /// The bytes are no valid encoding for the writer schema: a bad number, boolean, union or
    /// enum index, invalid UTF-8, bytes left over after the record.
    Malformed,
    /// A valid encoding whose value cannot become the record type, e.g. a null `name` for a
    /// `User`.
    Unresolvable,
    /// Beyond what the decoder allows one record: nesting depth, values visited, name size.
    Limit,
}

impl AvroError {
    /// An error of `kind`, said in one line by `message` (a value decoder or encoder of
    /// your own returns these).
    pub fn new(kind: AvroErrorKind, message: String) -> AvroError {
        AvroError { kind, message }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> AvroErrorKind {
        self.kind
    }
}

impl fmt::Display for AvroError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AvroError {}

/// A writer schema refused, and why (the caller names the schema: "writer schema 7: …").
pub(crate) fn rejected(reason: String) -> AvroError {
    AvroError::new(AvroErrorKind::Schema, reason)
}

/// A writer schema refused for the `User` decoder: said as such.
pub(crate) fn not_a_user(error: AvroError) -> AvroError {
    match error.kind {
        AvroErrorKind::Schema => AvroError::new(
            AvroErrorKind::Schema,
            format!("cannot be read as User: {}", error.message),
        ),
        _ => error,
    }
}

/// A datum with bytes after its record.
pub(crate) fn trailing_bytes(count: usize) -> AvroError {
    AvroError::new(
        AvroErrorKind::Malformed,
        format!("{count} bytes left over after the record"),
    )
}
