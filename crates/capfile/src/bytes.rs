//! Reading fixed-size integers in a file's byte order.
//!
//! The helpers never panic: a field that does not lie inside the buffer reads as zero. Callers
//! check buffer lengths first, so that case does not happen, and the compiler removes the checks.

use core::ops::Range;

/// Byte order of a pcap file or pcapng section, decided once from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

/// The bytes at `range`, or zeros if `range` is not inside `buf` or not `N` bytes long.
#[inline(always)]
fn array<const N: usize>(buf: &[u8], range: Range<usize>) -> [u8; N] {
    match buf.get(range) {
        Some(bytes) => <[u8; N]>::try_from(bytes).unwrap_or([0; N]),
        None => [0; N],
    }
}

impl Endian {
    #[inline(always)]
    pub(crate) fn u16(self, buf: &[u8], range: Range<usize>) -> u16 {
        let bytes = array(buf, range);
        match self {
            Endian::Little => u16::from_le_bytes(bytes),
            Endian::Big => u16::from_be_bytes(bytes),
        }
    }

    #[inline(always)]
    pub(crate) fn u32(self, buf: &[u8], range: Range<usize>) -> u32 {
        let bytes = array(buf, range);
        match self {
            Endian::Little => u32::from_le_bytes(bytes),
            Endian::Big => u32::from_be_bytes(bytes),
        }
    }

    #[inline(always)]
    pub(crate) fn u64(self, buf: &[u8], range: Range<usize>) -> u64 {
        let bytes = array(buf, range);
        match self {
            Endian::Little => u64::from_le_bytes(bytes),
            Endian::Big => u64::from_be_bytes(bytes),
        }
    }

    /// A 64-bit value stored as two 32-bit words, most significant first (pcapng timestamps).
    #[inline(always)]
    pub(crate) fn u32_pair(self, buf: &[u8], high: Range<usize>, low: Range<usize>) -> u64 {
        (u64::from(self.u32(buf, high)) << 32) | u64::from(self.u32(buf, low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_orders() {
        let b = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(Endian::Little.u16(&b, 0..2), 0x0201);
        assert_eq!(Endian::Big.u16(&b, 0..2), 0x0102);
        assert_eq!(Endian::Little.u32(&b, 4..8), 0x0807_0605);
        assert_eq!(Endian::Big.u32(&b, 4..8), 0x0506_0708);
        assert_eq!(Endian::Little.u64(&b, 0..8), 0x0807_0605_0403_0201);
        assert_eq!(Endian::Big.u64(&b, 0..8), 0x0102_0304_0506_0708);
        assert_eq!(Endian::Big.u32_pair(&b, 0..4, 4..8), 0x0102_0304_0506_0708);
        assert_eq!(
            Endian::Little.u32_pair(&b, 0..4, 4..8),
            0x0403_0201_0807_0605
        );
    }

    #[test]
    fn out_of_range_reads_zero() {
        let b = [0xff; 3];
        assert_eq!(Endian::Little.u32(&b, 0..4), 0);
        assert_eq!(Endian::Big.u16(&b, 2..4), 0);
        assert_eq!(Endian::Big.u16(&b, 1..3), 0xffff);
    }
}
