//! Zero-copy, allocation-free, depth-capped bencode decoder for untrusted
//! network payloads (DHT KRPC datagrams, tracker replies), plus a tiny
//! encoder for tests.
//!
//! # Grammar (BEP 3, parsed strictly)
//!
//! ```text
//! value   = int | bytes | list | dict
//! int     = "i" ( "0" | [ "-" ] nonzero *digit ) "e"      ; must fit in i64
//! bytes   = length ":" <length raw bytes>
//! length  = "0" | nonzero *digit                          ; at most 19 digits
//! list    = "l" *value "e"
//! dict    = "d" *( bytes value ) "e"                      ; keys are byte strings
//! nonzero = "1" .. "9"
//! digit   = "0" .. "9"
//! ```
//!
//! Rejected as [`Error::Malformed`]: leading zeros (`i03e`, `03:abc`), `i-0e`,
//! empty integers (`ie`, `i-e`), integers outside `i64`, string lengths of
//! more than 19 digits (or overflowing `usize`), non-string dictionary keys,
//! and any byte that cannot start a value.
//!
//! Deliberately *accepted*, because real clients are sloppy: dictionary keys
//! in any order and duplicate keys ([`Dict::get`] returns the first match).
//!
//! # Errors: incomplete versus malformed
//!
//! Detectors see payloads split across TCP segments, so the decoder separates
//! "wait for more bytes" from "this is garbage":
//!
//! * [`Error::Incomplete`]: the input ends before the value does. Every strict
//!   prefix of a valid encoding yields `Incomplete`, never `Malformed`. A string
//!   whose declared length exceeds the remaining input is `Incomplete` too (the
//!   bytes could still arrive).
//! * [`Error::Malformed`]: no continuation can ever make the input valid. The
//!   offset is the first byte that proves it; the decoder never looks past that
//!   byte, so appending data to a malformed input keeps the same error.
//! * [`Error::TooDeep`]: a container nested more than `max_depth` levels.
//! * [`Error::Trailing`]: only from [`decode_exact`], bytes after the value.
//!
//! # Limits
//!
//! * Nesting: [`decode`] allows [`DEFAULT_MAX_DEPTH`] (24) nested containers;
//!   the outermost list or dictionary is level 1, so `max_depth == 0` admits
//!   only integers and strings. [`decode_with_depth`] takes another limit, which
//!   is clamped to [`MAX_DEPTH_LIMIT`] (the size of the fixed validation stack).
//! * Integers: `i64`. String lengths: at most 19 decimal digits and `usize`.
//!
//! # Safety rules
//!
//! * No input can make any function of this crate panic, overflow the stack,
//!   or allocate: validation is one iterative pass with a fixed-size bit stack
//!   of container kinds (no recursion, no heap), and there is no `unsafe`.
//! * After validation, [`List`] and [`Dict`] hold the validated raw bytes;
//!   their iterators re-walk those bytes lazily (skipping a nested container
//!   rescans it, which the depth cap bounds to `O(len · depth)`). They cannot
//!   fail on validated input, and if the impossible happens they end iteration
//!   instead of panicking.
//!
//! # Why in-house
//!
//! The common crates (`serde_bencode`, `bt_bencode`, ...) decode recursively
//! and abort the process with a stack overflow on deeply nested input such as
//! ten thousand `l` bytes, which any peer can send. They also allocate owned
//! trees per packet and do not distinguish a truncated value from a malformed
//! one. This decoder is zero-copy (every string borrows from the input), runs
//! once per DHT datagram, and needs none of that.
//!
//! # Example
//!
//! ```
//! use swarmwall_bencode as bencode;
//!
//! let msg = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
//! let value = bencode::decode_exact(msg)?;
//! let dict = value.as_dict().ok_or("not a dict")?;
//! assert_eq!(dict.get_bytes(b"q"), Some(&b"ping"[..]));
//! assert_eq!(dict.get_dict(b"a").and_then(|a| a.get_bytes(b"id")).map(<[u8]>::len), Some(20));
//! assert_eq!(bencode::decode(b"i42e junk"), Ok((bencode::Value::Int(42), 4)));
//! assert_eq!(bencode::decode(b"5:ab"), Err(bencode::Error::Incomplete));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod decode;
pub mod encode;
mod value;

pub use decode::{decode, decode_exact, decode_with_depth};
pub use value::{Dict, DictIter, List, ListIter, Value};

use core::fmt;

/// Nesting limit used by [`decode`] and [`decode_exact`]: up to 24 nested
/// lists/dictionaries (KRPC and tracker messages need 3).
pub const DEFAULT_MAX_DEPTH: usize = 24;

/// Largest nesting limit [`decode_with_depth`] honours; larger values are
/// clamped to it. It is the capacity of the fixed validation stack.
pub const MAX_DEPTH_LIMIT: usize = 256;

/// Why decoding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The input ends before the value does: more bytes could make it valid
    /// (a detector waits for the next TCP segment).
    Incomplete,
    /// The bytes can never be valid bencode, whatever follows them.
    Malformed {
        /// Offset of the first byte that cannot be valid.
        offset: usize,
        /// What was expected at `offset`, e.g. `"digit"`,
        /// `"':' after string length"`, `"'e' ending integer"`,
        /// `"string key in dictionary"`.
        expected: &'static str,
    },
    /// A list or dictionary is nested more than the allowed depth.
    TooDeep {
        /// Offset of the `l` or `d` that exceeds the limit.
        offset: usize,
    },
    /// [`decode_exact`] found bytes after a complete value.
    Trailing {
        /// Offset of the first byte after the value (its length).
        offset: usize,
    },
}

impl Error {
    /// True for [`Error::Incomplete`]: waiting for more input may help.
    #[must_use]
    pub const fn is_incomplete(&self) -> bool {
        matches!(self, Self::Incomplete)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete => f.write_str("incomplete bencode: input ends inside a value"),
            Self::Malformed { offset, expected } => {
                write!(f, "malformed bencode at byte {offset}: expected {expected}")
            }
            Self::TooDeep { offset } => {
                write!(f, "bencode nested too deeply at byte {offset}")
            }
            Self::Trailing { offset } => {
                write!(f, "trailing bytes after bencode value at byte {offset}")
            }
        }
    }
}

impl std::error::Error for Error {}
