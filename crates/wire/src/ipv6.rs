//! IPv6 header (RFC 8200) and the extension headers between it and the upper layer.
//!
//! ```text
//! |Version| Traffic Class |           Flow Label                  |
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! |                   Source Address (128 bits)                   |
//! |                Destination Address (128 bits)                 |
//! ```
//! Extension headers followed: Hop-by-Hop (0), Routing (43), Fragment (44), Destination
//! Options (60), Authentication (51, RFC 4302 length units), Mobility (135), HIP (139),
//! Shim6 (140). ESP (50) and anything else end the walk: that is the upper-layer protocol.

use core::net::{IpAddr, Ipv6Addr};

use crate::ip::{FragInfo, Fragment, IpPacket, protocol};
use crate::{Error, Field, be16, be32};

mod field {
    use crate::Field;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
    pub const HEADER_LEN: usize = 40;
    // Inside an extension header.
    pub const EXT_NEXT: usize = 0;
    pub const EXT_LEN: usize = 1;
    pub const FRAG_OFFSET: Field = 2..4;
    pub const FRAG_IDENT: Field = 4..8;
    pub const FRAG_HEADER_LEN: usize = 8;
}

/// Extension headers walked before giving up (a chain longer than this is malformed).
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// A checked read-only view of an IPv6 packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Checks that `buf` holds the fixed 40-byte header of an IPv6 packet.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let first = *buf.first().ok_or(Error::Truncated)?;
        if first >> 4 != 6 {
            return Err(Error::Malformed);
        }
        if buf.len() < field::HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buf })
    }

    pub fn payload_len(&self) -> u16 {
        be16(self.buf, field::PAYLOAD_LEN)
    }

    pub fn next_header(&self) -> u8 {
        self.buf[field::NEXT_HEADER]
    }

    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr(self.buf, field::SRC))
    }

    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr(self.buf, field::DST))
    }

    /// Walks the extension headers and returns the parsed meaning of the packet.
    ///
    /// Payload Length 0 (a jumbogram, or a TSO capture) falls back to the captured size.
    /// An extension header cut by the capture's snaplen is `Truncated`; a chain longer than
    /// [`MAX_EXTENSION_HEADERS`] is `Malformed`.
    pub fn repr(&self) -> Result<IpPacket<'a>, Error> {
        let wire_len = self.wire_len();
        let end = wire_len.min(self.buf.len());
        let mut at = field::HEADER_LEN;
        let mut next = self.next_header();
        let mut fragment = Fragment::No;
        for _ in 0..=MAX_EXTENSION_HEADERS {
            let ext = self.buf.get(at..end).unwrap_or(&[]);
            let len = if next == protocol::IPV6_FRAGMENT {
                if ext.len() < field::FRAG_HEADER_LEN {
                    return Err(Error::Truncated);
                }
                let off_m = be16(ext, field::FRAG_OFFSET);
                fragment = match (off_m >> 3, off_m & 1 != 0) {
                    (0, false) => Fragment::No, // atomic fragment
                    (0, true) => Fragment::First,
                    _ => Fragment::Later,
                };
                field::FRAG_HEADER_LEN
            } else {
                match ext_len(next, ext)? {
                    Some(len) => len,
                    None => {
                        let payload = self.buf.get(at..end).unwrap_or(&[]);
                        return Ok(IpPacket {
                            src: IpAddr::V6(self.src()),
                            dst: IpAddr::V6(self.dst()),
                            protocol: next,
                            wire_len: wire_len as u32,
                            fragment,
                            payload,
                            payload_wire_len: wire_len.saturating_sub(at) as u32,
                            ttl: self.buf[field::HOP_LIMIT],
                        });
                    }
                }
            };
            if ext.len() < len {
                return Err(Error::Truncated);
            }
            next = ext[field::EXT_NEXT];
            at += len;
            if fragment == Fragment::Later {
                // The rest is a slice of someone else's upper-layer data.
                return Ok(IpPacket {
                    src: IpAddr::V6(self.src()),
                    dst: IpAddr::V6(self.dst()),
                    protocol: next,
                    wire_len: wire_len as u32,
                    fragment,
                    payload: &[],
                    payload_wire_len: wire_len.saturating_sub(at) as u32,
                    ttl: self.buf[field::HOP_LIMIT],
                });
            }
        }
        Err(Error::Malformed)
    }

    /// What reassembly needs to know of this packet if it is a fragment: the Fragment header
    /// [`repr`](Self::repr) goes by (the last one before the upper layer, or the first that
    /// is not the first fragment), if it is not atomic, and what follows it, the fragmentable
    /// part. Unlike `repr`, the walk does not need the headers after that Fragment header to
    /// be whole (they are part of the data to reassemble); before it, the same cuts are
    /// `Truncated` and the same chains `Malformed`.
    pub fn frag_info(&self) -> Result<Option<FragInfo<'a>>, Error> {
        let wire_len = self.wire_len();
        let end = wire_len.min(self.buf.len());
        let mut at = field::HEADER_LEN;
        let mut next = self.next_header();
        let mut info = None;
        for _ in 0..=MAX_EXTENSION_HEADERS {
            let ext = self.buf.get(at..end).unwrap_or(&[]);
            let len = if next == protocol::IPV6_FRAGMENT {
                if ext.len() < field::FRAG_HEADER_LEN {
                    return Err(Error::Truncated);
                }
                let off_m = be16(ext, field::FRAG_OFFSET);
                let (offset, more) = (off_m >> 3, off_m & 1 != 0);
                let data_at = at + field::FRAG_HEADER_LEN;
                info = (offset != 0 || more).then(|| FragInfo {
                    src: IpAddr::V6(self.src()),
                    dst: IpAddr::V6(self.dst()),
                    id: be32(ext, field::FRAG_IDENT),
                    offset: u32::from(offset) * 8,
                    more,
                    protocol: ext[field::EXT_NEXT],
                    header_len: data_at as u32,
                    data: self.buf.get(data_at..end).unwrap_or(&[]),
                    data_wire_len: wire_len.saturating_sub(data_at) as u32,
                });
                if offset != 0 {
                    return Ok(info);
                }
                field::FRAG_HEADER_LEN
            } else {
                match ext_len(next, ext) {
                    Ok(Some(len)) => len,
                    Ok(None) => return Ok(info),
                    Err(_) if info.is_some() => return Ok(info),
                    Err(e) => return Err(e),
                }
            };
            if ext.len() < len {
                return if info.is_some() {
                    Ok(info)
                } else {
                    Err(Error::Truncated)
                };
            }
            next = ext[field::EXT_NEXT];
            at += len;
        }
        if info.is_some() {
            Ok(info)
        } else {
            Err(Error::Malformed)
        }
    }

    /// Length of the packet on the wire: the fixed header and Payload Length, or the captured
    /// size for Payload Length 0.
    fn wire_len(&self) -> usize {
        match usize::from(self.payload_len()) {
            0 => self.buf.len(),
            declared => field::HEADER_LEN + declared,
        }
    }
}

/// The length of the extension header of type `next` that starts `ext`, or `None` when `next`
/// is not an extension header this module walks (it is then the upper-layer protocol). The
/// Fragment header is the caller's.
#[inline]
fn ext_len(next: u8, ext: &[u8]) -> Result<Option<usize>, Error> {
    Ok(Some(match next {
        protocol::HOP_BY_HOP
        | protocol::IPV6_ROUTING
        | protocol::IPV6_DEST_OPTS
        | protocol::MOBILITY
        | protocol::HIP
        | protocol::SHIM6 => {
            let units = usize::from(*ext.get(field::EXT_LEN).ok_or(Error::Truncated)?);
            (units + 1) * 8
        }
        protocol::AH => {
            let units = usize::from(*ext.get(field::EXT_LEN).ok_or(Error::Truncated)?);
            (units + 2) * 4
        }
        _ => return Ok(None),
    }))
}

/// Walks the extension headers at the start of `data`, the first of type `next`, to the upper
/// layer: returns its protocol and the offset of its first byte in `data`.
///
/// This is for a reassembled fragmentable part, which may open with extension headers (e.g.
/// Destination Options) before the upper layer: `next` is the offset-0 fragment's
/// [`FragInfo::protocol`]. A header cut short is `Truncated`; a Fragment header (fragments do
/// not nest) or a chain longer than [`MAX_EXTENSION_HEADERS`] is `Malformed`.
pub fn upper_layer(next: u8, data: &[u8]) -> Result<(u8, usize), Error> {
    let mut at = 0;
    let mut next = next;
    for _ in 0..=MAX_EXTENSION_HEADERS {
        if next == protocol::IPV6_FRAGMENT {
            return Err(Error::Malformed);
        }
        let ext = data.get(at..).unwrap_or(&[]);
        let Some(len) = ext_len(next, ext)? else {
            return Ok((next, at));
        };
        if ext.len() < len {
            return Err(Error::Truncated);
        }
        next = ext[field::EXT_NEXT];
        at += len;
    }
    Err(Error::Malformed)
}

fn addr(b: &[u8], f: Field) -> [u8; 16] {
    let mut out = [0u8; 16];
    if let Some(s) = b.get(f)
        && s.len() == 16
    {
        out.copy_from_slice(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(payload_len: u16, next: u8) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend(payload_len.to_be_bytes());
        v.extend([next, 64]);
        v.extend(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        v.extend(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        v
    }

    #[test]
    fn plain_udp() {
        let mut p = header(8, protocol::UDP);
        p.extend([0u8; 8]);
        p.extend([0xaa; 2]); // trailer beyond payload length
        let r = Packet::new_checked(&p).unwrap().repr().unwrap();
        assert_eq!(r.protocol, protocol::UDP);
        assert_eq!(r.wire_len, 48);
        assert_eq!(r.payload.len(), 8);
        assert_eq!(r.src, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn walks_hop_by_hop_dest_opts_and_ah() {
        let mut p = header(8 + 16 + 12 + 4, protocol::HOP_BY_HOP);
        p.extend([protocol::IPV6_DEST_OPTS, 0, 0, 0, 0, 0, 0, 0]); // HBH, 8 bytes
        p.extend([protocol::AH, 1]); // dest opts, 16 bytes
        p.extend([0u8; 14]);
        p.extend([protocol::TCP, 1]); // AH: (1 + 2) * 4 = 12 bytes
        p.extend([0u8; 10]);
        p.extend([9, 9, 9, 9]);
        let r = Packet::new_checked(&p).unwrap().repr().unwrap();
        assert_eq!(r.protocol, protocol::TCP);
        assert_eq!(r.payload, &[9, 9, 9, 9]);
        assert_eq!(r.payload_wire_len, 4);
    }

    #[test]
    fn fragment_header() {
        let mut p = header(8 + 4, protocol::IPV6_FRAGMENT);
        p.extend([protocol::UDP, 0, 0x00, 0x01, 0, 0, 0, 7]); // offset 0, M=1
        p.extend([1, 2, 3, 4]);
        let r = Packet::new_checked(&p).unwrap().repr().unwrap();
        assert_eq!((r.fragment, r.protocol), (Fragment::First, protocol::UDP));
        assert_eq!(r.payload, &[1, 2, 3, 4]);
        p[42] = 0x01; // offset 32
        let r = Packet::new_checked(&p).unwrap().repr().unwrap();
        assert_eq!(r.fragment, Fragment::Later);
        assert!(r.payload.is_empty());
    }

    #[test]
    fn frag_info_after_hop_by_hop() {
        // HBH, then Fragment (id 0x01020304, M=1, offset 0), then Destination Options, then UDP.
        let mut p = header(8 + 8 + 8 + 4, protocol::HOP_BY_HOP);
        p.extend([protocol::IPV6_FRAGMENT, 0, 0, 0, 0, 0, 0, 0]);
        p.extend([protocol::IPV6_DEST_OPTS, 0, 0x00, 0x01, 1, 2, 3, 4]);
        p.extend([protocol::UDP, 0, 0, 0, 0, 0, 0, 0]);
        p.extend([9, 9, 9, 9]);
        let v = Packet::new_checked(&p).unwrap();
        let r = v.repr().unwrap();
        assert_eq!((r.fragment, r.protocol), (Fragment::First, protocol::UDP));
        assert_eq!(r.payload, &[9, 9, 9, 9]);
        let f = v.frag_info().unwrap().unwrap();
        assert_eq!(f.src, r.src);
        assert_eq!((f.id, f.offset, f.more), (0x0102_0304, 0, true));
        assert_eq!((f.protocol, f.header_len), (protocol::IPV6_DEST_OPTS, 56));
        assert_eq!(f.data.len(), 12);
        assert_eq!(f.data_wire_len, 12);
        assert_eq!(upper_layer(f.protocol, f.data), Ok((protocol::UDP, 8)));

        p[50] = 0x05; // offset field 0x0500: 160 units of 8 = 1280 bytes, M = 0
        p[51] = 0x00;
        let v = Packet::new_checked(&p[..60]).unwrap();
        assert_eq!(v.repr().unwrap().fragment, Fragment::Later);
        let f = v.frag_info().unwrap().unwrap();
        assert_eq!((f.offset, f.more), (1280, false));
        assert_eq!(
            (f.data, f.data_wire_len),
            (&[protocol::UDP, 0, 0, 0][..], 12)
        );

        // A first fragment cut inside the headers after its Fragment header: repr cannot
        // reach the upper layer, but the fragment can still be reassembled.
        p[50] = 0x00;
        p[51] = 0x01;
        let v = Packet::new_checked(&p[..60]).unwrap();
        assert_eq!(v.repr(), Err(Error::Truncated));
        let f = v.frag_info().unwrap().unwrap();
        assert_eq!((f.offset, f.more, f.data.len()), (0, true, 4));
        // Cut before the Fragment header, both fail.
        let v = Packet::new_checked(&p[..52]).unwrap();
        assert_eq!(v.frag_info(), Err(Error::Truncated));
    }

    #[test]
    fn atomic_fragment_is_whole() {
        let mut p = header(8 + 4, protocol::IPV6_FRAGMENT);
        p.extend([protocol::UDP, 0, 0, 0, 0, 0, 0, 7]);
        p.extend([1, 2, 3, 4]);
        let v = Packet::new_checked(&p).unwrap();
        assert_eq!(v.repr().unwrap().fragment, Fragment::No);
        assert_eq!(v.frag_info(), Ok(None));
        assert_eq!(
            Packet::new_checked(&header(8, protocol::UDP))
                .unwrap()
                .frag_info(),
            Ok(None)
        );
    }

    #[test]
    fn upper_layer_walks_and_stops() {
        assert_eq!(upper_layer(protocol::TCP, &[]), Ok((protocol::TCP, 0)));
        let ah = [protocol::UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // (1 + 2) * 4 bytes
        assert_eq!(upper_layer(protocol::AH, &ah), Ok((protocol::UDP, 12)));
        assert_eq!(upper_layer(protocol::AH, &ah[..11]), Err(Error::Truncated));
        assert_eq!(
            upper_layer(protocol::IPV6_DEST_OPTS, &[]),
            Err(Error::Truncated)
        );
        assert_eq!(
            upper_layer(protocol::IPV6_FRAGMENT, &[0; 8]),
            Err(Error::Malformed)
        );
        let endless = [protocol::HOP_BY_HOP, 0, 0, 0, 0, 0, 0, 0].repeat(20);
        assert_eq!(
            upper_layer(protocol::HOP_BY_HOP, &endless),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn cut_or_endless_chains() {
        let mut p = header(8, protocol::HOP_BY_HOP);
        p.extend([protocol::UDP, 3]); // claims 32 bytes, only 8 declared
        p.extend([0u8; 6]);
        assert_eq!(
            Packet::new_checked(&p).unwrap().repr(),
            Err(Error::Truncated)
        );

        let n = MAX_EXTENSION_HEADERS + 2;
        let mut p = header((n * 8) as u16, protocol::HOP_BY_HOP);
        for _ in 0..n {
            p.extend([protocol::HOP_BY_HOP, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(
            Packet::new_checked(&p).unwrap().repr(),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn bad_fixed_header() {
        assert_eq!(Packet::new_checked(&[0x45]).unwrap_err(), Error::Malformed);
        assert_eq!(
            Packet::new_checked(&header(0, 17)[..39]).unwrap_err(),
            Error::Truncated
        );
    }
}
