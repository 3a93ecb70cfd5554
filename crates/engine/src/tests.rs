//! Engine tests: frames built byte by byte from the BEPs, fed through the whole pipeline.

use std::net::SocketAddr;

use bencode::encode::Item;
use bt::handshake::{self, Reserved};
use bt::utp::{self, Type};
use bt::{InfoHash, PeerId, udp_tracker};
use wire::tcp::flags::{ACK, FIN, PSH, RST, SYN};
use wire::{LinkType, build};

use super::*;

const HASH: InfoHash = InfoHash([0x42; 20]);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Runs frames (at one per millisecond unless given) and returns every record.
struct Run {
    engine: Engine,
    records: Vec<FlowRecord>,
    t: i64,
}

impl Run {
    fn new() -> Run {
        Run::with(Config::default())
    }
    fn with(config: Config) -> Run {
        Run {
            engine: Engine::new(config),
            records: Vec::new(),
            t: 1_700_000_000 * NS,
        }
    }
    fn at(&mut self, ts: i64, frame: &[u8]) {
        let records = &mut self.records;
        self.engine.frame(
            LinkType::Ethernet,
            ts,
            frame,
            frame.len() as u32,
            &mut |r| records.push(r),
        );
    }
    fn send(&mut self, frame: &[u8]) {
        self.t += 1_000_000;
        let t = self.t;
        self.at(t, frame);
    }
    fn finish(mut self) -> (Vec<FlowRecord>, Engine) {
        let records = &mut self.records;
        self.engine.finish(&mut |r| records.push(r));
        (self.records, self.engine)
    }
}

fn tcp_handshake(run: &mut Run, c: SocketAddr, s: SocketAddr) {
    run.send(&build::tcp(c, s, 1000, 0, SYN, &[]));
    run.send(&build::tcp(s, c, 5000, 1001, SYN | ACK, &[]));
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &[]));
}

fn bt_handshake(id: &[u8; 20]) -> [u8; 68] {
    handshake::emit(Reserved::default(), HASH, PeerId(*id))
}

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
fn http_announce_split_and_reply_peers() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.9:8080"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let req = format!(
        "GET /a/announce?info_hash={}&peer_id=-qB4520-dddddddddddd&port=6881&compact=1 HTTP/1.1\r\nHost: t\r\n\r\n",
        "%42".repeat(20)
    );
    let (a, b) = req.as_bytes().split_at(30);
    run.send(&build::tcp(c, s, 1001, 5001, ACK, a));
    run.send(&build::tcp(c, s, 1001 + a.len() as u32, 5001, ACK, b));
    let body = Item::Dict(vec![
        (b"interval", Item::Int(1800)),
        (b"peers", Item::Bytes(&[10, 77, 0, 7, 0x1a, 0xe1])),
    ])
    .to_vec();
    let mut resp =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    resp.extend(&body);
    run.send(&build::tcp(s, c, 5001, 1001 + req.len() as u32, ACK, &resp));
    let (recs, engine) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::TrackerHttp));
    assert_eq!(r.verdict.decided_at, Some(5));
    assert_eq!(r.infohashes, vec![HASH]);
    assert_eq!(r.client_peer_id, Some(PeerId(*b"-qB4520-dddddddddddd")));
    let peer = engine.knowledge().get(&sa("10.77.0.7:6881")).unwrap();
    assert!(peer.has(Source::TrackerHttp));
    assert_eq!(peer.infohashes, vec![HASH]);
    // the client's announced port
    assert!(
        engine
            .knowledge()
            .get(&sa("10.77.0.2:6881"))
            .unwrap()
            .has(Source::Announce)
    );
    assert_eq!(engine.budget().used, 0, "buffers returned to the budget");
}

#[test]
fn keep_alive_tracker_connection_with_split_heads_and_chunked_replies() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.9:6969"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let announce = |h: &str| {
        format!(
            "GET /announce?info_hash={}&peer_id=-TR3000-aaaaaaaaaaaa&port=6881 HTTP/1.1\r\nHost: t\r\n\r\n",
            h.repeat(20)
        )
    };
    let reply = |peer: [u8; 6]| {
        let body = Item::Dict(vec![
            (b"interval", Item::Int(60)),
            (b"peers", Item::Bytes(&peer)),
        ])
        .to_vec();
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            body.len()
        )
        .into_bytes();
        r.extend(&body);
        r.extend(b"\r\n0\r\n\r\n");
        r
    };
    let (mut cseq, mut sseq) = (1001u32, 5001u32);
    // Ten requests on one connection; each head split before its blank line.
    for i in 0..10u8 {
        let req = announce(&format!("%{:02x}", i + 1));
        let (a, b) = req.as_bytes().split_at(req.len() - 10);
        for part in [a, b] {
            run.send(&build::tcp(c, s, cseq, sseq, ACK, part));
            cseq += part.len() as u32;
        }
        let r = reply([10, 77, 1, i, 0x1a, 0xe1]);
        run.send(&build::tcp(s, c, sseq, cseq, ACK, &r));
        sseq += r.len() as u32;
    }
    let (recs, engine) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::TrackerHttp));
    assert_eq!(r.infohashes.len(), 8, "the first eight requests are read");
    for i in 0..8u8 {
        let peer = engine
            .knowledge()
            .get(&SocketAddr::from(([10, 77, 1, i], 6881)))
            .unwrap();
        assert_eq!(
            peer.infohashes,
            vec![InfoHash([i + 1; 20])],
            "reply {i} paired with its request"
        );
    }
    assert!(
        engine
            .knowledge()
            .get(&SocketAddr::from(([10, 77, 1, 8], 6881)))
            .is_none()
    );
    assert_eq!(engine.budget().used, 0);
}

#[test]
fn plain_http_is_not_a_tracker() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.9:80"));
    let mut run = Run::new();
    tcp_handshake(&mut run, c, s);
    let req = b"GET /index.html?info_hash=x HTTP/1.1\r\nHost: t\r\n\r\n";
    run.send(&build::tcp(c, s, 1001, 5001, ACK, req));
    run.send(&build::tcp(
        s,
        c,
        5001,
        1001 + req.len() as u32,
        ACK,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ));
    let (recs, engine) = run.finish();
    assert!(!recs[0].is_bittorrent());
    assert_eq!(engine.budget().used, 0);
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

fn krpc_get_peers(tid: &'static [u8]) -> Vec<u8> {
    Item::Dict(vec![
        (
            b"a",
            Item::Dict(vec![
                (b"id", Item::Bytes(&[1; 20])),
                (b"info_hash", Item::Bytes(&[0x42; 20])),
            ]),
        ),
        (b"q", Item::Bytes(b"get_peers")),
        (b"t", Item::Bytes(tid)),
        (b"y", Item::Bytes(b"q")),
    ])
    .to_vec()
}

fn krpc_values(tid: &'static [u8]) -> Vec<u8> {
    Item::Dict(vec![
        (
            b"r",
            Item::Dict(vec![
                (b"id", Item::Bytes(&[2; 20])),
                (b"token", Item::Bytes(b"tk")),
                (
                    b"values",
                    Item::List(vec![Item::Bytes(&[10, 77, 0, 8, 0xc8, 0xd5])]),
                ),
            ]),
        ),
        (b"t", Item::Bytes(tid)),
        (b"y", Item::Bytes(b"r")),
    ])
    .to_vec()
}

#[test]
fn dht_query_and_values() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:6881"));
    let mut run = Run::new();
    run.send(&build::udp(a, b, &krpc_get_peers(b"aa")));
    run.send(&build::udp(b, a, &krpc_values(b"aa")));
    let (recs, engine) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::Dht));
    assert_eq!(r.verdict.decided_at, Some(1));
    assert!(
        r.verdict.evidence.contains(Signal::KrpcQuery)
            && r.verdict.evidence.contains(Signal::KrpcResponse)
    );
    assert_eq!(r.infohashes, vec![HASH]);
    let p = engine.knowledge().get(&sa("10.77.0.8:51413")).unwrap();
    assert!(p.has(Source::DhtValues));
    assert_eq!(
        p.infohashes,
        vec![HASH],
        "values attributed through the transaction id"
    );
}

#[test]
fn utp_exchange_and_handshake_mixed_with_dht() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:51413"));
    let mut run = Run::new();
    run.send(&build::udp(a, b, &krpc_get_peers(b"xy")));
    run.send(&build::udp(
        a,
        b,
        &utp::emit(Type::Syn, 100, 1_000, 0, 65535, 1, 0, &[]),
    ));
    let recs_before = run.engine.active_flows();
    assert_eq!(recs_before, 1);
    run.send(&build::udp(
        b,
        a,
        &utp::emit(Type::State, 100, 9_000, 10, 65535, 500, 1, &[]),
    ));
    let hs = bt_handshake(b"-LT2080-eeeeeeeeeeee");
    run.send(&build::udp(
        a,
        b,
        &utp::emit(Type::Data, 101, 2_000, 10, 65535, 2, 500, &hs),
    ));
    let (recs, _) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::PeerUtp));
    assert!(r.verdict.kinds.contains(Kind::Dht));
    assert_eq!(r.verdict.decided_at, Some(1), "decided as DHT first");
    assert!(r.verdict.evidence.contains(Signal::UtpExchange));
    assert!(r.verdict.evidence.contains(Signal::UtpHandshake));
    assert_eq!(r.client_peer_id, Some(PeerId(*b"-LT2080-eeeeeeeeeeee")));
}

#[test]
fn utp_one_way_needs_a_consistent_clock() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:51413"));
    // SYN retries one second apart whose uTP clock advances one second each time.
    let mut run = Run::new();
    for i in 0..3u32 {
        let t = run.t + i64::from(i) * NS;
        run.at(
            t,
            &build::udp(
                a,
                b,
                &utp::emit(Type::Syn, 7, 5_000_000 + i * 1_000_000, 0, 65535, 1, 0, &[]),
            ),
        );
    }
    let (recs, _) = run.finish();
    assert!(recs[0].verdict.evidence.contains(Signal::UtpOneWay));

    // Same packets with a clock that does not follow: not decided.
    let mut run = Run::new();
    for i in 0..3u32 {
        let t = run.t + i64::from(i) * NS;
        run.at(
            t,
            &build::udp(
                a,
                b,
                &utp::emit(Type::Syn, 7, 5_000_000 + i * 7_777_777, 0, 65535, 1, 0, &[]),
            ),
        );
    }
    let (recs, _) = run.finish();
    assert!(!recs[0].is_bittorrent());
}

#[test]
fn udp_tracker_connect_announce_reply() {
    let (c, t) = (sa("10.77.0.2:51413"), sa("10.77.0.9:6969"));
    let mut run = Run::new();
    run.send(&build::udp(c, t, &udp_tracker::emit_connect(7)));
    let mut conn = vec![0, 0, 0, 0, 0, 0, 0, 7];
    conn.extend(99u64.to_be_bytes());
    run.send(&build::udp(t, c, &conn));
    run.send(&build::udp(
        c,
        t,
        &udp_tracker::emit_announce(99, 8, HASH, PeerId(*b"-TR3000-ffffffffffff"), 2, 51413),
    ));
    let mut ann = vec![0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 1];
    ann.extend([10, 77, 0, 5, 0x1a, 0xe1]);
    run.send(&build::udp(t, c, &ann));
    let (recs, engine) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::TrackerUdp));
    assert_eq!(r.verdict.decided_at, Some(1));
    assert_eq!(r.infohashes, vec![HASH]);
    assert_eq!(r.client_peer_id, Some(PeerId(*b"-TR3000-ffffffffffff")));
    assert_eq!(
        engine
            .knowledge()
            .get(&sa("10.77.0.5:6881"))
            .unwrap()
            .infohashes,
        vec![HASH]
    );
}

#[test]
fn udp_tracker_announce_without_connect_decides_on_the_reply() {
    let (c, t) = (sa("10.77.0.2:51413"), sa("10.77.0.9:6969"));
    let mut run = Run::new();
    run.send(&build::udp(
        c,
        t,
        &udp_tracker::emit_announce(99, 8, HASH, PeerId([b'x'; 20]), 0, 51413),
    ));
    let ann = [0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 1];
    run.send(&build::udp(t, c, &ann));
    let (recs, _) = run.finish();
    assert_eq!(recs[0].verdict.decided_at, Some(2));
    assert!(
        recs[0]
            .verdict
            .evidence
            .contains(Signal::UdpTrackerExchange)
    );
    assert_eq!(recs[0].infohashes, vec![HASH]);
}

#[test]
fn udp_tracker_scrape_reply_is_not_read_as_a_request() {
    let (c, t) = (sa("10.77.0.2:51413"), sa("10.77.0.9:6969"));
    let mut run = Run::new();
    run.send(&build::udp(c, t, &udp_tracker::emit_connect(7)));
    let mut conn = vec![0, 0, 0, 0, 0, 0, 0, 7];
    conn.extend(99u64.to_be_bytes());
    run.send(&build::udp(t, c, &conn));
    let mut scrape = 99u64.to_be_bytes().to_vec();
    scrape.extend([0, 0, 0, 2, 0, 0, 0, 9]);
    for i in 1..=4u8 {
        scrape.extend([i; 20]);
    }
    run.send(&build::udp(c, t, &scrape));
    // 4 × (seeders, completed, leechers); the first seeder count 2 makes bytes 8..12 read
    // like a scrape action, and the length 56 like a scrape request of two hashes.
    let mut reply = vec![0, 0, 0, 2, 0, 0, 0, 9];
    for _ in 0..4 {
        reply.extend([0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 1]);
    }
    run.send(&build::udp(t, c, &reply));
    let (recs, _) = run.finish();
    let want: Vec<InfoHash> = (1..=4u8).map(|i| InfoHash([i; 20])).collect();
    assert_eq!(recs[0].infohashes, want);
}

#[test]
fn udp_tracker_request_whose_connection_id_looks_like_dht() {
    let (c, t) = (sa("10.77.0.2:51413"), sa("10.77.0.9:6969"));
    let mut run = Run::new();
    let cid = u64::from_be_bytes(*b"d1:ad2:i");
    run.send(&build::udp(
        c,
        t,
        &udp_tracker::emit_announce(cid, 8, HASH, PeerId([b'x'; 20]), 0, 51413),
    ));
    run.send(&build::udp(
        t,
        c,
        &[0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 1],
    ));
    let (recs, _) = run.finish();
    assert_eq!(recs[0].kind(), Some(Kind::TrackerUdp));
    assert_eq!(recs[0].infohashes, vec![HASH]);
}

#[test]
fn lsd_announce() {
    let msg = b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: 4242424242424242424242424242424242424242\r\n\r\n\r\n";
    let mut run = Run::new();
    run.send(&build::udp(
        sa("10.77.0.2:6771"),
        sa("239.192.152.143:6771"),
        msg,
    ));
    let (recs, engine) = run.finish();
    assert_eq!(recs[0].kind(), Some(Kind::Lsd));
    assert_eq!(recs[0].infohashes, vec![HASH]);
    assert!(
        engine
            .knowledge()
            .get(&sa("10.77.0.2:6881"))
            .unwrap()
            .has(Source::Lsd)
    );
}

#[test]
fn lsd_over_ipv6_multicast() {
    let msg = b"BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\nPort: 51413\r\nInfohash: 4242424242424242424242424242424242424242\r\nInfohash: 0101010101010101010101010101010101010101\r\n\r\n\r\n";
    let mut run = Run::new();
    run.send(&build::udp(
        sa("[fe80::1]:6771"),
        sa("[ff15::efc0:988f]:6771"),
        msg,
    ));
    let (recs, engine) = run.finish();
    assert_eq!(recs[0].kind(), Some(Kind::Lsd));
    assert_eq!(recs[0].infohashes, vec![HASH, InfoHash([1; 20])]);
    assert_eq!(
        engine
            .knowledge()
            .get(&sa("[fe80::1]:51413"))
            .unwrap()
            .infohashes
            .len(),
        2
    );
}

#[test]
fn dht_nodes6_are_learned() {
    let (a, b) = (sa("[2001:db8::2]:6881"), sa("[2001:db8::3]:6881"));
    let mut nodes6 = vec![9u8; 20];
    nodes6.extend(
        "2001:db8::77"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    nodes6.extend(6881u16.to_be_bytes());
    let reply = Item::Dict(vec![
        (
            b"r",
            Item::Dict(vec![
                (b"id", Item::Bytes(&[2; 20])),
                (b"nodes6", Item::Bytes(&nodes6)),
            ]),
        ),
        (b"t", Item::Bytes(b"zz")),
        (b"y", Item::Bytes(b"r")),
    ])
    .to_vec();
    let mut run = Run::new();
    run.send(&build::udp(b, a, &reply));
    let (recs, engine) = run.finish();
    assert_eq!(recs[0].kind(), Some(Kind::Dht));
    assert!(
        engine
            .knowledge()
            .get(&sa("[2001:db8::77]:6881"))
            .unwrap()
            .has(Source::DhtNodes)
    );
}

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

// --- encrypted peer connections (MSE/PE) -------------------------------------------------

/// Bytes that look like a Diffie-Hellman key plus pad (random from the first byte).
fn key_like(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 11) as u8
        })
        .collect()
}

/// A TCP connection from `c` to `s` whose first flights are `a1` then `b1`, then `a2` from
/// the initiator; returns the run (not finished).
fn mse_connection(run: &mut Run, c: SocketAddr, s: SocketAddr, a1: usize, b1: usize, a2: usize) {
    tcp_handshake(run, c, s);
    mse_flights(run, c, s, a1, b1, a2);
}

/// The flights of [`mse_connection`] without its SYN and SYN-ACK.
fn mse_flights(run: &mut Run, c: SocketAddr, s: SocketAddr, a1: usize, b1: usize, a2: usize) {
    let (mut cs, mut ss) = (1001u32, 5001u32);
    let p = key_like(a1, 1);
    run.send(&build::tcp(c, s, cs, ss, ACK, &p));
    cs += p.len() as u32;
    if b1 > 0 {
        let p = key_like(b1, 2);
        run.send(&build::tcp(s, c, ss, cs, ACK, &p));
        ss += p.len() as u32;
    }
    if a2 > 0 {
        let p = key_like(a2, 3);
        run.send(&build::tcp(c, s, cs, ss, ACK, &p));
        cs += p.len() as u32;
        let p = key_like(1200, 4);
        run.send(&build::tcp(s, c, ss, cs, ACK, &p));
    }
}

/// An HTTP tracker exchange that announces `peer` for HASH.
fn tracker_announcing(run: &mut Run, client: SocketAddr, peer: SocketAddr) {
    let t = sa("10.77.0.9:8080");
    tcp_handshake(run, client, t);
    let req = format!(
        "GET /announce?info_hash={}&peer_id=-TR3000-aaaaaaaaaaaa&port=6881 HTTP/1.1\r\n\r\n",
        "%42".repeat(20)
    );
    run.send(&build::tcp(client, t, 1001, 5001, ACK, req.as_bytes()));
    let compact = match peer {
        SocketAddr::V4(v4) => [v4.ip().octets().as_slice(), &v4.port().to_be_bytes()].concat(),
        SocketAddr::V6(_) => panic!("v4 only"),
    };
    let body = Item::Dict(vec![
        (b"interval", Item::Int(60)),
        (b"peers", Item::Bytes(&compact)),
    ])
    .to_vec();
    let mut resp =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    resp.extend(&body);
    run.send(&build::tcp(
        t,
        client,
        5001,
        1001 + req.len() as u32,
        ACK,
        &resp,
    ));
}

fn find(recs: &[FlowRecord], c: SocketAddr) -> &FlowRecord {
    recs.iter().find(|r| r.client == c).unwrap()
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
        r.decided_payloads,
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
fn mse_over_utp_is_encrypted_peer_utp() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:51413"));
    let mut run = Run::new();
    run.send(&build::udp(
        a,
        b,
        &utp::emit(Type::Syn, 100, 1_000, 0, 65535, 1, 0, &[]),
    ));
    run.send(&build::udp(
        b,
        a,
        &utp::emit(Type::State, 100, 9_000, 10, 65535, 500, 1, &[]),
    ));
    run.send(&build::udp(
        a,
        b,
        &utp::emit(Type::Data, 101, 2_000, 10, 65535, 2, 500, &key_like(400, 1)),
    ));
    run.send(&build::udp(
        b,
        a,
        &utp::emit(Type::Data, 100, 9_100, 10, 65535, 501, 2, &key_like(300, 2)),
    ));
    run.send(&build::udp(
        a,
        b,
        &utp::emit(Type::Data, 101, 2_100, 10, 65535, 3, 501, &key_like(100, 3)),
    ));
    let (recs, _) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::PeerUtp));
    assert!(r.verdict.encrypted && r.verdict.evidence.contains(Signal::MseShape));
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
    assert_eq!(r.decided_payloads, [2, 2]);
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

/// A uTP connection from `a` (its SYN seen) carrying an MSE opening of `a1` (sent twice),
/// `b1`, then the initiator's third message.
#[test]
fn mse_over_utp_counts_a_retransmission_once() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:51413"));
    let data = |from: SocketAddr, to, id, seq, ack, p: &[u8]| {
        build::udp(
            from,
            to,
            &utp::emit(Type::Data, id, 2_000, 10, 65535, seq, ack, p),
        )
    };
    let mut run = Run::new();
    run.send(&build::udp(
        a,
        b,
        &utp::emit(Type::Syn, 100, 1_000, 0, 65535, 1, 0, &[]),
    ));
    run.send(&build::udp(
        b,
        a,
        &utp::emit(Type::State, 100, 9_000, 10, 65535, 500, 1, &[]),
    ));
    let a1 = key_like(400, 1);
    run.send(&data(a, b, 101, 2, 500, &a1));
    run.send(&data(a, b, 101, 2, 500, &a1)); // retransmitted: 800 bytes would be too long
    run.send(&data(b, a, 100, 501, 2, &key_like(300, 2)));
    run.send(&data(a, b, 101, 3, 501, &key_like(100, 3)));
    let (recs, _) = run.finish();
    assert!(recs[0].verdict.evidence.contains(Signal::MseShape));
}

// --- what the inline path sees of each packet ---------------------------------------------

#[test]
fn each_packet_says_what_it_carried() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:6881"));
    let mut run = Run::new();
    run.send(&build::udp(a, b, &krpc_get_peers(b"aa")));
    let f = run.engine.last().clone();
    assert!(f.new_flow);
    assert_eq!(f.dht, Some(DhtMessage::GetPeers));
    assert_eq!(f.infohashes, vec![HASH]);
    let (key, from_client) = run.engine.last_flow().unwrap();
    assert!(from_client);
    run.send(&build::udp(b, a, &krpc_values(b"aa")));
    let f = run.engine.last().clone();
    assert!(!f.new_flow);
    assert_eq!(run.engine.last_flow(), Some((key, false)));
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
    assert_eq!(run.engine.last(), &PacketFacts::default());
    assert_eq!(run.engine.last_flow(), None);
}

/// One UDP socket pair speaking DHT about one torrent and uTP for another: the connection is
/// about the second only (the lab's DHT swarm, libtorrent and transmission); the record lists
/// both.
#[test]
fn dht_on_a_utp_socket_names_torrents_the_connection_is_not_about() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:51413"));
    let other = InfoHash([7; 20]);
    let mut run = Run::new();
    run.send(&build::udp(a, b, &krpc_get_peers(b"xy")));
    assert_eq!(run.engine.last().infohashes, vec![HASH]);
    let (key, _) = run.engine.last_flow().unwrap();
    assert!(run.engine.flow(&key).unwrap().infohashes.is_empty());
    run.send(&build::udp(
        a,
        b,
        &utp::emit(Type::Syn, 100, 1_000, 0, 65535, 1, 0, &[]),
    ));
    run.send(&build::udp(
        b,
        a,
        &utp::emit(Type::State, 100, 9_000, 10, 65535, 500, 1, &[]),
    ));
    let hs = handshake::emit(Reserved::default(), other, PeerId(*b"-LT2080-eeeeeeeeeeee"));
    run.send(&build::udp(
        a,
        b,
        &utp::emit(Type::Data, 101, 2_000, 10, 65535, 2, 500, &hs),
    ));
    assert_eq!(run.engine.last().infohashes, vec![other]);
    assert_eq!(run.engine.flow(&key).unwrap().infohashes, &[other]);
    let (recs, _) = run.finish();
    assert_eq!(recs[0].infohashes, vec![HASH, other]);
}

#[test]
fn an_encrypted_flow_is_attributed_but_its_packets_carry_nothing() {
    let (c, s) = (sa("10.77.0.2:40000"), sa("10.77.0.1:23456"));
    let mut run = Run::new();
    tracker_announcing(&mut run, sa("10.77.0.2:39999"), s);
    assert_eq!(
        run.engine.last().infohashes,
        Vec::<InfoHash>::new(),
        "a reply: peers"
    );
    mse_connection(&mut run, c, s, 300, 400, 120);
    let (key, _) = run.engine.last_flow().unwrap();
    assert!(run.engine.last().infohashes.is_empty());
    let v = run.engine.flow(&key).unwrap();
    assert!(v.verdict.encrypted);
    assert_eq!(v.infohashes, &[HASH]);
}
