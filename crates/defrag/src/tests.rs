//! Datagrams built with `wire::build`, cut into fragments, pushed in every order that matters.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use proptest::prelude::*;
use wire::build::{self, Frag};
use wire::ip::protocol;
use wire::{LinkType, Transport, decode_fragment};

use super::*;

const A4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const SEC: i64 = 1_000_000_000;

/// Decodes the fragment `frame` and pushes it, checking the table's invariants afterwards.
fn push(r: &mut Reassembler, frame: &[u8], ts: i64) -> Outcome {
    let frag = decode_fragment(LinkType::Ethernet, frame).unwrap().unwrap();
    let out = r.push(&frag, ts);
    r.check_invariants();
    out
}

/// Pushes the frames one millisecond apart and returns the datagrams completed.
fn run(r: &mut Reassembler, frames: &[Vec<u8>]) -> Vec<Datagram> {
    let mut done = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if let Outcome::Complete(d) = push(r, f, i as i64 * 1_000_000) {
            done.push(d);
        }
    }
    done
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A deterministic Fisher–Yates shuffle.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((seed >> 33) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

fn v4_frag(id: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let f = Frag {
        id: u32::from(id),
        offset,
        more,
        data,
    };
    build::ipv4_fragment(A4, B4, protocol::UDP, &f)
}

fn v6_frag(id: u32, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let f = Frag {
        id,
        offset,
        more,
        data,
    };
    build::ipv6_fragment(A6, B6, &[], protocol::UDP, &f)
}

fn frags_of(v6: bool, l4: &[u8], frag_len: usize) -> Vec<Vec<u8>> {
    if v6 {
        build::ipv6_fragments(A6, B6, &[], protocol::UDP, 0xdead_beef, l4, frag_len)
    } else {
        build::ipv4_fragments(A4, B4, protocol::UDP, 0xbeef, l4, frag_len)
    }
}

fn udp_of(d: &Datagram) -> (u16, u16, Vec<u8>, u32) {
    match d.decode().unwrap().transport {
        Transport::Udp {
            src_port,
            dst_port,
            payload,
            payload_wire_len,
        } => (src_port, dst_port, payload.to_vec(), payload_wire_len),
        other => panic!("{other:?}"),
    }
}

#[test]
fn in_order_reversed_shuffled_and_duplicated() {
    let body = pattern(5000);
    let l4 = build::udp_datagram(6881, 51413, &body);
    for v6 in [false, true] {
        let frames = frags_of(v6, &l4, 1480);
        assert_eq!(frames.len(), 4);
        let mut reversed = frames.clone();
        reversed.reverse();
        let mut shuffled = frames.clone();
        shuffle(&mut shuffled, 7);
        let f = &frames;
        let duplicated = vec![
            f[0].clone(),
            f[1].clone(),
            f[0].clone(),
            f[2].clone(),
            f[1].clone(),
            f[3].clone(),
        ];
        for (order, dups) in [
            (f.clone(), 0),
            (reversed, 0),
            (shuffled, 0),
            (duplicated, 2),
        ] {
            let mut r = Reassembler::new(Config::default());
            let done = run(&mut r, &order);
            assert_eq!(done.len(), 1, "v6 {v6}");
            let d = &done[0];
            assert_eq!(d.payload, l4);
            assert_eq!(d.payload_wire_len as usize, l4.len());
            assert_eq!((d.protocol, d.fragments), (protocol::UDP, 4));
            assert_eq!(d.src, if v6 { A6.into() } else { IpAddr::from(A4) });
            assert_eq!(d.id, if v6 { 0xdead_beef } else { 0xbeef });
            assert_eq!(d.wire_len() as usize, if v6 { 40 } else { 20 } + l4.len());
            assert_eq!(udp_of(d), (6881, 51413, body.clone(), 5000));
            let s = r.stats();
            assert_eq!(
                (s.fragments, s.reassembled, s.duplicates),
                (order.len() as u64, 1, dups)
            );
            assert_eq!((r.memory(), r.in_progress()), (0, 0));
        }
    }
}

#[test]
fn ipv6_fragment_header_after_other_extension_headers() {
    let body = pattern(3000);
    let udp = build::udp_datagram(1000, 2000, &body);
    // The fragmentable part opens with Destination Options (16 bytes), then UDP.
    let mut l4 = vec![protocol::UDP, 1, 0, 0, 0, 0, 0, 0];
    l4.extend([0u8; 8]);
    l4.extend_from_slice(&udp);
    let before = [protocol::HOP_BY_HOP, protocol::IPV6_ROUTING];
    let mut frames = build::ipv6_fragments(A6, B6, &before, protocol::IPV6_DEST_OPTS, 9, &l4, 1232);
    assert_eq!(frames.len(), 3);
    shuffle(&mut frames, 3);
    let mut r = Reassembler::new(Config::default());
    let done = run(&mut r, &frames);
    assert_eq!(done.len(), 1);
    let d = &done[0];
    assert_eq!(d.protocol, protocol::UDP);
    assert_eq!(d.payload, udp);
    assert_eq!(d.payload_wire_len as usize, udp.len());
    // IPv6 header, Hop-by-Hop, Routing, Destination Options; the Fragment header is gone.
    assert_eq!(d.header_len, 40 + 8 + 8 + 16);
    assert_eq!(udp_of(d), (1000, 2000, body, 3000));
}

/// A `get_peers` reply with `n` IPv4 nodes, bencoded.
fn dht_reply(n: usize) -> Vec<u8> {
    let mut nodes = Vec::with_capacity(26 * n);
    for i in 0..n {
        nodes.extend([i as u8; 20]);
        nodes.extend([10, 0, (i >> 8) as u8, i as u8]);
        nodes.extend(6881u16.to_be_bytes());
    }
    let mut m = b"d1:rd2:id20:".to_vec();
    m.extend([0xab; 20]);
    m.extend(format!("5:nodes{}:", nodes.len()).as_bytes());
    m.extend(&nodes);
    m.extend(b"5:token8:abcdefghe1:t2:aa1:v4:LT\x02\x081:y1:re");
    m
}

#[test]
fn nine_kb_dht_reply_reassembles_byte_for_byte() {
    let reply = dht_reply(350);
    assert!(reply.len() > 9000, "{}", reply.len());
    let l4 = build::udp_datagram(6881, 51413, &reply);
    for v6 in [false, true] {
        let mut frames = frags_of(v6, &l4, 1480);
        assert_eq!(frames.len(), 7);
        shuffle(&mut frames, 11);
        let mut r = Reassembler::new(Config::default());
        let done = run(&mut r, &frames);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].payload, l4);
        let (sport, dport, payload, wire) = udp_of(&done[0]);
        assert_eq!((sport, dport, wire as usize), (6881, 51413, reply.len()));
        assert_eq!(payload, reply);
        let msg = bt::krpc::parse(&payload).unwrap();
        let bt::krpc::Body::Response(resp) = msg.body else {
            panic!("not a response")
        };
        assert_eq!(resp.nodes().count(), 350);
    }
}

#[test]
fn overlap_discards_the_whole_datagram() {
    for v6 in [false, true] {
        let frag = |offset, more, data: &[u8]| {
            if v6 {
                v6_frag(5, offset, more, data)
            } else {
                v4_frag(5, offset, more, data)
            }
        };
        let mut r = Reassembler::new(Config::default());
        assert_eq!(push(&mut r, &frag(0, true, &[1; 16]), 0), Outcome::Held);
        assert_eq!(
            push(&mut r, &frag(8, true, &[2; 16]), 0),
            Outcome::Discarded(Reason::Overlap)
        );
        assert_eq!(r.stats().overlapping, 1);
        assert_eq!((r.memory(), r.in_progress()), (0, 0));
        // Later fragments start over, as in Linux: they cannot complete without the start.
        assert_eq!(push(&mut r, &frag(16, false, &[3; 8]), 0), Outcome::Held);
        assert_eq!(r.in_progress(), 1);

        // A fragment over a gap between two held pieces overlaps both.
        let mut r = Reassembler::new(Config::default());
        push(&mut r, &frag(0, true, &[1; 8]), 0);
        push(&mut r, &frag(16, false, &[3; 8]), 0);
        assert_eq!(
            push(&mut r, &frag(0, true, &[9; 24]), 0),
            Outcome::Discarded(Reason::Overlap)
        );
        // Overlapping the last fragment's start.
        let mut r = Reassembler::new(Config::default());
        push(&mut r, &frag(16, false, &[3; 8]), 0);
        assert_eq!(
            push(&mut r, &frag(8, true, &[9; 16]), 0),
            Outcome::Discarded(Reason::Overlap)
        );
        assert_eq!(r.stats().overlapping, 1);
    }
}

#[test]
fn duplicates_are_ignored_and_the_first_copy_wins() {
    let mut r = Reassembler::new(Config::default());
    assert_eq!(
        push(&mut r, &v4_frag(1, 0, true, b"aaaaaaaa"), 0),
        Outcome::Held
    );
    assert_eq!(
        push(&mut r, &v4_frag(1, 8, true, b"bbbbbbbb"), 0),
        Outcome::Held
    );
    // Exact duplicates, one with other bytes, and one covering two held pieces exactly.
    for dup in [
        v4_frag(1, 0, true, b"aaaaaaaa"),
        v4_frag(1, 8, true, b"XXXXXXXX"),
        v4_frag(1, 0, true, b"YYYYYYYYYYYYYYYY"),
        v4_frag(1, 8, true, b"ZZZZZZZZ"),
    ] {
        assert_eq!(push(&mut r, &dup, 0), Outcome::Duplicate);
    }
    let Outcome::Complete(d) = push(&mut r, &v4_frag(1, 16, false, b"cccc"), 0) else {
        panic!("not complete")
    };
    assert_eq!(d.payload, b"aaaaaaaabbbbbbbbcccc");
    assert_eq!(d.fragments, 3);
    assert_eq!(r.stats().duplicates, 4);
    // A duplicate after completion starts a new datagram, which will expire.
    assert_eq!(
        push(&mut r, &v4_frag(1, 8, true, b"bbbbbbbb"), 0),
        Outcome::Held
    );
    r.expire(DEFAULT_TIMEOUT_NS);
    assert_eq!((r.stats().expired, r.memory()), (1, 0));
}

#[test]
fn missing_piece_times_out() {
    let l4 = build::udp_datagram(1, 2, &pattern(4000));
    let frames = frags_of(false, &l4, 1480);
    let mut r = Reassembler::new(Config::default());
    assert_eq!(push(&mut r, &frames[0], 10 * SEC), Outcome::Held);
    assert_eq!(push(&mut r, &frames[2], 11 * SEC), Outcome::Held);
    // Another datagram, later; then time standing still or going back changes nothing.
    assert_eq!(
        push(&mut r, &v4_frag(2, 0, true, &[0; 8]), 40 * SEC),
        Outcome::Held
    );
    r.expire(5 * SEC);
    r.expire(69 * SEC);
    assert_eq!((r.in_progress(), r.stats().expired), (2, 0));
    // Timed from the first fragment: 60 s after 10 s.
    r.expire(70 * SEC);
    assert_eq!((r.in_progress(), r.stats().expired), (1, 1));
    // The missing piece comes too late: it starts a datagram of its own.
    assert_eq!(push(&mut r, &frames[1], 71 * SEC), Outcome::Held);
    assert_eq!(
        push(&mut r, &v4_frag(3, 0, true, &[0; 8]), 200 * SEC),
        Outcome::Held
    );
    assert_eq!((r.in_progress(), r.stats().expired), (1, 3));
    r.finish();
    assert_eq!((r.in_progress(), r.memory(), r.stats().expired), (0, 0, 4));
    assert_eq!(r.stats().reassembled, 0);
}

#[test]
fn budget_exhaustion_evicts_the_oldest() {
    let one = SLOT_COST + PIECE_COST + 1000;
    let config = Config {
        memory_budget: 3 * one + 500,
        ..Config::default()
    };
    let mut r = Reassembler::new(config);
    for id in 1..=3 {
        assert_eq!(
            push(&mut r, &v4_frag(id, 0, true, &[1; 1000]), 0),
            Outcome::Held
        );
    }
    assert_eq!(r.memory(), 3 * one);
    // A fourth pushes out the first.
    assert_eq!(
        push(&mut r, &v4_frag(4, 0, true, &[1; 1000]), 0),
        Outcome::Held
    );
    assert_eq!((r.in_progress(), r.stats().evicted), (3, 1));
    // The second, now the oldest, grows: the oldest other than itself, the third, goes.
    assert_eq!(
        push(&mut r, &v4_frag(2, 1000, true, &[2; 600]), 0),
        Outcome::Held
    );
    assert_eq!((r.in_progress(), r.stats().evicted), (2, 2));
    assert!(matches!(
        push(&mut r, &v4_frag(2, 1600, false, &[3; 8]), 0),
        Outcome::Complete(_)
    ));
    assert!(matches!(
        push(&mut r, &v4_frag(4, 1000, false, &[3; 8]), 0),
        Outcome::Complete(_)
    ));
    // The first's and third's ends come alone.
    assert_eq!(
        push(&mut r, &v4_frag(1, 1000, false, &[3; 8]), 0),
        Outcome::Held
    );
    assert_eq!(
        push(&mut r, &v4_frag(3, 1000, false, &[3; 8]), 0),
        Outcome::Held
    );
    assert_eq!(r.stats().reassembled, 2);
}

#[test]
fn a_datagram_alone_over_the_budget_is_discarded() {
    let config = Config {
        memory_budget: 2500,
        ..Config::default()
    };
    let mut r = Reassembler::new(config);
    assert_eq!(
        push(&mut r, &v4_frag(1, 0, true, &[1; 1000]), 0),
        Outcome::Held
    );
    assert_eq!(
        push(&mut r, &v4_frag(1, 1000, true, &[1; 1000]), 0),
        Outcome::Held
    );
    assert_eq!(
        push(&mut r, &v4_frag(1, 2000, false, &[1; 1000]), 0),
        Outcome::Discarded(Reason::Budget)
    );
    assert_eq!((r.memory(), r.in_progress(), r.stats().evicted), (0, 0, 1));
    // Nothing fits a budget smaller than one datagram's fixed cost.
    let mut r = Reassembler::new(Config {
        memory_budget: 10,
        ..Config::default()
    });
    assert_eq!(
        push(&mut r, &v4_frag(1, 0, true, &[1; 8]), 0),
        Outcome::Discarded(Reason::Budget)
    );
}

#[test]
fn full_table_evicts_the_oldest() {
    let mut r = Reassembler::new(Config {
        max_datagrams: 2,
        ..Config::default()
    });
    for id in 1..=3 {
        assert_eq!(
            push(&mut r, &v4_frag(id, 0, true, &[1; 8]), 0),
            Outcome::Held
        );
    }
    assert_eq!((r.in_progress(), r.stats().evicted), (2, 1));
    assert_eq!(
        push(&mut r, &v4_frag(1, 8, false, &[1; 8]), 0),
        Outcome::Held
    );
    assert!(matches!(
        push(&mut r, &v4_frag(3, 8, false, &[1; 8]), 0),
        Outcome::Complete(_)
    ));
}

#[test]
fn per_datagram_cap() {
    let mut r = Reassembler::new(Config::default());
    // IPv4: 20 header bytes + data within 65,535.
    assert_eq!(
        push(&mut r, &v4_frag(1, 65488, false, &[0; 27]), 0),
        Outcome::Held
    );
    assert_eq!(
        push(&mut r, &v4_frag(2, 65512, false, &[0; 8]), 0),
        Outcome::Discarded(Reason::TooLarge)
    );
    assert_eq!(
        push(&mut r, &v4_frag(1, 65504, false, &[0; 40]), 0),
        Outcome::Discarded(Reason::TooLarge)
    );
    // The datagram it belonged to went with it.
    assert_eq!(r.in_progress(), 0);
    // IPv6: the fragmentable part within 65,535.
    assert_eq!(
        push(&mut r, &v6_frag(1, 65528, false, &[0; 7]), 0),
        Outcome::Held
    );
    assert_eq!(
        push(&mut r, &v6_frag(2, 65528, false, &[0; 8]), 0),
        Outcome::Discarded(Reason::TooLarge)
    );
    assert_eq!(r.stats().too_large, 3);
}

#[test]
fn too_many_fragments() {
    let mut r = Reassembler::new(Config {
        max_fragments: 4,
        ..Config::default()
    });
    for i in 0..4 {
        assert_eq!(
            push(&mut r, &v4_frag(1, i * 8, true, &[1; 8]), 0),
            Outcome::Held
        );
    }
    // A duplicate is not a fifth piece.
    assert_eq!(
        push(&mut r, &v4_frag(1, 8, true, &[1; 8]), 0),
        Outcome::Duplicate
    );
    assert_eq!(
        push(&mut r, &v4_frag(1, 32, false, &[1; 8]), 0),
        Outcome::Discarded(Reason::TooManyFragments)
    );
    assert_eq!((r.stats().too_many_fragments, r.memory()), (1, 0));
}

#[test]
fn inconsistent_fragments_discard_the_datagram() {
    let cases: [&[Vec<u8>]; 6] = [
        // Two last fragments with different ends.
        &[
            v4_frag(1, 16, false, &[0; 8]),
            v4_frag(1, 16, false, &[0; 16]),
        ],
        // Bytes past the end the last fragment gave.
        &[v4_frag(1, 8, false, &[0; 8]), v4_frag(1, 16, true, &[0; 8])],
        // A last fragment ending before bytes already held.
        &[
            v4_frag(1, 16, true, &[0; 16]),
            v4_frag(1, 8, false, &[0; 8]),
        ],
        // An empty fragment, and one with More Fragments cut to nothing (Linux).
        &[v4_frag(1, 0, true, &[0; 8]), v4_frag(1, 8, false, &[])],
        &[v4_frag(1, 0, true, &[0; 8]), v4_frag(1, 8, true, &[0; 5])],
        // IPv6: a fragment with More Fragments not a multiple of 8 long.
        &[v6_frag(1, 0, true, &[0; 8]), v6_frag(1, 8, true, &[0; 12])],
    ];
    for frames in cases {
        let mut r = Reassembler::new(Config::default());
        assert_eq!(push(&mut r, &frames[0], 0), Outcome::Held);
        assert_eq!(
            push(&mut r, &frames[1], 0),
            Outcome::Discarded(Reason::Inconsistent)
        );
        assert_eq!(
            (r.stats().inconsistent, r.in_progress(), r.memory()),
            (1, 0, 0)
        );
    }
}

#[test]
fn ipv4_odd_length_with_more_fragments_is_cut_to_8() {
    let mut r = Reassembler::new(Config::default());
    assert_eq!(
        push(&mut r, &v4_frag(1, 0, true, b"aaaaaaaaAAAAA"), 0),
        Outcome::Held
    );
    let Outcome::Complete(d) = push(&mut r, &v4_frag(1, 8, false, b"bbbbbbbbbbbb"), 0) else {
        panic!("not complete")
    };
    assert_eq!(d.payload, b"aaaaaaaabbbbbbbbbbbb");
}

#[test]
fn snaplen_cut_fragments_complete_by_wire_length() {
    let body = pattern(5000);
    let l4 = build::udp_datagram(6881, 51413, &body);
    for v6 in [false, true] {
        let header = 14 + if v6 { 48 } else { 20 };
        // Every frame cut to 200 bytes, as the shared corpus cuts bulk packets.
        let mut frames = frags_of(v6, &l4, 1480);
        for f in &mut frames {
            f.truncate(200);
        }
        frames.reverse();
        let mut r = Reassembler::new(Config::default());
        let done = run(&mut r, &frames);
        assert_eq!(done.len(), 1);
        let d = &done[0];
        assert_eq!(d.payload, l4[..200 - header]);
        assert_eq!(d.payload_wire_len as usize, l4.len());
        let (_, _, payload, wire) = udp_of(d);
        assert_eq!(
            (payload.as_slice(), wire),
            (&body[..200 - header - 8], 5000)
        );

        // Only the second fragment cut: delivery stops where its capture does.
        let mut frames = frags_of(v6, &l4, 1480);
        frames[1].truncate(header + 100);
        let mut r = Reassembler::new(Config::default());
        let done = run(&mut r, &frames);
        assert_eq!(done[0].payload, l4[..1480 + 100]);
        assert_eq!(done[0].payload_wire_len as usize, l4.len());
    }
}

#[test]
fn fragments_past_the_first_lost_byte_keep_no_bytes() {
    let l4 = pattern(4000);
    let mut frames = frags_of(false, &l4, 1000);
    frames[0].truncate(14 + 20 + 50);
    let mut r = Reassembler::new(Config::default());
    push(&mut r, &frames[1], 0);
    push(&mut r, &frames[2], 0);
    let before = r.memory();
    // The cut first fragment frees what the later ones held.
    push(&mut r, &frames[0], 0);
    assert_eq!(r.memory(), before + PIECE_COST + 50 - 2000);
    let Outcome::Complete(d) = push(&mut r, &frames[3], 0) else {
        panic!("not complete")
    };
    assert_eq!(d.payload, l4[..50]);
    assert_eq!(d.payload_wire_len, 4000);
}

#[test]
fn ipv6_headers_cut_by_the_capture() {
    // The fragmentable part opens with 16 bytes of Destination Options, of which the capture
    // kept 10: the datagram completes by wire lengths, but its upper layer is out of reach.
    let mut l4 = vec![protocol::UDP, 1];
    l4.extend([0u8; 14]);
    l4.extend(build::udp_datagram(1, 2, &pattern(2000)));
    let mut frames = build::ipv6_fragments(A6, B6, &[], protocol::IPV6_DEST_OPTS, 1, &l4, 1000);
    frames[0].truncate(14 + 48 + 10);
    let mut r = Reassembler::new(Config::default());
    let outcomes: Vec<_> = frames.iter().map(|f| push(&mut r, f, 0)).collect();
    assert_eq!(outcomes[2], Outcome::Discarded(Reason::BadHeaders));
    assert_eq!((r.stats().bad_headers, r.stats().reassembled), (1, 0));
    assert_eq!((r.memory(), r.in_progress()), (0, 0));
}

#[test]
fn datagrams_do_not_mix() {
    // Same id, other source, other protocol, other family: four datagrams.
    let mut r = Reassembler::new(Config::default());
    let f = Frag {
        id: 1,
        offset: 0,
        more: true,
        data: &[1; 8],
    };
    push(&mut r, &build::ipv4_fragment(A4, B4, protocol::UDP, &f), 0);
    push(&mut r, &build::ipv4_fragment(B4, A4, protocol::UDP, &f), 0);
    push(&mut r, &build::ipv4_fragment(A4, B4, protocol::TCP, &f), 0);
    push(
        &mut r,
        &build::ipv6_fragment(A6, B6, &[], protocol::UDP, &f),
        0,
    );
    assert_eq!(r.in_progress(), 4);
    // IPv6 ignores a later fragment's Next Header (RFC 8200): it belongs to the same one.
    let last = Frag {
        offset: 8,
        more: false,
        ..f
    };
    let frame = build::ipv6_fragment(A6, B6, &[], protocol::TCP, &last);
    let Outcome::Complete(d) = push(&mut r, &frame, 0) else {
        panic!("not complete")
    };
    assert_eq!((d.protocol, d.payload.len()), (protocol::UDP, 16));
}

#[test]
fn sixty_four_fragments_are_not_quadratic() {
    let l4 = pattern(64 * 1016);
    let mut frames = frags_of(false, &l4, 1016);
    assert_eq!(frames.len(), 64);
    frames.reverse();
    let mut r = Reassembler::new(Config::default());
    let started = Instant::now();
    let mut done = 0;
    for round in 0..300u64 {
        let mut order: Vec<usize> = (0..64).collect();
        shuffle(&mut order, round);
        for &i in &order {
            let frag = decode_fragment(LinkType::Ethernet, &frames[i])
                .unwrap()
                .unwrap();
            if let Outcome::Complete(d) = r.push(&frag, 0) {
                assert_eq!(d.payload.len(), l4.len());
                done += 1;
            }
        }
    }
    eprintln!(
        "300 datagrams of 64 fragments (19,200 fragments, 19.5 MB): {:?}",
        started.elapsed()
    );
    assert_eq!(done, 300);
    assert_eq!(r.memory(), 0);
}

/// One fragment of the arbitrary sequences: family, source, id, offset (8-byte units), data
/// length, More Fragments, time step (1/8 s), snaplen.
type Op = (bool, u8, u8, u16, usize, bool, u8, Option<usize>);

fn op() -> impl Strategy<Value = Op> {
    (
        any::<bool>(),
        prop_oneof![9 => Just(0u8), 1 => 1u8..3],
        0u8..2,
        // Mostly on a grid of 64 bytes, so that datagrams complete; sometimes anywhere, or
        // near the end of the offset range.
        prop_oneof![4 => (0u16..8).prop_map(|k| k * 8), 1 => 0u16..64, 1 => 8150u16..8192],
        prop_oneof![4 => Just(64usize), 1 => 0usize..80, 1 => 0usize..1600],
        proptest::bool::weighted(0.8),
        prop_oneof![8 => 0u8..4, 1 => 200u8..=255],
        proptest::option::weighted(0.1, 0usize..200),
    )
}

proptest! {
    #[test]
    fn any_order_and_duplicates_reassemble_exactly(
        len in 1usize..6000,
        frag_len in 8usize..1500,
        v6 in any::<bool>(),
        seed in any::<u64>(),
        dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let l4 = pattern(len);
        let frames = frags_of(v6, &l4, frag_len);
        // One piece would be a whole datagram, not a fragment.
        prop_assume!(frames.len() > 1);
        let mut order: Vec<usize> = (0..frames.len()).collect();
        order.extend(dups.iter().map(|d| d.index(frames.len())));
        shuffle(&mut order, seed);
        let mut r = Reassembler::new(Config { max_fragments: 1024, ..Config::default() });
        let mut seen = std::collections::HashSet::new();
        let mut completed = 0;
        for &i in &order {
            let first_time = seen.insert(i);
            let out = push(&mut r, &frames[i], 0);
            if completed == 0 && seen.len() == frames.len() && first_time {
                match out {
                    Outcome::Complete(d) => {
                        prop_assert_eq!(&d.payload, &l4);
                        prop_assert_eq!(d.payload_wire_len as usize, len);
                        completed += 1;
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            } else if let Outcome::Complete(d) = out {
                // Duplicates after completion made it a second time.
                prop_assert_eq!(&d.payload, &l4);
                completed += 1;
            } else {
                prop_assert!(matches!(out, Outcome::Held | Outcome::Duplicate), "{:?}", out);
            }
        }
        prop_assert!(completed >= 1);
        r.finish();
        prop_assert_eq!((r.memory(), r.in_progress()), (0, 0));
    }

    #[test]
    fn arbitrary_fragments_stay_within_bounds(ops in proptest::collection::vec(op(), 0..120)) {
        let config = Config {
            memory_budget: 8_000,
            max_datagrams: 3,
            max_fragments: 4,
            timeout_ns: 30 * SEC,
        };
        let mut r = Reassembler::new(config);
        let mut now = 0i64;
        let mut pushed = 0;
        for (v6, src, id, offset, len, more, step, snap) in ops {
            let data = pattern(len);
            let f = Frag { id: u32::from(id), offset: usize::from(offset) * 8, more, data: &data };
            let (s4, s6) = ([A4, B4, Ipv4Addr::LOCALHOST][usize::from(src)], [A6, B6, Ipv6Addr::LOCALHOST][usize::from(src)]);
            let mut frame = if v6 {
                build::ipv6_fragment(s6, B6, &[], protocol::UDP, &f)
            } else {
                build::ipv4_fragment(s4, B4, protocol::UDP, &f)
            };
            if let Some(snap) = snap {
                frame.truncate(snap);
            }
            now += i64::from(step) * SEC / 8;
            let Ok(Some(frag)) = decode_fragment(LinkType::Ethernet, &frame) else { continue };
            let out = r.push(&frag, now);
            r.check_invariants();
            pushed += 1;
            if let Outcome::Complete(d) = out {
                prop_assert!(d.payload.len() as u64 <= u64::from(d.payload_wire_len));
                let _ = d.decode();
            }
        }
        prop_assert_eq!(r.stats().fragments, pushed);
        r.expire(now + 30 * SEC);
        prop_assert_eq!((r.memory(), r.in_progress()), (0, 0));
    }
}

/// A capture filtered on ports keeps only first fragments: each is handed over alone when its
/// datagram gives up (timeout, eviction, end of input), with its own wire length; a datagram
/// discarded for an overlap hands nothing over.
#[test]
fn first_fragments_of_datagrams_that_never_complete_are_handed_over() {
    for v6 in [false, true] {
        let l4 = build::udp_datagram(6881, 51413, &pattern(4000));
        let frames = frags_of(v6, &l4, 1480);
        let mut r = Reassembler::new(Config::default());
        assert_eq!(push(&mut r, &frames[0], 10 * SEC), Outcome::Held);
        assert_eq!(push(&mut r, &frames[2], 11 * SEC), Outcome::Held);
        assert!(r.take_incomplete().is_none());
        r.expire(70 * SEC);
        let d = r.take_incomplete().unwrap();
        assert!(r.take_incomplete().is_none());
        assert!(!d.complete);
        assert_eq!(
            r.stats().unread,
            1,
            "the third fragment; the first is read alone"
        );
        assert_eq!((d.fragments, d.first_ns), (1, 10 * SEC));
        let (sp, dp, payload, wire) = udp_of(&d);
        assert_eq!((sp, dp), (6881, 51413));
        assert_eq!(wire as usize, 1480 - 8, "the first fragment's own length");
        assert_eq!(payload, pattern(4000)[..1472].to_vec());
        // a later fragment alone has nothing to hand over
        let mut r = Reassembler::new(Config::default());
        push(&mut r, &frames[1], 0);
        r.finish();
        assert!(r.take_incomplete().is_none());
        // nor has a datagram discarded for an overlap
        let mut r = Reassembler::new(Config::default());
        push(&mut r, &frames[0], 0);
        let overlap = if v6 {
            v6_frag(0xdead_beef, 1472, true, &[0; 16])
        } else {
            v4_frag(0xbeef, 1472, true, &[0; 16])
        };
        assert_eq!(
            push(&mut r, &overlap, 0),
            Outcome::Discarded(Reason::Overlap)
        );
        r.finish();
        assert!(r.take_incomplete().is_none());
        // eviction from a full table hands the first fragment over too
        let mut r = Reassembler::new(Config {
            max_datagrams: 1,
            ..Config::default()
        });
        push(&mut r, &frames[0], 0);
        let other = if v6 {
            v6_frag(9, 0, true, &[0; 8])
        } else {
            v4_frag(9, 0, true, &[0; 8])
        };
        push(&mut r, &other, 0);
        assert_eq!(r.stats().evicted, 1);
        assert_eq!(
            r.take_incomplete().map(|d| d.id),
            Some(if v6 { 0xdead_beef } else { 0xbeef })
        );
    }
}
