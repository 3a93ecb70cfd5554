//! The whole chain: link layer → IP → TCP/UDP.

use crate::ip::{Fragment, IpPacket, protocol};
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

/// Decodes a captured frame of the given link type down to TCP/UDP.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, Skip> {
    let ip = match link::network(link, frame) {
        Ok(Network::Ipv4(b)) => ipv4::Packet::new_checked(b)
            .map(|p| p.repr())
            .map_err(|e| Skip::Bad(Layer::Ip, e))?,
        Ok(Network::Ipv6(b)) => ipv6::Packet::new_checked(b)
            .and_then(|p| p.repr())
            .map_err(|e| Skip::Bad(Layer::Ip, e))?,
        Ok(Network::Other(n)) => {
            return Err(match link {
                LinkType::Unknown(n) => Skip::UnsupportedLink(n),
                _ => Skip::NotIp(n),
            });
        }
        Err(e) => return Err(Skip::Bad(Layer::Link, e)),
    };
    let transport = transport(&ip).map_err(|e| Skip::Bad(Layer::Transport, e))?;
    Ok(Decoded { ip, transport })
}

fn transport<'a>(ip: &IpPacket<'a>) -> Result<Transport<'a>, Error> {
    if ip.fragment == Fragment::Later {
        return Ok(Transport::Fragment);
    }
    Ok(match ip.protocol {
        protocol::TCP => {
            let s = tcp::Segment::new_checked(ip.payload)?;
            Transport::Tcp {
                src_port: s.src_port(),
                dst_port: s.dst_port(),
                seq: s.seq(),
                ack: s.ack(),
                flags: s.flags(),
                payload: s.payload(),
                payload_wire_len: ip.payload_wire_len.saturating_sub(s.header_len() as u32),
            }
        }
        protocol::UDP => {
            let d = udp::Datagram::new_checked(ip.payload)?;
            let declared = match u32::from(d.length()) {
                0 => ip.payload_wire_len,
                n => n.min(ip.payload_wire_len),
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

    proptest::proptest! {
        #[test]
        fn never_panics(link in 0u16..300, frame in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode(LinkType::from_number(link), &frame);
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
