//! libpcap's classic capture format.
//!
//! A 24-byte file header (magic, version, time zone, sigfigs, snapshot length, link type) is
//! followed by records, each a 16-byte header (24 bytes in "modified pcap") and the captured
//! bytes. All integers are in the byte order of the magic number.

use crate::bytes::Endian;
use crate::{Commit, Error, ErrorKind, Event, Format, Packet, Short, Shortfall, Step};

/// Byte offsets of the file header and record header fields.
mod field {
    use core::ops::Range;

    pub(super) mod header {
        use super::Range;

        pub(crate) const VERSION_MAJOR: Range<usize> = 4..6;
        pub(crate) const VERSION_MINOR: Range<usize> = 6..8;
        /// Time zone correction and timestamp accuracy: always 0 in practice, ignored.
        #[allow(dead_code)]
        pub(crate) const THISZONE: Range<usize> = 8..12;
        #[allow(dead_code)]
        pub(crate) const SIGFIGS: Range<usize> = 12..16;
        pub(crate) const SNAPLEN: Range<usize> = 16..20;
        /// Link type in the low 16 bits; FCS information in the high bits (ignored).
        pub(crate) const NETWORK: Range<usize> = 20..24;
        pub(crate) const LEN: usize = 24;
    }

    pub(super) mod record {
        use super::Range;

        pub(crate) const TS_SEC: Range<usize> = 0..4;
        /// Microseconds, or nanoseconds for the nanosecond magic.
        pub(crate) const TS_FRAC: Range<usize> = 4..8;
        pub(crate) const INCL_LEN: Range<usize> = 8..12;
        pub(crate) const ORIG_LEN: Range<usize> = 12..16;
        pub(crate) const LEN: usize = 16;
        /// "Modified pcap" adds interface index (u32), protocol (u16), packet type (u8) and one
        /// byte of padding, all ignored.
        pub(crate) const MODIFIED_LEN: usize = 24;
    }
}

/// Magic numbers, as read in the file's own byte order.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// What a pcap magic number says about the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Magic {
    endian: Endian,
    nanos: bool,
    modified: bool,
}

impl Magic {
    /// Recognises the pcap magic numbers in either byte order.
    pub(crate) fn detect(bytes: [u8; 4]) -> Option<Self> {
        let classify = |value: u32, endian| match value {
            MAGIC_MICROS => Some(Magic {
                endian,
                nanos: false,
                modified: false,
            }),
            MAGIC_NANOS => Some(Magic {
                endian,
                nanos: true,
                modified: false,
            }),
            MAGIC_MODIFIED => Some(Magic {
                endian,
                nanos: false,
                modified: true,
            }),
            _ => None,
        };
        classify(u32::from_le_bytes(bytes), Endian::Little)
            .or_else(|| classify(u32::from_be_bytes(bytes), Endian::Big))
    }
}

/// State of a pcap file after its header: everything the record path needs, decided once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PcapState {
    endian: Endian,
    nanos: bool,
    /// Record header length: 16, or 24 for modified pcap.
    header_len: usize,
    /// Nanoseconds per unit of the fractional timestamp: 1000 or 1.
    frac_nanos: i64,
    linktype: u16,
    /// Largest captured length accepted.
    max_caplen: u32,
}

/// Parses the file header of a file whose magic is `magic`.
pub(crate) fn file_header(magic: Magic, buf: &[u8]) -> Result<Step<'_>, Error> {
    use field::header;

    let Some(hdr) = buf.get(..header::LEN) else {
        return Ok(Step::Short(Shortfall::header(
            "pcap file header",
            header::LEN,
        )));
    };
    let e = magic.endian;
    let major = e.u16(hdr, header::VERSION_MAJOR);
    if major != 2 {
        return Err(Error {
            offset: 0,
            kind: ErrorKind::UnsupportedVersion {
                format: "pcap",
                major,
                minor: e.u16(hdr, header::VERSION_MINOR),
                expected_major: 2,
            },
        });
    }
    let snaplen = e.u32(hdr, header::SNAPLEN);
    let state = PcapState {
        endian: e,
        nanos: magic.nanos,
        header_len: if magic.modified {
            field::record::MODIFIED_LEN
        } else {
            field::record::LEN
        },
        frac_nanos: if magic.nanos { 1 } else { 1_000 },
        // Truncation keeps the link type and drops the FCS bits.
        linktype: e.u32(hdr, header::NETWORK) as u16,
        // Cannot panic: MAX_PCAP_SNAPLEN <= MAX_BLOCK_LEN (checked at compile time in lib.rs).
        max_caplen: snaplen.clamp(crate::MAX_PCAP_SNAPLEN, crate::MAX_BLOCK_LEN),
    };
    Ok(Step::Ready {
        event: Event::Skipped,
        consumed: header::LEN,
        commit: Commit::Pcap(state),
    })
}

impl PcapState {
    pub(crate) fn format(&self) -> Format {
        Format::Pcap {
            nanos: self.nanos,
            big_endian: self.endian == Endian::Big,
        }
    }

    /// Parses one record at `offset`. This is the hot path of the whole crate.
    #[inline]
    pub(crate) fn record<'a>(&self, offset: u64, buf: &'a [u8]) -> Result<Step<'a>, Error> {
        use field::record;

        let header_len = self.header_len;
        let Some(hdr) = buf.get(..header_len) else {
            return Ok(Step::Short(Shortfall::header(
                "pcap record header",
                header_len,
            )));
        };
        let e = self.endian;
        let caplen = e.u32(hdr, record::INCL_LEN);
        if caplen > self.max_caplen {
            return Err(Error {
                offset,
                kind: ErrorKind::RecordTooLarge {
                    len: caplen,
                    max: self.max_caplen,
                },
            });
        }
        // Cannot overflow: caplen is at most MAX_BLOCK_LEN.
        let total = header_len + caplen as usize;
        let Some(data) = buf.get(header_len..total) else {
            return Ok(Step::Short(Shortfall {
                needed: total,
                what: Short::Record { header_len },
            }));
        };
        let sec = i64::from(e.u32(hdr, record::TS_SEC));
        let frac = i64::from(e.u32(hdr, record::TS_FRAC));
        let ts_nanos = sec
            .saturating_mul(NANOS_PER_SEC)
            .saturating_add(frac.saturating_mul(self.frac_nanos));
        Ok(Step::packet(
            Packet {
                data,
                orig_len: e.u32(hdr, record::ORIG_LEN),
                ts_nanos,
                linktype: self.linktype,
                interface: 0,
            },
            total,
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{Error, ErrorKind, Event, Format, MAX_BLOCK_LEN, MAX_PCAP_SNAPLEN, Parser};

    const MAGICS: [(u32, bool, bool); 3] = [
        (0xa1b2_c3d4, false, false),
        (0xa1b2_3c4d, true, false),
        (0xa1b2_cd34, false, true),
    ];

    #[test]
    fn every_magic_and_byte_order() {
        for (magic, nanos, modified) in MAGICS {
            for big in [false, true] {
                let mut f = pcap_header(big, magic, 2, 4, 65_535, 1);
                f.extend(pcap_record(big, modified, 10, 20, b"abcdef", 60));
                f.extend(pcap_record(big, modified, 11, 999_999, b"", 0));
                f.extend(pcap_record(big, modified, 0, 1, &[7; 300], 1514));
                let (events, end) = parse_all(&f);
                assert_eq!(end, Ok(()));
                assert_eq!(events[0], Event::Skipped);
                let pkts = packets(&events);
                assert_eq!(pkts.len(), 3, "magic {magic:x} big {big}");
                let unit = if nanos { 1 } else { 1_000 };
                assert_eq!(pkts[0].data, b"abcdef");
                assert_eq!(pkts[0].orig_len, 60);
                assert_eq!(pkts[0].ts_nanos, 10_000_000_000 + 20 * unit);
                assert_eq!(pkts[0].linktype, 1);
                assert_eq!(pkts[0].interface, 0);
                assert_eq!(pkts[1].data, b"");
                assert_eq!(pkts[1].ts_nanos, 11_000_000_000 + 999_999 * unit);
                assert_eq!(pkts[2].data, &[7; 300][..]);
                assert_eq!(pkts[2].orig_len, 1514);
                assert_eq!(pkts[2].ts_nanos, unit);

                let mut p = Parser::new();
                assert_eq!(p.format(), None);
                p.next(&f).unwrap();
                assert_eq!(
                    p.format(),
                    Some(Format::Pcap {
                        nanos,
                        big_endian: big
                    })
                );
                assert_eq!(p.offset(), 24);
            }
        }
    }

    #[test]
    fn consumed_and_offsets() {
        let mut f = pcap_header(false, 0xa1b2_cd34, 2, 4, 65_535, 1);
        f.extend(pcap_record(false, true, 1, 2, b"xyz", 3));
        let mut p = Parser::new();
        assert_eq!(p.next(&f).unwrap().unwrap().1, 24);
        let (ev, n) = p.next(&f[24..]).unwrap().unwrap();
        assert_eq!(n, 24 + 3);
        assert!(matches!(ev, Event::Packet(pkt) if pkt.data == b"xyz"));
        assert_eq!(p.offset(), 51);
        assert_eq!(p.next(&f[51..]).unwrap(), None);
        assert_eq!(p.finish(&f[51..]), Ok(()));
    }

    #[test]
    fn linktype_is_low_16_bits_of_network() {
        // FCS length bits set in the top nibble.
        let mut f = pcap_header(true, 0xa1b2_c3d4, 2, 4, 65_535, 0x1000_0000 | 127);
        f.extend(pcap_record(true, false, 1, 0, b"radiotap", 8));
        let (events, end) = parse_all(&f);
        assert_eq!(end, Ok(()));
        assert_eq!(packets(&events)[0].linktype, 127);
    }

    #[test]
    fn large_timestamps_do_not_overflow() {
        let mut f = pcap_header(false, 0xa1b2_c3d4, 2, 4, 65_535, 1);
        f.extend(pcap_record(false, false, u32::MAX, u32::MAX, b"", 0));
        let (events, end) = parse_all(&f);
        assert_eq!(end, Ok(()));
        assert_eq!(
            packets(&events)[0].ts_nanos,
            i64::from(u32::MAX) * 1_000_000_000 + i64::from(u32::MAX) * 1_000
        );
    }

    #[test]
    fn orig_len_smaller_than_caplen_is_reported_as_recorded() {
        let mut f = pcap_header(false, 0xa1b2_c3d4, 2, 4, 65_535, 1);
        f.extend(pcap_record(false, false, 1, 0, b"0123456789", 4));
        let (events, end) = parse_all(&f);
        assert_eq!(end, Ok(()));
        let pkt = packets(&events)[0];
        assert_eq!((pkt.data.len(), pkt.orig_len), (10, 4));
    }

    #[test]
    fn not_a_capture() {
        let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00";
        let err = Parser::new().next(zip).unwrap_err();
        assert_eq!(
            err,
            Error {
                offset: 0,
                kind: ErrorKind::NotACapture {
                    magic: *b"PK\x03\x04"
                }
            }
        );
        assert_eq!(
            err.to_string(),
            "at byte 0: not a pcap or pcapng file (starts with 50 4b 03 04)"
        );
        // finish() on an unrecognised remainder reports the same.
        assert_eq!(Parser::new().finish(zip), Err(err));
    }

    #[test]
    fn empty_file() {
        let mut p = Parser::new();
        assert_eq!(p.next(b"").unwrap(), None);
        assert_eq!(p.needed(), Some(4));
        assert_eq!(
            p.finish(b""),
            Err(Error {
                offset: 0,
                kind: ErrorKind::EmptyFile
            })
        );
    }

    #[test]
    fn shorter_than_magic() {
        let p = Parser::new();
        assert_eq!(
            p.finish(&[0xd4, 0xc3]),
            Err(Error {
                offset: 0,
                kind: ErrorKind::Truncated {
                    what: "file header",
                    needed: 4,
                    available: 2
                }
            })
        );
    }

    #[test]
    fn truncated_global_header() {
        let f = pcap_header(false, 0xa1b2_c3d4, 2, 4, 65_535, 1);
        let mut p = Parser::new();
        assert_eq!(p.next(&f[..20]).unwrap(), None);
        assert_eq!(p.needed(), Some(24));
        assert_eq!(
            p.finish(&f[..20]),
            Err(Error {
                offset: 0,
                kind: ErrorKind::Truncated {
                    what: "pcap file header",
                    needed: 24,
                    available: 20
                }
            })
        );
    }

    #[test]
    fn unsupported_version() {
        for big in [false, true] {
            let f = pcap_header(big, 0xa1b2_c3d4, 3, 1, 65_535, 1);
            assert_eq!(
                Parser::new().next(&f),
                Err(Error {
                    offset: 0,
                    kind: ErrorKind::UnsupportedVersion {
                        format: "pcap",
                        major: 3,
                        minor: 1,
                        expected_major: 2
                    }
                })
            );
        }
    }

    #[test]
    fn truncated_record_header() {
        let mut f = pcap_header(true, 0xa1b2_c3d4, 2, 4, 65_535, 1);
        f.extend(pcap_record(true, false, 1, 0, b"abcd", 4));
        f.extend(&pcap_record(true, false, 1, 0, b"abcd", 4)[..10]);
        let (events, end) = parse_all(&f);
        assert_eq!(packets(&events).len(), 1);
        assert_eq!(
            end,
            Err(Error {
                offset: 24 + 20,
                kind: ErrorKind::Truncated {
                    what: "pcap record header",
                    needed: 16,
                    available: 10
                }
            })
        );
    }

    #[test]
    fn truncated_record_data() {
        let mut f = pcap_header(false, 0xa1b2_3c4d, 2, 4, 65_535, 1);
        f.extend(&pcap_record(false, false, 1, 0, &[0; 1514], 1514)[..16 + 300]);
        let mut p = Parser::new();
        p.next(&f).unwrap();
        assert_eq!(p.next(&f[24..]).unwrap(), None);
        assert_eq!(p.needed(), Some(16 + 1514));
        let err = p.finish(&f[24..]).unwrap_err();
        assert_eq!(
            err,
            Error {
                offset: 24,
                kind: ErrorKind::TruncatedRecord {
                    promised: 1514,
                    available: 300
                }
            }
        );
        assert_eq!(
            err.to_string(),
            "at byte 24: truncated packet record: header promises 1514 bytes of packet data, \
             file ends after 300"
        );
    }

    #[test]
    fn caplen_too_large() {
        // Small snaplen: the libpcap floor of 262144 applies.
        let mut f = pcap_header(false, 0xa1b2_c3d4, 2, 4, 1500, 1);
        f.extend(pcap_record_raw(
            false,
            false,
            1,
            0,
            MAX_PCAP_SNAPLEN + 1,
            0,
            b"",
        ));
        let (_, end) = parse_all(&f);
        assert_eq!(
            end,
            Err(Error {
                offset: 24,
                kind: ErrorKind::RecordTooLarge {
                    len: MAX_PCAP_SNAPLEN + 1,
                    max: MAX_PCAP_SNAPLEN
                }
            })
        );
        // A larger snaplen raises the limit...
        let mut f = pcap_header(false, 0xa1b2_c3d4, 2, 4, 1 << 20, 1);
        f.extend(pcap_record_raw(false, false, 1, 0, (1 << 20) + 1, 0, b""));
        let (_, end) = parse_all(&f);
        assert_eq!(
            end.unwrap_err().kind,
            ErrorKind::RecordTooLarge {
                len: (1 << 20) + 1,
                max: 1 << 20
            }
        );
        // ...but never beyond MAX_BLOCK_LEN, whatever the header claims.
        let mut f = pcap_header(true, 0xa1b2_c3d4, 2, 4, u32::MAX, 1);
        f.extend(pcap_record(true, false, 1, 0, b"ok", 2));
        f.extend(pcap_record_raw(true, false, 1, 0, u32::MAX, 0, b""));
        let (events, end) = parse_all(&f);
        assert_eq!(packets(&events).len(), 1);
        assert_eq!(
            end,
            Err(Error {
                offset: 24 + 18,
                kind: ErrorKind::RecordTooLarge {
                    len: u32::MAX,
                    max: MAX_BLOCK_LEN
                }
            })
        );
    }

    #[test]
    fn caplen_at_limit_is_accepted() {
        let data = vec![0xab; MAX_PCAP_SNAPLEN as usize];
        let mut f = pcap_header(false, 0xa1b2_c3d4, 2, 4, 0, 1);
        f.extend(pcap_record(false, false, 1, 0, &data, MAX_PCAP_SNAPLEN));
        let (events, end) = parse_all(&f);
        assert_eq!(end, Ok(()));
        assert_eq!(packets(&events)[0].data.len(), MAX_PCAP_SNAPLEN as usize);
    }

    #[test]
    fn finish_with_complete_record_left() {
        let mut f = pcap_header(false, 0xa1b2_c3d4, 2, 4, 65_535, 1);
        f.extend(pcap_record(false, false, 1, 0, b"abc", 3));
        let mut p = Parser::new();
        p.next(&f).unwrap();
        assert_eq!(
            p.finish(&f[24..]),
            Err(Error {
                offset: 24,
                kind: ErrorKind::Unconsumed { len: 19 }
            })
        );
    }

    #[test]
    fn error_is_sticky() {
        let mut f = pcap_header(false, 0xa1b2_c3d4, 2, 4, 65_535, 1);
        f.extend(pcap_record_raw(false, false, 1, 0, u32::MAX, 0, b""));
        let mut p = Parser::new();
        p.next(&f).unwrap();
        let e1 = p.next(&f[24..]).unwrap_err();
        let e2 = p.next(&f[24..]).unwrap_err();
        assert_eq!(e1, e2);
        assert_eq!(p.offset(), 24);
    }
}
