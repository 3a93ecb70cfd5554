//! Radiotap (LINKTYPE_IEEE802_11_RADIOTAP, 127): a radio header in front of an 802.11 frame
//! (radiotap.org).
//!
//! ```text
//!  0         1        2                 4                                  8
//! +---------+--------+--------+--------+--------+--------+--------+--------+
//! | version | pad    | length (LE)     | present (LE u32)                  | [present ...]
//! +---------+--------+--------+--------+--------+--------+--------+--------+ fields ...
//! ```
//!
//! `length` covers the whole radiotap header; the 802.11 frame follows it. A present word with
//! bit 31 set is followed by another present word. The fields follow the last present word, in
//! bit order, each aligned to its natural size relative to the start of the header. Only the
//! Flags field (bit 1, one byte) matters here, and before it only TSFT (bit 0, 8 bytes, aligned
//! to 8) can come. Its flags say whether the frame ends in an FCS (0x10, 4 bytes, dropped) and
//! whether the 802.11 header was padded to a multiple of 4 bytes (0x20).

use super::{Network, byte, ieee80211, le_u16, le_u32};
use crate::Error;

mod field {
    use crate::Field;
    pub const VERSION: usize = 0;
    pub const LENGTH: Field = 2..4;
    pub const PRESENT: Field = 4..8;
    pub const HEADER_LEN: usize = 8;
    pub const PRESENT_LEN: usize = 4;
    pub const TSFT_LEN: usize = 8;
    pub const TSFT_ALIGN: usize = 8;
    pub const FCS_LEN: usize = 4;
}

/// Present bits.
const PRESENT_TSFT: u32 = 1 << 0;
const PRESENT_FLAGS: u32 = 1 << 1;
const PRESENT_EXT: u32 = 1 << 31;
/// Flags field bits.
const FLAG_FCS: u8 = 0x10;
const FLAG_DATA_PAD: u8 = 0x20;

/// The network-layer packet inside a radiotap + 802.11 frame.
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
    let header = frame.get(..len).ok_or(Error::Truncated)?;
    let present = le_u32(header, field::PRESENT)?;
    // The fields start after the last present word; a present word beyond `length` is a
    // header that contradicts itself.
    let mut at = field::HEADER_LEN;
    let mut word = present;
    while word & PRESENT_EXT != 0 {
        word = le_u32(header, at..at + field::PRESENT_LEN).map_err(|_| Error::Malformed)?;
        at += field::PRESENT_LEN;
    }
    let mut flags = 0;
    if present & PRESENT_TSFT != 0 {
        at = at.div_ceil(field::TSFT_ALIGN) * field::TSFT_ALIGN + field::TSFT_LEN;
    }
    if present & PRESENT_FLAGS != 0 {
        flags = byte(header, at).map_err(|_| Error::Malformed)?;
    }
    let mut body = frame.get(len..).ok_or(Error::Truncated)?;
    if flags & FLAG_FCS != 0 {
        let end = body
            .len()
            .checked_sub(field::FCS_LEN)
            .ok_or(Error::Truncated)?;
        body = body.get(..end).ok_or(Error::Truncated)?;
    }
    ieee80211::network(body, flags & FLAG_DATA_PAD != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::ieee80211::tests::data_frame;
    use crate::link::{LinkType, cut_everywhere};

    const IP4: [u8; 2] = [0x45, 0x00];
    const IP6: [u8; 2] = [0x60, 0x00];

    /// A radiotap header as Linux mac80211 writes one: TSFT, Flags, Rate, Channel, antenna
    /// signal, with a second (vendor-less) present word.
    fn header(flags: u8) -> Vec<u8> {
        let mut h = vec![0x00, 0x00]; // version 0, pad
        h.extend([0, 0]); // length, set below
        // present: TSFT | Flags | Rate | Channel | dBm antenna signal | Ext
        h.extend((1u32 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 5 | 1 << 31).to_le_bytes());
        h.extend(0u32.to_le_bytes()); // second present word: nothing more
        // 12 bytes so far: TSFT is aligned to 8 -> 4 bytes of padding
        h.extend([0; 4]);
        h.extend(0x0102_0304_0506_0708u64.to_le_bytes()); // TSFT (µs)
        h.push(flags); // Flags
        h.push(0x0c); // Rate: 6 Mb/s
        h.extend(2437u16.to_le_bytes()); // Channel: 2437 MHz
        h.extend(0x00a0u16.to_le_bytes()); //   channel flags
        h.push(0xc4); // antenna signal -60 dBm
        h.push(0); // pad to an even length
        let len = h.len() as u16;
        h[2..4].copy_from_slice(&len.to_le_bytes());
        h
    }

    #[test]
    fn radiotap_then_802_11() {
        let (body, _) = data_frame(8, 0x02, [0x08, 0x00], &IP4);
        let mut f = header(0);
        f.extend(&body);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
        let (body, _) = data_frame(0, 0x01, [0x86, 0xdd], &IP6);
        let mut f = header(0x02); // short preamble
        f.extend(&body);
        assert_eq!(
            crate::link::network(LinkType::from_number(127), &f),
            Ok(Network::Ipv6(&IP6))
        );
    }

    #[test]
    fn fcs_is_dropped() {
        let (body, _) = data_frame(0, 0x02, [0x86, 0xdd], &IP6);
        let mut f = header(FLAG_FCS);
        f.extend(&body);
        f.extend([0xde, 0xad, 0xbe, 0xef]); // FCS
        assert_eq!(network(&f), Ok(Network::Ipv6(&IP6)));
        // Without the flag the same bytes stay in the packet.
        f[24] = 0; // the Flags byte (after 12 bytes of present words, 4 of padding, 8 of TSFT)
        let mut with_fcs = IP6.to_vec();
        with_fcs.extend([0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(network(&f), Ok(Network::Ipv6(&with_fcs)));
    }

    #[test]
    fn flags_without_tsft_and_data_pad() {
        // present: Flags only; Flags at byte 8
        let mut f = vec![0, 0, 10, 0];
        f.extend((1u32 << 1).to_le_bytes());
        f.push(FLAG_DATA_PAD); // Flags
        f.push(0); // pad to 10
        let (body, header) = data_frame(8, 0x02, [0x08, 0x00], &IP4);
        f.extend(&body[..header]); // 26-byte QoS header ...
        f.extend([0, 0]); // ... padded to 28
        f.extend(&body[header..]);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
        // No Flags field at all: nothing dropped, nothing padded.
        let mut f = vec![0, 0, 8, 0, 0, 0, 0, 0];
        f.extend(&body);
        assert_eq!(network(&f), Ok(Network::Ipv4(&IP4)));
    }

    #[test]
    fn bad_headers() {
        let mut f = header(0);
        f[0] = 1; // version
        assert_eq!(network(&f), Err(Error::Malformed));
        let mut f = header(0);
        f[2] = 4; // length below 8
        assert_eq!(network(&f), Err(Error::Malformed));
        // Present words that never end within the length.
        let mut f = vec![0, 0, 12, 0];
        f.extend(u32::MAX.to_le_bytes());
        f.extend(u32::MAX.to_le_bytes());
        f.extend([0; 30]);
        assert_eq!(network(&f), Err(Error::Malformed));
        // Flags announced but the header ends first.
        let mut f = vec![0, 0, 8, 0];
        f.extend((1u32 << 1).to_le_bytes());
        f.extend([0; 30]);
        assert_eq!(network(&f), Err(Error::Malformed));
    }

    #[test]
    fn truncated_everywhere() {
        for (ty, ip, flags) in [([0x08, 0x00], &IP4, 0), ([0x86, 0xdd], &IP6, FLAG_FCS)] {
            let (body, header_802_11) = data_frame(8, 0x02, ty, ip);
            let mut f = header(flags);
            let radiotap = f.len();
            f.extend(&body);
            if flags & FLAG_FCS != 0 {
                f.extend([0; 4]);
            }
            let fcs = if flags & FLAG_FCS != 0 { 4 } else { 0 };
            cut_everywhere(network, &f, radiotap + header_802_11 + 8 + fcs);
        }
    }
}
