//! Peer wire messages after the handshake (BEP 3), and the two extension messages that tell
//! an observer about the swarm: the extension handshake (BEP 10: the sender's listen port,
//! client version) and peer exchange (BEP 11: peers the sender knows).
//!
//! ```text
//! message:   length (u32, big-endian, not counting itself) | id (u8) | payload
//! keep-alive: length 0
//! extended:  id 20 | extended id (u8; 0 = extension handshake) | bencoded dictionary
//! ```

use bencode::{Dict, Value};

use crate::compact::{Family, Peers};
use crate::{Error, invalid};

/// Message ids (BEP 3, 5, 6, 10).
pub mod id {
    pub const CHOKE: u8 = 0;
    pub const UNCHOKE: u8 = 1;
    pub const INTERESTED: u8 = 2;
    pub const NOT_INTERESTED: u8 = 3;
    pub const HAVE: u8 = 4;
    pub const BITFIELD: u8 = 5;
    pub const REQUEST: u8 = 6;
    pub const PIECE: u8 = 7;
    pub const CANCEL: u8 = 8;
    pub const PORT: u8 = 9;
    pub const EXTENDED: u8 = 20;
}

/// The header of a message: (length of id + payload, id). `None` for a keep-alive.
pub fn header(b: &[u8; 5]) -> (u32, Option<u8>) {
    let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (len, (len > 0).then_some(b[4]))
}

/// An extension protocol message (the payload of message id 20).
#[derive(Debug, Clone, Copy)]
pub enum Extended<'a> {
    /// BEP 10 handshake.
    Handshake {
        /// The sender's listen port (`p`).
        port: Option<u16>,
        /// Client name and version (`v`).
        version: Option<&'a [u8]>,
        dict: Dict<'a>,
    },
    /// BEP 11 peer exchange.
    Pex(Pex<'a>),
    /// Another extension (metadata exchange, ...).
    Other(u8),
}

/// A PEX message.
#[derive(Debug, Clone, Copy)]
pub struct Pex<'a> {
    pub dict: Dict<'a>,
}

impl<'a> Pex<'a> {
    /// Peers added since the last message (IPv4 and IPv6).
    pub fn added(&self) -> impl Iterator<Item = std::net::SocketAddr> + 'a {
        let v4 = Peers::new(self.dict.get_bytes(b"added").unwrap_or(&[]), Family::V4);
        let v6 = Peers::new(self.dict.get_bytes(b"added6").unwrap_or(&[]), Family::V6);
        v4.chain(v6)
    }
}

/// Parses the payload of an extended message (after id 20).
pub fn parse_extended(payload: &[u8]) -> Result<Extended<'_>, Error> {
    let Some((&ext, rest)) = payload.split_first() else {
        return invalid("an extended message id");
    };
    let dict = match bencode::decode(rest) {
        Ok((Value::Dict(d), _)) => d,
        Err(bencode::Error::Incomplete) => return Err(Error::Incomplete),
        // ut_metadata pieces carry raw data after the dictionary; others need not be bencode
        _ if ext != 0 => return Ok(Extended::Other(ext)),
        _ => return invalid("a bencoded dictionary"),
    };
    if ext == 0 {
        return Ok(Extended::Handshake {
            port: dict
                .get_int(b"p")
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p != 0),
            version: dict.get_bytes(b"v"),
            dict,
        });
    }
    let pex = [&b"added"[..], b"added6", b"dropped", b"dropped6"];
    if pex.iter().any(|k| dict.get(k).is_some()) {
        return Ok(Extended::Pex(Pex { dict }));
    }
    Ok(Extended::Other(ext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bencode::encode::Item;

    #[test]
    fn extension_handshake_and_pex() {
        let mut hs = vec![0u8];
        hs.extend(
            Item::Dict(vec![
                (
                    b"m",
                    Item::Dict(vec![
                        (b"ut_metadata", Item::Int(2)),
                        (b"ut_pex", Item::Int(1)),
                    ]),
                ),
                (b"p", Item::Int(51413)),
                (b"v", Item::Bytes(b"Transmission 3.00")),
            ])
            .to_vec(),
        );
        let Ok(Extended::Handshake { port, version, .. }) = parse_extended(&hs) else {
            panic!()
        };
        assert_eq!(
            (port, version),
            (Some(51413), Some(&b"Transmission 3.00"[..]))
        );

        let mut pex = vec![1u8];
        pex.extend(
            Item::Dict(vec![
                (b"added", Item::Bytes(&[10, 77, 0, 1, 0x1a, 0xe1])),
                (b"added.f", Item::Bytes(&[0])),
                (b"dropped", Item::Bytes(&[])),
            ])
            .to_vec(),
        );
        let Ok(Extended::Pex(p)) = parse_extended(&pex) else {
            panic!()
        };
        assert_eq!(
            p.added().collect::<Vec<_>>(),
            vec!["10.77.0.1:6881".parse().unwrap()]
        );
    }

    #[test]
    fn others_and_bad() {
        let mut md = vec![3u8];
        md.extend(b"d8:msg_typei1e5:piecei0ee");
        md.extend([0xde, 0xad]);
        assert!(matches!(parse_extended(&md), Ok(Extended::Other(3))));
        assert!(parse_extended(&[]).is_err());
        assert!(matches!(
            parse_extended(&[0, b'x']),
            Err(Error::Invalid { .. })
        ));
        assert_eq!(
            parse_extended(&[0, b'd', b'1']).unwrap_err(),
            Error::Incomplete
        );
        assert_eq!(header(&[0, 0, 0, 5, 4]), (5, Some(4)));
        assert_eq!(header(&[0, 0, 0, 0, 9]), (0, None));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Ok(Extended::Pex(p)) = parse_extended(&b) { let _ = p.added().count(); }
        }
    }
}
