//! The in-order byte stream of one TCP direction, as much as detectors need of it.
//!
//! Detectors look only at the first few segments of each direction. This tracks the next
//! expected sequence number so that retransmitted bytes are not scanned twice and a gap is
//! noticed (a handshake split across a gap cannot be joined).

/// Position in one direction's stream.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stream {
    next_seq: Option<u32>,
    /// Bytes delivered in order so far.
    pub offset: u32,
    /// Segments with payload seen so far.
    pub segments: u16,
    /// Whether the capture cut the previous delivery short (its end was not seen).
    last_cut: bool,
}

/// New bytes of a segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivered<'a> {
    pub bytes: &'a [u8],
    /// Stream offset of `bytes[0]`.
    pub offset: u32,
    /// Whether `bytes` follow the previous delivery with no gap.
    pub contiguous: bool,
}

impl Stream {
    /// Notes a SYN: data starts at `seq + 1`.
    pub fn syn(&mut self, seq: u32) {
        if self.next_seq.is_none() {
            self.next_seq = Some(seq.wrapping_add(1));
        }
    }

    /// Takes a segment's captured payload; returns the bytes not seen before. `wire_len` is
    /// the payload length on the wire (the capture may have cut `payload`).
    pub fn deliver<'a>(
        &mut self,
        seq: u32,
        payload: &'a [u8],
        wire_len: u32,
    ) -> Option<Delivered<'a>> {
        if wire_len == 0 {
            return None;
        }
        self.segments = self.segments.saturating_add(1);
        let prev_cut = self.last_cut;
        self.last_cut = (payload.len() as u32) < wire_len;
        let Some(next) = self.next_seq else {
            // First segment seen in this direction (the SYN was missed).
            self.next_seq = Some(seq.wrapping_add(wire_len));
            self.offset = wire_len;
            return Some(Delivered {
                bytes: payload,
                offset: 0,
                contiguous: true,
            });
        };
        let ahead = seq.wrapping_sub(next);
        if ahead == 0 {
            self.next_seq = Some(next.wrapping_add(wire_len));
            let offset = self.offset;
            self.offset = self.offset.saturating_add(wire_len);
            return Some(Delivered {
                bytes: payload,
                offset,
                contiguous: !prev_cut,
            });
        }
        let behind = next.wrapping_sub(seq);
        if behind < wire_len && behind < 1 << 30 {
            // Overlaps what we had: deliver only the new tail.
            let skip = behind as usize;
            let end = seq.wrapping_add(wire_len);
            let fresh = end.wrapping_sub(next);
            self.next_seq = Some(end);
            let offset = self.offset;
            self.offset = self.offset.saturating_add(fresh);
            return Some(Delivered {
                bytes: payload.get(skip..).unwrap_or(&[]),
                offset,
                contiguous: !prev_cut,
            });
        }
        if behind < 1 << 30 {
            // A pure retransmission.
            return None;
        }
        // A gap (lost or reordered segments): resynchronise after this one.
        self.next_seq = Some(seq.wrapping_add(wire_len));
        let offset = self.offset.saturating_add(ahead);
        self.offset = offset.saturating_add(wire_len);
        Some(Delivered {
            bytes: payload,
            offset,
            contiguous: false,
        })
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
        assert_eq!(s.segments, 5);
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
