//! Message Stream Encryption / Protocol Encryption (MSE/PE), the obfuscation most BitTorrent
//! clients offer for peer connections — as much of it as can be seen without the keys.
//!
//! ```text
//! 1 A->B: Diffie-Hellman Ya, PadA
//! 2 B->A: Diffie-Hellman Yb, PadB
//! 3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!         ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! 4 B->A: ENCRYPT(VC, crypto_select, len(padD), padD), ENCRYPT2(Payload Stream)
//! 5 A->B: ENCRYPT2(Payload Stream)
//! ```
//! Ya and Yb are 768-bit public keys (96 bytes), the pads 0 to 512 random bytes: each side's
//! first flight is 96 to 608 bytes that look random from the first byte, the initiator speaks
//! first, and the responder answers before the initiator sends anything else. After that
//! everything is RC4 output (or, with plaintext selected, the peer wire protocol in clear).
//!
//! The shape is shared by other obfuscated protocols (Shadowsocks, obfs4, some VPNs), so a
//! match alone only makes a flow *suspect*; what the swarm told about the endpoints makes it
//! likely or certain (see the engine).

/// Length of a Diffie-Hellman public key (768 bits).
pub const KEY_LEN: usize = 96;
/// Longest pad after a public key.
pub const MAX_PAD: usize = 512;
/// Shortest first flight of either side.
pub const MIN_FLIGHT: u32 = KEY_LEN as u32;
/// Longest first flight of either side.
pub const MAX_FLIGHT: u32 = (KEY_LEN + MAX_PAD) as u32;
/// Shortest third message (two hashes, VC, crypto_provide, two lengths).
pub const MIN_THIRD: u32 = 20 + 20 + 8 + 4 + 2 + 2;

/// Whether `key` (at least [`KEY_LEN`] bytes) looks like the start of an MSE flight: random
/// bytes (a uniform draw of 96 bytes shows about 81 distinct values, σ ≈ 3.4; 64 is five σ
/// below), and no plaintext protocol's opening.
pub fn looks_like_key(key: &[u8]) -> bool {
    let Some(k) = key.get(..KEY_LEN) else {
        return false;
    };
    plaintext_signature(k).is_none() && distinct_bytes(k) >= 64
}

/// Number of distinct byte values in `b`.
pub fn distinct_bytes(b: &[u8]) -> u32 {
    let mut seen = [0u64; 4];
    for &x in b {
        seen[usize::from(x >> 6)] |= 1 << (x & 63);
    }
    seen.iter().map(|w| w.count_ones()).sum()
}

/// Names the plaintext protocol whose opening `b` is, among those whose later bytes can look
/// random (so the randomness test alone would not exclude them).
pub fn plaintext_signature(b: &[u8]) -> Option<&'static str> {
    match b {
        [0x13, b'B', b'i', b't', b'T', ..] => Some("bittorrent handshake"),
        // TLS / SSL 3 record: content type 20-23, version 3.x
        [0x14..=0x17, 0x03, 0x00..=0x04, ..] => Some("tls record"),
        // SSLv2-compatible ClientHello
        [0x80..=0xff, _, 0x01, 0x03, 0x00..=0x03, ..] => Some("sslv2 hello"),
        [b'S', b'S', b'H', b'-', ..] => Some("ssh"),
        _ => None,
    }
}

/// The two sides' opening flights, as far as a detector has seen them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flights {
    /// Bytes the initiator sent before the responder's first byte.
    pub initiator: u32,
    /// Bytes the responder sent before the initiator's second flight.
    pub responder: u32,
    /// Whether each flight started with key-like bytes.
    pub initiator_key: bool,
    pub responder_key: bool,
}

/// How well flights match the MSE handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Both first flights as MSE prescribes.
    TwoSided,
    /// The initiator's flight as prescribed, and the responder never answered.
    OneSided,
    No,
}

impl Flights {
    /// Judges complete flights: the caller calls it once the responder's flight has ended
    /// (the initiator spoke again, the responder closed, or the flow ended).
    pub fn shape(&self) -> Shape {
        let first_ok = self.initiator_key && (MIN_FLIGHT..=MAX_FLIGHT).contains(&self.initiator);
        if !first_ok {
            return Shape::No;
        }
        if self.responder == 0 {
            return Shape::OneSided;
        }
        if self.responder_key && (MIN_FLIGHT..=MAX_FLIGHT).contains(&self.responder) {
            Shape::TwoSided
        } else {
            Shape::No
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(seed: u32, n: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2654435761) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 7) as u8
            })
            .collect()
    }

    #[test]
    fn random_keys_pass_and_text_does_not() {
        for seed in 0..1000 {
            assert!(looks_like_key(&pseudo_random(seed, 96)), "seed {seed}");
        }
        assert!(!looks_like_key(b"GET /announce?info_hash=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP"));
        assert!(!looks_like_key(&[0u8; 96]));
        assert!(!looks_like_key(&pseudo_random(1, 95)), "too short");
        let mut tls = pseudo_random(7, 96);
        tls[..3].copy_from_slice(&[0x16, 0x03, 0x01]);
        assert!(!looks_like_key(&tls));
        let mut ssh = pseudo_random(7, 96);
        ssh[..4].copy_from_slice(b"SSH-");
        assert!(!looks_like_key(&ssh));
    }

    #[test]
    fn shapes() {
        let f = |i, r, ik, rk| Flights {
            initiator: i,
            responder: r,
            initiator_key: ik,
            responder_key: rk,
        };
        assert_eq!(f(606, 362, true, true).shape(), Shape::TwoSided);
        assert_eq!(f(96, 608, true, true).shape(), Shape::TwoSided);
        assert_eq!(f(549, 0, true, false).shape(), Shape::OneSided);
        assert_eq!(f(95, 362, true, true).shape(), Shape::No);
        assert_eq!(f(609, 362, true, true).shape(), Shape::No);
        assert_eq!(f(300, 1400, true, true).shape(), Shape::No);
        assert_eq!(f(300, 300, false, true).shape(), Shape::No);
        assert_eq!(f(300, 300, true, false).shape(), Shape::No);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = (looks_like_key(&b), plaintext_signature(&b), distinct_bytes(&b));
        }
    }
}
