//! PPP (LINKTYPE_PPP, 9) and PPP in HDLC-like framing (LINKTYPE_PPP_HDLC, 50), and the Cisco
//! HDLC frames both may hold.
//!
//! ```text
//! PPP (RFC 1661, RFC 1662):   [FF 03] protocol (1 or 2 bytes) packet
//! Cisco HDLC:                 0F|8F  00  EtherType (2 bytes)  packet
//! ```
//!
//! The HDLC address and control bytes `FF 03` are optional in LINKTYPE_PPP and present in
//! LINKTYPE_PPP_HDLC. The protocol field may be compressed to one byte (protocol field
//! compression, RFC 1661 section 6.5): protocol numbers have an even first byte and an odd last
//! byte, so an odd first byte is a whole one-byte protocol. 0x0021 is IPv4, 0x0057 IPv6.
//!
//! LINKTYPE_PPP_HDLC is also used for Cisco HDLC ("Cisco PPP with HDLC framing", RFC 1547
//! section 4.3.1): the address byte 0x0F (unicast) or 0x8F (broadcast), a control byte, then an
//! EtherType. Wireshark's and tcpdump's PPP decoders recognise that address byte in either link
//! type, and so does this one (nDPI's `BGP_Cisco_hdlc_slarp.pcap` is Cisco HDLC in a
//! LINKTYPE_PPP file).

use super::{Network, by_ethertype, byte, header_u16, rest};
use crate::Error;

mod field {
    use crate::Field;
    pub const ADDRESS: usize = 0;
    pub const CONTROL: usize = 1;
    pub const ADDRESS_CONTROL_LEN: usize = 2;
    pub const CHDLC_TYPE: Field = 2..4;
    pub const CHDLC_LEN: usize = 4;
    pub const PROTOCOL: Field = 0..2;
}

/// PPP protocol numbers this crate follows.
pub mod protocol {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
}

/// HDLC address and control of PPP (all-stations address, unnumbered information).
const ALL_STATIONS: u8 = 0xff;
const UI: u8 = 0x03;
/// Cisco HDLC addresses.
const CHDLC_UNICAST: u8 = 0x0f;
const CHDLC_BROADCAST: u8 = 0x8f;

/// The network-layer packet inside a PPP or Cisco HDLC frame.
pub(super) fn network(frame: &[u8]) -> Result<Network<'_>, Error> {
    match byte(frame, field::ADDRESS)? {
        CHDLC_UNICAST | CHDLC_BROADCAST => {
            let ty = header_u16(frame, field::CHDLC_TYPE)?;
            by_ethertype(ty, rest(frame, field::CHDLC_LEN)?)
        }
        ALL_STATIONS => match byte(frame, field::CONTROL)? {
            UI => by_protocol(rest(frame, field::ADDRESS_CONTROL_LEN)?),
            _ => Err(Error::Malformed),
        },
        _ => by_protocol(frame),
    }
}

/// The packet after a PPP protocol field (compressed or not) at the start of `b`.
fn by_protocol(b: &[u8]) -> Result<Network<'_>, Error> {
    let first = byte(b, 0)?;
    let (proto, len) = if first & 1 == 1 {
        (u16::from(first), 1)
    } else {
        (header_u16(b, field::PROTOCOL)?, field::PROTOCOL.end)
    };
    let packet = rest(b, len)?;
    Ok(match proto {
        protocol::IPV4 => Network::Ipv4(packet),
        protocol::IPV6 => Network::Ipv6(packet),
        other => Network::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{LinkType, cut_everywhere};

    const IP4: [u8; 2] = [0x45, 0x00];
    const IP6: [u8; 2] = [0x60, 0x00];

    fn with(prefix: &[u8], ip: &[u8]) -> Vec<u8> {
        let mut f = prefix.to_vec();
        f.extend(ip);
        f
    }

    #[test]
    fn every_ppp_form() {
        // address/control, 2-byte protocol (LINKTYPE_PPP_HDLC's form)
        let f = with(&[0xff, 0x03, 0x00, 0x21], &IP4);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
        let f = with(&[0xff, 0x03, 0x00, 0x57], &IP6);
        assert_eq!(
            crate::link::network(LinkType::from_number(50), &f),
            Ok(Network::Ipv6(&IP6))
        );
        // no address/control, 2-byte protocol (nDPI's dlt_ppp.pcap: 00 21 45 ...)
        let f = with(&[0x00, 0x21], &IP4);
        assert_eq!(
            crate::link::network(LinkType::from_number(9), &f),
            Ok(Network::Ipv4(&IP4))
        );
        // protocol field compression, with and without address/control
        let f = with(&[0x57], &IP6);
        assert_eq!(network(&f), Ok(Network::Ipv6(&IP6)));
        let f = with(&[0xff, 0x03, 0x21], &IP4);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
    }

    #[test]
    fn cisco_hdlc() {
        // unicast address, control 0, EtherType IPv4 (BGP_Cisco_hdlc_slarp.pcap: 0f 00 08 00)
        let f = with(&[0x0f, 0x00, 0x08, 0x00], &IP4);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
        let f = with(&[0x8f, 0x00, 0x86, 0xdd], &IP6);
        assert_eq!(network(&f), Ok(Network::Ipv6(&IP6)));
        // SLARP keepalive
        let f = with(&[0x8f, 0x00, 0x80, 0x35], &[0, 0, 0, 2]);
        assert_eq!(network(&f), Ok(Network::Other(0x8035)));
    }

    #[test]
    fn other_protocols_and_bad_control() {
        // LCP (0xc021), IPCP (0x8021), VJ compressed TCP/IP (0x2d, compressed)
        assert_eq!(
            network(&[0xff, 0x03, 0xc0, 0x21, 1]),
            Ok(Network::Other(0xc021))
        );
        assert_eq!(network(&[0x80, 0x21, 1]), Ok(Network::Other(0x8021)));
        assert_eq!(network(&[0x2d, 1]), Ok(Network::Other(0x2d)));
        assert_eq!(network(&[0xff, 0x13, 0x00, 0x21]), Err(Error::Malformed));
    }

    #[test]
    fn truncated_everywhere() {
        for (prefix, ip) in [
            (&[0xff, 0x03, 0x00, 0x21][..], &IP4),
            (&[0xff, 0x03, 0x57][..], &IP6),
            (&[0x00, 0x57][..], &IP6),
            (&[0x0f, 0x00, 0x86, 0xdd][..], &IP6),
        ] {
            cut_everywhere(network, &with(prefix, ip), prefix.len());
        }
    }
}
