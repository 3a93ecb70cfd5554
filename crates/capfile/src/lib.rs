//! Zero-copy streaming parser of pcap and pcapng capture files.
//!
//! This crate reads capture files from byte buffers. It does no I/O of its own: the caller reads
//! (or maps) the file and hands the parser the bytes, and the parser hands back [`Packet`]s that
//! borrow from those bytes. Nothing is allocated per packet; the only allocation is the list of
//! interfaces of a pcapng section (at most [`MAX_INTERFACES`] entries).
//!
//! # Formats
//!
//! * **pcap** (libpcap's classic format): magic `0xa1b2c3d4` (microsecond timestamps) and
//!   `0xa1b23c4d` (nanosecond timestamps), written in either byte order, version 2.x, plus the
//!   "modified pcap" magic `0xa1b2cd34` (microsecond timestamps, 24-byte record headers carrying an
//!   interface index, protocol and packet type, which are ignored). The link type of every packet
//!   is the low 16 bits of the header's `network` field.
//! * **pcapng**, version 1.x, in either byte order, with any number of sections (each section
//!   header block resets the interface list and may change the byte order). Packets come from
//!   enhanced packet blocks, simple packet blocks and the obsolete packet block; interface
//!   description blocks are read for their link type, snapshot length, `if_tsresol` and
//!   `if_tsoffset`; every other block is reported as [`Event::Skipped`].
//!
//! The format is detected from the first four bytes; see [`Parser::format`].
//!
//! # Streaming contract
//!
//! The parser keeps the absolute file offset of the next unread byte ([`Parser::offset`]). Each
//! call to [`Parser::next`] takes a buffer that starts at that offset and either
//!
//! * returns `Ok(Some((event, consumed)))`: one header, record or block of `consumed` bytes was
//!   parsed and the offset advanced by `consumed` (always at least 1);
//! * returns `Ok(None)`: `buf` does not yet hold the whole next header, record or block. Nothing
//!   was consumed; read more and call again with a longer buffer starting at the same offset.
//!   [`Parser::needed`] tells how long that buffer must be at least. No block or record is longer
//!   than [`MAX_BLOCK_LEN`] bytes (plus a pcap record header), so a bounded buffer always suffices;
//! * or returns `Err(_)` for malformed input, with the absolute offset of the problem. The parser
//!   does not resynchronise: calling again returns the same error.
//!
//! At the end of the input, [`Parser::finish`] takes the unconsumed remainder and reports whether
//! the file ended cleanly or what was cut short.
//!
//! ```
//! # use swarmwall_capfile as capfile;
//! use capfile::{Event, Parser};
//!
//! fn count_packets(file: &[u8]) -> Result<usize, capfile::Error> {
//!     let mut parser = Parser::new();
//!     let mut rest = file;
//!     let mut packets = 0;
//!     while let Some((event, consumed)) = parser.next(rest)? {
//!         if let Event::Packet(_) = event {
//!             packets += 1;
//!         }
//!         rest = &rest[consumed..];
//!     }
//!     parser.finish(rest)?;
//!     Ok(packets)
//! }
//! # assert!(count_packets(b"").is_err());
//! ```
//!
//! # Packets and timestamps
//!
//! Every packet carries its link type and (pcapng) interface id, so callers never track
//! interfaces themselves. Timestamps are converted to nanoseconds since the Unix epoch: pcap
//! seconds and micro- or nanoseconds; pcapng counts of `if_tsresol` units (10^-n or 2^-n
//! seconds, default microseconds, converted in exact integer arithmetic and rounded down to whole
//! nanoseconds) plus `if_tsoffset` seconds. Values outside the `i64` range saturate. pcapng simple packet blocks have no timestamp and get
//! the timestamp of the previous packet in the file (0 if there is none); their captured length
//! is the smallest of the original length, the room in the block (which may include padding) and
//! interface 0's snapshot length (if not 0).
//!
//! # Limits and checks
//!
//! Lengths read from the file are never trusted. A pcap record may hold at most the larger of
//! the file's snapshot length and [`MAX_PCAP_SNAPLEN`] bytes (like libpcap), and never more than
//! [`MAX_BLOCK_LEN`]; a pcapng block may be at most [`MAX_BLOCK_LEN`] bytes long, must be a
//! multiple of 4 and at least 12 bytes long, must end with the same length it starts with, and
//! must be long enough for the fixed fields of its type; a packet's captured length must fit in
//! its block, and its interface id must refer to an interface description block of the current
//! section (at most [`MAX_INTERFACES`] per section). These are checked as soon as the bytes
//! involved are available, so a corrupt length is reported from a block's first 8 bytes instead
//! of making the caller read 4 GiB. Options are only parsed in interface description blocks.
//!
//! # Panics
//!
//! None: no input makes this crate panic. Every length read from the file is checked before it is
//! used, all arithmetic on file values is checked or saturating, and the crate has no `unsafe`.

mod bytes;
mod error;
mod pcap;
mod pcapng;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod testutil;

pub use error::{Error, ErrorKind};

use bytes::Endian;

/// Largest pcapng block, and largest pcap record data, this parser accepts: 16 MiB.
///
/// A corrupt length field can therefore never make the caller buffer more than this (plus a pcap
/// record header of at most 24 bytes) before the parser either makes progress or reports an error.
pub const MAX_BLOCK_LEN: u32 = 16 << 20;

/// Captured length of a pcap record that is always accepted, whatever the file's snapshot length
/// (libpcap's `MAXIMUM_SNAPLEN`).
pub const MAX_PCAP_SNAPLEN: u32 = 262_144;

const _: () = assert!(MAX_PCAP_SNAPLEN <= MAX_BLOCK_LEN);

/// Largest number of interface description blocks accepted in one pcapng section.
pub const MAX_INTERFACES: usize = 65_536;

/// One captured packet, borrowed from the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The captured bytes.
    pub data: &'a [u8],
    /// Length of the packet on the wire, as recorded in the file. Broken files may record a value
    /// smaller than `data.len()`; it is reported unchanged.
    pub orig_len: u32,
    /// Capture time in nanoseconds since the Unix epoch (saturated to the `i64` range).
    ///
    /// pcapng simple packet blocks carry no timestamp: they get the timestamp of the previous
    /// packet in the file, or 0 if there is none.
    pub ts_nanos: i64,
    /// `LINKTYPE_*` number of the packet's interface (pcap: the header's `network & 0xFFFF`).
    pub linktype: u16,
    /// pcapng interface id within the current section (always 0 for pcap).
    pub interface: u32,
}

/// The kind of capture file being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// libpcap's classic format (including the "modified pcap" variant).
    Pcap {
        /// Timestamps have nanosecond resolution (magic `0xa1b23c4d`) instead of microseconds.
        nanos: bool,
        /// The file was written in big-endian byte order.
        big_endian: bool,
    },
    /// pcapng. The byte order may change from one section to the next.
    PcapNg,
}

/// What one call to [`Parser::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A captured packet.
    Packet(Packet<'a>),
    /// A header or block that carries no packet (pcap file header, pcapng section header,
    /// interface description, name resolution, interface statistics, custom and unknown blocks).
    Skipped,
}

/// Streaming pcap/pcapng parser. See the [crate documentation](crate) for the contract.
#[derive(Debug, Clone, Default)]
pub struct Parser {
    offset: u64,
    state: State,
    /// Timestamp of the last packet returned, for pcapng simple packet blocks.
    last_ts: i64,
    /// Buffer length needed by the next call, set when the last call returned `Ok(None)`.
    needed: Option<usize>,
}

/// Per-format parser state.
#[derive(Debug, Clone, Default)]
enum State {
    /// Nothing consumed yet: the format is unknown.
    #[default]
    Start,
    Pcap(pcap::PcapState),
    PcapNg(pcapng::NgState),
}

/// Result of parsing at the current offset, before the parser's state is updated.
#[derive(Debug)]
enum Step<'a> {
    /// A whole header, record or block: the event, its length and the state change it implies.
    Ready {
        event: Event<'a>,
        consumed: usize,
        commit: Commit,
    },
    /// More bytes are needed.
    Short(Shortfall),
}

impl<'a> Step<'a> {
    /// A packet that changes no state.
    #[inline]
    fn packet(packet: Packet<'a>, consumed: usize) -> Self {
        Step::Ready {
            event: Event::Packet(packet),
            consumed,
            commit: Commit::Nothing,
        }
    }

    /// A block that carries no packet and changes no state.
    #[inline]
    fn skipped(consumed: usize) -> Self {
        Step::Ready {
            event: Event::Skipped,
            consumed,
            commit: Commit::Nothing,
        }
    }
}

/// State change applied once a header or block has been accepted.
#[derive(Debug)]
enum Commit {
    Nothing,
    /// A pcap file header was read.
    Pcap(pcap::PcapState),
    /// A pcapng section header block was read: new section with this byte order.
    Section(Endian),
    /// A pcapng interface description block was read.
    Interface(pcapng::Interface),
}

/// Why more bytes are needed, to describe a cut in [`Parser::finish`].
#[derive(Debug, Clone, Copy)]
struct Shortfall {
    /// Total buffer length needed from the current offset.
    needed: usize,
    what: Short,
}

#[derive(Debug, Clone, Copy)]
enum Short {
    /// A fixed-size header is incomplete.
    Header(&'static str),
    /// A pcap record header is complete but its data is cut.
    Record { header_len: usize },
    /// A pcapng block's length is known but the block is cut.
    Block(&'static str),
}

impl Shortfall {
    fn header(what: &'static str, needed: usize) -> Self {
        Shortfall {
            needed,
            what: Short::Header(what),
        }
    }

    /// The error describing this shortfall when the file ends after `available` bytes.
    fn into_error(self, offset: u64, available: usize) -> Error {
        let needed = self.needed as u64;
        let available = available as u64;
        let kind = match self.what {
            Short::Header(what) => ErrorKind::Truncated {
                what,
                needed,
                available,
            },
            Short::Record { header_len } => {
                let header_len = header_len as u64;
                ErrorKind::TruncatedRecord {
                    promised: needed.saturating_sub(header_len),
                    available: available.saturating_sub(header_len),
                }
            }
            Short::Block(block) => ErrorKind::TruncatedBlock {
                block,
                promised: needed,
                available,
            },
        };
        Error { offset, kind }
    }
}

impl Parser {
    /// A parser positioned at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Absolute byte offset in the file of the next unread byte.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The detected format, once the file header has been parsed.
    pub fn format(&self) -> Option<Format> {
        match &self.state {
            State::Start => None,
            State::Pcap(p) => Some(p.format()),
            State::PcapNg(_) => Some(Format::PcapNg),
        }
    }

    /// After [`next`](Self::next) returned `Ok(None)`: the length the buffer (starting at
    /// [`offset`](Self::offset)) must have at least for the next call to make progress. It is the
    /// exact length of the next header, record or block when its length field was available,
    /// otherwise the length of the header that holds that field. `None` when the last call did not
    /// return `Ok(None)`.
    #[inline]
    pub fn needed(&self) -> Option<usize> {
        self.needed
    }

    /// Parses the next header, record or block.
    ///
    /// `buf` must start at [`offset`](Self::offset). Returns `Ok(Some((event, consumed)))` after
    /// consuming `consumed` bytes (the offset advances by that much; `consumed` is at least 1 and
    /// at most `buf.len()`), `Ok(None)` if `buf` does not yet hold the whole next header, record
    /// or block (call again with a longer buffer starting at the same offset; see
    /// [`needed`](Self::needed)), or an error for malformed input. Bytes after the current item are
    /// never looked at.
    pub fn next<'a>(&mut self, buf: &'a [u8]) -> Result<Option<(Event<'a>, usize)>, Error> {
        let step = match self.step(buf) {
            Ok(step) => step,
            Err(e) => {
                self.needed = None;
                return Err(e);
            }
        };
        match step {
            Step::Ready {
                event,
                consumed,
                commit,
            } => {
                self.needed = None;
                self.offset = self.offset.saturating_add(consumed as u64);
                match event {
                    Event::Packet(p) => self.last_ts = p.ts_nanos,
                    Event::Skipped => self.commit(commit),
                }
                Ok(Some((event, consumed)))
            }
            Step::Short(short) => {
                self.needed = Some(short.needed);
                Ok(None)
            }
        }
    }

    /// Checks the end of the input.
    ///
    /// `rest` is the unconsumed remainder of the file, starting at [`offset`](Self::offset) (what
    /// was left after [`next`](Self::next) returned `Ok(None)` on the whole remaining input).
    /// Returns `Ok(())` if `rest` is empty and something was consumed, [`ErrorKind::EmptyFile`]
    /// for an empty file, otherwise the error describing what was cut short (for example
    /// [`ErrorKind::TruncatedRecord`]), or the error [`next`](Self::next) would report for `rest`.
    pub fn finish(&self, rest: &[u8]) -> Result<(), Error> {
        if rest.is_empty() {
            return if self.offset == 0 {
                Err(Error {
                    offset: 0,
                    kind: ErrorKind::EmptyFile,
                })
            } else {
                Ok(())
            };
        }
        match self.step(rest)? {
            Step::Short(short) => Err(short.into_error(self.offset, rest.len())),
            Step::Ready { .. } => Err(Error {
                offset: self.offset,
                kind: ErrorKind::Unconsumed { len: rest.len() },
            }),
        }
    }

    /// Parses at the current offset without changing any state.
    #[inline]
    fn step<'a>(&self, buf: &'a [u8]) -> Result<Step<'a>, Error> {
        match &self.state {
            State::Pcap(p) => p.record(self.offset, buf),
            State::PcapNg(ng) => ng.block(self.offset, self.last_ts, buf),
            State::Start => detect(buf),
        }
    }

    fn commit(&mut self, commit: Commit) {
        match commit {
            Commit::Nothing => {}
            Commit::Pcap(p) => self.state = State::Pcap(p),
            Commit::Section(endian) => match &mut self.state {
                State::PcapNg(ng) => ng.new_section(endian),
                _ => self.state = State::PcapNg(pcapng::NgState::new(endian)),
            },
            Commit::Interface(interface) => {
                if let State::PcapNg(ng) = &mut self.state {
                    ng.add_interface(interface);
                }
            }
        }
    }
}

/// Detects the format from the magic number at the start of the file and parses the file header
/// (pcap) or first section header block (pcapng).
fn detect(buf: &[u8]) -> Result<Step<'_>, Error> {
    let Some(&magic) = buf.first_chunk::<4>() else {
        return Ok(Step::Short(Shortfall::header("file header", 4)));
    };
    if magic == pcapng::SHB_MAGIC {
        return pcapng::section_header(0, buf);
    }
    match pcap::Magic::detect(magic) {
        Some(m) => pcap::file_header(m, buf),
        None => Err(Error {
            offset: 0,
            kind: ErrorKind::NotACapture { magic },
        }),
    }
}
