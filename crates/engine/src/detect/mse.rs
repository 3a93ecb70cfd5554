//! The MSE/PE handshake shape of a byte stream (TCP, or uTP data): who speaks first, how
//! long each side's first flight is, whether it starts with key-like bytes (`bt::mse`).
//!
//! A [`Track`] is fed the in-order bytes of both directions and says when the shape is
//! known: two-sided when the initiator speaks a second time (so both first flights are
//! complete: at most the second payload packet of each direction), one-sided when the
//! responder closes without answering, or at the end of the flow.

use bt::mse::{self, Flights, Shape};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing yet.
    Start,
    /// The initiator's first flight.
    Initiator,
    /// The responder's first flight.
    Responder,
    /// Judged (or not MSE at all).
    Done,
}

/// The opening flights of one stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Track {
    flights: Flights,
    phase: Phase,
}

impl Default for Track {
    fn default() -> Self {
        Track {
            flights: Flights::default(),
            phase: Phase::Start,
        }
    }
}

impl Track {
    /// Whether the track still waits for bytes.
    pub fn running(&self) -> bool {
        self.phase != Phase::Done
    }

    /// Feeds the next bytes of one direction: `wire_len` bytes on the wire, of which `bytes`
    /// were captured; `contiguous`: they follow that direction's previous bytes with no gap.
    /// Returns the shape once it is known.
    ///
    /// A flight's key is judged on its first segment alone: clients write the key and its pad
    /// at once, so a flight that starts with fewer than [`mse::KEY_LEN`] bytes is not MSE (a
    /// protocol that opens with small frames, say); and one the capture cut short cannot be
    /// judged.
    pub fn feed(
        &mut self,
        from_initiator: bool,
        bytes: &[u8],
        wire_len: u32,
        contiguous: bool,
    ) -> Option<Shape> {
        if self.phase == Phase::Done {
            return None;
        }
        if !contiguous {
            // Flight lengths across a gap are unknown.
            return self.stop();
        }
        match (self.phase, from_initiator) {
            (Phase::Done, _) | (Phase::Start, false) => self.stop(),
            (Phase::Start, true) => {
                // Without a key-like opening the shape can only be `No`: stop now rather
                // than at the responder's answer (inline, each packet read waits for this).
                if !mse::looks_like_key(bytes) {
                    return self.stop();
                }
                self.flights.initiator_key = true;
                self.phase = Phase::Initiator;
                self.grow(true, wire_len)
            }
            (Phase::Initiator, true) => self.grow(true, wire_len),
            (Phase::Initiator, false) => {
                if self.flights.initiator < mse::MIN_FLIGHT || !self.flights.initiator_key {
                    return self.stop();
                }
                self.flights.responder_key = mse::looks_like_key(bytes);
                self.phase = Phase::Responder;
                self.grow(false, wire_len)
            }
            (Phase::Responder, false) => self.grow(false, wire_len),
            (Phase::Responder, true) => {
                // The third message starts with two hashes, the verification constant and
                // the crypto fields, written at once.
                if wire_len < mse::MIN_THIRD {
                    return self.stop();
                }
                self.judge()
            }
        }
    }

    /// The responder closed the connection (FIN or RST), or the flow ended: judge what there is.
    pub fn close(&mut self) -> Option<Shape> {
        match self.phase {
            Phase::Initiator | Phase::Responder => self.judge(),
            _ => None,
        }
    }

    /// Stops tracking (the stream cannot be judged).
    pub fn stop(&mut self) -> Option<Shape> {
        self.phase = Phase::Done;
        None
    }

    fn grow(&mut self, initiator: bool, wire_len: u32) -> Option<Shape> {
        let f = &mut self.flights;
        let len = if initiator {
            &mut f.initiator
        } else {
            &mut f.responder
        };
        *len = len.saturating_add(wire_len);
        if *len > mse::MAX_FLIGHT {
            return self.stop();
        }
        None
    }

    fn judge(&mut self) -> Option<Shape> {
        self.phase = Phase::Done;
        match self.flights.shape() {
            Shape::No => None,
            s => Some(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| {
                (i as u8).wrapping_mul(167).wrapping_add(seed) ^ ((i >> 3) as u8).wrapping_mul(29)
            })
            .collect()
    }

    #[test]
    fn two_sided_when_the_initiator_speaks_again() {
        let mut t = Track::default();
        assert_eq!(t.feed(true, &random(300, 1), 300, true), None);
        assert_eq!(t.feed(false, &random(200, 2), 200, true), None);
        assert_eq!(
            t.feed(false, &random(100, 3), 100, true),
            None,
            "the responder's flight grows"
        );
        assert_eq!(
            t.feed(true, &random(80, 4), 80, true),
            Some(Shape::TwoSided)
        );
        assert!(!t.running());
    }

    /// A flow's payload segments in order: (sent by the initiator, bytes).
    type Segments = Vec<(bool, Vec<u8>)>;

    /// Real openings cut from lab captures, by name.
    fn real_openings() -> Vec<(String, Segments)> {
        let text = include_str!("testdata/mse-openings.txt");
        let mut flows: Vec<(String, Segments)> = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (tag, rest) = line.split_once(' ').unwrap();
            match tag {
                "flow" => flows.push((rest.to_string(), Vec::new())),
                "i" | "r" => {
                    let bytes = (0..rest.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&rest[i..i + 2], 16).unwrap())
                        .collect();
                    flows.last_mut().unwrap().1.push((tag == "i", bytes));
                }
                _ => panic!("bad line {line}"),
            }
        }
        flows
    }

    #[test]
    fn real_openings_are_two_sided_at_the_initiators_second_flight() {
        let flows = real_openings();
        assert_eq!(flows.len(), 4);
        for (name, segments) in flows {
            let mut t = Track::default();
            let last = segments.len() - 1;
            for (i, (from_initiator, b)) in segments.iter().enumerate() {
                let got = t.feed(*from_initiator, b, b.len() as u32, true);
                let want = (i == last).then_some(Shape::TwoSided);
                assert_eq!(got, want, "{name}: segment {i}");
            }
        }
    }

    #[test]
    fn real_openings_altered_are_not_mse() {
        for (name, segments) in real_openings() {
            // the responder seen first (roles swapped)
            let mut t = Track::default();
            for (from_initiator, b) in &segments {
                assert_eq!(
                    t.feed(!from_initiator, b, b.len() as u32, true),
                    None,
                    "{name}"
                );
            }
            // a plaintext protocol's opening in place of the key
            let mut t = Track::default();
            let mut got = None;
            for (i, (from_initiator, b)) in segments.iter().enumerate() {
                let mut b = b.clone();
                if i == 0 {
                    b[..4].copy_from_slice(&[0x16, 0x03, 0x01, 0x02]);
                }
                got = got.or(t.feed(*from_initiator, &b, b.len() as u32, true));
            }
            assert_eq!(got.or(t.close()), None, "{name}");
            // the responder's flight padded beyond the longest pad
            let mut t = Track::default();
            let mut got = None;
            for (from_initiator, b) in &segments {
                let n = if *from_initiator {
                    b.len()
                } else {
                    b.len() + 700
                };
                got = got.or(t.feed(*from_initiator, b, n as u32, true));
            }
            assert_eq!(got, None, "{name}");
        }
    }

    #[test]
    fn one_sided_on_close() {
        let mut t = Track::default();
        t.feed(true, &random(549, 1), 549, true);
        assert_eq!(t.close(), Some(Shape::OneSided));
    }

    #[test]
    fn not_mse() {
        // the responder speaks first
        let mut t = Track::default();
        assert_eq!(t.feed(false, &random(300, 1), 300, true), None);
        assert!(!t.running());
        // a text opening: stopped at once, it cannot become MSE
        let mut t = Track::default();
        t.feed(true, &b"GET / HTTP/1.1\r\n".repeat(10), 160, true);
        assert!(!t.running());
        t.feed(false, &random(300, 2), 300, true);
        assert_eq!(t.feed(true, &random(80, 4), 80, true), None);
        // a responder flight too long
        let mut t = Track::default();
        t.feed(true, &random(300, 1), 300, true);
        t.feed(false, &random(1400, 2), 1400, true);
        assert!(!t.running());
        // an initiator flight too short
        let mut t = Track::default();
        t.feed(true, &random(60, 1), 60, true);
        t.feed(false, &random(300, 2), 300, true);
        assert!(!t.running());
        // a third message too short to hold the hashes
        let mut t = Track::default();
        t.feed(true, &random(300, 1), 300, true);
        t.feed(false, &random(300, 2), 300, true);
        assert_eq!(t.feed(true, &random(20, 4), 20, true), None);
        assert!(!t.running());
    }

    #[test]
    fn a_flight_opening_with_small_segments_is_not_mse() {
        // 300 bytes of random-looking data, but written 40 bytes at a time
        let key = random(300, 1);
        let mut t = Track::default();
        for c in key.chunks(40) {
            assert_eq!(t.feed(true, c, c.len() as u32, true), None);
        }
        assert!(!t.running());
        t.feed(false, &random(200, 2), 200, true);
        assert_eq!(t.feed(true, &random(80, 4), 80, true), None);
    }

    #[test]
    fn gaps_and_cuts_stop_the_judgement() {
        let mut t = Track::default();
        t.feed(true, &random(300, 1), 300, true);
        t.feed(false, &random(100, 2), 300, false);
        assert!(!t.running(), "a gap: the flight's length is unknown");
        // the capture cut the key short: it cannot be judged
        let mut t = Track::default();
        t.feed(true, &random(60, 1), 300, true);
        t.feed(false, &random(300, 2), 300, true);
        assert!(!t.running());
        // a cut after the key does not matter
        let mut t = Track::default();
        t.feed(true, &random(100, 1), 300, true);
        t.feed(false, &random(300, 2), 300, true);
        assert_eq!(
            t.feed(true, &random(80, 4), 80, true),
            Some(Shape::TwoSided)
        );
    }
}
