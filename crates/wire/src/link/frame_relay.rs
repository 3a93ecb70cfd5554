//! Frame Relay (LINKTYPE_FRELAY, 107): a Q.922 address, then RFC 2427 multiprotocol
//! encapsulation, or Cisco's.
//!
//! ```text
//! RFC 2427:  Q.922 address (2-4 bytes) | control 0x03 | [pad 0x00] | NLPID | packet
//!            NLPID 0xCC IPv4, 0x8E IPv6, 0x80 SNAP: OUI (3 bytes), PID (2 bytes), packet
//! Cisco:     Q.922 address | EtherType (2 bytes) | packet
//! ```
//!
//! The Q.922 address is at least two bytes; the low bit (EA) of each byte is 0 when another
//! address byte follows and 1 in the last, and the address is at most four bytes. A SNAP header
//! with OUI 00-00-00 carries an EtherType (routed frames); other OUIs (00-80-C2: bridged frames)
//! are [`Network::Other`] (0). Like tcpdump's `print-fr.c`, a frame whose byte after the address
//! is not the UI control byte is read as Cisco encapsulation.

use super::{Network, by_ethertype, by_snap, byte, header_u16, rest};
use crate::Error;

mod field {
    use crate::Field;
    pub const MAX_ADDRESS_LEN: usize = 4;
    pub const CONTROL: usize = 0;
    /// After the address, in Cisco encapsulation.
    pub const CISCO_TYPE: Field = 0..2;
    pub const CISCO_LEN: usize = 2;
}

/// NLPIDs (ISO/IEC TR 9577) this crate follows.
pub mod nlpid {
    pub const IPV4: u8 = 0xcc;
    pub const IPV6: u8 = 0x8e;
    pub const SNAP: u8 = 0x80;
    /// Not an NLPID: a pad byte before one.
    pub const PAD: u8 = 0x00;
}

/// The Q.922 extended-address bit.
const EA: u8 = 0x01;
/// Unnumbered information.
const UI: u8 = 0x03;

/// The length of the Q.922 address at the start of `frame`.
fn address_len(frame: &[u8]) -> Result<usize, Error> {
    for i in 0..field::MAX_ADDRESS_LEN {
        if byte(frame, i)? & EA != 0 {
            // The first byte never ends the address.
            return if i == 0 {
                Err(Error::Malformed)
            } else {
                Ok(i + 1)
            };
        }
    }
    Err(Error::Malformed)
}

/// The network-layer packet inside a Frame Relay frame.
pub(super) fn network(frame: &[u8]) -> Result<Network<'_>, Error> {
    let after = rest(frame, address_len(frame)?)?;
    if byte(after, field::CONTROL)? != UI {
        let ty = header_u16(after, field::CISCO_TYPE)?;
        return by_ethertype(ty, rest(after, field::CISCO_LEN)?);
    }
    let mut at = field::CONTROL + 1;
    if byte(after, at)? == nlpid::PAD {
        at += 1;
    }
    let id = byte(after, at)?;
    let packet = rest(after, at + 1)?;
    match id {
        nlpid::IPV4 => Ok(Network::Ipv4(packet)),
        nlpid::IPV6 => Ok(Network::Ipv6(packet)),
        nlpid::SNAP => by_snap(packet),
        other => Ok(Network::Other(u16::from(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{LinkType, cut_everywhere};

    const IP4: [u8; 2] = [0x45, 0x00];
    const IP6: [u8; 2] = [0x60, 0x00];

    /// DLCI 100 in a 2-byte Q.922 address: 0x18 (DLCI high 6 bits 000110, C/R 0, EA 0),
    /// 0x41 (DLCI low 4 bits 0100, FECN 0, BECN 0, DE 0, EA 1).
    const DLCI_100: [u8; 2] = [0x18, 0x41];

    fn with(prefix: &[&[u8]], ip: &[u8]) -> Vec<u8> {
        let mut f: Vec<u8> = prefix.concat();
        f.extend(ip);
        f
    }

    #[test]
    fn rfc_2427_ip_and_ipv6() {
        let f = with(&[&DLCI_100, &[UI, nlpid::IPV4]], &IP4);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
        let f = with(&[&DLCI_100, &[UI, nlpid::IPV6]], &IP6);
        assert_eq!(
            crate::link::network(LinkType::from_number(107), &f),
            Ok(Network::Ipv6(&IP6))
        );
        // with a pad byte (the 3-byte address form uses one)
        let f = with(&[&[0x18, 0x40, 0x01], &[UI, nlpid::PAD, nlpid::IPV4]], &IP4);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
        // a 4-byte address
        let f = with(&[&[0x18, 0x40, 0x00, 0x01], &[UI, nlpid::IPV6]], &IP6);
        assert_eq!(network(&f), Ok(Network::Ipv6(&IP6)));
    }

    #[test]
    fn snap_and_cisco() {
        // pad, SNAP, OUI 00-00-00, PID = EtherType IPv6
        let f = with(
            &[
                &DLCI_100,
                &[UI, nlpid::PAD, nlpid::SNAP, 0, 0, 0, 0x86, 0xdd],
            ],
            &IP6,
        );
        assert_eq!(network(&f), Ok(Network::Ipv6(&IP6)));
        // bridged Ethernet (OUI 00-80-C2, PID 0x0007): not followed
        let f = with(
            &[
                &DLCI_100,
                &[UI, nlpid::PAD, nlpid::SNAP, 0, 0x80, 0xc2, 0, 7],
            ],
            &[0; 14],
        );
        assert_eq!(network(&f), Ok(Network::Other(0)));
        // Cisco: EtherType right after the address
        let f = with(&[&DLCI_100, &[0x08, 0x00]], &IP4);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
        let f = with(&[&DLCI_100, &[0x86, 0xdd]], &IP6);
        assert_eq!(network(&f), Ok(Network::Ipv6(&IP6)));
    }

    #[test]
    fn other_nlpids_and_bad_addresses() {
        // Q.933 signalling (NLPID 0x08) and CLNP (0x81)
        let f = with(&[&[0x00, 0x01], &[UI, 0x08]], &[0; 4]);
        assert_eq!(network(&f), Ok(Network::Other(0x08)));
        let f = with(&[&DLCI_100, &[UI, 0x81]], &[0; 4]);
        assert_eq!(network(&f), Ok(Network::Other(0x81)));
        // EA set in the first byte; EA never set in four bytes
        assert_eq!(network(&[0x19, 0x41, UI, 0xcc]), Err(Error::Malformed));
        assert_eq!(
            network(&[0x18, 0x40, 0x00, 0x00, 0x01, UI, 0xcc]),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn truncated_everywhere() {
        let cases: [(&[&[u8]], &[u8]); 4] = [
            (&[&DLCI_100, &[UI, nlpid::IPV4]], &IP4),
            (&[&[0x18, 0x40, 0x01], &[UI, nlpid::PAD, nlpid::IPV6]], &IP6),
            (
                &[&DLCI_100, &[UI, 0, nlpid::SNAP, 0, 0, 0, 0x86, 0xdd]],
                &IP6,
            ),
            (&[&DLCI_100, &[0x08, 0x00]], &IP4),
        ];
        for (prefix, ip) in cases {
            let header: usize = prefix.iter().map(|p| p.len()).sum();
            cut_everywhere(network, &with(prefix, ip), header);
        }
    }
}
