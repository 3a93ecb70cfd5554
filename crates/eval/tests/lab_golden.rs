//! Golden tests on the lab captures kept in the repository (`testdata/lab/`): real clients
//! (transmission, aria2, libtorrent, qBittorrent, rtorrent, opentracker) on random ports,
//! labelled by construction and from the bytes. They run everywhere, corpus or not.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use bt::InfoHash;
use engine::Config;
use swarmwall_eval::analyze_file;
use swarmwall_eval::labels::{Label, read_flows_csv};
use swarmwall_eval::score::{Outcome, score};

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/lab");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    assert!(v.len() >= 4, "lab captures missing from {}", dir.display());
    v
}

fn sibling(pcap: &Path, ext: &str) -> PathBuf {
    let stem = pcap.file_stem().unwrap().to_str().unwrap();
    pcap.with_file_name(format!("{stem}.{ext}"))
}

#[test]
fn every_plaintext_flow_with_the_right_kind_and_nothing_else() {
    // Offline and with the inline (`enforce`) limits, which give flows up sooner.
    let modes = [("offline", Config::default()), ("inline", Config::inline())];
    for pcap in captures() {
        for (mode, config) in &modes {
            let labels = read_flows_csv(&sibling(&pcap, "flows.csv")).unwrap();
            let (records, _, result) = analyze_file(&pcap, config.clone());
            result.unwrap();
            let s = score(&labels, &records);
            let name = format!("{} ({mode})", pcap.display());
            eprintln!("== {name}\n{}", s.render());
            assert!(s.required() > 5, "{name}: too few labelled flows");
            assert!(s.recall() >= 0.999, "{name}: recall {}", s.recall());
            assert_eq!(s.count(Outcome::WrongKind), 0, "{name}");
            assert_eq!(s.count(Outcome::FalsePositive), 0, "{name}");
            assert!(s.unlabelled_detections.is_empty(), "{name}");
            for (kind, k) in &s.kinds {
                assert_eq!(k.infohash_found, k.infohash_expected, "{name}: {kind}");
            }
            assert_eq!(s.encrypted_flag_wrong(), 0, "{name}: encrypted flags");
            let m = s.mse();
            assert!(m.recall() >= 0.99, "{name}: encrypted recall {m:?}");
            assert!(m.bytes_recall() >= 0.999, "{name}: encrypted bytes {m:?}");
            assert_eq!(
                m.within_two + m.relabelled,
                m.certain + m.likely,
                "{name}: decided late {m:?}"
            );
        }
    }
}

#[test]
fn info_hashes_are_the_torrents_own() {
    // The lab computed the torrent's info-hash from the .torrent file itself; every flow that
    // carries it in plaintext must yield exactly that one.
    for pcap in captures() {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sibling(&pcap, "labels.json")).unwrap())
                .unwrap();
        let want = InfoHash::from_hex(meta["infohash"].as_str().unwrap().as_bytes()).unwrap();
        let labels = read_flows_csv(&sibling(&pcap, "flows.csv")).unwrap();
        let (records, _, _) = analyze_file(&pcap, Config::default());
        let s = score(&labels, &records);
        let mut checked = 0;
        for f in &s.flows {
            let Label::BitTorrent(parts) = &f.label.label else {
                continue;
            };
            if parts.iter().any(|p| p.carries_infohash()) {
                let (a, b) = (f.label.a, f.label.b);
                assert_eq!(
                    f.detected.infohashes,
                    vec![want],
                    "{}: {a} {b}",
                    pcap.display()
                );
                checked += 1;
            }
        }
        assert!(checked > 0, "{}", pcap.display());
        // The clients' DHT lookups for their routing tables (targets near their node ids,
        // refreshes sent to one node) are lookups, never torrents: the only torrent any flow
        // names is the lab's.
        let mut lookups = 0;
        for r in &records {
            assert!(
                r.infohashes.iter().all(|h| *h == want),
                "{}: {} <-> {}: {:?}",
                pcap.display(),
                r.client,
                r.server,
                r.infohashes
            );
            lookups += r.lookups.iter().filter(|h| **h != want).count();
        }
        if pcap.to_string_lossy().contains("dht") {
            assert!(
                lookups > 0,
                "{}: the DHT capture has maintenance lookups",
                pcap.display()
            );
        }
    }
}
