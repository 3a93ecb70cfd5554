//! The UDP dispatcher: one socket of a BitTorrent client carries DHT, uTP and UDP tracker
//! traffic, so every datagram is offered to the datagram detectors of the registry, before
//! and after the flow is decided (a flow may be DHT and uTP at once, and later packets still
//! carry info-hashes and peers).

use super::registry::DatagramDetectors;
use super::{Answer, Ctx, Status};

/// Datagrams no detector recognised before an undecided flow is given up, by default
/// ([`crate::Config::udp_max_misses`]). A BitTorrent client's socket speaks only DHT, uTP
/// and tracker protocols, so misses are rare there; other protocols (STUN requests, RTP,
/// QUIC, DNS, ...) miss at once.
pub const MAX_MISSES: u16 = 4;

/// Detector state of a UDP flow.
#[derive(Debug)]
pub(crate) struct UdpDetect {
    detectors: DatagramDetectors,
    misses: u16,
    max_misses: u16,
}

// A UDP flow's detector state lives as long as the flow: each detector boxes what it needs
// only once its protocol shows (most UDP flows of a BitTorrent client are DHT pings).
const _: () = assert!(std::mem::size_of::<UdpDetect>() <= 40);

impl UdpDetect {
    /// A flow given up after `max_misses` unrecognised datagrams (at least one).
    pub fn new(max_misses: u16) -> Self {
        UdpDetect {
            detectors: DatagramDetectors::default(),
            misses: 0,
            max_misses: max_misses.max(1),
        }
    }

    /// The flow ends.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.detectors.finish(ctx);
    }

    pub fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8], wire_len: u32) -> Status {
        if self.detectors.datagram(ctx, payload, wire_len) == Answer::NotMine
            && !socks_shaped(payload)
        {
            self.misses = self.misses.saturating_add(1);
        }
        if !ctx.is_bittorrent() && self.misses >= self.max_misses {
            Status::Done
        } else {
            Status::Running
        }
    }
}

/// Whether a datagram starts with a SOCKS5 UDP header (a whole datagram, FRAG 0): a relay's
/// datagram whose relay is not known yet (inline, its UDP ASSOCIATE may be judged on another
/// queue at the same moment) is not given up, so the relay's 5-tuple is never allowed for good
/// before its datagrams can be read.
fn socks_shaped(payload: &[u8]) -> bool {
    proxy::socks5::udp_header(payload).is_ok_and(|h| h.frag == 0 && h.len < payload.len())
}
