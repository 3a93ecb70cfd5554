//! IEEE 802.11 (LINKTYPE_IEEE802_11, 105): the MAC header of a data frame, then LLC/SNAP.
//!
//! ```text
//!  0       2          4        10       16       22          24       30      32      36
//! +-------+----------+--------+--------+--------+-----------+--------+-------+-------+
//! | frame | duration | addr 1 | addr 2 | addr 3 | sequence  | addr 4 |  QoS  |  HT   |
//! |control|          |        |        |        | control   | (WDS)  |control|control|
//! +-------+----------+--------+--------+--------+-----------+--------+-------+-------+
//! ```
//!
//! Frame control, first byte: protocol version (bits 0–1), type (bits 2–3; 2 is data),
//! subtype (bits 4–7; bit 6 "no data": Null and CF frames, bit 7 QoS). Second byte: flags,
//! To DS 0x01 and From DS 0x02 (both: a 4-address frame), Protected 0x40, +HTC/Order 0x80 (with
//! QoS: a 4-byte HT control field follows the QoS control). The body of a data frame starts with
//! an LLC header `AA AA 03` and a SNAP header: OUI `00 00 00` (RFC 1042) or `00 00 F8` (802.1H)
//! and an EtherType.
//!
//! Only data frames carry packets. Management, control and extension frames, data frames
//! without a body (Null, QoS Null), frames of another protocol version, protected frames (their
//! body is encrypted, so their packet cannot be read), A-MSDU aggregates (several packets in one
//! frame, each with its own subframe header: not split here) and bodies that are not LLC/SNAP
//! are [`Network::Other`] (0), not errors.
//!
//! A trailing FCS, when the capture kept one, is left at the end of the packet: IP's own
//! lengths say where the packet ends.

use super::{Network, by_snap, byte, rest};
use crate::Error;

mod field {
    use crate::Field;
    pub const FC_TYPE: usize = 0;
    pub const FC_FLAGS: usize = 1;
    /// Frame control, duration, three addresses, sequence control.
    pub const HEADER_LEN: usize = 24;
    pub const ADDR4_LEN: usize = 6;
    pub const QOS_LEN: usize = 2;
    pub const HT_CONTROL_LEN: usize = 4;
    /// LLC header (DSAP, SSAP, control) in the body.
    pub const LLC: Field = 0..3;
    pub const LLC_LEN: usize = 3;
}

/// Frame type 2 (bits 2–3 of the first frame control byte).
const TYPE_DATA: u8 = 2;
/// Subtype bits.
const SUBTYPE_NO_DATA: u8 = 0x4;
const SUBTYPE_QOS: u8 = 0x8;
/// Frame control flags (second byte).
const TO_DS: u8 = 0x01;
const FROM_DS: u8 = 0x02;
const PROTECTED: u8 = 0x40;
const ORDER: u8 = 0x80;
/// QoS control, first byte: the body is an A-MSDU.
const QOS_AMSDU: u8 = 0x80;
/// LLC: DSAP and SSAP 0xAA (SNAP), control 0x03 (UI).
const LLC_SNAP: [u8; 3] = [0xaa, 0xaa, 0x03];

/// The network-layer packet inside an 802.11 frame. `data_pad`: the capture inserted padding
/// after the MAC header up to a multiple of 4 bytes (radiotap flag 0x20).
pub(super) fn network(frame: &[u8], data_pad: bool) -> Result<Network<'_>, Error> {
    let fc = byte(frame, field::FC_TYPE)?;
    let flags = byte(frame, field::FC_FLAGS)?;
    let version = fc & 0x3;
    let ty = (fc >> 2) & 0x3;
    let subtype = fc >> 4;
    if version != 0 || ty != TYPE_DATA || subtype & SUBTYPE_NO_DATA != 0 || flags & PROTECTED != 0 {
        return Ok(Network::Other(0));
    }
    let mut len = field::HEADER_LEN;
    if flags & (TO_DS | FROM_DS) == TO_DS | FROM_DS {
        len += field::ADDR4_LEN;
    }
    if subtype & SUBTYPE_QOS != 0 {
        if byte(frame, len)? & QOS_AMSDU != 0 {
            return Ok(Network::Other(0));
        }
        len += field::QOS_LEN;
        if flags & ORDER != 0 {
            len += field::HT_CONTROL_LEN;
        }
    }
    if data_pad {
        len = len.div_ceil(4) * 4;
    }
    let body = rest(frame, len)?;
    match body.get(field::LLC) {
        Some(llc) if llc == LLC_SNAP => by_snap(rest(body, field::LLC_LEN)?),
        Some(_) => Ok(Network::Other(0)),
        None => Err(Error::Truncated),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::link::{LinkType, cut_everywhere};

    const IP4: [u8; 2] = [0x45, 0x00];
    const IP6: [u8; 2] = [0x60, 0x00];

    /// A data frame: `subtype` (0 Data, 8 QoS Data), `flags` (frame control byte 2), then
    /// LLC/SNAP with `ethertype` and `ip`. Returns the frame and where its MAC header ends.
    pub(in crate::link) fn data_frame(
        subtype: u8,
        flags: u8,
        ethertype: [u8; 2],
        ip: &[u8],
    ) -> (Vec<u8>, usize) {
        let mut f = vec![(subtype << 4) | (TYPE_DATA << 2), flags]; // frame control
        f.extend([0x2c, 0x00]); // duration 44 µs
        f.extend([0x02, 0, 0, 0, 0, 0x01]); // address 1 (receiver)
        f.extend([0x02, 0, 0, 0, 0, 0x02]); // address 2 (transmitter)
        f.extend([0x02, 0, 0, 0, 0, 0x03]); // address 3
        f.extend([0x10, 0x00]); // sequence control: sequence 1, fragment 0
        if flags & (TO_DS | FROM_DS) == TO_DS | FROM_DS {
            f.extend([0x02, 0, 0, 0, 0, 0x04]); // address 4
        }
        if subtype & SUBTYPE_QOS != 0 {
            f.extend([0x05, 0x00]); // QoS control: TID 5, no A-MSDU
            if flags & ORDER != 0 {
                f.extend([0x00; 4]); // HT control
            }
        }
        let header = f.len();
        f.extend([0xaa, 0xaa, 0x03]); // LLC: SNAP, UI
        f.extend([0x00, 0x00, 0x00]); // OUI: RFC 1042
        f.extend(ethertype);
        f.extend(ip);
        (f, header)
    }

    #[test]
    fn data_and_qos_data_ipv4_ipv6() {
        let (f, _) = data_frame(0, FROM_DS, [0x08, 0x00], &IP4);
        assert_eq!(network(&f, false), Ok(Network::Ipv4(&IP4)));
        let (f, _) = data_frame(8, TO_DS, [0x86, 0xdd], &IP6);
        assert_eq!(network(&f, false), Ok(Network::Ipv6(&IP6)));
        assert_eq!(
            crate::link::network(LinkType::from_number(105), &f),
            Ok(Network::Ipv6(&IP6))
        );
    }

    #[test]
    fn four_addresses_and_ht_control() {
        // QoS data, To DS and From DS (address 4), +HTC (4 bytes after QoS control)
        let (f, header) = data_frame(8, TO_DS | FROM_DS | ORDER, [0x86, 0xdd], &IP6);
        assert_eq!(header, 24 + 6 + 2 + 4);
        assert_eq!(network(&f, false), Ok(Network::Ipv6(&IP6)));
        // The Order bit without QoS adds nothing.
        let (f, header) = data_frame(0, ORDER, [0x08, 0x00], &IP4);
        assert_eq!(header, 24);
        assert_eq!(network(&f, false), Ok(Network::Ipv4(&IP4)));
    }

    #[test]
    fn bridge_tunnel_oui_and_data_pad() {
        let (mut f, header) = data_frame(8, FROM_DS, [0x08, 0x00], &IP4);
        f[header + 5] = 0xf8; // OUI 00-00-F8
        assert_eq!(network(&f, false), Ok(Network::Ipv4(&IP4)));
        // A 26-byte QoS header padded to 28 (radiotap data pad).
        let (f, header) = data_frame(8, 0, [0x08, 0x00], &IP4);
        assert_eq!(header, 26);
        let mut padded = f[..header].to_vec();
        padded.extend([0, 0]);
        padded.extend(&f[header..]);
        assert_eq!(network(&padded, true), Ok(Network::Ipv4(&IP4)));
        // A 24-byte header is already aligned: no padding.
        let (f, _) = data_frame(0, 0, [0x08, 0x00], &IP4);
        assert_eq!(network(&f, true), Ok(Network::Ipv4(&IP4)));
    }

    #[test]
    fn not_ip_frames_are_other() {
        // Protected data frame: the body is encrypted.
        let (f, _) = data_frame(8, FROM_DS | PROTECTED, [0x08, 0x00], &IP4);
        assert_eq!(network(&f, false), Ok(Network::Other(0)));
        // Beacon (management, subtype 8), ACK (control, subtype 13): two bytes suffice.
        assert_eq!(network(&[0x80, 0x00], false), Ok(Network::Other(0)));
        assert_eq!(network(&[0xd4, 0x00], false), Ok(Network::Other(0)));
        // Null (subtype 4) and QoS Null (12) data frames carry no body.
        assert_eq!(network(&[0x48, 0x01], false), Ok(Network::Other(0)));
        assert_eq!(network(&[0xc8, 0x01], false), Ok(Network::Other(0)));
        // Protocol version 1.
        let (mut f, _) = data_frame(0, 0, [0x08, 0x00], &IP4);
        f[0] |= 1;
        assert_eq!(network(&f, false), Ok(Network::Other(0)));
        // A-MSDU aggregate.
        let (mut f, _) = data_frame(8, 0, [0x08, 0x00], &IP4);
        f[24] |= QOS_AMSDU;
        assert_eq!(network(&f, false), Ok(Network::Other(0)));
        // LLC that is not SNAP (STP: 42 42 03), and SNAP with another OUI.
        let (mut f, header) = data_frame(0, 0, [0x08, 0x00], &IP4);
        f[header..header + 2].copy_from_slice(&[0x42, 0x42]);
        assert_eq!(network(&f, false), Ok(Network::Other(0)));
        let (mut f, header) = data_frame(0, 0, [0x80, 0x9b], &IP4);
        f[header + 3..header + 6].copy_from_slice(&[0x08, 0x00, 0x07]); // AppleTalk
        assert_eq!(network(&f, false), Ok(Network::Other(0)));
        // SNAP with ARP.
        let (f, _) = data_frame(0, 0, [0x08, 0x06], &[0, 1]);
        assert_eq!(network(&f, false), Ok(Network::Other(0x0806)));
    }

    #[test]
    fn truncated_everywhere() {
        for (subtype, flags, ty, ip) in [
            (0, FROM_DS, [0x08, 0x00], &IP4),
            (8, TO_DS | FROM_DS | ORDER, [0x86, 0xdd], &IP6),
        ] {
            let (f, header) = data_frame(subtype, flags, ty, ip);
            // MAC header and the 8 bytes of LLC/SNAP
            cut_everywhere(|b| network(b, false), &f, header + 8);
            cut_everywhere(|b| network(b, true), &f, header + 8);
        }
        assert_eq!(network(&[], false), Err(Error::Truncated));
        assert_eq!(network(&[0x08], false), Err(Error::Truncated));
    }
}
