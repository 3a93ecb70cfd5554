//! Zero-copy views of the headers swarmwall needs to find flows in a capture or an NFQUEUE
//! packet: link layers (Ethernet with 802.1Q/QinQ and PPPoE, Linux cooked SLL and SLL2, BSD
//! NULL/LOOP, raw IP, Linux NFLOG, IEEE 802.11 bare or behind radiotap or PPI, PPP, Cisco HDLC,
//! Frame Relay), IPv4 (options, fragments), IPv6 (extension headers), TCP and UDP.
//!
//! Each protocol has its own module with a checked view (`new_checked`) over `&[u8]`; byte
//! offsets are named ranges in a private `field` module so accessors read like the RFC diagram.
//! [`decode`] chains them: link → IP → transport, and returns a [`Decoded`] summary borrowing
//! from the frame.
//!
//! # Panic rule
//! No input makes this crate panic. Untrusted bytes only enter through `new_checked` or
//! [`decode`]; once a view's constructor succeeded, none of its accessors can index out of
//! bounds.
//!
//! # Snaplen-cut frames
//! Captures often keep only the first bytes of each frame. Lengths on the wire are therefore
//! taken from the IP header (total length / payload length), never from the captured length,
//! and every view exposes how much of its payload was actually captured.

pub mod build;
mod decode;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod link;
pub mod tcp;
pub mod udp;

pub use decode::{
    Decoded, Layer, Skip, Transport, decode, decode_fragment, decode_transport, pair_hash,
};
pub use ip::{FragInfo, Fragment, IpPacket};
pub use link::LinkType;

/// Why a view could not be built over some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer ends before the fixed part of the header does.
    Truncated,
    /// A header field has a value the protocol does not allow (e.g. IPv4 IHL < 5).
    Malformed,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Truncated => f.write_str("header truncated"),
            Error::Malformed => f.write_str("malformed header"),
        }
    }
}

/// A byte range inside a header, as in smoltcp's `wire` module.
type Field = core::ops::Range<usize>;

#[inline]
fn be16(b: &[u8], f: Field) -> u16 {
    match b.get(f) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

#[inline]
fn be32(b: &[u8], f: Field) -> u32 {
    match b.get(f) {
        Some(&[a, c, d, e]) => u32::from_be_bytes([a, c, d, e]),
        _ => 0,
    }
}
