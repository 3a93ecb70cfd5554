//! `peer-utp` through the whole pipeline.

use crate::testutil::*;

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
