//! What the inline path needs of the packet just processed: its flow, what the packet itself
//! carried, and a view of the flow's state — enough for a policy to decide per packet and per
//! torrent without the engine knowing anything of policies.

use std::net::{IpAddr, SocketAddr};

use bt::InfoHash;

use crate::Source;
use crate::flow::{Flow, FlowKey, Tunnel, Verdict};

/// Info-hashes kept per packet.
pub const MAX_PACKET_INFOHASHES: usize = 64;

/// What a DHT (KRPC) packet was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhtMessage {
    /// A `get_peers` query (its info-hash in [`PacketFacts::infohashes`]).
    GetPeers,
    /// An `announce_peer` query (its info-hash in [`PacketFacts::infohashes`]).
    AnnouncePeer,
    /// Any other query (`ping`, `find_node`, `sample_infohashes`, ...).
    OtherQuery,
    /// A response. When it answers a `get_peers` or `announce_peer` seen earlier in the flow,
    /// that query's info-hash is in [`PacketFacts::infohashes`]; `peers`: it carries `values`.
    Response {
        peers: bool,
    },
    Error,
}

/// Peers a packet named, kept per packet when asked ([`Engine::set_tap`](crate::Engine::set_tap)).
pub const MAX_PACKET_LEARNED: usize = 512;

/// An endpoint a packet named as a BitTorrent peer or node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    pub addr: SocketAddr,
    pub hash: Option<InfoHash>,
    pub source: Source,
}

/// What one packet showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketFacts {
    /// The packet opened a new flow.
    pub new_flow: bool,
    /// Info-hashes the packet itself carried (a handshake, an announce, a DHT query or the
    /// query a DHT response answers, an LSD announce), at most [`MAX_PACKET_INFOHASHES`].
    pub infohashes: Vec<InfoHash>,
    /// The packet's role, when it was a DHT message.
    pub dht: Option<DhtMessage>,
    /// Endpoints the packet named (a tracker reply's peers, DHT values, PEX), in order, at
    /// most [`MAX_PACKET_LEARNED`]; kept only while a tap is set.
    pub learned: Vec<Learned>,
    pub(crate) keep_learned: bool,
}

impl PacketFacts {
    pub(crate) fn clear(&mut self) {
        self.new_flow = false;
        self.infohashes.clear();
        self.dht = None;
        self.learned.clear();
    }

    pub(crate) fn infohash(&mut self, h: InfoHash) {
        if self.infohashes.len() < MAX_PACKET_INFOHASHES && !self.infohashes.contains(&h) {
            self.infohashes.push(h);
        }
    }
}

/// A flow's state as the inline path sees it.
#[derive(Debug, Clone, Copy)]
pub struct FlowView<'a> {
    pub key: FlowKey,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub verdict: &'a Verdict,
    /// The connection's own info-hashes: carried by its handshake or tracker requests, or,
    /// for an encrypted flow, those its responder's endpoint was learned for. Not those that
    /// DHT messages on the same socket named: those are each packet's
    /// ([`PacketFacts::infohashes`]), and the flow record lists them all.
    pub infohashes: &'a [InfoHash],
    /// The tunnel the flow goes through (its verdict and info-hashes are the inner
    /// protocol's).
    pub tunnel: Option<&'a Tunnel>,
    /// The flow is one of several that share a SOCKS5 UDP relay's 5-tuple: a decision about
    /// it must not be applied to the 5-tuple (its conntrack entry) as a whole.
    pub relayed: bool,
    /// Whether some detector still reads the flow: until it stops, later packets may add to
    /// the verdict.
    pub detecting: bool,
    /// Packets seen, both directions.
    pub packets: u64,
    /// A TCP flow on which a RST was seen.
    pub reset: bool,
    /// When the flow's first packet was seen (its record's `first_ns`).
    pub first_ns: i64,
}

/// What the engine saw of one packet.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    key: &'a FlowKey,
    state: &'a Flow,
    /// What the packet itself carried.
    pub facts: &'a PacketFacts,
    /// Whether the flow's client sent the packet.
    pub from_client: bool,
    /// For a datagram reassembled from IP fragments (this packet was its last fragment): the
    /// datagram, whose earlier fragments were [`Observed::Held`] — inline, its verdict is
    /// theirs too.
    pub datagram: Option<&'a DatagramKey>,
}

/// What the engine made of one frame.
#[derive(Debug, Clone, Copy)]
pub enum Observed<'a> {
    /// A packet of a flow.
    Flow(Seen<'a>),
    /// An IP fragment, held until the rest of its datagram arrives.
    Held(&'a DatagramKey),
    /// An IP fragment that ended its datagram without a packet of a flow (the datagram was
    /// discarded — an overlap, a bound — or is not TCP or UDP): fragments held for it need
    /// not wait any more.
    Ended(&'a DatagramKey),
    /// Nothing that belongs to a flow: not IP, another protocol, undecodable, or a fragment
    /// discarded.
    Other,
}

impl<'a> Seen<'a> {
    pub(crate) fn new(
        key: &'a FlowKey,
        state: &'a Flow,
        facts: &'a PacketFacts,
        from_client: bool,
        datagram: Option<&'a DatagramKey>,
    ) -> Self {
        Seen {
            key,
            state,
            facts,
            from_client,
            datagram,
        }
    }

    /// The packet's flow, as it stands after the packet (built when asked: an offline run
    /// never needs it).
    pub fn flow(&self) -> FlowView<'a> {
        crate::view(self.key, self.state)
    }

    /// The key of the packet's flow.
    pub fn key(&self) -> FlowKey {
        *self.key
    }
}

impl<'a> Observed<'a> {
    /// The flow's packet, if it was one.
    pub fn seen(self) -> Option<Seen<'a>> {
        match self {
            Observed::Flow(s) => Some(s),
            _ => None,
        }
    }
}

/// An IP datagram that arrived in fragments: its addresses, protocol (IPv4; 0 for IPv6, whose
/// fragments may name different next headers) and identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatagramKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub id: u32,
}

impl DatagramKey {
    pub(crate) fn of(src: IpAddr, dst: IpAddr, protocol: u8, id: u32) -> DatagramKey {
        DatagramKey {
            src,
            dst,
            protocol: if src.is_ipv4() { protocol } else { 0 },
            id,
        }
    }
}
