//! `peer-tcp` through the whole pipeline: plaintext handshakes, MSE/PE, what peer connections teach.

use crate::testutil::*;

#[test]
fn peer_wire_over_tcp() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:51413"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    run.send(&build::tcp(
        c,
        s,
        1001,
        5001,
        PSH | ACK,
        &bt_handshake(b"-TR3000-aaaaaaaaaaaa"),
    ));
    run.send(&build::tcp(
        s,
        c,
        5001,
        1069,
        PSH | ACK,
        &bt_handshake(b"-LT2080-bbbbbbbbbbbb"),
    ));
    run.send(&build::tcp(c, s, 1069, 5069, PSH | ACK, &[0, 0, 0, 1, 2]));
    let (recs, engine) = run.finish();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!((r.client, r.server), (c, s));
    assert_eq!(r.kind(), Some(Kind::PeerTcp));
    assert_eq!(r.verdict.decided_at, Some(4));
    assert!(r.verdict.evidence.contains(Signal::Handshake));
    assert_eq!(r.infohashes, vec![HASH]);
    assert_eq!(r.client_peer_id, Some(PeerId(*b"-TR3000-aaaaaaaaaaaa")));
    assert_eq!(r.server_peer_id, Some(PeerId(*b"-LT2080-bbbbbbbbbbbb")));
    assert_eq!(r.packets, [4, 2]);
    assert_eq!(r.end, End::Eof);
    // the listening end is learned for the torrent
    assert_eq!(engine.knowledge().get(&s).unwrap().infohashes, vec![HASH]);
}

#[test]
fn handshake_split_across_segments_after_an_mse_opening() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:51413"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    // An MSE opening that selects plaintext: the responder's handshake follows its
    // encrypted fourth message, split across segments, with a retransmission.
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &key_like(300, 1)));
    run.send(&build::tcp(s, c, 5001, 1301, ACK, &key_like(200, 2)));
    run.send(&build::tcp(c, s, 1301, 5201, ACK, &key_like(120, 3)));
    let mut stream = key_like(14, 4);
    stream.extend(bt_handshake(b"A2-1-36-0-cccccccccc"));
    run.send(&build::tcp(s, c, 5201, 1421, ACK, &stream[..30]));
    run.send(&build::tcp(s, c, 5201, 1421, ACK, &stream[..30])); // retransmission
    run.send(&build::tcp(s, c, 5231, 1421, ACK, &stream[30..]));
    let (recs, _) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::PeerTcp));
    assert!(r.verdict.evidence.contains(Signal::HandshakeLater));
    assert_eq!(r.verdict.decided_at, Some(9));
    assert_eq!(r.infohashes, vec![HASH]);
}

#[test]
fn handshake_after_other_binary_bytes_without_an_mse_opening_is_not_believed() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:51413"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    // Binary bytes, then the protocol string: a file being copied, say.
    let mut stream: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(167) ^ 0x5a) as u8)
        .collect();
    stream.extend(bt_handshake(b"A2-1-36-0-cccccccccc"));
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &stream));
    let (recs, _) = run.finish();
    let r = &recs[0];
    assert!(!r.is_bittorrent());
    assert!(!r.verdict.evidence.contains(Signal::HandshakeLater));
    assert!(r.infohashes.is_empty());
}

#[test]
fn handshake_in_a_fast_open_syn_over_ipv6() {
    let (c, s) = (sa("[2001:db8::2]:40000"), sa("[2001:db8::1]:51413"));
    let mut run = Run::new();
    run.send(&build::tcp(
        c,
        s,
        1000,
        0,
        SYN,
        &bt_handshake(b"-qB4520-gggggggggggg"),
    ));
    run.send(&build::tcp(s, c, 5000, 1069, SYN | ACK, &[]));
    let (recs, _) = run.finish();
    assert_eq!((recs[0].client, recs[0].server), (c, s));
    assert_eq!(recs[0].verdict.decided_at, Some(1));
    assert!(
        recs[0].verdict.evidence.contains(Signal::Handshake),
        "at stream offset 0"
    );
    assert_eq!(
        recs[0].client_peer_id,
        Some(PeerId(*b"-qB4520-gggggggggggg"))
    );
}

#[test]
fn client_is_the_receiver_of_a_syn_ack_when_the_syn_was_missed() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:51413"));
    let mut run = Run::new();
    run.send(&build::tcp(s, c, 5000, 1001, SYN | ACK, &[]));
    run.send(&build::tcp(
        c,
        s,
        1001,
        5001,
        ACK,
        &bt_handshake(b"-TR3000-aaaaaaaaaaaa"),
    ));
    let (recs, _) = run.finish();
    assert_eq!((recs[0].client, recs[0].server), (c, s));
    assert_eq!(
        recs[0].client_peer_id,
        Some(PeerId(*b"-TR3000-aaaaaaaaaaaa"))
    );
}

#[test]
fn handshake_after_text_is_not_believed() {
    // An HTTP download of a capture file that holds a handshake.
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:80"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let mut body =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.tcpdump.pcap\r\n\r\n".to_vec();
    body.extend(bt_handshake(b"-TR3000-aaaaaaaaaaaa"));
    run.send(&build::tcp(s, c, 5001, 1001, ACK, &body));
    let (recs, _) = run.finish();
    assert!(!recs[0].is_bittorrent());
}

#[test]
fn random_tcp_is_not_bittorrent_and_frees_state() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:443"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let mut seq = 1001u32;
    for i in 0..20u8 {
        let p = vec![i.wrapping_mul(37); 100];
        run.send(&build::tcp(c, s, seq, 5001, ACK, &p));
        seq += 100;
    }
    assert_eq!(run.engine.active_flows(), 1);
    assert_eq!(
        run.engine.detecting_flows(),
        0,
        "a one-sided flow frees its detector state"
    );
    let (recs, _) = run.finish();
    assert!(!recs[0].is_bittorrent());
    assert!(recs[0].infohashes.is_empty());
}

#[test]
fn other_protocols_are_let_go_at_their_first_bytes() {
    // Inline, every packet the engine reads waits in a queue: a flow whose opening rules out
    // a handshake, MSE/PE and a tracker request is given up there.
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.9:80"));
    let mut hello = key_like(300, 1);
    hello[..5].copy_from_slice(&[0x16, 0x03, 0x01, 0x01, 0x27]);
    let openings: [(&str, Vec<u8>); 3] = [
        (
            "http",
            b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        ),
        ("tls", hello),
        (
            "binary",
            vec![0x00, 0x00, 0x00, 0x2a, 0x01, 0x02, 0x03, 0x04],
        ),
    ];
    for (name, opening) in openings {
        let mut run = Run::new();
        tcp_handshake(&mut run, c, s);
        assert_eq!(run.engine.detecting_flows(), 1, "{name}");
        run.send(&build::tcp(c, s, 1001, 5001, ACK, &opening));
        assert_eq!(run.engine.detecting_flows(), 0, "{name}");
    }
    // An MSE/PE key, a handshake, a tracker announce: read on.
    let announce = format!(
        "GET /announce?info_hash={}&peer_id=-qB4520-dddddddddddd&port=6881 HTTP/1.1\r\n\r\n",
        "%11".repeat(20)
    );
    let openings: [(&str, Vec<u8>); 3] = [
        ("mse", key_like(300, 2)),
        ("handshake", bt_handshake(b"-TR3000-aaaaaaaaaaaa").to_vec()),
        ("announce", announce.into_bytes()),
    ];
    for (name, opening) in openings {
        let mut run = Run::new();
        tcp_handshake(&mut run, c, s);
        run.send(&build::tcp(c, s, 1001, 5001, ACK, &opening));
        assert_eq!(run.engine.detecting_flows(), 1, "{name}");
    }
    // A server that speaks first is read until the client has spoken.
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let banner = b"SSH-2.0-OpenSSH_9.2\r\n";
    run.send(&build::tcp(s, c, 5001, 1001, ACK, banner));
    assert_eq!(run.engine.detecting_flows(), 1);
    run.send(&build::tcp(c, s, 1001, 5022, ACK, banner));
    assert_eq!(run.engine.detecting_flows(), 0);
}

#[test]
fn a_handshake_answering_an_opening_that_is_not_bittorrent_is_not_believed() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.9:6881"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let opening = [0u8, 0, 0, 5, 1, 2, 3, 4, 5];
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &opening));
    let hs = bt_handshake(b"-TR3000-aaaaaaaaaaaa");
    run.send(&build::tcp(s, c, 5001, 1010, ACK, &hs));
    let (recs, _) = run.finish();
    assert!(!recs[0].is_bittorrent());
}

#[test]
fn inline_a_connection_without_its_syn_is_opened_by_its_first_sender() {
    // enforce's rules keep a SYN and SYN-ACK without payload in the kernel: the first packet
    // the engine sees is the opener's ACK that completes the handshake.
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let p = sa("10.77.0.2:39999");
    let unseen_opening = |run: &mut Run| {
        tracker_announcing(run, p, s);
        run.send(&build::tcp(c, s, 1001, 5001, ACK, &[]));
        mse_flights(run, c, s, 300, 400, 120);
    };
    let mut run = Run::with(Config::inline());
    unseen_opening(&mut run);
    let (recs, engine) = run.finish();
    let r = find(&recs, c);
    assert_eq!((r.client, r.server), (c, s));
    assert_eq!(r.kind(), Some(Kind::PeerTcp));
    assert!(r.verdict.encrypted);
    assert!(r.verdict.evidence.contains(Signal::MseShape));
    assert_eq!(r.confidence(), Some(Confidence::Certain));
    assert!(engine.knowledge().get(&s).is_some());
    // Offline, a capture starting there does not say who opened: no MSE shape is read.
    let mut run = Run::with(Config {
        relabel_at_end: false,
        ..Config::default()
    });
    unseen_opening(&mut run);
    let (recs, _) = run.finish();
    assert!(!find(&recs, c).is_bittorrent());
}

#[test]
fn inline_a_reordered_opening_is_read_from_the_start_the_ack_gave() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:51413"));
    let hs = bt_handshake(b"-TR3000-aaaaaaaaaaaa");
    let bitfield = [0, 0, 0, 3, 5, 0xff, 0xff];
    // The handshake-completing ACK, then the opener's handshake and its next message in two
    // segments that arrive the wrong way round.
    let reordered = |run: &mut Run| {
        run.send(&build::tcp(c, s, 1001, 5001, ACK, &[]));
        run.send(&build::tcp(c, s, 1069, 5001, ACK, &bitfield));
        run.send(&build::tcp(c, s, 1001, 5001, ACK, &hs));
    };
    let mut run = Run::with(Config::inline());
    reordered(&mut run);
    let (recs, _) = run.finish();
    assert_eq!(recs[0].kind(), Some(Kind::PeerTcp));
    assert_eq!(recs[0].infohashes, vec![HASH]);
    // Offline, a capture starting there has its stream start at the first payload seen: the
    // message taken for the opening, the handshake for a retransmission.
    let mut run = Run::new();
    reordered(&mut run);
    let (recs, _) = run.finish();
    assert!(!recs[0].is_bittorrent());

    // The responder's stream starts where the opener's ACK says, too.
    let mut run = Run::with(Config::inline());
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &[]));
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &hs));
    run.send(&build::tcp(s, c, 5069, 1069, ACK, &bitfield));
    run.send(&build::tcp(s, c, 5001, 1069, ACK, &hs));
    let (recs, _) = run.finish();
    assert_eq!(recs[0].kind(), Some(Kind::PeerTcp));
    assert_eq!(
        recs[0].server_peer_id,
        Some(PeerId(*b"-TR3000-aaaaaaaaaaaa")),
        "the responder's handshake was read"
    );
}

#[test]
fn mse_to_an_endpoint_the_tracker_announced_is_certain() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let mut run = Run::new();
    tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
    mse_connection(&mut run, c, s, 300, 400, 120);
    let (recs, _) = run.finish();
    let r = find(&recs, c);
    assert_eq!(r.kind(), Some(Kind::PeerTcp));
    assert_eq!(r.confidence(), Some(Confidence::Certain));
    assert!(r.verdict.encrypted);
    assert!(r.verdict.evidence.contains(Signal::MseShape));
    assert!(r.verdict.evidence.contains(Signal::EndpointTrackerHttp));
    assert_eq!(
        r.infohashes,
        vec![HASH],
        "the torrent the endpoint was announced for"
    );
    assert_eq!(
        r.verdict.decided_payloads,
        [2, 1],
        "decided on the initiator's second flight"
    );
    assert!(!r.verdict.relabelled);
}

#[test]
fn mse_shape_alone_is_a_suspect_until_the_swarm_names_the_endpoint() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let mut run = Run::new();
    mse_connection(&mut run, c, s, 300, 400, 120);
    // the connection ends, and only later a tracker reply names its endpoint
    run.t += 400 * NS;
    tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
    let (recs, _) = run.finish();
    let r = find(&recs, c);
    assert_eq!(r.confidence(), Some(Confidence::Certain));
    assert!(r.verdict.relabelled, "raised at the end of the run");
    assert_eq!(r.infohashes, vec![HASH]);

    // Without the later announce: a suspect, not BitTorrent.
    let mut run = Run::new();
    mse_connection(&mut run, c, s, 300, 400, 120);
    let (recs, _) = run.finish();
    let r = find(&recs, c);
    assert_eq!(r.confidence(), Some(Confidence::Suspect));
    assert!(!r.is_bittorrent());
    assert_eq!((r.kind(), r.suspected_kind()), (None, Some(Kind::PeerTcp)));

    // And inline (no relabelling), the later knowledge changes nothing.
    let mut run = Run::with(Config {
        relabel_at_end: false,
        ..Config::default()
    });
    mse_connection(&mut run, c, s, 300, 400, 120);
    run.t += 400 * NS;
    tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
    let (recs, _) = run.finish();
    assert_eq!(find(&recs, c).confidence(), Some(Confidence::Suspect));
}

#[test]
fn unanswered_mse_opening_to_an_announced_endpoint_is_likely() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let mut run = Run::new();
    tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
    mse_connection(&mut run, c, s, 549, 0, 0);
    run.send(&build::tcp(s, c, 5001, 1550, RST | ACK, &[]));
    let (recs, _) = run.finish();
    let r = find(&recs, c);
    assert_eq!(r.confidence(), Some(Confidence::Likely));
    assert!(r.verdict.evidence.contains(Signal::MseOneSided));
}

#[test]
fn mse_to_a_host_port_that_speaks_dht_is_likely() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let mut run = Run::new();
    // s answers DHT on its port: the same port for TCP is BitTorrent's
    run.send(&build::udp(sa("10.77.0.3:6881"), s, &krpc_get_peers(b"aa")));
    run.send(&build::udp(s, sa("10.77.0.3:6881"), &krpc_values(b"aa")));
    mse_connection(&mut run, c, s, 300, 400, 120);
    let (recs, _) = run.finish();
    let r = find(&recs, c);
    assert_eq!(r.confidence(), Some(Confidence::Likely));
    assert!(
        r.verdict.evidence.contains(Signal::EndpointDhtNodes)
            || r.verdict.evidence.contains(Signal::HostPort)
    );
}

#[test]
fn mse_then_plaintext_is_not_encrypted() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let a1 = key_like(300, 1);
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &a1));
    let b1 = key_like(400, 2);
    run.send(&build::tcp(s, c, 5001, 1301, ACK, &b1));
    let a2 = key_like(120, 3);
    run.send(&build::tcp(c, s, 1301, 5401, ACK, &a2));
    let mut b2 = key_like(20, 4);
    b2.extend(bt_handshake(b"-TR3000-bbbbbbbbbbbb"));
    run.send(&build::tcp(s, c, 5401, 1421, ACK, &b2));
    let (recs, _) = run.finish();
    let r = find(&recs, c);
    assert_eq!(r.confidence(), Some(Confidence::Certain));
    assert!(!r.verdict.encrypted);
    assert!(
        r.verdict.evidence.contains(Signal::HandshakeLater)
            && r.verdict.evidence.contains(Signal::MseShape)
    );
}

#[test]
fn tls_and_text_openings_are_not_mse() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:443"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let mut hello = key_like(300, 1);
    hello[..5].copy_from_slice(&[0x16, 0x03, 0x01, 0x01, 0x27]);
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &hello));
    run.send(&build::tcp(s, c, 5001, 1301, ACK, &key_like(400, 2)));
    run.send(&build::tcp(c, s, 1301, 5401, ACK, &key_like(120, 3)));
    let (recs, _) = run.finish();
    assert_eq!(recs[0].confidence(), None);
}

#[test]
fn pex_and_extension_handshake_teach_endpoints() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:51413"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let mut stream = bt_handshake(b"-TR3000-aaaaaaaaaaaa").to_vec();
    let ext = |id: u8, d: Vec<u8>| {
        let mut m = ((d.len() + 2) as u32).to_be_bytes().to_vec();
        m.extend([20, id]);
        m.extend(d);
        m
    };
    stream.extend(ext(
        0,
        Item::Dict(vec![
            (b"m", Item::Dict(vec![(b"ut_pex", Item::Int(1))])),
            (b"p", Item::Int(6889)),
        ])
        .to_vec(),
    ));
    stream.extend([0, 0, 0, 0]); // keep-alive
    stream.extend([0, 0, 0, 5, 4, 0, 0, 0, 7]); // have 7
    stream.extend(ext(
        1,
        Item::Dict(vec![(b"added", Item::Bytes(&[10, 77, 5, 5, 0x1a, 0xe1]))]).to_vec(),
    ));
    // split the messages across two segments, mid-message
    let (x, y) = stream.split_at(100);
    run.send(&build::tcp(c, s, 1001, 5001, ACK, x));
    run.send(&build::tcp(c, s, 1101, 5001, ACK, y));
    let (_, engine) = run.finish();
    let pex = engine.knowledge().get(&sa("10.77.5.5:6881")).unwrap();
    assert!(pex.has(Source::Pex));
    assert_eq!(pex.infohashes, vec![HASH]);
    assert!(
        engine
            .knowledge()
            .get(&sa("10.77.0.2:6889"))
            .unwrap()
            .has(Source::PeerListen)
    );
    assert_eq!(engine.budget().used, 0);
}

proptest::proptest! {
    /// Random flights of any lengths, with no BitTorrent knowledge around, are never more than
    /// suspects.
    #[test]
    fn random_bytes_are_never_certain(
        flights in proptest::collection::vec((proptest::bool::ANY, 1usize..1500), 1..8),
        seed: u32,
    ) {
        let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
        let mut run = Run::new();
        tcp_handshake(&mut run, c, s);
        let mut seq = [1001u32, 5001u32];
        for (i, (from_client, n)) in flights.iter().enumerate() {
            let p = key_like(*n, seed.wrapping_add(i as u32));
            let (src, dst, k) = if *from_client { (c, s, 0) } else { (s, c, 1) };
            run.send(&build::tcp(src, dst, seq[k], seq[1 - k], ACK, &p));
            seq[k] = seq[k].wrapping_add(*n as u32);
        }
        let (recs, _) = run.finish();
        proptest::prop_assert!(recs.iter().all(|r| r.confidence() <= Some(Confidence::Suspect)));
    }
}

#[test]
fn without_the_opening_no_mse_shape_and_no_listening_end_is_learned() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    // The capture starts after the SYN and SYN-ACK: who opened is unknown.
    let mut run = Run::new();
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &key_like(300, 1)));
    run.send(&build::tcp(s, c, 5001, 1301, ACK, &key_like(400, 2)));
    run.send(&build::tcp(c, s, 1301, 5401, ACK, &key_like(120, 3)));
    let (recs, _) = run.finish();
    assert_eq!(recs[0].confidence(), None);

    let mut run = Run::new();
    run.send(&build::tcp(
        c,
        s,
        1001,
        5001,
        ACK,
        &bt_handshake(b"-TR3000-aaaaaaaaaaaa"),
    ));
    let (recs, engine) = run.finish();
    assert_eq!(recs[0].kind(), Some(Kind::PeerTcp));
    assert!(
        engine.knowledge().get(&s).is_none(),
        "which end listens is unknown"
    );
    assert!(
        engine
            .knowledge()
            .host_any_time(&c.ip())
            .unwrap()
            .ports()
            .next()
            .is_none(),
        "the sender took part, on no known listen port"
    );
}

#[test]
fn an_initiator_half_close_does_not_end_the_opening() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    run.send(&build::tcp(c, s, 1001, 5001, ACK | FIN, &key_like(300, 1)));
    run.send(&build::tcp(s, c, 5001, 1302, ACK, &key_like(400, 2)));
    let (recs, _) = run.finish();
    let r = &recs[0];
    assert!(
        r.verdict.evidence.contains(Signal::MseShape),
        "{:?}",
        r.verdict
    );
    assert!(!r.verdict.evidence.contains(Signal::MseOneSided));
}

#[test]
fn mse_inferences_teach_nothing() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let mut run = Run::new();
    run.send(&build::udp(sa("10.77.0.3:6881"), s, &krpc_get_peers(b"aa")));
    run.send(&build::udp(s, sa("10.77.0.3:6881"), &krpc_values(b"aa")));
    mse_connection(&mut run, c, s, 300, 400, 120);
    let (recs, engine) = run.finish();
    assert_eq!(find(&recs, c).confidence(), Some(Confidence::Likely));
    let k = engine.knowledge();
    assert!(k.get(&s).is_none_or(|e| !e.has(Source::PeerFlow)));
    assert!(
        k.host_any_time(&c.ip()).is_none(),
        "the initiator spoke no plaintext"
    );
}

#[test]
fn relabelling_uses_only_what_was_learned_around_the_flow() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let ttl = Config::default().endpoint_ttl_ns;
    // announced a day later: unrelated
    let mut run = Run::new();
    mse_connection(&mut run, c, s, 300, 400, 120);
    run.t += ttl + 60 * NS;
    tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
    let (recs, _) = run.finish();
    let r = find(&recs, c);
    assert_eq!(r.confidence(), Some(Confidence::Suspect));
    assert!(!r.verdict.relabelled);
    // within the limit: relabelled, decided at the flow's last packet
    let mut run = Run::new();
    mse_connection(&mut run, c, s, 300, 400, 120);
    run.t += ttl / 2;
    tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
    let (recs, _) = run.finish();
    let r = find(&recs, c);
    assert_eq!(r.confidence(), Some(Confidence::Certain));
    assert!(r.verdict.relabelled);
    assert_eq!(r.verdict.decided_at, Some(7));
    assert_eq!(r.verdict.decided_payloads, [2, 2]);
}

#[test]
fn keep_alives_alone_end_the_message_reading() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:51413"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    run.send(&build::tcp(
        c,
        s,
        1001,
        5001,
        ACK,
        &bt_handshake(b"-TR3000-aaaaaaaaaaaa"),
    ));
    let mut seq = 1069u32;
    let keep_alives = [0u8; 1400];
    let limit = crate::detect::READ_LIMIT as usize;
    for _ in 0..limit.div_ceil(keep_alives.len()) {
        run.send(&build::tcp(c, s, seq, 5001, ACK, &keep_alives));
        seq += keep_alives.len() as u32;
    }
    let mut pex = Item::Dict(vec![(b"added", Item::Bytes(&[10, 77, 5, 5, 0x1a, 0xe1]))]).to_vec();
    let mut m = ((pex.len() + 2) as u32).to_be_bytes().to_vec();
    m.extend([20, 1]);
    m.append(&mut pex);
    run.send(&build::tcp(c, s, seq, 5001, ACK, &m));
    let (_, engine) = run.finish();
    assert!(
        engine.knowledge().get(&sa("10.77.5.5:6881")).is_none(),
        "read past the limit"
    );
}

#[test]
fn an_encrypted_flow_is_attributed_but_its_packets_carry_nothing() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let mut run = Run::new();
    tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
    assert_eq!(
        run.last().infohashes,
        Vec::<InfoHash>::new(),
        "a reply: peers"
    );
    mse_connection(&mut run, c, s, 300, 400, 120);
    let (key, _) = run.last_flow().unwrap();
    assert!(run.last().infohashes.is_empty());
    let v = run.engine.flow(&key).unwrap();
    assert!(v.verdict.encrypted);
    assert_eq!(v.infohashes, &[HASH]);
}

#[test]
fn a_live_sensor_relabels_when_the_flow_ends_from_what_is_known_then() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let live = Config {
        relabel_at_end: false,
        relabel_when_ended: true,
        ..Config::default()
    };
    // The endpoint is announced while the connection is open (its shape was judged before).
    let announced_while_open = |config: Config| {
        let mut run = Run::with(config);
        tcp_handshake(&mut run, c, s);
        mse_flights(&mut run, c, s, 300, 400, 120);
        run.t += NS;
        tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
        let (recs, _) = run.finish();
        find(&recs, c).clone()
    };
    let r = announced_while_open(live.clone());
    assert_eq!(r.confidence(), Some(Confidence::Certain));
    assert!(r.verdict.relabelled);
    assert_eq!(r.infohashes, vec![HASH]);
    let r = announced_while_open(Config {
        relabel_when_ended: false,
        ..live.clone()
    });
    assert_eq!(
        r.confidence(),
        Some(Confidence::Suspect),
        "inline: decided before"
    );

    // Announced only after the connection ended: a live sensor has written it already.
    let mut run = Run::with(live);
    mse_connection(&mut run, c, s, 300, 400, 120);
    run.t += 400 * NS;
    tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
    let (recs, _) = run.finish();
    assert_eq!(find(&recs, c).confidence(), Some(Confidence::Suspect));
}
