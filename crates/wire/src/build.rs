//! Builders of well-formed frames (Ethernet + IPv4/IPv6 + TCP/UDP), for tests, fixtures and
//! benchmarks. Not used on any parsing path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::ip::protocol;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

/// An Ethernet frame carrying a TCP segment from `src` to `dst`.
pub fn tcp(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(20 + payload.len());
    l4.extend(src.port().to_be_bytes());
    l4.extend(dst.port().to_be_bytes());
    l4.extend(seq.to_be_bytes());
    l4.extend(ack.to_be_bytes());
    l4.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    l4.extend_from_slice(payload);
    ethernet_ip(src.ip(), dst.ip(), protocol::TCP, &l4)
}

/// An Ethernet frame carrying a UDP datagram from `src` to `dst`.
pub fn udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let l4 = udp_datagram(src.port(), dst.port(), payload);
    ethernet_ip(src.ip(), dst.ip(), protocol::UDP, &l4)
}

/// A UDP header (checksum 0) and its payload: the upper-layer bytes of a UDP packet, to cut
/// into fragments. The Length field wraps above 65,535 bytes.
pub fn udp_datagram(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(8 + payload.len());
    l4.extend(src_port.to_be_bytes());
    l4.extend(dst_port.to_be_bytes());
    l4.extend(((8 + payload.len()) as u16).to_be_bytes());
    l4.extend([0, 0]);
    l4.extend_from_slice(payload);
    l4
}

/// An Ethernet frame carrying an IP packet with the given upper-layer bytes. Mixed address
/// families take the family of `src`.
pub fn ethernet_ip(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 40 + l4.len());
    f.extend(MAC_B);
    f.extend(MAC_A);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend([0x08, 0x00]);
            // Don't fragment.
            f.extend(ipv4_header(s, d, proto, 0, 0x4000, l4.len()));
        }
        (s, d) => {
            f.extend([0x86, 0xdd]);
            f.extend(ipv6_header(v6(s), v6(d), proto, l4.len()));
        }
    }
    f.extend_from_slice(l4);
    f
}

/// One fragment to build: the datagram's identification, where the fragment's data starts in
/// the datagram (in bytes; the header keeps `offset / 8`, so give a multiple of 8 for a
/// well-formed fragment), whether more fragments follow, and the data.
#[derive(Debug, Clone, Copy)]
pub struct Frag<'a> {
    pub id: u32,
    pub offset: usize,
    pub more: bool,
    pub data: &'a [u8],
}

/// An Ethernet frame carrying one IPv4 fragment of protocol `proto` (the identification is the
/// low 16 bits of `frag.id`).
pub fn ipv4_fragment(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, frag: &Frag<'_>) -> Vec<u8> {
    let flags_offset = ((frag.offset / 8) as u16 & 0x1fff) | if frag.more { 0x2000 } else { 0 };
    let mut f = Vec::with_capacity(14 + 20 + frag.data.len());
    f.extend(MAC_B);
    f.extend(MAC_A);
    f.extend([0x08, 0x00]);
    f.extend(ipv4_header(
        src,
        dst,
        proto,
        frag.id as u16,
        flags_offset,
        frag.data.len(),
    ));
    f.extend_from_slice(frag.data);
    f
}

/// An Ethernet frame carrying one IPv6 fragment: the IPv6 header, an 8-byte extension header
/// of each type in `before` (Hop-by-Hop, Routing, Destination Options: the unfragmentable
/// part), the Fragment header with Next Header `next`, and the data.
pub fn ipv6_fragment(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    before: &[u8],
    next: u8,
    frag: &Frag<'_>,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 40 + 8 * before.len() + 8 + frag.data.len());
    f.extend(MAC_B);
    f.extend(MAC_A);
    f.extend([0x86, 0xdd]);
    let first = before.first().copied().unwrap_or(protocol::IPV6_FRAGMENT);
    let payload_len = 8 * before.len() + 8 + frag.data.len();
    f.extend(ipv6_header(src.octets(), dst.octets(), first, payload_len));
    for (i, _) in before.iter().enumerate() {
        let following = before
            .get(i + 1)
            .copied()
            .unwrap_or(protocol::IPV6_FRAGMENT);
        f.extend([following, 0, 0, 0, 0, 0, 0, 0]);
    }
    let offset_m = ((frag.offset / 8) as u16) << 3 | u16::from(frag.more);
    f.extend([next, 0]);
    f.extend(offset_m.to_be_bytes());
    f.extend(frag.id.to_be_bytes());
    f.extend_from_slice(frag.data);
    f
}

/// Cuts upper-layer bytes into fragments of at most `frag_len` data bytes each (rounded down
/// to a multiple of 8, at least 8), in order: the (offset, more, data) of each.
pub fn cut(l4: &[u8], frag_len: usize) -> Vec<(usize, bool, &[u8])> {
    let step = (frag_len / 8).max(1) * 8;
    let mut out: Vec<(usize, bool, &[u8])> = l4
        .chunks(step)
        .enumerate()
        .map(|(i, c)| (i * step, true, c))
        .collect();
    match out.last_mut() {
        Some(last) => last.1 = false,
        None => out.push((0, false, &[])),
    }
    out
}

/// Ethernet frames carrying the IPv4 datagram of protocol `proto` with upper-layer bytes `l4`,
/// cut into fragments of at most `frag_len` data bytes (see [`cut`]), in order.
pub fn ipv4_fragments(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    id: u16,
    l4: &[u8],
    frag_len: usize,
) -> Vec<Vec<u8>> {
    cut(l4, frag_len)
        .into_iter()
        .map(|(offset, more, data)| {
            let frag = Frag {
                id: u32::from(id),
                offset,
                more,
                data,
            };
            ipv4_fragment(src, dst, proto, &frag)
        })
        .collect()
}

/// Ethernet frames carrying the IPv6 datagram whose fragmentable part starts with protocol
/// `next` and is `l4`, cut into fragments of at most `frag_len` data bytes (see [`cut`]), in
/// order; each has the extension headers `before` ahead of its Fragment header (see
/// [`ipv6_fragment`]).
pub fn ipv6_fragments(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    before: &[u8],
    next: u8,
    id: u32,
    l4: &[u8],
    frag_len: usize,
) -> Vec<Vec<u8>> {
    cut(l4, frag_len)
        .into_iter()
        .map(|(offset, more, data)| {
            let frag = Frag {
                id,
                offset,
                more,
                data,
            };
            ipv6_fragment(src, dst, before, next, &frag)
        })
        .collect()
}

/// Ethernet frames carrying the datagram from `src` to `dst` with upper-layer bytes `l4`, cut
/// into fragments of at most `frag_len` data bytes, in order: IPv4 (identification: the low
/// 16 bits of `id`) when both addresses are IPv4, else IPv6 without other extension headers.
pub fn fragments(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
    l4: &[u8],
    frag_len: usize,
) -> Vec<Vec<u8>> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4_fragments(s, d, proto, id as u16, l4, frag_len),
        (s, d) => ipv6_fragments(
            Ipv6Addr::from(v6(s)),
            Ipv6Addr::from(v6(d)),
            &[],
            proto,
            id,
            l4,
            frag_len,
        ),
    }
}

/// A 20-byte IPv4 header with its checksum; `payload_len` bytes follow it.
fn ipv4_header(
    s: Ipv4Addr,
    d: Ipv4Addr,
    proto: u8,
    id: u16,
    flags_offset: u16,
    payload_len: usize,
) -> [u8; 20] {
    let total = (20 + payload_len) as u16;
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6..8].copy_from_slice(&flags_offset.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&s.octets());
    h[16..20].copy_from_slice(&d.octets());
    let sum = checksum(&h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h
}

/// The fixed 40-byte IPv6 header; `payload_len` bytes follow it.
fn ipv6_header(s: [u8; 16], d: [u8; 16], next: u8, payload_len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(40);
    h.extend([0x60, 0, 0, 0]);
    h.extend((payload_len as u16).to_be_bytes());
    h.extend([next, 64]);
    h.extend(s);
    h.extend(d);
    h
}

fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        let w = match c {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::Fragment;
    use crate::{LinkType, decode, decode_fragment};

    #[test]
    fn whole_frames_are_unchanged() {
        // The header written by ethernet_ip before fragment builders shared it.
        let f = udp(
            "10.0.0.1:1".parse().unwrap(),
            "10.0.0.2:2".parse().unwrap(),
            b"ab",
        );
        assert_eq!(
            &f[14..34],
            &[
                0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0x26, 0xcd, 10, 0, 0, 1, 10, 0, 0, 2
            ]
        );
        assert_eq!(checksum(&f[14..34]), 0);
    }

    #[test]
    fn cut_covers_in_order() {
        let l4: Vec<u8> = (0..=255).collect();
        let c = cut(&l4, 100);
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].0, c[0].1, c[0].2.len()), (0, true, 96));
        assert_eq!((c[2].0, c[2].1, c[2].2.len()), (192, false, 64));
        assert_eq!(c.concat_data(), l4);
        assert_eq!(cut(&[], 8), vec![(0, false, &[][..])]);
        assert_eq!(cut(&l4, 3)[1].0, 8);
    }

    trait ConcatData {
        fn concat_data(&self) -> Vec<u8>;
    }
    impl ConcatData for Vec<(usize, bool, &[u8])> {
        fn concat_data(&self) -> Vec<u8> {
            self.iter().flat_map(|c| c.2.iter().copied()).collect()
        }
    }

    #[test]
    fn fragments_decode_with_their_info() {
        let l4 = udp_datagram(6881, 51413, &[7u8; 3000]);
        for (src, dst) in [("10.0.0.1", "10.0.0.2"), ("2001:db8::1", "2001:db8::2")] {
            let frames = fragments(
                src.parse().unwrap(),
                dst.parse().unwrap(),
                protocol::UDP,
                0xbeef,
                &l4,
                1480,
            );
            assert_eq!(frames.len(), 3);
            let mut data = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                let ip = decode(LinkType::Ethernet, f).unwrap().ip;
                let info = decode_fragment(LinkType::Ethernet, f).unwrap().unwrap();
                assert_eq!(ip.src, src.parse::<IpAddr>().unwrap());
                assert_eq!((info.src, info.dst), (ip.src, ip.dst));
                assert_eq!(
                    (info.id, info.offset, info.more),
                    (0xbeef, i as u32 * 1480, i < 2)
                );
                assert_eq!(info.protocol, protocol::UDP);
                let kind = if i == 0 {
                    Fragment::First
                } else {
                    Fragment::Later
                };
                assert_eq!(ip.fragment, kind);
                assert_eq!(info.data.len() as u32, info.data_wire_len);
                data.extend_from_slice(info.data);
            }
            assert_eq!(data, l4);
        }
    }

    #[test]
    fn ipv6_fragment_after_extension_headers() {
        let frag = Frag {
            id: 7,
            offset: 16,
            more: true,
            data: &[1; 24],
        };
        let f = ipv6_fragment(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            &[protocol::HOP_BY_HOP, protocol::IPV6_DEST_OPTS],
            protocol::TCP,
            &frag,
        );
        let info = decode_fragment(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!(
            (info.id, info.offset, info.more, info.protocol),
            (7, 16, true, 6)
        );
        assert_eq!(info.header_len, 40 + 16 + 8);
        assert_eq!(info.data, &[1; 24]);
    }
}
