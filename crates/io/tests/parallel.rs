//! `analyze --threads`: the pool of engines against one engine on the same captures, with
//! short rounds so that facts cross between workers many times in a small capture.
//!
//! What must hold: the same flows (ends, counts, bytes, times, end reasons), the same kinds,
//! confidence and info-hashes; only the documented differences in `evidence` (an
//! `endpoint:*` source learned on another worker in the same round), `relabelled` and where
//! the decision was taken. The summary totals add up to one engine's. The order is the same
//! from run to run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use engine::{Config, Engine, FlowRecord};
use swarmwall_io::capture::{self, Input};
use swarmwall_io::parallel::{Options, Pool};
use swarmwall_io::record::write_line;
use wire::LinkType;

fn captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files: Vec<PathBuf> = ["testdata/lab", "samples", "testdata/attacks"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).into_iter().flatten())
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the repository's captures: {files:?}");
    files
}

/// One engine reading the captures one after the other.
fn one_engine(paths: &[&Path]) -> (Vec<FlowRecord>, engine::Totals) {
    let mut e = Engine::new(Config::default());
    let mut out = Vec::new();
    for path in paths {
        capture::read_path(path, |p, _| {
            e.frame(
                LinkType::from_number(p.linktype),
                p.ts_nanos,
                p.data,
                p.orig_len,
                &mut |r| out.push(r),
            );
        })
        .unwrap();
    }
    e.finish(&mut |r| out.push(r));
    (out, *e.totals())
}

fn pool(path: &Path, threads: usize, round: usize) -> (Vec<u8>, Vec<FlowRecord>, engine::Totals) {
    let mut pool = Pool::start(Options {
        threads,
        config: Config::default(),
        taps: None,
        json: true,
        records: true,
        round,
    })
    .unwrap();
    let mut json = Vec::new();
    let mut records = Vec::new();
    let mut on = |c: swarmwall_io::parallel::Chunk| {
        assert_eq!(c.flows as usize, c.records.len());
        json.extend_from_slice(&c.json);
        records.extend(c.records);
        ControlFlow::Continue(())
    };
    capture::read_shared(
        &Input::Path(path.to_path_buf()),
        |p, _, buf| pool.packet(p, buf, &mut on),
        |_| {},
    )
    .unwrap();
    let done = pool.finish(false, &mut on).unwrap();
    let flows: u64 =
        done.summary.by_kind.values().map(|v| v.flows).sum::<u64>() + done.summary.other.flows;
    assert_eq!(
        flows as usize,
        records.len(),
        "the summary counts every record"
    );
    (json, records, done.totals)
}

/// A record without what the split may change, as its JSON object.
fn comparable(r: &FlowRecord) -> String {
    let mut line = Vec::new();
    write_line(&mut line, r).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in [
        "evidence",
        "relabelled",
        "decided_at_packet",
        "decided_after_payloads",
    ] {
        assert!(o.remove(k).is_some(), "the record has no {k}");
    }
    v.to_string()
}

fn multiset(rs: &[FlowRecord]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rs {
        *m.entry(comparable(r)).or_default() += 1;
    }
    m
}

#[test]
fn many_workers_find_what_one_engine_finds() {
    let mut differing_evidence = 0;
    let mut total = 0;
    for path in captures() {
        let (want, want_totals) = one_engine(&[&path]);
        for (threads, round) in [(2, 64), (3, 17), (2, 1 << 12)] {
            let (json, got, totals) = pool(&path, threads, round);
            let name = format!(
                "{} with {threads} threads, rounds of {round}",
                path.display()
            );
            assert_eq!(multiset(&got), multiset(&want), "{name}");
            assert_eq!(totals.packets, want_totals.packets, "{name}");
            assert_eq!(totals.flows, want_totals.flows, "{name}");
            assert_eq!(totals.wire_bytes, want_totals.wire_bytes, "{name}");
            // The evidence a worker lacks is what another learned: never more than one engine.
            let by_key = |rs: &[FlowRecord]| -> BTreeMap<String, Vec<String>> {
                rs.iter()
                    .map(|r| {
                        let mut line = Vec::new();
                        write_line(&mut line, r).unwrap();
                        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
                        let mut ev: Vec<String> =
                            serde_json::from_value(v["evidence"].clone()).unwrap();
                        ev.sort();
                        (comparable(r), ev)
                    })
                    .collect()
            };
            let (mine, theirs) = (by_key(&got), by_key(&want));
            for (k, ev) in &mine {
                total += 1;
                let one = &theirs[k];
                if ev != one {
                    differing_evidence += 1;
                    for e in ev {
                        assert!(
                            one.contains(e) || !e.starts_with("endpoint:"),
                            "{name}: {e} not found by one engine: {k}"
                        );
                    }
                }
            }
            // The same order every time.
            let (again, _, _) = pool(&path, threads, round);
            assert!(json == again, "{name}: the order changed between runs");
        }
    }
    eprintln!("{differing_evidence} of {total} records with other evidence than one engine's");
}

#[test]
fn one_thread_is_one_engine_in_the_same_order() {
    for path in captures() {
        let (want, _) = one_engine(&[&path]);
        let (_, got, _) = pool(&path, 1, 64);
        let lines = |rs: &[FlowRecord]| -> Vec<u8> {
            let mut v = Vec::new();
            for r in rs {
                write_line(&mut v, r).unwrap();
            }
            v
        };
        // Rounds only move the clock to a time a packet already had: one worker's records
        // are one engine's, in its order.
        assert!(
            lines(&got) == lines(&want),
            "{}: one worker differs from one engine",
            path.display()
        );
    }
}

#[test]
fn several_inputs_are_one_run() {
    // Two captures read one after the other, as `analyze A B` reads them: the rounds end with
    // each input, and the flows are those of one engine reading both.
    let files = captures();
    let (a, b) = (&files[0], &files[files.len() - 1]);
    let (want, want_totals) = one_engine(&[a, b]);
    let mut pool = Pool::start(Options {
        threads: 2,
        config: Config::default(),
        taps: None,
        json: false,
        records: true,
        round: 50,
    })
    .unwrap();
    let mut got = Vec::new();
    let mut on = |c: swarmwall_io::parallel::Chunk| {
        got.extend(c.records);
        ControlFlow::Continue(())
    };
    for f in [a, b] {
        capture::read_shared(
            &Input::Path(f.to_path_buf()),
            |p, _, buf| pool.packet(p, buf, &mut on),
            |_| {},
        )
        .unwrap();
        assert!(pool.end_round(&mut on).is_continue());
    }
    let done = pool.finish(false, &mut on).unwrap();
    assert_eq!(multiset(&got), multiset(&want));
    assert_eq!(done.totals.packets, want_totals.packets);
}
