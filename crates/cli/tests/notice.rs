//! `swarmwall notice check` end to end: lab captures → evidence store → notices written for
//! real flows of those captures (the right torrent and a wrong one, a time outside the
//! tolerance, an address never seen, a host that did no BitTorrent at that moment, an address
//! outside the local networks) → the expected verdicts; and bad input (a binary file, a mail
//! without a notice, truncated XML, a missing file) reported as `unparseable` while every other
//! notice is still checked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{json_lines, run, s, tmp};
use serde_json::Value;

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/lab");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    v
}

fn secs(rfc: &str) -> i64 {
    // `2026-11-21T09:20:36.690736Z` → seconds, through the binary's own reader is overkill:
    // the date arithmetic here is simple enough.
    let (date, time) = rfc.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t: Vec<f64> = time
        .trim_end_matches('Z')
        .split(':')
        .map(|x| x.parse().unwrap())
        .collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // days from civil (Howard Hinnant)
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + (t[0] as i64) * 3600 + (t[1] as i64) * 60 + t[2] as i64
}

fn rfc(t: i64) -> String {
    let o = Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn acns(case: &str, ip: &str, port: u16, time: &str, hash: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Infringement xmlns="http://www.acns.net/ACNS">
 <Case><ID>{case}</ID></Case>
 <Complainant><Entity>Example Films &amp; Co</Entity></Complainant>
 <Source><TimeStamp>{time}</TimeStamp><IP_Address>{ip}</IP_Address><Port>{port}</Port>
  <SubType BaseType="P2P" Protocol="BITTORRENT"/></Source>
 <Content><Item><Title>Example</Title><FileName>example.mkv</FileName><FileSize>1000</FileSize>
  <Hash Type="SHA1">{hash}</Hash></Item></Content>
</Infringement>
"#
    )
}

struct Host {
    ip: String,
    port: u16,
    hash: String,
    at: i64,
}

#[test]
fn verdicts_for_notices_about_real_flows() {
    let d = tmp("check");
    let store = d.join("ev.db");
    verdicts(&d, s(&store), s(&store));
    std::fs::remove_dir_all(&d).ok();
}

/// The same, the sensors writing into PostgreSQL as the insert-only role and the check reading
/// as the select-only role.
#[test]
fn verdicts_on_postgresql() {
    let Some(pg) = swarmwall_testkit::Cluster::start("notice") else {
        return;
    };
    let owner = pg.url("swarmwall_owner", swarmwall_testkit::OWNER_PW);
    let o = run(&[
        "evidence",
        "migrate",
        "--evidence",
        &owner,
        "--sensor-role",
        "sensor",
        "--reader-role",
        "reader",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = tmp("check-pg");
    verdicts(
        &d,
        &pg.url("sensor", swarmwall_testkit::SENSOR_PW),
        &pg.url("reader", swarmwall_testkit::READER_PW),
    );
    std::fs::remove_dir_all(&d).ok();
}

/// Lab captures into `sensor_store`, notices about their flows checked against `reader_store`.
fn verdicts(d: &Path, sensor_store: &str, reader_store: &str) {
    let keys = d.join("keys");
    // Each capture analysed on its own: its span is a watched time of its own.
    let mut records: Vec<(usize, Value)> = Vec::new();
    let mut spans = Vec::new();
    for (i, cap) in captures().iter().enumerate() {
        let flows = d.join(format!("flows-{i}.jsonl"));
        let o = run(&[
            "analyze",
            "--quiet",
            s(cap),
            "--flows",
            s(&flows),
            "--evidence",
            sensor_store,
            "--key",
            s(&keys),
            "--retention",
            "1000",
            "--sensor",
            "lab",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let recs: Vec<Value> = std::fs::read_to_string(&flows)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let first = recs
            .iter()
            .map(|r| secs(r["first_seen"].as_str().unwrap()))
            .min()
            .unwrap();
        let last = recs
            .iter()
            .map(|r| secs(r["last_seen"].as_str().unwrap()))
            .max()
            .unwrap();
        spans.push((first, last));
        records.extend(recs.into_iter().map(|r| (i, r)));
    }
    let host_of = |e: &str| {
        e.rsplit_once(':')
            .unwrap()
            .0
            .trim_matches(['[', ']'])
            .to_string()
    };
    let port_of = |e: &str| e.rsplit_once(':').unwrap().1.parse::<u16>().unwrap();
    // A peer connection with its torrent: the listening side's address and port (where a
    // monitoring firm's client connects), and its time.
    let (_, r) = records
        .iter()
        .find(|(_, r)| r["kind"] == "peer-tcp" && r["infohashes"].as_array().unwrap().len() == 1)
        .or_else(|| {
            records.iter().find(|(_, r)| {
                r["app"] == "bittorrent" && r["infohashes"].as_array().unwrap().len() == 1
            })
        })
        .unwrap();
    let peer = Host {
        ip: host_of(r["server"].as_str().unwrap()),
        port: port_of(r["server"].as_str().unwrap()),
        hash: r["infohashes"][0].as_str().unwrap().to_string(),
        at: secs(r["first_seen"].as_str().unwrap()),
    };
    // A host and a second, inside its capture, when none of its BitTorrent flows was open.
    let quiet = records
        .iter()
        .filter(|(_, r)| r["app"] == "bittorrent")
        .find_map(|(i, r)| {
            let ip = host_of(r["client"].as_str().unwrap());
            let busy: Vec<(i64, i64)> = records
                .iter()
                .filter(|(j, x)| {
                    j == i
                        && x["app"] == "bittorrent"
                        && [x["client"].as_str().unwrap(), x["server"].as_str().unwrap()]
                            .iter()
                            .any(|e| host_of(e) == ip)
                })
                .map(|(_, x)| {
                    (
                        secs(x["first_seen"].as_str().unwrap()),
                        secs(x["last_seen"].as_str().unwrap()),
                    )
                })
                .collect();
            let (a, b) = spans[*i];
            (a..=b)
                .find(|t| busy.iter().all(|(f, l)| t < f || t > l))
                .map(|t| (ip, t))
        })
        .expect("a moment when a host of the captures did no BitTorrent");

    let n = d.join("notices");
    std::fs::create_dir_all(&n).unwrap();
    let write = |name: &str, body: &[u8]| {
        let p = n.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let t = |x: i64| rfc(x);
    let files = [
        write("right.xml", acns("right", &peer.ip, peer.port, &t(peer.at), &peer.hash).as_bytes()),
        write("wrong-torrent.xml", acns("wrong", &peer.ip, peer.port, &t(peer.at), &"ab".repeat(20)).as_bytes()),
        write(
            "later.json",
            format!(
                r#"{{"xarf_version":"4.2.0","report_id":"later","timestamp":"{}","source_identifier":"{}","source_port":{},"category":"copyright","type":"p2p","p2p_protocol":"bittorrent","swarm_info":{{"info_hash":"{}"}}}}"#,
                t(peer.at + 86_400),
                peer.ip,
                peer.port,
                peer.hash
            )
            .as_bytes(),
        ),
        write(
            "never-seen.txt",
            format!("Date Found: {}\nIP Address: 10.77.250.250\nIP Port: 6881\nCase ID 4711\n", t(peer.at)).as_bytes(),
        ),
        write("quiet.xml", acns("quiet", &quiet.0, 6881, &t(quiet.1), &peer.hash).as_bytes()),
        write("remote.xml", acns("remote", "203.0.113.5", 6881, &t(peer.at), &peer.hash).as_bytes()),
        write("binary.bin", &[0u8, 159, 146, 150, 0, 1, 2, 3]),
        write("lunch.eml", b"From: a@example.test\nTo: b@example.test\nSubject: lunch\n\nNoon?\n"),
        write("truncated.xml", &acns("cut", &peer.ip, peer.port, &t(peer.at), &peer.hash).as_bytes()[..200]),
    ];
    let mut args = vec![
        "notice",
        "check",
        "--evidence",
        reader_store,
        "--key",
        s(&keys),
        "--json",
        "--tolerance",
        "0",
    ];
    args.extend(files.iter().map(|p| s(p)));
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out: Vec<Value> = json_lines(&o.stdout);
    let verdict = |file: &str| {
        let v: Vec<&Value> = out
            .iter()
            .filter(|c| c["file"].as_str().unwrap().ends_with(file))
            .collect();
        assert_eq!(v.len(), 1, "{file}: {out:#?}");
        (
            v[0]["verdict"].as_str().unwrap().to_string(),
            v[0]["reasons"].to_string(),
            v[0].clone(),
        )
    };
    let (v, why, c) = verdict("right.xml");
    assert_eq!(v, "corroborated", "{why}");
    assert!(!c["evidence"].as_array().unwrap().is_empty());
    for field in [
        "case_id",
        "complainant",
        "ip",
        "port",
        "time",
        "infohash",
        "filename",
        "filesize",
        "problems",
    ] {
        assert!(c.get(field).is_some(), "{field}");
    }
    assert_eq!(c["complainant"], "Example Films & Co");
    assert_eq!(verdict("wrong-torrent.xml").0, "other-torrent");
    let (v, why, _) = verdict("later.json");
    assert_eq!(v, "not-observed");
    assert!(why.contains("no sensor was watching"), "{why}");
    let (v, why, _) = verdict("never-seen.txt");
    assert_eq!(v, "not-observed");
    assert!(why.contains("not seen"), "{why}");
    let (v, why, _) = verdict("quiet.xml");
    assert_eq!(v, "no-bittorrent", "{why}");
    let (v, why, _) = verdict("remote.xml");
    assert_eq!(v, "not-observed");
    assert!(why.contains("not a local address"), "{why}");
    for bad in ["binary.bin", "lunch.eml", "truncated.xml"] {
        let (v, why, _) = verdict(bad);
        assert_eq!(v, "unparseable", "{bad}: {why}");
    }
    let check = |more: &[&str]| {
        let mut a = vec![
            "notice",
            "check",
            "--evidence",
            reader_store,
            "--key",
            s(&keys),
        ];
        a.extend_from_slice(more);
        run(&a)
    };
    // With the default tolerance (10 minutes), the quiet moment is near the host's BitTorrent.
    let o = check(&[s(&files[4])]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("no-bittorrent"), "{text}");
    // Drafts for each profile: one per notice, a NoticeAck beside each ACNS one.
    for profile in ["tor-exit", "vpn-or-proxy", "isp", "hosting"] {
        let dir = d.join(format!("replies-{profile}"));
        let mut more: Vec<&str> = vec![
            "--tolerance",
            "0",
            "--json",
            "--reply",
            profile,
            "--reply-dir",
            s(&dir),
            "--operator",
            "Example Operator <abuse@example.test>",
            "--operator-email",
            "abuse@example.test",
        ];
        more.extend(files.iter().map(|p| s(p)));
        let o = check(&more);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rows: Vec<Value> = json_lines(&o.stdout);
        let drafts: Vec<String> = rows
            .iter()
            .map(|r| r["reply"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(drafts.len(), files.len());
        let acks = rows.iter().filter(|r| r.get("ack").is_some()).count();
        assert_eq!(acks, 4, "the four readable ACNS notices");
        let right = rows
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with("right.xml"))
            .unwrap();
        let text = std::fs::read_to_string(right["reply"].as_str().unwrap()).unwrap();
        assert!(
            text.contains(&peer.ip)
                && text.contains(&peer.hash)
                && text.contains("Example Operator")
        );
        assert!(!text.contains('{'), "{text}");
        let ack = std::fs::read_to_string(right["ack"].as_str().unwrap()).unwrap();
        assert!(
            ack.contains("<NoticeAck") && ack.contains("Accepted=\"true\""),
            "{ack}"
        );
        let remote = rows
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with("remote.xml"))
            .unwrap();
        let ack = std::fs::read_to_string(remote["ack"].as_str().unwrap()).unwrap();
        assert!(ack.contains("IP_OUT_OF_RANGE"), "{ack}");
        // For review in the test output (cargo test -- --nocapture).
        eprintln!("---- {profile}: corroborated ----\n{text}");
        let quiet = rows
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with("quiet.xml"))
            .unwrap();
        eprintln!(
            "---- {profile}: no-bittorrent ----\n{}",
            std::fs::read_to_string(quiet["reply"].as_str().unwrap()).unwrap()
        );
    }
    // Operator templates replace the built-in ones.
    let tdir = d.join("templates");
    let o = run(&["notice", "templates", s(&tdir)]);
    assert!(o.status.success());
    std::fs::write(tdir.join("corroborated.txt"), "Seen: {ip} {verdict}\n").unwrap();
    let rdir = d.join("replies-custom");
    let o = check(&[
        "--reply",
        "isp",
        "--reply-dir",
        s(&rdir),
        "--templates",
        s(&tdir),
        "--json",
        s(&files[0]),
    ]);
    let row: Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = std::fs::read_to_string(row["reply"].as_str().unwrap()).unwrap();
    assert_eq!(text, format!("Seen: {} corroborated\n", peer.ip));
    // The ledger: notices recorded (one twice), a lease naming the subscriber, a policy.
    let leases = d.join("leases.csv");
    std::fs::write(
        &leases,
        format!(
            "start,end,ip,subscriber\n{},{},{},cust-0042\n",
            peer.at - 3600,
            peer.at + 3600,
            peer.ip
        ),
    )
    .unwrap();
    let policy = d.join("policy.toml");
    std::fs::write(
        &policy,
        "[[step]]\nname = \"first notice forwarded\"\nstrikes = 1\nwindow_days = 365\n\n[[step]]\nname = \"second warning\"\nstrikes = 2\nwindow_days = 365\n",
    )
    .unwrap();
    let mut rec = vec![
        "notice",
        "record",
        "--evidence",
        reader_store,
        "--key",
        s(&keys),
        "--tolerance",
        "0",
        "--leases",
        s(&leases),
    ];
    rec.extend([
        s(&files[0]),
        s(&files[0]),
        s(&files[1]),
        s(&files[5]),
        s(&files[6]),
    ]);
    let o = run(&rec);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.contains("corroborated — recorded for subscriber"),
        "{text}"
    );
    assert!(text.contains("unparseable"), "{text}");
    let o = run(&[
        "notice",
        "ledger",
        "--evidence",
        reader_store,
        "--policy",
        s(&policy),
        "--json",
        "--now",
        &t(peer.at + 86_400),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let standings: Vec<Value> = json_lines(&o.stdout);
    assert_eq!(
        standings.len(),
        2,
        "the subscriber of the lease, and the remote address: {standings:?}"
    );
    let cust = standings.iter().find(|x| x["corroborated"] == 1).unwrap();
    assert_eq!(
        cust["notices"], 2,
        "the same notice twice counts once: {cust}"
    );
    assert_eq!(cust["strikes"], 1);
    assert_eq!(cust["step"], "first notice forwarded");
    // Nothing of the subscriber or the address in the store's ledger.
    assert!(
        !standings
            .iter()
            .any(|x| x.to_string().contains("cust-0042") || x.to_string().contains(&peer.ip))
    );
    // A missing file: reported, the others checked, exit 1.
    let o = check(&[s(&files[0]), "/nonexistent/notice.eml"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("corroborated") && text.contains("unparseable"),
        "{text}"
    );
}
