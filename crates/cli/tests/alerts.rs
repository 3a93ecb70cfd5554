//! `--alerts` and `--thresholds`: incidents as JSON lines and the summary's Attacks section.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{json_lines, pcap, run, s, sample, text, tmp};

/// Forged uTP data with a handshake from `n` sources to one target, never answered (each
/// packet a second apart, so that they are judged unanswered before the end).
fn forged(n: u8) -> Vec<Vec<u8>> {
    let target = "10.77.0.2:6881".parse().unwrap();
    let mut hs = b"\x13BitTorrent protocol".to_vec();
    hs.extend([0u8; 8]);
    hs.extend([0xcd; 20]);
    hs.extend(*b"-XX0000-abcdefghijkl");
    let mut frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let src = format!("10.77.1.{}:4000", 10 + i).parse().unwrap();
            let d = bt::utp::emit(
                bt::utp::Type::Data,
                100 + u16::from(i),
                1,
                0,
                65_535,
                1,
                2,
                &hs,
            );
            wire::build::udp(src, target, &d)
        })
        .collect();
    // Other traffic for 15 s more (a second per frame): every forged packet's receiver had
    // its 5 s to answer before the capture ends (younger ones would be forgotten).
    let (a, b) = (
        "10.77.9.1:53".parse().unwrap(),
        "10.77.9.2:5353".parse().unwrap(),
    );
    frames.extend((0..15).map(|_| wire::build::udp(a, b, b"not bittorrent")));
    frames
}

#[test]
fn ordinary_traffic_raises_none() {
    let d = tmp("alerts-sample");
    let a = d.join("alerts.jsonl");
    let o = run(&["analyze", "--quiet", s(&sample()), "--alerts", s(&a)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(&a).unwrap(), b"");
    let out = text(&o.stdout);
    assert!(out.contains("\nAttacks\n  none detected\n"), "{out}");
    // Without --alerts the section is not there (the detectors do not run).
    let o = run(&["analyze", "--quiet", s(&sample())]);
    assert!(!text(&o.stdout).contains("Attacks"));
}

#[test]
fn forged_utp_is_one_incident_and_thresholds_change_it() {
    let d = tmp("alerts-forged");
    let cap = d.join("forged.pcap");
    std::fs::write(&cap, pcap(1, &forged(10))).unwrap();
    let a = d.join("alerts.jsonl");
    let o = run(&["analyze", "--quiet", s(&cap), "--alerts", s(&a)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lines = json_lines(&std::fs::read(&a).unwrap());
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let l = &lines[0];
    assert_eq!(l["category"], "utp-forged");
    assert_eq!(l["key"], format!("infohash {}", "cd".repeat(20)));
    assert_eq!(l["infohashes"][0], "cd".repeat(20));
    assert_eq!(l["targets"][0], "10.77.0.2");
    assert_eq!(l["sources_total"], 10);
    assert_eq!(l["severity"], "high");
    assert_eq!(l["update"], false);
    assert!(l["time"].as_str().unwrap().starts_with("2023-11-1"), "{l}");
    assert!(
        l["threshold"]
            .as_str()
            .unwrap()
            .contains("utp_forged_sources = 5")
    );
    let out = text(&o.stdout);
    assert!(out.contains("utp-forged           1 incident"), "{out}");

    // More sources needed than there are: nothing.
    let t = d.join("t.toml");
    std::fs::write(&t, "[policy]\nx = 1\n[attacks]\nutp_forged_sources = 11\n").unwrap();
    let o = run(&[
        "analyze",
        "--quiet",
        s(&cap),
        "--alerts",
        "-",
        "--thresholds",
        s(&t),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(o.stdout, b"", "alerts on standard output");
    assert!(
        text(&o.stderr).contains("none detected"),
        "summary on standard error"
    );
}

#[test]
fn threads_share_one_monitor() {
    // The reflection capture of the attack lab and the forged-uTP one: with two threads (one
    // monitor behind a lock for both engines) the same incidents as with one.
    let d = tmp("alerts-threads");
    let forged_cap = d.join("forged.pcap");
    std::fs::write(&forged_cap, pcap(1, &forged(10))).unwrap();
    let reflection = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/attacks/attack-dht-reflection.pcap");
    for cap in [forged_cap, reflection] {
        let incidents = |threads: &str| {
            let a = d.join(format!("alerts-{threads}.jsonl"));
            let o = run(&[
                "analyze",
                "--quiet",
                s(&cap),
                "--alerts",
                s(&a),
                "--threads",
                threads,
            ]);
            assert!(o.status.success(), "{}", text(&o.stderr));
            let mut v: Vec<String> = json_lines(&std::fs::read(&a).unwrap())
                .iter()
                .filter(|l| l["update"] == false)
                .map(|l| format!("{} {} {}", l["category"], l["key"], l["infohashes"]))
                .collect();
            v.sort();
            v
        };
        let one = incidents("1");
        assert!(!one.is_empty(), "{}", cap.display());
        assert_eq!(incidents("2"), one, "{}", cap.display());
    }
}

#[test]
fn threshold_mistakes_are_one_line_errors() {
    let d = tmp("alerts-bad");
    let t = d.join("t.toml");
    let a = d.join("alerts.jsonl");
    for (body, want) in [
        ("[attacks]\nnode_ids = 3\n", "node_ids"),
        ("[attacks]\nmax_state = 0\n", "at least 1"),
        ("[attacks\n", "t.toml"),
    ] {
        std::fs::write(&t, body).unwrap();
        let o = run(&[
            "analyze",
            "--quiet",
            s(&sample()),
            "--alerts",
            s(&a),
            "--thresholds",
            s(&t),
        ]);
        assert_eq!(o.status.code(), Some(1), "{body}");
        let e = text(&o.stderr);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(want) && e.contains("t.toml"), "{e}");
        assert!(
            !a.exists(),
            "nothing written before the thresholds are read"
        );
    }
    let o = run(&["analyze", s(&sample()), "--thresholds", s(&t)]);
    assert_eq!(o.status.code(), Some(2), "--thresholds needs --alerts");
    let o = run(&["analyze", s(&sample()), "--alerts", s(&sample())]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--alerts would overwrite the input"
    );
}
