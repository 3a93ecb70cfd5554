//! End-to-end tests of the `swarmwall` binary: the bundled sample, the flow-record contract,
//! and every kind of bad input named in the analyzer's issue.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{bin, pcap, sample, tmp};

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
    for threads in ["1", "2"] {
        let from_file = analyze(&[
            sample().to_str().unwrap(),
            "--flows",
            "-",
            "--threads",
            threads,
        ]);
        let mut child = bin()
            .args([
                "analyze",
                "--quiet",
                "-",
                "--flows",
                "-",
                "--threads",
                threads,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let bytes = std::fs::read(sample()).unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let from_stdin = child.wait_with_output().unwrap();
        assert!(from_stdin.status.success(), "{}", stderr(&from_stdin));
        assert_eq!(stdout(&from_file), stdout(&from_stdin), "{threads} threads");
        assert!(stdout(&from_file).lines().count() > 50);
        // with --flows -, the summary goes to stderr
        assert!(stderr(&from_file).contains("BitTorrent flows by kind"));
    }
}

/// A record without what the split between threads may change (README, "Threads").
fn comparable(r: &serde_json::Value) -> String {
    let mut r = r.clone();
    for k in [
        "evidence",
        "relabelled",
        "decided_at_packet",
        "decided_after_payloads",
    ] {
        r.as_object_mut().unwrap().remove(k);
    }
    r.to_string()
}

#[test]
fn threads_find_the_same_flows_in_a_defined_order() {
    let one = analyze(&[sample().to_str().unwrap(), "--flows", "-", "--threads", "1"]);
    assert!(one.status.success(), "{}", stderr(&one));
    let mut want: Vec<String> = flow_records(&one).iter().map(comparable).collect();
    want.sort();
    for threads in ["2", "3"] {
        let run = || {
            analyze(&[
                sample().to_str().unwrap(),
                "--flows",
                "-",
                "--threads",
                threads,
            ])
        };
        let (a, b) = (run(), run());
        assert!(a.status.success(), "{}", stderr(&a));
        assert_eq!(
            stdout(&a),
            stdout(&b),
            "{threads} threads: same order every run"
        );
        let mut got: Vec<String> = flow_records(&a).iter().map(comparable).collect();
        got.sort();
        assert_eq!(got, want, "{threads} threads");
        // The summary's counts are the single thread's.
        let first = |o: &Output| stderr(o).lines().next().unwrap_or_default().to_string();
        assert_eq!(first(&a), first(&one));
        assert!(
            stderr(&a).contains("BitTorrent flows by kind"),
            "{}",
            stderr(&a)
        );
    }
    let o = analyze(&[sample().to_str().unwrap(), "--threads", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
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
    // A file with no frame of a supported link type: exit 1.
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
    // The line lists what is supported.
    for name in [
        "Ethernet",
        "NFLOG",
        "802.11",
        "radiotap",
        "PPI",
        "PPP",
        "Frame Relay",
    ] {
        assert!(e.contains(name), "{name} missing: {e}");
    }
    assert!(stdout(&o).contains("unsupported link 2"), "{}", stdout(&o));
}

/// A pcapng file (µs timestamps): one section, an interface per link type, then
/// `(interface, frame)` packets as Enhanced Packet Blocks. Returns the file and the byte offset
/// of each packet's block.
fn pcapng(linktypes: &[u16], packets: &[(u32, Vec<u8>)]) -> (Vec<u8>, Vec<usize>) {
    let block = |f: &mut Vec<u8>, ty: u32, body: &[u8]| {
        let len = (12 + body.len()) as u32;
        f.extend(ty.to_le_bytes());
        f.extend(len.to_le_bytes());
        f.extend(body);
        f.extend(len.to_le_bytes());
    };
    let mut f = Vec::new();
    // Section Header Block: byte-order magic, version 1.0, section length unknown (-1)
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend([1, 0, 0, 0]);
    shb.extend([0xff; 8]);
    block(&mut f, 0x0a0d_0d0a, &shb);
    for &lt in linktypes {
        // Interface Description Block: link type, reserved, snap length
        let mut idb = lt.to_le_bytes().to_vec();
        idb.extend([0, 0]);
        idb.extend(0x4_0000u32.to_le_bytes());
        block(&mut f, 1, &idb);
    }
    let mut offsets = Vec::new();
    for (i, (interface, frame)) in packets.iter().enumerate() {
        offsets.push(f.len());
        let ts = 1_700_000_000_000_000u64 + i as u64 * 1_000_000;
        let mut epb = interface.to_le_bytes().to_vec();
        epb.extend(((ts >> 32) as u32).to_le_bytes());
        epb.extend((ts as u32).to_le_bytes());
        epb.extend((frame.len() as u32).to_le_bytes());
        epb.extend((frame.len() as u32).to_le_bytes());
        epb.extend(frame);
        epb.resize(epb.len().div_ceil(4) * 4, 0);
        block(&mut f, 6, &epb);
    }
    (f, offsets)
}

/// The flow records of `--flows -`.
fn flow_records(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn client_is_ipv6(r: &serde_json::Value) -> bool {
    r["client"]
        .as_str()
        .unwrap()
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .is_ipv6()
}

#[test]
fn pcapng_with_an_unsupported_interface_analyses_the_others() {
    // Interface 0 is Ethernet (an LSD announce), interface 1 is USB (189): the USB frames are
    // counted and named once, the Ethernet one analysed, and the run succeeds.
    let dir = tmp("mixed-link");
    let p = dir.join("mixed.pcapng");
    let (file, offsets) = pcapng(
        &[1, 189],
        &[(1, vec![0u8; 40]), (0, lsd_frame()), (1, vec![1u8; 40])],
    );
    std::fs::write(&p, file).unwrap();
    let o = analyze(&[p.to_str().unwrap(), "--flows", "-"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    let warning: Vec<&str> = e.lines().filter(|l| l.contains("link type")).collect();
    assert_eq!(warning.len(), 1, "one line per link type: {e}");
    assert!(
        warning[0].contains(&format!(
            "mixed.pcapng: at byte {}: link type 189 is not supported",
            offsets[0]
        )),
        "{e}"
    );
    // the summary (on stderr with --flows -) counts the two USB frames
    assert!(e.contains("unsupported link 2"), "{e}");
    let records = flow_records(&o);
    assert!(
        records.iter().any(|r| r["kind"] == "lsd"),
        "no LSD flow in {records:?}"
    );
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

/// The info-hash of testdata/link/nflog-bt.pcap (lab/make-nflog-capture): "swarmwall-nflog-bt!!".
const NFLOG_INFO_HASH: &str = "737761726d77616c6c2d6e666c6f672d62742121";

#[test]
fn nflog_capture_end_to_end() {
    // Real NFLOG frames (link type 239) made by lab/make-nflog-capture: a peer-wire handshake
    // each way and a DHT ping and its answer, over IPv4 and over IPv6.
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/link/nflog-bt.pcap");
    let o = analyze(&[p.to_str().unwrap(), "--flows", "-"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(e.contains("unsupported link 0"), "{e}");
    let records = flow_records(&o);
    for v6 in [false, true] {
        let family = if v6 { "IPv6" } else { "IPv4" };
        assert!(
            records.iter().any(|r| r["kind"] == "peer-tcp"
                && client_is_ipv6(r) == v6
                && r["infohashes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|h| h == NFLOG_INFO_HASH)),
            "no {family} peer-tcp flow with the info-hash in {records:?}"
        );
        assert!(
            records
                .iter()
                .any(|r| r["kind"] == "dht" && r["proto"] == "udp" && client_is_ipv6(r) == v6),
            "no {family} DHT flow in {records:?}"
        );
    }
}

/// The IP packet of a frame `wire::build` made (Ethernet, EtherType IPv4 or IPv6).
fn ip_packet(ethernet: Vec<u8>) -> Vec<u8> {
    assert!(matches!(ethernet[12..14], [0x08, 0x00] | [0x86, 0xdd]));
    ethernet[14..].to_vec()
}

/// An 802.11 QoS data frame (From DS) carrying `ip` behind LLC/SNAP.
fn dot11(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0x88, 0x02]; // frame control: data, subtype QoS data; flags From DS
    f.extend([0, 0]); // duration
    f.extend([
        0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 3,
    ]); // 3 addresses
    f.extend([0x10, 0x00]); // sequence control
    f.extend([0x00, 0x00]); // QoS control
    f.extend([0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00]); // LLC/SNAP, OUI 00-00-00
    f.extend(if ip[0] >> 4 == 6 {
        [0x86, 0xdd]
    } else {
        [0x08, 0x00]
    }); // EtherType
    f.extend(ip);
    f
}

/// `ip` in a frame of `linktype`, laid out as crates/wire/src/link/*.rs documents. (Checked
/// with tshark 4.0.17 on the files the test below writes: it decodes every frame down to
/// `bt-dht`, e.g. `radiotap:wlan_radio:wlan:llc:ip:udp:bt-dht`, `ppp:chdlc:ipv6:udp:bt-dht`,
/// `fr:ipv6:udp:bt-dht`, `nflog:ip:udp:bt-dht`.)
fn wrap(linktype: u32, ip: &[u8]) -> Vec<u8> {
    let v6 = ip[0] >> 4 == 6;
    let mut f = match linktype {
        239 => {
            // NFLOG: family, version 0, group 7; NFULA_PACKET_HDR (little-endian TLV: length
            // 8, type 1; hw protocol, hook, pad); then NFULA_PAYLOAD (type 9)
            let mut f = vec![if v6 { 10 } else { 2 }, 0, 0, 7];
            f.extend([8, 0, 1, 0]);
            f.extend(if v6 { [0x86, 0xdd] } else { [0x08, 0x00] });
            f.extend([3, 0]);
            f.extend((4 + ip.len() as u16).to_le_bytes());
            f.extend([9, 0]);
            f
        }
        105 => return dot11(ip),
        127 => {
            // radiotap: version 0, length 10, present: Flags; Flags 0x10 (FCS at the end), pad
            let mut f = vec![0, 0, 10, 0, 0x02, 0, 0, 0, 0x10, 0];
            f.extend(dot11(ip));
            f.extend([0xde, 0xad, 0xbe, 0xef]); // FCS
            return f;
        }
        192 => {
            // PPI: version 0, flags 0, length 8, link type 105 (802.11)
            let mut f = vec![0, 0, 8, 0, 105, 0, 0, 0];
            f.extend(dot11(ip));
            return f;
        }
        // PPP: IPv4 with protocol field compression and no address/control; IPv6 as Cisco HDLC
        9 if v6 => vec![0x0f, 0x00, 0x86, 0xdd],
        9 => vec![0x21],
        // PPP in HDLC-like framing: address, control, protocol
        50 => vec![0xff, 0x03, 0x00, if v6 { 0x57 } else { 0x21 }],
        // Frame Relay, DLCI 100: IPv4 by NLPID 0xCC; IPv6 by SNAP (pad, NLPID 0x80, OUI, EtherType)
        107 if v6 => vec![0x18, 0x41, 0x03, 0x00, 0x80, 0, 0, 0, 0x86, 0xdd],
        107 => vec![0x18, 0x41, 0x03, 0xcc],
        _ => unreachable!("link type {linktype}"),
    };
    f.extend(ip);
    f
}

#[test]
fn every_new_link_type_carries_a_dht_exchange() {
    // A DHT ping and its answer (BEP 5), over IPv4 and over IPv6, in frames of each link type.
    let node = |c: u8| [c; 20];
    let ping = [
        &b"d1:ad2:id20:"[..],
        &node(b'a'),
        b"e1:q4:ping1:t2:aa1:y1:qe",
    ]
    .concat();
    let pong = [&b"d1:rd2:id20:"[..], &node(b'b'), b"e1:t2:aa1:y1:re"].concat();
    let sa = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
    let mut packets = Vec::new();
    for (a, b) in [
        ("10.77.1.1:40001", "10.77.1.2:6881"),
        ("[fd77::1]:40001", "[fd77::2]:6881"),
    ] {
        packets.push(ip_packet(wire::build::udp(sa(a), sa(b), &ping)));
        packets.push(ip_packet(wire::build::udp(sa(b), sa(a), &pong)));
    }
    let dir = tmp("links");
    for linktype in [239, 105, 127, 192, 9, 50, 107] {
        let frames: Vec<Vec<u8>> = packets.iter().map(|ip| wrap(linktype, ip)).collect();
        let p = dir.join(format!("dht-{linktype}.pcap"));
        std::fs::write(&p, pcap(linktype, &frames)).unwrap();
        let o = analyze(&[p.to_str().unwrap(), "--flows", "-"]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "link type {linktype}: {e}");
        assert!(
            e.contains("packets 4 (TCP 0, UDP 4,"),
            "link type {linktype}: {e}"
        );
        let records = flow_records(&o);
        for v6 in [false, true] {
            assert!(
                records
                    .iter()
                    .any(|r| r["kind"] == "dht" && client_is_ipv6(r) == v6),
                "link type {linktype}, IPv6 {v6}: no DHT flow in {records:?}"
            );
        }
    }
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

#[test]
fn completions_and_man_pages_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let o = bin().args(["completions", shell]).output().unwrap();
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for sub in ["analyze", "watch", "enforce", "evidence", "notice", "rules"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let bad = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );

    let d = tmp("manpages");
    let o = bin().arg("manpages").arg(&d).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for page in [
        "swarmwall",
        "swarmwall-analyze",
        "swarmwall-watch",
        "swarmwall-enforce",
        "swarmwall-rules-install",
        "swarmwall-evidence-query",
        "swarmwall-notice-check",
    ] {
        let text = std::fs::read_to_string(d.join(format!("{page}.1")))
            .unwrap_or_else(|e| panic!("{page}.1: {e}"));
        assert!(text.starts_with(".ie"), "{page}.1 is roff");
        assert!(text.contains(".TH"), "{page}.1 has a title");
        assert!(
            text.contains(&page.to_uppercase()),
            "{page}.1 names itself in its title"
        );
    }
    assert!(
        !d.join("swarmwall-manpages.1").exists(),
        "the hidden command has no page"
    );
    assert!(!d.join("swarmwall-help.1").exists());
    std::fs::remove_dir_all(&d).ok();
}
