//! `lsd` through the whole pipeline.

use crate::testutil::*;

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
