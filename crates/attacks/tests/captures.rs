//! The detectors on real captures: a lab attack with its ground truth (testdata/attacks), and
//! ordinary traffic that must raise nothing — every capture of the shared corpus (the lab's
//! real clients, and nDPI's public regression set, hundreds of protocols and BitTorrent, uTP
//! and DHT from the real Internet). The corpus lives outside the repository (`../shared/corpus`
//! or `$SWARMWALL_CORPUS`); without it those tests say so and pass without checking.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use engine::{Config, Engine};
use swarmwall_attacks::{Alert, Monitor, Thresholds};
use wire::LinkType;

/// Every incident of one capture (the monitor's final state).
fn incidents(path: &Path) -> Vec<Alert> {
    let data = std::fs::read(path).unwrap();
    let mut e = Engine::new(Config::default());
    e.set_tap(Some(Box::new(Monitor::new(Thresholds::default()))));
    let mut parser = capfile::Parser::new();
    let mut rest = &data[..];
    while let Ok(Some((ev, used))) = parser.next(rest) {
        if let capfile::Event::Packet(p) = ev {
            let link = LinkType::from_number(p.linktype);
            e.frame(link, p.ts_nanos, p.data, p.orig_len, &mut |_| {});
        }
        rest = &rest[used..];
    }
    e.finish(&mut |_| {});
    let m = e
        .tap_mut()
        .and_then(|t| t.as_any_mut().downcast_mut::<Monitor>())
        .unwrap();
    m.finish();
    m.incidents().into_iter().cloned().collect()
}

#[test]
fn lab_attacks_are_detected_as_their_truth_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/attacks");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "pcap") {
            continue;
        }
        let truth: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.with_extension("truth.json")).unwrap())
                .unwrap();
        let want = truth["category"].as_str().unwrap();
        let start = truth["attack_start"].as_f64().unwrap();
        let a = incidents(&p);
        assert!(!a.is_empty(), "{}: nothing detected", p.display());
        for i in &a {
            assert_eq!(i.category.as_str(), want, "{}: {i:#?}", p.display());
            let latency = i.first_ns as f64 / 1e9 - start;
            assert!(
                (0.0..=60.0).contains(&latency),
                "{}: {latency} s",
                p.display()
            );
        }
        // The victims named by the truth are the incidents' keys.
        let victims: Vec<String> = truth["victims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| format!("victim {}", v["ip"].as_str().unwrap()))
            .collect();
        assert!(
            a.iter().all(|i| victims.contains(&i.key)),
            "{a:#?} {victims:?}"
        );
        n += 1;
    }
    assert!(n >= 1);
}

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

fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn ordinary_captures_raise_nothing() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = captures(&here.join("testdata/lab"));
    files.extend(captures(&here.join("samples")));
    if let Some(dir) = corpus() {
        let before = files.len();
        files.extend(captures(&dir.join("lab")));
        files.extend(captures(&dir.join("public/ndpi")));
        assert!(
            files.len() - before > 500,
            "{} corpus captures",
            files.len() - before
        );
    }
    let mut raised = Vec::new();
    for f in &files {
        for i in incidents(f) {
            raised.push(format!(
                "{}: {} {}",
                f.display(),
                i.category.as_str(),
                i.key
            ));
        }
    }
    assert!(raised.is_empty(), "{raised:#?}");
}
