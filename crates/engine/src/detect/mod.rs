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

#[cfg(test)]
pub(crate) use msgs::READ_LIMIT;
pub(crate) use udp::{MAX_MISSES, UdpDetect};

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

    pub fn udp(max_misses: u16) -> Detect {
        Detect::Udp(Box::new(UdpDetect::new(max_misses)))
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

/// Raises the confidence of a held MSE/PE-shaped record from what was learned around the
/// flow — up to a time limit before it and after it: an announcement may come after the
/// connection, not a day later. Marks it relabelled, decided at its last packet.
pub(crate) fn relabel(k: &Knowledge, r: &mut crate::flow::FlowRecord) {
    let a = assess_with(k, r.client, r.server, When::Around(r.first_ns, r.last_ns));
    let Some(mut confidence) = a.confidence else {
        return;
    };
    if r.verdict.evidence.contains(Signal::MseOneSided)
        && !r.verdict.evidence.contains(Signal::MseShape)
    {
        confidence = confidence.weaker();
    }
    if r.verdict.confidence >= Some(confidence) {
        return;
    }
    let v = &mut r.verdict;
    v.confidence = Some(confidence);
    v.evidence = v.evidence.union(a.evidence);
    v.relabelled = true;
    if confidence >= Confidence::Likely {
        v.kinds = v.kinds.union(v.suspected);
        v.suspected = Default::default();
    }
    v.decided_at = Some(u32::try_from(r.packets[0] + r.packets[1]).unwrap_or(u32::MAX));
    r.decided_payloads = r
        .payload_packets
        .map(|n| u16::try_from(n).unwrap_or(u16::MAX));
    for h in a.infohashes {
        if r.infohashes.len() < MAX_INFOHASHES_PER_FLOW && !r.infohashes.contains(&h) {
            r.infohashes.push(h);
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
    /// Whether the client/server roles are known: a TCP flow whose SYN or SYN-ACK was seen
    /// (otherwise the client is only the first sender seen), or a UDP flow (both ends of a
    /// BitTorrent UDP socket are listen ports: the roles do not matter).
    pub roles_known: bool,
    pub extra: &'a mut Option<Box<Extra>>,
    pub knowledge: &'a mut Knowledge,
    pub budget: &'a mut Budget,
    /// What this packet showed (for the inline path).
    pub packet: &'a mut crate::observe::PacketFacts,
}

impl Ctx<'_> {
    /// Records that the flow is `kind` because of a plaintext `signal`: certain (likely for
    /// uTP seen one way only). Signatures teach host knowledge; inferences never do.
    pub fn decide(&mut self, kind: Kind, signal: Signal) {
        let confidence = if signal == Signal::UtpOneWay {
            Confidence::Likely
        } else {
            Confidence::Certain
        };
        let mut evidence = Evidence::default();
        evidence.insert(signal);
        self.decide_with(kind, confidence, evidence);
        self.note_sender(kind);
    }

    /// Records that the flow is `kind` at `confidence` because of `evidence`. The confidence
    /// only ever rises; `decided_at` is the packet at which it reached its level. Below
    /// `likely` the kind is only suspected.
    pub fn decide_with(&mut self, kind: Kind, confidence: Confidence, evidence: Evidence) {
        let v = &mut *self.verdict;
        if confidence >= Confidence::Likely {
            v.kinds.insert(kind);
            v.suspected.remove(kind);
        } else if !v.kinds.contains(kind) {
            v.suspected.insert(kind);
        }
        v.evidence = v.evidence.union(evidence);
        if v.confidence < Some(confidence) {
            v.confidence = Some(confidence);
            v.decided_at = Some(self.index);
            v.decided_payloads = self.payloads;
        }
    }

    /// Feeds host knowledge from a plaintext signature: the sender of a peer or DHT packet
    /// took part in BitTorrent — on that port where the port is its listen port (both ends of
    /// a UDP socket; the server end of a TCP connection whose opening was seen); the client of
    /// a tracker or the sender of an LSD announce took part (its port says nothing).
    fn note_sender(&mut self, kind: Kind) {
        let (src, dst, now) = (self.src, self.dst, self.now_ns);
        let (ip, port, peer) = match kind {
            Kind::PeerUtp => (src.ip(), src.port(), Some(dst.ip())),
            Kind::Dht => (src.ip(), src.port(), None),
            Kind::PeerTcp => {
                let listens = self.roles_known && !self.from_client;
                (
                    src.ip(),
                    if listens { src.port() } else { 0 },
                    Some(dst.ip()),
                )
            }
            Kind::TrackerHttp | Kind::TrackerUdp => (self.ends().0.ip(), 0, None),
            Kind::Lsd => (src.ip(), 0, None),
        };
        self.knowledge.note_host(ip, port, kind, peer, now);
    }

    /// The flow's (client, server) endpoints.
    pub fn ends(&self) -> (SocketAddr, SocketAddr) {
        if self.from_client {
            (self.src, self.dst)
        } else {
            (self.dst, self.src)
        }
    }

    /// Whether the flow counts as BitTorrent already (likely or certain).
    pub fn is_bittorrent(&self) -> bool {
        self.verdict.is_bittorrent()
    }

    pub fn has(&self, kind: Kind) -> bool {
        self.verdict.kinds.contains(kind) && self.verdict.is_bittorrent()
    }

    /// Records an info-hash carried by this packet (and so by the flow).
    pub fn infohash(&mut self, h: InfoHash) {
        self.packet.infohash(h);
        self.attribute(h);
    }

    /// Records an info-hash the flow is attributed to (carried by it, or, for an encrypted
    /// flow, one its responder's endpoint was learned for).
    pub fn attribute(&mut self, h: InfoHash) {
        self.note(h);
        if let Some(extra) = self.extra.as_mut() {
            push_new(&mut extra.own_infohashes, h);
        }
    }

    /// Records an info-hash a DHT message on this packet names: the packet's, and listed in
    /// the flow's record, but not the flow's own (see [`Extra::own_infohashes`]).
    pub fn mention(&mut self, h: InfoHash) {
        self.packet.infohash(h);
        self.note(h);
    }

    /// Lists an info-hash in the flow's record only.
    pub fn note(&mut self, h: InfoHash) {
        let extra = self.extra.get_or_insert_with(Default::default);
        push_new(&mut extra.infohashes, h);
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

/// Judges a flow from `initiator` to `responder` by what was known at `now_ns` of the
/// responder's endpoint and of both hosts:
/// * the endpoint was announced as a peer (tracker, DHT values, LSD, PEX, a client's own
///   announce or extension handshake, an earlier peer connection): certain;
/// * it is a DHT node, or its host spoke BitTorrent on that port, or both hosts took part in
///   BitTorrent: likely;
/// * nothing: no corroboration (the caller's shape alone makes it a suspect).
pub(crate) fn assess(
    k: &Knowledge,
    initiator: SocketAddr,
    responder: SocketAddr,
    now_ns: i64,
) -> Assessment {
    assess_with(k, initiator, responder, When::At(now_ns))
}

/// When knowledge counts.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Known at that moment.
    At(i64),
    /// Known around a flow, from a time limit before its first packet to one after its last
    /// (relabelling).
    Around(i64, i64),
}

fn assess_with(
    k: &Knowledge,
    initiator: SocketAddr,
    responder: SocketAddr,
    when: When,
) -> Assessment {
    let mut a = Assessment::default();
    let endpoint = match when {
        When::At(t) => k.endpoint(&responder, t),
        When::Around(f, l) => k.endpoint_around(&responder, f, l),
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
    // Some(whether it spoke BitTorrent on that port), when the host is known at all.
    let host = |ip: &std::net::IpAddr, port: u16| match when {
        When::At(t) => k.host(ip, t).map(|h| h.speaks_on(port, t, k.ttl_ns)),
        When::Around(f, l) => k.host_in(ip, port, f, l),
    };
    match host(&responder.ip(), responder.port()) {
        Some(true) => {
            a.evidence.insert(Signal::HostPort);
            a.confidence = Some(Confidence::Likely);
        }
        Some(false) if host(&initiator.ip(), initiator.port()).is_some() => {
            a.evidence.insert(Signal::HostPair);
            a.confidence = Some(Confidence::Likely);
        }
        _ => {}
    }
    a
}

/// Appends `h` unless present or the list is full.
fn push_new(list: &mut Vec<InfoHash>, h: InfoHash) {
    if list.len() < MAX_INFOHASHES_PER_FLOW && !list.contains(&h) {
        list.push(h);
    }
}
