//! Valid records for a generated writer schema ([`Model`]), encoded by hand, each with the
//! `User` it must become: blocks with negative counts and sizes, every union branch, `User`s
//! nested as deep as asked.

use super::writer_schemas::{Model, Named, Ty};
use super::Rng;

/// The `User` a valid datum must become, or `None` when it cannot become one (a null or an
/// `int` name, a `bytes` name that is not UTF-8, a null record).
pub type Expected = Option<String>;

impl Model {
    /// A valid datum and the `User` it must become. `nesting` is how many `User`s deep values
    /// may go; `deep` makes every choice that can nest nest.
    pub fn datum(&self, rng: &mut Rng, nesting: usize, deep: bool) -> (Vec<u8>, Expected) {
        let mut out = Vec::new();
        if self.top_union {
            if rng.below(8) == 0 {
                out.push(0x00); // null
                return (out, None);
            }
            out.push(0x02);
        }
        let mut writer = DatumWriter {
            model: self,
            rng,
            deep,
            values_left: if deep { 4_000 } else { 300 },
        };
        let expected = writer.user(&mut out, nesting);
        (out, expected)
    }
}

struct DatumWriter<'m, 'r> {
    model: &'m Model,
    rng: &'r mut Rng,
    deep: bool,
    /// Values still to write before every choice ends nesting (a `User` may hold several).
    values_left: usize,
}

impl DatumWriter<'_, '_> {
    /// One `User` record; returns what its `name` must become.
    fn user(&mut self, out: &mut Vec<u8>, nesting: usize) -> Expected {
        let mut expected = None;
        for (field, ty) in &self.model.fields {
            if field == "name" {
                expected = self.name(ty, out);
            } else {
                self.value(ty, out, nesting);
            }
        }
        expected
    }

    fn name(&mut self, ty: &Ty, out: &mut Vec<u8>) -> Expected {
        match ty {
            Ty::Str => {
                let text = self.text();
                write_bytes(text.as_bytes(), out);
                Some(text)
            }
            Ty::Bytes => {
                let bytes = if self.rng.below(8) == 0 {
                    self.rng.bytes(3)
                } else {
                    self.text().into_bytes()
                };
                write_bytes(&bytes, out);
                String::from_utf8(bytes).ok()
            }
            Ty::Named(i) => match &self.model.named[*i] {
                Named::Fixed { size, .. } => {
                    let bytes: Vec<u8> = if self.rng.below(8) == 0 {
                        self.rng.bytes(*size)
                    } else {
                        (0..*size)
                            .map(|_| b'a' + self.rng.below(26) as u8)
                            .collect()
                    };
                    out.extend_from_slice(&bytes);
                    String::from_utf8(bytes).ok()
                }
                _ => {
                    self.value(ty, out, 0);
                    None
                }
            },
            Ty::Union(branches) => {
                let index = self.rng.below(branches.len() as u64) as usize;
                write_long(index as i64, out);
                match &branches[index] {
                    branch @ (Ty::Str | Ty::Bytes) => self.name(branch, out),
                    other => {
                        self.value(other, out, 0);
                        None
                    }
                }
            }
            other => {
                self.value(other, out, 0);
                None
            }
        }
    }

    /// Any valid value of `ty`; `User`s inside it go at most `nesting` deep.
    fn value(&mut self, ty: &Ty, out: &mut Vec<u8>, nesting: usize) {
        self.values_left = self.values_left.saturating_sub(1);
        let nesting = if self.values_left == 0 { 0 } else { nesting };
        match ty {
            Ty::Null => {}
            Ty::Boolean => out.push(self.rng.below(2) as u8),
            Ty::Int | Ty::Date => {
                write_long(i64::from(self.rng.next() as i32) >> self.rng.below(32), out)
            }
            Ty::Long | Ty::TimestampMillis => {
                write_long((self.rng.next() as i64) >> self.rng.below(64), out)
            }
            Ty::Float => out.extend(self.rng.bytes(4)),
            Ty::Double => out.extend(self.rng.bytes(8)),
            Ty::Bytes | Ty::Decimal => {
                let len = self.rng.below(6) as usize;
                write_bytes(&self.rng.bytes(len), out);
            }
            Ty::Str => {
                let text = self.text();
                write_bytes(text.as_bytes(), out);
            }
            Ty::Uuid => {
                let uuid = format!(
                    "{:032x}",
                    u128::from(self.rng.next()) << 64 | u128::from(self.rng.next())
                );
                let text = format!(
                    "{}-{}-{}-{}-{}",
                    &uuid[..8],
                    &uuid[8..12],
                    &uuid[12..16],
                    &uuid[16..20],
                    &uuid[20..]
                );
                write_bytes(text.as_bytes(), out);
            }
            Ty::Named(i) => match &self.model.named[*i] {
                Named::Fixed { size, .. } => out.extend(self.rng.bytes(*size)),
                Named::Enum { symbols } => write_long(self.rng.below(*symbols as u64) as i64, out),
                Named::Record { fields } => {
                    for (_, field) in fields {
                        self.value(field, out, nesting);
                    }
                }
            },
            Ty::Array(items) => self.blocks(out, nesting, items, false),
            Ty::Map(values) => self.blocks(out, nesting, values, true),
            Ty::Union(branches) => {
                let choices: Vec<usize> = (0..branches.len())
                    .filter(|&i| nesting > 0 || !matches!(branches[i], Ty::User))
                    .collect();
                let nest = choices
                    .iter()
                    .copied()
                    .find(|&i| matches!(branches[i], Ty::User));
                let index = match nest {
                    Some(i) if self.deep => i,
                    _ => choices[self.rng.below(choices.len() as u64) as usize],
                };
                write_long(index as i64, out);
                self.value(&branches[index], out, nesting);
            }
            Ty::User => {
                self.user(out, nesting.saturating_sub(1));
            }
        }
    }

    /// Array items or map entries, in blocks: some with a negative count and a byte size.
    fn blocks(&mut self, out: &mut Vec<u8>, nesting: usize, item: &Ty, keyed: bool) {
        let holds_user = matches!(item, Ty::User);
        let can_fill = !holds_user || nesting > 0;
        let blocks = if can_fill && self.values_left > 0 {
            self.rng.below(3)
        } else {
            0
        };
        for _ in 0..blocks {
            let count = if self.deep && holds_user {
                1
            } else {
                1 + self.rng.below(3) as i64
            };
            let mut block = Vec::new();
            for _ in 0..count {
                if keyed {
                    let key = self.text();
                    write_bytes(key.as_bytes(), &mut block);
                }
                self.value(item, &mut block, nesting);
            }
            if self.rng.below(3) == 0 {
                write_long(-count, out);
                write_long(block.len() as i64, out);
            } else {
                write_long(count, out);
            }
            out.extend(block);
        }
        out.push(0);
    }

    fn text(&mut self) -> String {
        let len = self.rng.below(12);
        (0..len)
            .map(|_| match self.rng.below(8) {
                0 => char::from_u32(0x80 + self.rng.below(0x2f00) as u32).unwrap_or('é'),
                1 => '🦀',
                _ => (b'a' + self.rng.below(26) as u8) as char,
            })
            .collect()
    }
}

pub fn write_long(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn write_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    write_long(bytes.len() as i64, out);
    out.extend_from_slice(bytes);
}
