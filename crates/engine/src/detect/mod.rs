//! Per-flow detectors: state machines over the pure parsers of the `bt` crate.
//!
//! A flow carries a [`Detect`] only while some detector still has something to learn from
//! it. Each detector either decides (certain: the protocol's own structure matched), waits
//! for more packets, or drops out; when every detector is done the state is freed, so a bulk
//! transfer costs one table lookup and a few counters per packet.
//!
//! No decision rests on a port number. The LSD multicast group and port are part of BEP 14,
//! but even LSD is recognised by its payload.

mod dht;
mod http;
mod lsd;
mod mse;
mod msgs;
mod peer;
mod stream;
mod udp;
mod udp_tracker;
mod utp;

use std::net::SocketAddr;

use bt::{InfoHash, PeerId};

use crate::flow::{
    Confidence, Evidence, Extra, Kind, MAX_INFOHASHES_PER_FLOW, Side, Signal, Verdict,
};
use crate::knowledge::{Knowledge, Source};

pub(crate) use udp::UdpDetect;

/// Detector state of one flow, allocated to the size its protocol needs.
#[derive(Debug)]
pub(crate) enum Detect {
    Tcp(Box<peer::TcpDetect>),
    Udp(Box<UdpDetect>),
}

/// Whether a flow's detectors want more packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Running,
    Done,
}

impl Detect {
    pub fn tcp() -> Detect {
        Detect::Tcp(Box::default())
    }

    pub fn udp() -> Detect {
        Detect::Udp(Box::default())
    }

    /// Bytes this state holds in reassembly buffers (charged to the [`Budget`]).
    pub fn buffered(&self) -> usize {
        match self {
            Detect::Tcp(t) => t.buffered(),
            Detect::Udp(_) => 0,
        }
    }

    /// The flow ends: judge what is pending, release buffers.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>) {
        match self {
            Detect::Tcp(t) => t.finish(ctx),
            Detect::Udp(u) => u.finish(ctx),
        }
    }
}

/// Raises the confidence of a held MSE/PE-shaped record from everything learned in the run
/// (at any time: the knowledge may have arrived after the flow), marking it relabelled.
pub(crate) fn relabel(k: &Knowledge, r: &mut crate::flow::FlowRecord) {
    let a = assess_with(k, r.client, r.server, None);
    let Some(mut confidence) = a.confidence else {
        return;
    };
    if r.verdict.evidence.contains(Signal::MseOneSided)
        && !r.verdict.evidence.contains(Signal::MseShape)
    {
        confidence = confidence.weaker();
    }
    if r.verdict.confidence < Some(confidence) {
        r.verdict.confidence = Some(confidence);
        r.verdict.evidence = r.verdict.evidence.union(a.evidence);
        r.verdict.relabelled = true;
        for h in a.infohashes {
            if r.infohashes.len() < MAX_INFOHASHES_PER_FLOW && !r.infohashes.contains(&h) {
                r.infohashes.push(h);
            }
        }
    }
}

/// A bound on the bytes all flows together may hold in reassembly buffers, so that many
/// half-sent HTTP requests cannot exhaust memory.
#[derive(Debug)]
pub struct Budget {
    pub used: usize,
    pub limit: usize,
    /// Times a detector dropped out because the budget was spent.
    pub refused: u64,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget {
            used: 0,
            limit,
            refused: 0,
        }
    }

    /// Reserves `n` bytes, or counts a refusal.
    pub(crate) fn take(&mut self, n: usize) -> bool {
        if self.used.saturating_add(n) > self.limit {
            self.refused += 1;
            return false;
        }
        self.used += n;
        true
    }

    pub(crate) fn give_back(&mut self, n: usize) {
        self.used = self.used.saturating_sub(n);
    }
}

/// What a detector sees of the packet at hand, and where it writes what it learns.
pub(crate) struct Ctx<'a> {
    pub now_ns: i64,
    /// 1-based index of this packet in its flow.
    pub index: u32,
    /// Which endpoint of the flow key sent the packet.
    pub from: Side,
    /// Whether the sender is the flow's client (the side that opened it).
    pub from_client: bool,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub verdict: &'a mut Verdict,
    /// Payload packets sent by the lo and hi endpoints so far (this one included).
    pub payloads: [u16; 2],
    pub extra: &'a mut Option<Box<Extra>>,
    pub knowledge: &'a mut Knowledge,
    pub budget: &'a mut Budget,
}

impl Ctx<'_> {
    /// Records that the flow is `kind` because of a plaintext `signal`: certain (likely for
    /// uTP seen one way only).
    pub fn decide(&mut self, kind: Kind, signal: Signal) {
        let confidence = if signal == Signal::UtpOneWay {
            Confidence::Likely
        } else {
            Confidence::Certain
        };
        let mut evidence = Evidence::default();
        evidence.insert(signal);
        self.decide_with(kind, confidence, evidence);
    }

    /// Records that the flow is `kind` at `confidence` because of `evidence`. The confidence
    /// only ever rises; `decided_at` is the packet at which it reached its level.
    pub fn decide_with(&mut self, kind: Kind, confidence: Confidence, evidence: Evidence) {
        let v = &mut *self.verdict;
        v.kinds.insert(kind);
        v.evidence = v.evidence.union(evidence);
        if v.confidence < Some(confidence) {
            v.confidence = Some(confidence);
            v.decided_at = Some(self.index);
            v.decided_payloads = self.payloads;
        }
        if confidence >= Confidence::Likely {
            self.note_hosts(kind);
        }
    }

    /// Feeds host knowledge from a decision: on which ports the two ends speak BitTorrent.
    fn note_hosts(&mut self, kind: Kind) {
        let (client, server) = self.ends();
        let now = self.now_ns;
        let (cport, sport) = match kind {
            // Both ends of a UDP socket are its listen ports.
            Kind::PeerUtp | Kind::Dht => (client.port(), server.port()),
            // The client's TCP port is ephemeral.
            Kind::PeerTcp => (0, server.port()),
            // Trackers and LSD: the hosts take part, their ports say nothing.
            _ => (0, 0),
        };
        let peer = matches!(kind, Kind::PeerTcp | Kind::PeerUtp);
        self.knowledge
            .note_host(client.ip(), cport, kind, peer.then_some(server.ip()), now);
        if !matches!(kind, Kind::TrackerHttp | Kind::TrackerUdp | Kind::Lsd) {
            self.knowledge
                .note_host(server.ip(), sport, kind, peer.then_some(client.ip()), now);
        }
    }

    /// The flow's (client, server) endpoints.
    pub fn ends(&self) -> (SocketAddr, SocketAddr) {
        if self.from_client {
            (self.src, self.dst)
        } else {
            (self.dst, self.src)
        }
    }

    pub fn is_decided(&self) -> bool {
        self.verdict.confidence.is_some()
    }

    pub fn has(&self, kind: Kind) -> bool {
        self.verdict.kinds.contains(kind) && self.verdict.is_bittorrent()
    }

    /// Records an info-hash carried by the flow.
    pub fn infohash(&mut self, h: InfoHash) {
        let extra = self.extra.get_or_insert_with(Default::default);
        if extra.infohashes.len() < MAX_INFOHASHES_PER_FLOW && !extra.infohashes.contains(&h) {
            extra.infohashes.push(h);
        }
    }

    /// Records the peer id of the endpoint on `side`.
    pub fn peer_id(&mut self, side: Side, id: PeerId) {
        let extra = self.extra.get_or_insert_with(Default::default);
        let slot = &mut extra.peer_ids[side as usize];
        if slot.is_none() {
            *slot = Some(id);
        }
    }

    /// Remembers a BitTorrent endpoint learned from a payload.
    pub fn learn(&mut self, peer: SocketAddr, hash: Option<InfoHash>, source: Source) {
        self.knowledge.learn(peer, hash, source, self.now_ns);
    }
}

/// What the swarm's own announcements say about a flow shaped like MSE/PE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Assessment {
    pub confidence: Option<Confidence>,
    pub evidence: Evidence,
    /// Torrents the responder's endpoint was learned for.
    pub infohashes: Vec<InfoHash>,
}

/// Judges a flow from `client` to `server` by what is known of the server's endpoint and of
/// both hosts at `now_ns`:
/// * the endpoint was announced as a peer (tracker, DHT values, LSD, PEX, a client's own
///   announce or extension handshake, an earlier peer connection): certain;
/// * it is a DHT node, or its host speaks BitTorrent on that port, or both hosts took part in
///   BitTorrent: likely;
/// * nothing: no corroboration (the caller's shape alone makes it a suspect).
pub(crate) fn assess(
    k: &Knowledge,
    client: SocketAddr,
    server: SocketAddr,
    now_ns: i64,
) -> Assessment {
    assess_with(k, client, server, Some(now_ns))
}

/// [`assess`] at `now` (`None`: whatever the age of the knowledge).
fn assess_with(
    k: &Knowledge,
    client: SocketAddr,
    server: SocketAddr,
    now: Option<i64>,
) -> Assessment {
    let mut a = Assessment::default();
    let endpoint = match now {
        Some(t) => k.endpoint(&server, t),
        None => k.get(&server),
    };
    let host = |ip: &std::net::IpAddr| match now {
        Some(t) => k.host(ip, t),
        None => k.host_any_time(ip),
    };
    if let Some(e) = endpoint {
        for s in e.sources() {
            a.evidence.insert(s.signal());
        }
        a.infohashes = e.infohashes.clone();
        a.confidence = Some(if e.is_peer() {
            Confidence::Certain
        } else {
            Confidence::Likely
        });
        return a;
    }
    let server_host = host(&server.ip());
    if server_host.is_some_and(|h| h.speaks_on(server.port())) {
        a.evidence.insert(Signal::HostPort);
        a.confidence = Some(Confidence::Likely);
    } else if server_host.is_some() && host(&client.ip()).is_some() {
        a.evidence.insert(Signal::HostPair);
        a.confidence = Some(Confidence::Likely);
    }
    a
}
