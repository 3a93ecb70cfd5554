//! TCP header (RFC 9293).
//!
//! ```text
//! |          Source Port          |       Destination Port        |
//! |                        Sequence Number                        |
//! |                    Acknowledgment Number                      |
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |           Checksum            |         Urgent Pointer        |
//! |                           [Options]                           |
//! ```

use crate::{Error, be16, be32};

mod field {
    use crate::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ: Field = 4..8;
    pub const ACK: Field = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const MIN_HEADER_LEN: usize = 20;
}

/// TCP flag bits (byte 13 of the header).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A checked read-only view of a TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    buf: &'a [u8],
    header_len: usize,
}

impl<'a> Segment<'a> {
    /// Checks that `buf` holds the whole TCP header (options included).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < field::MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(buf[field::DATA_OFFSET] >> 4) * 4;
        if header_len < field::MIN_HEADER_LEN {
            return Err(Error::Malformed);
        }
        if buf.len() < header_len {
            return Err(Error::Truncated);
        }
        Ok(Segment { buf, header_len })
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buf, field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buf, field::DST_PORT)
    }

    pub fn seq(&self) -> u32 {
        be32(self.buf, field::SEQ)
    }

    pub fn ack(&self) -> u32 {
        be32(self.buf, field::ACK)
    }

    /// The flag byte; test bits with [`flags`].
    pub fn flags(&self) -> u8 {
        self.buf[field::FLAGS]
    }

    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The captured payload (may be shorter than on the wire).
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(self.header_len..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 51413 -> 6881, seq 1000, ack 2000, data offset 6 (one MSS option), SYN|ACK, 2 bytes data
    const SEG: [u8; 26] = [
        0xc8, 0xd5, 0x1a, 0xe1, // ports
        0x00, 0x00, 0x03, 0xe8, // seq
        0x00, 0x00, 0x07, 0xd0, // ack
        0x60, 0x12, 0xff, 0xff, // offset 6, SYN|ACK, window
        0x00, 0x00, 0x00, 0x00, // checksum, urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0xab, 0xcd, // payload
    ];

    #[test]
    fn fields() {
        let s = Segment::new_checked(&SEG).unwrap();
        assert_eq!((s.src_port(), s.dst_port()), (51413, 6881));
        assert_eq!((s.seq(), s.ack()), (1000, 2000));
        assert_eq!(s.flags(), flags::SYN | flags::ACK);
        assert_eq!(s.header_len(), 24);
        assert_eq!(s.payload(), &[0xab, 0xcd]);
    }

    #[test]
    fn bad() {
        assert_eq!(
            Segment::new_checked(&SEG[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Segment::new_checked(&SEG[..22]).unwrap_err(),
            Error::Truncated
        );
        let mut s = SEG;
        s[12] = 0x40;
        assert_eq!(Segment::new_checked(&s).unwrap_err(), Error::Malformed);
    }
}
