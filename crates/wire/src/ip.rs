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
}
