//! Golden tests on real captures: the lab captures made by real BitTorrent clients (with
//! ground-truth labels per flow) and nDPI's public regression captures, which hold hundreds
//! of other protocols that must not be called BitTorrent.
//!
//! The corpus lives outside the repository (`../shared/corpus`, or `$SWARMWALL_CORPUS`);
//! when it is absent these tests say so and pass without checking anything.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use engine::{Config, Kind};
use swarmwall_eval::analyze_file;
use swarmwall_eval::labels::read_flows_csv;
use swarmwall_eval::score::{Outcome, Score, score};

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("SWARMWALL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    if dir.join("lab").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: corpus not found at {} (set SWARMWALL_CORPUS)",
            dir.display()
        );
        None
    }
}

fn lab_scenarios(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("lab"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".flows.csv")
                .map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

/// Every lab scenario, analysed with the engine's offline and inline (`enforce`) limits and
/// scored against its labels (the capture must read cleanly); names end in the mode.
fn lab_scores(dir: &Path) -> Vec<(String, Score)> {
    let mut v = lab_scores_with(dir, "offline", &Config::default());
    v.extend(lab_scores_with(dir, "inline", &Config::inline()));
    v
}

fn lab_scores_with(dir: &Path, mode: &str, config: &Config) -> Vec<(String, Score)> {
    lab_scenarios(dir)
        .into_iter()
        .map(|name| {
            let labels = read_flows_csv(&dir.join(format!("lab/{name}.flows.csv"))).unwrap();
            let (records, _, result) =
                analyze_file(&dir.join(format!("lab/{name}.pcap")), config.clone());
            result.unwrap();
            let s = score(&labels, &records);
            (format!("{name} ({mode})"), s)
        })
        .collect()
}

#[test]
fn lab_captures_every_plaintext_flow_with_the_right_kind() {
    let Some(dir) = corpus() else { return };
    let mut required = 0;
    let mut found = 0;
    for (name, s) in lab_scores(&dir) {
        eprintln!("== {name}\n{}", s.render());
        required += s.required();
        found += s
            .flows
            .iter()
            .filter(|f| f.outcome == Outcome::Correct)
            .count() as u64;
        assert_eq!(s.count(Outcome::WrongKind), 0, "{name}: wrong kinds");
        assert_eq!(
            s.count(Outcome::FalsePositive),
            0,
            "{name}: false positives"
        );
        assert!(
            s.unlabelled_detections.is_empty(),
            "{name}: detections without a label"
        );
        assert!(s.recall() >= 0.999, "{name}: recall {}", s.recall());
        for (kind, k) in &s.kinds {
            assert_eq!(
                k.infohash_found, k.infohash_expected,
                "{name}: {kind} flows without their info-hash"
            );
        }
        // Encrypted peer connections: found at likely or certain, by the second payload
        // packet each way, with nearly all their bytes.
        assert_eq!(s.encrypted_flag_wrong(), 0, "{name}: encrypted flags");
        let m = s.mse();
        eprintln!("{name}: encrypted {m:?}");
        assert!(
            m.recall() >= 0.99,
            "{name}: encrypted recall {}",
            m.recall()
        );
        assert!(
            m.bytes_recall() >= 0.999,
            "{name}: encrypted bytes {}",
            m.bytes_recall()
        );
        assert_eq!(
            m.within_two + m.relabelled,
            m.certain + m.likely,
            "{name}: decided late"
        );
    }
    eprintln!(
        "lab: {found} BitTorrent flows found with the right kind; {required} plaintext-visible ones required"
    );
    assert!(required > 0);
}

#[test]
fn lab_flow_accounting_matches_the_labels() {
    // Packets and IP-layer bytes per 5-tuple must equal the label files' counts (offline:
    // inline, the engine does not see a connection's SYN and SYN-ACK).
    let Some(dir) = corpus() else { return };
    for (name, s) in lab_scores_with(&dir, "offline", &Config::default()) {
        for f in s
            .flows
            .iter()
            .filter(|f| f.label.proto == "tcp" || f.label.proto == "udp")
        {
            assert_eq!(
                (f.detected.packets, f.detected.bytes),
                (f.label.packets, f.label.bytes),
                "{name}: {} {} <-> {}",
                f.label.proto,
                f.label.a,
                f.label.b
            );
        }
    }
}

#[test]
fn lab_info_hashes_agree_across_independent_flows() {
    // Each lab scenario shares one torrent: the hash in every peer handshake must be the one
    // the trackers, LSD or DHT were asked about.
    let Some(dir) = corpus() else { return };
    for (name, s) in lab_scores(&dir) {
        let mut peer_hashes = BTreeSet::new();
        let mut discovery_hashes = BTreeSet::new();
        for f in &s.flows {
            for h in &f.detected.infohashes {
                if f.detected.kinds.contains(Kind::PeerTcp)
                    || f.detected.kinds.contains(Kind::PeerUtp)
                {
                    peer_hashes.insert(*h);
                } else {
                    discovery_hashes.insert(*h);
                }
            }
        }
        if peer_hashes.is_empty() {
            continue;
        }
        assert_eq!(
            peer_hashes.len(),
            1,
            "{name}: peers disagree on the torrent: {peer_hashes:?}"
        );
        assert!(
            peer_hashes.is_subset(&discovery_hashes) || discovery_hashes.is_empty(),
            "{name}: peer hash {peer_hashes:?} not among discovery hashes"
        );
    }
}

#[test]
fn lab_background_has_no_bittorrent() {
    let Some(dir) = corpus() else { return };
    let (records, _, result) = analyze_file(&dir.join("lab/background.pcap"), Config::default());
    result.unwrap();
    assert!(records.len() > 10);
    let bt: Vec<_> = records.iter().filter(|r| r.is_bittorrent()).collect();
    assert!(bt.is_empty(), "{bt:#?}");
}

/// Files that hold BitTorrent according to the corpus README (nDPI's expected outputs).
const NDPI_BITTORRENT: &[&str] = &[
    "bittorrent.pcap",
    "bittorrent_tcp_miss.pcapng",
    "bittorrent_utp.pcap",
    "bt-dns.pcap",
    "bt-http.pcapng",
    "bt_search.pcap",
    "tls_torrent.pcapng",
    "targusdataspeed_false_positives.pcap",
    "lru_ipv6_caches.pcapng",
];

/// BitTorrent flows nDPI lists in a `.out` file, as (proto, endpoint, endpoint).
fn ndpi_flows(out: &Path) -> BTreeSet<(String, SocketAddr, SocketAddr)> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let mut set = BTreeSet::new();
    for line in text.lines() {
        if !line.contains("BitTorrent")
            || !line
                .trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        {
            continue;
        }
        let mut w = line.split_whitespace().skip(1);
        let (Some(proto), Some(a), Some(_), Some(b)) = (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) {
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            set.insert((proto.to_lowercase(), a, b));
        }
    }
    set
}

#[test]
fn ndpi_captures_no_false_positives() {
    let Some(dir) = corpus() else { return };
    let ndpi = dir.join("public/ndpi");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&ndpi)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "cap")
            )
        })
        .collect();
    files.sort();
    assert!(
        files.len() > 500,
        "expected the nDPI captures, found {}",
        files.len()
    );
    let mut flows = 0usize;
    let mut suspects: BTreeMap<String, usize> = BTreeMap::new();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut errors = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let (records, _, result) = analyze_file(path, Config::default());
        if result.is_err() {
            errors += 1;
        }
        flows += records.len();
        let n = records
            .iter()
            .filter(|r| r.confidence() == Some(engine::Confidence::Suspect))
            .count();
        if n > 0 {
            suspects.insert(name.clone(), n);
        }
        let bt: Vec<String> = records
            .iter()
            .filter(|r| r.is_bittorrent())
            .map(|r| {
                format!(
                    "{} {} {} {:?}",
                    r.proto.as_str(),
                    r.client,
                    r.server,
                    r.kind()
                )
            })
            .collect();
        if !bt.is_empty() {
            found.insert(name, bt);
        }
    }
    eprintln!(
        "nDPI captures: {} files, {flows} flows, {errors} unreadable or damaged",
        files.len()
    );
    for (name, bt) in &found {
        eprintln!("  {name}: {} BitTorrent flows", bt.len());
    }
    eprintln!(
        "suspects (MSE/PE shape alone, not BitTorrent): {} flows in {} captures: {suspects:?}",
        suspects.values().sum::<usize>(),
        suspects.len()
    );
    let unexpected: Vec<_> = found
        .iter()
        .filter(|(n, _)| !NDPI_BITTORRENT.contains(&n.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "BitTorrent found in captures without any: {unexpected:#?}"
    );
}

/// nDPI calls these BitTorrent from a host name (a DNS query for utorrent.com, TLS to
/// web.utorrent.com), not from BitTorrent protocol bytes: swarmwall must not.
const NDPI_BY_NAME: &[&str] = &["bt-dns.pcap", "tls_torrent.pcapng"];

#[test]
fn ndpi_bittorrent_captures_agree_with_ndpi() {
    let Some(dir) = corpus() else { return };
    let ndpi = dir.join("public/ndpi");
    for name in NDPI_BITTORRENT {
        let (records, _, result) = analyze_file(&ndpi.join(name), Config::default());
        result.unwrap();
        let ours: BTreeSet<(String, SocketAddr, SocketAddr)> = records
            .iter()
            .filter(|r| r.is_bittorrent())
            .map(|r| {
                let (a, b) = if r.client <= r.server {
                    (r.client, r.server)
                } else {
                    (r.server, r.client)
                };
                (r.proto.as_str().to_string(), a, b)
            })
            .collect();
        let theirs = ndpi_flows(&ndpi.join(format!("{name}.out")));
        eprintln!(
            "{name}: swarmwall {} BitTorrent 5-tuples, nDPI {}",
            ours.len(),
            theirs.len()
        );
        assert!(
            !theirs.is_empty(),
            "{name}: no BitTorrent flow parsed from nDPI's output"
        );
        assert!(
            ours.is_subset(&theirs),
            "{name}: flows nDPI does not call BitTorrent: {:?}",
            ours.difference(&theirs)
        );
        if NDPI_BY_NAME.contains(name) {
            assert!(ours.is_empty(), "{name}: BitTorrent from a host name");
        } else {
            assert_eq!(ours, theirs, "{name}");
        }
    }
}
