//! IPv4 header (RFC 791).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |Version|  IHL  |Type of Service|          Total Length         |
//! |         Identification        |Flags|      Fragment Offset    |
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! |                       Source Address                          |
//! |                    Destination Address                        |
//! |                    Options                    |    Padding    |
//! ```

use core::net::{IpAddr, Ipv4Addr};

use crate::ip::{FragInfo, Fragment, IpPacket};
use crate::{Error, Field, be16};

mod field {
    use crate::Field;
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLAGS_FRAG: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
    pub const MIN_HEADER_LEN: usize = 20;
}

const MORE_FRAGMENTS: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A checked read-only view of an IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
    header_len: usize,
}

impl<'a> Packet<'a> {
    /// Checks that `buf` holds a whole IPv4 header (options included) with a sane IHL.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let first = *buf.get(field::VER_IHL).ok_or(Error::Truncated)?;
        if first >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let header_len = usize::from(first & 0x0f) * 4;
        if header_len < field::MIN_HEADER_LEN {
            return Err(Error::Malformed);
        }
        if buf.len() < header_len {
            return Err(Error::Truncated);
        }
        Ok(Packet { buf, header_len })
    }

    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The Total Length field.
    pub fn total_len(&self) -> u16 {
        be16(self.buf, field::TOTAL_LEN)
    }

    pub fn protocol(&self) -> u8 {
        self.buf[field::PROTOCOL]
    }

    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(addr(self.buf, field::SRC))
    }

    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(addr(self.buf, field::DST))
    }

    /// The Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.buf, field::IDENT)
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buf, field::FLAGS_FRAG) & OFFSET_MASK
    }

    pub fn more_fragments(&self) -> bool {
        be16(self.buf, field::FLAGS_FRAG) & MORE_FRAGMENTS != 0
    }

    /// The parsed meaning of the header.
    ///
    /// Length on the wire comes from Total Length; a Total Length of zero (seen in captures
    /// of TSO super-packets) or one shorter than the header falls back to the captured size.
    /// Bytes past Total Length (Ethernet padding, a trailing FCS) are not payload.
    #[inline]
    pub fn repr(&self) -> IpPacket<'a> {
        let total = usize::from(self.total_len());
        let wire_len = if total >= self.header_len {
            total
        } else {
            self.buf.len()
        };
        let end = wire_len.min(self.buf.len());
        let payload = self.buf.get(self.header_len..end).unwrap_or(&[]);
        let fragment = match (self.frag_offset(), self.more_fragments()) {
            (0, false) => Fragment::No,
            (0, true) => Fragment::First,
            _ => Fragment::Later,
        };
        IpPacket {
            src: IpAddr::V4(self.src()),
            dst: IpAddr::V4(self.dst()),
            protocol: self.protocol(),
            wire_len: wire_len as u32,
            fragment,
            payload,
            payload_wire_len: (wire_len - self.header_len) as u32,
            ttl: self.buf[field::TTL],
        }
    }

    /// What reassembly needs to know of this packet if it is a fragment (offset or More
    /// Fragments set), with the same lengths as [`repr`](Self::repr): the fragment's data is
    /// its payload.
    pub fn frag_info(&self) -> Option<FragInfo<'a>> {
        let (offset, more) = (self.frag_offset(), self.more_fragments());
        if offset == 0 && !more {
            return None;
        }
        let ip = self.repr();
        Some(FragInfo {
            src: ip.src,
            dst: ip.dst,
            id: u32::from(self.ident()),
            offset: u32::from(offset) * 8,
            more,
            protocol: ip.protocol,
            header_len: self.header_len as u32,
            data: ip.payload,
            data_wire_len: ip.payload_wire_len,
        })
    }
}

fn addr(b: &[u8], f: Field) -> [u8; 4] {
    match b.get(f) {
        Some(&[a, c, d, e]) => [a, c, d, e],
        _ => [0; 4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 10.0.0.1 -> 10.0.0.2, UDP, total length 32, 4 bytes of padding after it.
    const UDP_PADDED: [u8; 36] = [
        0x45, 0x00, 0x00, 0x20, // ver/ihl, tos, total length 32
        0x12, 0x34, 0x00, 0x00, // id, flags/offset
        0x40, 0x11, 0x00, 0x00, // ttl, proto UDP, checksum
        10, 0, 0, 1, //
        10, 0, 0, 2, //
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, // 12 bytes payload
        0, 0, 0, 0, // link-layer padding
    ];

    #[test]
    fn parses_and_trims_padding() {
        let p = Packet::new_checked(&UDP_PADDED).unwrap();
        let r = p.repr();
        assert_eq!(r.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r.dst, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(r.protocol, 17);
        assert_eq!(r.wire_len, 32);
        assert_eq!(r.payload.len(), 12);
        assert_eq!(r.payload_wire_len, 12);
        assert_eq!(r.fragment, Fragment::No);
    }

    #[test]
    fn snaplen_cut_keeps_wire_length() {
        let r = Packet::new_checked(&UDP_PADDED[..24]).unwrap().repr();
        assert_eq!(r.wire_len, 32);
        assert_eq!(r.payload, &[1, 2, 3, 4]);
        assert_eq!(r.payload_wire_len, 12);
    }

    #[test]
    fn options_are_skipped() {
        let mut p = UDP_PADDED.to_vec();
        p[0] = 0x46; // IHL 6: 4 bytes of options (the first payload bytes become options)
        let r = Packet::new_checked(&p).unwrap().repr();
        assert_eq!(r.payload, &[5, 6, 7, 8, 9, 10, 11, 12]);
    }

    #[test]
    fn fragments() {
        let mut p = UDP_PADDED.to_vec();
        p[6] = 0x20; // MF, offset 0
        assert_eq!(
            Packet::new_checked(&p).unwrap().repr().fragment,
            Fragment::First
        );
        p[6] = 0x00;
        p[7] = 0x10; // offset 16 * 8
        assert_eq!(
            Packet::new_checked(&p).unwrap().repr().fragment,
            Fragment::Later
        );
    }

    #[test]
    fn frag_info() {
        let mut p = UDP_PADDED.to_vec();
        assert_eq!(Packet::new_checked(&p).unwrap().frag_info(), None);
        p[0] = 0x46; // 4 bytes of options
        p[6] = 0x20; // MF
        p[7] = 0x03; // offset 3 * 8
        let v = Packet::new_checked(&p).unwrap();
        let f = v.frag_info().unwrap();
        assert_eq!(f.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!((f.id, f.offset, f.more, f.protocol), (0x1234, 24, true, 17));
        assert_eq!(f.header_len, 24);
        assert_eq!(f.data, &[5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(f.data_wire_len, 8);
        assert_eq!(f.data, v.repr().payload);
        p[6] = 0x1f; // no MF, offset 0x1f03 * 8
        let f = Packet::new_checked(&p[..26]).unwrap().frag_info().unwrap();
        assert_eq!((f.offset, f.more), (0x1f03 * 8, false));
        assert_eq!((f.data, f.data_wire_len), (&[5, 6][..], 8));
        p[6] = 0x20; // MF at offset 0: the first fragment
        p[7] = 0x00;
        let f = Packet::new_checked(&p).unwrap().frag_info().unwrap();
        assert_eq!((f.offset, f.more), (0, true));
    }

    #[test]
    fn zero_total_length_uses_captured() {
        let mut p = UDP_PADDED.to_vec();
        p[2] = 0;
        p[3] = 0;
        let r = Packet::new_checked(&p).unwrap().repr();
        assert_eq!(r.wire_len, 36);
        assert_eq!(r.payload.len(), 16);
    }

    #[test]
    fn bad_headers() {
        assert_eq!(Packet::new_checked(&[]).unwrap_err(), Error::Truncated);
        assert_eq!(
            Packet::new_checked(&UDP_PADDED[..19]).unwrap_err(),
            Error::Truncated
        );
        let mut p = UDP_PADDED.to_vec();
        p[0] = 0x44; // IHL 4
        assert_eq!(Packet::new_checked(&p).unwrap_err(), Error::Malformed);
        p[0] = 0x65; // version 6
        assert_eq!(Packet::new_checked(&p).unwrap_err(), Error::Malformed);
        p[0] = 0x4f; // IHL 15 = 60 bytes > 36
        assert_eq!(Packet::new_checked(&p).unwrap_err(), Error::Truncated);
    }
}
