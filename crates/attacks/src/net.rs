//! Address classes the detectors need: bogons (addresses no packet from the Internet can
//! honestly come from, nor a peer honestly be reached at) and the networks that group sources.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address that no honest peer or sender has on a network path: unspecified, "this
/// network" (0/8), loopback, multicast, the reserved 240/4 and broadcast, the documentation
/// and benchmarking ranges, IPv4-mapped or discard-only IPv6. Private (RFC 1918, ULA),
/// shared (100.64/10) and link-local space are not bogons here: LANs and lab networks use
/// them for real peers.
pub fn is_bogon(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => bogon4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(_) => true,
            None => bogon6(a),
        },
    }
}

fn bogon4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 0
        || o[0] == 127
        || o[0] >= 224
        || (o[0], o[1], o[2]) == (192, 0, 2)
        || (o[0], o[1], o[2]) == (198, 51, 100)
        || (o[0], o[1], o[2]) == (203, 0, 113)
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
}

fn bogon6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0
}

/// Whether a packet from `src` to `dst` comes from a bogon: loopback to loopback is a host
/// talking to itself, not a forgery.
pub fn bogon_source(src: IpAddr, dst: IpAddr) -> bool {
    is_bogon(src) && !(src.is_loopback() && dst.is_loopback())
}

/// The network a source belongs to for grouping: its IPv4 /24 or IPv6 /48.
pub fn net24(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & 0xffff_ff00)),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & !((1u128 << 80) - 1))),
    }
}

/// An IPv4 address, or the /64 of an IPv6 address (one network: BEP 42's unit).
pub fn host_unit(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & !((1u128 << 64) - 1))),
    }
}

/// A network in CIDR notation (the /24 or /48 of [`net24`]).
pub fn net_name(net: IpAddr) -> String {
    match net {
        IpAddr::V4(_) => format!("{net}/24"),
        IpAddr::V6(_) => format!("{net}/48"),
    }
}

/// Leading bits two 20-byte ids share.
pub fn common_bits(a: &[u8; 20], b: &[u8; 20]) -> u32 {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = x ^ y;
        if d != 0 {
            return i as u32 * 8 + d.leading_zeros();
        }
    }
    160
}

/// Bytes in which two ids differ.
pub fn differing_bytes(a: &[u8; 20], b: &[u8; 20]) -> u32 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as u32
}

/// BEP 42: whether `id` is a valid node id for the public address `ip` (its first 21 bits
/// follow from CRC-32C of the masked address and the id's last byte). `None` for addresses
/// BEP 42 exempts (private, loopback, link-local, shared).
pub fn bep42_valid(ip: IpAddr, id: &[u8; 20]) -> Option<bool> {
    let r = id[19] & 7;
    let crc = match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || is_bogon(ip)
            {
                return None;
            }
            let mut m = (u32::from(a) & 0x030f_3fff).to_be_bytes();
            m[0] |= r << 5;
            crc32c::crc32c(&m)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 || is_bogon(ip) {
                return None;
            }
            let mut m = [0u8; 8];
            m.copy_from_slice(&a.octets()[..8]);
            let mask = [0x01u8, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];
            for (b, k) in m.iter_mut().zip(mask) {
                *b &= k;
            }
            m[0] |= r << 5;
            crc32c::crc32c(&m)
        }
    };
    let want = [
        (crc >> 24) as u8,
        (crc >> 16) as u8,
        (crc >> 8) as u8 & 0xf8,
    ];
    Some(id[0] == want[0] && id[1] == want[1] && (id[2] & 0xf8) == want[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bogons_and_networks() {
        for b in [
            "0.1.2.3",
            "127.9.9.9",
            "240.1.2.3",
            "224.0.0.9",
            "255.255.255.255",
            "198.51.100.7",
            "::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_bogon(ip(b)), "{b}");
        }
        for g in [
            "10.77.0.2",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.7.7",
            "8.8.8.8",
            "fd77:1::2",
            "2a00:1450::1",
        ] {
            assert!(!is_bogon(ip(g)), "{g}");
        }
        assert!(!bogon_source(ip("127.0.0.1"), ip("127.0.0.1")));
        assert!(bogon_source(ip("127.0.0.1"), ip("10.77.0.2")));
        assert_eq!(net24(ip("10.77.3.200")), ip("10.77.3.0"));
        assert_eq!(net_name(net24(ip("2a00:1450:1:2::1"))), "2a00:1450:1::/48");
        assert_eq!(host_unit(ip("2a00:1450:1:2::1")), ip("2a00:1450:1:2::"));
    }

    #[test]
    fn id_distances() {
        let a = [0u8; 20];
        let mut b = a;
        assert_eq!(common_bits(&a, &b), 160);
        b[4] = 0x01;
        assert_eq!(common_bits(&a, &b), 39);
        b[19] = 9;
        assert_eq!(differing_bytes(&a, &b), 2);
    }

    /// BEP 42's own table of examples.
    #[test]
    fn bep42_examples() {
        let cases: [(&str, [u8; 3], u8); 5] = [
            ("124.31.75.21", [0x5f, 0xbf, 0xbf], 1),
            ("21.75.31.124", [0x5a, 0x3c, 0xe9], 6),
            ("65.23.51.170", [0xa5, 0xd4, 0x32], 6),
            ("84.124.73.14", [0x1b, 0x03, 0x21], 1),
            ("43.213.53.83", [0xe5, 0x6f, 0x6c], 2),
        ];
        for (addr, head, r) in cases {
            let mut id = [0x55u8; 20];
            id[..3].copy_from_slice(&head);
            id[19] = r;
            assert_eq!(bep42_valid(ip(addr), &id), Some(true), "{addr}");
            id[0] ^= 0x80;
            assert_eq!(bep42_valid(ip(addr), &id), Some(false), "{addr}");
        }
        assert_eq!(bep42_valid(ip("10.77.0.2"), &[0; 20]), None);
    }
}
