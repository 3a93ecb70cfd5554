//! Engine tests: the flow table, timeouts, totals, what each packet says, and arbitrary input.

use crate::testutil::*;

#[test]
fn random_udp_gives_up() {
    let (a, b) = (sa("10.77.0.2:5000"), sa("10.77.0.3:5001"));
    let mut run = Run::new();
    for i in 0..30u8 {
        run.send(&build::udp(
            a,
            b,
            &[
                i, 0x55, 0xaa, i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                19, 20, 21,
            ],
        ));
    }
    let (recs, _) = run.finish();
    assert!(!recs[0].is_bittorrent());
}

#[test]
fn inline_limits_give_udp_up_at_the_first_unknown_datagram() {
    let (a, b) = (sa("10.77.0.2:5000"), sa("10.77.0.3:53"));
    // A DNS query: id, flags, one question (bench.test A IN).
    let query =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05bench\x04test\x00\x00\x01\x00\x01";
    let mut run = Run::with(Config::inline());
    run.send(&build::udp(a, b, query));
    assert_eq!(run.engine.detecting_flows(), 0);
    let mut run = Run::new();
    run.send(&build::udp(a, b, query));
    assert_eq!(
        run.engine.detecting_flows(),
        1,
        "offline, a few more are read"
    );
    // A BitTorrent socket is read on whatever follows.
    let mut run = Run::with(Config::inline());
    run.send(&build::udp(a, b, &krpc_get_peers(b"aa")));
    run.send(&build::udp(a, b, query));
    assert_eq!(run.engine.detecting_flows(), 1);
}

#[test]
fn idle_timeout_splits_flows_and_close_then_syn_reuses() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:80"));
    let mut run = Run::new();
    run.send(&build::udp(c, s, b"one"));
    run.t += 200 * NS;
    run.send(&build::udp(c, s, b"two"));
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.records[0].end, End::Idle);

    tcp_handshake(&mut run, c, s);
    run.send(&build::tcp(c, s, 1001, 5001, FIN | ACK, &[]));
    run.send(&build::tcp(s, c, 5001, 1002, FIN | ACK, &[]));
    tcp_handshake(&mut run, c, s);
    let (recs, engine) = run.finish();
    let tcp: Vec<_> = recs.iter().filter(|r| r.proto == Proto::Tcp).collect();
    assert_eq!(tcp.len(), 2);
    assert_eq!(tcp[0].end, End::Reused);
    assert_eq!(tcp[0].packets, [3, 2]); // SYN, ACK, FIN and SYN-ACK, FIN
    assert_eq!(engine.totals().flows, 4);
}

#[test]
fn a_flow_idle_past_its_timeout_ends_even_when_no_sweep_runs() {
    // A second file whose clock is behind the first: time goes backwards, so the idle sweep
    // does not run; the lookup itself must end the stale flow.
    let (a, b) = (sa("10.77.0.1:1"), sa("10.77.0.2:1"));
    let mut run = Run::new();
    let t0 = run.t;
    run.at(
        t0 + 1000 * NS,
        &build::udp(sa("10.77.0.3:1"), b, b"first file"),
    );
    run.at(t0, &build::udp(a, b, b"x"));
    run.at(t0 + 120 * NS, &build::udp(a, b, b"x"));
    assert!(run.records.is_empty(), "exactly the timeout is not over it");
    run.at(t0 + 240 * NS + 1, &build::udp(a, b, b"y"));
    assert_eq!(run.records.len(), 1);
    assert_eq!(
        (
            run.records[0].client,
            run.records[0].end,
            run.records[0].packets[0]
        ),
        (a, End::Idle, 2)
    );
}

#[test]
fn full_table_evicts_oldest_idle() {
    let mut run = Run::with(Config {
        max_flows: 2,
        ..Config::default()
    });
    let a = sa("10.77.0.1:1");
    run.send(&build::udp(a, sa("10.77.0.2:1"), b"x"));
    run.send(&build::udp(a, sa("10.77.0.3:1"), b"x"));
    run.send(&build::udp(a, sa("10.77.0.2:1"), b"x")); // touch the first
    run.send(&build::udp(a, sa("10.77.0.4:1"), b"x"));
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.records[0].server, sa("10.77.0.3:1"));
    assert_eq!(run.records[0].end, End::Evicted);
    assert_eq!(run.engine.totals().flows_evicted, 1);
}

#[test]
fn totals_count_what_is_not_a_flow() {
    let mut run = Run::new();
    let mut arp = build::udp(sa("10.77.0.1:1"), sa("10.77.0.2:1"), b"x");
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    run.send(&arp);
    let icmp = build::ethernet_ip(
        sa("10.77.0.1:0").ip(),
        sa("10.77.0.2:0").ip(),
        1,
        &[8, 0, 0, 0],
    );
    run.send(&icmp);
    let f = build::udp(sa("10.77.0.1:1"), sa("10.77.0.2:1"), &[0u8; 100]);
    run.engine.frame(
        LinkType::Ethernet,
        run.t,
        &f[..60],
        f.len() as u32,
        &mut |_| {},
    );
    run.send(&f[..20]);
    let t = *run.engine.totals();
    assert_eq!(
        (t.packets, t.non_ip, t.other_ip, t.truncated, t.undecodable),
        (4, 1, 1, 1, 1)
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_frames_never_panic(frames in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..120), 0..40)) {
        let mut run = Run::new();
        for f in &frames {
            run.send(f);
        }
        run.finish();
    }

    #[test]
    fn arbitrary_payloads_on_real_flows_never_panic(
        payloads in proptest::collection::vec((proptest::bool::ANY, proptest::bool::ANY, proptest::collection::vec(proptest::num::u8::ANY, 0..200)), 0..30)
    ) {
        let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:51413"));
        let mut run = Run::new();
        let mut seq = [1u32, 1];
        for (udp, fwd, p) in &payloads {
            let (s, d, i) = if *fwd { (a, b, 0) } else { (b, a, 1) };
            if *udp {
                run.send(&build::udp(s, d, p));
            } else {
                run.send(&build::tcp(s, d, seq[i], seq[1 - i], ACK, p));
                seq[i] = seq[i].wrapping_add(p.len() as u32);
            }
        }
        let (_, engine) = run.finish();
        proptest::prop_assert_eq!(engine.budget().used, 0);
    }
}

#[test]
fn each_packet_says_what_it_carried() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:6881"));
    let mut run = Run::new();
    run.send(&build::udp(a, b, &krpc_get_peers(b"aa")));
    let f = run.last().clone();
    assert!(f.new_flow);
    assert_eq!(f.dht, Some(DhtMessage::GetPeers));
    assert_eq!(f.infohashes, vec![HASH]);
    let (key, from_client) = run.last_flow().unwrap();
    assert!(from_client);
    run.send(&build::udp(b, a, &krpc_values(b"aa")));
    let f = run.last().clone();
    assert!(!f.new_flow);
    assert_eq!(run.last_flow(), Some((key, false)));
    assert_eq!(f.dht, Some(DhtMessage::Response { peers: true }));
    assert_eq!(
        f.infohashes,
        vec![HASH],
        "the info-hash its query asked about"
    );
    let v = run.engine.flow(&key).unwrap();
    assert_eq!((v.client, v.server, v.packets), (a, b, 2));
    assert!(v.verdict.kinds.contains(Kind::Dht) && v.detecting);
    // a packet outside any flow
    run.send(&build::ethernet_ip(
        a.ip(),
        b.ip(),
        1,
        &[8, 0, 0, 0, 0, 0, 0, 0],
    ));
    assert_eq!(run.last(), &PacketFacts::default());
    assert_eq!(run.last_flow(), None);
}

#[test]
fn advancing_the_clock_without_packets_ends_idle_flows() {
    // A live capture on a quiet link: no packet comes to end the flows.
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:6881"));
    let mut run = Run::new();
    run.send(&build::udp(c, s, b"one"));
    let mut ended = Vec::new();
    run.engine.advance(run.t + 60 * NS, &mut |r| ended.push(r));
    assert!(ended.is_empty(), "ended before its timeout");
    run.engine.advance(run.t + 121 * NS, &mut |r| ended.push(r));
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].end, End::Idle);
    assert_eq!(run.engine.active_flows(), 0);
}

#[test]
fn bare_syns_hold_no_detector_state_until_something_else_comes() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:6881"));
    let mut run = Run::new();
    // A connection attempt nobody answers, retransmitted: no detector state, whatever its
    // length.
    for _ in 0..3 {
        run.send(&build::tcp(c, s, 1000, 0, SYN, &[]));
    }
    assert_eq!(run.engine.detecting_flows(), 1);
    assert_eq!(run.engine.memory().detectors, 0);
    // The answer comes: the detectors start from the SYN's sequence number, and read the
    // handshake that follows as if they had been there from the start.
    run.send(&build::tcp(s, c, 5000, 1001, SYN | ACK, &[]));
    assert!(run.engine.memory().detectors > 0);
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &[]));
    run.send(&build::tcp(
        c,
        s,
        1001,
        5001,
        PSH | ACK,
        &bt_handshake(&[7; 20]),
    ));
    run.send(&build::tcp(
        s,
        c,
        5001,
        1069,
        PSH | ACK,
        &bt_handshake(&[8; 20]),
    ));
    // A flow of SYNs alone ends judged as before: by what is known of its ends.
    let other = sa("10.77.0.3:6881");
    run.send(&build::tcp(c, other, 1000, 0, SYN, &[]));
    let (recs, _) = run.finish();
    let peer = recs.iter().find(|r| r.server == s).unwrap();
    assert_eq!(peer.kind(), Some(Kind::PeerTcp), "{peer:?}");
    let lone = recs.iter().find(|r| r.server == other).unwrap();
    assert_eq!(lone.total_packets(), 1);
    assert!(!lone.is_bittorrent());
}
