//! Fuzzes the whole analysis: the input is read as a capture file (pcap/pcapng) and every
//! packet goes through the engine; then, as a sequence of Ethernet frames between two fixed
//! endpoints, so detectors see arbitrary payloads on real flows; then the same payloads
//! inside a SOCKS5 tunnel and through its UDP relay, and in IP fragments; then as uTP and
//! KRPC from many sources, shaped so that the attack detectors open incidents. The attack
//! monitor watches every engine. Nothing may panic, the reassembly budget must be whole again
//! at the end, and the monitor's tables stay within their bound.
#![no_main]

use engine::{Config, Engine};
use libfuzzer_sys::fuzz_target;
use wire::{LinkType, build};

/// A bound small enough that fuzz inputs reach it.
const MAX_STATE: u32 = 32;

fn watched(config: Config) -> Engine {
    let mut e = Engine::new(config);
    let t = attacks::Thresholds { max_state: MAX_STATE, update_every_s: 1, ..attacks::Thresholds::default() };
    e.set_tap(Some(Box::new(attacks::Monitor::new(t))));
    e
}

/// Ends the run: the monitor's last alerts, and its bound.
fn close(engine: &mut Engine) {
    engine.finish(&mut |_| {});
    assert_eq!(engine.budget().used, 0);
    let m = engine.tap_mut().and_then(|t| t.as_any_mut().downcast_mut::<attacks::Monitor>()).expect("monitor");
    let _ = m.due();
    for a in m.finish() {
        assert!(a.count >= 1 && a.sources.len() <= attacks::alerts::MAX_LISTED);
    }
    // A dozen tables, each within the bound, and the incidents.
    assert!(m.state_entries() <= 16 * MAX_STATE as usize, "{}", m.state_entries());
}

fuzz_target!(|data: &[u8]| {
    let config = Config { max_flows: 64, max_endpoints: 64, reassembly_budget: 1 << 16, ..Config::default() };

    // 1. As a capture file.
    let mut engine = watched(config.clone());
    let mut parser = capfile::Parser::new();
    let mut rest = data;
    while let Ok(Some((ev, used))) = parser.next(rest) {
        if let capfile::Event::Packet(p) = ev {
            engine.frame(LinkType::from_number(p.linktype), p.ts_nanos, p.data, p.orig_len, &mut |_| {});
        }
        rest = &rest[used..];
    }
    close(&mut engine);

    // 2. As payloads: each chunk starts with a control byte (UDP or TCP, direction, flags).
    let mut engine = watched(config.clone());
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
    close(&mut engine);

    // 3. Through tunnels and in fragments. A SOCKS5 CONNECT to `b` and a UDP ASSOCIATE are
    //    negotiated on two connections to a proxy; then each chunk goes inside the tunnel, to
    //    the relay behind a SOCKS UDP header, or as a UDP datagram cut into IP fragments (at a
    //    length and in an order the control byte chooses).
    let mut engine = watched(Config { max_flows: 64, max_endpoints: 64, reassembly_budget: 1 << 16, ..Config::default() });
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
    close(&mut engine);

    // 4. Attack-shaped: each chunk's first byte picks a source (one of 256 in 10.77.1.0/24,
    //    or a bogon), a kind and a time step; its bytes fill the rest. uTP data with a
    //    handshake to one target, KRPC queries and responses whose ids and transaction ids
    //    come from the input, peers in `values`, and resets with a TTL from the input.
    let mut engine = watched(config);
    let target: std::net::SocketAddr = "10.77.0.2:6881".parse().unwrap();
    let mut t = 1_000_000_000i64;
    for chunk in data.chunks(61) {
        let Some((&ctl, rest)) = chunk.split_first() else { continue };
        let ip = if ctl == 0xff { std::net::Ipv4Addr::new(127, 0, 0, 9) } else { std::net::Ipv4Addr::new(10, 77, 1, ctl) };
        let src = std::net::SocketAddr::new(ip.into(), 7000 + u16::from(ctl & 7));
        let mut id20 = [0u8; 20];
        for (d, s) in id20.iter_mut().zip(rest.iter().cycle()) {
            *d = *s;
        }
        let tid = [rest.first().copied().unwrap_or(0), ctl];
        let frame = match ctl % 5 {
            0 => {
                let mut hs = b"\x13BitTorrent protocol\0\0\0\0\0\0\0\0".to_vec();
                hs.extend(id20);
                hs.extend(rest);
                build::udp(src, target, &bt::utp::emit(bt::utp::Type::Data, u16::from(ctl), 1, 0, 1 << 16, 1, 1, &hs))
            }
            1 => {
                let mut q = b"d1:ad2:id20:".to_vec();
                q.extend(id20);
                q.extend(b"9:info_hash20:");
                q.extend(id20.iter().rev());
                q.extend(b"e1:q9:get_peers1:t2:");
                q.extend(tid);
                q.extend(b"1:y1:qe");
                build::udp(target, src, &q)
            }
            2 | 3 => {
                let mut v = b"d1:rd2:id20:".to_vec();
                v.extend(id20);
                v.extend(b"5:nodes26:");
                v.extend(id20.iter().rev());
                v.extend(&id20[..6]);
                v.extend(b"6:valuesl6:");
                v.extend(&id20[..6]);
                v.extend(b"6:");
                v.extend(&id20[6..12]);
                v.extend(b"ee1:t2:");
                v.extend(tid);
                v.extend(b"1:y1:re");
                build::udp(src, target, &v)
            }
            _ => {
                let mut f = build::tcp(src, target, u32::from(ctl), 1, if ctl & 8 != 0 { 0x14 } else { 0x18 }, rest);
                f[22] = rest.first().copied().unwrap_or(64);
                f
            }
        };
        t += i64::from(ctl) * 40_000_000;
        engine.frame(LinkType::Ethernet, t, &frame, frame.len() as u32, &mut |_| {});
    }
    close(&mut engine);
});