//! Link layers: which bytes of a captured frame are the network-layer packet.
//!
//! Supported (LINKTYPE numbers from tcpdump.org/linktypes.html):
//! - Ethernet (1) with any number (up to [`MAX_TAGS`]) of 802.1Q / 802.1ad / QinQ tags and
//!   PPPoE session framing;
//! - BSD NULL (0, host byte order family) and OpenBSD LOOP (108, network byte order);
//! - raw IP (101, and the 12/14 DLT values some writers leak), IPv4 (228), IPv6 (229);
//! - Linux cooked capture v1 (113) and v2 (276);
//! - Linux NFLOG (239), what `iptables -j NFLOG` hands to `tcpdump -i nflog:N`
//!   (`link/nflog.rs`);
//! - IEEE 802.11 (105) data frames with LLC/SNAP, bare or behind a radiotap (127) or PPI (192)
//!   header (`link/ieee80211.rs`, `link/radiotap.rs`, `link/ppi.rs`); protected (encrypted),
//!   management, control and null-data frames are not IP: [`Network::Other`];
//! - PPP (9) and PPP in HDLC-like framing (50), with or without address/control and protocol
//!   field compression, and Cisco HDLC in either (`link/ppp.rs`);
//! - Frame Relay (107): RFC 2427 (NLPID IP, IPv6, SNAP) and Cisco encapsulation
//!   (`link/frame_relay.rs`).
//!
//! Every decoder checks lengths before it reads, returns [`Error::Truncated`] when the frame
//! ends inside a header it needs and [`Error::Malformed`] when a header contradicts itself; no
//! input makes one panic, and none allocates.

use crate::{Error, Field, be16};

mod frame_relay;
mod ieee80211;
mod nflog;
mod ppi;
mod ppp;
mod radiotap;

/// Maximum number of VLAN tags (802.1Q/802.1ad) skipped before giving up.
pub const MAX_TAGS: usize = 4;

/// A capture's link-layer header type, decoded from its LINKTYPE number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    Null,
    /// IEEE 802.3 Ethernet.
    Ethernet,
    /// Raw IPv4 or IPv6, the version nibble tells which.
    Raw,
    /// Raw IPv4 only.
    Ipv4,
    /// Raw IPv6 only.
    Ipv6,
    /// OpenBSD loopback: 4-byte address family in network byte order.
    Loop,
    /// Linux "cooked" capture, version 1 (16-byte header).
    LinuxSll,
    /// Linux "cooked" capture, version 2 (20-byte header).
    LinuxSll2,
    /// Linux netfilter NFLOG: a 4-byte header, then TLVs, one of which is the packet.
    Nflog,
    /// IEEE 802.11 frames, without a radio header.
    Ieee80211,
    /// IEEE 802.11 frames behind a radiotap header.
    Radiotap,
    /// Per-Packet Information header, then a frame of the link type it names.
    Ppi,
    /// PPP, with or without HDLC address/control bytes (Cisco HDLC also seen).
    Ppp,
    /// PPP in HDLC-like framing (RFC 1662), or Cisco HDLC.
    PppHdlc,
    /// Frame Relay: Q.922 address, then RFC 2427 or Cisco encapsulation.
    FrameRelay,
    /// Any other link type: frames are counted, not decoded.
    Unknown(u16),
}

impl LinkType {
    /// Maps a LINKTYPE number (pcap header or pcapng IDB) to a link type. Never fails.
    pub fn from_number(n: u16) -> LinkType {
        match n {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            9 => LinkType::Ppp,
            50 => LinkType::PppHdlc,
            105 => LinkType::Ieee80211,
            107 => LinkType::FrameRelay,
            127 => LinkType::Radiotap,
            192 => LinkType::Ppi,
            239 => LinkType::Nflog,
            // 12 and 14 are DLT_RAW values from some platforms that leak into files.
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unknown(other),
        }
    }

    /// Whether frames of this link type can be decoded.
    pub fn is_supported(self) -> bool {
        !matches!(self, LinkType::Unknown(_))
    }
}

/// EtherType values this crate follows.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88A8;
    /// Pre-standard QinQ tag still seen on some switches.
    pub const QINQ_OLD: u16 = 0x9100;
    pub const PPPOE_SESSION: u16 = 0x8864;
}

mod field {
    use crate::Field;
    pub const ETH_TYPE: Field = 12..14;
    pub const ETH_HEADER_LEN: usize = 14;
    pub const TAG_TYPE: Field = 2..4;
    pub const TAG_LEN: usize = 4;
    pub const PPPOE_PROTO: Field = 6..8;
    pub const PPPOE_LEN: usize = 8;
    pub const SLL_PROTO: Field = 14..16;
    pub const SLL_LEN: usize = 16;
    pub const SLL2_PROTO: Field = 0..2;
    pub const SLL2_LEN: usize = 20;
    pub const FAMILY_LEN: usize = 4;
}

/// The network layer found inside a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    /// A frame that carries something other than IP (ARP, LLDP, STP, an 802.11 management or
    /// encrypted frame, ...); the value is what the link layer names it by (EtherType, address
    /// family, PPP protocol, Frame Relay NLPID) when it has such a number, else 0.
    Other(u16),
}

/// Strips the link-layer header of `frame` and returns the network-layer packet inside it.
pub fn network(link: LinkType, frame: &[u8]) -> Result<Network<'_>, Error> {
    match link {
        LinkType::Ethernet => {
            let ty = header_u16(frame, field::ETH_TYPE)?;
            by_ethertype(ty, rest(frame, field::ETH_HEADER_LEN)?)
        }
        LinkType::LinuxSll => {
            let ty = header_u16(frame, field::SLL_PROTO)?;
            by_ethertype(ty, rest(frame, field::SLL_LEN)?)
        }
        LinkType::LinuxSll2 => {
            let ty = header_u16(frame, field::SLL2_PROTO)?;
            by_ethertype(ty, rest(frame, field::SLL2_LEN)?)
        }
        LinkType::Null | LinkType::Loop => {
            let raw = frame.get(..field::FAMILY_LEN).ok_or(Error::Truncated)?;
            let raw = [raw[0], raw[1], raw[2], raw[3]];
            let family = if link == LinkType::Loop {
                u32::from_be_bytes(raw)
            } else if u32::from_le_bytes(raw) < 0x1_0000 {
                // Host byte order of the capturing machine: a small number read little-endian
                // means the capture came from a little-endian host.
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            };
            let payload = rest(frame, field::FAMILY_LEN)?;
            Ok(match family {
                2 => Network::Ipv4(payload),
                // AF_INET6 differs between BSDs (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS) and
                // Linux (10).
                10 | 24 | 28 | 30 => Network::Ipv6(payload),
                other => Network::Other(other as u16),
            })
        }
        LinkType::Raw => match frame.first().map(|b| b >> 4) {
            Some(4) => Ok(Network::Ipv4(frame)),
            Some(6) => Ok(Network::Ipv6(frame)),
            Some(_) => Err(Error::Malformed),
            None => Err(Error::Truncated),
        },
        LinkType::Ipv4 => Ok(Network::Ipv4(frame)),
        LinkType::Ipv6 => Ok(Network::Ipv6(frame)),
        LinkType::Nflog => nflog::network(frame),
        LinkType::Ieee80211 => ieee80211::network(frame, false),
        LinkType::Radiotap => radiotap::network(frame),
        LinkType::Ppi => ppi::network(frame),
        LinkType::Ppp | LinkType::PppHdlc => ppp::network(frame),
        LinkType::FrameRelay => frame_relay::network(frame),
        LinkType::Unknown(n) => Ok(Network::Other(n)),
    }
}

/// Follows an EtherType through VLAN tags and PPPoE session framing to IP.
fn by_ethertype(mut ty: u16, mut payload: &[u8]) -> Result<Network<'_>, Error> {
    for _ in 0..=MAX_TAGS {
        match ty {
            ethertype::IPV4 => return Ok(Network::Ipv4(payload)),
            ethertype::IPV6 => return Ok(Network::Ipv6(payload)),
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD => {
                ty = header_u16(payload, field::TAG_TYPE)?;
                payload = rest(payload, field::TAG_LEN)?;
            }
            ethertype::PPPOE_SESSION => {
                let proto = header_u16(payload, field::PPPOE_PROTO)?;
                let inner = rest(payload, field::PPPOE_LEN)?;
                return Ok(match proto {
                    0x0021 => Network::Ipv4(inner),
                    0x0057 => Network::Ipv6(inner),
                    _ => Network::Other(ethertype::PPPOE_SESSION),
                });
            }
            other => return Ok(Network::Other(other)),
        }
    }
    Err(Error::Malformed)
}

/// Follows a SNAP header (OUI, then protocol id) to IP. `b` starts at the OUI. The OUIs
/// 00-00-00 (RFC 1042) and 00-00-F8 (802.1H bridge tunnel) say the protocol id is an
/// EtherType; any other OUI is an organisation's own protocol: [`Network::Other`] (0).
fn by_snap(b: &[u8]) -> Result<Network<'_>, Error> {
    const OUI: Field = 0..3;
    const PID: Field = 3..5;
    const LEN: usize = 5;
    let ty = header_u16(b, PID)?;
    match b.get(OUI) {
        Some([0, 0, 0] | [0, 0, 0xf8]) => by_ethertype(ty, rest(b, LEN)?),
        _ => Ok(Network::Other(0)),
    }
}

/// A big-endian u16 at `f`, or `Truncated` when `b` ends before it.
fn header_u16(b: &[u8], f: Field) -> Result<u16, Error> {
    if b.len() < f.end {
        return Err(Error::Truncated);
    }
    Ok(be16(b, f))
}

/// A little-endian u16 at `f`, or `Truncated` when `b` ends before it.
fn le_u16(b: &[u8], f: Field) -> Result<u16, Error> {
    match b.get(f) {
        Some(&[x, y]) => Ok(u16::from_le_bytes([x, y])),
        _ => Err(Error::Truncated),
    }
}

/// A little-endian u32 at `f`, or `Truncated` when `b` ends before it.
fn le_u32(b: &[u8], f: Field) -> Result<u32, Error> {
    match b.get(f) {
        Some(&[w, x, y, z]) => Ok(u32::from_le_bytes([w, x, y, z])),
        _ => Err(Error::Truncated),
    }
}

/// The byte at `at`, or `Truncated` when `b` ends before it.
fn byte(b: &[u8], at: usize) -> Result<u8, Error> {
    b.get(at).copied().ok_or(Error::Truncated)
}

fn rest(b: &[u8], at: usize) -> Result<&[u8], Error> {
    b.get(at..).ok_or(Error::Truncated)
}

/// IPv4 or IPv6 by the version nibble of the packet's first byte; `None` when it is neither
/// (or the packet is empty).
fn by_version(packet: &[u8]) -> Option<Network<'_>> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => Some(Network::Ipv4(packet)),
        Some(6) => Some(Network::Ipv6(packet)),
        _ => None,
    }
}

/// Test helper: every prefix of `frame` decodes without a panic, and every prefix shorter than
/// `header_len` (the frame ends inside a header) is `Truncated`.
#[cfg(test)]
fn cut_everywhere(
    decode: impl Fn(&[u8]) -> Result<Network<'_>, Error>,
    frame: &[u8],
    header_len: usize,
) {
    for n in 0..=frame.len() {
        let r = decode(&frame[..n]);
        if n < header_len {
            assert_eq!(r, Err(Error::Truncated), "prefix of {n} bytes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 2] = [0x45, 0x00];

    #[test]
    fn ethernet_plain_and_tagged() {
        // dst, src, type IPv4, two bytes of "IP"
        let mut f = vec![0u8; 12];
        f.extend([0x08, 0x00]);
        f.extend(IP);
        assert_eq!(network(LinkType::Ethernet, &f), Ok(Network::Ipv4(&IP)));

        // QinQ: 0x88a8 tag, then 0x8100 tag, then IPv6
        let mut f = vec![0u8; 12];
        f.extend([0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a, 0x86, 0xdd]);
        f.extend(IP);
        assert_eq!(network(LinkType::Ethernet, &f), Ok(Network::Ipv6(&IP)));
    }

    #[test]
    fn ethernet_non_ip_and_truncated() {
        let mut f = vec![0u8; 12];
        f.extend([0x08, 0x06, 0, 1]); // ARP
        assert_eq!(network(LinkType::Ethernet, &f), Ok(Network::Other(0x0806)));
        assert_eq!(network(LinkType::Ethernet, &f[..13]), Err(Error::Truncated));
        // a VLAN tag cut in the middle
        let mut f = vec![0u8; 12];
        f.extend([0x81, 0x00, 0x00]);
        assert_eq!(network(LinkType::Ethernet, &f), Err(Error::Truncated));
    }

    #[test]
    fn too_many_tags_is_malformed() {
        let mut f = vec![0u8; 12];
        for _ in 0..=MAX_TAGS + 1 {
            f.extend([0x81, 0x00, 0x00, 0x01]);
        }
        f.extend(IP);
        assert_eq!(network(LinkType::Ethernet, &f), Err(Error::Malformed));
    }

    #[test]
    fn pppoe_session() {
        let mut f = vec![0u8; 12];
        f.extend([0x88, 0x64]);
        f.extend([0x11, 0x00, 0x12, 0x34, 0x00, 0x10, 0x00, 0x21]); // ver/type, code, sid, len, PPP IPv4
        f.extend(IP);
        assert_eq!(network(LinkType::Ethernet, &f), Ok(Network::Ipv4(&IP)));
    }

    #[test]
    fn linux_cooked_v1_v2() {
        let mut f = vec![0u8; 14];
        f.extend([0x08, 0x00]);
        f.extend(IP);
        assert_eq!(network(LinkType::LinuxSll, &f), Ok(Network::Ipv4(&IP)));

        let mut f = vec![0x86, 0xdd];
        f.extend([0u8; 18]);
        f.extend(IP);
        assert_eq!(network(LinkType::LinuxSll2, &f), Ok(Network::Ipv6(&IP)));
        assert_eq!(
            network(LinkType::LinuxSll2, &f[..19]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn bsd_null_either_byte_order_and_loop() {
        let f = [2, 0, 0, 0, 0x45, 0];
        assert_eq!(network(LinkType::Null, &f), Ok(Network::Ipv4(&IP)));
        let f = [0, 0, 0, 30, 0x45, 0];
        assert_eq!(network(LinkType::Null, &f), Ok(Network::Ipv6(&IP)));
        let f = [0, 0, 0, 24, 0x45, 0];
        assert_eq!(network(LinkType::Loop, &f), Ok(Network::Ipv6(&IP)));
        let f = [0, 0, 0, 7, 0x45, 0];
        assert_eq!(network(LinkType::Loop, &f), Ok(Network::Other(7)));
    }

    #[test]
    fn raw_by_version_nibble() {
        assert_eq!(network(LinkType::Raw, &IP), Ok(Network::Ipv4(&IP)));
        assert_eq!(
            network(LinkType::Raw, &[0x60, 0]),
            Ok(Network::Ipv6(&[0x60, 0]))
        );
        assert_eq!(network(LinkType::Raw, &[0x10]), Err(Error::Malformed));
        assert_eq!(network(LinkType::Raw, &[]), Err(Error::Truncated));
    }

    #[test]
    fn link_numbers() {
        assert_eq!(LinkType::from_number(1), LinkType::Ethernet);
        assert_eq!(LinkType::from_number(276), LinkType::LinuxSll2);
        assert_eq!(LinkType::from_number(147), LinkType::Unknown(147));
        assert!(!LinkType::from_number(147).is_supported());
        for (n, link) in [
            (9, LinkType::Ppp),
            (50, LinkType::PppHdlc),
            (105, LinkType::Ieee80211),
            (107, LinkType::FrameRelay),
            (127, LinkType::Radiotap),
            (192, LinkType::Ppi),
            (239, LinkType::Nflog),
        ] {
            assert_eq!(LinkType::from_number(n), link);
            assert!(link.is_supported());
        }
    }
}
