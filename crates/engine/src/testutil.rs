//! Test support for the engine's tests: frames built byte by byte from the specs, fed through
//! the whole pipeline.

pub(crate) use std::net::SocketAddr;

pub(crate) use bencode::encode::Item;
pub(crate) use bt::handshake::{self, Reserved};
pub(crate) use bt::utp::{self, Type};
pub(crate) use bt::{InfoHash, PeerId, udp_tracker};
pub(crate) use wire::tcp::flags::{ACK, FIN, PSH, RST, SYN};
pub(crate) use wire::{LinkType, build};

pub(crate) use crate::*;

pub(crate) const HASH: InfoHash = InfoHash([0x42; 20]);

pub(crate) fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Runs frames (at one per millisecond unless given) and returns every record.
pub(crate) struct Run {
    pub engine: Engine,
    pub records: Vec<FlowRecord>,
    pub t: i64,
    /// What the engine said of the last frame: its flow, whether the client sent it, and
    /// what it carried.
    last: Option<(FlowKey, bool)>,
    facts: PacketFacts,
}

impl Run {
    pub(crate) fn new() -> Run {
        Run::with(Config::default())
    }
    pub(crate) fn with(config: Config) -> Run {
        Run {
            engine: Engine::new(config),
            records: Vec::new(),
            t: 1_700_000_000 * NS,
            last: None,
            facts: PacketFacts::default(),
        }
    }
    pub(crate) fn at(&mut self, ts: i64, frame: &[u8]) {
        let records = &mut self.records;
        let seen = self.engine.frame(
            LinkType::Ethernet,
            ts,
            frame,
            frame.len() as u32,
            &mut |r| records.push(r),
        );
        let seen = seen.seen();
        self.last = seen.map(|s| (s.key(), s.from_client));
        self.facts = seen.map(|s| s.facts.clone()).unwrap_or_default();
    }
    /// What the last frame carried (nothing for a frame outside any flow).
    pub(crate) fn last(&self) -> &PacketFacts {
        &self.facts
    }
    /// The last frame's flow, and whether its client sent it.
    pub(crate) fn last_flow(&self) -> Option<(FlowKey, bool)> {
        self.last
    }
    pub(crate) fn send(&mut self, frame: &[u8]) {
        self.t += 1_000_000;
        let t = self.t;
        self.at(t, frame);
    }
    pub(crate) fn finish(mut self) -> (Vec<FlowRecord>, Engine) {
        let records = &mut self.records;
        self.engine.finish(&mut |r| records.push(r));
        (self.records, self.engine)
    }
}

pub(crate) fn tcp_handshake(run: &mut Run, c: SocketAddr, s: SocketAddr) {
    run.send(&build::tcp(c, s, 1000, 0, SYN, &[]));
    run.send(&build::tcp(s, c, 5000, 1001, SYN | ACK, &[]));
    run.send(&build::tcp(c, s, 1001, 5001, ACK, &[]));
}

pub(crate) fn bt_handshake(id: &[u8; 20]) -> [u8; 68] {
    handshake::emit(Reserved::default(), HASH, PeerId(*id))
}

pub(crate) fn krpc_get_peers(tid: &'static [u8]) -> Vec<u8> {
    Item::Dict(vec![
        (
            b"a",
            Item::Dict(vec![
                (b"id", Item::Bytes(&[1; 20])),
                (b"info_hash", Item::Bytes(&[0x42; 20])),
            ]),
        ),
        (b"q", Item::Bytes(b"get_peers")),
        (b"t", Item::Bytes(tid)),
        (b"y", Item::Bytes(b"q")),
    ])
    .to_vec()
}

pub(crate) fn krpc_values(tid: &'static [u8]) -> Vec<u8> {
    Item::Dict(vec![
        (
            b"r",
            Item::Dict(vec![
                (b"id", Item::Bytes(&[2; 20])),
                (b"token", Item::Bytes(b"tk")),
                (
                    b"values",
                    Item::List(vec![Item::Bytes(&[10, 77, 0, 8, 0xc8, 0xd5])]),
                ),
            ]),
        ),
        (b"t", Item::Bytes(tid)),
        (b"y", Item::Bytes(b"r")),
    ])
    .to_vec()
}

/// Bytes that look like a Diffie-Hellman key plus pad (random from the first byte).
pub(crate) fn key_like(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 11) as u8
        })
        .collect()
}

/// A TCP connection from `c` to `s` whose first flights are `a1` then `b1`, then `a2` from
/// the initiator; returns the run (not finished).
pub(crate) fn mse_connection(
    run: &mut Run,
    c: SocketAddr,
    s: SocketAddr,
    a1: usize,
    b1: usize,
    a2: usize,
) {
    tcp_handshake(run, c, s);
    mse_flights(run, c, s, a1, b1, a2);
}

/// The flights of [`mse_connection`] without its SYN and SYN-ACK.
pub(crate) fn mse_flights(
    run: &mut Run,
    c: SocketAddr,
    s: SocketAddr,
    a1: usize,
    b1: usize,
    a2: usize,
) {
    let (mut cs, mut ss) = (1001u32, 5001u32);
    let p = key_like(a1, 1);
    run.send(&build::tcp(c, s, cs, ss, ACK, &p));
    cs += p.len() as u32;
    if b1 > 0 {
        let p = key_like(b1, 2);
        run.send(&build::tcp(s, c, ss, cs, ACK, &p));
        ss += p.len() as u32;
    }
    if a2 > 0 {
        let p = key_like(a2, 3);
        run.send(&build::tcp(c, s, cs, ss, ACK, &p));
        cs += p.len() as u32;
        let p = key_like(1200, 4);
        run.send(&build::tcp(s, c, ss, cs, ACK, &p));
    }
}

/// An HTTP tracker exchange that announces `peer` for HASH.
pub(crate) fn tracker_announcing(run: &mut Run, client: SocketAddr, peer: SocketAddr) {
    let t = sa("10.77.0.9:8080");
    tcp_handshake(run, client, t);
    let req = format!(
        "GET /announce?info_hash={}&peer_id=-TR3000-aaaaaaaaaaaa&port=6881 HTTP/1.1\r\n\r\n",
        "%42".repeat(20)
    );
    run.send(&build::tcp(client, t, 1001, 5001, ACK, req.as_bytes()));
    let compact = match peer {
        SocketAddr::V4(v4) => [v4.ip().octets().as_slice(), &v4.port().to_be_bytes()].concat(),
        SocketAddr::V6(_) => panic!("v4 only"),
    };
    let resp = tracker_reply(60, &compact);
    run.send(&build::tcp(
        t,
        client,
        5001,
        1001 + req.len() as u32,
        ACK,
        &resp,
    ));
}

/// An HTTP tracker's 200 reply whose body lists `peers` (compact form).
pub(crate) fn tracker_reply(interval: i64, peers: &[u8]) -> Vec<u8> {
    let body = Item::Dict(vec![
        (b"interval", Item::Int(interval)),
        (b"peers", Item::Bytes(peers)),
    ])
    .to_vec();
    let mut resp =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    resp.extend(&body);
    resp
}

pub(crate) fn find(recs: &[FlowRecord], c: SocketAddr) -> &FlowRecord {
    recs.iter().find(|r| r.client == c).unwrap()
}

/// A TCP connection whose sequence numbers the test need not count.
pub(crate) struct Conn {
    pub c: SocketAddr,
    pub s: SocketAddr,
    seq: [u32; 2],
}

impl Conn {
    /// Opens a connection from `c` to `s` (SYN, SYN-ACK, ACK).
    pub(crate) fn open(run: &mut Run, c: SocketAddr, s: SocketAddr) -> Conn {
        tcp_handshake(run, c, s);
        Conn {
            c,
            s,
            seq: [1001, 5001],
        }
    }

    /// The client sends `bytes` in one segment.
    pub(crate) fn client(&mut self, run: &mut Run, bytes: &[u8]) {
        run.send(&build::tcp(
            self.c,
            self.s,
            self.seq[0],
            self.seq[1],
            PSH | ACK,
            bytes,
        ));
        self.seq[0] = self.seq[0].wrapping_add(bytes.len() as u32);
    }

    /// The server sends `bytes` in one segment.
    pub(crate) fn server(&mut self, run: &mut Run, bytes: &[u8]) {
        run.send(&build::tcp(
            self.s,
            self.c,
            self.seq[1],
            self.seq[0],
            PSH | ACK,
            bytes,
        ));
        self.seq[1] = self.seq[1].wrapping_add(bytes.len() as u32);
    }
}
