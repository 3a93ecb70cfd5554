//! The hand-written flow record writer against `serde_json` on the same record: byte for byte,
//! on every record of the repository's lab captures and the shared corpus's (when present), and
//! on those records again with a tunnel to a host name that needs escaping, peer ids, IPv6 ends
//! and times before 1970 — the JSON is a contract.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use engine::{Config, Engine, FlowRecord, Target, Tunnel, TunnelKind};
use swarmwall_io::record::{Json, write_line};
use wire::LinkType;

fn records(path: &Path) -> Vec<FlowRecord> {
    let data = std::fs::read(path).unwrap();
    let mut e = Engine::new(Config::default());
    let mut out = Vec::new();
    let mut parser = capfile::Parser::new();
    let mut rest = &data[..];
    while let Ok(Some((ev, used))) = parser.next(rest) {
        if let capfile::Event::Packet(p) = ev {
            e.frame(
                LinkType::from_number(p.linktype),
                p.ts_nanos,
                p.data,
                p.orig_len,
                &mut |r| out.push(r),
            );
        }
        rest = &rest[used..];
    }
    e.finish(&mut |r| out.push(r));
    out
}

fn check(r: &FlowRecord) {
    let mut want = serde_json::to_vec(&Json::new(r)).unwrap();
    want.push(b'\n');
    let mut got = Vec::new();
    write_line(&mut got, r).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want),
        "{r:?}"
    );
}

fn captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs = vec![root.join("testdata/lab"), root.join("samples")];
    let corpus = std::env::var_os("SWARMWALL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/corpus"));
    if corpus.join("lab").is_dir() {
        dirs.push(corpus.join("lab"));
    } else {
        eprintln!(
            "corpus not found at {}: the repository's captures only",
            corpus.display()
        );
    }
    let mut v: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_record_is_what_serde_writes() {
    let mut n = 0;
    for c in captures() {
        for mut r in records(&c) {
            check(&r);
            // The same record through the parts real captures here rarely hold.
            r.tunnel = Some(Tunnel {
                kind: TunnelKind::Socks5,
                target: Target::Name("tr\"ack\\er.ex\u{e4}mple\n".into(), 6969),
                command: "connect",
                relay: None,
            });
            r.client_peer_id = bt::PeerId::from_slice(b"-TR3000-abcdefghijkl");
            r.server_peer_id = bt::PeerId::from_slice(b"-qB4250-\"\\\x01abcdefghi");
            r.client = "[2001:db8::1]:6881".parse().unwrap();
            r.first_ns = -1_234_567_891;
            check(&r);
            n += 1;
        }
    }
    assert!(n > 100, "{n} records");
}
