//! Applying a policy to one packet of a flow.
//!
//! Rules are tried in order and the first whose conditions all hold decides (rules with
//! `action = "log"` are noted and passed over); nothing matching, the default decides. What a
//! rule's info-hash condition looks at depends on the traffic:
//! * a DHT packet (`get_peers`, `announce_peer`, or a response to one), a UDP tracker request
//!   or an LSD announce is about the torrents *it* names: the decision is for that packet only
//!   (one UDP socket talks about many torrents);
//! * a peer connection, or an HTTP tracker connection, is about the torrents the flow carried;
//!   an encrypted peer connection about those its responder was announced for — and only when
//!   *every* one of them is listed (an endpoint that serves a listed and an unlisted torrent
//!   cannot be told apart through the encryption).
//!
//! A decision is *final* when nothing later in the flow can change it, so the kernel can apply
//! it to the rest of the flow: a block by a rule at once; an allow once no detector reads the
//! flow any more, or once a peer connection's torrent is known (or it has run
//! [`SETTLE_PACKETS`] packets).

use std::net::SocketAddr;

use bt::InfoHash;
use engine::{Confidence, DhtMessage, Kind, KindSet, PacketFacts, Seen, Tunnel, Verdict};

use crate::{Action, Direction, Policy, Rule};

/// Packets after which a peer connection's verdict is taken as settled, even if its torrent
/// stayed unknown (an encrypted connection whose endpoint no announcement named).
pub const SETTLE_PACKETS: u64 = 64;

/// What a policy is applied to: one packet, and its flow as the engine sees it after it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub verdict: &'a Verdict,
    pub flow_infohashes: &'a [InfoHash],
    pub packet: &'a PacketFacts,
    /// Whether some detector still reads the flow.
    pub detecting: bool,
    pub packets: u64,
    /// The flow shares its 5-tuple with others (a SOCKS5 UDP relay): every decision is for
    /// the packet only, never written to the 5-tuple's conntrack entry.
    pub relayed: bool,
    /// The proxy the flow goes through (its verdict and info-hashes are the inner protocol's).
    pub tunnel: Option<&'a Tunnel>,
}

impl<'a> Subject<'a> {
    /// The packet the engine just saw, in its flow. A tunnelled flow's verdict and
    /// info-hashes are those of its inner protocol.
    pub fn new(seen: &Seen<'a>) -> Self {
        let flow = seen.flow();
        Subject {
            client: flow.client,
            server: flow.server,
            verdict: flow.verdict,
            flow_infohashes: flow.infohashes,
            packet: seen.facts,
            detecting: flow.detecting,
            packets: flow.packets,
            relayed: flow.relayed,
            tunnel: flow.tunnel,
        }
    }
}

/// What a decision applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The flow (this packet and, once final, the rest).
    Flow,
    /// This packet only.
    Packet,
}

/// The outcome for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub scope: Scope,
    /// Nothing later in the flow can change the decision.
    pub fin: bool,
    /// The deciding rule (index into [`Policy::rules`]); `None`: the default or the DHT
    /// refuse list.
    pub rule: Option<usize>,
    /// Decided by the DHT refuse list.
    pub refused: bool,
    /// `action = "log"` rules that matched on the way (bit i: rule i, for the first 64).
    pub logged: u64,
}

const PEERS: [Kind; 2] = [Kind::PeerTcp, Kind::PeerUtp];

impl Policy {
    /// Whether decisions can depend on info-hashes (rules with lists, or a DHT refuse list).
    pub fn by_hash(&self) -> bool {
        !self.refuse_dht.is_empty() || self.rules.iter().any(|r| r.infohashes.is_some())
    }

    /// Decides what to do with the packet in `s`.
    pub fn decide(&self, s: &Subject<'_>) -> Decision {
        let mut d = self.decide_flow(s);
        if s.relayed && d.scope == Scope::Flow {
            d.scope = Scope::Packet;
            d.fin = false;
        }
        d
    }

    fn decide_flow(&self, s: &Subject<'_>) -> Decision {
        let mut logged = 0u64;
        if !self.refuse_dht.is_empty()
            && about_torrents(s.packet.dht)
            && s.packet
                .infohashes
                .iter()
                .any(|h| self.refuse_dht.contains(h))
        {
            return Decision {
                action: Action::Drop,
                scope: Scope::Packet,
                fin: false,
                rule: None,
                refused: true,
                logged,
            };
        }
        for (i, r) in self.rules.iter().enumerate() {
            let Some(scope) = self.matches(r, s) else {
                continue;
            };
            match r.action {
                None => logged |= 1u64.checked_shl(i as u32).unwrap_or(0),
                Some(action) => {
                    let fin = match scope {
                        Scope::Packet => false,
                        Scope::Flow => !action.passes() || self.settled(s),
                    };
                    return Decision {
                        action,
                        scope,
                        fin,
                        rule: Some(i),
                        refused: false,
                        logged,
                    };
                }
            }
        }
        Decision {
            action: self.default,
            scope: Scope::Flow,
            fin: self.settled(s),
            rule: None,
            refused: false,
            logged,
        }
    }

    /// Whether nothing later in the flow can change which rule matches.
    fn settled(&self, s: &Subject<'_>) -> bool {
        if !s.detecting {
            return true;
        }
        let v = s.verdict;
        let peer_only = !v.kinds.is_empty() && v.kinds.iter().all(|k| PEERS.contains(&k));
        v.is_bittorrent()
            && peer_only
            && (!self.by_hash() || !s.flow_infohashes.is_empty() || s.packets >= SETTLE_PACKETS)
    }

    /// Whether rule `r` matches, and for what.
    fn matches(&self, r: &Rule, s: &Subject<'_>) -> Option<Scope> {
        let v = s.verdict;
        let gated = r.app || r.kinds.is_some() || r.encrypted.is_some() || r.confidence_set;
        if gated {
            if v.confidence < Some(r.confidence) {
                return None;
            }
            let kinds = if s.packet.dht.is_some() {
                // A DHT message is DHT, whatever else its 5-tuple carries (uTP).
                [Kind::Dht].into_iter().collect()
            } else if r.confidence == Confidence::Suspect {
                v.kinds.union(v.suspected)
            } else {
                v.kinds
            };
            if kinds.is_empty() {
                return None;
            }
            if let Some(want) = r.kinds
                && !kinds.iter().any(|k| want.contains(k))
            {
                return None;
            }
            if r.encrypted.is_some_and(|e| e != v.encrypted) {
                return None;
            }
        }
        if let Some(nets) = &r.local
            && !nets
                .iter()
                .any(|n| n.contains(&s.client.ip()) || n.contains(&s.server.ip()))
        {
            return None;
        }
        if let Some(d) = r.direction {
            let local = r.local.as_deref().unwrap_or(&self.local);
            let is_local = |a: &SocketAddr| local.iter().any(|n| n.contains(&a.ip()));
            let ok = match d {
                Direction::Outbound => is_local(&s.client),
                Direction::Inbound => is_local(&s.server),
            };
            if !ok {
                return None;
            }
        }
        let Some(listed) = &r.infohashes else {
            return Some(Scope::Flow);
        };
        if per_packet(s) {
            let hit = about_torrents(s.packet.dht) || s.packet.dht.is_none();
            return (hit && s.packet.infohashes.iter().any(|h| listed.contains(h)))
                .then_some(Scope::Packet);
        }
        let hashes = s.flow_infohashes;
        let hit = if v.encrypted {
            // Attributed through the endpoint: all of its torrents must be listed.
            !hashes.is_empty() && hashes.iter().all(|h| listed.contains(h))
        } else {
            hashes.iter().any(|h| listed.contains(h))
        };
        hit.then_some(Scope::Flow)
    }
}

/// Whether the packet is a DHT message about a torrent.
fn about_torrents(m: Option<DhtMessage>) -> bool {
    matches!(
        m,
        Some(DhtMessage::GetPeers | DhtMessage::AnnouncePeer | DhtMessage::Response { .. })
    )
}

/// Whether info-hash conditions look at the packet rather than the flow: DHT messages, and
/// UDP tracker and LSD flows (one socket, many torrents).
fn per_packet(s: &Subject<'_>) -> bool {
    if s.packet.dht.is_some() {
        return true;
    }
    let k = s.verdict.kinds;
    let udp_many: KindSet = [Kind::TrackerUdp, Kind::Lsd, Kind::Dht]
        .into_iter()
        .collect();
    k.iter().any(|x| udp_many.contains(x)) && !k.contains(Kind::PeerUtp)
}

#[cfg(test)]
mod tests;
