//! Fuzzes the header views: any frame of any link type decodes or is skipped, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::{LinkType, Transport, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&link, frame)) = data.split_first() else { return };
    // Link types that are supported, and one that is not.
    let link = [0u16, 1, 12, 101, 108, 113, 228, 229, 276, 147][usize::from(link) % 10];
    if let Ok(d) = decode(LinkType::from_number(link), frame) {
        assert!(d.ip.payload.len() <= frame.len());
        if let Transport::Tcp { payload, .. } | Transport::Udp { payload, .. } = d.transport {
            assert!(payload.len() <= d.ip.payload.len());
        }
    }
});
