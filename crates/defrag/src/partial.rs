//! One datagram in progress: the pieces received so far, sorted and never overlapping.

use crate::Reason;

/// Bytes charged for each piece held, besides its captured bytes.
pub(crate) const PIECE_COST: usize = size_of::<Piece>();

/// One fragment's data: its byte range in the datagram on the wire, and what of it was
/// captured (from `start` on; empty when nothing of it can ever be delivered).
#[derive(Debug)]
struct Piece {
    start: u32,
    end: u32,
    data: Box<[u8]>,
}

impl Piece {
    fn is_cut(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.end - self.start)
    }
}

/// What a new fragment would do to the datagram, decided before anything changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// It fits at this index of the pieces; `stored` of its captured bytes would be kept.
    Insert { at: usize, stored: usize },
    /// Its whole range is already held: a retransmission, ignored.
    Duplicate,
}

/// A datagram in progress.
#[derive(Debug)]
pub(crate) struct Partial {
    /// Sorted by `start`; no two overlap.
    pieces: Vec<Piece>,
    /// The end of the datagram, once its last fragment (More Fragments clear) arrived.
    total: Option<u32>,
    /// The furthest end of any piece (the total once known).
    max_end: u32,
    /// Wire bytes held: the datagram is complete when they add up to `total`.
    received: u32,
    /// The first byte the capture lost, as far as the pieces held tell (`u32::MAX`: none).
    /// Delivery stops there, so pieces from it on keep no bytes.
    cut: u32,
    /// From the offset-0 fragment: what the data starts with, and its header length.
    first: Option<(u8, u32)>,
    /// Bytes charged to the memory budget for this datagram, its fixed cost included.
    pub(crate) memory: usize,
}

impl Partial {
    /// An empty datagram charged `fixed` bytes for its place in the table.
    pub(crate) fn new(fixed: usize) -> Self {
        Partial {
            pieces: Vec::new(),
            total: None,
            max_end: 0,
            received: 0,
            cut: u32::MAX,
            first: None,
            memory: fixed,
        }
    }

    pub(crate) fn fragments(&self) -> usize {
        self.pieces.len()
    }

    pub(crate) fn first(&self) -> Option<(u8, u32)> {
        self.first
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.total == Some(self.received)
    }

    /// Decides what the fragment `start..end` (More Fragments `more`, `captured` bytes of it
    /// captured) would do, in the order Linux's `ip_frag_queue` checks: the end against the
    /// last fragment's, then duplicates and overlaps, then the count of pieces.
    pub(crate) fn check(
        &self,
        start: u32,
        end: u32,
        more: bool,
        captured: usize,
        max_fragments: usize,
    ) -> Result<Check, Reason> {
        if !more {
            // A last fragment ending before bytes already held, or a second last fragment
            // with another end.
            if end < self.max_end || self.total.is_some_and(|t| t != end) {
                return Err(Reason::Inconsistent);
            }
        } else if self.total.is_some_and(|t| end > t) {
            // Bytes beyond the end the last fragment gave.
            return Err(Reason::Inconsistent);
        }
        let at = self.pieces.partition_point(|p| p.end <= start);
        if let Some(next) = self.pieces.get(at)
            && next.start < end
        {
            return if self.covers(at, start, end) {
                Ok(Check::Duplicate)
            } else {
                Err(Reason::Overlap)
            };
        }
        if self.pieces.len() >= max_fragments {
            return Err(Reason::TooManyFragments);
        }
        let stored = if start >= self.cut { 0 } else { captured };
        Ok(Check::Insert { at, stored })
    }

    /// Whether the pieces from index `at` on hold all of `start..end` without a gap.
    fn covers(&self, at: usize, start: u32, end: u32) -> bool {
        let Some(first) = self.pieces.get(at) else {
            return false;
        };
        if first.start > start {
            return false;
        }
        let mut reached = first.end;
        for p in self.pieces.get(at + 1..).unwrap_or(&[]) {
            if reached >= end {
                break;
            }
            if p.start != reached {
                return false;
            }
            reached = p.end;
        }
        reached >= end
    }

    /// Adds the piece `check` placed at `at`, keeping `stored` bytes of `data`. `first` is the
    /// offset-0 fragment's (protocol, header length).
    pub(crate) fn insert(
        &mut self,
        at: usize,
        start: u32,
        end: u32,
        more: bool,
        data: &[u8],
        first: (u8, u32),
    ) {
        let wire = end - start;
        let kept = data.get(..data.len().min(wire as usize)).unwrap_or(&[]);
        let cut_here = (kept.len() as u64) < u64::from(wire);
        let stored: Box<[u8]> = if start >= self.cut {
            Box::default()
        } else {
            kept.into()
        };
        self.memory += PIECE_COST + stored.len();
        let at = at.min(self.pieces.len());
        self.pieces.insert(
            at,
            Piece {
                start,
                end,
                data: stored,
            },
        );
        self.received += wire;
        self.max_end = self.max_end.max(end);
        if !more {
            self.total = Some(end);
        }
        if start == 0 {
            self.first = Some(first);
        }
        let captured_end = start + kept.len() as u32;
        if cut_here && captured_end < self.cut {
            self.cut = captured_end;
            // Nothing from the cut on can be delivered: free what later pieces hold.
            for p in self.pieces.iter_mut().filter(|p| p.start >= captured_end) {
                self.memory -= p.data.len();
                p.data = Box::default();
            }
        }
    }

    /// The captured bytes from the start of the complete datagram up to the first byte the
    /// capture lost, and the datagram's length on the wire.
    pub(crate) fn assemble(&self) -> (Vec<u8>, u32) {
        let len: usize = self
            .pieces
            .iter()
            .take_while(|p| p.start < self.cut)
            .map(|p| p.data.len())
            .sum();
        let mut out = Vec::with_capacity(len);
        for p in &self.pieces {
            out.extend_from_slice(&p.data);
            if p.is_cut() {
                break;
            }
        }
        (out, self.total.unwrap_or(self.received))
    }

    /// For a datagram that will not complete: the offset-0 fragment's captured bytes and its
    /// length on the wire, if it was held.
    pub(crate) fn first_fragment(&self) -> Option<(Vec<u8>, u32)> {
        let p = self.pieces.first().filter(|p| p.start == 0)?;
        Some((p.data.to_vec(), p.end - p.start))
    }

    /// Recomputes what `memory` should be, for the tests' invariant checks.
    #[cfg(test)]
    pub(crate) fn recount(&self, fixed: usize) -> usize {
        fixed
            + self
                .pieces
                .iter()
                .map(|p| PIECE_COST + p.data.len())
                .sum::<usize>()
    }
}
