//! Avro's `int` and `long` on the wire: zig-zag, then a base-128 varint of at most 10 bytes.
//! Shared by the direct path and the resolving decoder, which word their errors differently.

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ends inside the varint.
    Truncated,
    /// More than 64 bits: a 10th byte above 1, or an 11th byte.
    Overflow,
}

/// Writes an Avro `long`: zig-zag, then base-128 varint.
pub(crate) fn write_long(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Reads an Avro `long`; returns it and the bytes used (never more than `input` holds).
pub(crate) fn read_long(input: &[u8]) -> Result<(i64, usize), VarintError> {
    let mut z: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            break;
        }
        z |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let n = ((z >> 1) as i64) ^ -((z & 1) as i64);
            return Ok((n, i + 1));
        }
    }
    if input.len() < 10 && input.last().is_none_or(|b| b & 0x80 != 0) {
        Err(VarintError::Truncated)
    } else {
        Err(VarintError::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_encoding_matches_the_avro_spec() {
        for (n, bytes) in [
            (0i64, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
            (
                i64::MAX,
                vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
            (
                i64::MIN,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            write_long(n, &mut out);
            assert_eq!(out, bytes, "{n}");
            assert_eq!(read_long(&bytes), Ok((n, bytes.len())), "{n}");
        }
    }

    #[test]
    fn bad_varints_are_truncated_or_overflowing() {
        assert_eq!(read_long(&[]), Err(VarintError::Truncated));
        assert_eq!(read_long(&[0x80, 0x80]), Err(VarintError::Truncated));
        assert_eq!(read_long(&[0xff; 11]), Err(VarintError::Overflow));
        let mut tenth_too_big = vec![0xff; 9];
        tenth_too_big.push(0x02);
        assert_eq!(read_long(&tenth_too_big), Err(VarintError::Overflow));
        // A non-minimal encoding is still the same number.
        assert_eq!(read_long(&[0x82, 0x00]), Ok((1, 2)));
    }
}
