//! The evidence store on a real PostgreSQL: a throw-away cluster (initdb and pg_ctl, as the
//! unprivileged `postgres` user, on a Unix socket in a temporary folder, password
//! authentication), the documented roles (owner, insert-only sensor, reader), two writers at
//! once, a writer whose server stops and comes back, a `pg_dump` searched for every address,
//! and bad URLs, passwords and schemas.
//!
//! Skips, saying so, where PostgreSQL's server is not installed (Debian: `postgresql`) or no
//! `postgres` user exists; `.ci/run` installs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use common::*;
use engine::FlowRecord;
use swarmwall_evidence::postgres::Postgres;
use swarmwall_evidence::{DAY, KeyRing, LocalNets, Recorder, Writer, open, open_sensor, query};
use swarmwall_testkit::{Cluster, OWNER_PW, READER_PW, SENSOR_PW};

/// "Now" for queries: a day after the lab captures.
const NOW: i64 = 1_795_400_000;

fn recorder(keys: &Path, sensor: &str, first: i64) -> Recorder {
    Recorder::new(
        KeyRing::open_or_create(keys, DAY, first).unwrap(),
        LocalNets::private(),
        sensor.into(),
    )
}

fn all_records() -> Vec<FlowRecord> {
    lab_captures().iter().flat_map(|p| records(p)).collect()
}

fn first_period(recs: &[FlowRecord]) -> i64 {
    recs.iter()
        .map(|r| r.first_ns.div_euclid(1_000_000_000 * DAY))
        .min()
        .unwrap()
}

/// Rows of every BitTorrent flow of `ip` in the store, found with the key file.
fn found(url: &str, keys: &Path, ip: IpAddr) -> usize {
    let ring = KeyRing::open(keys).unwrap();
    let mut b = open(url).unwrap();
    query::find(b.as_mut(), &ring, &any_time(ip), NOW)
        .unwrap()
        .len()
}

#[test]
fn roles_two_writers_outage_and_no_address_in_a_dump() {
    let Some(pg) = Cluster::start("main") else {
        return;
    };
    let owner = pg.url("swarmwall_owner", OWNER_PW);
    let sensor = pg.url("sensor", SENSOR_PW);
    let reader = pg.url("reader", READER_PW);

    // Before migration a sensor is told what to do.
    let e = open(&sensor).unwrap_err().to_string();
    assert!(e.contains("swarmwall evidence migrate"), "{e}");
    assert!(!e.contains(SENSOR_PW), "the password is in a message: {e}");
    let applied = Postgres::migrate(&owner, Some("sensor"), Some("reader")).unwrap();
    assert_eq!(applied, vec![1, 2, 3]);
    assert!(
        Postgres::migrate(&owner, Some("sensor"), Some("reader"))
            .unwrap()
            .is_empty()
    );

    let d = tmpdir("pg-work");
    let keys = d.join("keys");
    let recs = all_records();
    let first = first_period(&recs);
    // One key file, copied to both sensors: both derive the same keys.
    KeyRing::open_or_create(&keys, DAY, first).unwrap();
    let keys_b = d.join("keys-b");
    std::fs::copy(&keys, &keys_b).unwrap();

    // Two writers at once, each with half of the flows.
    let (half_a, half_b): (Vec<_>, Vec<_>) = recs
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let spawn = |name: &'static str, keys: PathBuf, part: Vec<(usize, FlowRecord)>| {
        let url = sensor.clone();
        let spool = d.join(format!("{name}.spool"));
        std::thread::spawn(move || {
            let store = open_sensor(&url, &spool, 1_000_000).unwrap();
            let mut w = Writer::new(store, recorder(&keys, name, first), 1000 * DAY, name.into());
            w.set_batch(50);
            for (_, r) in &part {
                w.record(r).unwrap();
            }
            w.commit().unwrap();
            w.counters
        })
    };
    let a = spawn("sensor-a", keys.clone(), half_a);
    let b = spawn("sensor-b", keys_b, half_b);
    let (ca, cb) = (a.join().unwrap(), b.join().unwrap());
    let n_bt = recs.iter().filter(|r| r.is_bittorrent()).count() as u64;
    assert_eq!(ca.rows + cb.rows, n_bt);
    assert!(ca.rows > 0 && cb.rows > 0);

    // The reader finds every BitTorrent flow of each host, whichever sensor wrote it.
    let mut per_host = std::collections::BTreeMap::<IpAddr, usize>::new();
    for r in recs.iter().filter(|r| r.is_bittorrent()) {
        *per_host.entry(r.client.ip()).or_default() += 1;
        if r.server.ip() != r.client.ip() {
            *per_host.entry(r.server.ip()).or_default() += 1;
        }
    }
    for (ip, n) in &per_host {
        assert_eq!(found(&reader, &keys, *ip), *n, "{ip}");
    }

    // A sensor may only insert; a reader may only select.
    let mut s = open(&sensor).unwrap();
    let e = s.prune(i64::MAX, i64::MAX).unwrap_err();
    assert!(
        swarmwall_evidence::postgres::is_permission_denied(&e),
        "{e}"
    );
    let mut r = open(&reader).unwrap();
    assert!(
        r.write(&Default::default()).is_ok(),
        "an empty batch writes nothing"
    );
    let one = swarmwall_evidence::Batch {
        sensor: "reader".into(),
        coverage: vec![swarmwall_evidence::Coverage {
            sensor: "reader".into(),
            run: "x".into(),
            from_s: 0,
            to_s: 1,
        }],
        ..Default::default()
    };
    let e = r.write(&one).unwrap_err();
    assert!(
        swarmwall_evidence::postgres::is_permission_denied(&e),
        "{e}"
    );

    // Two sensors share what they learned of endpoints (the sensor role may), by tag: every
    // endpoint sensor-a published reaches sensor-b, none of sensor-b's own comes back to it.
    let t0 = recs.iter().map(|r| r.first_ns).min().unwrap();
    let now_s = t0.div_euclid(1_000_000_000);
    let learned: Vec<engine::Fact> = recs
        .iter()
        .map(|r| engine::Fact::Endpoint {
            addr: r.server,
            hash: r.infohashes.first().copied(),
            source: engine::Source::ALL[0],
            at_ns: r.first_ns,
        })
        .collect();
    let ring = KeyRing::open(&keys).unwrap();
    let mut fa =
        swarmwall_evidence::facts::Sharer::open(&sensor, &ring, "sensor-a", now_s).unwrap();
    let mut fb =
        swarmwall_evidence::facts::Sharer::open(&sensor, &ring, "sensor-b", now_s).unwrap();
    assert!(fa.exchange(&learned, t0).is_empty());
    assert!(fa.take_messages().is_empty(), "{:?}", fa.take_messages());
    let got = fb.exchange(&learned[..1], t0);
    let distinct: BTreeSet<_> = learned
        .iter()
        .map(|f| match f {
            engine::Fact::Endpoint { addr, hash, .. } => (*addr, *hash),
            _ => unreachable!(),
        })
        .collect();
    // Each at least once (again when learned again more than a minute later).
    assert!(fa.counters.published as usize >= distinct.len());
    assert_eq!(
        got.len() as u64,
        fa.counters.published,
        "b reads all of a's"
    );
    let tagger = fb.tagger();
    for (addr, hash) in &distinct {
        let tag = tagger.tag(addr, t0).unwrap();
        assert!(
            got.iter().any(|f| matches!(f, engine::Fact::Remote { tag: t, hash: h, .. } if t == &tag && h == hash)),
            "{addr} {hash:?}"
        );
    }
    assert_eq!(fa.exchange(&[], t0).len(), 1, "a reads b's one");
    assert!(fb.take_messages().is_empty());
    // A sensor may not choose a fact's id (one far ahead would move every reader's cursor
    // past all the facts to come).
    let mut client = postgres::Client::connect(
        &format!(
            "host={} user=sensor password={SENSOR_PW} dbname=evidence",
            pg.dir().display()
        ),
        postgres::NoTls,
    )
    .unwrap();
    let e = client
        .execute(
            "INSERT INTO facts (id, sensor, tag, source, at_ns) VALUES ($1, 'x', '\\x00', 'pex', 0)",
            &[&(i64::MAX - 1)],
        )
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{e}"
    );
    // A reader may not.
    let mut r = open(&reader).unwrap();
    let e = r.prune_facts(i64::MAX).unwrap_err();
    assert!(
        swarmwall_evidence::postgres::is_permission_denied(&e),
        "{e}"
    );

    // Nothing of any address, in any form, in a dump of the database.
    let dump = pg.dump();
    assert!(dump.len() > 10_000, "dump of {} bytes", dump.len());
    let addrs: BTreeSet<IpAddr> = recs
        .iter()
        .flat_map(|r| [r.client.ip(), r.server.ip()])
        .collect();
    for ip in &addrs {
        // A dump is text (bytea as hex, integers in decimal); raw bytes are looked for too.
        for (form, needle) in forms(*ip) {
            assert!(
                !find_any(&dump, &needle),
                "{ip} found in the dump as {form}"
            );
        }
    }

    // A writer whose server stops and comes back: nothing lost.
    let spool = d.join("outage.spool");
    let store = open_sensor(&sensor, &spool, 1_000_000).unwrap();
    let mut w = Writer::new(
        store,
        recorder(&keys, "sensor-c", first),
        1000 * DAY,
        "c".into(),
    );
    w.set_batch(20);
    let bt: Vec<&FlowRecord> = recs.iter().filter(|r| r.is_bittorrent()).collect();
    let third = bt.len() / 3;
    for r in &bt[..third] {
        w.record(r).unwrap();
    }
    w.commit().unwrap();
    pg.pg_ctl("stop");
    for r in &bt[third..2 * third] {
        w.record(r).unwrap();
    }
    w.commit().unwrap();
    let sp = w.counters.spool.unwrap();
    assert!(sp.spooled > 0 && sp.outages >= 1, "{sp:?}");
    let messages = w.take_messages();
    assert!(
        messages.iter().any(|m| m.contains("spooling")),
        "{messages:?}"
    );
    // Sharing pauses while the server is away (what is learned meanwhile is lost, counted),
    // and resumes by itself.
    let fact = |port: u16| engine::Fact::Endpoint {
        addr: std::net::SocketAddr::from(([192, 0, 2, 1], port)),
        hash: None,
        source: engine::Source::ALL[0],
        at_ns: t0,
    };
    assert!(fa.exchange(&[fact(1)], t0).is_empty());
    let m = fa.take_messages();
    assert!(
        m.iter().any(|m| m.contains("sharing facts paused")),
        "{m:?}"
    );
    assert_eq!((fa.counters.lost, fa.counters.errors), (1, 1));
    assert!(fb.exchange(&[], t0).is_empty());
    pg.pg_ctl("start");
    std::thread::sleep(std::time::Duration::from_secs(5)); // the retry intervals
    let published = fa.counters.published;
    fa.exchange(&[fact(2)], t0);
    let m = fa.take_messages();
    assert!(m.iter().any(|m| m.contains("sharing facts again")), "{m:?}");
    assert_eq!(fa.counters.published, published + 1);
    assert_eq!(fb.exchange(&[], t0).len(), 1, "b reads it");
    assert!(
        fb.take_messages()
            .iter()
            .any(|m| m.contains("sharing facts again"))
    );
    for r in &bt[2 * third..] {
        w.record(r).unwrap();
    }
    w.commit().unwrap();
    let sp = w.counters.spool.unwrap();
    assert_eq!(
        (sp.sent, sp.waiting, sp.dropped),
        (sp.spooled, 0, 0),
        "{sp:?}"
    );
    let mut o = open(&owner).unwrap();
    let st = o.stats().unwrap();
    assert_eq!(st.rows, 2 * n_bt, "rows of sensors a and b, then c's");
    assert!(st.sensors.contains(&"sensor-c".to_string()));

    // The owner prunes.
    let pruned = o.prune(i64::MAX, i64::MAX).unwrap();
    assert_eq!(pruned.rows, 2 * n_bt);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_urls_passwords_and_schemas_are_one_line_errors() {
    let Some(pg) = Cluster::start("bad") else {
        return;
    };
    let owner = pg.url("swarmwall_owner", OWNER_PW);
    Postgres::migrate(&owner, Some("sensor"), None).unwrap();
    for (url, expect) in [
        (
            pg.url("sensor", "wrong-password"),
            "password authentication failed",
        ),
        (pg.url("nobody", "x"), "password authentication failed"),
        (
            format!("postgres://sensor:{SENSOR_PW}@{}/nosuchdb", pg.host()),
            "does not exist",
        ),
        (
            "postgres://sensor@%2Fnonexistent%2Fdir/evidence".to_string(),
            "cannot connect",
        ),
        ("postgres://[::1".to_string(), "not a PostgreSQL URL"),
    ] {
        let e = open(&url).unwrap_err().to_string();
        assert!(e.contains(expect), "{url}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            !e.contains(SENSOR_PW) && !e.contains("wrong-password"),
            "password shown: {e}"
        );
    }
    // A newer schema than this swarmwall knows.
    pg.psql_owner(
        "evidence",
        "INSERT INTO swarmwall_schema (version) VALUES (99);",
    );
    let e = open(&pg.url("sensor", SENSOR_PW)).unwrap_err().to_string();
    assert!(e.contains("schema version 99 is newer"), "{e}");
}
