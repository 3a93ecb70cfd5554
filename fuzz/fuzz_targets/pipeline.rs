//! Fuzzes the whole analysis: the input is read as a capture file (pcap/pcapng) and every
//! packet goes through the engine; then, as a sequence of Ethernet frames between two fixed
//! endpoints, so detectors see arbitrary payloads on real flows. Nothing may panic, and the
//! reassembly budget must be whole again at the end.
#![no_main]

use engine::{Config, Engine};
use libfuzzer_sys::fuzz_target;
use wire::{LinkType, build};

fuzz_target!(|data: &[u8]| {
    let config = Config { max_flows: 64, max_endpoints: 64, reassembly_budget: 1 << 16, ..Config::default() };

    // 1. As a capture file.
    let mut engine = Engine::new(config.clone());
    let mut parser = capfile::Parser::new();
    let mut rest = data;
    while let Ok(Some((ev, used))) = parser.next(rest) {
        if let capfile::Event::Packet(p) = ev {
            engine.frame(LinkType::from_number(p.linktype), p.ts_nanos, p.data, p.orig_len, &mut |_| {});
        }
        rest = &rest[used..];
    }
    engine.finish(&mut |_| {});
    assert_eq!(engine.budget().used, 0);

    // 2. As payloads: each chunk starts with a control byte (UDP or TCP, direction, flags).
    let mut engine = Engine::new(config);
    let a = "10.77.0.1:6881".parse().unwrap();
    let b = "10.77.0.2:51413".parse().unwrap();
    let mut seq = [1u32, 1u32];
    let mut t = 1_000_000_000i64;
    for chunk in data.chunks(97) {
        let Some((&ctl, payload)) = chunk.split_first() else { continue };
        let (src, dst, i) = if ctl & 1 == 0 { (a, b, 0) } else { (b, a, 1) };
        let frame = if ctl & 2 == 0 {
            build::udp(src, dst, payload)
        } else {
            let f = build::tcp(src, dst, seq[i], seq[1 - i], ctl >> 2, payload);
            seq[i] = seq[i].wrapping_add(payload.len() as u32);
            f
        };
        t += i64::from(ctl) * 1_000_000;
        engine.frame(LinkType::Ethernet, t, &frame, frame.len() as u32, &mut |_| {});
    }
    engine.finish(&mut |_| {});
    assert_eq!(engine.budget().used, 0);
});
