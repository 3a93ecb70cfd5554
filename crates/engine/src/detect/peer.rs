//! TCP flows: the peer wire handshake scanner (BEP 3) and the HTTP tracker detector.
//!
//! The handshake is searched in every byte of the first [`SCAN_SEGMENTS`] payload segments
//! of each direction, not only at offset 0: a connection that negotiates MSE and then selects
//! plaintext sends the handshake after the key exchange (at most ~1.2 KB in: two 96-byte
//! Diffie-Hellman keys, up to 512 bytes of padding twice, hashes and the verification
//! constant). A handshake split across segments is joined through a small carry buffer, and a
//! peer id split from its info-hash is read from the next segment.
//!
//! A handshake after other bytes is believed only within the first [`LATER_MAX_OFFSET`] bytes,
//! only if the direction did not start with text, and only after the flow showed the MSE/PE
//! opening shape: a plain-text protocol (an HTTP download of a capture file, say) or any
//! binary one can carry the 20 bytes of the protocol string.

use bt::handshake::{self, Handshake, PROTOCOL};
use bt::mse::Shape;

use super::http::Http;
use super::mse::Track;
use super::msgs::Msgs;
use super::stream::{Delivered, Stream};
use super::{Ctx, Status, assess};
use crate::flow::{Confidence, Kind, Side, Signal};
use crate::knowledge::Source;

/// Payload segments per direction searched for a handshake before giving up.
pub const SCAN_SEGMENTS: u16 = 8;
/// Payload segments of both directions together after which the flow is given up, so that
/// a one-sided flow (a download) frees its state too.
pub const SCAN_SEGMENTS_FLOW: u16 = 2 * SCAN_SEGMENTS;
/// Latest stream offset at which a handshake after other bytes is believed.
pub const LATER_MAX_OFFSET: u32 = 2048;

/// Longest carry: a handshake minus one byte.
const CARRY: usize = handshake::LEN - 1;

#[derive(Debug, Clone, Copy)]
struct Scan {
    carry: [u8; CARRY],
    carry_len: u8,
    state: ScanState,
    /// Whether this direction's stream started with printable text.
    text: bool,
    /// Whether this direction's first bytes were seen and do not start a handshake.
    no_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanState {
    Searching,
    /// Handshake found without its peer id: the carry holds it, the next bytes complete it.
    NeedPeerId,
    Found,
    GaveUp,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            carry: [0; CARRY],
            carry_len: 0,
            state: ScanState::Searching,
            text: false,
            no_start: false,
        }
    }
}

/// What a scan of new bytes found.
#[derive(Debug, PartialEq, Eq)]
enum Hit {
    /// A handshake with at least its info-hash; `offset` is its stream offset.
    Handshake(Handshake, u32),
    Nothing,
}

/// Whether the first bytes of a stream look like text (a line-based protocol).
fn looks_like_text(b: &[u8]) -> bool {
    let head = &b[..b.len().min(16)];
    head.len() >= 4
        && head
            .iter()
            .all(|&c| c.is_ascii_graphic() || matches!(c, b' ' | b'\r' | b'\n' | b'\t'))
}

impl Scan {
    fn scan(&mut self, d: &Delivered<'_>) -> Hit {
        if !d.contiguous {
            self.carry_len = 0;
        }
        let carried = usize::from(self.carry_len);
        if carried > 0 {
            // A handshake that starts in the carry and runs into the new bytes.
            let mut joined = [0u8; CARRY + handshake::LEN];
            let take = d.bytes.len().min(handshake::LEN);
            joined[..carried].copy_from_slice(&self.carry[..carried]);
            joined[carried..carried + take].copy_from_slice(&d.bytes[..take]);
            let joined = &joined[..carried + take];
            if let Some(at) = handshake::find(joined).filter(|&at| at < carried) {
                let start = d.offset.wrapping_sub((carried - at) as u32);
                return self.parsed(&joined[at..], start);
            }
        }
        if let Some(at) = handshake::find(d.bytes) {
            return self.parsed(&d.bytes[at..], d.offset.wrapping_add(at as u32));
        }
        // Keep a tail that could be the start of a handshake. If the carry itself ends in
        // such a prefix and the new bytes are short, join them.
        let mut tail = [0u8; CARRY + handshake::LEN];
        let take = d.bytes.len().min(PROTOCOL.len());
        let keep_old = if d.bytes.len() < PROTOCOL.len() {
            carried
        } else {
            0
        };
        tail[..keep_old].copy_from_slice(&self.carry[..keep_old]);
        tail[keep_old..keep_old + take].copy_from_slice(&d.bytes[d.bytes.len() - take..]);
        let tail = &tail[..keep_old + take];
        let n = handshake::partial_suffix(tail);
        self.keep(&tail[tail.len() - n..]);
        Hit::Nothing
    }

    /// `from` starts with the protocol string: parse what is there, keep what is missing.
    fn parsed(&mut self, from: &[u8], offset: u32) -> Hit {
        match handshake::parse(from) {
            Ok(h) => {
                // Without its peer id, keep the bytes so the next segment can complete it.
                if h.peer_id.is_none() {
                    self.keep(from);
                } else {
                    self.carry_len = 0;
                }
                Hit::Handshake(h, offset)
            }
            Err(_) => {
                self.keep(from);
                Hit::Nothing
            }
        }
    }

    /// Completes a handshake whose peer id was missing, from the next delivered bytes.
    fn peer_id(&mut self, d: &Delivered<'_>) -> Option<bt::PeerId> {
        let carried = usize::from(self.carry_len);
        self.carry_len = 0;
        if !d.contiguous || carried == 0 {
            return None;
        }
        let mut joined = [0u8; CARRY + handshake::LEN];
        let take = d.bytes.len().min(handshake::LEN);
        joined[..carried].copy_from_slice(&self.carry[..carried]);
        joined[carried..carried + take].copy_from_slice(&d.bytes[..take]);
        handshake::parse(&joined[..carried + take]).ok()?.peer_id
    }

    fn keep(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(CARRY);
        self.carry[..n].copy_from_slice(&bytes[..n]);
        self.carry_len = n as u8;
    }
}

/// Detector state of a TCP flow.
#[derive(Debug, Default)]
pub(crate) struct TcpDetect {
    streams: [Stream; 2],
    scans: [Scan; 2],
    /// Peer wire messages after each direction's handshake (extension handshake, PEX).
    msgs: [Msgs; 2],
    /// The MSE/PE handshake shape.
    mse: Track,
    http: Http,
}

impl TcpDetect {
    pub fn buffered(&self) -> usize {
        self.http.buffered() + self.msgs.iter().map(Msgs::buffered).sum::<usize>()
    }

    pub fn syn(&mut self, from: Side, seq: u32) {
        self.streams[from as usize].syn(seq);
    }

    /// Notes that `from`'s data starts at `seq` (unless known already).
    pub fn starts_at(&mut self, from: Side, seq: u32) {
        self.streams[from as usize].starts_at(seq);
    }

    /// Feeds one segment's payload (`seq`: sequence number of its first byte). `closing`: the
    /// segment carries FIN or RST.
    pub fn segment(
        &mut self,
        ctx: &mut Ctx<'_>,
        seq: u32,
        payload: &[u8],
        wire_len: u32,
        closing: bool,
    ) -> Status {
        let dir = ctx.from as usize;
        let Some(d) = self.streams[dir].deliver(seq, payload, wire_len) else {
            if closing {
                self.http.stream_end(ctx);
                self.responder_closes(ctx);
            }
            return self.status();
        };
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
            scan.text = looks_like_text(d.bytes);
            let n = d.bytes.len().min(PROTOCOL.len());
            scan.no_start = n > 0 && d.bytes[..n] != PROTOCOL[..n];
        }
        match scan.state {
            ScanState::Searching => match scan.scan(&d) {
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
                    self.http.stop(ctx.budget);
                    self.msgs[dir].start(offset.saturating_add(handshake::LEN as u32), h.info_hash);
                }
                Hit::Handshake(..) => scan.state = ScanState::GaveUp,
                Hit::Nothing => {}
            },
            ScanState::NeedPeerId => {
                if let Some(id) = scan.peer_id(&d) {
                    ctx.peer_id(ctx.from, id);
                }
                scan.state = ScanState::Found;
            }
            ScanState::Found | ScanState::GaveUp => {}
        }
        self.msgs[dir].feed(ctx, &d);
        let stream = &self.streams[dir];
        let scan = &mut self.scans[dir];
        if scan.state == ScanState::Searching
            && (stream.segments >= SCAN_SEGMENTS || stream.offset >= LATER_MAX_OFFSET)
        {
            scan.state = ScanState::GaveUp;
        }
        if self.streams[0]
            .segments
            .saturating_add(self.streams[1].segments)
            >= SCAN_SEGMENTS_FLOW
        {
            for s in &mut self.scans {
                if s.state == ScanState::Searching {
                    s.state = ScanState::GaveUp;
                }
            }
        }
        self.rule_out(ctx, dir);
        if !ctx.has(Kind::PeerTcp) {
            self.http.deliver(ctx, &d, closing);
        }
        if closing {
            self.responder_closes(ctx);
        }
        self.status()
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

    /// The flow ends: judge an MSE opening that was never completed.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.close_mse(ctx);
        for m in &mut self.msgs {
            m.stop(ctx.budget);
        }
        self.http.stop(ctx.budget);
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

    fn status(&self) -> Status {
        let scanning = self
            .scans
            .iter()
            .any(|s| matches!(s.state, ScanState::Searching | ScanState::NeedPeerId));
        let reading = self.msgs.iter().any(Msgs::running);
        if scanning || reading || self.mse.running() || self.http.running() {
            Status::Running
        } else {
            Status::Done
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

#[cfg(test)]
mod tests {
    use super::*;
    use bt::handshake::Handshake;
    use bt::handshake::{Reserved, emit};
    use bt::{InfoHash, PeerId};

    fn hs() -> [u8; 68] {
        emit(
            Reserved::default(),
            InfoHash([0x11; 20]),
            PeerId(*b"-TR3000-000000000000"),
        )
    }

    fn feed(scan: &mut Scan, chunks: &[&[u8]]) -> Option<(InfoHash, u32)> {
        let mut offset = 0u32;
        for c in chunks {
            let d = Delivered {
                bytes: c,
                offset,
                contiguous: true,
                len: c.len() as u32,
            };
            offset += c.len() as u32;
            if let Hit::Handshake(h, at) = scan.scan(&d) {
                return Some((h.info_hash, at));
            }
        }
        None
    }

    #[test]
    fn whole_handshake_at_start_and_later() {
        let h = hs();
        assert_eq!(
            feed(&mut Scan::default(), &[&h]),
            Some((InfoHash([0x11; 20]), 0))
        );
        let mut s = vec![0xaa; 300];
        s.extend(h);
        assert_eq!(
            feed(&mut Scan::default(), &[&s]),
            Some((InfoHash([0x11; 20]), 300))
        );
    }

    #[test]
    fn split_at_every_position() {
        let mut stream = vec![0x5a; 37];
        stream.extend(hs());
        stream.extend([0u8; 10]);
        for cut in 1..stream.len() {
            let got = feed(&mut Scan::default(), &[&stream[..cut], &stream[cut..]]);
            assert_eq!(got, Some((InfoHash([0x11; 20]), 37)), "cut at {cut}");
        }
    }

    #[test]
    fn split_in_three_tiny_pieces() {
        let h = hs();
        let got = feed(
            &mut Scan::default(),
            &[&h[..5], &h[5..9], &h[9..30], &h[30..]],
        );
        assert_eq!(got, Some((InfoHash([0x11; 20]), 0)));
    }

    #[test]
    fn gap_discards_carry() {
        let h = hs();
        let mut s = Scan::default();
        let d = Delivered {
            bytes: &h[..10],
            offset: 0,
            contiguous: true,
            len: h[..10].len() as u32,
        };
        assert_eq!(s.scan(&d), Hit::Nothing);
        let d = Delivered {
            bytes: &h[10..],
            offset: 500,
            contiguous: false,
            len: h[10..].len() as u32,
        };
        assert_eq!(s.scan(&d), Hit::Nothing);
    }

    #[test]
    fn peer_id_split_from_the_info_hash() {
        let h = hs();
        for cut in 48..68 {
            let mut s = Scan::default();
            let d = Delivered {
                bytes: &h[..cut],
                offset: 0,
                contiguous: true,
                len: h[..cut].len() as u32,
            };
            assert!(matches!(
                s.scan(&d),
                Hit::Handshake(Handshake { peer_id: None, .. }, 0)
            ));
            let d = Delivered {
                bytes: &h[cut..],
                offset: cut as u32,
                contiguous: true,
                len: h[cut..].len() as u32,
            };
            assert_eq!(
                s.peer_id(&d),
                Some(PeerId(*b"-TR3000-000000000000")),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn text_is_recognised() {
        assert!(looks_like_text(b"HTTP/1.1 200 OK\r\n"));
        assert!(looks_like_text(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_text(&[0x13, b'B', b'i', b't']));
        assert!(!looks_like_text(b"ab"));
    }

    #[test]
    fn no_handshake_in_other_bytes() {
        let mut s = Scan::default();
        assert_eq!(
            feed(
                &mut s,
                &[b"GET / HTTP/1.1\r\n\r\n", b"\x13BitTorrent protocoX"]
            ),
            None
        );
    }

    proptest::proptest! {
        #[test]
        fn found_whatever_the_segmentation(
            pre in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
            cuts in proptest::collection::vec(1usize..40, 1..8),
        ) {
            let mut stream = pre.clone();
            // avoid an accidental earlier partial match in the random prefix
            stream.iter_mut().for_each(|b| if *b == 0x13 { *b = 0 });
            let pre_len = stream.len() as u32;
            stream.extend(hs());
            let mut chunks = Vec::new();
            let mut rest = &stream[..];
            for c in cuts {
                if rest.is_empty() { break; }
                let n = c.min(rest.len());
                chunks.push(&rest[..n]);
                rest = &rest[n..];
            }
            if !rest.is_empty() { chunks.push(rest); }
            proptest::prop_assert_eq!(feed(&mut Scan::default(), &chunks), Some((InfoHash([0x11; 20]), pre_len)));
        }
    }
}
