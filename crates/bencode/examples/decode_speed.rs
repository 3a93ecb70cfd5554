//! Rough timing of the per-packet work on a ~700-byte DHT `get_peers` reply.
//!
//! `cargo run --release -p swarmwall-bencode --example decode_speed`

use std::hint::black_box;
use std::time::Instant;

use swarmwall_bencode::encode::Item;
use swarmwall_bencode::{Error, decode_exact};

fn reply() -> Vec<u8> {
    let nodes: Vec<u8> = (0..208u32).map(|i| (i * 37 % 251) as u8).collect();
    let peers: Vec<[u8; 6]> = (0..50u8).map(|i| [192, 168, 1, i, 0x1a, 0xe1]).collect();
    Item::dict([
        ("ip", Item::bytes(b"\x01\x02\x03\x04\x1a\xe1")),
        (
            "r",
            Item::dict([
                ("id", Item::str("abcdefghij0123456789")),
                ("nodes", Item::bytes(&nodes)),
                ("token", Item::str("aoeusnth")),
                ("values", Item::list(peers.iter().map(|p| Item::bytes(p)))),
            ]),
        ),
        ("t", Item::str("aa")),
        ("v", Item::str("LT\x01\x02")),
        ("y", Item::str("r")),
    ])
    .to_vec()
}

/// What a detector does per datagram: validate, then read a few fields.
fn per_packet(msg: &[u8]) -> Result<usize, Error> {
    let value = decode_exact(msg)?;
    let Some(dict) = value.as_dict() else {
        return Ok(0);
    };
    let mut n = usize::from(dict.get_bytes(b"y") == Some(b"r"));
    if let Some(r) = dict.get_dict(b"r") {
        n += r.get_bytes(b"id").map_or(0, <[u8]>::len);
        n += r.get_bytes(b"nodes").map_or(0, <[u8]>::len);
        if let Some(values) = r.get_list(b"values") {
            n += values.iter().filter_map(|v| v.as_bytes()).count();
        }
    }
    Ok(n)
}

fn time(label: &str, msg: &[u8], iters: u32, f: impl Fn(&[u8]) -> Result<usize, Error>) {
    let start = Instant::now();
    let mut sink = 0;
    for _ in 0..iters {
        sink += f(black_box(msg)).unwrap_or(0);
    }
    let per = start.elapsed() / iters;
    println!(
        "{label}: {per:?} per packet ({} bytes, sink {sink})",
        msg.len()
    );
}

fn main() {
    let msg = reply();
    let iters = 1_000_000;
    time("decode_exact only", &msg, iters, |m| {
        decode_exact(m).map(|v| usize::from(v.as_dict().is_some()))
    });
    time("decode + read fields", &msg, iters, per_packet);
}
