//! `dht`: the DHT (BEP 5). One well-formed KRPC message decides. Later messages still add
//! torrents, lookups and learned endpoints: `values` are peers of the torrent the matching
//! `get_peers` asked for, `nodes`/`nodes6` are DHT nodes, an `announce_peer` names the
//! sender's listen port.
//!
//! # Torrents and lookups
//! Every target a node searches — `get_peers`, `find_node`, BEP 51 `sample_infohashes` — is a
//! *lookup* (the record's `lookups`). Only some are torrents the querier takes part in (the
//! record's `infohashes`): a client also searches for its own routing table's sake. libtorrent
//! (and so qBittorrent and Deluge) sends `get_peers` for its own node id with the last 8 bytes
//! replaced when it bootstraps and refreshes itself, and `get_peers` for a random id inside a
//! bucket's range, sent to one node, when it refreshes that bucket. So a `get_peers` target is
//! a torrent when
//! * the querier announced it (`announce_peer`, on any flow), or
//! * it does not share [`NEAR_BITS`] leading bits with the querier's own node id, and the
//!   querier asked at least [`LOOKUP_NODES`] nodes for it (on different flows): a real
//!   lookup is an iterative search that asks many nodes, a bucket refresh asks one.
//!
//! The second test is made when the flow's record is written (flows end long after a lookup
//! has asked its nodes), from the knowledge store's count of searches. `announce_peer` names a
//! torrent at once. BEP 51 `samples` are torrents that *other* nodes store: they go nowhere.
//! Whatever the fields, each packet's [`crate::PacketFacts`] carries the info-hash a
//! `get_peers` or `announce_peer` names, so that a policy can refuse DHT queries for listed
//! torrents.

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use bt::krpc::{self, Body, Method};
use bt::{InfoHash, NodeId};

use super::{Answer, Ctx, DatagramDetector};
use crate::flow::{Kind, Side, Signal};
use crate::knowledge::Source;
use crate::observe::DhtMessage;

/// Leading bits shared with the querier's own node id from which a `get_peers` target is
/// taken for the querier's own routing-table maintenance (libtorrent's self-refresh shares
/// 96; a real info-hash shares 32 bits with a given id once in 2^32).
pub const NEAR_BITS: u32 = 32;
/// Nodes (flows) a querier must ask for a target before its `get_peers` counts as a
/// torrent's lookup.
pub const LOOKUP_NODES: u16 = 2;

/// Outstanding `get_peers` and `announce_peer` queries remembered per flow, to attribute their
/// replies (and the `values` in them) to an info-hash.
const PENDING: usize = 8;
/// Transaction id bytes compared (real ids are 2–4 bytes).
const TID: usize = 8;
/// `get_peers` targets per flow waiting for the lookup test at the flow's end.
const CANDIDATES: usize = 64;

/// An outstanding `get_peers`: transaction id (zero-padded), its length, the info-hash.
type Pending = ([u8; TID], u8, InfoHash);

/// The DHT detector of one UDP flow: nothing until a `get_peers` or `announce_peer` query
/// (most DHT flows carry pings and `find_node`), then its [`Lookups`], boxed.
#[derive(Debug, Default)]
pub(crate) struct Dht(Option<Box<Lookups>>);

#[derive(Debug)]
struct Lookups {
    /// The last [`PENDING`] queries that name an info-hash, a ring.
    pending: [Pending; PENDING],
    next: u8,
    /// `get_peers` targets, with the querier's side and whether the target is near the
    /// querier's own id.
    candidates: Vec<(InfoHash, Side, bool)>,
}

impl DatagramDetector for Dht {
    /// A KRPC message is one bencoded dictionary filling the whole datagram.
    fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8], wire_len: u32) -> Answer {
        let cut = (payload.len() as u32) < wire_len;
        if cut || !krpc::probe(payload) {
            return Answer::NotMine;
        }
        let Ok(msg) = krpc::parse(payload) else {
            return Answer::NotMine;
        };
        match msg.body {
            Body::Query(q) => {
                ctx.decide(Kind::Dht, Signal::KrpcQuery);
                ctx.packet.dht = Some(DhtMessage::OtherQuery);
                match q.method {
                    Method::GetPeers { info_hash, .. } => {
                        ctx.packet.dht = Some(DhtMessage::GetPeers);
                        ctx.packet.infohash(info_hash);
                        ctx.lookup(info_hash);
                        self.remember(msg.transaction, info_hash);
                        self.search(ctx, info_hash, q.id);
                    }
                    Method::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                    } => {
                        ctx.packet.dht = Some(DhtMessage::AnnouncePeer);
                        ctx.mention(info_hash);
                        self.remember(msg.transaction, info_hash);
                        ctx.knowledge
                            .note_search(ctx.src.ip(), info_hash, true, ctx.now_ns);
                        let port = if implied_port {
                            Some(ctx.src.port())
                        } else {
                            port
                        };
                        if let Some(p) = port.filter(|&p| p != 0) {
                            ctx.learn(
                                SocketAddr::new(ctx.src.ip(), p),
                                Some(info_hash),
                                Source::DhtAnnounce,
                            );
                        }
                    }
                    Method::FindNode { target } | Method::SampleInfohashes { target } => {
                        ctx.lookup(InfoHash(target.0));
                    }
                    _ => {}
                }
            }
            Body::Response(r) => {
                ctx.decide(Kind::Dht, Signal::KrpcResponse);
                let hash = self.recall(msg.transaction);
                ctx.packet.dht = Some(DhtMessage::Response {
                    peers: r.values().next().is_some(),
                });
                if let Some(h) = hash {
                    ctx.packet.infohash(h);
                }
                for peer in r.values() {
                    ctx.learn(peer, hash, Source::DhtValues);
                }
                for (_, node) in r.nodes().chain(r.nodes6()) {
                    ctx.learn(node, None, Source::DhtNodes);
                }
                // BEP 51 samples name torrents other nodes store: nobody here takes part.
            }
            Body::Error { .. } => {
                ctx.decide(Kind::Dht, Signal::KrpcError);
                ctx.packet.dht = Some(DhtMessage::Error);
            }
        }
        // The sender of any KRPC message is a DHT node.
        ctx.learn(ctx.src, None, Source::DhtNodes);
        Answer::Mine
    }

    /// The flow ends: the `get_peers` targets its queriers searched on enough nodes, or
    /// announced, are their torrents.
    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        let Some(lookups) = &mut self.0 else {
            return;
        };
        for (h, side, near) in std::mem::take(&mut lookups.candidates) {
            let querier = if side == ctx.from { ctx.src } else { ctx.dst };
            let torrent = ctx
                .knowledge
                .search(&querier.ip(), &h)
                .is_some_and(|s| s.announced || (!near && s.nodes >= LOOKUP_NODES));
            if torrent {
                ctx.torrent(h);
            }
        }
    }
}

impl Dht {
    /// A `get_peers` for `target` from a querier whose own id is `id`: counted as a search
    /// once per flow, and kept to be judged at the flow's end.
    fn search(&mut self, ctx: &mut Ctx<'_>, target: InfoHash, id: NodeId) {
        let candidates = &mut self.lookups().candidates;
        if candidates.iter().any(|(h, ..)| *h == target) {
            return;
        }
        // Counted even when this flow keeps no more candidates: other flows' lookups need it.
        ctx.knowledge
            .note_search(ctx.src.ip(), target, false, ctx.now_ns);
        if candidates.len() < CANDIDATES {
            candidates.push((target, ctx.from, near(&target, &id)));
        }
    }

    fn lookups(&mut self) -> &mut Lookups {
        self.0.get_or_insert_with(|| {
            Box::new(Lookups {
                pending: [([0; TID], 0, InfoHash::default()); PENDING],
                next: 0,
                candidates: Vec::new(),
            })
        })
    }

    fn remember(&mut self, tid: &[u8], hash: InfoHash) {
        let l = self.lookups();
        let n = tid.len().min(TID);
        let mut t = [0u8; TID];
        t[..n].copy_from_slice(&tid[..n]);
        l.pending[usize::from(l.next) % PENDING] = (t, n as u8, hash);
        l.next = l.next.wrapping_add(1);
    }

    fn recall(&self, tid: &[u8]) -> Option<InfoHash> {
        let l = self.0.as_ref()?;
        let n = tid.len().min(TID);
        l.pending
            .iter()
            .rev()
            .find(|(t, len, _)| usize::from(*len) == n && n > 0 && t[..n] == tid[..n])
            .map(|(_, _, h)| *h)
    }
}

/// Whether `target` shares at least [`NEAR_BITS`] leading bits with the node id `id`.
pub(crate) fn near(target: &InfoHash, id: &NodeId) -> bool {
    common_prefix_bits(&target.0, &id.0) >= NEAR_BITS
}

/// Leading bits two ids share.
pub(crate) fn common_prefix_bits(a: &[u8; 20], b: &[u8; 20]) -> u32 {
    let mut bits = 0;
    for (x, y) in a.iter().zip(b) {
        let d = x ^ y;
        if d != 0 {
            return bits + d.leading_zeros();
        }
        bits += 8;
    }
    bits
}
