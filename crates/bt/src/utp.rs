//! uTorrent Transport Protocol header (BEP 29).
//!
//! ```text
//!  0       4       8               16              24              32
//! | type  | ver   | extension     | connection_id                 |
//! | timestamp_microseconds                                        |
//! | timestamp_difference_microseconds                             |
//! | wnd_size                                                      |
//! | seq_nr                        | ack_nr                        |
//! ```
//! followed by a chain of extensions (`next type`, `length`, `length` bytes) and the payload.
//!
//! uTP has no magic number, so a random UDP payload passes a loose check one time in a few
//! dozen. [`Header::new_checked`] is therefore strict: version 1, type 0–4, only the extensions
//! real implementations send, with their exact lengths, and no payload on packets that never
//! carry one. Flows still need the two directions to agree ([`answers`]) before a detector
//! should believe it.
//!
//! Connection ids (BEP 29): the initiator picks `recv_id`, sends ST_SYN with
//! `connection_id = recv_id`, then everything else with `recv_id + 1`; the responder sends
//! with `connection_id = recv_id` (the SYN's value).

use crate::{Error, array, be16, be32, invalid};

/// Fixed header length.
pub const HEADER_LEN: usize = 20;
/// Extensions followed before the header is declared malformed.
pub const MAX_EXTENSIONS: usize = 4;

mod field {
    pub const TYPE_VER: usize = 0;
    pub const EXTENSION: usize = 1;
    pub const CONNECTION_ID: usize = 2;
    pub const TIMESTAMP: usize = 4;
    pub const TIMESTAMP_DIFF: usize = 8;
    pub const WND_SIZE: usize = 12;
    pub const SEQ_NR: usize = 16;
    pub const ACK_NR: usize = 18;
}

/// Extension types seen in real implementations.
pub mod extension {
    /// Selective ACK (BEP 29): a bitmask, length a non-zero multiple of 4.
    pub const SELECTIVE_ACK: u8 = 1;
    /// "Extension bits" (libutp): 8 bytes.
    pub const EXTENSION_BITS: u8 = 2;
    /// Close reason (libtorrent): 4 bytes.
    pub const CLOSE_REASON: u8 = 3;
}

/// Packet type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Data,
    Fin,
    State,
    Reset,
    Syn,
}

impl Type {
    fn from_nibble(n: u8) -> Option<Type> {
        Some(match n {
            0 => Type::Data,
            1 => Type::Fin,
            2 => Type::State,
            3 => Type::Reset,
            4 => Type::Syn,
            _ => return None,
        })
    }
}

/// A checked view of a uTP packet.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    buf: &'a [u8],
    kind: Type,
    payload_at: usize,
}

impl<'a> Header<'a> {
    /// Validates a uTP header strictly; see the module docs.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let Some(first) = buf.get(field::TYPE_VER) else {
            return Err(Error::Incomplete);
        };
        if first & 0x0f != 1 {
            return invalid("uTP version 1");
        }
        let Some(kind) = Type::from_nibble(first >> 4) else {
            return invalid("uTP type 0-4");
        };
        if buf.len() < HEADER_LEN {
            return Err(Error::Incomplete);
        }
        let mut ext = buf[field::EXTENSION];
        let mut at = HEADER_LEN;
        let mut count = 0;
        while ext != 0 {
            count += 1;
            if count > MAX_EXTENSIONS {
                return invalid("at most 4 uTP extensions");
            }
            let Some([next, len]) = array::<2>(buf, at) else {
                return Err(Error::Incomplete);
            };
            let ok = match ext {
                extension::SELECTIVE_ACK => len >= 4 && len % 4 == 0,
                extension::EXTENSION_BITS => len == 8,
                extension::CLOSE_REASON => len == 4,
                _ => false,
            };
            if !ok {
                return invalid("known uTP extension with its length");
            }
            at += 2 + usize::from(len);
            if at > buf.len() {
                return Err(Error::Incomplete);
            }
            ext = next;
        }
        let h = Header {
            buf,
            kind,
            payload_at: at,
        };
        let has_payload = at < buf.len();
        match kind {
            Type::State | Type::Reset | Type::Syn if has_payload => {
                return invalid("no payload on ST_STATE, ST_RESET and ST_SYN");
            }
            Type::Data if !has_payload => return invalid("payload on ST_DATA"),
            Type::Syn if h.timestamp_diff() != 0 && h.ack_nr() != 0 => {
                // A SYN answers nothing yet: libtorrent and libutp send both as zero. Allow
                // one of them set (some stacks echo) but not both.
                return invalid("ST_SYN without ack and timestamp difference");
            }
            _ => {}
        }
        Ok(h)
    }

    pub fn kind(&self) -> Type {
        self.kind
    }

    pub fn connection_id(&self) -> u16 {
        be16(self.buf, field::CONNECTION_ID).unwrap_or(0)
    }

    /// Sender's clock, in microseconds (wraps every 2^32 µs ≈ 71.6 minutes).
    pub fn timestamp(&self) -> u32 {
        be32(self.buf, field::TIMESTAMP).unwrap_or(0)
    }

    pub fn timestamp_diff(&self) -> u32 {
        be32(self.buf, field::TIMESTAMP_DIFF).unwrap_or(0)
    }

    pub fn wnd_size(&self) -> u32 {
        be32(self.buf, field::WND_SIZE).unwrap_or(0)
    }

    pub fn seq_nr(&self) -> u16 {
        be16(self.buf, field::SEQ_NR).unwrap_or(0)
    }

    pub fn ack_nr(&self) -> u16 {
        be16(self.buf, field::ACK_NR).unwrap_or(0)
    }

    /// Bytes after the header and its extensions.
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(self.payload_at..).unwrap_or(&[])
    }
}

/// What a detector remembers of one uTP packet to relate it to packets going the other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub kind: Type,
    pub connection_id: u16,
    pub seq_nr: u16,
    pub ack_nr: u16,
}

impl From<&Header<'_>> for Seen {
    fn from(h: &Header<'_>) -> Seen {
        Seen {
            kind: h.kind(),
            connection_id: h.connection_id(),
            seq_nr: h.seq_nr(),
            ack_nr: h.ack_nr(),
        }
    }
}

/// How far (mod 2^16) an ack may trail the last sequence number sent the other way: a
/// window's worth of packets in flight.
pub const ACK_BEHIND: u16 = 1024;
/// How far an ack may lead it (packets reordered between the capture point and the peer).
pub const ACK_AHEAD: u16 = 16;

/// Whether `reply` (going one way) belongs to the same uTP connection as `sent` (the last
/// packet seen going the other way), following BEP 29's connection ids: the initiator's SYN
/// carries `recv_id`, everything else it sends `recv_id + 1`, and the responder sends
/// `recv_id`. So a SYN and an answer to it carry the same id, and otherwise the two
/// directions' ids differ by exactly one. The reply must also acknowledge a sequence number
/// at or a window behind the last one sent.
pub fn answers(sent: &Seen, reply: &Seen) -> bool {
    let ids = match (sent.kind, reply.kind) {
        (Type::Syn, Type::Syn) => false,
        (Type::Syn, _) | (_, Type::Syn) => reply.connection_id == sent.connection_id,
        _ => {
            reply.connection_id == sent.connection_id.wrapping_add(1)
                || reply.connection_id == sent.connection_id.wrapping_sub(1)
        }
    };
    let ahead = reply.ack_nr.wrapping_sub(sent.seq_nr);
    let behind = sent.seq_nr.wrapping_sub(reply.ack_nr);
    ids && (ahead <= ACK_AHEAD || behind <= ACK_BEHIND)
}

/// Whether `reply` is the exact answer to a SYN: same connection id, acknowledging the SYN's
/// sequence number. One such pair identifies a uTP connection set-up.
pub fn accepts_syn(syn: &Seen, reply: &Seen) -> bool {
    syn.kind == Type::Syn
        && matches!(reply.kind, Type::State | Type::Data)
        && reply.connection_id == syn.connection_id
        && reply.ack_nr == syn.seq_nr
}

/// Writes a header (no extensions) followed by `payload`.
#[allow(clippy::too_many_arguments)]
pub fn emit(
    kind: Type,
    connection_id: u16,
    timestamp: u32,
    timestamp_diff: u32,
    wnd_size: u32,
    seq_nr: u16,
    ack_nr: u16,
    payload: &[u8],
) -> Vec<u8> {
    let t = match kind {
        Type::Data => 0u8,
        Type::Fin => 1,
        Type::State => 2,
        Type::Reset => 3,
        Type::Syn => 4,
    };
    let mut v = Vec::with_capacity(HEADER_LEN + payload.len());
    v.push(t << 4 | 1);
    v.push(0);
    v.extend(connection_id.to_be_bytes());
    v.extend(timestamp.to_be_bytes());
    v.extend(timestamp_diff.to_be_bytes());
    v.extend(wnd_size.to_be_bytes());
    v.extend(seq_nr.to_be_bytes());
    v.extend(ack_nr.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syn_state_data() {
        // BEP 29 connection set-up: SYN with recv_id 1000, STATE back with 1000, DATA with 1001.
        let syn = emit(Type::Syn, 1000, 1_000_000, 0, 1 << 20, 1, 0, &[]);
        let h = Header::new_checked(&syn).unwrap();
        assert_eq!(
            (h.kind(), h.connection_id(), h.seq_nr()),
            (Type::Syn, 1000, 1)
        );
        let state = emit(Type::State, 1000, 2_000_000, 5, 1 << 20, 77, 1, &[]);
        let s = Header::new_checked(&state).unwrap();
        assert!(answers(&Seen::from(&h), &Seen::from(&s)));
        let data = emit(
            Type::Data,
            1001,
            1_000_100,
            5,
            1 << 20,
            2,
            76,
            b"\x13BitTorrent protocol",
        );
        let d = Header::new_checked(&data).unwrap();
        assert_eq!(d.payload(), b"\x13BitTorrent protocol");
        assert!(answers(&Seen::from(&s), &Seen::from(&d)));
    }

    #[test]
    fn unrelated_connections_do_not_answer() {
        let a = Seen {
            kind: Type::Data,
            connection_id: 1000,
            seq_nr: 5,
            ack_nr: 9,
        };
        let b = Seen {
            kind: Type::State,
            connection_id: 2000,
            seq_nr: 9,
            ack_nr: 5,
        };
        assert!(!answers(&a, &b));
        let c = Seen {
            kind: Type::State,
            connection_id: 1000,
            seq_nr: 9,
            ack_nr: 30000,
        };
        assert!(!answers(&a, &c));
    }

    #[test]
    fn selective_ack_extension() {
        let mut p = emit(Type::State, 7, 1, 1, 1, 1, 1, &[]);
        p[1] = extension::SELECTIVE_ACK;
        p.extend([0, 4, 0xff, 0, 0, 0]);
        let h = Header::new_checked(&p).unwrap();
        assert!(h.payload().is_empty());
        // a SACK of length 3 is not allowed
        p[21] = 3;
        assert!(matches!(
            Header::new_checked(&p),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn strictness() {
        let ok = emit(Type::State, 7, 1, 1, 1, 1, 1, &[]);
        let cases: &[(&[u8], bool)] = &[
            (&[0x12], false),    // version 2
            (&[0x51], false),    // type 5
            (&[0x01; 10], true), // short: incomplete
        ];
        for (b, incomplete) in cases {
            let r = Header::new_checked(b);
            assert_eq!(
                r.as_ref().err() == Some(&Error::Incomplete),
                *incomplete,
                "{b:?}"
            );
            assert!(r.is_err());
        }
        // STATE with payload, DATA without
        let mut p = ok.clone();
        p.push(1);
        assert!(Header::new_checked(&p).is_err());
        let d = emit(Type::Data, 7, 1, 1, 1, 1, 1, &[]);
        assert!(Header::new_checked(&d).is_err());
        // unknown extension type
        let mut p = ok.clone();
        p[1] = 9;
        p.extend([0, 4, 0, 0, 0, 0]);
        assert!(Header::new_checked(&p).is_err());
        // extension chain running past the end
        let mut p = ok;
        p[1] = 1;
        p.extend([0, 8, 0, 0]);
        assert_eq!(Header::new_checked(&p).unwrap_err(), Error::Incomplete);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Ok(h) = Header::new_checked(&b) {
                let _ = (h.payload(), h.wnd_size(), h.timestamp(), Seen::from(&h));
            }
        }

        #[test]
        fn emit_parse_round_trip(kind in 0u8..5, id: u16, ts: u32, seq: u16, ack: u16, n in 1usize..50) {
            let kind = Type::from_nibble(kind).unwrap();
            let payload = vec![7u8; if kind == Type::Data || kind == Type::Fin { n } else { 0 }];
            let p = emit(kind, id, ts, 0, 65535, seq, ack, &payload);
            let h = Header::new_checked(&p).unwrap();
            proptest::prop_assert_eq!((h.kind(), h.connection_id(), h.timestamp(), h.seq_nr(), h.ack_nr()), (kind, id, ts, seq, ack));
            proptest::prop_assert_eq!(h.payload(), &payload[..]);
        }
    }
}
