//! DHT (BEP 5): one well-formed KRPC message decides. Later messages still add info-hashes
//! (`get_peers`, `announce_peer`, BEP 51 samples) and learned endpoints: `values` are peers
//! of the torrent the matching `get_peers` asked for, `nodes`/`nodes6` are DHT nodes, an
//! `announce_peer` names the sender's listen port.

use std::net::SocketAddr;

use bt::InfoHash;
use bt::krpc::{self, Body, Method};

use super::Ctx;
use crate::flow::{Kind, Signal};
use crate::knowledge::Source;
use crate::observe::DhtMessage;

/// Outstanding `get_peers` and `announce_peer` queries remembered per flow, to attribute their
/// replies (and the `values` in them) to an info-hash.
const PENDING: usize = 8;
/// Transaction id bytes compared (real ids are 2–4 bytes).
const TID: usize = 8;

/// An outstanding `get_peers`: transaction id (zero-padded), its length, the info-hash.
type Pending = ([u8; TID], u8, InfoHash);

#[derive(Debug, Default)]
pub(crate) struct Dht {
    pending: Option<Box<[Pending; PENDING]>>,
    next: u8,
}

impl Dht {
    /// Handles a datagram starting with `d`; returns whether it was KRPC.
    pub fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8]) -> bool {
        if !krpc::probe(payload) {
            return false;
        }
        let Ok(msg) = krpc::parse(payload) else {
            return false;
        };
        match msg.body {
            Body::Query(q) => {
                ctx.decide(Kind::Dht, Signal::KrpcQuery);
                ctx.packet.dht = Some(DhtMessage::OtherQuery);
                match q.method {
                    Method::GetPeers { info_hash, .. } => {
                        ctx.packet.dht = Some(DhtMessage::GetPeers);
                        ctx.mention(info_hash);
                        self.remember(msg.transaction, info_hash);
                    }
                    Method::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                    } => {
                        ctx.packet.dht = Some(DhtMessage::AnnouncePeer);
                        ctx.mention(info_hash);
                        self.remember(msg.transaction, info_hash);
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
                // BEP 51 samples name torrents the node knows of; the packet is not about them.
                for h in r.samples() {
                    ctx.note(h);
                }
            }
            Body::Error { .. } => {
                ctx.decide(Kind::Dht, Signal::KrpcError);
                ctx.packet.dht = Some(DhtMessage::Error);
            }
        }
        // The sender of any KRPC message is a DHT node.
        ctx.learn(ctx.src, None, Source::DhtNodes);
        true
    }

    fn remember(&mut self, tid: &[u8], hash: InfoHash) {
        let ring = self
            .pending
            .get_or_insert_with(|| Box::new([([0; TID], 0, InfoHash::default()); PENDING]));
        let n = tid.len().min(TID);
        let mut t = [0u8; TID];
        t[..n].copy_from_slice(&tid[..n]);
        ring[usize::from(self.next) % PENDING] = (t, n as u8, hash);
        self.next = self.next.wrapping_add(1);
    }

    fn recall(&self, tid: &[u8]) -> Option<InfoHash> {
        let ring = self.pending.as_ref()?;
        let n = tid.len().min(TID);
        ring.iter()
            .rev()
            .find(|(t, len, _)| usize::from(*len) == n && n > 0 && t[..n] == tid[..n])
            .map(|(_, _, h)| *h)
    }
}
