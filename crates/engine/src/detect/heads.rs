//! The opening messages of both directions of a stream, buffered until they parse — for the
//! tunnel detectors, whose messages are small but may be split across segments. Buffers are
//! charged to the engine's [`Budget`] and capped per direction.

use super::{Budget, Delivered};

/// Unparsed opening bytes of the client's and the server's direction.
#[derive(Debug, Default)]
pub(crate) struct Heads {
    bufs: [Vec<u8>; 2],
    /// Stream offset of each buffer's first byte.
    at: [u32; 2],
    cap: usize,
}

impl Heads {
    /// Buffers of at most `cap` bytes per direction.
    pub fn new(cap: usize) -> Heads {
        Heads {
            cap,
            ..Heads::default()
        }
    }

    /// Appends delivered bytes of the client's (`client`) or the server's direction. False when
    /// they cannot be followed: a gap, a snaplen cut, the cap or the budget exceeded.
    pub fn push(&mut self, client: bool, d: &Delivered<'_>, budget: &mut Budget) -> bool {
        let i = usize::from(!client);
        let buf = &mut self.bufs[i];
        let expected = self.at[i].saturating_add(buf.len() as u32);
        if d.offset != expected
            || (d.bytes.len() as u32) < d.len
            || buf.len() + d.bytes.len() > self.cap
            || !budget.take(d.bytes.len())
        {
            return false;
        }
        buf.extend_from_slice(d.bytes);
        true
    }

    /// The unparsed bytes of a direction.
    pub fn get(&self, client: bool) -> &[u8] {
        &self.bufs[usize::from(!client)]
    }

    /// Drops the first `n` parsed bytes of a direction; returns the stream offset after them.
    pub fn consume(&mut self, client: bool, n: usize, budget: &mut Budget) -> u32 {
        let i = usize::from(!client);
        let n = n.min(self.bufs[i].len());
        self.bufs[i].drain(..n);
        budget.give_back(n);
        self.at[i] = self.at[i].saturating_add(n as u32);
        self.at[i]
    }

    /// Takes what is left unparsed of both directions (client's, server's): the first bytes
    /// of a tunnel's inner streams, when they came with or before the proxy's reply.
    pub fn take(&mut self, budget: &mut Budget) -> [Vec<u8>; 2] {
        budget.give_back(self.buffered());
        std::mem::take(&mut self.bufs)
    }

    /// Releases both buffers.
    pub fn clear(&mut self, budget: &mut Budget) {
        budget.give_back(self.buffered());
        self.bufs = Default::default();
    }

    pub fn buffered(&self) -> usize {
        self.bufs[0].len() + self.bufs[1].len()
    }
}
