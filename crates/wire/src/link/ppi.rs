//! Per-Packet Information (LINKTYPE_PPI, 192): a header in front of a frame of another link
//! type (the PPI Header Format specification 1.0.7, CACE Technologies; tcpdump's
//! `print-ppi.c`).
//!
//! ```text
//!  0         1         2                 4                                  8
//! +---------+---------+--------+--------+--------+--------+--------+--------+
//! | version | flags   | length (LE)     | link type of the frame (LE u32)   | fields ...
//! +---------+---------+--------+--------+--------+--------+--------+--------+
//! ```
//!
//! `length` covers the header and its fields (802.11-Common, 802.11n MAC, GPS, ...), which are
//! skipped; the frame follows, decoded as the link type the header names (802.11, Ethernet or
//! any other type this module's parent decodes, except PPI itself). A frame of a link type that
//! cannot be decoded is [`Network::Other`] (0). An FCS the 802.11-Common field says is present
//! is left at the end of the packet: IP's own lengths say where the packet ends.

use super::{LinkType, Network, byte, le_u16, le_u32};
use crate::Error;

mod field {
    use crate::Field;
    pub const VERSION: usize = 0;
    pub const LENGTH: Field = 2..4;
    pub const LINK_TYPE: Field = 4..8;
    pub const HEADER_LEN: usize = 8;
}

/// The network-layer packet inside a PPI frame.
pub(super) fn network(frame: &[u8]) -> Result<Network<'_>, Error> {
    if frame.len() < field::HEADER_LEN {
        return Err(Error::Truncated);
    }
    if byte(frame, field::VERSION)? != 0 {
        return Err(Error::Malformed);
    }
    let len = usize::from(le_u16(frame, field::LENGTH)?);
    if len < field::HEADER_LEN {
        return Err(Error::Malformed);
    }
    let inner = frame.get(len..).ok_or(Error::Truncated)?;
    let link = match u16::try_from(le_u32(frame, field::LINK_TYPE)?) {
        Ok(n) => LinkType::from_number(n),
        Err(_) => return Ok(Network::Other(0)),
    };
    match link {
        // One level only: PPI inside PPI is not followed.
        LinkType::Ppi | LinkType::Unknown(_) => Ok(Network::Other(0)),
        link => super::network(link, inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::cut_everywhere;
    use crate::link::ieee80211::tests::data_frame;

    const IP4: [u8; 2] = [0x45, 0x00];
    const IP6: [u8; 2] = [0x60, 0x00];

    /// A PPI header naming `dlt`, with one 802.11-Common field (type 2, 20 bytes).
    fn header(dlt: u32) -> Vec<u8> {
        let mut h = vec![0x00, 0x00]; // version 0, flags 0
        h.extend(32u16.to_le_bytes()); // length: 8 + 4 + 20
        h.extend(dlt.to_le_bytes()); // link type of the frame
        h.extend(2u16.to_le_bytes()); // field type 2: 802.11-Common
        h.extend(20u16.to_le_bytes()); //   field length 20
        h.extend([0; 8]); //   TSF timer
        h.extend(0x0001u16.to_le_bytes()); //   flags: FCS present
        h.extend(0x000cu16.to_le_bytes()); //   rate 6 Mb/s
        h.extend(2437u16.to_le_bytes()); //   channel frequency
        h.extend(0x00a0u16.to_le_bytes()); //   channel flags
        h.extend([0, 0, 0xc4, 0xa0]); //   FHSS hopset, pattern, signal, noise
        h
    }

    #[test]
    fn ppi_then_802_11_and_ethernet() {
        let (body, _) = data_frame(8, 0x02, [0x86, 0xdd], &IP6);
        let mut f = header(105);
        f.extend(&body);
        f.extend([1, 2, 3, 4]); // FCS
        let mut with_fcs = IP6.to_vec();
        with_fcs.extend([1, 2, 3, 4]);
        assert_eq!(network(&f), Ok(Network::Ipv6(&with_fcs)));

        let mut f = header(1);
        f.extend([0xff; 12]); // destination, source
        f.extend([0x08, 0x00]); // EtherType IPv4
        f.extend(IP4);
        assert_eq!(
            crate::link::network(LinkType::from_number(192), &f),
            Ok(Network::Ipv4(&IP4))
        );
    }

    #[test]
    fn unsupported_inner_link_and_bad_headers() {
        for dlt in [147, 192, 0x1_0001] {
            let mut f = header(dlt);
            f.extend(IP4);
            assert_eq!(network(&f), Ok(Network::Other(0)), "dlt {dlt}");
        }
        let mut f = header(1);
        f[0] = 1;
        assert_eq!(network(&f), Err(Error::Malformed));
        let mut f = header(1);
        f[2] = 7;
        assert_eq!(network(&f), Err(Error::Malformed));
    }

    #[test]
    fn truncated_everywhere() {
        let (body, h) = data_frame(0, 0x01, [0x08, 0x00], &IP4);
        let mut f = header(105);
        f.extend(&body);
        cut_everywhere(network, &f, 32 + h + 8);
        let mut f = header(1);
        f.extend([0xff; 12]);
        f.extend([0x86, 0xdd]);
        f.extend(IP6);
        cut_everywhere(network, &f, 32 + 14);
    }
}
