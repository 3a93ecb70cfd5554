//! The peer wire messages that follow a plaintext handshake, read only as far as they teach
//! something about the swarm: the extension handshake (the sender's listen port, BEP 10) and
//! peer exchange (BEP 11). Messages are framed across segments; piece data is skipped without
//! copying; reading stops after [`READ_LIMIT`] bytes of a direction, or at a gap.

use bt::InfoHash;
use bt::peer_msg::{self, Extended};

use crate::detect::Delivered;
use crate::detect::{Budget, Ctx};
use crate::knowledge::Source;

/// Stream bytes read per direction after the handshake.
pub const READ_LIMIT: u32 = 64 * 1024;
/// Largest extension message kept to be parsed (a PEX message with 50 peers is ~400 bytes).
const MAX_EXTENDED: u32 = 8 * 1024;

/// The message reader of one direction: nothing until a handshake starts it (most flows
/// never show one), a boxed [`Reader`] while it reads.
#[derive(Debug, Default)]
pub(crate) struct Msgs(Option<Box<Reader>>);

impl Msgs {
    /// Starts reading at stream offset `at` (the end of this direction's handshake).
    pub fn start(&mut self, at: u32, info_hash: InfoHash) {
        self.0 = Some(Box::new(Reader {
            at,
            start: at,
            running: true,
            info_hash: Some(info_hash),
            ..Reader::default()
        }));
    }

    pub fn running(&self) -> bool {
        self.0.is_some()
    }

    pub fn buffered(&self) -> usize {
        self.0.as_ref().map_or(0, |r| r.body.len())
    }

    pub fn stop(&mut self, budget: &mut Budget) {
        if let Some(mut r) = self.0.take() {
            r.stop(budget);
        }
    }

    /// Reads delivered bytes of this direction.
    pub fn feed(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>) {
        if let Some(r) = &mut self.0 {
            r.feed(ctx, d);
            if !r.running {
                self.0 = None;
            }
        }
    }
}

#[derive(Debug, Default)]
struct Reader {
    /// Stream offset of the next byte to read.
    at: u32,
    /// Where reading started (just after the handshake).
    start: u32,
    header: [u8; 5],
    header_len: u8,
    /// Bytes left in the current message body.
    left: u32,
    /// The body of an extension message being kept.
    body: Vec<u8>,
    keep: bool,
    running: bool,
    info_hash: Option<InfoHash>,
}

impl Reader {
    fn stop(&mut self, budget: &mut Budget) {
        budget.give_back(self.body.len());
        self.body = Vec::new();
        self.running = false;
    }

    fn feed(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>) {
        if !self.running {
            return;
        }
        let end = d.offset.saturating_add(d.bytes.len() as u32);
        if end <= self.at {
            return; // all before the handshake's end (the same segment, already scanned)
        }
        if d.offset > self.at {
            // A gap, or a segment the capture cut short: framing is lost.
            self.stop(ctx.budget);
            return;
        }
        let mut bytes = &d.bytes[(self.at - d.offset) as usize..];
        while !bytes.is_empty() && self.running {
            if self.at.saturating_sub(self.start) >= READ_LIMIT {
                self.stop(ctx.budget);
                return;
            }
            if self.left == 0 {
                // Header: 4 bytes of length, then the id unless it is a keep-alive.
                let need = if self.header_len < 4 { 4 } else { 5 };
                let take = (need - usize::from(self.header_len)).min(bytes.len());
                let hl = usize::from(self.header_len);
                self.header[hl..hl + take].copy_from_slice(&bytes[..take]);
                self.header_len += take as u8;
                bytes = &bytes[take..];
                self.at += take as u32;
                if self.header_len == 4 && self.header[..4] == [0, 0, 0, 0] {
                    self.header_len = 0; // keep-alive
                    continue;
                }
                if self.header_len < 5 {
                    continue;
                }
                let (len, id) = peer_msg::header(&self.header);
                self.header_len = 0;
                self.left = len.saturating_sub(1);
                self.keep = id == Some(peer_msg::id::EXTENDED) && self.left <= MAX_EXTENDED;
                if self.left == 0 {
                    continue;
                }
            }
            let take = (self.left as usize).min(bytes.len());
            if self.keep {
                if !ctx.budget.take(take) {
                    self.stop(ctx.budget);
                    return;
                }
                self.body.extend_from_slice(&bytes[..take]);
            }
            bytes = &bytes[take..];
            self.left -= take as u32;
            self.at += take as u32;
            if self.left == 0 && self.keep {
                self.extended(ctx);
            }
        }
        if self.at.saturating_sub(self.start) >= READ_LIMIT {
            self.stop(ctx.budget);
        }
    }

    fn extended(&mut self, ctx: &mut Ctx<'_>) {
        let body = std::mem::take(&mut self.body);
        ctx.budget.give_back(body.len());
        match peer_msg::parse_extended(&body) {
            Ok(Extended::Handshake { port: Some(p), .. }) => {
                let me = std::net::SocketAddr::new(ctx.src.ip(), p);
                ctx.learn(me, self.info_hash, Source::PeerListen);
            }
            Ok(Extended::Pex(pex)) => {
                for peer in pex.added() {
                    ctx.learn(peer, self.info_hash, Source::Pex);
                }
            }
            _ => {}
        }
    }
}
