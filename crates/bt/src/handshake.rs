//! The peer wire handshake (BEP 3).
//!
//! ```text
//! offset  size  field
//!      0     1  pstrlen = 19
//!      1    19  pstr = "BitTorrent protocol"
//!     20     8  reserved (extension bits: BEP 4, 5, 6, 10, 52)
//!     28    20  info_hash
//!     48    20  peer_id
//! ```
//! The handshake may arrive split across TCP segments or uTP packets, and the info-hash may
//! come before the peer id is sent (the receiver answers with its own handshake first), so
//! [`parse`] accepts 48 bytes and reports the peer id only when it is there.

use crate::{Error, InfoHash, PeerId, invalid};

/// The first 20 bytes of every plaintext peer connection.
pub const PROTOCOL: &[u8; 20] = b"\x13BitTorrent protocol";
/// Length of a whole handshake.
pub const LEN: usize = 68;

mod field {
    use std::ops::Range;
    pub const PROTOCOL: Range<usize> = 0..20;
    pub const RESERVED: Range<usize> = 20..28;
    pub const INFO_HASH: Range<usize> = 28..48;
    pub const PEER_ID: Range<usize> = 48..68;
}

/// The reserved (extension) bits of a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// BEP 10 extension protocol (bit 20 counted from the right, i.e. byte 5 & 0x10).
    pub fn extension_protocol(&self) -> bool {
        self.0[5] & 0x10 != 0
    }
    /// BEP 5 DHT port message.
    pub fn dht(&self) -> bool {
        self.0[7] & 0x01 != 0
    }
    /// BEP 6 fast extension.
    pub fn fast(&self) -> bool {
        self.0[7] & 0x04 != 0
    }
    /// BEP 52: the peer supports BitTorrent v2.
    pub fn v2(&self) -> bool {
        self.0[7] & 0x10 != 0
    }
}

/// A parsed handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: Reserved,
    pub info_hash: InfoHash,
    /// Absent when only the first 48 bytes were available.
    pub peer_id: Option<PeerId>,
}

/// Parses a handshake at the start of `buf`.
///
/// `Incomplete` if `buf` is a strict prefix of the first 48 bytes of a handshake;
/// `Invalid` if it does not start with [`PROTOCOL`].
pub fn parse(buf: &[u8]) -> Result<Handshake, Error> {
    let n = buf.len().min(PROTOCOL.len());
    if buf[..n] != PROTOCOL[..n] {
        return invalid("\\x13BitTorrent protocol");
    }
    let (Some(reserved), Some(info_hash)) = (buf.get(field::RESERVED), buf.get(field::INFO_HASH))
    else {
        return Err(Error::Incomplete);
    };
    let mut r = [0u8; 8];
    r.copy_from_slice(reserved);
    Ok(Handshake {
        reserved: Reserved(r),
        info_hash: InfoHash::from_slice(info_hash).unwrap_or_default(),
        peer_id: buf.get(field::PEER_ID).and_then(PeerId::from_slice),
    })
}

/// Finds the first occurrence of [`PROTOCOL`] in `buf`.
pub fn find(buf: &[u8]) -> Option<usize> {
    memchr::memmem::find(buf, PROTOCOL)
}

/// Length of the longest suffix of `buf` that is a proper prefix of [`PROTOCOL`]: the bytes a
/// scanner must keep to find a handshake split across two segments.
pub fn partial_suffix(buf: &[u8]) -> usize {
    let max = (PROTOCOL.len() - 1).min(buf.len());
    (1..=max)
        .rev()
        .find(|&k| buf[buf.len() - k..] == PROTOCOL[..k])
        .unwrap_or(0)
}

/// Writes a whole handshake.
pub fn emit(reserved: Reserved, info_hash: InfoHash, peer_id: PeerId) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[field::PROTOCOL].copy_from_slice(PROTOCOL);
    out[field::RESERVED].copy_from_slice(&reserved.0);
    out[field::INFO_HASH].copy_from_slice(&info_hash.0);
    out[field::PEER_ID].copy_from_slice(&peer_id.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; LEN] {
        // Transmission 3.00 style: extension protocol + DHT + fast bits.
        let mut reserved = [0u8; 8];
        reserved[5] = 0x10;
        reserved[7] = 0x05;
        emit(
            Reserved(reserved),
            InfoHash([0xab; 20]),
            PeerId(*b"-TR3000-abcdefghijkl"),
        )
    }

    #[test]
    fn parses_whole_and_partial() {
        let h = sample();
        assert_eq!(&h[..20], PROTOCOL);
        let p = parse(&h).unwrap();
        assert_eq!(p.info_hash, InfoHash([0xab; 20]));
        assert_eq!(p.peer_id, Some(PeerId(*b"-TR3000-abcdefghijkl")));
        assert!(p.reserved.extension_protocol() && p.reserved.dht() && p.reserved.fast());
        assert!(!p.reserved.v2());

        // 48 bytes: info-hash but no peer id yet
        let p = parse(&h[..48]).unwrap();
        assert_eq!(p.peer_id, None);
        // every shorter prefix is incomplete
        for n in 0..48 {
            assert_eq!(parse(&h[..n]), Err(Error::Incomplete), "prefix {n}");
        }
    }

    #[test]
    fn rejects_other_bytes() {
        assert!(matches!(
            parse(b"\x13BitTorrent protocoX"),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(parse(&[0x13, b'b']), Err(Error::Invalid { .. })));
    }

    #[test]
    fn find_and_partial_suffix() {
        let mut s = vec![0u8; 100];
        s.extend(sample());
        assert_eq!(find(&s), Some(100));
        assert_eq!(partial_suffix(b"xyz\x13BitTor"), 7);
        assert_eq!(partial_suffix(b"xyz"), 0);
        assert_eq!(partial_suffix(b"\x13"), 1);
        assert_eq!(
            partial_suffix(&PROTOCOL[..]),
            0,
            "a whole match is not a partial one"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            let _ = parse(&b);
            let _ = partial_suffix(&b);
        }
    }
}
