//! Per-flow detectors: state machines over the pure parsers of the `bt` and `proxy` crates.
//!
//! Every detector answers the same three ways ([`Answer`]), as Retina's probes do: *mine*
//! (it recorded what it found in the [`Ctx`]), *not yet* (offer more), *not mine* (offer it
//! nothing more). Three shapes exist, listed once in [`registry`] with each protocol's kind,
//! evidence names and knowledge sources:
//! * [`StreamDetector`]: over the in-order bytes of both directions of a TCP stream — the
//!   first to answer *mine* claims the stream;
//! * [`DatagramDetector`]: over each UDP datagram — one socket of a BitTorrent client carries
//!   DHT, uTP and tracker traffic, so every datagram is offered to each until one recognises
//!   it (answers *mine* or *not yet*);
//! * [`TunnelDetector`]: at the start of a TCP stream, a proxy protocol (SOCKS, HTTP CONNECT)
//!   whose reply opens an inner stream: the stream detectors start again on it, with the
//!   tunnel's target in place of the proxy (see [`tcp`]).
//!
//! A flow carries detector state only while some detector still has something to learn from
//! it; when every detector is done the state is freed, so a bulk transfer costs one table
//! lookup and a few counters per packet.
//!
//! No decision rests on a port number. The LSD multicast group and port are part of BEP 14,
//! but even LSD is recognised by its payload.

pub(crate) mod registry;

mod dht;
mod heads;
mod http;
mod http_connect;
mod lsd;
mod mse;
mod peer;
mod socks;
mod stream;
mod tcp;
mod udp;
mod udp_tracker;
mod utp;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bt::{InfoHash, PeerId};

use crate::flow::{
    Confidence, Evidence, Extra, MAX_INFOHASHES_PER_FLOW, Side, Target, Tunnel, Verdict,
};
use crate::knowledge::Knowledge;
pub use registry::{Kind, Signal, Source, Teaches};

#[cfg(test)]
pub(crate) use dht::common_prefix_bits as dht_common_prefix_bits;
#[cfg(test)]
pub(crate) use peer::READ_LIMIT;
pub(crate) use socks::target;
pub(crate) use stream::Delivered;
pub(crate) use tcp::TcpDetect;
pub(crate) use udp::{MAX_MISSES, UdpDetect};

/// What a detector says of the bytes it was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// They are this detector's protocol; what it found is recorded in the context.
    Mine,
    /// They could still be: offer more.
    NotYet,
    /// They are not: offer it nothing more of this stream (of a UDP flow: not this datagram).
    NotMine,
}

/// A detector over a TCP stream (see the module docs).
pub(crate) trait StreamDetector: Default {
    /// Offers the new in-order bytes of the sender's direction. `closing`: the segment that
    /// carried them also carried FIN or RST.
    fn bytes(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>, closing: bool) -> Answer;
    /// The sender's direction ended (FIN or RST) on a segment with no new bytes.
    fn closed(&mut self, _ctx: &mut Ctx<'_>) {}
    /// The flow ends: judge what is pending.
    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
    /// Whether it still wants bytes (after *mine*, a detector may read on for more facts).
    fn running(&self) -> bool;
    /// Stops reading and returns buffers to the budget.
    fn stop(&mut self, _budget: &mut Budget) {}
    /// Bytes held in reassembly buffers (charged to the [`Budget`]).
    fn buffered(&self) -> usize {
        0
    }
}

/// A detector over UDP datagrams (see the module docs). It is never dropped for declining a
/// datagram: the next one may be its protocol.
pub(crate) trait DatagramDetector: Default {
    /// Offers a whole datagram: `wire_len` bytes on the wire, of which `payload` were
    /// captured.
    fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8], wire_len: u32) -> Answer;
    /// The flow ends.
    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}

/// A proxy protocol at the start of a TCP stream (see [`tcp`]).
pub(crate) trait TunnelDetector: Default {
    /// Offers the new bytes of one direction before any tunnel opened. `(Mine, Some(_))` once
    /// the proxy's reply says the tunnel is open.
    fn bytes(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>) -> (Answer, Option<Opened>);
    /// Stops looking and returns buffers to the budget.
    fn stop(&mut self, _budget: &mut Budget) {}
    /// Bytes held in buffers (charged to the [`Budget`]).
    fn buffered(&self) -> usize {
        0
    }
}

/// A tunnel that opened: where its inner streams start and where they lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opened {
    pub tunnel: Tunnel,
    /// Stream offsets (of the client's and the server's direction) at which the inner bytes
    /// start. `None`: no inner stream follows (a SOCKS5 UDP ASSOCIATE's control connection).
    pub inner: Option<[u32; 2]>,
    /// A SOCKS5 UDP relay announced by the proxy, for the client's datagrams.
    pub relay: Option<SocketAddr>,
    /// The inner bytes already read with the negotiation (client's, server's): what a client
    /// sent right after its request, what the proxy's reply segment carried after the reply.
    pub rest: [Vec<u8>; 2],
}

/// Detector state of one flow, allocated to the size its protocol needs.
#[derive(Debug)]
pub(crate) enum Detect {
    /// A TCP flow that has shown nothing yet.
    TcpNew,
    /// A TCP flow that has shown nothing but bare SYNs (no data, no FIN or RST), all from one
    /// side: the last one's sequence number, and its side. Its detectors are made when
    /// anything else comes ([`Detect::tcp_for`]); most such flows are connection attempts to
    /// peers that never answer, and a third of a BitTorrent-heavy capture's tracked flows.
    TcpSyn(crate::flow::Side, u32),
    Tcp(Box<TcpDetect>),
    Udp(Box<UdpDetect>),
}

/// Whether a flow's detectors want more packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Running,
    Done,
}

impl Detect {
    /// The TCP detectors, made from a pending SYN if need be (`None` for UDP).
    pub fn tcp_for(&mut self) -> Option<&mut TcpDetect> {
        match *self {
            Detect::TcpSyn(side, seq) => {
                let mut t = Box::<TcpDetect>::default();
                t.syn(side, seq);
                *self = Detect::Tcp(t);
            }
            Detect::TcpNew => *self = Detect::Tcp(Box::default()),
            _ => {}
        }
        match self {
            Detect::Tcp(t) => Some(t),
            _ => None,
        }
    }

    pub fn udp(max_misses: u16) -> Detect {
        Detect::Udp(Box::new(UdpDetect::new(max_misses)))
    }

    /// Bytes this state holds in reassembly buffers (charged to the [`Budget`]).
    pub fn buffered(&self) -> usize {
        match self {
            Detect::Tcp(t) => t.buffered(),
            Detect::Udp(_) | Detect::TcpSyn(..) | Detect::TcpNew => 0,
        }
    }

    /// The flow ends: judge what is pending, release buffers.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>) {
        match self {
            Detect::Tcp(t) => t.finish(ctx),
            Detect::Udp(u) => u.finish(ctx),
            // What the detectors would judge of a flow of SYNs alone.
            Detect::TcpSyn(..) | Detect::TcpNew => {
                if let Some(t) = self.tcp_for() {
                    t.finish(ctx);
                }
            }
        }
    }
}

/// Raises the confidence of a held MSE/PE-shaped record from what was learned around the
/// flow — up to a time limit before it and after it: an announcement may come after the
/// connection, not a day later. Marks it relabelled, decided at its last packet.
pub(crate) fn relabel(k: &Knowledge, r: &mut crate::flow::FlowRecord) {
    let responder = match &r.tunnel {
        Some(t) => t.target.addr(),
        None => r.server,
    };
    let a = assess_with(k, r.client, responder, When::Around(r.first_ns, r.last_ns));
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
    v.decided_payloads = r
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

/// An address standing for a tunnel target known only by name: the knowledge store learns
/// nothing of an unspecified address.
pub(crate) fn unknown_addr(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
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
    /// The packet's sender and receiver as the detectors see them: inside a tunnel, the
    /// tunnel's target stands in place of the proxy (an unspecified address when the
    /// target is a name).
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub verdict: &'a mut Verdict,
    /// Payload packets sent by the client and by the server so far (this one included).
    pub payloads: [u16; 2],
    /// Whether the client/server roles are known: a TCP flow whose SYN or SYN-ACK was seen
    /// (otherwise the client is only the first sender seen), a tunnel (its client speaks
    /// first), or a UDP flow (both ends of a BitTorrent UDP socket are listen ports: the
    /// roles do not matter).
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

    /// Feeds host knowledge from a plaintext signature of `kind` (see [`Teaches`]).
    fn note_sender(&mut self, kind: Kind) {
        let (src, dst, now) = (self.src, self.dst, self.now_ns);
        let (ip, port, peer) = match kind.teaches() {
            Teaches::SenderListensToPeer => (src.ip(), src.port(), Some(dst.ip())),
            Teaches::SenderListens => (src.ip(), src.port(), None),
            Teaches::ServerListensToPeer => {
                let listens = self.roles_known && !self.from_client;
                (
                    src.ip(),
                    if listens { src.port() } else { 0 },
                    Some(dst.ip()),
                )
            }
            Teaches::ClientTookPart => (self.ends().0.ip(), 0, None),
            Teaches::SenderTookPart => (src.ip(), 0, None),
        };
        self.knowledge
            .note_host(ip, port, kind, peer.filter(|p| !p.is_unspecified()), now);
    }

    /// The flow's (client, server) endpoints, as the detectors see them.
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

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Records an info-hash carried by this packet (and so by the flow): a torrent the
    /// flow's hosts take part in.
    pub fn infohash(&mut self, h: InfoHash) {
        self.packet.infohash(h);
        self.attribute(h);
    }

    /// Records a torrent the flow is attributed to (carried by it, or, for an encrypted
    /// flow, one its responder's endpoint was announced for).
    pub fn attribute(&mut self, h: InfoHash) {
        let extra = self.extra();
        push_new(&mut extra.infohashes, h);
        push_new(&mut extra.own_infohashes, h);
    }

    /// Records a torrent a DHT message on this packet takes part in (`announce_peer`): the
    /// packet's, and listed in the flow's record, but not the flow's own (see
    /// [`Extra::own_infohashes`]).
    pub fn mention(&mut self, h: InfoHash) {
        self.packet.infohash(h);
        self.torrent(h);
    }

    /// Lists a torrent in the flow's record only.
    pub fn torrent(&mut self, h: InfoHash) {
        push_new(&mut self.extra().infohashes, h);
    }

    /// Lists a DHT target searched on this flow (`lookups`).
    pub fn lookup(&mut self, h: InfoHash) {
        push_new(&mut self.extra().lookups, h);
    }

    /// Records the peer id of the endpoint on `side`.
    pub fn peer_id(&mut self, side: Side, id: PeerId) {
        let slot = &mut self.extra().peer_ids[side as usize];
        if slot.is_none() {
            *slot = Some(id);
        }
    }

    /// Records the tunnel the flow goes through.
    pub fn tunnel(&mut self, t: Tunnel) {
        self.extra().tunnel = Some(Box::new(t));
    }

    /// Remembers a BitTorrent endpoint learned from a payload.
    pub fn learn(&mut self, peer: SocketAddr, hash: Option<InfoHash>, source: Source) {
        self.knowledge.learn(peer, hash, source, self.now_ns);
        let p = &mut *self.packet;
        if p.keep_learned && p.learned.len() < crate::observe::MAX_PACKET_LEARNED {
            p.learned.push(crate::observe::Learned {
                addr: peer,
                hash,
                source,
            });
        }
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
    if responder.ip().is_unspecified() {
        // A tunnel's target known only by name: nothing was learned of it.
        return a;
    }
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
    let host = |ip: &IpAddr, port: u16| match when {
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
        // Doubling from one, not from `Vec`'s four: most flows name one info-hash.
        if list.len() == list.capacity() {
            list.reserve_exact(list.len().max(1));
        }
        list.push(h);
    }
}

/// The target of a tunnel as the detectors address it.
impl Target {
    /// The target's address; an unspecified one (with its port) when it is a name.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::Addr(a) => *a,
            Target::Name(_, port) => unknown_addr(*port),
        }
    }

    /// The address that stands for the target in a relayed flow's key: its address, or for a
    /// name, one in the IPv6 discard-only prefix (`100::/64`, RFC 6666) derived from the name
    /// (FNV-1a), so that different names are different flows. It never reaches a detector or
    /// a record.
    pub fn key_addr(&self) -> SocketAddr {
        match self {
            Target::Addr(a) => *a,
            Target::Name(name, port) => {
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in name.bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
                let ip = (0x0100u128 << 112) | u128::from(h);
                SocketAddr::new(std::net::Ipv6Addr::from(ip).into(), *port)
            }
        }
    }
}
