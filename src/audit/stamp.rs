//! The audit stamp: one header, `kad.audit`, that the producer puts on every record and the
//! consumers read back. The Avro value stays `User { name }`; other producers' records simply
//! have no stamp and are not audited.
//!
//! One fixed-size binary header rather than one header per field: one header to add per record
//! and one to look up, a length check that rejects anything else, and a version byte to grow
//! by. Layout (42 bytes, integers big-endian):
//!
//! | bytes  | field                                                                   |
//! |--------|-------------------------------------------------------------------------|
//! | 0      | version: 2 (this daemon writes 2, reads 1 and 2)                        |
//! | 1      | flags: bit 0 idempotence on, bit 1 `acks=all`                           |
//! | 2..18  | run id: a random UUID per producer start                                |
//! | 18..26 | sequence number in its partition, within the run; below 2^64−1          |
//! | 26..34 | send time, microseconds since the Unix epoch                            |
//! | 34..42 | v2: the run's failed deliveries in this partition so far; v1: all of them |
//!
//! Versions 1 and 2 differ only in what bytes 34..42 count, so during an upgrade old and new
//! producers mix on one topic and every reader judges both alike. The count is information
//! for the log only: what a loss counts as never depends on a stamp's content
//! ([`super::own_run`]), since anyone who can write to the topic can write one.

use std::fmt;

/// Header key of the stamp.
pub const HEADER_AUDIT: &str = "kad.audit";

/// Length of a stamp, versions 1 and 2.
pub(crate) const STAMP_LEN: usize = 42;

/// The version this daemon writes.
const VERSION: u8 = 2;
/// The version before: bytes 34..42 counted failed deliveries in all partitions.
const VERSION_1: u8 = 1;
const FLAG_IDEMPOTENT: u8 = 1;
const FLAG_ACKS_ALL: u8 = 2;

/// A producer run: one start of a producer, with its own sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RunId(pub(crate) [u8; 16]);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        uuid::Uuid::from_bytes(self.0).hyphenated().fmt(f)
    }
}

/// What one record's stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) run: RunId,
    /// Whether the producer wrote with idempotence and `acks=all`: then its records are in a
    /// partition exactly once and in order, and a duplicate or a reordering is a fault.
    pub(crate) ordered: bool,
    /// Below `u64::MAX`, which no producer reaches (so one past it is always a number).
    pub(crate) sequence: u64,
    pub(crate) sent_us: u64,
    /// What the stamp says the run's failed deliveries in this partition were when it was
    /// sent; `None` in a version-1 stamp. Never trusted: only logged.
    pub(crate) failed_in_partition: Option<u64>,
}

/// Why a `kad.audit` header is not a stamp this daemon can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StampError {
    Length(usize),
    Version(u8),
    /// Sequence number 2^64−1: no producer writes it (its stamper would have numbered 2^64−1
    /// records before), and a reader could not expect a number after it.
    LastSequence,
}

impl fmt::Display for StampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StampError::Length(n) => {
                write!(f, "{HEADER_AUDIT} header of {n} bytes, not {STAMP_LEN}")
            }
            StampError::Version(v) => {
                write!(
                    f,
                    "{HEADER_AUDIT} header version {v}, not {VERSION_1} or {VERSION}"
                )
            }
            StampError::LastSequence => {
                write!(
                    f,
                    "{HEADER_AUDIT} sequence number 2^64-1, which no producer writes"
                )
            }
        }
    }
}

impl Stamp {
    pub(crate) fn encode(&self) -> [u8; STAMP_LEN] {
        let mut out = [0u8; STAMP_LEN];
        out[0] = VERSION;
        out[1] = if self.ordered {
            FLAG_IDEMPOTENT | FLAG_ACKS_ALL
        } else {
            0
        };
        out[2..18].copy_from_slice(&self.run.0);
        out[18..26].copy_from_slice(&self.sequence.to_be_bytes());
        out[26..34].copy_from_slice(&self.sent_us.to_be_bytes());
        let failed = self.failed_in_partition.unwrap_or(0);
        out[34..42].copy_from_slice(&failed.to_be_bytes());
        out
    }

    /// Reads a stamp of version 1 or 2; anything else is refused, as is the sequence number
    /// 2^64−1 (unknown flag bits are ignored, so a later producer can add some).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Stamp, StampError> {
        let bytes: &[u8; STAMP_LEN] = bytes
            .try_into()
            .map_err(|_| StampError::Length(bytes.len()))?;
        let version = bytes[0];
        if version != VERSION && version != VERSION_1 {
            return Err(StampError::Version(version));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let mut run = [0u8; 16];
        run.copy_from_slice(&bytes[2..18]);
        let flags = bytes[1];
        let sequence = u64_at(18);
        if sequence == u64::MAX {
            return Err(StampError::LastSequence);
        }
        Ok(Stamp {
            run: RunId(run),
            ordered: flags & (FLAG_IDEMPOTENT | FLAG_ACKS_ALL) == FLAG_IDEMPOTENT | FLAG_ACKS_ALL,
            sequence,
            sent_us: u64_at(26),
            failed_in_partition: (version == VERSION).then(|| u64_at(34)),
        })
    }
}

/// Finds the stamp among a message's headers: `None` without a `kad.audit` header. With
/// several, the last one counts (as for Kafka headers generally).
pub(crate) fn find_stamp<'h>(
    headers: impl Iterator<Item = (&'h [u8], Option<&'h [u8]>)>,
) -> Option<Result<Stamp, StampError>> {
    let mut found = None;
    for (key, value) in headers {
        if key == HEADER_AUDIT.as_bytes() {
            found = Some(value.unwrap_or_default());
        }
    }
    found.map(Stamp::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            run: RunId([7; 16]),
            ordered: true,
            sequence: 0x0102_0304_0506_0708,
            sent_us: 1_700_000_000_000_000,
            failed_in_partition: Some(3),
        }
    }

    #[test]
    fn a_stamp_reads_back_as_written() {
        for ordered in [true, false] {
            let s = Stamp { ordered, ..stamp() };
            assert_eq!(Stamp::parse(&s.encode()), Ok(s));
        }
        let bytes = stamp().encode();
        assert_eq!(bytes[0], 2);
        assert_eq!(&bytes[18..26], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[34..42], &[0, 0, 0, 0, 0, 0, 0, 3]);
    }

    #[test]
    fn a_version_1_stamp_is_read_without_its_count() {
        let mut v1 = stamp().encode();
        v1[0] = 1;
        v1[34..42].copy_from_slice(&u64::MAX.to_be_bytes());
        let read = Stamp::parse(&v1).expect("version 1 is read");
        assert_eq!(
            read,
            Stamp {
                failed_in_partition: None,
                ..stamp()
            }
        );
    }

    #[test]
    fn the_last_sequence_number_is_refused() {
        let last = Stamp {
            sequence: u64::MAX,
            ..stamp()
        };
        assert_eq!(Stamp::parse(&last.encode()), Err(StampError::LastSequence));
        let before = Stamp {
            sequence: u64::MAX - 1,
            ..stamp()
        };
        assert_eq!(Stamp::parse(&before.encode()), Ok(before));
    }

    #[test]
    fn anything_but_the_layout_is_refused() {
        let good = stamp().encode();
        assert_eq!(Stamp::parse(&good[..41]), Err(StampError::Length(41)));
        assert_eq!(Stamp::parse(&[]), Err(StampError::Length(0)));
        let mut longer = good.to_vec();
        longer.push(0);
        assert_eq!(Stamp::parse(&longer), Err(StampError::Length(43)));
        for version in [0, 3, 255] {
            let mut other = good;
            other[0] = version;
            assert_eq!(Stamp::parse(&other), Err(StampError::Version(version)));
        }
        // Only both flags make an ordered run; unknown bits are ignored.
        let mut one_flag = good;
        one_flag[1] = FLAG_IDEMPOTENT | 0x80;
        assert!(!Stamp::parse(&one_flag).map(|s| s.ordered).unwrap_or(true));
    }

    #[test]
    fn the_last_audit_header_counts_and_others_are_ignored() {
        let first = stamp().encode();
        let second = Stamp {
            sequence: 9,
            ..stamp()
        }
        .encode();
        let audit = HEADER_AUDIT.as_bytes();
        let headers = [
            (&b"other"[..], Some(&b"x"[..])),
            (&b"\xff\xfe"[..], Some(&b"v"[..])),
            (audit, Some(&first[..])),
            (audit, Some(&second[..])),
        ];
        let found = find_stamp(headers.iter().copied());
        assert_eq!(found.and_then(Result::ok).map(|s| s.sequence), Some(9));
        assert_eq!(find_stamp([(&b"other"[..], None)].into_iter()), None);
        assert_eq!(
            find_stamp([(audit, None)].into_iter()),
            Some(Err(StampError::Length(0)))
        );
    }
}
