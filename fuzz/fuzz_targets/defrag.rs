//! Fuzzes fragment reassembly: the input is a sequence of records, each a frame (raw IP,
//! Ethernet, or an IPv4/IPv6 fragment built from a few control bytes and data, perhaps cut as
//! by a snaplen) captured some time after the previous one. Every frame goes through wire
//! decoding into the reassembler, and whatever completes is decoded down to its transport.
//! Nothing may panic, the memory budget and the table's size hold after every fragment, and
//! nothing is left once everything in progress is dropped.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use defrag::{Config, Outcome, Reassembler};
use libfuzzer_sys::fuzz_target;
use wire::ip::protocol;
use wire::{LinkType, Transport, build, decode, decode_fragment};

const A4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

fuzz_target!(|data: &[u8]| {
    let config = Config {
        memory_budget: 1 << 14,
        max_datagrams: 8,
        max_fragments: 16,
        timeout_ns: 30_000_000_000,
    };
    let mut r = Reassembler::new(config);
    let mut now = 0i64;
    let mut rest = data;
    // A record: a control byte (low 2 bits: kind; high 4: time step in 1/4 s), a 16-bit length,
    // and that many bytes.
    while let [ctl, n0, n1, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*n0, *n1])).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        now += i64::from(ctl >> 4) * 250_000_000;
        let mut built;
        let (link, frame) = match ctl & 3 {
            0 => (LinkType::Raw, bytes),
            1 => (LinkType::Ethernet, bytes),
            kind => {
                // id, offset (13 bits, in units of 8), flags (M, extension headers, snaplen).
                let [id, o0, o1, flags, payload @ ..] = bytes else {
                    continue;
                };
                let frag = build::Frag {
                    id: u32::from(id & 3),
                    offset: usize::from(u16::from_be_bytes([*o0, *o1]) & 0x1fff) * 8,
                    more: flags & 1 != 0,
                    data: payload,
                };
                built = if kind == 2 {
                    build::ipv4_fragment(A4, B4, protocol::UDP, &frag)
                } else {
                    let before: &[u8] = if flags & 2 != 0 {
                        &[protocol::HOP_BY_HOP]
                    } else {
                        &[]
                    };
                    let next = if flags & 4 != 0 {
                        protocol::IPV6_DEST_OPTS
                    } else {
                        protocol::UDP
                    };
                    build::ipv6_fragment(A6, B6, before, next, &frag)
                };
                if flags & 8 != 0 {
                    built.truncate(usize::from(flags >> 4) * 8 + 40);
                }
                (LinkType::Ethernet, &built[..])
            }
        };
        // What the engine will do: decode, and describe fragments for the reassembler.
        let _ = decode(link, frame);
        let Ok(Some(frag)) = decode_fragment(link, frame) else {
            continue;
        };
        assert!(frag.data.len() as u64 <= u64::from(frag.data_wire_len));
        if let Outcome::Complete(d) = r.push(&frag, now) {
            assert!(d.payload.len() as u64 <= u64::from(d.payload_wire_len));
            if let Ok(dec) = d.decode()
                && let Transport::Tcp { payload, .. } | Transport::Udp { payload, .. } =
                    dec.transport
            {
                assert!(payload.len() <= d.payload.len());
            }
        }
        assert!(r.memory() <= config.memory_budget);
        assert!(r.in_progress() <= config.max_datagrams);
    }
    r.finish();
    assert_eq!((r.memory(), r.in_progress()), (0, 0));
});
