//! UDP flows: one socket of a BitTorrent client carries DHT, uTP and UDP tracker traffic, so
//! every datagram is offered to the detector its first byte points to, before and after the
//! flow is decided (a flow may be DHT and uTP at once, and later packets still carry
//! info-hashes and peers).

use super::dht::Dht;
use super::lsd;
use super::udp_tracker::UdpTracker;
use super::utp::Utp;
use super::{Ctx, Status};

/// Datagrams no detector recognised before an undecided flow is given up, by default
/// ([`crate::Config::udp_max_misses`]). A BitTorrent client's socket speaks only DHT, uTP
/// and tracker protocols, so misses are rare there; other protocols (STUN requests, RTP,
/// QUIC, DNS, ...) miss at once.
pub const MAX_MISSES: u16 = 4;

/// Detector state of a UDP flow.
#[derive(Debug)]
pub(crate) struct UdpDetect {
    utp: Utp,
    dht: Dht,
    tracker: UdpTracker,
    misses: u16,
    max_misses: u16,
}

impl UdpDetect {
    /// A flow given up after `max_misses` unrecognised datagrams (at least one).
    pub fn new(max_misses: u16) -> Self {
        UdpDetect {
            utp: Utp::default(),
            dht: Dht::default(),
            tracker: UdpTracker::default(),
            misses: 0,
            max_misses: max_misses.max(1),
        }
    }

    /// The flow ends.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.utp.finish(ctx);
    }

    pub fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8], wire_len: u32) -> Status {
        let cut = (payload.len() as u32) < wire_len;
        // The first byte says which detector to ask first; UDP tracker requests start with a
        // random connection id, so the tracker detector is asked whenever the first one
        // declines.
        let first = match payload.first() {
            None => false,
            Some(b'd') => !cut && self.dht.datagram(ctx, payload),
            Some(b'B') => !cut && lsd::datagram(ctx, payload),
            // uTP: type in the high nibble (0-4), version 1 in the low one.
            Some(0x01 | 0x11 | 0x21 | 0x31 | 0x41) => self.utp.datagram(ctx, payload, wire_len),
            Some(_) => false,
        };
        let known = first || (!cut && self.tracker.datagram(ctx, payload));
        if !known {
            self.misses = self.misses.saturating_add(1);
        }
        if !ctx.is_bittorrent() && self.misses >= self.max_misses {
            Status::Done
        } else {
            Status::Running
        }
    }
}
