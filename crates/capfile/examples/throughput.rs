//! Parser throughput on synthetic in-memory files:
//! `cargo run --release -p swarmwall-capfile --example throughput`.

use std::hint::black_box;
use std::time::Instant;

use swarmwall_capfile::{Event, Parser};

const RECORDS: u32 = 4_000_000;

fn pcap(big: bool) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    f.extend(w32(0xa1b2_c3d4));
    f.extend(w16(2));
    f.extend(w16(4));
    f.extend([0; 8]);
    f.extend(w32(65_535));
    f.extend(w32(1));
    for i in 0..RECORDS {
        let len = 40 + (i % 64);
        f.extend(w32(1_700_000_000 + i / 1000));
        f.extend(w32(i % 1_000_000));
        f.extend(w32(len));
        f.extend(w32(len + 100));
        f.extend(std::iter::repeat_n(i as u8, len as usize));
    }
    f
}

fn pcapng() -> Vec<u8> {
    let mut f = Vec::new();
    let block = |f: &mut Vec<u8>, t: u32, body: &[u8]| {
        let len = (12 + body.len()) as u32;
        f.extend(t.to_le_bytes());
        f.extend(len.to_le_bytes());
        f.extend(body);
        f.extend(len.to_le_bytes());
    };
    let mut shb = Vec::new();
    shb.extend(0x1a2b_3c4du32.to_le_bytes());
    shb.extend([1, 0, 0, 0]);
    shb.extend(u64::MAX.to_le_bytes());
    block(&mut f, 0x0a0d_0d0a, &shb);
    block(&mut f, 1, &[1, 0, 0, 0, 0, 0, 4, 0]);
    for i in 0..RECORDS {
        let len = 40 + (i % 64);
        let ts = 1_700_000_000_000_000u64 + u64::from(i);
        let mut body = Vec::new();
        body.extend(0u32.to_le_bytes());
        body.extend(((ts >> 32) as u32).to_le_bytes());
        body.extend((ts as u32).to_le_bytes());
        body.extend(len.to_le_bytes());
        body.extend((len + 100).to_le_bytes());
        body.extend(std::iter::repeat_n(
            i as u8,
            len.next_multiple_of(4) as usize,
        ));
        block(&mut f, 6, &body);
    }
    f
}

fn run(name: &str, file: &[u8]) {
    let start = Instant::now();
    let mut parser = Parser::new();
    let mut rest = file;
    let (mut packets, mut bytes) = (0u64, 0u64);
    while let Some((event, consumed)) = parser.next(black_box(rest)).unwrap_or(None) {
        if let Event::Packet(p) = event {
            packets += 1;
            bytes += u64::from(p.orig_len) + p.ts_nanos as u64 + u64::from(p.linktype);
        }
        rest = &rest[consumed..];
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(bytes);
    println!(
        "{name}: {packets} records in {:.1} ms: {:.1} M records/s, {:.2} GB/s",
        secs * 1e3,
        packets as f64 / secs / 1e6,
        file.len() as f64 / secs / 1e9
    );
}

fn main() {
    let le = pcap(false);
    let be = pcap(true);
    let ng = pcapng();
    for _ in 0..3 {
        run("pcap little-endian", &le);
        run("pcap big-endian", &be);
        run("pcapng little-endian", &ng);
    }
}
