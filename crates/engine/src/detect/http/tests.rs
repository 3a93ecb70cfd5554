//! `tracker-http` through the whole pipeline.

use crate::testutil::*;

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
    let resp = tracker_reply(1800, &[10, 77, 0, 7, 0x1a, 0xe1]);
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
