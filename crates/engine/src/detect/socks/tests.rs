//! SOCKS tunnels through the whole pipeline: the inner protocol found with the tunnel's
//! target in place of the proxy.

use proxy::socks5::emit;
use proxy::{Dest, Host};

use crate::testutil::*;

fn dest(a: SocketAddr) -> Dest<'static> {
    let host = match a.ip() {
        std::net::IpAddr::V4(x) => Host::V4(x),
        std::net::IpAddr::V6(x) => Host::V6(x),
    };
    Dest {
        host,
        port: a.port(),
    }
}

const PROXY: &str = "10.77.1.1:1080";

/// A SOCKS5 CONNECT to `target` (no authentication) on a fresh connection.
fn socks5_connect(run: &mut Run, client: SocketAddr, target: SocketAddr) -> Conn {
    let mut conn = Conn::open(run, client, sa(PROXY));
    conn.client(run, &[5, 1, 0]);
    conn.server(run, &[5, 0]);
    conn.client(run, &emit(&[5, 1, 0], &dest(target)));
    conn.server(run, &emit(&[5, 0, 0], &dest(sa("10.77.1.1:40001"))));
    conn
}

#[test]
fn a_peer_connection_through_socks5_is_peer_tcp_to_its_target() {
    let (client, peer) = (sa("10.77.0.2:40000"), sa("203.0.113.7:51413"));
    let mut run = Run::new();
    let mut conn = socks5_connect(&mut run, client, peer);
    conn.client(&mut run, &bt_handshake(b"-qB4520-aaaaaaaaaaaa"));
    conn.server(&mut run, &bt_handshake(b"-TR3000-bbbbbbbbbbbb"));
    let (recs, engine) = run.finish();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(
        (r.client, r.server),
        (client, sa(PROXY)),
        "the flow as it crossed the wire"
    );
    assert_eq!(r.kind(), Some(Kind::PeerTcp));
    assert!(
        r.verdict.evidence.contains(Signal::Handshake),
        "at the inner stream's start"
    );
    assert_eq!(r.infohashes, vec![HASH]);
    let t = r.tunnel.as_ref().unwrap();
    assert_eq!(
        (t.kind, &t.target, t.command),
        (TunnelKind::Socks5, &Target::Addr(peer), "connect")
    );
    assert_eq!(r.server_peer_id, Some(PeerId(*b"-TR3000-bbbbbbbbbbbb")));
    // what the connection teaches is about the target, never the proxy
    assert_eq!(
        engine.knowledge().get(&peer).unwrap().infohashes,
        vec![HASH]
    );
    assert!(engine.knowledge().get(&sa(PROXY)).is_none());
    assert!(engine.knowledge().host_any_time(&sa(PROXY).ip()).is_none());
    assert!(
        engine
            .knowledge()
            .host_any_time(&peer.ip())
            .unwrap()
            .speaks_on_any_time(peer.port())
    );
}

#[test]
fn username_password_split_messages_and_a_pipelined_handshake() {
    let (client, peer) = (sa("10.77.0.2:40000"), sa("[2001:db8::7]:6881"));
    let mut run = Run::new();
    let mut conn = Conn::open(&mut run, client, sa(PROXY));
    conn.client(&mut run, &[5, 2]);
    conn.client(&mut run, &[0, 2]); // the greeting split in two
    conn.server(&mut run, &[5, 2]);
    conn.client(&mut run, &[1, 2, b'l', b't', 2, b'p', b'w']);
    conn.server(&mut run, &[1, 0]);
    let mut req = emit(&[5, 1, 0], &dest(peer));
    // the inner handshake follows the reply in the same segment as the reply? no: the
    // client's request, then the server's reply and the server's own first bytes at once
    conn.client(&mut run, &req[..4]);
    conn.client(&mut run, &req.split_off(4));
    let mut reply = emit(&[5, 0, 0], &dest(sa("0.0.0.0:0")));
    reply.extend(bt_handshake(b"-TR3000-bbbbbbbbbbbb"));
    conn.server(&mut run, &reply);
    let (recs, _) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::PeerTcp), "{r:?}");
    assert_eq!(r.tunnel.as_ref().unwrap().target, Target::Addr(peer));
    assert_eq!(r.server_peer_id, Some(PeerId(*b"-TR3000-bbbbbbbbbbbb")));
}

#[test]
fn socks4_and_socks4a() {
    let client = sa("10.77.0.2:40000");
    let mut run = Run::new();
    let mut conn = Conn::open(&mut run, client, sa(PROXY));
    conn.client(&mut run, &[4, 1, 0x1A, 0xE1, 203, 0, 113, 9, b'u', 0]);
    conn.server(&mut run, &[0, 90, 0, 0, 0, 0, 0, 0]);
    conn.client(&mut run, &bt_handshake(b"-DE2030-aaaaaaaaaaaa"));
    let client2 = sa("10.77.0.2:40001");
    let mut conn = Conn::open(&mut run, client2, sa(PROXY));
    let mut req = vec![4, 1, 0x1B, 0x39, 0, 0, 0, 1, 0];
    req.extend(b"tracker.example\0");
    conn.client(&mut run, &req);
    conn.server(&mut run, &[0, 90, 0, 0, 0, 0, 0, 0]);
    let announce = format!(
        "GET /announce?info_hash={}&peer_id=-DE2030-aaaaaaaaaaaa&port=1 HTTP/1.1\r\n\r\n",
        "%42".repeat(20)
    );
    conn.client(&mut run, announce.as_bytes());
    let (recs, _) = run.finish();
    let r = find(&recs, client);
    assert_eq!(r.kind(), Some(Kind::PeerTcp));
    let t = r.tunnel.as_ref().unwrap();
    assert_eq!(
        (t.kind, &t.target),
        (TunnelKind::Socks4, &Target::Addr(sa("203.0.113.9:6881")))
    );
    let r = find(&recs, client2);
    assert_eq!(r.kind(), Some(Kind::TrackerHttp));
    assert_eq!(r.infohashes, vec![HASH]);
    assert_eq!(
        r.tunnel.as_ref().unwrap().target,
        Target::Name("tracker.example".into(), 6969)
    );
}

/// Encrypted peer connections through the proxy are judged by what the swarm announced of
/// their targets — here through a tracker reached through the same proxy.
#[test]
fn an_encrypted_connection_through_socks5_to_an_announced_peer_is_certain() {
    let client = sa("10.77.0.2:40000");
    let (tracker, peer) = (sa("10.77.9.9:6969"), sa("203.0.113.7:51413"));
    let mut run = Run::new();
    let mut t = socks5_connect(&mut run, sa("10.77.0.2:39999"), tracker);
    let req = format!(
        "GET /announce?info_hash={}&peer_id=-qB4520-aaaaaaaaaaaa&port=1 HTTP/1.1\r\n\r\n",
        "%42".repeat(20)
    );
    t.client(&mut run, req.as_bytes());
    let resp = tracker_reply(60, &[203, 0, 113, 7, 0xC8, 0xD5]);
    t.server(&mut run, &resp);
    let mut conn = socks5_connect(&mut run, client, peer);
    conn.client(&mut run, &key_like(300, 1));
    conn.server(&mut run, &key_like(200, 2));
    conn.client(&mut run, &key_like(120, 3));
    let (recs, _) = run.finish();
    let r = find(&recs, client);
    assert_eq!(r.kind(), Some(Kind::PeerTcp), "{r:?}");
    assert_eq!(r.confidence(), Some(Confidence::Certain));
    assert!(r.verdict.encrypted);
    assert!(r.verdict.evidence.contains(Signal::EndpointTrackerHttp));
    assert_eq!(r.infohashes, vec![HASH]);
    // the same shape straight to the proxy's address, with no tunnel, would be a suspect
    let mut run = Run::new();
    mse_connection(&mut run, client, sa(PROXY), 300, 200, 120);
    let (recs, _) = run.finish();
    assert_eq!(recs[0].confidence(), Some(Confidence::Suspect));
}

/// Messages of a negotiation: (sent by the client, bytes).
type Exchange = Vec<(bool, Vec<u8>)>;

#[test]
fn refusals_and_broken_negotiations_open_no_tunnel() {
    let client = sa("10.77.0.2:40000");
    let target = dest(sa("203.0.113.7:51413"));
    let cases: Vec<(&str, Exchange)> = vec![
        (
            "refused",
            vec![
                (true, vec![5, 1, 0]),
                (false, vec![5, 0]),
                (true, emit(&[5, 1, 0], &target)),
                (false, emit(&[5, 5, 0], &target)),
            ],
        ),
        (
            "a method not offered",
            vec![(true, vec![5, 1, 0]), (false, vec![5, 2])],
        ),
        ("GSSAPI", vec![(true, vec![5, 1, 1]), (false, vec![5, 1])]),
        (
            "BIND",
            vec![
                (true, vec![5, 1, 0]),
                (false, vec![5, 0]),
                (true, emit(&[5, 2, 0], &target)),
                (false, emit(&[5, 0, 0], &target)),
            ],
        ),
        (
            "SOCKS4 rejected",
            vec![
                (true, vec![4, 1, 0, 80, 1, 2, 3, 4, 0]),
                (false, vec![0, 91, 0, 0, 0, 0, 0, 0]),
            ],
        ),
    ];
    for (what, msgs) in cases {
        let mut run = Run::new();
        let mut conn = Conn::open(&mut run, client, sa(PROXY));
        for (from_client, m) in msgs {
            if from_client {
                conn.client(&mut run, &m);
            } else {
                conn.server(&mut run, &m);
            }
        }
        conn.client(&mut run, &bt_handshake(b"-qB4520-aaaaaaaaaaaa"));
        let (recs, engine) = run.finish();
        assert!(recs[0].tunnel.is_none(), "{what}");
        assert!(
            !recs[0].is_bittorrent(),
            "{what}: a handshake after other bytes"
        );
        assert_eq!(engine.detecting_flows(), 0);
    }
}

/// UDP ASSOCIATE: the control connection names the relay; the client's datagrams to the relay
/// carry a SOCKS header and become flows between the client and each target.
#[test]
fn dht_and_utp_through_a_udp_relay() {
    let client = sa("10.77.0.2:40000");
    let relay = sa("10.77.1.1:40002");
    let (node, peer) = (sa("203.0.113.20:6881"), sa("203.0.113.21:51413"));
    let mut run = Run::new();
    let mut ctl = Conn::open(&mut run, client, sa(PROXY));
    ctl.client(&mut run, &[5, 1, 0]);
    ctl.server(&mut run, &[5, 0]);
    ctl.client(&mut run, &emit(&[5, 3, 0], &dest(sa("0.0.0.0:0"))));
    // an unspecified relay address: the proxy's own
    ctl.server(&mut run, &emit(&[5, 0, 0], &dest(sa("0.0.0.0:40002"))));
    let sock = sa("10.77.0.2:6881");
    let wrap = |to: SocketAddr, p: &[u8]| [emit(&[0, 0, 0], &dest(to)), p.to_vec()].concat();
    run.send(&build::udp(
        sock,
        relay,
        &wrap(node, &krpc_get_peers(b"aa")),
    ));
    run.send(&build::udp(relay, sock, &wrap(node, &krpc_values(b"aa"))));
    run.send(&build::udp(
        sock,
        relay,
        &wrap(peer, &utp::emit(Type::Syn, 100, 1_000, 0, 65535, 1, 0, &[])),
    ));
    run.send(&build::udp(
        relay,
        sock,
        &wrap(
            peer,
            &utp::emit(Type::State, 100, 9_000, 10, 65535, 500, 1, &[]),
        ),
    ));
    // a datagram to the relay from another host is not the client's
    run.send(&build::udp(
        sa("10.77.0.3:6881"),
        relay,
        &wrap(node, &krpc_get_peers(b"bb")),
    ));
    let (recs, engine) = run.finish();
    let ctl = find(&recs, client);
    assert!(!ctl.is_bittorrent());
    let t = ctl.tunnel.as_ref().unwrap();
    assert_eq!(
        (t.command, &t.target),
        ("udp-associate", &Target::Addr(relay))
    );
    let inner: Vec<&FlowRecord> = recs.iter().filter(|r| r.client == sock).collect();
    assert_eq!(inner.len(), 2, "{recs:?}");
    for r in &inner {
        assert_eq!(r.server, relay, "the flow as it crossed the wire");
        let t = r.tunnel.as_ref().unwrap();
        assert_eq!(
            (t.kind, t.command, t.relay),
            (TunnelKind::Socks5, "udp", Some(relay))
        );
        assert_eq!(r.key(), FlowKey::relayed(sock, t.target.addr()).0);
    }
    let dht = inner.iter().find(|r| r.kind() == Some(Kind::Dht)).unwrap();
    assert_eq!(dht.tunnel.as_ref().unwrap().target, Target::Addr(node));
    assert_eq!(dht.lookups, vec![HASH]);
    assert_eq!(dht.packets, [1, 1]);
    let utp = inner
        .iter()
        .find(|r| r.kind() == Some(Kind::PeerUtp))
        .unwrap();
    assert_eq!(utp.tunnel.as_ref().unwrap().target, Target::Addr(peer));
    // the reply's values and the nodes are learned; the relay never is
    assert!(engine.knowledge().get(&sa("10.77.0.8:51413")).is_some());
    assert!(engine.knowledge().get(&node).unwrap().has(Source::DhtNodes));
    assert!(engine.knowledge().get(&relay).is_none());
    let other = recs
        .iter()
        .find(|r| r.client == sa("10.77.0.3:6881"))
        .unwrap();
    assert!(other.tunnel.is_none());
    assert_eq!(engine.totals().socks_udp, 4);
}

/// A client that sends its handshake right after its request, before the proxy's reply (and a
/// reply segment that carries the peer's first bytes too): nothing of the inner streams is lost.
#[test]
fn inner_bytes_sent_with_the_negotiation_are_read() {
    let (client, peer) = (sa("10.77.0.2:40000"), sa("203.0.113.7:51413"));
    let mut run = Run::new();
    let mut conn = Conn::open(&mut run, client, sa(PROXY));
    conn.client(&mut run, &[5, 1, 0]);
    conn.server(&mut run, &[5, 0]);
    let mut req = emit(&[5, 1, 0], &dest(peer));
    req.extend(bt_handshake(b"-qB4520-aaaaaaaaaaaa"));
    conn.client(&mut run, &req);
    let mut reply = emit(&[5, 0, 0], &dest(sa("10.77.1.1:40001")));
    reply.extend(bt_handshake(b"-TR3000-bbbbbbbbbbbb"));
    conn.server(&mut run, &reply);
    conn.client(&mut run, &[0, 0, 0, 1, 2]);
    let (recs, engine) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::PeerTcp), "{r:?}");
    assert!(r.verdict.evidence.contains(Signal::Handshake));
    assert_eq!(r.client_peer_id, Some(PeerId(*b"-qB4520-aaaaaaaaaaaa")));
    assert_eq!(r.server_peer_id, Some(PeerId(*b"-TR3000-bbbbbbbbbbbb")));
    assert_eq!(
        engine.knowledge().get(&peer).unwrap().infohashes,
        vec![HASH]
    );
}

/// An IPv6 client reaching an IPv4 target and two named DHT routers through one relay: a flow
/// per target, both directions in it, and the record's key is the engine's.
#[test]
fn relayed_flows_across_families_and_names() {
    let sock = sa("[fd77::2]:6881");
    let relay = sa("[fd77::1]:40002");
    let mut run = Run::new();
    let mut ctl = Conn::open(&mut run, sa("[fd77::2]:40000"), sa("[fd77::1]:1080"));
    ctl.client(&mut run, &[5, 1, 0]);
    ctl.server(&mut run, &[5, 0]);
    ctl.client(&mut run, &emit(&[5, 3, 0], &dest(sa("[::]:0"))));
    ctl.server(&mut run, &emit(&[5, 0, 0], &dest(relay)));
    let v4 = sa("198.51.100.7:6881");
    let to = |d: Dest<'static>, p: &[u8]| [emit(&[0, 0, 0], &d), p.to_vec()].concat();
    run.send(&build::udp(
        sock,
        relay,
        &to(dest(v4), &krpc_get_peers(b"aa")),
    ));
    run.send(&build::udp(relay, sock, &to(dest(v4), &krpc_values(b"aa"))));
    for name in [
        &b"router.bittorrent.com"[..],
        &b"dht.transmissionbt.com"[..],
    ] {
        let d = Dest {
            host: Host::Name(name),
            port: 6881,
        };
        run.send(&build::udp(sock, relay, &to(d, &krpc_get_peers(b"bb"))));
    }
    let (recs, _) = run.finish();
    let inner: Vec<&FlowRecord> = recs.iter().filter(|r| r.client == sock).collect();
    assert_eq!(inner.len(), 3, "{inner:?}");
    let v4flow = inner
        .iter()
        .find(|r| r.tunnel.as_ref().unwrap().target == Target::Addr(v4))
        .unwrap();
    assert_eq!(v4flow.packets, [1, 1], "query and reply in one flow");
    assert!(v4flow.verdict.evidence.contains(Signal::KrpcResponse));
    let names: Vec<String> = inner
        .iter()
        .map(|r| r.tunnel.as_ref().unwrap().target.to_string())
        .collect();
    assert!(
        names.contains(&"router.bittorrent.com:6881".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"dht.transmissionbt.com:6881".to_string()),
        "{names:?}"
    );
    for r in &inner {
        assert_eq!(r.server, relay);
        let (k, _) = FlowKey::relayed(sock, r.tunnel.as_ref().unwrap().target.key_addr());
        assert_eq!(r.key(), k);
    }
}

/// Inline, a datagram to a relay the engine does not know yet (its UDP ASSOCIATE judged on
/// another queue at the same moment) does not make the flow be given up.
#[test]
fn a_socks_shaped_datagram_is_not_given_up_inline() {
    let mut run = Run::with(Config::inline());
    let wrapped = [
        emit(&[0, 0, 0], &dest(sa("203.0.113.20:6881"))),
        krpc_get_peers(b"aa"),
    ]
    .concat();
    run.send(&build::udp(
        sa("10.77.0.2:6881"),
        sa("10.77.1.1:40002"),
        &wrapped,
    ));
    let (key, _) = run.last_flow().unwrap();
    assert!(run.engine.flow(&key).unwrap().detecting);
    // a datagram that is not SOCKS-shaped is given up at once inline
    run.send(&build::udp(
        sa("10.77.0.2:6881"),
        sa("10.77.1.1:53"),
        b"\x12\x34\x01\x00\x00\x01",
    ));
    let (key, _) = run.last_flow().unwrap();
    assert!(!run.engine.flow(&key).unwrap().detecting);
}
