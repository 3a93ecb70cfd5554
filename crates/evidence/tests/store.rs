//! The evidence store on real lab captures: nothing of an address in the files, every
//! BitTorrent flow of every host found with the key and nothing without it, retention and key
//! destruction on an injected clock, crash safety under kill -9, bad stores refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use engine::FlowRecord;
use swarmwall_evidence::{
    DAY, KeyRing, LocalNets, Lookup, Recorder, Writer, open, query, sqlite::Sqlite,
};

/// "Now" for queries over the lab captures' rows (a day after them).
const NOW: i64 = 1_795_400_000;

/// A key file with a fixed key from `first` (deterministic store files).
fn fixed_keys(path: &Path, first: i64) {
    let key: String = (0..32u8)
        .map(|i| format!("{:02x}", i.wrapping_mul(37)))
        .collect();
    let text = format!(
        "swarmwall-evidence-keys 2\nperiod-seconds 86400\nfirst-period {first}\nkey {key}\n"
    );
    std::fs::write(path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A writer; a new key file starts at period `first`.
fn writer(store: &Path, keys: &Path, sensor: &str, retention_days: i64, first: i64) -> Writer {
    let backend = open(store.to_str().unwrap()).unwrap();
    let recorder = Recorder::new(
        KeyRing::open_or_create(keys, DAY, first).unwrap(),
        LocalNets::private(),
        sensor.into(),
    );
    Writer::new(
        backend,
        recorder,
        retention_days * DAY,
        format!("test-{sensor}"),
    )
}

fn store_bytes(store: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = store.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(b) = std::fs::read(&p) {
            all.extend(b);
        }
    }
    all
}

#[test]
fn no_address_in_the_store_and_every_flow_found_with_the_key_only() {
    let d = tmpdir("leak");
    let (store, keys) = (d.join("evidence.db"), d.join("keys"));
    let mut all: Vec<FlowRecord> = lab_captures().iter().flat_map(|p| records(p)).collect();
    // IPv6 copies of some BitTorrent flows (the lab captures in the repository are IPv4).
    let bt: Vec<FlowRecord> = all
        .iter()
        .filter(|r| r.is_bittorrent())
        .take(20)
        .cloned()
        .collect();
    for (i, r) in bt.iter().enumerate() {
        all.push(moved(r, &format!("fd77::{}", i + 1), "2001:db8:77::99"));
    }
    let first = all
        .iter()
        .map(|r| r.first_ns.div_euclid(1_000_000_000 * DAY))
        .min()
        .unwrap();
    fixed_keys(&keys, first);
    let mut w = writer(&store, &keys, "lab", 100_000, first);
    for r in &all {
        w.record(r).unwrap();
    }
    w.commit().unwrap();
    let rows = w.counters.rows;
    drop(w);
    let n_bt = all.iter().filter(|r| r.is_bittorrent()).count() as u64;
    assert_eq!(rows, n_bt);
    assert!(
        rows > 50,
        "only {rows} BitTorrent flows in the lab captures"
    );

    // Nothing of any address, in any form, in the store's files.
    let bytes = store_bytes(&store);
    let mut addrs: BTreeSet<IpAddr> = BTreeSet::new();
    for r in &all {
        addrs.insert(r.client.ip());
        addrs.insert(r.server.ip());
        if let Some(engine::Tunnel {
            target: engine::Target::Addr(a),
            ..
        }) = &r.tunnel
        {
            addrs.insert(a.ip());
        }
    }
    assert!(addrs.len() > 10);
    for ip in &addrs {
        for (form, needle) in forms(*ip) {
            assert!(
                !find_any(&bytes, &needle),
                "{ip} found in the store as {form}"
            );
        }
    }

    // With the key: every BitTorrent flow of every host.
    let ring = KeyRing::open(&keys).unwrap();
    let mut backend = open(store.to_str().unwrap()).unwrap();
    let mut expected: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for r in all.iter().filter(|r| r.is_bittorrent()) {
        *expected.entry(r.client.ip()).or_default() += 1;
        if r.server.ip() != r.client.ip() {
            *expected.entry(r.server.ip()).or_default() += 1;
        }
    }
    for (ip, n) in &expected {
        let q = any_time(*ip);
        let found = query::find(backend.as_mut(), &ring, &q, NOW).unwrap();
        assert_eq!(
            found.len(),
            *n,
            "{ip}: {} rows found, {n} flows",
            found.len()
        );
        assert!(found.iter().all(|m| m.ip == ip.to_string()));
    }
    // A port and a torrent narrow the rows to the flows that have them.
    let r = all
        .iter()
        .find(|r| r.is_bittorrent() && !r.infohashes.is_empty())
        .unwrap();
    let h = r.infohashes[0].to_hex();
    let q = Lookup {
        ip: r.client.ip(),
        port: Some(r.client.port()),
        from_s: r.first_ns / 1_000_000_000,
        to_s: r.last_ns / 1_000_000_000,
        infohash: Some(h.to_ascii_uppercase()),
    };
    let found = query::find(backend.as_mut(), &ring, &q, NOW).unwrap();
    assert!(!found.is_empty());
    assert!(
        found
            .iter()
            .all(|m| m.port == r.client.port() && m.infohashes.contains(&h))
    );
    // Presence of a local host that did no BitTorrent at all is known too.
    let quiet = all
        .iter()
        .flat_map(|r| [r.client.ip(), r.server.ip()])
        .find(|ip| LocalNets::private().contains(*ip) && !expected.contains_key(ip));
    if let Some(ip) = quiet {
        let p = query::presence(backend.as_mut(), &ring, ip, 0, i64::MAX / 2, NOW).unwrap();
        assert!(!p.is_empty(), "{ip} not present");
    }

    // Under other keys (the key file lost, a new one made), nothing.
    std::fs::remove_file(&keys).unwrap();
    assert!(KeyRing::open(&keys).is_err());
    let other = KeyRing::open_or_create(&keys, DAY, ring.first_period()).unwrap();
    for ip in expected.keys() {
        let q = any_time(*ip);
        assert!(
            query::find(backend.as_mut(), &other, &q, NOW)
                .unwrap()
                .is_empty()
        );
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn retention_destroys_keys_then_rows() {
    let d = tmpdir("retention");
    let (store, keys) = (d.join("e.db"), d.join("keys"));
    let recs = records(&lab_captures()[1]);
    let bt = recs.iter().find(|r| r.is_bittorrent()).unwrap().clone();
    let at_day = |day: i64| {
        let mut r = bt.clone();
        let len = r.last_ns - r.first_ns;
        r.first_ns = day * DAY * 1_000_000_000 + 3_600 * 1_000_000_000;
        r.last_ns = r.first_ns + len;
        r
    };
    let mut w = writer(&store, &keys, "s", 2, 10);
    for day in [10, 11, 12] {
        w.record(&at_day(day)).unwrap();
    }
    w.commit().unwrap();
    assert_eq!(w.counters.rows, 3);
    let ip = bt.client.ip();
    let count = |keys: &Path| {
        let ring = KeyRing::open(keys).unwrap();
        let mut b = open(store.to_str().unwrap()).unwrap();
        let q = Lookup {
            ip,
            port: None,
            from_s: 0,
            to_s: 100 * DAY,
            infohash: None,
        };
        query::find(b.as_mut(), &ring, &q, 100 * DAY).unwrap().len()
    };
    assert_eq!(count(&keys), 3);
    // Ledger entries of notices of days 10 and 12.
    let mut b = open(store.to_str().unwrap()).unwrap();
    let entry = |day: i64| swarmwall_evidence::ledger::Entry {
        recorded_s: day * DAY + 7_200,
        notice_s: day * DAY + 3_600,
        subscriber: [1; 16],
        address: [2; 16],
        case_id: Some(format!("case-{day}")),
        digest: [day as u8; 32],
        verdict: "corroborated".into(),
    };
    b.record_notices(&[entry(10), entry(12)]).unwrap();
    drop(b);
    // Day 13, 01:00: the window (2 days) reaches back to day 11, 01:00; day 10 is out.
    let pruned = w.prune(13 * DAY + 3_600).unwrap();
    let mut b = open(store.to_str().unwrap()).unwrap();
    let left: Vec<_> = b
        .ledger()
        .unwrap()
        .into_iter()
        .map(|e| e.case_id.unwrap())
        .collect();
    assert_eq!(
        left,
        vec!["case-12".to_string()],
        "the ledger follows retention"
    );
    drop(b);
    assert_eq!(pruned.rows, 1);
    assert_eq!(w.counters.keys_destroyed, 1);
    let ring = KeyRing::open(&keys).unwrap();
    assert_eq!((ring.first_period(), ring.get(10).is_some()), (11, false));
    assert_eq!(count(&keys), 2);
    // A record of day 10 arriving now is past retention: not stored (its key is gone).
    w.record(&at_day(10)).unwrap();
    w.commit().unwrap();
    assert_eq!(w.counters.too_old, 1);
    assert_eq!(KeyRing::open(&keys).unwrap().get(10), None);
    // Much later: nothing left, and the file's key is of a period after every row's.
    w.prune(40 * DAY).unwrap();
    assert_eq!(KeyRing::open(&keys).unwrap().first_period(), 38);
    let mut b = open(store.to_str().unwrap()).unwrap();
    let s = b.stats().unwrap();
    assert_eq!((s.rows, s.presence), (0, 0));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_stores_are_refused_and_kept() {
    let d = tmpdir("bad");
    // Not SQLite at all.
    let p = d.join("notes.txt");
    std::fs::write(&p, "these are my notes, not a database, and they are long enough ....................................................................").unwrap();
    let e = open(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: evidence store: ", p.display())),
        "{e}"
    );
    assert!(e.contains("not an SQLite database"), "{e}");
    assert!(
        std::fs::read_to_string(&p)
            .unwrap()
            .starts_with("these are my notes")
    );
    // Another application's database.
    let p = d.join("other.db");
    rusqlite::Connection::open(&p)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let e = open(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(e.contains("not a swarmwall evidence store"), "{e}");
    // A store of a newer schema.
    let p = d.join("newer.db");
    Sqlite::open(&p).unwrap();
    rusqlite::Connection::open(&p)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let e = open(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(e.contains("schema version 99 is newer"), "{e}");
    // A new store is 0600.
    use std::os::unix::fs::PermissionsExt;
    let p = d.join("new.db");
    Sqlite::open(&p).unwrap();
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::remove_dir_all(&d).ok();
}

/// The child of `kill_9_loses_at_most_the_uncommitted_batch`: writes batches until killed,
/// printing the number of rows committed after each commit.
#[test]
#[ignore = "run by kill_9_loses_at_most_the_uncommitted_batch"]
fn kill_9_child_writer() {
    let Ok(dir) = std::env::var("SWARMWALL_KILL_TEST_DIR") else {
        return;
    };
    let d = PathBuf::from(dir);
    let recs: Vec<FlowRecord> = records(&lab_captures()[0])
        .into_iter()
        .filter(|r| r.is_bittorrent())
        .collect();
    let mut w = writer(&d.join("e.db"), &d.join("keys"), "k", 100_000, 0);
    w.set_batch(usize::MAX);
    let mut out = std::io::stdout().lock();
    for round in 0u64.. {
        for r in recs.iter().cycle().take(BATCH) {
            w.record(r).unwrap();
        }
        w.commit().unwrap();
        writeln!(out, "committed {}", (round + 1) * BATCH as u64).unwrap();
        out.flush().unwrap();
    }
}

const BATCH: usize = 97;

#[test]
fn kill_9_loses_at_most_the_uncommitted_batch() {
    for attempt in 0..4u64 {
        let d = tmpdir("kill");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "kill_9_child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SWARMWALL_KILL_TEST_DIR", &d)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut committed = 0u64;
        // Let it commit a few batches, then kill it at a moment that varies.
        while committed < 5 * BATCH as u64 {
            let line = lines.next().unwrap().unwrap();
            if let Some(n) = line.strip_prefix("committed ") {
                committed = n.parse().unwrap();
            }
        }
        std::thread::sleep(std::time::Duration::from_micros(300 * attempt + 50));
        child.kill().unwrap(); // SIGKILL
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("committed ") {
                committed = n.parse().unwrap();
            }
        }
        child.wait().unwrap();
        let c = rusqlite::Connection::open(d.join("e.db")).unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let rows: i64 = c
            .query_row("SELECT count(*) FROM flows", [], |r| r.get(0))
            .unwrap();
        let rows = rows as u64;
        assert!(rows >= committed, "{rows} rows, {committed} committed");
        assert!(
            rows <= committed + BATCH as u64,
            "{rows} rows, {committed} reported"
        );
        assert_eq!(rows % BATCH as u64, 0, "a batch was written in part");
        drop(c);
        // The store opens and takes more.
        let mut w = writer(&d.join("e.db"), &d.join("keys"), "k", 100_000, 0);
        w.record(
            &records(&lab_captures()[0])
                .into_iter()
                .find(|r| r.is_bittorrent())
                .unwrap(),
        )
        .unwrap();
        w.commit().unwrap();
        std::fs::remove_dir_all(&d).ok();
    }
}
