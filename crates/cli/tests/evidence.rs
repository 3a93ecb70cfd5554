//! End-to-end tests of the evidence store through the binary: `analyze --evidence`, then
//! `evidence query|stats|prune`, and every bad input the store's issue names.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{json_lines, run, s, sample, text, tmp};

/// Analyzes the sample into a store; returns the flow records.
fn fill(store: &Path, keys: &Path, flows: &Path) -> Vec<serde_json::Value> {
    let o = run(&[
        "analyze",
        "--quiet",
        s(&sample()),
        "--flows",
        s(flows),
        "--evidence",
        s(store),
        "--key",
        s(keys),
        "--sensor",
        "test-sensor",
        "--retention",
        "1000",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("evidence: "),
        "{}",
        text(&o.stdout)
    );
    std::fs::read_to_string(flows)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn query(store: &Path, keys: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec![
        "evidence",
        "query",
        "--evidence",
        s(store),
        "--key",
        s(keys),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    json_lines(&o.stdout)
}

fn host(endpoint: &str) -> String {
    let (h, _) = endpoint.rsplit_once(':').unwrap();
    h.trim_matches(['[', ']']).to_string()
}

#[test]
fn analyze_fills_the_store_and_query_finds_every_flow_of_each_host() {
    let d = tmp("fill");
    let (store, keys) = (d.join("ev.db"), d.join("keys"));
    let records = fill(&store, &keys, &d.join("flows.jsonl"));
    let bt: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["app"] == "bittorrent")
        .collect();
    assert!(bt.len() > 20);
    let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
    for r in &bt {
        let (c, sv) = (
            host(r["client"].as_str().unwrap()),
            host(r["server"].as_str().unwrap()),
        );
        *per_host.entry(c.clone()).or_default() += 1;
        if sv != c {
            *per_host.entry(sv).or_default() += 1;
        }
    }
    for (ip, n) in &per_host {
        let rows = query(&store, &keys, &["--ip", ip]);
        assert_eq!(rows.len(), *n, "{ip}");
        for row in &rows {
            for field in [
                "ip",
                "port",
                "peer_port",
                "first_seen",
                "last_seen",
                "kind",
                "kinds",
                "infohashes",
                "encrypted",
                "confidence",
                "bytes_sent",
                "bytes_received",
                "sensor",
            ] {
                assert!(row.get(field).is_some(), "{field} missing in {row}");
            }
            assert_eq!(row["sensor"], "test-sensor");
            assert_eq!(row["ip"], ip.as_str());
        }
    }
    // A record's own port, time and torrent find it again.
    let r = bt
        .iter()
        .find(|r| r["infohashes"].as_array().is_some_and(|a| !a.is_empty()))
        .unwrap();
    let client = r["client"].as_str().unwrap();
    let port = client.rsplit_once(':').unwrap().1;
    let first = &r["first_seen"].as_str().unwrap()[..19];
    let hash = r["infohashes"][0].as_str().unwrap();
    let rows = query(
        &store,
        &keys,
        &[
            "--ip",
            &host(client),
            "--port",
            port,
            "--from",
            first,
            "--infohash",
            hash,
        ],
    );
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|x| x["port"].as_u64().map(|p| p.to_string()).as_deref() == Some(port))
    );
    // Rows of one sensor.
    assert_eq!(
        query(
            &store,
            &keys,
            &["--ip", &host(client), "--sensor", "test-sensor"]
        )
        .len(),
        query(&store, &keys, &["--ip", &host(client)]).len()
    );
    assert!(query(&store, &keys, &["--ip", &host(client), "--sensor", "other"]).is_empty());
    // Nothing before the capture.
    assert!(
        query(
            &store,
            &keys,
            &["--ip", &host(client), "--to", "2020-01-01"]
        )
        .is_empty()
    );

    // Stats.
    let o = run(&[
        "evidence",
        "stats",
        "--evidence",
        s(&store),
        "--key",
        s(&keys),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["rows"].as_u64().unwrap(), bt.len() as u64);
    assert_eq!(st["sensors"][0], "test-sensor");
    assert!(st["keys_from"].as_str().unwrap() <= bt[0]["first_seen"].as_str().unwrap());

    // Two shared facts (as sensors with --share-endpoints write them): one two hours old, one
    // fresh. Pruning deletes the old one only.
    let sql = |q: &str| {
        let o = Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import sqlite3,time; c=sqlite3.connect({:?}); r=c.execute({q:?}).fetchall(); c.commit(); print(r)",
                    s(&store)
                ),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    sql(
        "INSERT INTO facts (sensor, tag, infohash, source, at_ns) VALUES ('x', zeroblob(16), NULL, 'pex', (strftime('%s','now') - 7200) * 1000000000)",
    );
    sql(
        "INSERT INTO facts (sensor, tag, infohash, source, at_ns) VALUES ('x', zeroblob(16), NULL, 'pex', strftime('%s','now') * 1000000000)",
    );

    // Prune at a short retention: every period of the 2026 capture is older than a day ago…
    // unless the clock is wrong; the sample's date is known.
    let o = run(&[
        "evidence",
        "prune",
        "--evidence",
        s(&store),
        "--key",
        s(&keys),
        "--retention",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(", 1 shared facts older than an hour deleted"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(sql("SELECT count(*) FROM facts").trim(), "[(1,)]");
    let sample_day = bt[0]["first_seen"].as_str().unwrap()[..10].to_string();
    let today = text(
        &Command::new("date")
            .args(["-u", "+%F"])
            .output()
            .unwrap()
            .stdout,
    );
    if today.trim() > sample_day.as_str() {
        assert!(
            text(&o.stdout).contains("period keys destroyed"),
            "{}",
            text(&o.stdout)
        );
        for ip in per_host.keys() {
            assert!(
                query(&store, &keys, &["--ip", ip]).is_empty(),
                "{ip} still found"
            );
        }
        let o = run(&["evidence", "stats", "--evidence", s(&store), "--json"]);
        let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(st["rows"], 0);
    }
    std::fs::remove_dir_all(&d).ok();
}

/// One line on standard error, exit 1.
fn one_line_error(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    e
}

#[test]
fn bad_key_files_and_stores_are_one_line_errors_and_lose_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmp("bad");
    let (store, keys) = (d.join("ev.db"), d.join("keys"));
    fill(&store, &keys, &d.join("flows.jsonl"));
    let rows_before = query(&store, &keys, &["--ip", "10.77.34.12"]).len();
    let analyze = |store: &Path, keys: &Path| {
        run(&[
            "analyze",
            "--quiet",
            s(&sample()),
            "--evidence",
            s(store),
            "--key",
            s(keys),
            "--retention",
            "1000",
        ])
    };
    // A key file others can read.
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = one_line_error(&analyze(&store, &keys));
    assert!(e.contains("chmod 600"), "{e}");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A key file that is not one.
    let junk = d.join("junk-keys");
    std::fs::write(&junk, "not keys\n").unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = one_line_error(&analyze(&store, &junk));
    assert!(e.contains("junk-keys: key file: line 1"), "{e}");
    // A key file that is a directory.
    let e = one_line_error(&analyze(&store, &d));
    assert!(e.contains("key file"), "{e}");
    // A missing key file for a query.
    let o = run(&[
        "evidence",
        "query",
        "--evidence",
        s(&store),
        "--key",
        s(&d.join("none")),
        "--ip",
        "10.0.0.1",
    ]);
    let e = one_line_error(&o);
    assert!(e.contains("none: key file: cannot read"), "{e}");
    // A store of a newer schema.
    let newer = d.join("newer.db");
    std::fs::copy(&store, &newer).unwrap();
    let c = set_schema_version(&newer, 7);
    assert!(c, "could not set the schema version");
    let e = one_line_error(&analyze(&newer, &keys));
    assert!(e.contains("schema version 7 is newer"), "{e}");
    // Not a store.
    let e = one_line_error(&analyze(&sample(), &keys));
    assert!(e.contains("evidence store"), "{e}");
    // No --key.
    let o = run(&["analyze", "--quiet", s(&sample()), "--evidence", s(&store)]);
    let e = one_line_error(&o);
    assert!(e.contains("--key KEYFILE is needed"), "{e}");
    // Everything stored before is still there.
    assert_eq!(
        query(&store, &keys, &["--ip", "10.77.34.12"]).len(),
        rows_before
    );
    std::fs::remove_dir_all(&d).ok();
}

/// Sets a store's schema version (with Python's sqlite3).
fn set_schema_version(p: &Path, v: i64) -> bool {
    let py = format!(
        "import sqlite3; c=sqlite3.connect({:?}); c.execute('PRAGMA user_version={v}'); c.commit()",
        s(p)
    );
    Command::new("python3")
        .args(["-c", &py])
        .status()
        .is_ok_and(|st| st.success())
}

#[test]
fn a_full_disk_is_an_error_and_keeps_what_was_committed() {
    let d = tmp("full");
    let mnt = d.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs", s(&mnt)])
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipping: cannot mount a small tmpfs here (needs root)");
        return;
    }
    // Unmounted however the test ends.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let (store, keys) = (mnt.join("ev.db"), d.join("keys"));
    let records = fill(&store, &keys, &d.join("flows.jsonl"));
    let n_bt = records.iter().filter(|r| r["app"] == "bittorrent").count();
    // Fill the disk, leaving a few kilobytes.
    let free = {
        let o = Command::new("df")
            .args(["--output=avail", "-B1", s(&mnt)])
            .output()
            .unwrap();
        text(&o.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    std::fs::write(mnt.join("filler"), vec![0u8; (free - 8192) as usize]).unwrap();
    let mut ran = Vec::new();
    // Analyzing more flows than fit fails with one line, exit 1.
    for _ in 0..20 {
        let o = run(&[
            "analyze",
            "--quiet",
            s(&sample()),
            "--evidence",
            s(&store),
            "--key",
            s(&keys),
            "--retention",
            "1000",
            "--sensor",
            "again",
        ]);
        let failed = !o.status.success();
        ran.push(o);
        if failed {
            break;
        }
    }
    let last = ran.last().unwrap();
    let e = one_line_error(last);
    assert!(e.contains("the disk is full"), "{e}");
    std::fs::remove_file(mnt.join("filler")).unwrap();
    // The store is whole and holds the first run's rows.
    let o = run(&["evidence", "stats", "--evidence", s(&store), "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = st["rows"].as_u64().unwrap();
    assert!(rows >= n_bt as u64, "{rows} rows, {n_bt} written first");
    assert_eq!(rows % n_bt as u64, 0, "a run was stored in part");
    let check = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import sqlite3; print(sqlite3.connect({:?}).execute('PRAGMA integrity_check').fetchone()[0])",
                s(&store)
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(text(&check.stdout).trim(), "ok");
}

#[test]
fn watch_bad_interfaces_and_filters_are_one_line_errors() {
    let e = one_line_error(&run(&["watch", "-i", "no-such-if0", "--duration", "1"]));
    assert!(e.contains("no-such-if0: no interface"), "{e}");
    let o = run(&[
        "watch",
        "-i",
        "lo",
        "--filter",
        "udp and and",
        "--duration",
        "1",
    ]);
    let e = one_line_error(&o);
    assert!(
        e.contains("syntax error") || e.contains("needs libpcap"),
        "{e}"
    );
    let o = run(&["watch", "-i", "lo", "--share-endpoints", "--duration", "1"]);
    let e = one_line_error(&o);
    assert!(e.contains("add --evidence and --key"), "{e}");
    // One standard output at most, for either command (analyze: a usage error, exit 2).
    let sample = sample();
    for (cmd, code) in [
        (
            vec![
                "watch",
                "-i",
                "lo",
                "--flows",
                "-",
                "--eve",
                "-",
                "--duration",
                "1",
            ],
            1,
        ),
        (
            vec!["analyze", "--flows", "-", "--alerts", "-", s(&sample)],
            2,
        ),
    ] {
        let o = run(&cmd);
        let e = text(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(e.contains("only one of --flows, --alerts and --eve"), "{e}");
    }
}

#[test]
fn threads_write_the_same_rows() {
    let d = tmp("threads");
    let stats = |threads: &str| {
        let (store, keys) = (
            d.join(format!("ev{threads}.db")),
            d.join(format!("k{threads}")),
        );
        let o = run(&[
            "analyze",
            "--quiet",
            s(&sample()),
            "--threads",
            threads,
            "--evidence",
            s(&store),
            "--key",
            s(&keys),
            "--sensor",
            "test-sensor",
            "--retention",
            "1000",
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let o = run(&["evidence", "stats", "--evidence", s(&store), "--json"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_object_mut().unwrap().remove("bytes");
        v
    };
    let one = stats("1");
    assert!(one["rows"].as_u64().unwrap() > 20, "{one}");
    assert_eq!(stats("2"), one);
}
