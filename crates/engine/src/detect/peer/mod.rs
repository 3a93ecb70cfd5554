//! `peer-tcp`: the peer wire protocol over TCP (BEP 3), plaintext or MSE/PE-encrypted.
//!
//! The handshake is searched in every byte of the first [`SCAN_SEGMENTS`] payload segments
//! of each direction, not only at offset 0: a connection that negotiates MSE and then selects
//! plaintext sends the handshake after the key exchange (at most ~1.2 KB in: two 96-byte
//! Diffie-Hellman keys, up to 512 bytes of padding twice, hashes and the verification
//! constant). A handshake split across segments is joined through a small carry buffer, and a
//! peer id split from its info-hash is read from the next segment (`scan`).
//!
//! A handshake after other bytes is believed only within the first [`LATER_MAX_OFFSET`] bytes,
//! only if the direction did not start with text, and only after the flow showed the MSE/PE
//! opening shape: a plain-text protocol (an HTTP download of a capture file, say) or any
//! binary one can carry the 20 bytes of the protocol string.
//!
//! After a handshake, the peer wire messages of that direction are read for the extension
//! handshake and peer exchange (`msgs`). An encrypted connection is judged by the MSE/PE shape
//! of its opening and what the swarm announced of its responder ([`decide_mse`]).

mod msgs;
mod scan;
#[cfg(test)]
mod tests;

use bt::handshake;
use bt::mse::Shape;

use msgs::Msgs;
#[cfg(test)]
pub(crate) use msgs::READ_LIMIT;
use scan::{Hit, Scan, ScanState};

use super::mse::Track;
use super::{Answer, Budget, Ctx, Delivered, StreamDetector, assess};
use crate::flow::{Confidence, Kind, Signal};
use crate::knowledge::Source;

/// Payload segments per direction searched for a handshake before giving up.
pub const SCAN_SEGMENTS: u16 = 8;
/// Payload segments of both directions together after which the flow is given up, so that
/// a one-sided flow (a download) frees its state too.
pub const SCAN_SEGMENTS_FLOW: u16 = 2 * SCAN_SEGMENTS;
/// Latest stream offset at which a handshake after other bytes is believed.
pub const LATER_MAX_OFFSET: u32 = 2048;

/// The `peer-tcp` detector of one stream.
#[derive(Debug, Default)]
pub(crate) struct PeerWire {
    scans: [Scan; 2],
    /// Peer wire messages after each direction's handshake (extension handshake, PEX).
    msgs: [Msgs; 2],
    /// The MSE/PE handshake shape.
    mse: Track,
    /// Segments that delivered bytes, per direction (lo, hi), and how far each direction's
    /// stream reached.
    segments: [u16; 2],
    reached: [u32; 2],
}

impl StreamDetector for PeerWire {
    fn bytes(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>, closing: bool) -> Answer {
        let dir = ctx.from as usize;
        self.segments[dir] = self.segments[dir].max(d.segment);
        self.reached[dir] = self.reached[dir].max(d.offset.saturating_add(d.len));
        // The MSE shape first: a handshake after other bytes is believed only after one.
        if self.mse.running() {
            if !ctx.roles_known {
                // Who spoke first is unknown without the connection's opening.
                self.mse.stop();
            } else if let Some(shape) = self.mse.feed(ctx.from_client, d.bytes, d.len, d.contiguous)
            {
                let (client, server) = ctx.ends();
                decide_mse(ctx, Kind::PeerTcp, shape, client, server);
            }
        }
        let after_mse = ctx.verdict.evidence.contains(Signal::MseShape);
        let scan = &mut self.scans[dir];
        if d.offset == 0 {
            scan.text = scan::looks_like_text(d.bytes);
            let n = d.bytes.len().min(handshake::PROTOCOL.len());
            scan.no_start = n > 0 && d.bytes[..n] != handshake::PROTOCOL[..n];
        }
        match scan.state {
            ScanState::Searching => match scan.scan(d) {
                Hit::Handshake(h, offset)
                    if offset == 0 || (offset < LATER_MAX_OFFSET && !scan.text && after_mse) =>
                {
                    scan.state = if h.peer_id.is_some() {
                        ScanState::Found
                    } else {
                        ScanState::NeedPeerId
                    };
                    let signal = if offset == 0 {
                        Signal::Handshake
                    } else {
                        Signal::HandshakeLater
                    };
                    ctx.decide(Kind::PeerTcp, signal);
                    // A plaintext handshake: whatever MSE negotiated, the payload is clear.
                    ctx.verdict.encrypted = false;
                    ctx.infohash(h.info_hash);
                    if let Some(id) = h.peer_id {
                        ctx.peer_id(ctx.from, id);
                    }
                    // The listening end of a peer connection is a peer of this torrent (when
                    // the opening shows which end listens).
                    if ctx.roles_known {
                        let (_, server) = ctx.ends();
                        ctx.learn(server, Some(h.info_hash), Source::PeerFlow);
                    }
                    self.msgs[dir].start(offset.saturating_add(handshake::LEN as u32), h.info_hash);
                }
                Hit::Handshake(..) => scan.state = ScanState::GaveUp,
                Hit::Nothing => {}
            },
            ScanState::NeedPeerId => {
                if let Some(id) = scan.peer_id(d) {
                    ctx.peer_id(ctx.from, id);
                }
                scan.state = ScanState::Found;
            }
            ScanState::Found | ScanState::GaveUp => {}
        }
        self.msgs[dir].feed(ctx, d);
        let scan = &mut self.scans[dir];
        if scan.state == ScanState::Searching
            && (self.segments[dir] >= SCAN_SEGMENTS || self.reached[dir] >= LATER_MAX_OFFSET)
        {
            scan.state = ScanState::GaveUp;
        }
        if self.segments[0].saturating_add(self.segments[1]) >= SCAN_SEGMENTS_FLOW {
            for s in &mut self.scans {
                if s.state == ScanState::Searching {
                    s.state = ScanState::GaveUp;
                }
            }
        }
        self.rule_out(ctx, dir);
        if closing {
            self.responder_closes(ctx);
        }
        self.answer(ctx)
    }

    fn closed(&mut self, ctx: &mut Ctx<'_>) {
        self.responder_closes(ctx);
    }

    /// The flow ends: judge an MSE opening that was never completed.
    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.close_mse(ctx);
        for m in &mut self.msgs {
            m.stop(ctx.budget);
        }
    }

    fn running(&self) -> bool {
        let scanning = self
            .scans
            .iter()
            .any(|s| matches!(s.state, ScanState::Searching | ScanState::NeedPeerId));
        scanning || self.msgs.iter().any(Msgs::running) || self.mse.running()
    }

    fn stop(&mut self, budget: &mut Budget) {
        for m in &mut self.msgs {
            m.stop(budget);
        }
        for s in &mut self.scans {
            s.state = ScanState::GaveUp;
        }
        self.mse.stop();
    }

    fn buffered(&self) -> usize {
        self.msgs.iter().map(Msgs::buffered).sum()
    }
}

impl PeerWire {
    fn answer(&self, ctx: &Ctx<'_>) -> Answer {
        if ctx.has(Kind::PeerTcp) {
            Answer::Mine
        } else if self.running() {
            Answer::NotYet
        } else {
            Answer::NotMine
        }
    }

    /// Stops the scans that can no longer find a handshake, so that a flow of another
    /// protocol is let go at its first bytes (inline, every packet read waits in a queue). A
    /// handshake is believed at the start of a stream, or later only after the MSE/PE shape;
    /// and the initiator speaks first (it sends the info-hash the recipient answers, or its
    /// MSE/PE key): an opening that is neither leaves nothing to find on the other side.
    fn rule_out(&mut self, ctx: &Ctx<'_>, dir: usize) {
        let later = self.mse.running() || ctx.verdict.evidence.contains(Signal::MseShape);
        for s in &mut self.scans {
            if s.state == ScanState::Searching && s.no_start && (s.text || !later) {
                s.state = ScanState::GaveUp;
            }
        }
        let initiator = if ctx.from_client { dir } else { 1 - dir };
        if ctx.roles_known && !later && self.scans[initiator].no_start {
            let responder = &mut self.scans[1 - initiator];
            if responder.state == ScanState::Searching {
                responder.state = ScanState::GaveUp;
            }
        }
    }

    fn close_mse(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(shape) = self.mse.close() {
            let (client, server) = ctx.ends();
            decide_mse(ctx, Kind::PeerTcp, shape, client, server);
        }
    }

    /// A FIN or RST: the responder's ends the opening (its flight is complete, or it never
    /// answered); the initiator's own does not.
    fn responder_closes(&mut self, ctx: &mut Ctx<'_>) {
        if ctx.roles_known && !ctx.from_client {
            self.close_mse(ctx);
        }
    }
}

/// Records an MSE/PE shape on a flow of `kind` from `initiator` to `responder`, at the
/// confidence the knowledge supports. Nothing is learned from it: an inference vouches for no
/// endpoint or host (it would, later, vouch for itself). The handshake scanners keep going:
/// with plaintext selected, the peer wire handshake follows.
pub(crate) fn decide_mse(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    shape: Shape,
    initiator: std::net::SocketAddr,
    responder: std::net::SocketAddr,
) {
    let a = assess(ctx.knowledge, initiator, responder, ctx.now_ns);
    let mut evidence = a.evidence;
    let confidence = match shape {
        Shape::OneSided => {
            evidence.insert(Signal::MseOneSided);
            a.confidence.map_or(Confidence::Suspect, Confidence::weaker)
        }
        _ => {
            evidence.insert(Signal::MseShape);
            a.confidence.unwrap_or(Confidence::Suspect)
        }
    };
    let plaintext = ctx.verdict.evidence.contains(Signal::Handshake)
        || ctx.verdict.evidence.contains(Signal::HandshakeLater)
        || ctx.verdict.evidence.contains(Signal::UtpHandshake);
    ctx.decide_with(kind, confidence, evidence);
    ctx.verdict.encrypted = !plaintext;
    if confidence >= Confidence::Likely {
        for h in a.infohashes {
            ctx.attribute(h);
        }
    }
}
