//! What IPv4 and IPv6 have in common once their headers are parsed.

use core::net::IpAddr;

/// IP protocol numbers this crate follows (IANA "Assigned Internet Protocol Numbers").
pub mod protocol {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_ROUTING: u8 = 43;
    pub const IPV6_FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NO_NEXT: u8 = 59;
    pub const IPV6_DEST_OPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

/// Where a packet stands with respect to IP fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    /// A whole datagram.
    No,
    /// The first fragment: it carries the transport header, but not the whole payload.
    First,
    /// A later fragment: no transport header, so it cannot be tied to a flow.
    Later,
}

/// What reassembly needs to know of a fragment (RFC 791 §3.2, RFC 8200 §4.5), from
/// [`decode_fragment`](crate::decode_fragment) or the IP views' `frag_info`.
///
/// It is not part of [`IpPacket`], so that decoding a whole packet does not pay for it: only
/// a packet whose [`IpPacket::fragment`] is not [`Fragment::No`] has one. An IPv6 atomic
/// fragment (offset 0, M = 0, RFC 6946) is a whole datagram and has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragInfo<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The Identification: IPv4's 16 bits widened, or the IPv6 Fragment header's 32 bits.
    pub id: u32,
    /// Where this fragment's data starts in the reassembled data, in bytes.
    pub offset: u32,
    /// The More Fragments flag: false on the last fragment.
    pub more: bool,
    /// What the reassembled data starts with: IPv4's Protocol, or the IPv6 Fragment header's
    /// Next Header (an extension header may follow it before the upper layer; only the value of
    /// the offset-0 fragment counts, RFC 8200 §4.5).
    pub protocol: u8,
    /// Bytes of this packet before the fragment's data: the IPv4 header with its options, or
    /// the IPv6 header, the extension headers before the Fragment header and the Fragment
    /// header itself.
    pub header_len: u32,
    /// The captured bytes of the fragment's data (trimmed of link-layer padding).
    pub data: &'a [u8],
    /// Length of the fragment's data on the wire, from the IP header.
    pub data_wire_len: u32,
}

/// The parsed meaning of an IPv4 or IPv6 header, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol (after IPv6 extension headers).
    pub protocol: u8,
    /// Length of the whole IP packet on the wire, from the header, even if the capture cut it.
    pub wire_len: u32,
    pub fragment: Fragment,
    /// The upper-layer bytes that were captured (trimmed of link-layer padding).
    pub payload: &'a [u8],
    /// Length of the upper-layer data on the wire.
    pub payload_wire_len: u32,
    /// IPv4 Time to Live or IPv6 Hop Limit as received; 0 where not known (a datagram
    /// reassembled from fragments).
    pub ttl: u8,
}
