//! Fuzzes the whole analysis: the input is read as a capture file (pcap/pcapng) and every
//! packet goes through the engine; then, as a sequence of Ethernet frames between two fixed
//! endpoints, so detectors see arbitrary payloads on real flows; then the same payloads
//! inside a SOCKS5 tunnel and through its UDP relay, and in IP fragments. Nothing may panic,
//! and the reassembly budget must be whole again at the end.
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

    // 3. Through tunnels and in fragments. A SOCKS5 CONNECT to `b` and a UDP ASSOCIATE are
    //    negotiated on two connections to a proxy; then each chunk goes inside the tunnel, to
    //    the relay behind a SOCKS UDP header, or as a UDP datagram cut into IP fragments (at a
    //    length and in an order the control byte chooses).
    let mut engine = Engine::new(Config { max_flows: 64, max_endpoints: 64, reassembly_budget: 1 << 16, ..Config::default() });
    let proxy: std::net::SocketAddr = "10.77.9.9:1080".parse().unwrap();
    let relay: std::net::SocketAddr = "10.77.9.9:40000".parse().unwrap();
    let mut t = 1_000_000_000i64;
    let mut send = |engine: &mut Engine, frame: Vec<u8>| {
        t += 1_000_000;
        engine.frame(LinkType::Ethernet, t, &frame, frame.len() as u32, &mut |_| {});
    };
    let dest = |s: std::net::SocketAddr| proxy::Dest {
        host: match s.ip() {
            std::net::IpAddr::V4(x) => proxy::Host::V4(x),
            std::net::IpAddr::V6(x) => proxy::Host::V6(x),
        },
        port: s.port(),
    };
    let mut seq = [1001u32, 5001u32];
    let c = a;
    for (from_client, m) in [
        (true, vec![5u8, 1, 0]),
        (false, vec![5, 0]),
        (true, proxy::socks5::emit(&[5, 1, 0], &dest(b))),
        (false, proxy::socks5::emit(&[5, 0, 0], &dest(proxy))),
    ] {
        let (s, d, i) = if from_client { (c, proxy, 0) } else { (proxy, c, 1) };
        send(&mut engine, build::tcp(s, d, seq[i], seq[1 - i], 0x18, &m));
        seq[i] = seq[i].wrapping_add(m.len() as u32);
    }
    let ctl: std::net::SocketAddr = "10.77.0.1:6882".parse().unwrap();
    let mut cseq = [1001u32, 5001u32];
    for (from_client, m) in [
        (true, vec![5u8, 1, 0]),
        (false, vec![5, 0]),
        (true, proxy::socks5::emit(&[5, 3, 0], &dest("0.0.0.0:0".parse().unwrap()))),
        (false, proxy::socks5::emit(&[5, 0, 0], &dest("0.0.0.0:40000".parse().unwrap()))),
    ] {
        let (s, d, i) = if from_client { (ctl, proxy, 0) } else { (proxy, ctl, 1) };
        send(&mut engine, build::tcp(s, d, cseq[i], cseq[1 - i], 0x18, &m));
        cseq[i] = cseq[i].wrapping_add(m.len() as u32);
    }
    let mut id = 0u32;
    for chunk in data.chunks(211) {
        let Some((&ctl, payload)) = chunk.split_first() else { continue };
        match ctl % 4 {
            0 | 1 => {
                let (s, d, i) = if ctl & 4 == 0 { (c, proxy, 0) } else { (proxy, c, 1) };
                send(&mut engine, build::tcp(s, d, seq[i], seq[1 - i], 0x18, payload));
                seq[i] = seq[i].wrapping_add(payload.len() as u32);
            }
            2 => {
                let mut p = proxy::socks5::emit(&[0, 0, 0], &dest(b));
                p.extend_from_slice(payload);
                let (s, d) = if ctl & 4 == 0 { (a, relay) } else { (relay, a) };
                send(&mut engine, build::udp(s, d, &p));
            }
            _ => {
                id += 1;
                let l4 = build::udp_datagram(a.port(), b.port(), payload);
                let mut frags = build::fragments(a.ip(), b.ip(), 17, id, &l4, usize::from(ctl >> 2).max(1) * 8);
                if ctl & 0x80 != 0 {
                    frags.reverse();
                }
                for f in frags {
                    send(&mut engine, f);
                }
            }
        }
    }
    engine.finish(&mut |_| {});
    assert_eq!(engine.budget().used, 0);
});
