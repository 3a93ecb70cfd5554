//! The whole chain: link layer → IP → TCP/UDP.

use crate::ip::{FragInfo, Fragment, IpPacket, protocol};
use crate::link::{self, LinkType, Network};
use crate::{Error, ipv4, ipv6, tcp, udp};

/// A frame decoded down to its transport layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub ip: IpPacket<'a>,
    pub transport: Transport<'a>,
}

/// The transport layer of a decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        /// Captured payload bytes.
        payload: &'a [u8],
        /// Payload length on the wire (from the IP header).
        payload_wire_len: u32,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
        payload_wire_len: u32,
    },
    /// A later IP fragment: it has no transport header, so no ports.
    Fragment,
    /// Another upper-layer protocol (ICMP, IGMP, ESP, GRE, ...), see `ip.protocol`.
    Other,
}

/// Why a frame yielded no IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The frame carries something other than IP (ARP, LLDP, ...): EtherType or family.
    NotIp(u16),
    /// The link type cannot be decoded.
    UnsupportedLink(u16),
    /// A header was cut short or malformed at the given layer.
    Bad(Layer, Error),
}

/// The layer at which decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Link,
    Ip,
    Transport,
}

/// A hash of a frame's two IP addresses that is the same whichever way the packet goes and for
/// every fragment of a datagram: what spreads flows over workers so that each sees every packet
/// of its flows (and of their fragments). `None` when the frame carries no IP packet.
pub fn pair_hash(link: LinkType, frame: &[u8]) -> Option<u64> {
    let (a, b) = match link::network(link, frame) {
        Ok(Network::Ipv4(b)) => (
            u64::from(u32::from_be_bytes(b.get(12..16)?.try_into().ok()?)),
            u64::from(u32::from_be_bytes(b.get(16..20)?.try_into().ok()?)),
        ),
        Ok(Network::Ipv6(b)) => {
            let fold = |x: &[u8]| -> Option<u64> {
                let x = u128::from_be_bytes(x.try_into().ok()?);
                Some((x as u64) ^ ((x >> 64) as u64).rotate_left(17))
            };
            (fold(b.get(8..24)?)?, fold(b.get(24..40)?)?)
        }
        _ => return None,
    };
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    // A multiply-xorshift mix (splitmix64's finaliser) of the ordered pair.
    let mut h = lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi.rotate_left(29);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    Some(h ^ (h >> 31))
}

/// Decodes a captured frame of the given link type down to TCP/UDP.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, Skip> {
    let ip = match link::network(link, frame) {
        Ok(Network::Ipv4(b)) => ipv4::Packet::new_checked(b)
            .map(|p| p.repr())
            .map_err(|e| Skip::Bad(Layer::Ip, e))?,
        Ok(Network::Ipv6(b)) => ipv6::Packet::new_checked(b)
            .and_then(|p| p.repr())
            .map_err(|e| Skip::Bad(Layer::Ip, e))?,
        Ok(Network::Other(n)) => return Err(not_ip(link, n)),
        Err(e) => return Err(Skip::Bad(Layer::Link, e)),
    };
    let transport = transport(&ip).map_err(|e| Skip::Bad(Layer::Transport, e))?;
    Ok(Decoded { ip, transport })
}

/// Decodes what reassembly needs of a captured frame that is an IP fragment; `None` for a
/// whole packet. Call it only for a packet [`decode`] says is a fragment
/// ([`IpPacket::fragment`] not [`Fragment::No`]), or one it could not decode past the IP
/// header (a first fragment may be too short for its transport header): a whole packet pays
/// nothing for fragments this way.
pub fn decode_fragment(link: LinkType, frame: &[u8]) -> Result<Option<FragInfo<'_>>, Skip> {
    match link::network(link, frame) {
        Ok(Network::Ipv4(b)) => ipv4::Packet::new_checked(b)
            .map(|p| p.frag_info())
            .map_err(|e| Skip::Bad(Layer::Ip, e)),
        Ok(Network::Ipv6(b)) => ipv6::Packet::new_checked(b)
            .and_then(|p| p.frag_info())
            .map_err(|e| Skip::Bad(Layer::Ip, e)),
        Ok(Network::Other(n)) => Err(not_ip(link, n)),
        Err(e) => Err(Skip::Bad(Layer::Link, e)),
    }
}

fn not_ip(link: LinkType, n: u16) -> Skip {
    match link {
        LinkType::Unknown(n) => Skip::UnsupportedLink(n),
        _ => Skip::NotIp(n),
    }
}

fn transport<'a>(ip: &IpPacket<'a>) -> Result<Transport<'a>, Error> {
    if ip.fragment == Fragment::Later {
        return Ok(Transport::Fragment);
    }
    decode_transport(ip.protocol, ip.payload, ip.payload_wire_len)
}

/// Decodes the transport header of upper-layer bytes: `payload` is what was captured of them
/// (from the TCP or UDP header on), `wire_len` their length on the wire, `protocol` the IP
/// protocol number. Another protocol is [`Transport::Other`]. This is what [`decode`] runs on
/// a whole packet's payload, and what a reassembled datagram goes through.
#[inline]
pub fn decode_transport(
    protocol: u8,
    payload: &[u8],
    wire_len: u32,
) -> Result<Transport<'_>, Error> {
    Ok(match protocol {
        protocol::TCP => {
            let s = tcp::Segment::new_checked(payload)?;
            Transport::Tcp {
                src_port: s.src_port(),
                dst_port: s.dst_port(),
                seq: s.seq(),
                ack: s.ack(),
                flags: s.flags(),
                payload: s.payload(),
                payload_wire_len: wire_len.saturating_sub(s.header_len() as u32),
            }
        }
        protocol::UDP => {
            let d = udp::Datagram::new_checked(payload)?;
            let declared = match u32::from(d.length()) {
                0 => wire_len,
                n => n.min(wire_len),
            };
            Transport::Udp {
                src_port: d.src_port(),
                dst_port: d.dst_port(),
                payload: d.payload(),
                payload_wire_len: declared.saturating_sub(8),
            }
        }
        _ => Transport::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build;
    use std::net::SocketAddr;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn pair_hash_is_symmetric_covers_fragments_and_spreads() {
        for (a, b) in [
            ("10.77.0.1:51413", "10.77.0.2:6881"),
            ("[2001:db8::1]:51413", "[2001:db8::2]:6881"),
        ] {
            let (a, b) = (sa(a), sa(b));
            let there = build::tcp(a, b, 1, 0, crate::tcp::flags::SYN, b"");
            let back = build::udp(b, a, b"x");
            let h = pair_hash(LinkType::Ethernet, &there).unwrap();
            assert_eq!(pair_hash(LinkType::Ethernet, &back), Some(h));
            // Every fragment of a datagram between the two, the later ones without ports.
            let l4 = build::udp_datagram(a.port(), b.port(), &[9u8; 3000]);
            let frags = build::fragments(a.ip(), b.ip(), protocol::UDP, 7, &l4, 1200);
            assert!(frags.len() > 1);
            for f in &frags {
                assert_eq!(pair_hash(LinkType::Ethernet, f), Some(h));
            }
            let other = build::udp(
                a,
                sa(&format!(
                    "{}:6881",
                    if a.is_ipv4() {
                        "10.77.0.3"
                    } else {
                        "[2001:db8::3]"
                    }
                )),
                b"x",
            );
            assert_ne!(pair_hash(LinkType::Ethernet, &other), Some(h));
        }
        // Not IP, or cut before the addresses.
        let f = build::udp(sa("10.77.0.1:1"), sa("10.77.0.2:2"), b"x");
        assert_eq!(pair_hash(LinkType::Ethernet, &f[..14 + 15]), None);
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(pair_hash(LinkType::Ethernet, &arp), None);
        // 256 hosts talking to one server fall about evenly on two workers.
        let on_first = (0..=255u8)
            .filter(|i| {
                let f = build::udp(sa(&format!("10.77.1.{i}:6881")), sa("10.77.0.1:6881"), b"x");
                pair_hash(LinkType::Ethernet, &f).unwrap() >> 63 == 0
            })
            .count();
        assert!((96..=160).contains(&on_first), "{on_first} of 256");
    }

    #[test]
    fn tcp_over_ethernet_v4_and_v6() {
        for (a, b) in [
            ("10.77.0.1:51413", "10.77.0.2:6881"),
            ("[2001:db8::1]:51413", "[2001:db8::2]:6881"),
        ] {
            let f = build::tcp(sa(a), sa(b), 7, 9, crate::tcp::flags::ACK, b"hello");
            let d = decode(LinkType::Ethernet, &f).unwrap();
            assert_eq!(d.ip.src, sa(a).ip());
            match d.transport {
                Transport::Tcp {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    payload,
                    payload_wire_len,
                    ..
                } => {
                    assert_eq!((src_port, dst_port, seq, ack), (51413, 6881, 7, 9));
                    assert_eq!(payload, b"hello");
                    assert_eq!(payload_wire_len, 5);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn udp_cut_by_snaplen_keeps_wire_length() {
        let f = build::udp(sa("10.77.0.1:1"), sa("10.77.0.2:2"), &[7u8; 100]);
        let d = decode(LinkType::Ethernet, &f[..14 + 20 + 8 + 10]).unwrap();
        match d.transport {
            Transport::Udp {
                payload,
                payload_wire_len,
                ..
            } => {
                assert_eq!(payload.len(), 10);
                assert_eq!(payload_wire_len, 100);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.ip.wire_len, 128);
    }

    #[test]
    fn skips() {
        let f = build::udp(sa("10.77.0.1:1"), sa("10.77.0.2:2"), b"x");
        assert_eq!(
            decode(LinkType::Ethernet, &f[..14 + 20 + 4]),
            Err(Skip::Bad(Layer::Transport, Error::Truncated))
        );
        assert_eq!(
            decode(LinkType::Ethernet, &f[..14 + 10]),
            Err(Skip::Bad(Layer::Ip, Error::Truncated))
        );
        assert_eq!(
            decode(LinkType::Unknown(147), &f),
            Err(Skip::UnsupportedLink(147))
        );
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(decode(LinkType::Ethernet, &arp), Err(Skip::NotIp(0x0806)));
    }

    #[test]
    fn later_fragment_has_no_ports() {
        let mut f = build::udp(sa("10.77.0.1:1"), sa("10.77.0.2:2"), b"abcdefgh");
        f[14 + 6] = 0x00;
        f[14 + 7] = 0x02; // fragment offset 16 bytes
        let d = decode(LinkType::Ethernet, &f).unwrap();
        assert_eq!(d.transport, Transport::Fragment);
    }

    #[test]
    fn transport_alone_decodes_as_the_whole_chain() {
        let frames = [
            build::tcp(sa("10.0.0.1:5"), sa("10.0.0.2:6"), 1, 2, 0x18, b"abc"),
            build::udp(sa("[2001:db8::1]:7"), sa("[2001:db8::2]:8"), b"defg"),
            build::ethernet_ip(sa("10.0.0.1:0").ip(), sa("10.0.0.2:0").ip(), 1, b"icmp"),
        ];
        for f in frames {
            for cut in [f.len(), f.len() - 2] {
                let d = decode(LinkType::Ethernet, &f[..cut]).unwrap();
                let t = decode_transport(d.ip.protocol, d.ip.payload, d.ip.payload_wire_len);
                assert_eq!(t, Ok(d.transport));
                assert_eq!(decode_fragment(LinkType::Ethernet, &f[..cut]), Ok(None));
            }
        }
        assert_eq!(
            decode_transport(protocol::TCP, &[0; 19], 19),
            Err(Error::Truncated)
        );
        assert_eq!(
            decode_transport(protocol::UDP, &[0; 7], 7),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn fragments_decode_their_info() {
        let l4 = build::udp_datagram(1, 2, &[5; 100]);
        for (a, b) in [("10.0.0.1", "10.0.0.2"), ("2001:db8::1", "2001:db8::2")] {
            let (a, b) = (a.parse().unwrap(), b.parse().unwrap());
            let frames = build::fragments(a, b, protocol::UDP, 77, &l4, 64);
            let f = decode_fragment(LinkType::Ethernet, &frames[1])
                .unwrap()
                .unwrap();
            assert_eq!(
                (f.src, f.dst, f.id, f.offset, f.more),
                (a, b, 77, 64, false)
            );
            assert_eq!(f.data, &l4[64..]);
            assert_eq!(
                decode(LinkType::Ethernet, &frames[1]).unwrap().transport,
                Transport::Fragment
            );
        }
        let f = build::udp(sa("10.0.0.1:1"), sa("10.0.0.2:2"), b"x");
        assert_eq!(
            decode_fragment(LinkType::Ethernet, &f[..20]),
            Err(Skip::Bad(Layer::Ip, Error::Truncated))
        );
        assert_eq!(
            decode_fragment(LinkType::Unknown(147), &f),
            Err(Skip::UnsupportedLink(147))
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(link in 0u16..300, frame in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let link = LinkType::from_number(link);
            let d = decode(link, &frame);
            let f = decode_fragment(link, &frame);
            if let Ok(d) = d {
                // A packet that decodes is a fragment exactly when it has fragment info.
                let f = f.map(|f| f.is_some());
                proptest::prop_assert_eq!(f, Ok(d.ip.fragment != Fragment::No));
            }
            if let Ok(Some(f)) = f {
                proptest::prop_assert!(f.data.len() as u64 <= u64::from(f.data_wire_len));
                proptest::prop_assert!(f.data.len() <= frame.len());
            }
        }

        #[test]
        fn mutated_frames_never_panic(pos in 0usize..80, val in proptest::num::u8::ANY, cut in 0usize..90) {
            let mut f = build::tcp(sa("[2001:db8::1]:1"), sa("[2001:db8::2]:2"), 1, 2, 0x18, b"payload!");
            if pos < f.len() { f[pos] = val; }
            f.truncate(cut.min(f.len()));
            let _ = decode(LinkType::Ethernet, &f);
        }
    }
}
