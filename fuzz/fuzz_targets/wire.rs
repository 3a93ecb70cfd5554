//! Fuzzes the header views: any frame of any link type decodes or is skipped, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::link::{self, Network};
use wire::{LinkType, Transport, decode};

/// Every supported LINKTYPE number (and the DLT_RAW values some writers leak).
const LINKS: [u16; 17] = [
    0, 1, 9, 12, 14, 50, 101, 105, 107, 108, 113, 127, 192, 228, 229, 239, 276,
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the link type: one of LINKS, or (its top bit set) the number made of
    // the next two bytes, so that unsupported and unusual numbers are reached too.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (link, frame) = if pick & 0x80 == 0 {
        (LINKS[usize::from(pick) % LINKS.len()], rest)
    } else {
        match rest {
            [hi, lo, frame @ ..] => (u16::from_be_bytes([*hi, *lo]), frame),
            _ => return,
        }
    };
    let link = LinkType::from_number(link);
    if let Ok(Network::Ipv4(p) | Network::Ipv6(p)) = link::network(link, frame) {
        // The packet is a part of the frame.
        let (f, q) = (frame.as_ptr_range(), p.as_ptr_range());
        assert!(p.is_empty() || (f.start <= q.start && q.end <= f.end));
    }
    if let Ok(d) = decode(link, frame) {
        assert!(d.ip.payload.len() <= frame.len());
        if let Transport::Tcp { payload, .. } | Transport::Udp { payload, .. } = d.transport {
            assert!(payload.len() <= d.ip.payload.len());
        }
    }
});
