//! The in-order byte stream of one TCP direction, as much as detectors need of it.
//!
//! Detectors look only at the first few segments of each direction. This tracks the next
//! expected sequence number so that retransmitted bytes are not scanned twice and a gap is
//! noticed (a handshake split across a gap cannot be joined).

/// Position in one direction's stream.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stream {
    /// The next expected sequence number, once `started` (not an `Option`: this packs the
    /// struct into 28 bytes, two per TCP flow).
    next_seq: u32,
    started: bool,
    /// Stream offset of `next_seq` (bytes delivered in order so far, gaps included).
    pub offset: u32,
    /// Segments that delivered new bytes so far.
    pub segments: u16,
    /// Whether the capture cut the previous delivery short (its end was not seen).
    last_cut: bool,
    /// The hole a gap left: (first missing sequence number, end, its stream offset). A
    /// reordered segment that arrives later and falls in it is still delivered.
    hole: Option<(u32, u32, u32)>,
}

/// New bytes of a segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivered<'a> {
    pub bytes: &'a [u8],
    /// Stream offset of `bytes[0]`.
    pub offset: u32,
    /// Whether `bytes` follow the previous delivery with no gap.
    pub contiguous: bool,
    /// Length of the delivered part on the wire (`bytes` may be shorter: a snaplen cut).
    pub len: u32,
    /// Segments of this direction that delivered new bytes so far, this one included (a
    /// reordered segment filling a hole does not count again).
    pub segment: u16,
}

/// Sequence distances at or beyond this are taken as "before", not "after" (RFC 1982 style).
const HALF: u32 = 1 << 30;

impl Stream {
    /// Notes a SYN: data starts at `seq + 1`.
    pub fn syn(&mut self, seq: u32) {
        self.starts_at(seq.wrapping_add(1));
    }

    /// Notes that data starts at `seq`, unless where it starts is known already.
    pub fn starts_at(&mut self, seq: u32) {
        if !self.started {
            self.next_seq = seq;
            self.started = true;
        }
    }

    /// Takes a segment's captured payload (`seq` is the sequence number of its first byte);
    /// returns the bytes not seen before. `wire_len` is the payload length on the wire (the
    /// capture may have cut `payload`).
    pub fn deliver<'a>(
        &mut self,
        seq: u32,
        payload: &'a [u8],
        wire_len: u32,
    ) -> Option<Delivered<'a>> {
        if wire_len == 0 {
            return None;
        }
        let cut = (payload.len() as u32) < wire_len;
        let next = self.next_seq;
        if !self.started {
            // First segment seen in this direction (the SYN was missed).
            return Some(self.advance(seq, payload, wire_len, 0, true, cut));
        }
        let ahead = seq.wrapping_sub(next);
        if ahead == 0 {
            return Some(self.advance(seq, payload, wire_len, self.offset, !self.last_cut, cut));
        }
        let behind = next.wrapping_sub(seq);
        if behind < HALF {
            if behind < wire_len {
                // Overlaps what we had: deliver only the new tail.
                let tail = payload.get(behind as usize..).unwrap_or(&[]);
                let contiguous = !self.last_cut;
                let d = self.advance(next, tail, wire_len - behind, self.offset, contiguous, cut);
                return Some(d);
            }
            // Wholly before `next`: a retransmission, or a reordered segment filling the hole.
            let (start, end, offset) = self.hole?;
            let into = seq.wrapping_sub(start);
            if into >= end.wrapping_sub(start) {
                return None;
            }
            if into == 0 {
                let filled = wire_len.min(end.wrapping_sub(start));
                self.hole = (filled < end.wrapping_sub(start)).then(|| {
                    (
                        start.wrapping_add(filled),
                        end,
                        offset.saturating_add(filled),
                    )
                });
            }
            // Only the part inside the hole is new.
            let len = wire_len.min(end.wrapping_sub(seq));
            return Some(Delivered {
                bytes: payload.get(..len as usize).unwrap_or(payload),
                offset: offset.saturating_add(into),
                contiguous: false,
                len,
                segment: self.segments,
            });
        }
        // A gap (lost or reordered segments): remember the hole, resynchronise after this one.
        if ahead < HALF {
            self.hole = Some((next, seq, self.offset));
            let offset = self.offset.saturating_add(ahead);
            return Some(self.advance(seq, payload, wire_len, offset, false, cut));
        }
        None
    }

    fn advance<'a>(
        &mut self,
        seq: u32,
        bytes: &'a [u8],
        len: u32,
        offset: u32,
        contiguous: bool,
        cut: bool,
    ) -> Delivered<'a> {
        self.next_seq = seq.wrapping_add(len);
        self.started = true;
        self.offset = offset.saturating_add(len);
        self.segments = self.segments.saturating_add(1);
        self.last_cut = cut;
        Delivered {
            bytes,
            offset,
            contiguous,
            len,
            segment: self.segments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_retransmit_overlap_gap() {
        let mut s = Stream::default();
        s.syn(99);
        let d = s.deliver(100, b"abcd", 4).unwrap();
        assert_eq!((d.bytes, d.offset, d.contiguous), (&b"abcd"[..], 0, true));
        assert!(s.deliver(100, b"abcd", 4).is_none(), "retransmission");
        let d = s.deliver(102, b"cdef", 4).unwrap();
        assert_eq!((d.bytes, d.offset), (&b"ef"[..], 4));
        let d = s.deliver(110, b"xy", 2).unwrap();
        assert_eq!((d.offset, d.contiguous), (10, false));
        let d = s.deliver(112, b"z", 1).unwrap();
        assert_eq!((d.offset, d.contiguous), (12, true));
        assert_eq!(s.segments, 4, "the retransmission delivered nothing");
    }

    #[test]
    fn reordered_segment_fills_the_hole() {
        let mut s = Stream::default();
        s.syn(1000);
        // bytes 0..68 arrive after bytes 68..268
        let d = s.deliver(1069, &[1; 200], 200).unwrap();
        assert_eq!((d.offset, d.contiguous), (68, false));
        let d = s.deliver(1001, &[2; 68], 68).unwrap();
        assert_eq!((d.offset, d.contiguous, d.bytes.len()), (0, false, 68));
        assert!(
            s.deliver(1001, &[2; 68], 68).is_none(),
            "the hole is filled"
        );
        let d = s.deliver(1269, b"next", 4).unwrap();
        assert_eq!((d.offset, d.contiguous), (268, true));
    }

    #[test]
    fn a_late_segment_overlapping_the_hole_end_delivers_only_the_hole() {
        let mut s = Stream::default();
        s.syn(0);
        s.deliver(1, b"0123", 4).unwrap();
        s.deliver(9, b"89ab", 4).unwrap(); // bytes 4..8 missing
        let d = s.deliver(5, b"45678", 5).unwrap();
        assert_eq!((d.bytes, d.offset, d.len), (&b"4567"[..], 4, 4));
        assert!(s.deliver(5, b"4567", 4).is_none(), "the hole is filled");
    }

    #[test]
    fn a_cut_retransmission_does_not_break_contiguity() {
        let mut s = Stream::default();
        s.syn(0);
        assert!(s.deliver(1, b"0123456789", 10).unwrap().contiguous);
        assert!(s.deliver(1, b"01", 10).is_none());
        assert!(s.deliver(11, b"abc", 3).unwrap().contiguous);
    }

    #[test]
    fn snaplen_cut_breaks_contiguity() {
        let mut s = Stream::default();
        s.syn(0);
        assert!(s.deliver(1, b"ab", 1000).unwrap().contiguous);
        assert!(!s.deliver(1001, b"cd", 2).unwrap().contiguous);
        assert!(s.deliver(1003, b"e", 1).unwrap().contiguous);
    }

    #[test]
    fn wraps_around_sequence_space() {
        let mut s = Stream::default();
        s.syn(u32::MAX - 1);
        let d = s.deliver(u32::MAX, b"ab", 2).unwrap();
        assert_eq!(d.offset, 0);
        let d = s.deliver(1, b"cd", 2).unwrap();
        assert_eq!((d.bytes, d.offset, d.contiguous), (&b"cd"[..], 2, true));
    }

    #[test]
    fn missed_syn_starts_at_first_segment() {
        let mut s = Stream::default();
        let d = s.deliver(5000, b"hello", 5).unwrap();
        assert_eq!(d.offset, 0);
        assert!(s.deliver(5005, b"!", 1).unwrap().contiguous);
    }
}
