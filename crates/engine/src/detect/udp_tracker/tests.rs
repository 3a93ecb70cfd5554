//! `tracker-udp` through the whole pipeline.

use crate::testutil::*;

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
