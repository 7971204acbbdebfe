//! A generic value as one line of JSON in the Avro JSON encoding (Avro 1.11 specification,
//! "JSON Encoding"): [`write_avro_json`], for a console consumer that prints records the way
//! Confluent's `kafka-avro-console-consumer` (Java Avro's `JsonEncoder`, on Jackson) and
//! fastavro's `json_writer` print them, so its lines can be compared with theirs and read back
//! by an Avro JSON decoder with the same schema.
//!
//! The encoding needs the schema beside the value, which is why this is not serde_json on the
//! [`Value`]: a union branch is written as `{"<branch type name>": value}` (its null branch as
//! `null`), bytes and fixed as strings of one character per byte (U+0000..U+00FF), enums as
//! their symbol, records with their fields in schema order, logical types as the underlying
//! type the schema names. The value is walked beside its schema; a value that does not match
//! it is an [`AvroError`] naming where (a decoded value always matches: this guards against
//! a schema and a value that were not paired by the decoder), never a panic, and leaves `out`
//! as it was.
//!
//! What the specification leaves open, and whose behaviour is followed:
//! - NaN and the infinities, which JSON lacks: the strings `"NaN"`, `"Infinity"`,
//!   `"-Infinity"`, as Jackson writes them by default (fastavro writes Python's bare `NaN`,
//!   which is no JSON).
//! - Numbers: a float or double as the shortest text that reads back as the same `f32` or
//!   `f64` (never a float widened to a double: `0.1`, not `0.10000000149011612`), written as
//!   serde_json writes them: whole numbers with `.0`, very large or small ones with an
//!   exponent (`1.0`, `1e+30`, `1e-7`), as fastavro (Python's `repr`) writes them; Jackson
//!   writes Java's `Float.toString` (`1.0`, `1.0E30`), the same numbers. Rust's `{}` would
//!   write `1` and thirty-one digits for `1e30`.
//! - String escaping as Jackson's: `"`, `\` and the characters below U+0020 (`\b \t \n \f \r`
//!   short, the others `\u00XX` with upper-case hex); everything else, U+007F and non-ASCII
//!   included, as UTF-8 (fastavro, on Python's `json`, escapes every non-ASCII character).
//!   Bytes and fixed follow the same rule, so a byte 0x80..0xFF is its Latin-1 character in
//!   UTF-8.
//! - Map keys in sorted order: apache-avro's [`Value::Map`] is a hash map, so the datum's
//!   order is gone (Java prints its own `HashMap`'s order, no more the datum's); sorted, the
//!   same record always prints the same line.
//! - A union branch's name is the type's full name (`namespace.Name`) for records, enums and
//!   fixed, else the type name (`"int"`, `"array"`, `"map"`); a logical type is named by its
//!   underlying type (`"long"` for a timestamp, `"bytes"` or the fixed's full name for a
//!   decimal): what Java's `Schema.getFullName()` gives, which its `JsonEncoder` writes.
//! - apache-avro 0.21 parses a `duration`'s fixed into `Schema::Duration` and drops the
//!   fixed's name: a duration branch is named `"duration"`, the name apache-avro gives that
//!   fixed when it writes the schema back out (Java writes the fixed's own name). It also
//!   parses `uuid` on a 16-byte fixed as `Schema::Uuid` (and reads it as `bytes`): every uuid
//!   is written as its hyphenated lower-case text, named `"string"`.
//! - Logical types as their underlying values: dates and times as the numbers on the wire, a
//!   uuid as its text, a duration as its 12 bytes, a decimal as its two's-complement
//!   big-endian bytes (as many as the datum had for `bytes`; sign-extended to the fixed's
//!   size for `fixed`) — what Confluent's tool prints, which converts no logical types. A
//!   `big-decimal` (Avro 1.12) as the bytes apache-avro encodes for it: a `long` length, the
//!   unscaled value's two's-complement big-endian bytes, a `long` scale, which is the layout
//!   of Java's `BigDecimalConversion`.

use std::fmt::Write as _;

use apache_avro::schema::{Schema, SchemaKind};
use apache_avro::types::Value;
use apache_avro::Decimal;

use super::error::{rejected, AvroError, AvroErrorKind};
use super::nodes::type_name;
use super::reader_schema::Names;
use super::varint::write_long;

/// Deepest value written, in records' fields, array items, map values and union branches. A
/// decoded value is at most 24 records, arrays and maps deep, each behind at most one union
/// (unions do not nest directly), and a reader's default adds at most 64 levels; a
/// hand-built value deeper than this is an error rather than a deeper recursion.
const MAX_DEPTH: usize = 256;

/// Appends `value`, a datum of `schema` (whose named types are `names`), to `out` as Avro
/// JSON: one line, no newline. A decoded value's schema and names are what
/// [`GenericCodec::value_schema`](super::GenericCodec::value_schema) gives. On an error (a
/// value that does not match its schema, a reference to a type `names` lacks, a value deeper
/// than 256 levels) `out` is as it was.
pub(crate) fn write_avro_json(
    value: &Value,
    schema: &Schema,
    names: &Names,
    out: &mut String,
) -> Result<(), AvroError> {
    let start = out.len();
    let mut writer = Writer {
        names,
        path: Vec::new(),
        out: &mut *out,
        start,
    };
    let result = writer.value(value, schema);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// One walk of a value beside its schema.
struct Writer<'a> {
    names: &'a Names,
    /// Where the walk is, for errors; its length is the depth.
    path: Vec<Step<'a>>,
    out: &'a mut String,
    /// Where this value's text began in `out`.
    start: usize,
}

/// The longest text one value is written as: a decoded value takes at most 32 MiB, but bytes
/// below 0x20 take six characters each in JSON.
pub(crate) const MAX_JSON_BYTES: usize = 64 << 20;

/// One step into a value.
enum Step<'a> {
    Field(&'a str),
    Item(usize),
    Key(&'a str),
    Branch,
}

impl<'a> Writer<'a> {
    fn value(&mut self, value: &'a Value, schema: &'a Schema) -> Result<(), AvroError> {
        let schema = self.deref(schema)?;
        match (schema, value) {
            (Schema::Null, Value::Null) => self.out.push_str("null"),
            (Schema::Boolean, Value::Boolean(b)) => {
                self.out.push_str(if *b { "true" } else { "false" })
            }
            (Schema::Int, Value::Int(n))
            | (Schema::Date, Value::Date(n))
            | (Schema::TimeMillis, Value::TimeMillis(n)) => push_display(self.out, n),
            (Schema::Long, Value::Long(n))
            | (Schema::TimeMicros, Value::TimeMicros(n))
            | (Schema::TimestampMillis, Value::TimestampMillis(n))
            | (Schema::TimestampMicros, Value::TimestampMicros(n))
            | (Schema::TimestampNanos, Value::TimestampNanos(n))
            | (Schema::LocalTimestampMillis, Value::LocalTimestampMillis(n))
            | (Schema::LocalTimestampMicros, Value::LocalTimestampMicros(n))
            | (Schema::LocalTimestampNanos, Value::LocalTimestampNanos(n)) => {
                push_display(self.out, n)
            }
            (Schema::Float, Value::Float(x)) => match non_finite(f64::from(*x)) {
                Some(text) => self.out.push_str(text),
                None => self.push_finite(x)?,
            },
            (Schema::Double, Value::Double(x)) => match non_finite(*x) {
                Some(text) => self.out.push_str(text),
                None => self.push_finite(x)?,
            },
            (Schema::Bytes, Value::Bytes(bytes)) => {
                self.room(latin1_len(bytes))?;
                push_latin1(self.out, bytes)
            }
            (Schema::String, Value::String(text)) => {
                self.room(string_len(text))?;
                push_string(self.out, text)
            }
            (Schema::Uuid, Value::Uuid(uuid)) => {
                push_display(self.out, format_args!("\"{}\"", uuid.hyphenated()))
            }
            (Schema::Fixed(fixed), Value::Fixed(size, bytes))
                if *size == fixed.size && bytes.len() == fixed.size =>
            {
                self.room(latin1_len(bytes))?;
                push_latin1(self.out, bytes)
            }
            (Schema::Enum(schema), Value::Enum(index, symbol)) => {
                let listed = usize::try_from(*index)
                    .ok()
                    .and_then(|i| schema.symbols.get(i));
                if listed != Some(symbol) {
                    return Err(self.mismatch(format!(
                        "symbol {symbol:?} at index {index} is not the enum's"
                    )));
                }
                push_string(self.out, symbol)
            }
            (Schema::Decimal(decimal), Value::Decimal(number)) => {
                let bytes = self.decimal_bytes(number)?;
                match self.deref(&decimal.inner)? {
                    Schema::Fixed(fixed) => {
                        let bytes = sign_extended(&bytes, fixed.size).ok_or_else(|| {
                            self.mismatch(format!(
                                "a decimal of {} bytes does not fit a fixed of {}",
                                bytes.len(),
                                fixed.size
                            ))
                        })?;
                        push_latin1(self.out, &bytes)
                    }
                    Schema::Bytes => {
                        self.room(latin1_len(&bytes))?;
                        push_latin1(self.out, &bytes)
                    }
                    other => {
                        return Err(self.mismatch(format!(
                            "a decimal on a {}, neither bytes nor fixed",
                            type_name(other)
                        )))
                    }
                }
            }
            (Schema::BigDecimal, Value::BigDecimal(number)) => {
                let (unscaled, scale) = number.as_bigint_and_exponent();
                let digits = unscaled.to_signed_bytes_be();
                let len = i64::try_from(digits.len())
                    .map_err(|_| self.mismatch("a big-decimal too long to encode".into()))?;
                let mut bytes = Vec::with_capacity(digits.len() + 20);
                write_long(len, &mut bytes);
                bytes.extend_from_slice(&digits);
                write_long(scale, &mut bytes);
                push_latin1(self.out, &bytes)
            }
            (Schema::Duration, Value::Duration(duration)) => {
                push_latin1(self.out, &<[u8; 12]>::from(*duration))
            }
            (Schema::Array(array), Value::Array(items)) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.nested(Step::Item(i), item, &array.items)?;
                }
                self.out.push(']');
            }
            (Schema::Map(map), Value::Map(entries)) => {
                let mut entries: Vec<_> = entries.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                self.out.push('{');
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    push_string(self.out, key);
                    self.out.push(':');
                    self.nested(Step::Key(key), item, &map.types)?;
                }
                self.out.push('}');
            }
            (Schema::Record(record), Value::Record(fields)) => {
                if fields.len() != record.fields.len() {
                    return Err(self.mismatch(format!(
                        "a record of {} fields for {}, which has {}",
                        fields.len(),
                        record.name.fullname(None),
                        record.fields.len()
                    )));
                }
                self.out.push('{');
                for (i, (field, (name, item))) in record.fields.iter().zip(fields).enumerate() {
                    if field.name != *name {
                        return Err(self.mismatch(format!(
                            "field {name:?} where {} has {:?}",
                            record.name.fullname(None),
                            field.name
                        )));
                    }
                    if i > 0 {
                        self.out.push(',');
                    }
                    push_string(self.out, name);
                    self.out.push(':');
                    self.nested(Step::Field(name), item, &field.schema)?;
                }
                self.out.push('}');
            }
            (Schema::Union(union), Value::Union(index, inner)) => {
                let branch = usize::try_from(*index)
                    .ok()
                    .and_then(|i| union.variants().get(i))
                    .ok_or_else(|| {
                        self.mismatch(format!(
                            "branch {index} of a union of {}",
                            union.variants().len()
                        ))
                    })?;
                // The null branch is written bare; every other one inside an object that
                // names it, so that a reader can tell the branches apart.
                if matches!(self.deref(branch)?, Schema::Null) {
                    return self.nested(Step::Branch, inner, branch);
                }
                let name = self.branch_name(branch)?;
                self.out.push('{');
                push_string(self.out, &name);
                self.out.push(':');
                self.nested(Step::Branch, inner, branch)?;
                self.out.push('}');
            }
            (schema, value) => {
                return Err(self.mismatch(format!(
                    "a value of kind {:?} for a {}",
                    SchemaKind::from(value),
                    type_name(schema)
                )))
            }
        }
        Ok(())
    }

    /// Writes `value`, one `step` into the value being written.
    fn nested(
        &mut self,
        step: Step<'a>,
        value: &'a Value,
        schema: &'a Schema,
    ) -> Result<(), AvroError> {
        self.path.push(step);
        if self.path.len() > MAX_DEPTH {
            return Err(AvroError::new(
                AvroErrorKind::Limit,
                format!("a value nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.value(value, schema)?;
        self.path.pop();
        Ok(())
    }

    /// The type a reference names, or the type itself.
    fn deref(&self, schema: &'a Schema) -> Result<&'a Schema, AvroError> {
        let mut schema = schema;
        // A parsed schema's reference holds a full name, and names a record, enum or fixed,
        // never another reference; the bound stops a hand-made cycle of references.
        for _ in 0..=self.names.len() {
            let Schema::Ref { name } = schema else {
                return Ok(schema);
            };
            schema = self.names.get(name).ok_or_else(|| {
                rejected(format!(
                    "type {} is not defined (at {})",
                    name.fullname(None),
                    self.where_()
                ))
            })?;
        }
        Err(rejected(format!(
            "references that name each other in a cycle (at {})",
            self.where_()
        )))
    }

    /// The name a union writes its branch `schema` under: Java's `Schema.getFullName()`.
    fn branch_name(&self, schema: &'a Schema) -> Result<String, AvroError> {
        Ok(match schema {
            Schema::Ref { name } => name.fullname(None),
            Schema::Record(record) => record.name.fullname(None),
            Schema::Enum(schema) => schema.name.fullname(None),
            Schema::Fixed(fixed) => fixed.name.fullname(None),
            Schema::Decimal(decimal) => self.branch_name(&decimal.inner)?,
            Schema::BigDecimal => "bytes".to_string(),
            Schema::Uuid => "string".to_string(),
            Schema::Date | Schema::TimeMillis => "int".to_string(),
            Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => "long".to_string(),
            // apache-avro keeps no name for a duration's fixed (see the module doc).
            Schema::Duration => "duration".to_string(),
            Schema::Union(_) => {
                return Err(self.mismatch("a union directly inside a union".into()));
            }
            primitive_array_or_map => type_name(primitive_array_or_map).to_string(),
        })
    }

    /// A decimal's two's-complement big-endian bytes, as many as it was read from.
    fn decimal_bytes(&self, number: &Decimal) -> Result<Vec<u8>, AvroError> {
        Vec::<u8>::try_from(number).or_else(|e| {
            // apache-avro gives back no bytes for a zero read from none (its shortest zero
            // is one byte, more than it was read from); a decimal is only built from bytes,
            // so that is the one way to get here.
            if *number == Decimal::from([0u8; 0]) {
                Ok(Vec::new())
            } else {
                Err(self.mismatch(format!("a decimal without its bytes: {e}")))
            }
        })
    }

    /// A finite float or double as serde_json writes it: the shortest text that reads back as
    /// the same number.
    fn push_finite<T: serde::Serialize>(&mut self, x: &T) -> Result<(), AvroError> {
        let text = serde_json::to_string(x)
            .map_err(|e| self.mismatch(format!("a number serde_json cannot write: {e}")))?;
        self.out.push_str(&text);
        Ok(())
    }

    /// A value that does not match its schema, said with where it is.
    fn mismatch(&self, what: String) -> AvroError {
        AvroError::new(
            AvroErrorKind::Malformed,
            format!(
                "value at {} does not match its schema: {what}",
                self.where_()
            ),
        )
    }

    /// Where the walk is: `.lines[1].price`, or `the top`.
    fn where_(&self) -> String {
        let mut text = String::new();
        for step in &self.path {
            match step {
                Step::Field(name) => push_display(&mut text, format_args!(".{name}")),
                Step::Item(i) => push_display(&mut text, format_args!("[{i}]")),
                Step::Key(key) => push_display(&mut text, format_args!("[{key:?}]")),
                Step::Branch => {}
            }
        }
        if text.is_empty() {
            text.push_str("the top");
        }
        text
    }
}

/// The JSON text for a NaN or an infinity (JSON has none), as Jackson writes them.
fn non_finite(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("\"NaN\"")
    } else if x == f64::INFINITY {
        Some("\"Infinity\"")
    } else if x == f64::NEG_INFINITY {
        Some("\"-Infinity\"")
    } else {
        None
    }
}

impl Writer<'_> {
    /// Whether `more` characters still fit the value's text.
    fn room(&self, more: usize) -> Result<(), AvroError> {
        let used = self.out.len().saturating_sub(self.start);
        if used.saturating_add(more) > MAX_JSON_BYTES {
            return Err(AvroError::new(
                AvroErrorKind::Limit,
                format!("its Avro JSON would pass {} MiB", MAX_JSON_BYTES >> 20),
            ));
        }
        Ok(())
    }
}

/// How long [`push_latin1`] writes `bytes`.
fn latin1_len(bytes: &[u8]) -> usize {
    2 + bytes
        .iter()
        .map(|&b| escaped_len(char::from(b)))
        .sum::<usize>()
}

/// How long [`push_string`] writes `text`.
fn string_len(text: &str) -> usize {
    2 + text.chars().map(escaped_len).sum::<usize>()
}

/// How long [`push_escaped`] writes `c`.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\t' | '\n' | '\u{c}' | '\r' => 2,
        c if c < ' ' => 6,
        c => c.len_utf8(),
    }
}

/// Bytes as a JSON string of one character per byte (ISO-8859-1).
pub(crate) fn push_latin1(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &byte in bytes {
        push_escaped(out, char::from(byte));
    }
    out.push('"');
}

/// A JSON string.
pub(crate) fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        push_escaped(out, c);
    }
    out.push('"');
}

/// One character of a JSON string, escaped as Jackson escapes it.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{8}' => out.push_str("\\b"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\u{c}' => out.push_str("\\f"),
        '\r' => out.push_str("\\r"),
        c if c < ' ' => push_display(out, format_args!("\\u{:04X}", u32::from(c))),
        c => out.push(c),
    }
}

/// Appends `value`'s text.
fn push_display(out: &mut String, value: impl std::fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{value}");
}

/// Two's-complement big-endian `bytes` as exactly `size` bytes: sign-extended, or stripped
/// of leading sign bytes; `None` if the number needs more than `size`.
fn sign_extended(bytes: &[u8], size: usize) -> Option<Vec<u8>> {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let sign = if negative { 0xFF } else { 0x00 };
    match size.checked_sub(bytes.len()) {
        Some(pad) => {
            let mut out = vec![sign; pad];
            out.extend_from_slice(bytes);
            Some(out)
        }
        None => {
            let (head, tail) = bytes.split_at(bytes.len() - size);
            let same_sign = tail.first().is_none_or(|b| (b & 0x80 != 0) == negative);
            (head.iter().all(|&b| b == sign) && same_sign).then(|| tail.to_vec())
        }
    }
}
