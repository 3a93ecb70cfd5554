//! The peer wire handshake scanner of one direction: the 68-byte handshake (BEP 3) anywhere
//! in the delivered bytes, joined across segments through a small carry buffer, and a peer id
//! split from its info-hash read from the next segment.

use bt::handshake::{self, Handshake, PROTOCOL};

use crate::detect::Delivered;

/// Longest carry: a handshake minus one byte.
const CARRY: usize = handshake::LEN - 1;

#[derive(Debug)]
pub(super) struct Scan {
    /// Boxed when first needed: most streams never end in a handshake's first bytes.
    carry: Option<Box<[u8; CARRY]>>,
    carry_len: u8,
    pub state: ScanState,
    /// Whether this direction's stream started with printable text.
    pub text: bool,
    /// Whether this direction's first bytes were seen and do not start a handshake.
    pub no_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScanState {
    Searching,
    /// Handshake found without its peer id: the carry holds it, the next bytes complete it.
    NeedPeerId,
    Found,
    GaveUp,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            carry: None,
            carry_len: 0,
            state: ScanState::Searching,
            text: false,
            no_start: false,
        }
    }
}

/// What a scan of new bytes found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Hit {
    /// A handshake with at least its info-hash; `offset` is its stream offset.
    Handshake(Handshake, u32),
    Nothing,
}

/// Whether the first bytes of a stream look like text (a line-based protocol).
pub(super) fn looks_like_text(b: &[u8]) -> bool {
    let head = &b[..b.len().min(16)];
    head.len() >= 4
        && head
            .iter()
            .all(|&c| c.is_ascii_graphic() || matches!(c, b' ' | b'\r' | b'\n' | b'\t'))
}

impl Scan {
    pub fn scan(&mut self, d: &Delivered<'_>) -> Hit {
        if !d.contiguous {
            self.keep(&[]);
        }
        let carried = usize::from(self.carry_len);
        if carried > 0 {
            // A handshake that starts in the carry and runs into the new bytes.
            let mut joined = [0u8; CARRY + handshake::LEN];
            let take = d.bytes.len().min(handshake::LEN);
            joined[..carried].copy_from_slice(self.carried());
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
        tail[..keep_old].copy_from_slice(&self.carried()[..keep_old]);
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
                    self.keep(&[]);
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
    pub fn peer_id(&mut self, d: &Delivered<'_>) -> Option<bt::PeerId> {
        let carried = usize::from(self.carry_len);
        let mut joined = [0u8; CARRY + handshake::LEN];
        joined[..carried].copy_from_slice(self.carried());
        self.keep(&[]);
        if !d.contiguous || carried == 0 {
            return None;
        }
        let take = d.bytes.len().min(handshake::LEN);
        joined[carried..carried + take].copy_from_slice(&d.bytes[..take]);
        handshake::parse(&joined[..carried + take]).ok()?.peer_id
    }

    fn carried(&self) -> &[u8] {
        match &self.carry {
            Some(c) => &c[..usize::from(self.carry_len)],
            None => &[],
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(CARRY);
        if n == 0 {
            self.carry = None;
        } else {
            self.carry.get_or_insert_with(|| Box::new([0; CARRY]))[..n]
                .copy_from_slice(&bytes[..n]);
        }
        self.carry_len = n as u8;
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
                segment: 1,
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
    fn carry_boxed_only_while_a_handshake_start_waits() {
        let h = hs();
        let mut s = Scan::default();
        assert_eq!(feed(&mut s, &[&[0x5a; 300]]), None);
        assert!(
            s.carry.is_none(),
            "no handshake prefix at the end: nothing kept"
        );
        assert_eq!(feed(&mut s, &[&h[..30]]), None);
        assert_eq!(s.carried(), &h[..30]);
        let mut s = Scan::default();
        assert!(feed(&mut s, &[&h[..30], &h[30..]]).is_some());
        assert!(s.carry.is_none(), "freed once the handshake is whole");
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
            segment: 1,
        };
        assert_eq!(s.scan(&d), Hit::Nothing);
        let d = Delivered {
            bytes: &h[10..],
            offset: 500,
            contiguous: false,
            len: h[10..].len() as u32,
            segment: 1,
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
                segment: 1,
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
                segment: 1,
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
