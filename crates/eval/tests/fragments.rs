//! Golden test on a DHT reply that real clients sent in IP fragments (`testdata/frag/`, cut
//! from a lab capture with every MTU at 296 bytes; its README says how and what it holds).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bt::InfoHash;
use engine::{Config, Kind, Signal, Source};
use swarmwall_eval::analyze_file;

#[test]
fn a_fragmented_dht_reply_from_real_clients_is_read_whole() {
    let pcap =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/frag/dht-fragmented-reply.pcap");
    let torrent = InfoHash::from_hex(b"a40b506b22374b07cdf3ff04fb937062aeaf7395").unwrap();
    for config in [Config::default(), Config::inline()] {
        let (records, engine, result) = analyze_file(&pcap, config);
        result.unwrap();
        // The labels: one flow, dht, 5 packets, 775 bytes of IP.
        assert_eq!(records.len(), 1, "{records:?}");
        let r = &records[0];
        assert_eq!(r.kind(), Some(Kind::Dht));
        assert_eq!(r.total_packets(), 5);
        assert_eq!(r.total_bytes(), 775);
        assert!(r.verdict.evidence.contains(Signal::KrpcResponse), "{r:?}");
        assert_eq!(r.infohashes, vec![torrent], "the announce_peer");
        assert_eq!(r.lookups, vec![torrent], "the get_peers");
        // The reply's `t` and `y` are in its last fragment: only reassembly reads its values
        // (without it, the first fragment alone was 4 packets, 699 bytes, no peer learned).
        let k = engine.knowledge();
        let values: Vec<_> = k.iter().filter(|(_, e)| e.has(Source::DhtValues)).collect();
        assert_eq!(values.len(), 3, "the reply's 3 peers");
        assert!(values.iter().all(|(_, e)| e.infohashes == vec![torrent]));
        let f = engine.defrag_stats();
        assert_eq!((f.fragments, f.reassembled, f.expired), (2, 1, 0));
    }
}
