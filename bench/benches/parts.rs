//! Micro-benchmarks of the parts of `analyze`'s hot path (criterion): where the time of a
//! packet goes. `cargo bench -p swarmwall-bench --bench parts`.
//!
//! * `flow_table/N`: a packet of an established flow that no detector wants any more (the
//!   common case on a busy link): decode, key, lookup, counters, recency — with N flows in
//!   the table, so that the entries fit the caches (1,024) or do not (262,144).
//! * `detectors/CAPTURE`: the whole engine over one of the repository's lab captures, each
//!   mostly one protocol (DHT, UDP tracker, uTP, a mix): per packet, with its detectors.
//! * `record/write`: one flow record written as JSON (the hand-written writer).
//! * `read/pair_hash`: choosing a packet's worker (`analyze --threads`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use engine::{Config, Engine, FlowRecord};
use wire::LinkType;
use wire::build;
use wire::tcp::flags::{ACK, PSH, SYN};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every frame of a capture, with its link type and time.
fn frames(path: &Path) -> Vec<(u16, i64, Vec<u8>)> {
    let mut out = Vec::new();
    swarmwall_io::capture::read_path(path, |p, _| {
        out.push((p.linktype, p.ts_nanos, p.data.to_vec()));
    })
    .unwrap();
    out
}

fn flow_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_table");
    for n in [1_024u32, 262_144] {
        // n established flows (a handshake and one payload each, so the detectors decided),
        // then one more data-less ACK per flow, round and round.
        let mut engine = Engine::new(Config::default());
        let addr = |i: u32| -> (SocketAddr, SocketAddr) {
            let c = SocketAddr::from(([10, 77, (i >> 16) as u8, (i >> 8) as u8], 40_000));
            let s = SocketAddr::from(([10, 78, 0, i as u8], 443));
            (c, s)
        };
        let mut ts = 1_700_000_000_000_000_000i64;
        for i in 0..n {
            let (cl, sv) = addr(i);
            for f in [
                build::tcp(cl, sv, 1000, 0, SYN, &[]),
                build::tcp(sv, cl, 5000, 1001, SYN | ACK, &[]),
                build::tcp(cl, sv, 1001, 5001, PSH | ACK, b"\x16\x03\x01\x00\x05hello"),
                build::tcp(sv, cl, 5001, 1011, PSH | ACK, b"\x16\x03\x03\x00\x05hello"),
            ] {
                ts += 1_000;
                engine.frame(LinkType::Ethernet, ts, &f, f.len() as u32, &mut |_| {});
            }
        }
        let acks: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let (cl, sv) = addr(i);
                build::tcp(cl, sv, 1011, 5011, ACK, &[])
            })
            .collect();
        g.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                let f = &acks[i % acks.len()];
                i += 1;
                ts += 10;
                black_box(engine.frame(LinkType::Ethernet, ts, f, f.len() as u32, &mut |_| {}));
            })
        });
    }
    g.finish();
}

fn detectors(c: &mut Criterion) {
    let mut g = c.benchmark_group("detectors");
    let dir = root().join("testdata/lab");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    for path in files {
        let fr = frames(&path);
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        g.throughput(Throughput::Elements(fr.len() as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                || Engine::new(Config::default()),
                |mut e| {
                    let mut n = 0u64;
                    for (link, ts, f) in &fr {
                        e.frame(
                            LinkType::from_number(*link),
                            *ts,
                            f,
                            f.len() as u32,
                            &mut |_| n += 1,
                        );
                    }
                    e.finish(&mut |_| n += 1);
                    black_box(n)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn records(c: &mut Criterion) {
    let mut e = Engine::new(Config::default());
    let mut recs: Vec<FlowRecord> = Vec::new();
    for (link, ts, f) in frames(&root().join("samples/lab-mix.pcap")) {
        e.frame(
            LinkType::from_number(link),
            ts,
            &f,
            f.len() as u32,
            &mut |r| recs.push(r),
        );
    }
    e.finish(&mut |r| recs.push(r));
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(recs.len() as u64));
    let mut buf = Vec::with_capacity(1 << 20);
    g.bench_function("write", |b| {
        b.iter(|| {
            buf.clear();
            for r in &recs {
                swarmwall_io::record::write_record(&mut buf, r);
                buf.push(b'\n');
            }
            black_box(buf.len())
        })
    });
    g.finish();
}

fn read(c: &mut Criterion) {
    let fr = frames(&root().join("samples/lab-mix.pcap"));
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(fr.len() as u64));
    g.bench_function("pair_hash", |b| {
        b.iter(|| {
            let mut x = 0u64;
            for (link, _, f) in &fr {
                x ^= wire::pair_hash(LinkType::from_number(*link), f).unwrap_or(0);
            }
            black_box(x)
        })
    });
    g.finish();
}

criterion_group!(benches, flow_table, detectors, records, read);
criterion_main!(benches);
