//! `tracker-udp`: the UDP tracker protocol (BEP 15).
//!
//! A connect request carries the protocol id `0x41727101980` and decides at once. An
//! announce or scrape request (its connection id is random) decides when a reply with the
//! same transaction id comes back the other way; the reply's peers are then learned for the
//! announced info-hash.

use std::net::SocketAddr;

use bt::compact::Family;
use bt::udp_tracker::{self, Request, Response, action};
use bt::{InfoHash, PeerId};

use super::{Answer, Ctx, DatagramDetector};
use crate::flow::{Kind, Side, Signal};
use crate::knowledge::Source;

const PENDING: usize = 4;
/// Info-hashes of one scrape request kept until its reply confirms the flow.
const SCRAPE_HASHES: usize = 8;

#[derive(Debug, Clone)]
struct Pending {
    transaction_id: u32,
    from: Side,
    action: u32,
    hashes: Vec<InfoHash>,
    peer_id: Option<PeerId>,
    port: u16,
}

#[derive(Debug, Default)]
pub(crate) struct UdpTracker {
    pending: Option<Box<[Option<Pending>; PENDING]>>,
    next: u8,
    /// The side that sends requests, once known: replies are never parsed as requests.
    client: Option<Side>,
}

impl DatagramDetector for UdpTracker {
    fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8], wire_len: u32) -> Answer {
        if (payload.len() as u32) < wire_len || !self.message(ctx, payload) {
            Answer::NotMine
        } else if ctx.has(Kind::TrackerUdp) {
            Answer::Mine
        } else {
            Answer::NotYet
        }
    }
}

impl UdpTracker {
    /// Returns whether the datagram was a UDP tracker message of this flow.
    fn message(&mut self, ctx: &mut Ctx<'_>, payload: &[u8]) -> bool {
        // A reply to a request we saw comes first: a scrape reply can look like a request.
        if self.client.is_some_and(|c| c != ctx.from) || self.awaits_reply(payload, ctx.from) {
            return self.reply(ctx, payload);
        }
        let Ok(req) = udp_tracker::parse_request(payload) else {
            return false;
        };
        let mut p = Pending {
            transaction_id: req.transaction_id(),
            from: ctx.from,
            action: action::CONNECT,
            hashes: Vec::new(),
            peer_id: None,
            port: 0,
        };
        match req {
            Request::Connect { .. } => {
                ctx.decide(Kind::TrackerUdp, Signal::UdpTrackerConnect);
                self.client = Some(ctx.from);
            }
            Request::Announce(a) => {
                p.action = action::ANNOUNCE;
                p.hashes.push(a.info_hash);
                p.peer_id = Some(a.peer_id);
                p.port = a.port;
            }
            Request::Scrape { .. } => {
                p.action = action::SCRAPE;
                p.hashes.extend(req.info_hashes().take(SCRAPE_HASHES));
            }
        }
        if ctx.has(Kind::TrackerUdp) {
            self.apply(ctx, &p);
        }
        self.remember(p);
        true
    }

    /// Whether `payload` starts like a reply to a pending request from the other side.
    fn awaits_reply(&self, payload: &[u8], from: Side) -> bool {
        let (Some(act), Some(tid)) = (bt_u32(payload, 0), bt_u32(payload, 4)) else {
            return false;
        };
        act <= action::ERROR
            && self.pending.as_ref().is_some_and(|ring| {
                ring.iter()
                    .flatten()
                    .any(|p| p.transaction_id == tid && p.from != from)
            })
    }

    fn reply(&mut self, ctx: &mut Ctx<'_>, payload: &[u8]) -> bool {
        let Ok(resp) = udp_tracker::parse_response(payload) else {
            return false;
        };
        let Some(p) = self.take(resp.transaction_id(), ctx.from) else {
            return false;
        };
        if p.action != action::CONNECT {
            let first = !ctx.has(Kind::TrackerUdp);
            ctx.decide(Kind::TrackerUdp, Signal::UdpTrackerExchange);
            self.client = Some(p.from);
            if first {
                self.apply(ctx, &p);
            }
        }
        if let Response::Announce { .. } = resp {
            let family = if ctx.src.is_ipv4() {
                Family::V4
            } else {
                Family::V6
            };
            let hash = p.hashes.first().copied();
            for peer in resp.peers(family) {
                ctx.learn(peer, hash, Source::TrackerUdp);
            }
        }
        true
    }

    /// Records what a request says, once the flow is known to be a tracker's.
    fn apply(&self, ctx: &mut Ctx<'_>, p: &Pending) {
        for h in &p.hashes {
            ctx.infohash(*h);
        }
        if p.action == action::ANNOUNCE
            && let Some(h) = p.hashes.first()
        {
            // Port 0 means "the source port of this datagram" in practice.
            let port = if p.port == 0 {
                ctx_port(ctx, p.from)
            } else {
                p.port
            };
            let ip = if p.from == ctx.from {
                ctx.src.ip()
            } else {
                ctx.dst.ip()
            };
            ctx.learn(SocketAddr::new(ip, port), Some(*h), Source::Announce);
        }
        if let Some(id) = p.peer_id {
            ctx.peer_id(p.from, id);
        }
    }

    fn remember(&mut self, p: Pending) {
        let ring = self.pending.get_or_insert_with(Default::default);
        ring[usize::from(self.next) % PENDING] = Some(p);
        self.next = self.next.wrapping_add(1);
    }

    /// The pending request from the other side with this transaction id.
    fn take(&mut self, tid: u32, reply_from: Side) -> Option<Pending> {
        let ring = self.pending.as_mut()?;
        let slot = ring
            .iter_mut()
            .find(|p| matches!(p, Some(p) if p.transaction_id == tid && p.from != reply_from))?;
        slot.take()
    }
}

fn bt_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn ctx_port(ctx: &Ctx<'_>, side: Side) -> u16 {
    if side == ctx.from {
        ctx.src.port()
    } else {
        ctx.dst.port()
    }
}

#[cfg(test)]
mod tests;
