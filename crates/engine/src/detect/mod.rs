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
mod peer;
mod stream;
mod udp;
mod udp_tracker;
mod utp;

use std::net::SocketAddr;

use bt::{InfoHash, PeerId};

use crate::flow::{Extra, Kind, MAX_INFOHASHES_PER_FLOW, Side, Signal, Verdict};
use crate::knowledge::{Knowledge, Source};

pub(crate) use udp::UdpDetect;

/// Detector state of one flow.
#[derive(Debug)]
pub(crate) enum Detect {
    Tcp(peer::TcpDetect),
    Udp(UdpDetect),
}

/// Whether a flow's detectors want more packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Running,
    Done,
}

impl Detect {
    pub fn tcp() -> Detect {
        Detect::Tcp(peer::TcpDetect::default())
    }

    pub fn udp() -> Detect {
        Detect::Udp(UdpDetect::default())
    }

    /// Bytes this state holds in reassembly buffers (charged to the [`Budget`]).
    pub fn buffered(&self) -> usize {
        match self {
            Detect::Tcp(t) => t.buffered(),
            Detect::Udp(_) => 0,
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
    pub extra: &'a mut Option<Box<Extra>>,
    pub knowledge: &'a mut Knowledge,
    pub budget: &'a mut Budget,
}

impl Ctx<'_> {
    /// Records that the flow is `kind` because of `signal`.
    pub fn decide(&mut self, kind: Kind, signal: Signal) {
        if self.verdict.decided_at.is_none() {
            self.verdict.decided_at = Some(self.index);
        }
        self.verdict.kinds.insert(kind);
        self.verdict.evidence.insert(signal);
    }

    pub fn is_decided(&self) -> bool {
        self.verdict.decided_at.is_some()
    }

    pub fn has(&self, kind: Kind) -> bool {
        self.verdict.kinds.contains(kind)
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
