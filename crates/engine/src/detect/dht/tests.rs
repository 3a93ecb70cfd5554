//! `dht` through the whole pipeline.

use crate::testutil::*;

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
    assert_eq!(r.lookups, vec![HASH]);
    assert!(
        r.infohashes.is_empty(),
        "one get_peers to one node is a lookup, not yet a torrent"
    );
    let p = engine.knowledge().get(&sa("10.77.0.8:51413")).unwrap();
    assert!(p.has(Source::DhtValues));
    assert_eq!(
        p.infohashes,
        vec![HASH],
        "values attributed through the transaction id"
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

/// One UDP socket pair speaking DHT about one torrent and uTP for another: the connection is
/// about the second only (the lab's DHT swarm, libtorrent and transmission); the record lists
/// both.
#[test]
fn dht_on_a_utp_socket_names_torrents_the_connection_is_not_about() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:51413"));
    let other = InfoHash([7; 20]);
    let mut run = Run::new();
    run.send(&build::udp(a, b, &krpc_get_peers(b"xy")));
    assert_eq!(run.last().infohashes, vec![HASH]);
    let (key, _) = run.last_flow().unwrap();
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
    assert_eq!(run.last().infohashes, vec![other]);
    assert_eq!(run.engine.flow(&key).unwrap().infohashes, &[other]);
    let (recs, _) = run.finish();
    assert_eq!(recs[0].infohashes, vec![other]);
    assert_eq!(recs[0].lookups, vec![HASH]);
}

/// A KRPC query `q` from a node whose id is `id`, with argument `key` = `target`.
fn query(
    q: &'static [u8],
    id: &[u8; 20],
    key: &'static [u8],
    target: &[u8; 20],
    tid: &'static [u8],
) -> Vec<u8> {
    Item::Dict(vec![
        (
            b"a",
            Item::Dict(vec![(b"id", Item::Bytes(id)), (key, Item::Bytes(target))]),
        ),
        (b"q", Item::Bytes(q)),
        (b"t", Item::Bytes(tid)),
        (b"y", Item::Bytes(b"q")),
    ])
    .to_vec()
}

/// `get_peers` for `target` from `querier` (node id `id`) to each of `nodes` distinct nodes.
fn lookup(run: &mut Run, querier: SocketAddr, id: &[u8; 20], target: &[u8; 20], nodes: u8) {
    for n in 0..nodes {
        let node = SocketAddr::new(std::net::IpAddr::from([10, 77, 5, n + 1]), 6881);
        run.send(&build::udp(
            querier,
            node,
            &query(b"get_peers", id, b"info_hash", target, b"gp"),
        ));
    }
}

#[test]
fn a_lookup_asked_of_several_nodes_is_a_torrent() {
    let me = sa("10.77.0.2:6881");
    let mut run = Run::new();
    lookup(&mut run, me, &[0x11; 20], &[0x42; 20], 3);
    let (recs, _) = run.finish();
    assert_eq!(recs.len(), 3);
    for r in &recs {
        assert_eq!(r.infohashes, vec![HASH], "{r:?}");
        assert_eq!(r.lookups, vec![HASH]);
    }
}

/// A client refreshing its routing table searches targets that share its own id's first
/// bytes (libtorrent: its id with the last 8 bytes replaced) and asks many nodes: lookups,
/// never torrents — unless it announces them.
#[test]
fn maintenance_lookups_near_the_own_id_are_never_torrents() {
    let me = sa("10.77.0.2:6881");
    let id = [0x5a; 20];
    let mut near = id;
    near[12..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let mut run = Run::new();
    lookup(&mut run, me, &id, &near, 8);
    // a bucket refresh: one random target in a bucket's range, asked of one node
    let mut bucket = [0x77; 20];
    bucket[0] = 0x5a;
    run.send(&build::udp(
        me,
        sa("10.77.6.1:6881"),
        &query(b"get_peers", &id, b"info_hash", &bucket, b"r1"),
    ));
    let (recs, _) = run.finish();
    assert_eq!(recs.len(), 9);
    for r in &recs {
        assert!(r.infohashes.is_empty(), "{r:?}");
        assert_eq!(r.lookups.len(), 1);
        assert_eq!(r.kind(), Some(Kind::Dht));
    }
    // the same near target, announced: a torrent after all
    let mut run = Run::new();
    lookup(&mut run, me, &id, &near, 2);
    run.send(&build::udp(
        me,
        sa("10.77.5.1:6881"),
        &query(b"announce_peer", &id, b"info_hash", &near, b"ap"),
    ));
    let (recs, _) = run.finish();
    let torrent = InfoHash(near);
    assert!(recs.iter().all(|r| r.lookups == vec![torrent]));
    assert_eq!(
        recs.iter()
            .filter(|r| r.infohashes == vec![torrent])
            .count(),
        2,
        "both flows: the announce corroborates the lookup ({recs:?})"
    );
}

#[test]
fn find_node_and_sample_infohashes_are_lookups_and_samples_go_nowhere() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:6881"));
    let mut run = Run::new();
    run.send(&build::udp(
        a,
        b,
        &query(b"find_node", &[1; 20], b"target", &[0x33; 20], b"fn"),
    ));
    run.send(&build::udp(
        a,
        b,
        &query(
            b"sample_infohashes",
            &[1; 20],
            b"target",
            &[0x44; 20],
            b"si",
        ),
    ));
    assert_eq!(run.last().dht, Some(DhtMessage::OtherQuery));
    assert!(run.last().infohashes.is_empty());
    let samples = [[0x55u8; 20], [0x66; 20]].concat();
    let reply = Item::Dict(vec![
        (
            b"r",
            Item::Dict(vec![
                (b"id", Item::Bytes(&[2; 20])),
                (b"interval", Item::Int(60)),
                (b"num", Item::Int(2)),
                (b"samples", Item::Bytes(&samples)),
            ]),
        ),
        (b"t", Item::Bytes(b"si")),
        (b"y", Item::Bytes(b"r")),
    ])
    .to_vec();
    run.send(&build::udp(b, a, &reply));
    let (recs, _) = run.finish();
    assert_eq!(
        recs[0].lookups,
        vec![InfoHash([0x33; 20]), InfoHash([0x44; 20])]
    );
    assert!(recs[0].infohashes.is_empty());
}

#[test]
fn an_announce_is_a_torrent_at_once_and_the_packet_names_it() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:6881"));
    let mut run = Run::new();
    run.send(&build::udp(
        a,
        b,
        &query(b"announce_peer", &[1; 20], b"info_hash", &[0x42; 20], b"an"),
    ));
    assert_eq!(run.last().dht, Some(DhtMessage::AnnouncePeer));
    assert_eq!(run.last().infohashes, vec![HASH]);
    let (recs, _) = run.finish();
    assert_eq!(recs[0].infohashes, vec![HASH]);
    assert!(recs[0].lookups.is_empty());
}

#[test]
fn common_prefix() {
    use crate::detect::dht_common_prefix_bits as bits;
    assert_eq!(bits(&[0; 20], &[0; 20]), 160);
    let mut b = [0u8; 20];
    b[4] = 0x10;
    assert_eq!(bits(&[0; 20], &b), 35);
    assert_eq!(bits(&[0x80; 20], &[0; 20]), 0);
}

/// A `get_peers` reply with many nodes and values, larger than an Ethernet MTU.
fn big_values_reply(tid: &'static [u8], nodes: usize) -> Vec<u8> {
    let mut compact = Vec::new();
    for i in 0..nodes {
        compact.extend([0x77; 20]);
        compact.extend([10, 78, (i / 250) as u8, (i % 250) as u8 + 1]);
        compact.extend(6881u16.to_be_bytes());
    }
    let values: Vec<Vec<u8>> = (0..50u8)
        .map(|i| vec![10, 79, 0, i + 1, 0x1A, 0xE1])
        .collect();
    Item::Dict(vec![
        (
            b"r",
            Item::Dict(vec![
                (b"id", Item::Bytes(&[2; 20])),
                (b"nodes", Item::Bytes(Box::leak(compact.into_boxed_slice()))),
                (b"token", Item::Bytes(b"tk")),
                (
                    b"values",
                    Item::List(
                        values
                            .iter()
                            .map(|v| Item::Bytes(Box::leak(v.clone().into_boxed_slice())))
                            .collect(),
                    ),
                ),
            ]),
        ),
        (b"t", Item::Bytes(tid)),
        (b"y", Item::Bytes(b"r")),
    ])
    .to_vec()
}

/// Real DHT nodes answer with replies of hundreds of nodes (9 KB and more) that cross an
/// Ethernet path as IP fragments: reassembled, the reply is read whole, over IPv4 and IPv6,
/// whatever order its fragments come in.
#[test]
fn a_fragmented_reply_is_reassembled_and_read() {
    for (a, b) in [
        (sa("10.77.0.2:6881"), sa("10.77.0.3:6881")),
        (sa("[fd77::2]:6881"), sa("[fd77::3]:6881")),
    ] {
        let reply = big_values_reply(b"aa", 340);
        assert!(reply.len() > 9000);
        let mut frags = build::fragments(
            b.ip(),
            a.ip(),
            17,
            4242,
            &build::udp_datagram(6881, 6881, &reply),
            1480,
        );
        assert_eq!(frags.len(), 7);
        frags.swap(0, 5);
        let mut run = Run::new();
        run.send(&build::udp(a, b, &krpc_get_peers(b"aa")));
        let n = frags.len();
        for (i, f) in frags.iter().enumerate() {
            run.send(f);
            if i + 1 < n {
                assert_eq!(run.last_flow(), None, "fragment {i} is held");
            }
        }
        let (key, from_client) = run
            .last_flow()
            .expect("the last fragment completes the reply");
        assert!(!from_client);
        assert_eq!(run.last().dht, Some(DhtMessage::Response { peers: true }));
        assert_eq!(run.last().infohashes, vec![HASH]);
        assert_eq!(run.engine.flow(&key).unwrap().packets, 8);
        let (recs, engine) = run.finish();
        assert_eq!(recs.len(), 1, "{recs:?}");
        let r = &recs[0];
        assert!(r.verdict.evidence.contains(Signal::KrpcResponse));
        assert_eq!(r.packets, [1, 7], "the fragments count as packets");
        let header = if a.is_ipv4() { 20 } else { 40 };
        assert_eq!(
            r.bytes[1],
            (8 + reply.len() + 7 * header) as u64 + if a.is_ipv4() { 0 } else { 7 * 8 }
        );
        let k = engine.knowledge();
        assert_eq!(
            k.get(&sa("10.79.0.50:6881")).unwrap().infohashes,
            vec![HASH],
            "the last value"
        );
        assert!(
            k.get(&sa("10.78.1.90:6881")).unwrap().has(Source::DhtNodes),
            "the 340th node"
        );
        let f = engine.defrag_stats();
        assert_eq!((f.fragments, f.reassembled, f.expired), (7, 1, 0));
        assert_eq!(engine.totals().fragments, 7);
    }
}

/// Overlapping fragments discard the datagram (as Linux does); an incomplete one expires, and
/// its first fragment is read alone (ports, the start of the payload: not enough for KRPC).
#[test]
fn overlapping_fragments_deliver_nothing_and_a_lone_first_fragment_is_read_alone() {
    let (a, b) = (sa("10.77.0.2:6881"), sa("10.77.0.3:6881"));
    let reply = build::udp_datagram(6881, 6881, &big_values_reply(b"aa", 100));
    let frags = build::fragments(b.ip(), a.ip(), 17, 1, &reply, 1480);
    let mut run = Run::new();
    run.send(&frags[0]);
    let mut evil = frags[1].clone();
    // the second fragment's offset moved back by 8 bytes: it overlaps the first
    let off = u16::from_be_bytes([evil[14 + 6], evil[14 + 7]]);
    evil[14 + 6..14 + 8].copy_from_slice(&(off - 1).to_be_bytes());
    run.send(&evil);
    for f in &frags[2..] {
        run.send(f);
    }
    let frags = build::fragments(b.ip(), a.ip(), 17, 2, &reply, 1480);
    run.send(&frags[0]);
    let (recs, engine) = run.finish();
    assert_eq!(recs.len(), 1, "{recs:?}");
    let r = &recs[0];
    assert_eq!((r.client, r.server, r.packets), (b, a, [1, 0]));
    assert_eq!(r.bytes[0], 1500, "the first fragment's own length");
    assert!(r.confidence().is_none());
    let f = engine.defrag_stats();
    assert_eq!(
        (f.reassembled, f.overlapping, f.expired),
        (0, 1, 2),
        "{f:?}"
    );
}
