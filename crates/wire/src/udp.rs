//! UDP header (RFC 768).
//!
//! ```text
//! |          Source Port          |       Destination Port        |
//! |            Length             |           Checksum            |
//! ```

use crate::{Error, be16};

mod field {
    use crate::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const HEADER_LEN: usize = 8;
}

/// A checked read-only view of a UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    buf: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// Checks that `buf` holds the 8-byte header and that the Length field is at least 8.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < field::HEADER_LEN {
            return Err(Error::Truncated);
        }
        let d = Datagram { buf };
        // Length 0 is allowed for IPv6 jumbograms (RFC 2675); other values under 8 are not.
        if (1..8).contains(&d.length()) {
            return Err(Error::Malformed);
        }
        Ok(d)
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buf, field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buf, field::DST_PORT)
    }

    /// The Length field (header included).
    pub fn length(&self) -> u16 {
        be16(self.buf, field::LENGTH)
    }

    /// The captured payload, cut at the Length field (trailing bytes are not payload).
    pub fn payload(&self) -> &'a [u8] {
        let declared = usize::from(self.length());
        let end = if declared >= field::HEADER_LEN {
            declared.min(self.buf.len())
        } else {
            self.buf.len()
        };
        self.buf.get(field::HEADER_LEN..end).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_length_cut() {
        let d = [0x1a, 0xe1, 0x1a, 0x73, 0x00, 0x0a, 0, 0, 0x64, 0x65, 0xff];
        let u = Datagram::new_checked(&d).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.length()), (6881, 6771, 10));
        assert_eq!(u.payload(), b"de");
    }

    #[test]
    fn bad() {
        assert_eq!(
            Datagram::new_checked(&[0; 7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Datagram::new_checked(&[0, 1, 0, 2, 0, 7, 0, 0]).unwrap_err(),
            Error::Malformed
        );
    }
}
