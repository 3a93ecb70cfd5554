// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;

use bencode::encode::Item;
use bt::handshake::{self, Reserved};
use bt::{InfoHash, PeerId};
use wire::build;
use wire::tcp::flags::{ACK, PSH, SYN};

use super::*;

const H1: &str = "0123456789abcdef0123456789abcdef01234567";

fn policy(text: &str) -> Policy {
    policy::parse(Path::new("p.toml"), text, &mut |_| unreachable!()).unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Frames from `wire::build` are Ethernet; the queue hands over IP packets.
fn ip(frame: Vec<u8>) -> Vec<u8> {
    frame[14..].to_vec()
}

struct T {
    judge: Judge,
    policy: Policy,
    dry_run: bool,
    t: i64,
}

impl T {
    fn new(text: &str) -> T {
        T {
            judge: Judge::new(Config::default(), Marks::default(), true),
            policy: policy(text),
            dry_run: false,
            t: 1_700_000_000_000_000_000,
        }
    }
    fn send(&mut self, frame: Vec<u8>) -> Outcome {
        self.send_marked(frame, 0)
    }
    fn send_marked(&mut self, frame: Vec<u8>, mark: u32) -> Outcome {
        match self.send_id(frame, mark, 0) {
            Judged::Now(o) => o,
            Judged::Held => panic!("held"),
        }
    }
    fn send_id(&mut self, frame: Vec<u8>, mark: u32, id: u32) -> Judged {
        self.t += 1_000_000;
        let p = ip(frame);
        self.judge.packet(
            &self.policy,
            self.dry_run,
            self.t,
            id,
            &p,
            p.len() as u32,
            mark,
        )
    }
}

const BLOCK_ALL: &str = "default = \"allow\"\n[[rule]]\napp = \"bittorrent\"\naction = \"drop\"\n";

fn seen(mark: u32) -> Outcome {
    Outcome {
        verdict: Verdict::Repeat,
        mark: Some(Marks::default().with(mark, state::SEEN)),
    }
}

fn marked(s: u32) -> Outcome {
    Outcome {
        verdict: Verdict::Repeat,
        mark: Some(Marks::default().value(s)),
    }
}

fn peer_connection(t: &mut T, c: SocketAddr, s: SocketAddr, hash: InfoHash) -> Vec<Outcome> {
    let hs = handshake::emit(Reserved::default(), hash, PeerId(*b"-TR3000-aaaaaaaaaaaa"));
    vec![
        t.send(build::tcp(c, s, 1000, 0, SYN, &[])),
        t.send(build::tcp(s, c, 5000, 1001, SYN | ACK, &[])),
        t.send(build::tcp(c, s, 1001, 5001, ACK, &[])),
        t.send(build::tcp(c, s, 1001, 5001, PSH | ACK, &hs)),
        t.send(build::tcp(s, c, 5001, 1069, PSH | ACK, &hs)),
    ]
}

#[test]
fn block_all_marks_a_peer_connection_for_the_kernel_to_drop() {
    let mut t = T::new(BLOCK_ALL);
    let (c, s) = (sa("10.77.1.2:40000"), sa("10.77.2.1:51413"));
    let out = peer_connection(&mut t, c, s, InfoHash([7; 20]));
    assert_eq!(
        &out[..3],
        &[seen(0), seen(0), seen(0)],
        "undecided: on to the firewall"
    );
    assert_eq!(
        out[3],
        marked(state::DROP),
        "the handshake decides: saved, dropped"
    );
    assert_eq!(out[4], marked(state::DROP), "a packet in flight: the same");
    assert_eq!(t.judge.events.len(), 1, "one event per flow");
    let e = t.judge.events[0].to_json();
    assert!(
        e.contains(r#""event":"decision""#) && e.contains(r#""action":"drop""#),
        "{e}"
    );
    assert!(
        e.contains(r#""kind":"peer-tcp""#) && e.contains(r#""scope":"flow""#),
        "{e}"
    );
    assert!(e.contains(&InfoHash([7; 20]).to_hex()), "{e}");
    assert_eq!(t.judge.stats.decisions["peer-tcp"]["drop"], 1);
    assert_eq!((t.judge.stats.packets, t.judge.stats.flows), (5, 1));
}

#[test]
fn other_traffic_is_handed_to_the_kernel_once_the_detectors_give_up() {
    let mut t = T::new(BLOCK_ALL);
    let (c, s) = (sa("10.77.1.2:40000"), sa("10.77.2.1:443"));
    t.send(build::tcp(c, s, 1000, 0, SYN, &[]));
    t.send(build::tcp(s, c, 5000, 1001, SYN | ACK, &[]));
    let mut seq = [1001u32, 5001];
    let mut last = seen(0);
    let mut n = 0;
    while last != marked(state::ALLOW) && n < 100 {
        let (src, dst, k) = if n % 2 == 0 { (c, s, 0) } else { (s, c, 1) };
        let p: Vec<u8> = (0..200u32).map(|i| (i * 7 + n) as u8).collect();
        last = t.send(build::tcp(src, dst, seq[k], seq[1 - k], ACK, &p));
        seq[k] += 200;
        n += 1;
    }
    assert_eq!(last, marked(state::ALLOW));
    assert!(n <= 20, "allowed for good after {n} payload packets");
    assert!(
        t.judge.events.is_empty(),
        "the default allowing is not an event"
    );
}

#[test]
fn refused_dht_lookups_are_dropped_one_by_one() {
    let mut t = T::new(&format!("[dht]\nrefuse = [\"{H1}\"]\n"));
    let (a, b) = (sa("10.77.1.2:6881"), sa("10.77.2.1:6881"));
    let query = |q: &'static [u8], hash: &[u8; 20]| {
        let hash: &'static [u8; 20] = Box::leak(Box::new(*hash));
        Item::Dict(vec![
            (
                b"a",
                Item::Dict(vec![
                    (b"id", Item::Bytes(&[1; 20])),
                    (b"info_hash", Item::Bytes(hash)),
                ]),
            ),
            (b"q", Item::Bytes(q)),
            (b"t", Item::Bytes(b"aa")),
            (b"y", Item::Bytes(b"q")),
        ])
        .to_vec()
    };
    let listed = InfoHash::from_hex(H1.as_bytes()).unwrap().0;
    let o = t.send(build::udp(a, b, &query(b"get_peers", &listed)));
    assert_eq!(
        o,
        Outcome {
            verdict: Verdict::Drop,
            mark: None
        }
    );
    let o = t.send(build::udp(a, b, &query(b"get_peers", &[9; 20])));
    assert_eq!(
        o,
        seen(0),
        "other torrents: answered, not final (a DHT flow stays queued)"
    );
    let e = t.judge.events[0].to_json();
    assert!(
        e.contains(r#""rule":"dht.refuse""#) && e.contains(r#""dht":"get_peers""#),
        "{e}"
    );
    assert!(e.contains(r#""scope":"packet""#), "{e}");
    assert_eq!(t.judge.stats.packets_dropped, 1);
}

#[test]
fn a_dry_run_lets_everything_through_and_says_what_it_would_do() {
    let mut t = T::new(BLOCK_ALL);
    t.dry_run = true;
    let out = peer_connection(
        &mut t,
        sa("10.77.1.2:40000"),
        sa("10.77.2.1:51413"),
        InfoHash([7; 20]),
    );
    assert_eq!(
        out[3],
        marked(state::ALLOW),
        "allowed, and left to the kernel"
    );
    let e = t.judge.events[0].to_json();
    assert!(
        e.contains(r#""action":"drop""#) && e.contains(r#""dry_run":true"#),
        "{e}"
    );
    assert_eq!(t.judge.stats.packets_dropped, 0);
}

#[test]
fn a_dry_run_reports_allowed_bittorrent_too_a_real_run_does_not() {
    for dry_run in [false, true] {
        let mut t = T::new("default = \"allow\"\n");
        t.dry_run = dry_run;
        peer_connection(
            &mut t,
            sa("10.77.1.2:40000"),
            sa("10.77.2.1:51413"),
            InfoHash([7; 20]),
        );
        let events: Vec<String> = t.judge.events.iter().map(|e| e.to_json()).collect();
        if dry_run {
            assert_eq!(events.len(), 1, "{events:?}");
            assert!(events[0].contains(r#""action":"allow""#), "{events:?}");
        } else {
            assert!(events.is_empty(), "{events:?}");
        }
    }
}

#[test]
fn other_mark_bits_are_kept_and_reject_and_mark_actions() {
    let mut t = T::new("[[rule]]\nkind = \"peer-tcp\"\naction = \"mark\"\nmark = 5\n");
    let (c, s) = (sa("10.77.1.2:40000"), sa("10.77.2.1:51413"));
    let hs = handshake::emit(Reserved::default(), InfoHash([1; 20]), PeerId([b'x'; 20]));
    let o = t.send_marked(build::tcp(c, s, 1000, 0, SYN, &[]), 0x0000_00a5);
    assert_eq!(o, seen(0x0000_00a5));
    let o = t.send_marked(build::tcp(c, s, 1001, 0, ACK, &hs), 0x0000_00a5);
    assert_eq!(
        o.mark,
        Some(0x1500_00a5),
        "mark 5 in the state bits, the rest kept"
    );

    let mut t = T::new("[[rule]]\nkind = \"peer-tcp\"\naction = \"reject\"\n");
    t.send(build::tcp(c, s, 1000, 0, SYN, &[]));
    assert_eq!(
        t.send(build::tcp(c, s, 1001, 0, ACK, &hs)),
        marked(state::REJECT)
    );
}

#[test]
fn the_end_of_a_flow_is_kept_and_forgets_the_report() {
    let mut t = T::new(BLOCK_ALL);
    let (c, s) = (sa("10.77.1.2:40000"), sa("10.77.2.1:51413"));
    peer_connection(&mut t, c, s, InfoHash([7; 20]));
    // far later, a packet on another flow sweeps the idle one out
    t.t += 1_000 * 1_000_000_000;
    t.send(build::udp(sa("10.77.1.2:1"), sa("10.77.2.1:2"), b"x"));
    assert_eq!(t.judge.ended.len(), 1);
    assert!(t.judge.reported.is_empty());
}

#[test]
fn verdicts_go_out_as_exceptions_then_one_batch() {
    use netfilter::queue::Messages;
    let s = Some(0x0100_0000);
    let mut w = Writer::new();
    let n = crate::encode_verdicts(
        &mut w,
        2,
        &[
            (10, Verdict::Repeat, s),
            (11, Verdict::Drop, None),
            (12, Verdict::Repeat, s),
            (13, Verdict::Repeat, Some(0x0300_0000)),
            (14, Verdict::Repeat, s),
        ],
        false,
    );
    assert_eq!(n, 3);
    // Two individual verdicts, then a batch up to 14.
    let b = w.bytes();
    let types: Vec<u16> = Messages::new(b)
        .map(|m| match m.unwrap() {
            netfilter::queue::Received::Other(t) => t,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        types,
        vec![
            netfilter::queue::msg::MSG_VERDICT,
            netfilter::queue::msg::MSG_VERDICT,
            netfilter::queue::msg::MSG_VERDICT_BATCH
        ]
    );
    let mut w = Writer::new();
    assert_eq!(
        crate::encode_verdicts(&mut w, 0, &[(5, Verdict::Drop, None)], false),
        1
    );
    assert_eq!(crate::encode_verdicts(&mut Writer::new(), 0, &[], false), 0);
}

/// A DHT reply in IP fragments, to a client that refuses DHT traffic about H1: the fragments
/// wait, and the one that completes the datagram brings the datagram's verdict to all of them.
#[test]
fn a_fragmented_datagram_s_verdict_is_all_its_fragments_verdict() {
    let (a, b) = (sa("10.77.1.2:6881"), sa("10.77.2.1:6881"));
    let get_peers = |tid: &'static [u8]| {
        Item::Dict(vec![
            (
                b"a",
                Item::Dict(vec![
                    (b"id", Item::Bytes(&[1; 20])),
                    (
                        b"info_hash",
                        Item::Bytes(Box::leak(Box::new(
                            InfoHash::from_hex(H1.as_bytes()).unwrap().0,
                        ))),
                    ),
                ]),
            ),
            (b"q", Item::Bytes(b"get_peers")),
            (b"t", Item::Bytes(tid)),
            (b"y", Item::Bytes(b"q")),
        ])
        .to_vec()
    };
    let mut t = T::new(&format!(
        "default = \"allow\"\n[dht]\nrefuse = [\"{H1}\"]\n"
    ));
    // the query itself is refused at once (a whole datagram)
    assert_eq!(
        t.send(build::udp(a, b, &get_peers(b"q1"))).verdict,
        Verdict::Drop
    );
    // the same query padded to 3 KB and cut in three fragments
    let mut q = get_peers(b"q2");
    q.pop();
    q.extend(format!("1:z3000:{}e", "x".repeat(3000)).bytes());
    let frags = build::fragments(
        a.ip(),
        b.ip(),
        17,
        77,
        &build::udp_datagram(6881, 6881, &q),
        1200,
    );
    assert_eq!(frags.len(), 3);
    let mut out = Vec::new();
    for (i, f) in frags.into_iter().enumerate().rev() {
        out.push((i as u32 + 100, t.send_id(f, 0, i as u32 + 100)));
    }
    assert_eq!(out[0].1, Judged::Held);
    assert_eq!(out[1].1, Judged::Held);
    assert!(
        matches!(out[2].1, Judged::Now(o) if o.verdict == Verdict::Drop),
        "{out:?}"
    );
    let released: Vec<(u32, Verdict)> = t
        .judge
        .released
        .drain(..)
        .map(|(id, o)| (id, o.verdict))
        .collect();
    assert_eq!(released, vec![(102, Verdict::Drop), (101, Verdict::Drop)]);
    assert!(!t.judge.holding());
    // a datagram that never completes: its fragments pass after the inline reassembly time
    let frags = build::fragments(
        a.ip(),
        b.ip(),
        17,
        78,
        &build::udp_datagram(6881, 6881, &q),
        1200,
    );
    assert_eq!(t.send_id(frags[1].clone(), 0, 200), Judged::Held);
    assert!(t.judge.holding());
    t.judge
        .release_expired(t.t + engine::INLINE_DEFRAG_TIMEOUT_NS / 2, false);
    assert!(t.judge.released.is_empty());
    t.judge
        .release_expired(t.t + 2 * engine::INLINE_DEFRAG_TIMEOUT_NS, false);
    assert_eq!(t.judge.released, vec![(200, seen(0))]);
    assert_eq!(t.judge.stats.fragments_held, 3);
    assert_eq!(t.judge.stats.fragments_released, 1);
}

#[test]
fn while_fragments_wait_no_batch_verdict_is_sent() {
    let mut w = Writer::new();
    let v = [(10, Verdict::Repeat, None), (11, Verdict::Repeat, None)];
    assert_eq!(crate::encode_verdicts(&mut w, 0, &v, true), 2);
    assert_eq!(crate::encode_verdicts(&mut Writer::new(), 0, &v, false), 1);
}

/// A fragmented datagram that is not a flow's packet (ICMP) or that is discarded (overlapping
/// fragments): its held fragments pass at once, not after the timeout.
#[test]
fn held_fragments_of_a_datagram_that_ends_without_a_flow_pass_at_once() {
    let (a, b) = (sa("10.77.1.2:0"), sa("10.77.2.1:0"));
    let mut t = T::new(BLOCK_ALL);
    let icmp = [vec![8, 0, 0, 0, 0, 1, 0, 1], vec![0x55; 3000]].concat();
    let frags = build::fragments(a.ip(), b.ip(), 1, 9, &icmp, 1200);
    assert_eq!(t.send_id(frags[0].clone(), 0, 1), Judged::Held);
    assert_eq!(t.send_id(frags[1].clone(), 0, 2), Judged::Held);
    assert_eq!(t.send_id(frags[2].clone(), 0, 3), Judged::Now(seen(0)));
    assert_eq!(t.judge.released, vec![(1, seen(0)), (2, seen(0))]);
    assert!(!t.judge.holding());
}

/// Held datagrams are bounded: beyond the bound, fragments pass at once.
#[test]
fn held_datagrams_are_bounded() {
    let (a, b) = (sa("10.77.1.2:0"), sa("10.77.2.1:0"));
    let mut t = T::new(BLOCK_ALL);
    let l4 = build::udp_datagram(1, 2, &[7; 3000]);
    for id in 0..1100u32 {
        let f = build::fragments(a.ip(), b.ip(), 17, id, &l4, 1200).swap_remove(0);
        let j = t.send_id(f, 0, id);
        if id < 1024 {
            assert_eq!(j, Judged::Held, "{id}");
        } else {
            assert_eq!(j, Judged::Now(seen(0)), "{id}");
        }
    }
    assert_eq!(t.judge.held.len(), 1024);
}
