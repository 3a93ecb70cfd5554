//! 20-byte identifiers: info-hashes, peer ids and DHT node ids.

use std::fmt;

/// Lower-case hexadecimal of any bytes (two characters each).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

macro_rules! id20 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; 20]);

        impl $name {
            /// Takes the identifier from a slice of exactly 20 bytes.
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                b.try_into().ok().map($name)
            }

            /// Lower-case hexadecimal, 40 characters.
            pub fn to_hex(&self) -> String {
                hex(&self.0)
            }

            /// Parses 40 hexadecimal digits (either case).
            pub fn from_hex(s: &[u8]) -> Option<Self> {
                if s.len() != 40 {
                    return None;
                }
                let mut out = [0u8; 20];
                for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
                    *o = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
                }
                Some($name(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

id20!(
    /// A torrent's info-hash: SHA-1 of the info dictionary (v1), or the first 20 bytes of the
    /// SHA-256 one (v2, BEP 52), as it appears on the wire.
    InfoHash
);
id20!(
    /// A peer id (BEP 3, BEP 20 conventions).
    PeerId
);
id20!(
    /// A DHT node id (BEP 5).
    NodeId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = InfoHash::from_hex(b"0123456789ABCDEF0123456789abcdef01234567").unwrap();
        assert_eq!(h.to_hex(), "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(h.to_string(), h.to_hex());
        assert!(InfoHash::from_hex(b"0123").is_none());
        assert!(InfoHash::from_hex(b"g123456789abcdef0123456789abcdef01234567").is_none());
        assert!(InfoHash::from_slice(&[0; 19]).is_none());
    }
}
