//! The pcapng capture format.
//!
//! A file is a sequence of blocks: block type (u32), total length (u32), body, total length
//! again. A section header block starts every section and fixes its byte order; interface
//! description blocks then describe the interfaces that the packet blocks refer to by index.

use crate::bytes::Endian;
use crate::{Commit, Error, ErrorKind, Event, MAX_BLOCK_LEN, MAX_INTERFACES, Packet};
use crate::{Short, Shortfall, Step};

/// Block type of the section header block, the same in both byte orders.
pub(crate) const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Block type numbers.
mod block_type {
    pub(crate) const SHB: u32 = 0x0a0d_0d0a;
    pub(crate) const IDB: u32 = 1;
    /// Obsolete packet block.
    pub(crate) const OPB: u32 = 2;
    pub(crate) const SPB: u32 = 3;
    pub(crate) const NRB: u32 = 4;
    pub(crate) const ISB: u32 = 5;
    pub(crate) const EPB: u32 = 6;
    pub(crate) const DSB: u32 = 0x0a;
    pub(crate) const CUSTOM: u32 = 0x0000_0bad;
    pub(crate) const CUSTOM_NOCOPY: u32 = 0x4000_0bad;
}

/// Byte offsets of block fields, from the start of the block.
mod field {
    use core::ops::Range;

    pub(crate) const BLOCK_TYPE: Range<usize> = 0..4;
    pub(crate) const BLOCK_LEN: Range<usize> = 4..8;
    /// Length of the block type and both block length fields.
    pub(crate) const FRAMING_LEN: usize = 12;
    /// Length of the trailing block length.
    pub(crate) const TRAILER_LEN: usize = 4;

    pub(super) mod shb {
        use core::ops::Range;

        pub(crate) const BYTE_ORDER_MAGIC: Range<usize> = 8..12;
        pub(crate) const VERSION_MAJOR: Range<usize> = 12..14;
        pub(crate) const VERSION_MINOR: Range<usize> = 14..16;
        /// Section length (i64, may be -1): ignored.
        #[allow(dead_code)]
        pub(crate) const SECTION_LEN: Range<usize> = 16..24;
        pub(crate) const MIN_LEN: u32 = 28;
    }

    pub(super) mod idb {
        use core::ops::Range;

        pub(crate) const LINKTYPE: Range<usize> = 8..10;
        #[allow(dead_code)]
        pub(crate) const RESERVED: Range<usize> = 10..12;
        pub(crate) const SNAPLEN: Range<usize> = 12..16;
        pub(crate) const OPTIONS: usize = 16;
        pub(crate) const MIN_LEN: u32 = 20;
    }

    pub(super) mod epb {
        use core::ops::Range;

        pub(crate) const INTERFACE_ID: Range<usize> = 8..12;
        pub(crate) const TS_HIGH: Range<usize> = 12..16;
        pub(crate) const TS_LOW: Range<usize> = 16..20;
        pub(crate) const CAPLEN: Range<usize> = 20..24;
        pub(crate) const ORIG_LEN: Range<usize> = 24..28;
        pub(crate) const DATA: usize = 28;
        pub(crate) const MIN_LEN: u32 = 32;
    }

    pub(super) mod spb {
        use core::ops::Range;

        pub(crate) const ORIG_LEN: Range<usize> = 8..12;
        pub(crate) const DATA: usize = 12;
        pub(crate) const MIN_LEN: u32 = 16;
    }

    /// Obsolete packet block.
    pub(super) mod opb {
        use core::ops::Range;

        pub(crate) const INTERFACE_ID: Range<usize> = 8..10;
        #[allow(dead_code)]
        pub(crate) const DROPS: Range<usize> = 10..12;
        pub(crate) const TS_HIGH: Range<usize> = 12..16;
        pub(crate) const TS_LOW: Range<usize> = 16..20;
        pub(crate) const CAPLEN: Range<usize> = 20..24;
        pub(crate) const ORIG_LEN: Range<usize> = 24..28;
        pub(crate) const DATA: usize = 28;
        pub(crate) const MIN_LEN: u32 = 32;
    }

    /// Offsets within one option.
    pub(super) mod option {
        use core::ops::Range;

        pub(crate) const CODE: Range<usize> = 0..2;
        pub(crate) const LEN: Range<usize> = 2..4;
        pub(crate) const VALUE: usize = 4;
    }
}

/// Option codes.
mod option_code {
    pub(crate) const END_OF_OPT: u16 = 0;
    pub(crate) const IF_TSRESOL: u16 = 9;
    pub(crate) const IF_TSOFFSET: u16 = 14;
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Human-readable name of a block type, for errors.
fn block_name(block_type: u32) -> &'static str {
    match block_type {
        block_type::SHB => "section header block",
        block_type::IDB => "interface description block",
        block_type::OPB => "obsolete packet block",
        block_type::SPB => "simple packet block",
        block_type::NRB => "name resolution block",
        block_type::ISB => "interface statistics block",
        block_type::EPB => "enhanced packet block",
        block_type::DSB => "decryption secrets block",
        block_type::CUSTOM | block_type::CUSTOM_NOCOPY => "custom block",
        _ => "block of unknown type",
    }
}

/// Smallest valid total length of a block of this type.
fn min_len(block_type: u32) -> u32 {
    match block_type {
        block_type::SHB => field::shb::MIN_LEN,
        block_type::IDB => field::idb::MIN_LEN,
        block_type::EPB => field::epb::MIN_LEN,
        block_type::SPB => field::spb::MIN_LEN,
        block_type::OPB => field::opb::MIN_LEN,
        _ => field::FRAMING_LEN as u32,
    }
}

/// Conversion of a pcapng timestamp (a count of `if_tsresol` units) to nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsScale {
    /// Units of 10^-n s with n <= 9: multiply by 10^(9-n).
    Mul(u64),
    /// Units of 10^-n s with 9 < n <= 28: divide by 10^(n-9).
    Div(u64),
    /// Units of 2^-n s: multiply by 10^9, shift right by n.
    Shift(u32),
    /// Units so small that every 64-bit count is below one nanosecond.
    Zero,
}

impl TsScale {
    /// The default resolution: microseconds.
    const MICROS: TsScale = TsScale::Mul(1_000);

    /// Decodes an `if_tsresol` byte: most significant bit clear means 10^-n seconds, set means
    /// 2^-n seconds, with n in the low 7 bits.
    fn from_tsresol(byte: u8) -> Self {
        let n = u32::from(byte & 0x7f);
        if byte & 0x80 != 0 {
            TsScale::Shift(n)
        } else if n <= 9 {
            TsScale::Mul(10u64.pow(9 - n))
        } else {
            // 10^19 is the largest power of ten in a u64; beyond it every count rounds to 0.
            10u64.checked_pow(n - 9).map_or(TsScale::Zero, TsScale::Div)
        }
    }

    /// `units` converted to nanoseconds, rounded down, saturated to `i64::MAX`.
    #[inline]
    fn nanos(self, units: u64) -> i64 {
        let nanos = match self {
            TsScale::Mul(m) => u128::from(units) * u128::from(m),
            TsScale::Div(d) => u128::from(units / d),
            // units < 2^64 and 10^9 < 2^30, so the product fits; n < 128.
            TsScale::Shift(n) => (u128::from(units) * u128::from(NANOS_PER_SEC)) >> n,
            TsScale::Zero => 0,
        };
        i64::try_from(nanos).unwrap_or(i64::MAX)
    }
}

/// What the parser keeps of an interface description block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interface {
    linktype: u16,
    snaplen: u32,
    scale: TsScale,
    /// `if_tsoffset` in nanoseconds (saturated).
    offset_nanos: i64,
}

impl Interface {
    /// Timestamp in nanoseconds since the epoch of a packet stamped `units`.
    #[inline]
    fn ts_nanos(&self, units: u64) -> i64 {
        self.scale.nanos(units).saturating_add(self.offset_nanos)
    }
}

/// State of a pcapng file: the current section.
#[derive(Debug, Clone)]
pub(crate) struct NgState {
    endian: Endian,
    /// Interfaces described so far in the current section, at most `MAX_INTERFACES`.
    interfaces: Vec<Interface>,
}

/// Either a whole block or the number of bytes needed to hold it.
enum Framed<'a> {
    Block(&'a [u8]),
    Short(Shortfall),
}

/// Validates the framing of the block at the start of `buf` (type `block_type`, byte order
/// `endian`) and returns the whole block once `buf` holds it.
#[inline]
fn frame(offset: u64, endian: Endian, block_type: u32, buf: &[u8]) -> Result<Framed<'_>, Error> {
    let len = endian.u32(buf, field::BLOCK_LEN);
    let err = |kind| Err(Error { offset, kind });
    if len < field::FRAMING_LEN as u32 || !len.is_multiple_of(4) {
        return err(ErrorKind::BadBlockLength { len });
    }
    if len > MAX_BLOCK_LEN {
        return err(ErrorKind::BlockTooLarge {
            len,
            max: MAX_BLOCK_LEN,
        });
    }
    let min = min_len(block_type);
    if len < min {
        return err(ErrorKind::BlockTooShort {
            block: block_name(block_type),
            len,
            min,
        });
    }
    let len = len as usize;
    let Some(block) = buf.get(..len) else {
        return Ok(Framed::Short(Shortfall {
            needed: len,
            what: Short::Block(block_name(block_type)),
        }));
    };
    let trailer = endian.u32(block, len - field::TRAILER_LEN..len);
    if trailer as usize != len {
        return err(ErrorKind::MismatchedTrailer {
            header: len as u32,
            trailer,
        });
    }
    Ok(Framed::Block(block))
}

/// Parses a section header block at `offset`: the start of a section.
pub(crate) fn section_header(offset: u64, buf: &[u8]) -> Result<Step<'_>, Error> {
    use field::shb;

    let Some(magic) = buf.get(shb::BYTE_ORDER_MAGIC) else {
        return Ok(Step::Short(Shortfall::header(
            "section header block",
            shb::BYTE_ORDER_MAGIC.end,
        )));
    };
    let endian = match magic {
        [0x4d, 0x3c, 0x2b, 0x1a] => Endian::Little,
        [0x1a, 0x2b, 0x3c, 0x4d] => Endian::Big,
        _ => {
            return Err(Error {
                offset,
                kind: ErrorKind::BadByteOrderMagic {
                    magic: <[u8; 4]>::try_from(magic).unwrap_or_default(),
                },
            });
        }
    };
    let block = match frame(offset, endian, block_type::SHB, buf)? {
        Framed::Block(block) => block,
        Framed::Short(short) => return Ok(Step::Short(short)),
    };
    let major = endian.u16(block, shb::VERSION_MAJOR);
    if major != 1 {
        return Err(Error {
            offset,
            kind: ErrorKind::UnsupportedVersion {
                format: "pcapng",
                major,
                minor: endian.u16(block, shb::VERSION_MINOR),
                expected_major: 1,
            },
        });
    }
    Ok(Step::Ready {
        event: Event::Skipped,
        consumed: block.len(),
        commit: Commit::Section(endian),
    })
}

impl NgState {
    /// The state after the first section header block.
    pub(crate) fn new(endian: Endian) -> Self {
        NgState {
            endian,
            interfaces: Vec::new(),
        }
    }

    /// Starts a new section: forgets the interfaces of the previous one.
    pub(crate) fn new_section(&mut self, endian: Endian) {
        self.endian = endian;
        self.interfaces.clear();
    }

    /// Adds an interface checked by [`Self::interface_description`].
    pub(crate) fn add_interface(&mut self, interface: Interface) {
        if self.interfaces.len() < MAX_INTERFACES {
            self.interfaces.push(interface);
        }
    }

    /// Parses the block at `offset`. `last_ts` is the timestamp given to simple packet blocks.
    #[inline]
    pub(crate) fn block<'a>(
        &self,
        offset: u64,
        last_ts: i64,
        buf: &'a [u8],
    ) -> Result<Step<'a>, Error> {
        if buf.len() < field::BLOCK_LEN.end {
            return Ok(Step::Short(Shortfall::header(
                "pcapng block header",
                field::BLOCK_LEN.end,
            )));
        }
        if buf.get(field::BLOCK_TYPE) == Some(&SHB_MAGIC[..]) {
            return section_header(offset, buf);
        }
        let e = self.endian;
        let block_type = e.u32(buf, field::BLOCK_TYPE);
        let block = match frame(offset, e, block_type, buf)? {
            Framed::Block(block) => block,
            Framed::Short(short) => return Ok(Step::Short(short)),
        };
        match block_type {
            block_type::EPB => self.enhanced_packet(offset, block),
            block_type::SPB => self.simple_packet(offset, last_ts, block),
            block_type::OPB => self.obsolete_packet(offset, block),
            block_type::IDB => self.interface_description(offset, block),
            _ => Ok(Step::skipped(block.len())),
        }
    }

    /// The interface `id` of the current section.
    #[inline]
    fn interface(&self, offset: u64, id: u32) -> Result<&Interface, Error> {
        self.interfaces.get(id as usize).ok_or(Error {
            offset,
            kind: ErrorKind::BadInterface {
                id,
                count: self.interfaces.len() as u32,
            },
        })
    }

    fn enhanced_packet<'a>(&self, offset: u64, block: &'a [u8]) -> Result<Step<'a>, Error> {
        use field::epb;

        let e = self.endian;
        let id = e.u32(block, epb::INTERFACE_ID);
        let interface = self.interface(offset, id)?;
        let units = e.u32_pair(block, epb::TS_HIGH, epb::TS_LOW);
        let data = packet_data(
            offset,
            block,
            epb::DATA,
            e.u32(block, epb::CAPLEN),
            block_type::EPB,
        )?;
        Ok(Step::packet(
            Packet {
                data,
                orig_len: e.u32(block, epb::ORIG_LEN),
                ts_nanos: interface.ts_nanos(units),
                linktype: interface.linktype,
                interface: id,
            },
            block.len(),
        ))
    }

    fn obsolete_packet<'a>(&self, offset: u64, block: &'a [u8]) -> Result<Step<'a>, Error> {
        use field::opb;

        let e = self.endian;
        let id = u32::from(e.u16(block, opb::INTERFACE_ID));
        let interface = self.interface(offset, id)?;
        let units = e.u32_pair(block, opb::TS_HIGH, opb::TS_LOW);
        let data = packet_data(
            offset,
            block,
            opb::DATA,
            e.u32(block, opb::CAPLEN),
            block_type::OPB,
        )?;
        Ok(Step::packet(
            Packet {
                data,
                orig_len: e.u32(block, opb::ORIG_LEN),
                ts_nanos: interface.ts_nanos(units),
                linktype: interface.linktype,
                interface: id,
            },
            block.len(),
        ))
    }

    /// A simple packet block has no timestamp and no captured length: the packet gets `last_ts`,
    /// and its captured length is the smallest of its original length, the room in the block and
    /// interface 0's snapshot length (if not 0).
    fn simple_packet<'a>(
        &self,
        offset: u64,
        last_ts: i64,
        block: &'a [u8],
    ) -> Result<Step<'a>, Error> {
        use field::spb;

        let e = self.endian;
        let interface = self.interface(offset, 0)?;
        let orig_len = e.u32(block, spb::ORIG_LEN);
        let space = block.len().saturating_sub(spb::DATA + field::TRAILER_LEN);
        let mut caplen = space.min(orig_len as usize);
        if interface.snaplen != 0 {
            caplen = caplen.min(interface.snaplen as usize);
        }
        let data = block.get(spb::DATA..spb::DATA + caplen).unwrap_or_default();
        Ok(Step::packet(
            Packet {
                data,
                orig_len,
                ts_nanos: last_ts,
                linktype: interface.linktype,
                interface: 0,
            },
            block.len(),
        ))
    }

    fn interface_description<'a>(&self, offset: u64, block: &'a [u8]) -> Result<Step<'a>, Error> {
        use field::{idb, option};

        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(Error {
                offset,
                kind: ErrorKind::TooManyInterfaces {
                    max: MAX_INTERFACES as u32,
                },
            });
        }
        let e = self.endian;
        let mut interface = Interface {
            linktype: e.u16(block, idb::LINKTYPE),
            snaplen: e.u32(block, idb::SNAPLEN),
            scale: TsScale::MICROS,
            offset_nanos: 0,
        };
        let options_end = block.len().saturating_sub(field::TRAILER_LEN);
        let mut at = idb::OPTIONS;
        // Options are at least 4 bytes; the options area is a multiple of 4 bytes long.
        while at + option::VALUE <= options_end {
            let code = e.u16(block, at + option::CODE.start..at + option::CODE.end);
            let len = e.u16(block, at + option::LEN.start..at + option::LEN.end);
            if code == option_code::END_OF_OPT {
                break;
            }
            let start = at + option::VALUE;
            let end = start + usize::from(len);
            let bad = |expected| {
                Err(Error {
                    offset: offset.saturating_add(at as u64),
                    kind: ErrorKind::BadOption {
                        block: block_name(block_type::IDB),
                        code,
                        len,
                        expected,
                    },
                })
            };
            if end > options_end {
                return bad("the value to fit in the block");
            }
            let value = block.get(start..end).unwrap_or_default();
            match code {
                option_code::IF_TSRESOL => match value {
                    &[byte] => interface.scale = TsScale::from_tsresol(byte),
                    _ => return bad("a 1-byte value"),
                },
                option_code::IF_TSOFFSET => {
                    if value.len() != 8 {
                        return bad("an 8-byte value");
                    }
                    let seconds = e.u64(value, 0..8) as i64;
                    interface.offset_nanos = seconds.saturating_mul(NANOS_PER_SEC as i64);
                }
                _ => {}
            }
            // Values are padded to 4 bytes.
            at = end.next_multiple_of(4);
        }
        Ok(Step::Ready {
            event: Event::Skipped,
            consumed: block.len(),
            commit: Commit::Interface(interface),
        })
    }
}

/// The `caplen` bytes of packet data starting at `data` in a packet block, which must fit
/// before the trailer (options, if any, follow the padded data).
#[inline]
fn packet_data(
    offset: u64,
    block: &[u8],
    data: usize,
    caplen: u32,
    block_type: u32,
) -> Result<&[u8], Error> {
    let space = block.len().saturating_sub(data + field::TRAILER_LEN);
    let caplen_usize = caplen as usize;
    match block.get(data..data.saturating_add(caplen_usize)) {
        Some(bytes) if caplen_usize <= space => Ok(bytes),
        _ => Err(Error {
            offset,
            kind: ErrorKind::CapturedLengthTooLarge {
                block: block_name(block_type),
                caplen,
                space: space as u32,
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::TsScale;
    use crate::testutil::*;
    use crate::{Error, ErrorKind, Event, Format, MAX_BLOCK_LEN, Packet, Parser};

    const SEC: i64 = 1_000_000_000;

    /// SHB, two interfaces (Ethernet at 10^-9 s with +100 s offset, raw IP at 2^-10 s with -3 s
    /// offset), then packets of every kind and some skipped blocks.
    fn two_interfaces(big: bool) -> Vec<u8> {
        let mut f = shb(big);
        f.extend(idb(
            big,
            1,
            0,
            &[
                (2, b"eth0".to_vec()),
                (9, vec![9]),
                (14, u64b(big, 100).to_vec()),
            ],
        ));
        f.extend(idb(
            big,
            101,
            4,
            &[
                (9, vec![0x80 | 10]),
                (14, u64b(big, (-3i64) as u64).to_vec()),
            ],
        ));
        // Nanoseconds since the epoch, on interface 0.
        f.extend(epb(big, 0, 1_600_000_000_123_456_789, b"first", 60));
        // 5.5 s in units of 2^-10 s, on interface 1.
        f.extend(epb(big, 1, 5 * 1024 + 512, b"second!", 7));
        f.extend(block(big, 0x0000_0bad, b"\x00\x00\x7f\x1fcustom data"));
        f.extend(spb(big, 10, b"0123456789")); // interface 0: no snaplen
        f.extend(opb(big, 1, 1024, b"obsolete", 8));
        f.extend(block(big, 5, &[0; 20])); // interface statistics
        f.extend(spb(big, 3, b"abcd")); // cut to orig_len 3
        f
    }

    #[test]
    fn interfaces_resolutions_and_block_kinds() {
        for big in [false, true] {
            let f = two_interfaces(big);
            let (events, end) = parse_all(&f);
            assert_eq!(end, Ok(()));
            assert_eq!(events.len(), 10);
            assert_eq!(events[..3], [Event::Skipped; 3]);
            assert_eq!(events[5], Event::Skipped);
            assert_eq!(events[8], Event::Skipped);
            let pkts = packets(&events);
            let first_ts = 1_600_000_000_123_456_789 + 100 * SEC;
            assert_eq!(
                pkts,
                [
                    Packet {
                        data: b"first",
                        orig_len: 60,
                        ts_nanos: first_ts,
                        linktype: 1,
                        interface: 0
                    },
                    Packet {
                        data: b"second!",
                        orig_len: 7,
                        ts_nanos: 5 * SEC + SEC / 2 - 3 * SEC,
                        linktype: 101,
                        interface: 1
                    },
                    // No timestamp: the previous packet's.
                    Packet {
                        data: b"0123456789",
                        orig_len: 10,
                        ts_nanos: 5 * SEC + SEC / 2 - 3 * SEC,
                        linktype: 1,
                        interface: 0
                    },
                    Packet {
                        data: b"obsolete",
                        orig_len: 8,
                        ts_nanos: SEC - 3 * SEC,
                        linktype: 101,
                        interface: 1
                    },
                    Packet {
                        data: b"abc",
                        orig_len: 3,
                        ts_nanos: -2 * SEC,
                        linktype: 1,
                        interface: 0
                    },
                ]
            );
            let mut p = Parser::new();
            p.next(&f).unwrap();
            assert_eq!(p.format(), Some(Format::PcapNg));
        }
    }

    #[test]
    fn simple_packet_caps() {
        // Interface 0 has snaplen 4: the SPB's data is cut to it; no packet before: ts 0.
        let mut f = shb(true);
        f.extend(idb(true, 1, 4, &[]));
        f.extend(spb(true, 1000, b"0123456789ab"));
        // Original length shorter than the room and the snaplen.
        f.extend(spb(true, 2, b"0123456789ab"));
        // Room in the block shorter than the original length: padding is not data.
        let mut g = shb(false);
        g.extend(idb(false, 1, 0, &[]));
        g.extend(spb(false, 1000, b"01234"));
        for (file, expected) in [
            (&f, &[&b"0123"[..], b"01"][..]),
            (&g, &[&b"01234\0\0\0"[..]]),
        ] {
            let (events, end) = parse_all(file);
            assert_eq!(end, Ok(()));
            let pkts = packets(&events);
            let data: Vec<&[u8]> = pkts.iter().map(|p| p.data).collect();
            assert_eq!(data, expected);
            assert!(pkts.iter().all(|p| p.ts_nanos == 0));
        }
    }

    #[test]
    fn two_sections_with_different_byte_orders() {
        let mut f = shb(false);
        f.extend(idb(false, 1, 0, &[]));
        f.extend(idb(false, 228, 0, &[]));
        f.extend(epb(false, 1, 2_000_000, b"le", 2));
        let second = f.len() as u64;
        f.extend(shb(true));
        f.extend(idb(true, 105, 0, &[(9, vec![3])]));
        f.extend(epb(true, 0, 7_000, b"be", 2));
        let bad = f.len() as u64;
        // Interface 1 existed in the first section only.
        f.extend(epb(true, 1, 7_000, b"be", 2));
        let (events, end) = parse_all(&f);
        let pkts = packets(&events);
        assert_eq!(pkts.len(), 2);
        assert_eq!((pkts[0].linktype, pkts[0].ts_nanos), (228, 2 * SEC));
        assert_eq!((pkts[1].linktype, pkts[1].ts_nanos), (105, 7 * SEC));
        assert_eq!(
            end,
            Err(Error {
                offset: bad,
                kind: ErrorKind::BadInterface { id: 1, count: 1 }
            })
        );
        let mut p = Parser::new();
        let mut at = 0;
        while (p.offset()) < second {
            at += p.next(&f[at..]).unwrap().unwrap().1;
        }
        assert_eq!(p.offset(), second);
    }

    #[test]
    fn timestamp_scales() {
        let units = 1_234_567_890_123_456_789u64;
        let cases: [(u8, u64, i64); 12] = [
            (0, 3, 3 * SEC),
            (3, 3, 3_000_000),
            (6, 3, 3_000),
            (9, units, units as i64),
            (10, units, (units / 10) as i64),
            (12, units, (units / 1000) as i64),
            (28, u64::MAX, 1),
            (29, u64::MAX, 0),
            (127, u64::MAX, 0),
            (0x80 | 10, 1024 * 7 + 1, 7 * SEC + 976_562),
            (0x80, 2, 2 * SEC),
            (0x80 | 127, u64::MAX, 0),
        ];
        for (resol, units, nanos) in cases {
            assert_eq!(
                TsScale::from_tsresol(resol).nanos(units),
                nanos,
                "tsresol {resol:#x}"
            );
        }
        // Saturation instead of overflow.
        assert_eq!(TsScale::from_tsresol(0).nanos(u64::MAX), i64::MAX);
        assert_eq!(TsScale::from_tsresol(6).nanos(u64::MAX), i64::MAX);
        assert_eq!(TsScale::from_tsresol(0x80).nanos(u64::MAX), i64::MAX);
        assert_eq!(
            TsScale::from_tsresol(0x80 | 64).nanos(u64::MAX),
            999_999_999
        );
    }

    #[test]
    fn timestamp_offset_saturates() {
        for (offset, units, expected) in [
            (i64::MAX, 5, i64::MAX),
            (i64::MIN, 5, i64::MIN + 5_000),
            (-1, 0, -SEC),
        ] {
            let mut f = shb(false);
            f.extend(idb(
                false,
                1,
                0,
                &[(14, u64b(false, offset as u64).to_vec())],
            ));
            f.extend(epb(false, 0, units, b"", 0));
            let (events, end) = parse_all(&f);
            assert_eq!(end, Ok(()));
            assert_eq!(packets(&events)[0].ts_nanos, expected);
        }
    }

    /// The file and offset of its last block, after `extra` is appended to SHB + IDB.
    fn with_block(big: bool, extra: &[u8]) -> (Vec<u8>, u64) {
        let mut f = shb(big);
        f.extend(idb(big, 1, 0, &[]));
        let at = f.len() as u64;
        f.extend(extra);
        (f, at)
    }

    fn last_error(file: &[u8]) -> Error {
        parse_all(file).1.unwrap_err()
    }

    #[test]
    fn block_length_not_multiple_of_4() {
        for big in [false, true] {
            let mut b = epb(big, 0, 1, b"abcd", 4);
            let len = b.len() as u32 + 2;
            b[4..8].copy_from_slice(&u32b(big, len));
            let (f, at) = with_block(big, &b);
            assert_eq!(
                last_error(&f),
                Error {
                    offset: at,
                    kind: ErrorKind::BadBlockLength { len }
                }
            );
        }
    }

    #[test]
    fn block_length_below_12() {
        let (f, at) = with_block(false, &[6, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0]);
        assert_eq!(
            last_error(&f),
            Error {
                offset: at,
                kind: ErrorKind::BadBlockLength { len: 8 }
            }
        );
        // Zero length would otherwise never make progress.
        let (f, at) = with_block(true, &[0, 0, 0, 7, 0, 0, 0, 0]);
        assert_eq!(
            last_error(&f),
            Error {
                offset: at,
                kind: ErrorKind::BadBlockLength { len: 0 }
            }
        );
    }

    #[test]
    fn block_too_large_is_reported_from_the_header_alone() {
        let len = MAX_BLOCK_LEN + 4;
        let mut header = u32b(true, 6).to_vec();
        header.extend(u32b(true, len));
        let (f, at) = with_block(true, &header);
        assert_eq!(
            last_error(&f),
            Error {
                offset: at,
                kind: ErrorKind::BlockTooLarge {
                    len,
                    max: MAX_BLOCK_LEN
                }
            }
        );
    }

    #[test]
    fn block_too_short_for_its_type() {
        // An EPB of 28 bytes cannot hold its 20 bytes of fixed fields.
        let b = block(false, 6, &[0; 16]);
        let (f, at) = with_block(false, &b);
        assert_eq!(
            last_error(&f),
            Error {
                offset: at,
                kind: ErrorKind::BlockTooShort {
                    block: "enhanced packet block",
                    len: 28,
                    min: 32
                }
            }
        );
    }

    #[test]
    fn trailer_mismatch() {
        for big in [false, true] {
            let mut b = epb(big, 0, 1, b"abcd", 4);
            let n = b.len();
            b[n - 4..].copy_from_slice(&u32b(big, 4096));
            let (f, at) = with_block(big, &b);
            assert_eq!(
                last_error(&f),
                Error {
                    offset: at,
                    kind: ErrorKind::MismatchedTrailer {
                        header: n as u32,
                        trailer: 4096
                    }
                }
            );
        }
    }

    #[test]
    fn epb_with_unknown_interface() {
        let (f, at) = with_block(false, &epb(false, 1, 1, b"abcd", 4));
        assert_eq!(
            last_error(&f),
            Error {
                offset: at,
                kind: ErrorKind::BadInterface { id: 1, count: 1 }
            }
        );
    }

    #[test]
    fn packets_before_any_interface() {
        for b in [
            epb(true, 0, 1, b"x", 1),
            spb(true, 1, b"x"),
            opb(true, 0, 1, b"x", 1),
        ] {
            let mut f = shb(true);
            f.extend(&b);
            assert_eq!(
                last_error(&f),
                Error {
                    offset: 28 + 24,
                    kind: ErrorKind::BadInterface { id: 0, count: 0 }
                }
            );
        }
    }

    #[test]
    fn epb_captured_length_larger_than_block() {
        let (f, at) = with_block(true, &epb_raw(true, 0, 1, 9, 9, b"abcd", false));
        assert_eq!(
            last_error(&f),
            Error {
                offset: at,
                kind: ErrorKind::CapturedLengthTooLarge {
                    block: "enhanced packet block",
                    caplen: 9,
                    space: 4
                }
            }
        );
        // Room taken by options still counts as room: the data may not run into the trailer.
        let (f, _) = with_block(true, &epb_raw(true, 0, 1, 32, 32, b"abcd", true));
        assert_eq!(
            last_error(&f).kind,
            ErrorKind::CapturedLengthTooLarge {
                block: "enhanced packet block",
                caplen: 32,
                space: 4 + 16 + 4
            }
        );
    }

    #[test]
    fn truncated_block() {
        let (f, at) = with_block(false, &epb(false, 0, 1, &[1; 100], 100));
        let cut = &f[..f.len() - 10];
        let mut p = Parser::new();
        let mut rest = cut;
        while let Some((_, n)) = p.next(rest).unwrap() {
            rest = &rest[n..];
        }
        assert_eq!(p.offset(), at);
        let total = f.len() as u64 - at;
        assert_eq!(p.needed(), Some(total as usize));
        let err = p.finish(rest).unwrap_err();
        assert_eq!(
            err,
            Error {
                offset: at,
                kind: ErrorKind::TruncatedBlock {
                    block: "enhanced packet block",
                    promised: total,
                    available: total - 10
                }
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "at byte {at}: truncated enhanced packet block: header promises a {total}-byte \
                 block, file ends after {}",
                total - 10
            )
        );
    }

    #[test]
    fn truncated_block_header() {
        let (f, at) = with_block(false, &epb(false, 0, 1, b"abcd", 4)[..5]);
        assert_eq!(
            last_error(&f),
            Error {
                offset: at,
                kind: ErrorKind::Truncated {
                    what: "pcapng block header",
                    needed: 8,
                    available: 5
                }
            }
        );
        // A section header needs its byte-order magic before its length can be trusted.
        assert_eq!(
            last_error(&shb(true)[..10]),
            Error {
                offset: 0,
                kind: ErrorKind::Truncated {
                    what: "section header block",
                    needed: 12,
                    available: 10
                }
            }
        );
        let (mut f, at) = with_block(false, &[]);
        f.extend(&shb(true)[..9]);
        assert_eq!(last_error(&f).offset, at);
    }

    #[test]
    fn bad_byte_order_magic() {
        let mut f = shb(false);
        f[8..12].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(
            last_error(&f),
            Error {
                offset: 0,
                kind: ErrorKind::BadByteOrderMagic {
                    magic: [1, 2, 3, 4]
                }
            }
        );
    }

    #[test]
    fn unsupported_pcapng_version() {
        let mut f = shb(true);
        f[12..14].copy_from_slice(&u16b(true, 2));
        assert_eq!(
            last_error(&f),
            Error {
                offset: 0,
                kind: ErrorKind::UnsupportedVersion {
                    format: "pcapng",
                    major: 2,
                    minor: 0,
                    expected_major: 1
                }
            }
        );
    }

    #[test]
    fn bad_options() {
        // if_tsresol must be one byte.
        let (f, at) = with_block(
            false,
            &idb(false, 1, 0, &[(2, b"x".to_vec()), (9, vec![9, 9])]),
        );
        assert_eq!(
            last_error(&f),
            Error {
                offset: at + 16 + 8,
                kind: ErrorKind::BadOption {
                    block: "interface description block",
                    code: 9,
                    len: 2,
                    expected: "a 1-byte value"
                }
            }
        );
        // if_tsoffset must be eight bytes.
        let (f, at) = with_block(true, &idb(true, 1, 0, &[(14, vec![0; 4])]));
        assert_eq!(
            last_error(&f),
            Error {
                offset: at + 16,
                kind: ErrorKind::BadOption {
                    block: "interface description block",
                    code: 14,
                    len: 4,
                    expected: "an 8-byte value"
                }
            }
        );
        // An option running past the end of the block.
        let mut body = Vec::new();
        body.extend(u16b(false, 1));
        body.extend(u16b(false, 0));
        body.extend(u32b(false, 0));
        body.extend(u16b(false, 2));
        body.extend(u16b(false, 200));
        body.extend(b"eth0");
        let (f, at) = with_block(false, &block(false, 1, &body));
        assert_eq!(
            last_error(&f),
            Error {
                offset: at + 16,
                kind: ErrorKind::BadOption {
                    block: "interface description block",
                    code: 2,
                    len: 200,
                    expected: "the value to fit in the block"
                }
            }
        );
    }

    #[test]
    fn options_without_end_marker() {
        let mut body = Vec::new();
        body.extend(u16b(true, 1));
        body.extend(u16b(true, 0));
        body.extend(u32b(true, 0));
        body.extend(opt(true, 9, &[3]));
        let mut f = shb(true);
        f.extend(block(true, 1, &body));
        f.extend(epb(true, 0, 5, b"", 0));
        let (events, end) = parse_all(&f);
        assert_eq!(end, Ok(()));
        assert_eq!(packets(&events)[0].ts_nanos, 5_000_000);
    }

    #[test]
    fn too_many_interfaces() {
        let one = idb(false, 1, 0, &[]);
        let mut f = shb(false);
        for _ in 0..crate::MAX_INTERFACES {
            f.extend(&one);
        }
        f.extend(epb(false, 65_535, 1, b"last", 4));
        let at = f.len() as u64;
        f.extend(&one);
        let (events, end) = parse_all(&f);
        assert_eq!(packets(&events)[0].interface, 65_535);
        assert_eq!(
            end,
            Err(Error {
                offset: at,
                kind: ErrorKind::TooManyInterfaces { max: 65_536 }
            })
        );
        // A new section starts counting again.
        let mut g = f[..at as usize].to_vec();
        g.extend(shb(true));
        g.extend(idb(true, 1, 0, &[]));
        assert_eq!(parse_all(&g).1, Ok(()));
    }

    #[test]
    fn unknown_block_types_are_skipped() {
        let mut f = shb(false);
        for t in [
            4u32,
            5,
            0x0a,
            0x0000_0bad,
            0x4000_0bad,
            0x8000_0001,
            0x1234_5678,
        ] {
            f.extend(block(false, t, b"whatever"));
        }
        f.extend(block(false, 0x99, b""));
        let (events, end) = parse_all(&f);
        assert_eq!(end, Ok(()));
        assert_eq!(events, [Event::Skipped; 9]);
    }
}
