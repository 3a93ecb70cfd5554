//! UDP tracker (BEP 15) detector.
//!
//! A connect request carries the protocol id `0x41727101980` and decides at once. An
//! announce or scrape request (its connection id is random) decides when a reply with the
//! same transaction id comes back the other way; the reply's peers are then learned for the
//! announced info-hash.

use std::net::SocketAddr;

use bt::compact::Family;
use bt::udp_tracker::{self, Request, Response, action};
use bt::{InfoHash, PeerId};

use super::Ctx;
use crate::flow::{Kind, Side, Signal};
use crate::knowledge::Source;

const PENDING: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Pending {
    transaction_id: u32,
    from: Side,
    action: u32,
    hash: Option<InfoHash>,
    peer_id: Option<PeerId>,
    port: u16,
}

#[derive(Debug, Default)]
pub(crate) struct UdpTracker {
    pending: Option<Box<[Option<Pending>; PENDING]>>,
    next: u8,
}

impl UdpTracker {
    /// Returns whether the datagram was a UDP tracker message of this flow.
    pub fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8]) -> bool {
        if let Ok(req) = udp_tracker::parse_request(payload) {
            let mut p = Pending {
                transaction_id: req.transaction_id(),
                from: ctx.from,
                action: action::CONNECT,
                hash: None,
                peer_id: None,
                port: 0,
            };
            match req {
                Request::Connect { .. } => ctx.decide(Kind::TrackerUdp, Signal::UdpTrackerConnect),
                Request::Announce(a) => {
                    p.action = action::ANNOUNCE;
                    p.hash = Some(a.info_hash);
                    p.peer_id = Some(a.peer_id);
                    p.port = a.port;
                }
                Request::Scrape { .. } => {
                    p.action = action::SCRAPE;
                    if ctx.has(Kind::TrackerUdp) {
                        for h in req.info_hashes() {
                            ctx.infohash(h);
                        }
                    }
                }
            }
            if ctx.has(Kind::TrackerUdp) {
                self.apply(ctx, &p);
            }
            self.remember(p);
            return true;
        }
        let Ok(resp) = udp_tracker::parse_response(payload) else {
            return false;
        };
        let tid = resp.transaction_id();
        let Some(p) = self.take(tid, ctx.from) else {
            return false;
        };
        if p.action != action::CONNECT
            && matches!(
                resp,
                Response::Announce { .. } | Response::Scrape { .. } | Response::Error { .. }
            )
        {
            let first = !ctx.has(Kind::TrackerUdp);
            ctx.decide(Kind::TrackerUdp, Signal::UdpTrackerExchange);
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
            for peer in resp.peers(family) {
                ctx.learn(peer, p.hash, Source::TrackerUdp);
            }
        }
        true
    }

    /// Records what an announce request says, once the flow is known to be a tracker's.
    fn apply(&self, ctx: &mut Ctx<'_>, p: &Pending) {
        if let Some(h) = p.hash {
            ctx.infohash(h);
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
            ctx.learn(SocketAddr::new(ip, port), Some(h), Source::Announce);
        }
        if let Some(id) = p.peer_id {
            ctx.peer_id(p.from, id);
        }
    }

    fn remember(&mut self, p: Pending) {
        let ring = self
            .pending
            .get_or_insert_with(|| Box::new([None; PENDING]));
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

fn ctx_port(ctx: &Ctx<'_>, side: Side) -> u16 {
    if side == ctx.from {
        ctx.src.port()
    } else {
        ctx.dst.port()
    }
}
