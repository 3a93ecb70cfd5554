//! Each detector on packets built from the specs, through the engine (the monitor as its
//! tap): an attack is an incident of its category, the ordinary exchange next to it is not.

use std::net::{IpAddr, SocketAddr};

use bt::utp::{Type, emit};
use engine::{Config, Engine};
use wire::LinkType;
use wire::tcp::flags;

use crate::{Alert, Category, Monitor, Thresholds};

const IH: [u8; 20] = [0xab; 20];

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Run {
    e: Engine,
}

impl Run {
    fn new() -> Run {
        Run::with(Thresholds::default())
    }

    fn with(t: Thresholds) -> Run {
        let mut e = Engine::new(Config::default());
        e.set_tap(Some(Box::new(Monitor::new(t))));
        Run { e }
    }

    fn feed(&mut self, at_ms: i64, frame: &[u8]) {
        self.e.frame(
            LinkType::Ethernet,
            at_ms * 1_000_000,
            frame,
            frame.len() as u32,
            &mut |_| {},
        );
    }

    fn ttl(&mut self, at_ms: i64, mut frame: Vec<u8>, ttl: u8) {
        frame[22] = ttl; // Ethernet (14) + IPv4 TTL (8)
        self.feed(at_ms, &frame);
    }

    fn monitor(&mut self) -> &mut Monitor {
        self.e
            .tap_mut()
            .and_then(|t| t.as_any_mut().downcast_mut::<Monitor>())
            .expect("a monitor")
    }

    /// Every incident at the end (the last state of each).
    fn end(mut self) -> Vec<Alert> {
        self.e.finish(&mut |_| {});
        let m = self.monitor();
        m.finish();
        m.incidents().into_iter().cloned().collect()
    }
}

fn of(alerts: &[Alert], c: Category) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.category == c).collect()
}

fn handshake() -> Vec<u8> {
    let mut h = b"\x13BitTorrent protocol".to_vec();
    h.extend([0u8; 8]);
    h.extend(IH);
    h.extend(*b"-LT2080-abcdefghijkl");
    h
}

fn utp(kind: Type, id: u16, seq: u16, ack: u16, payload: &[u8]) -> Vec<u8> {
    emit(kind, id, 1, 0, 65_535, seq, ack, payload)
}

#[test]
fn forged_utp_data_from_many_sources_is_one_incident() {
    let target = sa("10.77.0.2:6881");
    let mut r = Run::new();
    for i in 0..10u16 {
        let src = sa(&format!("10.77.1.{}:{}", 10 + i, 40_000 + i));
        let data = utp(Type::Data, 1000 + i, 7, 99, &handshake());
        r.feed(i64::from(i) * 100, &wire::build::udp(src, target, &data));
        if i % 2 == 0 {
            // The target refuses some; the others it never answers.
            let reset = utp(Type::Reset, 1000 + i, 1, 7, &[]);
            r.feed(
                i64::from(i) * 100 + 1,
                &wire::build::udp(target, src, &reset),
            );
        }
    }
    r.feed(
        20_000,
        &wire::build::udp(sa("10.77.9.9:1"), sa("10.77.9.8:1"), b"x"),
    );
    let a = r.end();
    let f = of(&a, Category::UtpForged);
    assert_eq!(f.len(), 1, "{a:#?}");
    assert_eq!(f[0].key, format!("infohash {}", "ab".repeat(20)));
    assert_eq!(f[0].sources_total, 10);
    // One detection per forged connection (each confirmed once).
    assert_eq!(f[0].count, 10);
    assert_eq!(f[0].infohashes, vec!["ab".repeat(20)]);
    assert_eq!(f[0].targets, vec![target.ip()]);
    assert_eq!(a.len(), 1);
}

#[test]
fn utp_data_answered_by_its_receiver_is_a_connection_seen_midway() {
    let target = sa("10.77.0.2:6881");
    let mut r = Run::new();
    for i in 0..10u16 {
        let src = sa(&format!("10.77.1.{}:{}", 10 + i, 40_000 + i));
        let data = utp(Type::Data, 1000 + i, 7, 99, &handshake());
        r.feed(i64::from(i) * 100, &wire::build::udp(src, target, &data));
        let state = utp(Type::State, 1000 + i - 1, 99, 7, &[]);
        r.feed(
            i64::from(i) * 100 + 1,
            &wire::build::udp(target, src, &state),
        );
    }
    assert!(r.end().is_empty());
}

#[test]
fn a_bogon_source_is_forged_at_once_and_four_sources_are_not_enough() {
    let target = sa("10.77.0.2:6881");
    let mut r = Run::new();
    let data = utp(Type::Data, 5, 7, 99, &handshake());
    r.feed(0, &wire::build::udp(sa("127.9.9.9:5000"), target, &data));
    let a = r.end();
    assert_eq!(of(&a, Category::UtpForged).len(), 1, "{a:#?}");
    assert_eq!(a[0].measured["bogon"], 1.0);

    let mut r = Run::new();
    for i in 0..4u16 {
        let src = sa(&format!("10.77.1.{}:4000", 10 + i));
        r.feed(i64::from(i), &wire::build::udp(src, target, &data));
    }
    // Their time to answer runs out (judged, not forgotten): still only four.
    r.feed(
        20_000,
        &wire::build::udp(sa("10.77.9.9:1"), sa("10.77.9.8:1"), b"x"),
    );
    assert!(r.end().is_empty());
}

#[test]
fn utp_reflection_needs_a_foreign_ack_and_unanswered_packets() {
    for forged in [true, false] {
        let (host, victim) = (sa("10.77.0.2:6881"), sa("10.77.0.66:7000"));
        let mut r = Run::new();
        r.feed(
            0,
            &wire::build::udp(victim, host, &utp(Type::Syn, 500, 1, 0, &[])),
        );
        r.feed(
            1,
            &wire::build::udp(host, victim, &utp(Type::State, 500, 2000, 1, &[])),
        );
        let ack = if forged { 31_337 } else { 2000 };
        let data = utp(Type::Data, 501, 2, ack, &handshake());
        r.feed(100, &wire::build::udp(victim, host, &data));
        for k in 0..8u16 {
            let d = utp(Type::Data, 500, 2001 + k % 2, 2, &[0u8; 400]);
            r.feed(
                200 + i64::from(k) * 500,
                &wire::build::udp(host, victim, &d),
            );
        }
        let a = r.end();
        let refl = of(&a, Category::UtpReflection);
        if forged {
            assert_eq!(refl.len(), 1, "{a:#?}");
            assert_eq!(refl[0].key, "victim 10.77.0.66");
            assert_eq!(refl[0].infohashes, vec!["ab".repeat(20)]);
            assert!(
                refl[0].measured["amplification"] > 2.0,
                "{:?}",
                refl[0].measured
            );
        } else {
            assert!(a.is_empty(), "{a:#?}");
        }
    }
}

#[test]
fn utp_reflection_counts_over_the_victims_connections() {
    // libtorrent answers each forged connection with ST_STATE and ST_FIN only: two packets,
    // but four connections make eight to one address that never acknowledged.
    let (host, victim) = (sa("10.77.0.2:6881"), sa("10.77.0.66:7000"));
    for conns in [2u16, 4] {
        let mut r = Run::new();
        for c in 0..conns {
            let v = SocketAddr::new(victim.ip(), 7000 + c);
            let id = 500 + c * 10;
            let t = i64::from(c) * 1000;
            r.feed(
                t,
                &wire::build::udp(v, host, &utp(Type::Syn, id, 1, 0, &[])),
            );
            r.feed(
                t + 1,
                &wire::build::udp(host, v, &utp(Type::State, id, 2000, 1, &[])),
            );
            let data = utp(Type::Data, id + 1, 2, 31_337, &handshake());
            r.feed(t + 100, &wire::build::udp(v, host, &data));
            r.feed(
                t + 101,
                &wire::build::udp(host, v, &utp(Type::Fin, id, 2001, 2, &[])),
            );
        }
        let a = r.end();
        let refl = of(&a, Category::UtpReflection);
        assert_eq!(refl.len(), usize::from(conns == 4), "{conns}: {a:#?}");
        if conns == 4 {
            assert_eq!(refl[0].measured["connections"], 4.0);
            assert_eq!(refl[0].measured["packets_out"], 8.0);
        }
    }
}

#[test]
fn utp_reflection_judges_data_that_came_before_the_hosts_answer() {
    let (host, victim) = (sa("10.77.0.2:6881"), sa("10.77.0.66:7000"));
    let mut r = Run::new();
    for c in 0..4u16 {
        let v = SocketAddr::new(victim.ip(), 7000 + c);
        let id = 500 + c * 10;
        let t = i64::from(c) * 1000;
        // SYN and forged data back to back, both before the host's ST_STATE.
        r.feed(
            t,
            &wire::build::udp(v, host, &utp(Type::Syn, id, 1, 0, &[])),
        );
        r.feed(
            t + 1,
            &wire::build::udp(v, host, &utp(Type::Data, id + 1, 2, 31_337, &handshake())),
        );
        r.feed(
            t + 2,
            &wire::build::udp(host, v, &utp(Type::State, id, 2000, 1, &[])),
        );
        r.feed(
            t + 3,
            &wire::build::udp(host, v, &utp(Type::Fin, id, 2001, 2, &[])),
        );
    }
    let a = r.end();
    assert_eq!(of(&a, Category::UtpReflection).len(), 1, "{a:#?}");
}

#[test]
fn capture_time_going_back_starts_new_windows() {
    // Two files: 40 unsolicited answers at t = 10,000 s, then 40 at t = 0 (an older file).
    // Each half is under the threshold of 50 in 10 s; with one frozen window they would
    // add up to 80.
    let victim = sa("10.77.0.66:6881");
    let mut r = Run::new();
    for (base, n) in [(10_000_000i64, 0u16), (0, 40)] {
        for k in 0..40u16 {
            let node = sa(&format!("10.77.2.{}:6881", 1 + k % 6));
            let resp = krpc_response(&id((k % 6) as u8), n + k, &[], &[]);
            r.feed(
                base + i64::from(k) * 100,
                &wire::build::udp(node, victim, &resp),
            );
        }
    }
    let s = r.monitor().stats();
    let a = r.end();
    assert!(a.is_empty(), "{a:#?}");
    assert_eq!(s.epochs, 1);
}

#[test]
fn suspects_still_waiting_at_the_end_are_forgotten() {
    let target = sa("10.77.0.2:6881");
    let mut r = Run::new();
    for i in 0..6u16 {
        let src = sa(&format!("10.77.1.{}:4000", 10 + i));
        let data = utp(Type::Data, 100 + i, 7, 99, &handshake());
        r.feed(i64::from(i) * 100, &wire::build::udp(src, target, &data));
    }
    // The capture ends 0.6 s later: their receiver had no time to answer.
    assert!(r.end().is_empty());
}

fn krpc_query(id: &[u8; 20], tid: u16, method: &str, ih: &[u8; 20]) -> Vec<u8> {
    let mut v = b"d1:ad2:id20:".to_vec();
    v.extend(id);
    if method == "get_peers" {
        v.extend(b"9:info_hash20:");
        v.extend(ih);
    } else if method == "find_node" {
        v.extend(b"6:target20:");
        v.extend(ih);
    }
    v.extend(format!("e1:q{}:{method}1:t2:", method.len()).as_bytes());
    v.extend(tid.to_be_bytes());
    v.extend(b"1:y1:qe");
    v
}

fn krpc_response(
    id: &[u8; 20],
    tid: u16,
    nodes: &[([u8; 20], SocketAddr)],
    values: &[SocketAddr],
) -> Vec<u8> {
    let mut v = b"d1:rd2:id20:".to_vec();
    v.extend(id);
    if !nodes.is_empty() {
        v.extend(format!("5:nodes{}:", nodes.len() * 26).as_bytes());
        for (nid, a) in nodes {
            v.extend(nid);
            v.extend(compact(*a));
        }
    }
    if !values.is_empty() {
        v.extend(b"6:valuesl");
        for a in values {
            v.extend(b"6:");
            v.extend(compact(*a));
        }
        v.push(b'e');
    }
    v.extend(b"e1:t2:");
    v.extend(tid.to_be_bytes());
    v.extend(b"1:y1:re");
    v
}

fn compact(a: SocketAddr) -> Vec<u8> {
    let IpAddr::V4(ip) = a.ip() else {
        panic!("v4 only")
    };
    let mut v = ip.octets().to_vec();
    v.extend(a.port().to_be_bytes());
    v
}

fn id(n: u8) -> [u8; 20] {
    let mut i = [0x5a; 20];
    i[0] = n;
    i[1] = n.wrapping_mul(37);
    i[7] = n.wrapping_add(11);
    i
}

#[test]
fn unsolicited_dht_responses_from_many_sources_are_reflection() {
    let victim = sa("10.77.0.66:6881");
    for asked in [false, true] {
        let mut r = Run::new();
        for k in 0..60u16 {
            let node = sa(&format!("10.77.2.{}:6881", 1 + k % 6));
            if asked {
                let q = krpc_query(&id(200), k, "get_peers", &IH);
                r.feed(i64::from(k) * 100, &wire::build::udp(victim, node, &q));
            }
            let resp = krpc_response(&id((k % 6) as u8), k, &[], &[]);
            r.feed(
                i64::from(k) * 100 + 5,
                &wire::build::udp(node, victim, &resp),
            );
        }
        let a = r.end();
        if asked {
            assert!(of(&a, Category::DhtReflection).is_empty(), "{a:#?}");
        } else {
            let d = of(&a, Category::DhtReflection);
            assert_eq!(d.len(), 1, "{a:#?}");
            assert_eq!(d[0].key, "victim 10.77.0.66");
            assert_eq!(d[0].sources_total, 6);
            assert!(d[0].measured["unsolicited"] >= 50.0);
        }
    }
}

#[test]
fn many_node_ids_from_one_address_are_a_sybil_and_eight_are_not() {
    let target = sa("10.77.0.2:6881");
    for n in [8u8, 9] {
        let mut r = Run::new();
        for k in 0..n {
            let q = krpc_query(&id(k), u16::from(k), "ping", &IH);
            let src = sa(&format!("10.77.3.3:{}", 7000 + u16::from(k)));
            r.feed(i64::from(k), &wire::build::udp(src, target, &q));
        }
        let a = r.end();
        assert_eq!(
            of(&a, Category::DhtSybil).len(),
            usize::from(n == 9),
            "{n}: {a:#?}"
        );
        if n == 9 {
            assert_eq!(a[0].key, "address 10.77.3.3");
            assert_eq!(a[0].measured["node_ids"], 9.0);
        }
    }
}

#[test]
fn ipv6_hosts_of_one_network_are_not_a_sybil_but_one_address_is() {
    let target = sa("[fd77:1::2]:6881");
    // Twelve hosts of one /64, each with its own address and node: a LAN.
    let mut r = Run::new();
    for k in 0..12u8 {
        let q = krpc_query(&id(k), u16::from(k), "ping", &IH);
        let src = sa(&format!("[fd77:1::{}]:6881", 100 + u16::from(k)));
        r.feed(i64::from(k), &wire::build::udp(src, target, &q));
    }
    assert!(r.end().is_empty());
    // Nine ids from one IPv6 address.
    let mut r = Run::new();
    for k in 0..9u8 {
        let q = krpc_query(&id(k), u16::from(k), "ping", &IH);
        let src = sa(&format!("[fd77:1::99]:{}", 7000 + u16::from(k)));
        r.feed(i64::from(k), &wire::build::udp(src, target, &q));
    }
    let a = r.end();
    assert_eq!(of(&a, Category::DhtSybil).len(), 1, "{a:#?}");
    assert_eq!(a[0].key, "address fd77:1::99");
}

#[test]
fn near_twin_ids_from_one_network_are_a_sybil() {
    let target = sa("10.77.0.2:6881");
    let mut r = Run::new();
    let mut twin = id(1);
    twin[19] ^= 1;
    r.feed(
        0,
        &wire::build::udp(
            sa("10.77.4.1:7000"),
            target,
            &krpc_query(&id(1), 1, "ping", &IH),
        ),
    );
    r.feed(
        1,
        &wire::build::udp(
            sa("10.77.4.2:7000"),
            target,
            &krpc_query(&twin, 2, "ping", &IH),
        ),
    );
    let a = r.end();
    let s = of(&a, Category::DhtSybil);
    assert_eq!(s.len(), 1, "{a:#?}");
    assert_eq!(s[0].key, "network 10.77.4.0/24");
}

/// An id sharing `bits` leading bits with IH.
fn near(bits: u32, salt: u8) -> [u8; 20] {
    let mut i = IH;
    let (byte, bit) = ((bits / 8) as usize, 7 - bits % 8);
    i[byte] ^= 1 << bit;
    i[19] = salt;
    i[18] = salt.wrapping_mul(7);
    i
}

#[test]
fn ids_gathered_next_to_a_looked_up_infohash_are_an_eclipse() {
    let client = sa("10.77.0.2:6881");
    // Three close ids are not enough; four are; the querier's own id never counts.
    for (n, own_close, want) in [(3usize, false, 0usize), (4, false, 1), (3, true, 0)] {
        let mut r = Run::new();
        let me = if own_close { near(50, 99) } else { id(77) };
        let q = krpc_query(&me, 1, "get_peers", &IH);
        r.feed(0, &wire::build::udp(client, sa("10.77.5.1:6881"), &q));
        for k in 0..n {
            let sybil = near(34 + k as u32, k as u8);
            let p = krpc_query(&sybil, 100 + k as u16, "ping", &IH);
            r.feed(
                10 + k as i64,
                &wire::build::udp(sa(&format!("10.77.6.{}:6881", 1 + k)), client, &p),
            );
        }
        if own_close {
            // The querier's own id, seen again from elsewhere in a nodes list.
            let resp = krpc_response(&id(9), 1, &[(me, client)], &[]);
            r.feed(50, &wire::build::udp(sa("10.77.5.1:6881"), client, &resp));
        }
        let a = r.end();
        let e = of(&a, Category::DhtEclipse);
        assert_eq!(e.len(), want, "{n} {own_close}: {a:#?}");
        if want == 1 {
            assert_eq!(e[0].infohashes, vec!["ab".repeat(20)]);
            assert_eq!(e[0].measured["close_ids"], 4.0);
        }
    }
    // One id sharing 40 bits is enough on its own.
    let mut r = Run::new();
    r.feed(
        0,
        &wire::build::udp(
            client,
            sa("10.77.5.1:6881"),
            &krpc_query(&id(77), 1, "get_peers", &IH),
        ),
    );
    r.feed(
        5,
        &wire::build::udp(
            sa("10.77.6.1:6881"),
            client,
            &krpc_query(&near(41, 1), 2, "ping", &IH),
        ),
    );
    assert_eq!(of(&r.end(), Category::DhtEclipse).len(), 1);
}

/// A get_peers query from `client` to `node` and its answer with `values`.
fn values(
    r: &mut Run,
    at: i64,
    client: SocketAddr,
    node: SocketAddr,
    ih: &[u8; 20],
    peers: &[SocketAddr],
    tid: u16,
) {
    r.feed(
        at,
        &wire::build::udp(client, node, &krpc_query(&id(77), tid, "get_peers", ih)),
    );
    r.feed(
        at + 1,
        &wire::build::udp(node, client, &krpc_response(&id(3), tid, &[], peers)),
    );
}

#[test]
fn packed_and_bogon_peer_lists_are_poisoned() {
    let (client, node) = (sa("10.77.0.2:6881"), sa("10.77.7.7:6881"));
    let packed: Vec<SocketAddr> = (0..25)
        .map(|k| sa(&format!("10.99.1.{}:6881", 10 + k)))
        .collect();
    let spread: Vec<SocketAddr> = (0..25)
        .map(|k| sa(&format!("10.{}.1.1:6881", 100 + k)))
        .collect();
    for (peers, want) in [
        (packed, 1usize),
        (spread, 0),
        (vec![sa("127.0.0.1:6881")], 1),
    ] {
        let mut r = Run::new();
        values(&mut r, 0, client, node, &IH, &peers, 1);
        let a = r.end();
        let p = of(&a, Category::PeerListPoisoning);
        assert_eq!(p.len(), want, "{peers:?}: {a:#?}");
        if want == 1 {
            assert_eq!(p[0].key, "list from 10.77.7.7");
            assert_eq!(p[0].infohashes, vec!["ab".repeat(20)]);
        }
    }
}

#[test]
fn one_endpoint_listed_for_ten_torrents_is_recycled() {
    let (client, node) = (sa("10.77.0.2:6881"), sa("10.77.7.7:6881"));
    let decoy = sa("10.88.0.1:6881");
    for n in [9u8, 10] {
        let mut r = Run::new();
        for k in 0..n {
            values(
                &mut r,
                i64::from(k) * 10,
                client,
                node,
                &[k; 20],
                &[decoy],
                u16::from(k),
            );
        }
        let a = r.end();
        assert_eq!(
            of(&a, Category::PeerListPoisoning).len(),
            usize::from(n == 10),
            "{a:#?}"
        );
    }
}

#[test]
fn listed_peers_that_never_answer_are_poisoned() {
    let (client, node) = (sa("10.77.0.2:6881"), sa("10.77.7.7:6881"));
    let peers: Vec<SocketAddr> = (0..12)
        .map(|k| sa(&format!("10.{}.2.2:6881", 100 + k)))
        .collect();
    for answer in [false, true] {
        let mut r = Run::new();
        values(&mut r, 0, client, node, &IH, &peers, 1);
        for (k, p) in peers.iter().enumerate() {
            let c = SocketAddr::new(client.ip(), 50_000 + k as u16);
            r.feed(
                1000 + k as i64,
                &wire::build::tcp(c, *p, 1, 0, flags::SYN, &[]),
            );
            if answer {
                r.feed(
                    1100 + k as i64,
                    &wire::build::tcp(*p, c, 9, 2, flags::SYN | flags::ACK, &[]),
                );
            }
        }
        r.feed(
            30_000,
            &wire::build::udp(sa("10.77.9.9:1"), sa("10.77.9.8:1"), b"tick"),
        );
        let a = r.end();
        assert_eq!(
            of(&a, Category::PeerListPoisoning).len(),
            usize::from(!answer),
            "{a:#?}"
        );
    }
}

#[test]
fn resets_with_a_foreign_ttl_or_followed_by_data_are_injected() {
    let (a_, b_) = (sa("10.77.0.2:6881"), sa("10.77.0.3:51413"));
    // (RST TTL, data after it, incident expected)
    for (ttl, data_after, want) in [(64u8, false, false), (50, false, true), (64, true, true)] {
        let mut r = Run::new();
        r.ttl(0, wire::build::tcp(b_, a_, 100, 0, flags::SYN, &[]), 64);
        r.ttl(
            1,
            wire::build::tcp(a_, b_, 500, 101, flags::SYN | flags::ACK, &[]),
            64,
        );
        r.ttl(
            2,
            wire::build::tcp(b_, a_, 101, 501, flags::ACK, &handshake()),
            64,
        );
        r.ttl(
            3,
            wire::build::tcp(a_, b_, 501, 169, flags::ACK, &handshake()),
            64,
        );
        r.ttl(
            4,
            wire::build::tcp(a_, b_, 569, 169, flags::ACK | flags::RST, &[]),
            ttl,
        );
        if data_after {
            r.ttl(
                5,
                wire::build::tcp(a_, b_, 569, 169, flags::ACK, &[1u8; 100]),
                64,
            );
        }
        let a = r.end();
        let i = of(&a, Category::ResetInjection);
        assert_eq!(i.len(), usize::from(want), "{ttl} {data_after}: {a:#?}");
        if want {
            assert_eq!(i[0].key, "target 10.77.0.3");
            assert_eq!(i[0].infohashes, vec!["ab".repeat(20)]);
        }
    }
    // uTP ST_RESET with a foreign TTL.
    let mut r = Run::new();
    r.ttl(
        0,
        wire::build::udp(b_, a_, &utp(Type::Syn, 9, 1, 0, &[])),
        64,
    );
    r.ttl(
        1,
        wire::build::udp(a_, b_, &utp(Type::State, 9, 70, 1, &[])),
        64,
    );
    r.ttl(
        2,
        wire::build::udp(a_, b_, &utp(Type::Reset, 9, 71, 1, &[])),
        40,
    );
    let a = r.end();
    assert_eq!(of(&a, Category::ResetInjection).len(), 1, "{a:#?}");
}

#[test]
fn state_stays_within_its_bound_under_a_flood_of_random_sources() {
    let t = Thresholds {
        max_state: 1000,
        ..Thresholds::default()
    };
    let mut r = Run::with(t);
    let target = sa("10.77.0.2:6881");
    let mut x: u32 = 1;
    for k in 0..20_000i64 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let src = SocketAddr::new(IpAddr::V4((0x0a00_0000 | (x & 0x00ff_ffff)).into()), 1024);
        let frame = match k % 3 {
            0 => wire::build::udp(src, target, &utp(Type::Data, x as u16, 1, 1, &handshake())),
            1 => wire::build::udp(
                src,
                target,
                &krpc_query(&id(x as u8), x as u16, "get_peers", &[x as u8; 20]),
            ),
            _ => wire::build::udp(
                src,
                target,
                &krpc_response(&id(x as u8), x as u16, &[], &[]),
            ),
        };
        r.feed(k, &frame);
        let m = r.monitor();
        // Each table at most `max_state` entries (a few tables, one bound each).
        assert!(m.state_entries() <= 12 * 1000, "{}", m.state_entries());
    }
    let s = r.monitor().stats();
    assert!(s.state_evicted > 0, "{s:?}");
}
