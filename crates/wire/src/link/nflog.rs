//! Linux netfilter NFLOG (LINKTYPE_NFLOG, 239): the packets `iptables -j NFLOG --nflog-group N`
//! (or nftables' `log group N`) hands to `tcpdump -i nflog:N`.
//!
//! A frame is the `nfgenmsg` header of the netlink message (libpcap's `pcap/nflog.h`):
//!
//! ```text
//!  0        1        2                 4
//! +--------+--------+--------+--------+
//! | family |version |  resource id    |   family: AF_INET 2, AF_INET6 10; version 0;
//! +--------+--------+--------+--------+   resource id (the group) big-endian
//! | length          | type            |   TLVs: length counts the 4-byte TLV header, not the
//! +--------+--------+--------+--------+   padding; each TLV is padded to 4 bytes
//! | value ...                         |
//! ```
//!
//! The packet, from its network header on, is the value of the NFULA_PAYLOAD TLV (type 9).
//!
//! # Byte order of the TLV length and type
//! They are in the capturing host's byte order. libpcap (`swap_nflog_header` in `pcap-util.c`)
//! and Wireshark's file reader swap them when the file was written on a host of the other byte
//! order, so they read them in the byte order of the file's header. [`network`] does not see the
//! file header, so it does what Wireshark's NFLOG dissector does with its default byte-order
//! setting ("Auto"): it walks the TLVs in one byte order until the first TLV of a non-zero type,
//! and takes that order if every length on the way was at least 4 and that type (without the
//! netlink flag bits) is below 0x100 — every NFULA type is below 0x20, and a type of 1 to 0xff
//! read in the wrong order is a multiple of 0x100. Little-endian is tried first (the hosts
//! NFLOG captures come from), then big-endian; when neither fits, little-endian is used and the
//! walk reports what is wrong.
//!
//! The family says IPv4 or IPv6; any other family (AF_UNSPEC, AF_BRIDGE) falls back to the
//! version nibble of the packet. A frame without a payload TLV (`--nflog-size 0`, or cut by the
//! snapshot length before it) carries no packet: [`Network::Other`] with the family.

use super::{Network, by_version};
use crate::{Error, Field};

mod field {
    use crate::Field;
    pub const FAMILY: usize = 0;
    pub const VERSION: usize = 1;
    pub const HEADER_LEN: usize = 4;
    /// Inside a TLV.
    pub const TLV_LENGTH: Field = 0..2;
    pub const TLV_TYPE: Field = 2..4;
    pub const TLV_HEADER_LEN: usize = 4;
}

/// `nfgenmsg.family` values (Linux).
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// The only `nfgenmsg.version` (NFNETLINK_V0).
const VERSION_0: u8 = 0;
/// The TLV that holds the packet.
const NFULA_PAYLOAD: u16 = 9;
/// The type bits of a netlink attribute type (without NLA_F_NESTED and NLA_F_NET_BYTEORDER).
const TYPE_MASK: u16 = 0x3fff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

fn u16_in(order: Order, b: &[u8], f: Field) -> Option<u16> {
    match b.get(f) {
        Some(&[x, y]) => Some(match order {
            Order::Little => u16::from_le_bytes([x, y]),
            Order::Big => u16::from_be_bytes([x, y]),
        }),
        _ => None,
    }
}

/// The next TLV at `at`, as (type, length); `None` when fewer than 4 bytes are left.
fn tlv_at(order: Order, frame: &[u8], at: usize) -> Option<(u16, usize)> {
    let tlv = frame.get(at..)?;
    let len = u16_in(order, tlv, field::TLV_LENGTH)?;
    let ty = u16_in(order, tlv, field::TLV_TYPE)?;
    Some((ty & TYPE_MASK, usize::from(len)))
}

/// Where the next TLV starts, after one of `len` bytes at `at` (padded to 4 bytes).
fn next(at: usize, len: usize) -> usize {
    at + len.div_ceil(4) * 4
}

/// Whether the TLVs read sensibly in `order` (Wireshark's "Auto" test, see the module docs).
fn fits(order: Order, frame: &[u8]) -> bool {
    let mut at = field::HEADER_LEN;
    while let Some((ty, len)) = tlv_at(order, frame, at) {
        if len < field::TLV_HEADER_LEN || ty >= 0x100 {
            return false;
        }
        if ty != 0 {
            return true;
        }
        at = next(at, len);
    }
    false
}

/// The network-layer packet inside an NFLOG frame.
pub(super) fn network(frame: &[u8]) -> Result<Network<'_>, Error> {
    if frame.len() < field::HEADER_LEN {
        return Err(Error::Truncated);
    }
    let family = super::byte(frame, field::FAMILY)?;
    if super::byte(frame, field::VERSION)? != VERSION_0 {
        return Err(Error::Malformed);
    }
    let order = if fits(Order::Little, frame) {
        Order::Little
    } else if fits(Order::Big, frame) {
        Order::Big
    } else {
        Order::Little
    };
    let mut at = field::HEADER_LEN;
    // Each TLV moves `at` on by at least 4 bytes: the walk ends.
    while at < frame.len() {
        let (ty, len) = tlv_at(order, frame, at).ok_or(Error::Truncated)?;
        if len < field::TLV_HEADER_LEN {
            return Err(Error::Malformed);
        }
        if ty == NFULA_PAYLOAD {
            // The payload may be cut by the snapshot length: keep what was captured.
            let end = (at + len).min(frame.len());
            let payload = frame
                .get(at + field::TLV_HEADER_LEN..end)
                .ok_or(Error::Truncated)?;
            return Ok(match family {
                AF_INET => Network::Ipv4(payload),
                AF_INET6 => Network::Ipv6(payload),
                other => by_version(payload).unwrap_or(Network::Other(u16::from(other))),
            });
        }
        if at + len > frame.len() {
            return Err(Error::Truncated);
        }
        at = next(at, len);
    }
    Ok(Network::Other(u16::from(family)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{LinkType, cut_everywhere};

    /// The start of an IPv4 and an IPv6 header (version nibbles), standing for the packets.
    const IP4: [u8; 4] = [0x45, 0x00, 0x00, 0x14];
    const IP6: [u8; 4] = [0x60, 0x00, 0x00, 0x00];

    /// An NFLOG frame as `tcpdump -i nflog:7` writes it on a little-endian host, with the
    /// TLVs the kernel puts before the payload (net/netfilter/nfnetlink_log.c).
    fn frame(family: u8, payload: &[u8], big: bool) -> Vec<u8> {
        let tl = |len: u16, ty: u16| -> [u8; 4] {
            let (l, t) = if big {
                (len.to_be_bytes(), ty.to_be_bytes())
            } else {
                (len.to_le_bytes(), ty.to_le_bytes())
            };
            [l[0], l[1], t[0], t[1]]
        };
        let mut f = vec![family, 0, 0x00, 0x07]; // family, version 0, resource id 7 (BE)
        f.extend(tl(8, 1)); // NFULA_PACKET_HDR, 4 bytes of value:
        f.extend([0x08, 0x00, 3, 0]); //   hw_protocol 0x0800 (BE), hook 3, pad
        f.extend(tl(7, 10)); // NFULA_PREFIX, 3 bytes of value:
        f.extend(b"sw\0"); //   the log prefix "sw", NUL-terminated
        f.push(0); //   1 byte of padding (length 7 is padded to 8)
        f.extend(tl(8, 5)); // NFULA_IFINDEX_OUTDEV
        f.extend(2u32.to_be_bytes()); //   ifindex 2 (BE)
        f.extend(tl(4 + payload.len() as u16, NFULA_PAYLOAD));
        f.extend(payload);
        f
    }

    #[test]
    fn ipv4_and_ipv6_payload_little_endian() {
        let f = frame(AF_INET, &IP4, false);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
        let f = frame(AF_INET6, &IP6, false);
        assert_eq!(network(&f), Ok(Network::Ipv6(&IP6)));
        assert_eq!(
            crate::link::network(LinkType::from_number(239), &f),
            Ok(Network::Ipv6(&IP6))
        );
    }

    #[test]
    fn big_endian_tlvs_are_recognised() {
        let f = frame(AF_INET, &IP4, true);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
        let f = frame(AF_INET6, &IP6, true);
        assert_eq!(network(&f), Ok(Network::Ipv6(&IP6)));
    }

    #[test]
    fn other_family_falls_back_to_the_version_nibble() {
        let f = frame(7, &IP6, false); // AF_BRIDGE
        assert_eq!(network(&f), Ok(Network::Ipv6(&IP6)));
        let f = frame(0, &[0x12, 0x34], false); // AF_UNSPEC, not IP either
        assert_eq!(network(&f), Ok(Network::Other(0)));
    }

    #[test]
    fn payload_cut_by_snaplen_keeps_what_was_captured() {
        let mut ip = IP4.to_vec();
        ip.extend([0xaa; 16]);
        let f = frame(AF_INET, &ip, false);
        let cut = &f[..f.len() - 10];
        assert_eq!(network(cut), Ok(Network::Ipv4(&ip[..ip.len() - 10])));
    }

    #[test]
    fn no_payload_tlv_is_not_ip() {
        let mut f = frame(AF_INET, &IP4, false);
        f.truncate(f.len() - IP4.len() - 4); // drop the payload TLV
        assert_eq!(network(&f), Ok(Network::Other(2)));
    }

    #[test]
    fn bad_version_and_bad_tlv_length() {
        let mut f = frame(AF_INET, &IP4, false);
        f[1] = 1;
        assert_eq!(network(&f), Err(Error::Malformed));
        let mut f = frame(AF_INET, &IP4, false);
        f[4] = 2; // first TLV length 2 (< its own header)
        assert_eq!(network(&f), Err(Error::Malformed));
        // a TLV claiming more than the frame holds, before the payload
        let mut f = frame(AF_INET, &IP4, false);
        f[4] = 0xf0;
        assert_eq!(network(&f), Err(Error::Truncated));
    }

    #[test]
    fn truncated_everywhere() {
        for (family, ip) in [(AF_INET, &IP4), (AF_INET6, &IP6)] {
            for big in [false, true] {
                let f = frame(family, ip, big);
                let payload_at = f.len() - ip.len();
                // Every prefix decodes without a panic; those that end inside the header or a
                // TLV are truncated.
                cut_everywhere(network, &f, field::HEADER_LEN);
                // A prefix that ends where a TLV (or its padding) ends holds no payload TLV;
                // any other prefix before the payload ends inside a TLV.
                for n in field::HEADER_LEN..payload_at {
                    let want = if [4, 12, 19, 20, 28].contains(&n) {
                        Ok(Network::Other(u16::from(family)))
                    } else {
                        Err(Error::Truncated)
                    };
                    assert_eq!(network(&f[..n]), want, "prefix {n}");
                }
                // From the payload on, the captured part of the packet.
                assert_eq!(
                    network(&f[..payload_at]).ok(),
                    Some(match family {
                        AF_INET => Network::Ipv4(&[]),
                        _ => Network::Ipv6(&[]),
                    })
                );
            }
        }
    }
}
