//! End-to-end tests of the `swarmwall` binary: the bundled sample, the flow-record contract,
//! and every kind of bad input named in the analyzer's issue.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_swarmwall"))
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/lab-mix.pcap")
}

/// A fresh directory for one test.
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("swarmwall-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn analyze(args: &[&str]) -> Output {
    bin()
        .arg("analyze")
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A classic pcap (µs, little endian) with the given link type and frames.
fn pcap(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0,
    ];
    f.extend(linktype.to_le_bytes());
    for (i, fr) in frames.iter().enumerate() {
        f.extend((1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend(0u32.to_le_bytes());
        f.extend((fr.len() as u32).to_le_bytes());
        f.extend((fr.len() as u32).to_le_bytes());
        f.extend(fr);
    }
    f
}

fn lsd_frame() -> Vec<u8> {
    let msg = b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: 0123456789abcdef0123456789abcdef01234567\r\n\r\n\r\n";
    wire::build::udp(
        "10.77.9.2:6771".parse().unwrap(),
        "239.192.152.143:6771".parse().unwrap(),
        msg,
    )
}

#[test]
fn sample_summary_and_flow_records() {
    let dir = tmp("sample");
    let flows = dir.join("flows.jsonl");
    let o = analyze(&[
        sample().to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for kind in [
        "peer-tcp",
        "peer-utp",
        "tracker-http",
        "tracker-udp",
        "lsd",
        "dht",
    ] {
        assert!(out.contains(kind), "summary lacks {kind}:\n{out}");
    }
    assert!(
        out.contains("Top info-hashes")
            && out.contains("BitTorrent hosts")
            && out.contains("cut by snaplen")
    );

    // The record contract (README "Flow records").
    let text = std::fs::read_to_string(&flows).unwrap();
    let mut bt = 0;
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let o = r.as_object().unwrap();
        for key in [
            "proto",
            "client",
            "server",
            "first_seen",
            "last_seen",
            "packets",
            "bytes",
            "app",
            "kind",
            "kinds",
            "encrypted",
            "evidence",
            "infohashes",
            "client_software",
            "server_software",
            "decided_at_packet",
        ] {
            assert!(o.contains_key(key), "missing {key} in {line}");
        }
        assert!(matches!(r["proto"].as_str(), Some("tcp" | "udp")));
        assert!(
            r["client"]
                .as_str()
                .unwrap()
                .parse::<std::net::SocketAddr>()
                .is_ok()
        );
        let ts = r["first_seen"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-11-21T06:30:11.962192Z".len(), "{ts}");
        for h in r["infohashes"].as_array().unwrap() {
            let h = h.as_str().unwrap();
            assert!(
                h.len() == 40
                    && h.chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
        if r["app"] == "bittorrent" {
            bt += 1;
            assert!(r["kind"].is_string() && !r["evidence"].as_array().unwrap().is_empty());
            assert!(r["decided_at_packet"].as_u64().unwrap() >= 1);
        } else {
            assert!(r["kind"].is_null() && r["evidence"].as_array().unwrap().is_empty());
        }
    }
    assert!(bt >= 40, "{bt} BitTorrent flows in the sample");
}

#[test]
fn stdin_gives_the_same_records_as_the_file() {
    let from_file = analyze(&[sample().to_str().unwrap(), "--flows", "-"]);
    let mut child = bin()
        .args(["analyze", "--quiet", "-", "--flows", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(sample()).unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let from_stdin = child.wait_with_output().unwrap();
    assert!(from_stdin.status.success(), "{}", stderr(&from_stdin));
    assert_eq!(stdout(&from_file), stdout(&from_stdin));
    assert!(stdout(&from_file).lines().count() > 50);
    // with --flows -, the summary goes to stderr
    assert!(stderr(&from_file).contains("BitTorrent flows by kind"));
}

#[test]
fn several_files_in_one_run() {
    let dir = tmp("several");
    let extra = dir.join("lsd.pcap");
    std::fs::write(&extra, pcap(1, &[lsd_frame()])).unwrap();
    let o = analyze(&[sample().to_str().unwrap(), extra.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("swarmwall analyze: 2 files, 898 packets"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn not_a_capture() {
    let dir = tmp("notcap");
    let f = dir.join("notes.txt");
    std::fs::write(&f, "hello, this is text\n").unwrap();
    let o = analyze(&[f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("notes.txt") && e.contains("at byte 0") && e.contains("not a pcap or pcapng"),
        "{e}"
    );
}

#[test]
fn empty_file_and_unreadable_path() {
    let dir = tmp("empty");
    let f = dir.join("empty.pcap");
    std::fs::write(&f, b"").unwrap();
    let o = analyze(&[f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("empty.pcap") && stderr(&o).contains("empty"),
        "{}",
        stderr(&o)
    );

    let o = analyze(&[dir.join("missing.pcap").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("missing.pcap: cannot read") && e.lines().count() == 1,
        "{e}"
    );
}

#[test]
fn truncated_last_record_keeps_everything_before_it() {
    let dir = tmp("trunc");
    let whole = std::fs::read(sample()).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &whole[..whole.len() - 25]).unwrap();
    let flows = dir.join("flows.jsonl");
    let o = analyze(&[cut.to_str().unwrap(), "--flows", flows.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("cut.pcap: at byte ") && e.contains("truncated"),
        "{e}"
    );
    // The summary and the records cover the 896 packets before the cut.
    assert!(
        stdout(&o).starts_with("swarmwall analyze: 1 file, 896 packets"),
        "{}",
        stdout(&o)
    );
    let full = analyze(&[sample().to_str().unwrap(), "--flows", "-"]);
    let n_full = stdout(&full).lines().count();
    let n_cut = std::fs::read_to_string(&flows).unwrap().lines().count();
    assert!(
        n_cut >= n_full - 1 && n_cut <= n_full,
        "{n_cut} vs {n_full}"
    );
}

#[test]
fn corrupt_block_length_is_reported_without_a_huge_allocation() {
    let dir = tmp("corrupt");
    // pcapng: SHB, IDB, then an EPB claiming 4 GB
    let mut f = Vec::new();
    f.extend([
        0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
    ]);
    f.extend([0xff; 8]);
    f.extend([28, 0, 0, 0]);
    f.extend([1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0]);
    f.extend([6, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    let p = dir.join("corrupt.pcapng");
    std::fs::write(&p, &f).unwrap();
    let o = analyze(&[p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("corrupt.pcapng: at byte 48") && e.contains("block"),
        "{e}"
    );
    // Through standard input too (where a length would drive the read buffer).
    let mut child = bin()
        .args(["analyze", "--quiet", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&f).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("<stdin>: at byte 48"), "{}", stderr(&o));
}

#[test]
fn unknown_link_type_is_named() {
    let dir = tmp("link");
    let p = dir.join("usb.pcap");
    std::fs::write(&p, pcap(189, &[vec![0u8; 64], vec![1u8; 64]])).unwrap();
    let o = analyze(&[p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(
        e.lines().count(),
        1,
        "one line per link type, not per packet: {e}"
    );
    assert!(
        e.contains("usb.pcap: at byte 24: link type 189 is not supported"),
        "{e}"
    );
    assert!(stdout(&o).contains("unsupported link 2"), "{}", stdout(&o));
}

#[test]
fn snaplen_cut_packets_are_counted_not_errors() {
    let mut frame = lsd_frame();
    let orig = frame.len() as u32;
    frame.truncate(40);
    let mut f = pcap(1, &[]);
    f.extend(1_700_000_000u32.to_le_bytes());
    f.extend(0u32.to_le_bytes());
    f.extend((frame.len() as u32).to_le_bytes());
    f.extend(orig.to_le_bytes());
    f.extend(&frame);
    let dir = tmp("snap");
    let p = dir.join("snap.pcap");
    std::fs::write(&p, f).unwrap();
    let o = analyze(&[p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("cut by snaplen 1"), "{}", stdout(&o));
}

#[test]
fn flows_never_overwrite_an_input() {
    let dir = tmp("overwrite");
    let p = dir.join("in.pcap");
    std::fs::copy(sample(), &p).unwrap();
    let o = analyze(&[p.to_str().unwrap(), "--flows", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("would overwrite the input"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(sample()).unwrap());
}

#[test]
fn usage_errors_exit_2() {
    let o = bin().args(["analyze"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = bin()
        .args(["analyze", "--max-flows", "many", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn closed_stdout_stops_reading() {
    // An endless capture on stdin whose flows keep ending (each 200 s after the last), with
    // --flows - into a pipe nobody reads: swarmwall must stop on the broken pipe, exit 0.
    let mut child = bin()
        .args(["analyze", "--quiet", "-", "--flows", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut head = pcap(1, &[]);
        for i in 0..2_000_000u32 {
            let f = wire::build::udp(
                std::net::SocketAddr::from(([10, 77, (i >> 8) as u8, i as u8], 1000)),
                "10.77.255.1:2000".parse().unwrap(),
                b"x",
            );
            head.extend((1_700_000_000 + i * 200).to_le_bytes());
            head.extend(0u32.to_le_bytes());
            head.extend((f.len() as u32).to_le_bytes());
            head.extend((f.len() as u32).to_le_bytes());
            head.extend(&f);
            if head.len() > 1 << 16 {
                if stdin.write_all(&head).is_err() {
                    return i; // the reader went away
                }
                head.clear();
            }
        }
        u32::MAX
    });
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        writer.join().unwrap() < u32::MAX,
        "swarmwall read everything instead of stopping"
    );
}

#[test]
fn closed_stdout_is_not_an_error() {
    let mut child = bin()
        .args([
            "analyze",
            "--quiet",
            sample().to_str().unwrap(),
            "--flows",
            "-",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// The three policies the enforce interface promises, exactly as written there.
const ISSUE_POLICIES: [&str; 3] = [
    "# block every BitTorrent flow\ndefault = \"allow\"\n[[rule]]\napp = \"bittorrent\"\naction = \"drop\"\n",
    "# block two torrents, allow everything else (hex or magnet)\ndefault = \"allow\"\n[[rule]]\ninfohashes = [\"0123456789abcdef0123456789abcdef01234567\", \"magnet:?xt=urn:btih:89abcdef0123456789abcdef0123456789abcdef\"]\naction = \"drop\"\n",
    "# conscientious objection: do not help anyone find these torrents through the DHT\ndefault = \"allow\"\n[dht]\nrefuse = [\"0123456789abcdef0123456789abcdef01234567\"]\n",
];

fn check_policy(path: &Path) -> Output {
    bin()
        .args(["enforce", "--check", "--policy"])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn documented_policies_check_ok() {
    let d = tmp("policies");
    let want = [
        "default allow, 1 rule(s), 0 listed info-hash(es), 0 refused in the DHT",
        "default allow, 1 rule(s), 2 listed info-hash(es), 0 refused in the DHT",
        "default allow, 0 rule(s), 0 listed info-hash(es), 1 refused in the DHT",
    ];
    for (i, (text, want)) in ISSUE_POLICIES.iter().zip(want).enumerate() {
        let p = d.join(format!("p{i}.toml"));
        std::fs::write(&p, text).unwrap();
        let o = check_policy(&p);
        assert_eq!(o.status.code(), Some(0), "{text}\n{}", stderr(&o));
        assert!(stdout(&o).contains(want), "{}", stdout(&o));
    }
    // --config is the same option
    let o = bin()
        .args(["enforce", "--check", "--config"])
        .arg(d.join("p0.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn bad_policy_is_one_line_naming_file_and_place() {
    let d = tmp("bad-policy");
    let cases: [(&str, &str); 4] = [
        (
            "default = \"allow\"\n[[rule]]\naction = \"explode\"\n",
            "bad.toml:3:",
        ),
        (
            "default = \"allow\"\n[[rule]]\ninfohashes = [\"0123\"]\naction = \"drop\"\n",
            "bad.toml:3:",
        ),
        ("default = \"allow\"\n[dht\n", "bad.toml:2:"),
        (
            "default = \"allow\"\n[[rule]]\ninfohash_files = [\"missing.txt\"]\naction = \"drop\"\n",
            "missing.txt",
        ),
    ];
    for (text, want) in cases {
        let p = d.join("bad.toml");
        std::fs::write(&p, text).unwrap();
        let o = check_policy(&p);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{text}\n{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert_eq!(
            e.matches(want).count(),
            1,
            "{text}\nwanted {want:?} once in {e}"
        );
    }
    let o = check_policy(&d.join("absent.toml"));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("absent.toml"), "{}", stderr(&o));
}

#[test]
fn enforce_and_rules_usage_errors_exit_2() {
    for args in [
        &["enforce"][..],
        &["enforce", "--policy", "p.toml", "--queues", "5-2"],
        &["enforce", "--policy", "p.toml", "--queues", "x"],
        &["rules", "install", "--hook", "sideways"],
        &["rules", "install"],
    ] {
        let o = bin().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}
