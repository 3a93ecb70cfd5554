//! The layout of one TPACKET_V3 block, read from bytes (no I/O, no `unsafe`): the ring hands
//! a block it owns to [`frames`], the fuzz target hands it anything.
//!
//! A block starts with its descriptor (`tpacket_block_desc`: version, private-area offset, then
//! `tpacket_hdr_v1`: status at 8, packet count at 12, offset of the first packet at 16). Each
//! packet starts with a `tpacket3_hdr` (next packet's offset at 0, seconds at 4, nanoseconds at
//! 8, captured length at 12, wire length at 16, status at 20, link header offset at 24, network
//! header offset at 26; 48 bytes), then a `sockaddr_ll` (packet type at its byte 10).

/// One captured packet, borrowed from the block.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts_ns: i64,
    /// The bytes captured, from the link header (or the network header, see [`frames`]).
    pub data: &'a [u8],
    /// Length on the wire.
    pub wire_len: u32,
}

/// What walking a block found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walk {
    /// Frames handed over.
    pub frames: usize,
    /// The block's layout made no sense somewhere (the rest of it was not read).
    pub bad: bool,
}

/// Size of `tpacket3_hdr`.
const HDR: usize = 48;
/// `sll_pkttype` of a packet the host sent.
pub const PACKET_OUTGOING: u8 = 4;

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// Calls `each` for the packets of `block`, in order. `from_net`: a frame starts at its network
/// header (interfaces without an Ethernet-like header); `skip_outgoing`: packets the host sent
/// are skipped (on loopback, each packet also arrives as received).
pub fn frames<'a>(
    block: &'a [u8],
    from_net: bool,
    skip_outgoing: bool,
    mut each: impl FnMut(Frame<'a>),
) -> Walk {
    let mut walk = Walk::default();
    let (Some(num), Some(first)) = (u32_at(block, 12), u32_at(block, 16)) else {
        walk.bad = true;
        return walk;
    };
    let mut off = first as usize;
    for _ in 0..num {
        let fields = (|| {
            Some((
                u32_at(block, off)?,
                u32_at(block, off + 4)?,
                u32_at(block, off + 8)?,
                u32_at(block, off + 12)?,
                u32_at(block, off + 16)?,
                u16_at(block, off + 24)?,
                u16_at(block, off + 26)?,
            ))
        })();
        let Some((next, sec, nsec, snap, len, mac, net)) = fields else {
            walk.bad = true;
            break;
        };
        let (start, cut) = if from_net && net >= mac {
            (off.saturating_add(usize::from(net)), u32::from(net - mac))
        } else {
            (off.saturating_add(usize::from(mac)), 0)
        };
        let caplen = snap.saturating_sub(cut) as usize;
        let data = match block.get(start..start.saturating_add(caplen)) {
            Some(d) if start >= off + HDR => d,
            _ => {
                walk.bad = true;
                break;
            }
        };
        let outgoing = skip_outgoing
            && block
                .get(off + HDR + 10)
                .is_some_and(|t| *t == PACKET_OUTGOING);
        if !outgoing {
            each(Frame {
                ts_ns: i64::from(sec) * 1_000_000_000 + i64::from(nsec),
                data,
                wire_len: len.saturating_sub(cut),
            });
            walk.frames += 1;
        }
        if next == 0 {
            break;
        }
        match off.checked_add(next as usize) {
            Some(o) => off = o,
            None => {
                walk.bad = true;
                break;
            }
        }
    }
    walk
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A block holding `packets` (data, packet type), as the kernel lays them out.
    pub(crate) fn block(packets: &[(&[u8], u8)]) -> Vec<u8> {
        let mut b = vec![0u8; 48];
        b[12..16].copy_from_slice(&(packets.len() as u32).to_ne_bytes());
        b[16..20].copy_from_slice(&48u32.to_ne_bytes());
        for (i, (data, kind)) in packets.iter().enumerate() {
            let off = b.len();
            let mac = 48 + 32; // header, sockaddr_ll (20) rounded to 16, as the kernel aligns
            let size = (mac + data.len()).div_ceil(16) * 16;
            b.resize(off + size, 0);
            let next = if i + 1 == packets.len() {
                0
            } else {
                size as u32
            };
            b[off..off + 4].copy_from_slice(&next.to_ne_bytes());
            b[off + 4..off + 8].copy_from_slice(&(1_700_000_000u32 + i as u32).to_ne_bytes());
            b[off + 8..off + 12].copy_from_slice(&500u32.to_ne_bytes());
            b[off + 12..off + 16].copy_from_slice(&(data.len() as u32).to_ne_bytes());
            b[off + 16..off + 20].copy_from_slice(&(data.len() as u32 + 4).to_ne_bytes());
            b[off + 24..off + 26].copy_from_slice(&(mac as u16).to_ne_bytes());
            b[off + 26..off + 28].copy_from_slice(&(mac as u16 + 14).to_ne_bytes());
            b[off + HDR + 10] = *kind;
            b[off + mac..off + mac + data.len()].copy_from_slice(data);
        }
        b
    }

    #[test]
    fn walks_packets_from_link_or_network_header() {
        let a: Vec<u8> = (0..60).collect();
        let c: Vec<u8> = (100..140).collect();
        let b = block(&[(&a, 0), (&c, PACKET_OUTGOING)]);
        let mut got = Vec::new();
        let w = frames(&b, false, false, |f| {
            got.push((f.ts_ns, f.data.to_vec(), f.wire_len))
        });
        assert_eq!(
            w,
            Walk {
                frames: 2,
                bad: false
            }
        );
        assert_eq!(got[0], (1_700_000_000_000_000_500, a.clone(), 64));
        assert_eq!(got[1].1, c);
        // From the network header: the 14-byte link header is not part of the frame.
        let mut got = Vec::new();
        frames(&b, true, false, |f| got.push((f.data.to_vec(), f.wire_len)));
        assert_eq!(got[0], (a[14..].to_vec(), 50));
        // Skipping what the host sent.
        let mut n = 0;
        let w = frames(&b, false, true, |_| n += 1);
        assert_eq!((n, w.frames, w.bad), (1, 1, false));
    }

    #[test]
    fn a_block_that_lies_is_read_up_to_the_lie() {
        let a = [7u8; 30];
        let mut b = block(&[(&a, 0), (&a, 0)]);
        // The second packet's length runs past the block.
        let second = 48 + (48 + 32 + 30usize).div_ceil(16) * 16;
        b[second + 12..second + 16].copy_from_slice(&10_000u32.to_ne_bytes());
        let mut n = 0;
        let w = frames(&b, false, false, |_| n += 1);
        assert_eq!((n, w.bad), (1, true));
        // A count larger than the packets there.
        let mut b = block(&[(&a, 0)]);
        b[12..16].copy_from_slice(&5u32.to_ne_bytes());
        let w = frames(&b, false, false, |_| {});
        assert_eq!(w.frames, 1);
        let w = frames(&[0u8; 10], false, false, |_| {});
        assert_eq!((w.frames, w.bad), (0, true), "too short for a descriptor");
    }

    proptest! {
        /// Any bytes: no panic, every frame inside the block.
        #[test]
        fn any_bytes(b in prop::collection::vec(any::<u8>(), 0..600), net in any::<bool>(), skip in any::<bool>()) {
            let range = b.as_ptr_range();
            frames(&b, net, skip, |f| {
                let r = f.data.as_ptr_range();
                assert!(range.start <= r.start && r.end <= range.end);
            });
        }
    }
}
