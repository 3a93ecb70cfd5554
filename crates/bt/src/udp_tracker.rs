//! UDP tracker protocol (BEP 15).
//!
//! ```text
//! connect request   (16)  protocol_id=0x41727101980 u64 | action=0 | transaction_id
//! connect response  (16)  action=0 | transaction_id | connection_id u64
//! announce request  (98+) connection_id u64 | action=1 | transaction_id | info_hash[20] |
//!                         peer_id[20] | downloaded u64 | left u64 | uploaded u64 | event |
//!                         ip | key | num_want i32 | port u16 | [BEP 41 options]
//! announce response (20+6n or 20+18n) action=1 | transaction_id | interval | leechers |
//!                         seeders | peers
//! scrape request    (16+20n) connection_id u64 | action=2 | transaction_id | info_hash...
//! scrape response   (8+12n) action=2 | transaction_id | (seeders, completed, leechers)...
//! error             (8+)  action=3 | transaction_id | message
//! ```
//! All integers are big-endian; actions and ids are 32 bits.
//!
//! Only the connect request carries a magic number; everything else is recognised by a
//! detector relating requests to replies through the transaction id.

use crate::compact::{Family, Peers};
use crate::{Error, InfoHash, PeerId, be16, be32, be64, invalid};

/// The protocol id that starts every connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

mod field {
    pub const CONNECTION_ID: usize = 0;
    pub const ACTION: usize = 8;
    pub const TRANSACTION_ID: usize = 12;
    pub const INFO_HASH: usize = 16;
    pub const PEER_ID: usize = 36;
    pub const EVENT: usize = 80;
    pub const PORT: usize = 96;
    pub const ANNOUNCE_LEN: usize = 98;
    // responses
    pub const R_ACTION: usize = 0;
    pub const R_TRANSACTION_ID: usize = 4;
    pub const R_CONNECTION_ID: usize = 8;
    pub const R_INTERVAL: usize = 8;
    pub const R_LEECHERS: usize = 12;
    pub const R_SEEDERS: usize = 16;
    pub const R_PEERS: usize = 20;
    pub const R_SCRAPE: usize = 8;
}

/// Actions.
pub mod action {
    pub const CONNECT: u32 = 0;
    pub const ANNOUNCE: u32 = 1;
    pub const SCRAPE: u32 = 2;
    pub const ERROR: u32 = 3;
}

/// A request from a client to a tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    Connect {
        transaction_id: u32,
    },
    Announce(Announce<'a>),
    Scrape {
        connection_id: u64,
        transaction_id: u32,
        info_hashes: &'a [u8],
    },
}

/// An announce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce<'a> {
    pub connection_id: u64,
    pub transaction_id: u32,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    /// 0 none, 1 completed, 2 started, 3 stopped.
    pub event: u32,
    pub port: u16,
    /// BEP 41 options after the fixed part.
    pub options: &'a [u8],
}

/// A reply from a tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    Connect {
        transaction_id: u32,
        connection_id: u64,
    },
    Announce {
        transaction_id: u32,
        interval: u32,
        leechers: u32,
        seeders: u32,
        peers: &'a [u8],
    },
    Scrape {
        transaction_id: u32,
        stats: &'a [u8],
    },
    Error {
        transaction_id: u32,
        message: &'a [u8],
    },
}

impl<'a> Request<'a> {
    pub fn transaction_id(&self) -> u32 {
        match self {
            Request::Connect { transaction_id } | Request::Scrape { transaction_id, .. } => {
                *transaction_id
            }
            Request::Announce(a) => a.transaction_id,
        }
    }

    /// The info-hashes named by the request.
    pub fn info_hashes(&self) -> impl Iterator<Item = InfoHash> + 'a {
        let (single, raw): (Option<InfoHash>, &'a [u8]) = match *self {
            Request::Announce(a) => (Some(a.info_hash), &[]),
            Request::Scrape { info_hashes, .. } => (None, info_hashes),
            Request::Connect { .. } => (None, &[]),
        };
        single
            .into_iter()
            .chain(raw.chunks_exact(20).filter_map(InfoHash::from_slice))
    }
}

impl<'a> Response<'a> {
    pub fn transaction_id(&self) -> u32 {
        match self {
            Response::Connect { transaction_id, .. }
            | Response::Announce { transaction_id, .. }
            | Response::Scrape { transaction_id, .. }
            | Response::Error { transaction_id, .. } => *transaction_id,
        }
    }

    /// Peers of an announce reply. The address family is not in the message: it is the
    /// family of the tracker's address, so the caller says which.
    pub fn peers(&self, family: Family) -> Peers<'a> {
        match self {
            Response::Announce { peers, .. } => Peers::new(peers, family),
            _ => Peers::new(&[], family),
        }
    }
}

/// Parses a client→tracker datagram.
pub fn parse_request(b: &[u8]) -> Result<Request<'_>, Error> {
    if b.len() < 16 {
        return invalid("a UDP tracker request of at least 16 bytes");
    }
    let connection_id = be64(b, field::CONNECTION_ID).unwrap_or(0);
    let act = be32(b, field::ACTION).unwrap_or(u32::MAX);
    let transaction_id = be32(b, field::TRANSACTION_ID).unwrap_or(0);
    match act {
        action::CONNECT if connection_id == PROTOCOL_ID && b.len() == 16 => {
            Ok(Request::Connect { transaction_id })
        }
        action::ANNOUNCE if b.len() >= field::ANNOUNCE_LEN => {
            let info_hash = InfoHash::from_slice(&b[field::INFO_HASH..field::INFO_HASH + 20]);
            let peer_id = PeerId::from_slice(&b[field::PEER_ID..field::PEER_ID + 20]);
            let (Some(info_hash), Some(peer_id)) = (info_hash, peer_id) else {
                return invalid("announce request");
            };
            let event = be32(b, field::EVENT).unwrap_or(0);
            if event > 3 {
                return invalid("announce event 0-3");
            }
            Ok(Request::Announce(Announce {
                connection_id,
                transaction_id,
                info_hash,
                peer_id,
                event,
                port: be16(b, field::PORT).unwrap_or(0),
                options: &b[field::ANNOUNCE_LEN..],
            }))
        }
        action::SCRAPE if b.len() >= 36 && (b.len() - 16).is_multiple_of(20) => {
            Ok(Request::Scrape {
                connection_id,
                transaction_id,
                info_hashes: &b[16..],
            })
        }
        _ => invalid("a UDP tracker connect, announce or scrape request"),
    }
}

/// Parses a tracker→client datagram.
pub fn parse_response(b: &[u8]) -> Result<Response<'_>, Error> {
    let (Some(act), Some(transaction_id)) =
        (be32(b, field::R_ACTION), be32(b, field::R_TRANSACTION_ID))
    else {
        return invalid("a UDP tracker response of at least 8 bytes");
    };
    match act {
        action::CONNECT if b.len() == 16 => Ok(Response::Connect {
            transaction_id,
            connection_id: be64(b, field::R_CONNECTION_ID).unwrap_or(0),
        }),
        action::ANNOUNCE if b.len() >= field::R_PEERS => {
            let peers = &b[field::R_PEERS..];
            if !peers.len().is_multiple_of(6) && !peers.len().is_multiple_of(18) {
                return invalid("compact peers of 6 or 18 bytes");
            }
            Ok(Response::Announce {
                transaction_id,
                interval: be32(b, field::R_INTERVAL).unwrap_or(0),
                leechers: be32(b, field::R_LEECHERS).unwrap_or(0),
                seeders: be32(b, field::R_SEEDERS).unwrap_or(0),
                peers,
            })
        }
        action::SCRAPE if (b.len() - field::R_SCRAPE).is_multiple_of(12) => Ok(Response::Scrape {
            transaction_id,
            stats: &b[field::R_SCRAPE..],
        }),
        action::ERROR => Ok(Response::Error {
            transaction_id,
            message: &b[8..],
        }),
        _ => invalid("a UDP tracker connect, announce, scrape or error response"),
    }
}

/// Writes a connect request.
pub fn emit_connect(transaction_id: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&PROTOCOL_ID.to_be_bytes());
    b[12..16].copy_from_slice(&transaction_id.to_be_bytes());
    b
}

/// Writes an announce request (no BEP 41 options).
pub fn emit_announce(
    connection_id: u64,
    transaction_id: u32,
    info_hash: InfoHash,
    peer_id: PeerId,
    event: u32,
    port: u16,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(field::ANNOUNCE_LEN);
    b.extend(connection_id.to_be_bytes());
    b.extend(action::ANNOUNCE.to_be_bytes());
    b.extend(transaction_id.to_be_bytes());
    b.extend(info_hash.0);
    b.extend(peer_id.0);
    b.extend([0u8; 24]); // downloaded, left, uploaded
    b.extend(event.to_be_bytes());
    b.extend([0u8; 8]); // ip, key
    b.extend((-1i32).to_be_bytes()); // num_want
    b.extend(port.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_round_trip() {
        let req = emit_connect(0xdead_beef);
        assert_eq!(&req[..8], &[0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80]);
        assert_eq!(
            parse_request(&req),
            Ok(Request::Connect {
                transaction_id: 0xdead_beef
            })
        );
        let mut resp = vec![0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
        resp.extend(42u64.to_be_bytes());
        assert_eq!(
            parse_response(&resp),
            Ok(Response::Connect {
                transaction_id: 0xdead_beef,
                connection_id: 42
            })
        );
        // connect with the wrong protocol id is not a connect request
        let mut bad = req;
        bad[7] = 0x81;
        assert!(parse_request(&bad).is_err());
    }

    #[test]
    fn announce_and_reply() {
        let a = emit_announce(
            42,
            7,
            InfoHash([9; 20]),
            PeerId(*b"-TR3000-000000000000"),
            2,
            51413,
        );
        assert_eq!(a.len(), 98);
        let Ok(Request::Announce(r)) = parse_request(&a) else {
            panic!()
        };
        assert_eq!(
            (r.connection_id, r.transaction_id, r.port, r.event),
            (42, 7, 51413, 2)
        );
        assert_eq!(
            Request::Announce(r).info_hashes().collect::<Vec<_>>(),
            vec![InfoHash([9; 20])]
        );

        let mut resp = vec![0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2];
        resp.extend([10, 77, 0, 1, 0x1a, 0xe1]);
        let r = parse_response(&resp).unwrap();
        assert_eq!(r.transaction_id(), 7);
        assert_eq!(
            r.peers(Family::V4).collect::<Vec<_>>(),
            vec!["10.77.0.1:6881".parse().unwrap()]
        );
        resp.push(0);
        assert!(parse_response(&resp).is_err(), "7 bytes of peers");
    }

    #[test]
    fn scrape_and_error() {
        let mut s = 42u64.to_be_bytes().to_vec();
        s.extend([0, 0, 0, 2, 0, 0, 0, 5]);
        s.extend([1u8; 20]);
        s.extend([2u8; 20]);
        let r = parse_request(&s).unwrap();
        assert_eq!(r.info_hashes().count(), 2);
        let mut resp = vec![0, 0, 0, 2, 0, 0, 0, 5];
        resp.extend([0u8; 24]);
        assert!(matches!(parse_response(&resp), Ok(Response::Scrape { .. })));
        let e = b"\0\0\0\x03\0\0\0\x05unknown torrent";
        assert_eq!(
            parse_response(e),
            Ok(Response::Error {
                transaction_id: 5,
                message: b"unknown torrent"
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..160)) {
            if let Ok(r) = parse_request(&b) { let _ = r.info_hashes().count(); }
            if let Ok(r) = parse_response(&b) { let _ = r.peers(Family::V6).count(); }
        }
    }
}
