//! Pure BitTorrent wire parsers: no I/O, no flows, no allocation on the parsing paths.
//!
//! | module | protocol |
//! |---|---|
//! | [`handshake`] | peer wire handshake (BEP 3), reserved bits (BEP 4/5/6/10) |
//! | [`peer_id`] | client name and version from a peer id (Azureus, Shadow, Mainline styles) |
//! | [`utp`] | uTorrent Transport Protocol header (BEP 29) |
//! | [`krpc`] | DHT messages (BEP 5, with BEP 33, 44 and 51 queries) |
//! | [`http_tracker`] | HTTP tracker announce/scrape requests and bencoded replies (BEP 3, 7, 23, 48) |
//! | [`udp_tracker`] | UDP tracker protocol (BEP 15) |
//! | [`lsd`] | Local Service Discovery `BT-SEARCH` (BEP 14) |
//! | [`mse`] | what can be seen of Message Stream Encryption without the keys |
//! | [`peer_msg`] | peer wire messages after the handshake, the extension protocol (BEP 10) and PEX (BEP 11) |
//! | [`compact`] | compact peer and node lists shared by DHT and trackers |
//!
//! Every parser takes untrusted bytes. "Need more bytes" ([`Error::Incomplete`]) is kept apart
//! from "this is not that protocol" ([`Error::Invalid`]), because a detector must wait for the
//! next TCP segment in the first case and give up in the second.
//!
//! # Panic rule
//! No input makes this crate panic; parsers check lengths before reading, and views built by a
//! checked constructor never index out of bounds.

pub mod compact;
pub mod handshake;
pub mod http_tracker;
mod id;
pub mod krpc;
pub mod lsd;
pub mod metainfo;
pub mod mse;
pub mod peer_id;
pub mod peer_msg;
pub mod udp_tracker;
pub mod utp;

pub use id::{InfoHash, NodeId, PeerId, hex};

/// Why bytes could not be parsed as a protocol message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The bytes so far are a valid beginning: more may complete the message.
    Incomplete,
    /// The bytes can never be this message; `expected` says what was missing.
    Invalid { expected: &'static str },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Incomplete => f.write_str("incomplete message"),
            Error::Invalid { expected } => write!(f, "expected {expected}"),
        }
    }
}

impl std::error::Error for Error {}

pub(crate) fn invalid<T>(expected: &'static str) -> Result<T, Error> {
    Err(Error::Invalid { expected })
}

/// Reads a fixed-size array at `at`, or `None` if `buf` is too short.
#[inline]
pub(crate) fn array<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[inline]
pub(crate) fn be16(buf: &[u8], at: usize) -> Option<u16> {
    array(buf, at).map(u16::from_be_bytes)
}

#[inline]
pub(crate) fn be32(buf: &[u8], at: usize) -> Option<u32> {
    array(buf, at).map(u32::from_be_bytes)
}

#[inline]
pub(crate) fn be64(buf: &[u8], at: usize) -> Option<u64> {
    array(buf, at).map(u64::from_be_bytes)
}
