//! HTTP CONNECT tunnels and requests to HTTP proxies through the whole pipeline.

use crate::testutil::*;

const PROXY: &str = "10.77.1.1:8888";

fn connect(run: &mut Run, client: SocketAddr, target: &str) -> Conn {
    let mut conn = Conn::open(run, client, sa(PROXY));
    conn.client(
        run,
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes(),
    );
    conn.server(
        run,
        b"HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n",
    );
    conn
}

#[test]
fn a_peer_connection_through_http_connect() {
    let client = sa("10.77.0.2:40000");
    let mut run = Run::new();
    let mut conn = connect(&mut run, client, "203.0.113.7:51413");
    conn.client(&mut run, &bt_handshake(b"-lt0D80-aaaaaaaaaaaa"));
    conn.server(&mut run, &bt_handshake(b"-TR3000-bbbbbbbbbbbb"));
    let (recs, engine) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::PeerTcp));
    assert_eq!(r.infohashes, vec![HASH]);
    let t = r.tunnel.as_ref().unwrap();
    assert_eq!(
        (t.kind, &t.target),
        (
            TunnelKind::HttpConnect,
            &Target::Addr(sa("203.0.113.7:51413"))
        )
    );
    assert!(engine.knowledge().get(&sa("203.0.113.7:51413")).is_some());
    assert!(engine.knowledge().get(&sa(PROXY)).is_none());
}

#[test]
fn https_through_connect_is_a_tunnel_and_nothing_else() {
    let client = sa("10.77.0.2:40000");
    let mut run = Run::new();
    let mut conn = connect(&mut run, client, "www.example:443");
    conn.client(
        &mut run,
        &[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ],
    );
    conn.server(
        &mut run,
        &[
            0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00, 0x76, 0x03, 0x03,
        ],
    );
    let (recs, engine) = run.finish();
    let r = &recs[0];
    assert!(!r.is_bittorrent() && r.confidence().is_none());
    assert_eq!(
        r.tunnel.as_ref().unwrap().target,
        Target::Name("www.example".into(), 443)
    );
    assert_eq!(engine.detecting_flows(), 0);
    // a refused CONNECT opens nothing
    let mut run = Run::new();
    let mut conn = Conn::open(&mut run, client, sa(PROXY));
    conn.client(&mut run, b"CONNECT 203.0.113.7:51413 HTTP/1.1\r\n\r\n");
    conn.server(&mut run, b"HTTP/1.1 403 Forbidden\r\n\r\n");
    let (recs, _) = run.finish();
    assert!(recs[0].tunnel.is_none());
}

/// Clients announce through an HTTP proxy with an absolute URI: the tracker is the tunnel's
/// target, and its reply's peers are learned for the torrent.
#[test]
fn an_announce_to_an_http_proxy() {
    let client = sa("10.77.0.2:40000");
    let mut run = Run::new();
    let mut conn = Conn::open(&mut run, client, sa(PROXY));
    let req = format!(
        "GET http://tracker.example:6969/announce?info_hash={}&peer_id=-lt0D80-aaaaaaaaaaaa&port=1 HTTP/1.1\r\nHost: tracker.example:6969\r\n\r\n",
        "%42".repeat(20)
    );
    conn.client(&mut run, req.as_bytes());
    let resp = tracker_reply(60, &[203, 0, 113, 7, 0xC8, 0xD5]);
    conn.server(&mut run, &resp);
    let (recs, engine) = run.finish();
    let r = &recs[0];
    assert_eq!(r.kind(), Some(Kind::TrackerHttp));
    let t = r.tunnel.as_ref().unwrap();
    assert_eq!(
        (t.kind, &t.target, t.command),
        (
            TunnelKind::HttpProxy,
            &Target::Name("tracker.example".into(), 6969),
            "request"
        )
    );
    let p = engine.knowledge().get(&sa("203.0.113.7:51413")).unwrap();
    assert_eq!(p.infohashes, vec![HASH]);
}

/// A proxy that asks for credentials (407) and a client that asks again on the same
/// connection.
#[test]
fn connect_after_a_407() {
    let client = sa("10.77.0.2:40000");
    let mut run = Run::new();
    let mut conn = Conn::open(&mut run, client, sa(PROXY));
    conn.client(&mut run, b"CONNECT 203.0.113.7:51413 HTTP/1.1\r\n\r\n");
    conn.server(&mut run, b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\n\r\n");
    conn.client(
        &mut run,
        b"CONNECT 203.0.113.7:51413 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n",
    );
    conn.server(&mut run, b"HTTP/1.1 200 OK\r\n\r\n");
    conn.client(&mut run, &bt_handshake(b"-lt0D80-aaaaaaaaaaaa"));
    let (recs, _) = run.finish();
    assert_eq!(recs[0].kind(), Some(Kind::PeerTcp));
    assert_eq!(
        recs[0].tunnel.as_ref().unwrap().target,
        Target::Addr(sa("203.0.113.7:51413"))
    );
}
