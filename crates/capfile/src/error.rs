//! Errors for malformed capture files.

use core::fmt;

/// A malformed or truncated capture file.
///
/// Displays as one line naming the absolute byte offset and what was expected, e.g.
/// `at byte 4120: truncated packet record: header promises 1514 bytes of packet data, file ends
/// after 300`. Callers add the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct Error {
    /// Absolute offset in the file of the start of the header, record or block in which the
    /// problem was found (for [`ErrorKind::BadOption`], of the option itself).
    pub offset: u64,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong with a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The file starts with neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng file (starts with {})", Hex(.magic))]
    NotACapture {
        /// The first four bytes of the file.
        magic: [u8; 4],
    },
    /// The file is empty.
    #[error("empty file: expected a pcap or pcapng file header")]
    EmptyFile,
    /// The file header or section header has a version this parser does not read.
    #[error(
        "unsupported {format} version {major}.{minor}: expected major version {expected_major}"
    )]
    UnsupportedVersion {
        /// `"pcap"` or `"pcapng"`.
        format: &'static str,
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
        /// The major version this parser reads (2 for pcap, 1 for pcapng).
        expected_major: u16,
    },
    /// A pcapng section header block has an invalid byte-order magic.
    #[error(
        "section header block has byte-order magic {}: expected 1a 2b 3c 4d or 4d 3c 2b 1a",
        Hex(.magic)
    )]
    BadByteOrderMagic {
        /// The four bytes found.
        magic: [u8; 4],
    },
    /// A pcapng block length is not a multiple of 4 or is smaller than 12.
    #[error("invalid block length {len}: expected a multiple of 4, at least 12")]
    BadBlockLength {
        /// The block length found.
        len: u32,
    },
    /// A pcapng block is longer than [`MAX_BLOCK_LEN`](crate::MAX_BLOCK_LEN).
    #[error("block length {len} exceeds the limit of {max} bytes")]
    BlockTooLarge {
        /// The block length found.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// A pcapng block is too short for the fixed fields of its type.
    #[error("{block} of {len} bytes is too short: expected at least {min}")]
    BlockTooShort {
        /// Name of the block type.
        block: &'static str,
        /// The block length found.
        len: u32,
        /// The smallest valid length for this block type.
        min: u32,
    },
    /// A pcap record's captured length exceeds the file's limit.
    #[error("packet record captured length {len} exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// The captured length found.
        len: u32,
        /// The limit: the larger of the file's snapshot length and
        /// [`MAX_PCAP_SNAPLEN`](crate::MAX_PCAP_SNAPLEN), at most
        /// [`MAX_BLOCK_LEN`](crate::MAX_BLOCK_LEN).
        max: u32,
    },
    /// The file ends inside a fixed-size header.
    #[error("truncated {what}: expected {needed} bytes, file ends after {available}")]
    Truncated {
        /// What was cut (e.g. `"pcap record header"`).
        what: &'static str,
        /// Bytes needed from the error's offset.
        needed: u64,
        /// Bytes present from the error's offset.
        available: u64,
    },
    /// The file ends inside a pcap record's packet data.
    #[error(
        "truncated packet record: header promises {promised} bytes of packet data, \
         file ends after {available}"
    )]
    TruncatedRecord {
        /// Captured length from the record header.
        promised: u64,
        /// Packet data bytes present after the record header.
        available: u64,
    },
    /// The file ends inside a pcapng block.
    #[error(
        "truncated {block}: header promises a {promised}-byte block, file ends after {available}"
    )]
    TruncatedBlock {
        /// Name of the block type.
        block: &'static str,
        /// Total block length from the block header.
        promised: u64,
        /// Bytes present from the start of the block.
        available: u64,
    },
    /// A pcapng block's trailing length differs from its leading length.
    #[error("block trailer length {trailer} does not match header length {header}")]
    MismatchedTrailer {
        /// Length at the start of the block.
        header: u32,
        /// Length at the end of the block.
        trailer: u32,
    },
    /// A pcapng packet block's captured length does not fit in the block.
    #[error("{block} captured length {caplen} exceeds the {space} bytes of room in the block")]
    CapturedLengthTooLarge {
        /// Name of the block type.
        block: &'static str,
        /// Captured length found.
        caplen: u32,
        /// Bytes available for packet data in the block.
        space: u32,
    },
    /// A pcapng packet block refers to an interface not described in the current section.
    #[error(
        "packet refers to interface {id}, but the section has only {count} interface description blocks"
    )]
    BadInterface {
        /// Interface id found.
        id: u32,
        /// Number of interfaces described so far in the section.
        count: u32,
    },
    /// A pcapng section has more than [`MAX_INTERFACES`](crate::MAX_INTERFACES) interfaces.
    #[error("more than {max} interface description blocks in one section")]
    TooManyInterfaces {
        /// The limit.
        max: u32,
    },
    /// A pcapng option is malformed.
    #[error("bad option {code} (length {len}) in {block}: expected {expected}")]
    BadOption {
        /// Name of the block type.
        block: &'static str,
        /// Option code.
        code: u16,
        /// Option length found.
        len: u16,
        /// What a valid option looks like.
        expected: &'static str,
    },
    /// [`Parser::finish`](crate::Parser::finish) was given bytes that still hold a complete
    /// header, record or block: the caller stopped calling [`Parser::next`](crate::Parser::next)
    /// too early.
    #[error("{len} unparsed bytes hold a complete record: expected next() to consume them")]
    Unconsumed {
        /// Length of the remainder given to `finish`.
        len: usize,
    },
}

/// Displays bytes as space-separated lowercase hex pairs.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_with_offset() {
        let e = Error {
            offset: 0,
            kind: ErrorKind::NotACapture {
                magic: [0x50, 0x4b, 0x03, 0x04],
            },
        };
        assert_eq!(
            e.to_string(),
            "at byte 0: not a pcap or pcapng file (starts with 50 4b 03 04)"
        );
        let e = Error {
            offset: 4120,
            kind: ErrorKind::TruncatedRecord {
                promised: 1514,
                available: 300,
            },
        };
        assert_eq!(
            e.to_string(),
            "at byte 4120: truncated packet record: header promises 1514 bytes of packet data, \
             file ends after 300"
        );
        let kinds = [
            ErrorKind::EmptyFile,
            ErrorKind::UnsupportedVersion {
                format: "pcap",
                major: 3,
                minor: 0,
                expected_major: 2,
            },
            ErrorKind::BadByteOrderMagic {
                magic: [1, 2, 3, 4],
            },
            ErrorKind::BadBlockLength { len: 13 },
            ErrorKind::BlockTooLarge {
                len: 1 << 30,
                max: 16 << 20,
            },
            ErrorKind::BlockTooShort {
                block: "enhanced packet block",
                len: 16,
                min: 32,
            },
            ErrorKind::RecordTooLarge {
                len: 1 << 30,
                max: 262_144,
            },
            ErrorKind::Truncated {
                what: "pcap record header",
                needed: 16,
                available: 3,
            },
            ErrorKind::TruncatedBlock {
                block: "enhanced packet block",
                promised: 100,
                available: 50,
            },
            ErrorKind::MismatchedTrailer {
                header: 32,
                trailer: 36,
            },
            ErrorKind::CapturedLengthTooLarge {
                block: "enhanced packet block",
                caplen: 100,
                space: 8,
            },
            ErrorKind::BadInterface { id: 3, count: 1 },
            ErrorKind::TooManyInterfaces { max: 65_536 },
            ErrorKind::BadOption {
                block: "interface description block",
                code: 9,
                len: 2,
                expected: "a 1-byte value",
            },
            ErrorKind::Unconsumed { len: 40 },
        ];
        for kind in kinds {
            let s = Error { offset: 77, kind }.to_string();
            assert!(s.starts_with("at byte 77: "), "{s}");
            assert!(!s.contains('\n'), "{s}");
        }
    }
}
