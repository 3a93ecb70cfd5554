//! Capture inputs: files and streams of pcap or pcapng.
//!
//! Regular files are memory-mapped and parsed in place (no copy, no per-packet allocation).
//! Anything else (standard input, a pipe, a FIFO) is read in large chunks into a buffer that
//! grows only as far as the largest block, which the format parser caps at 16 MiB.

use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use capfile::{Event, Packet, Parser};

/// Where a capture comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    Path(PathBuf),
}

impl Input {
    /// `-` means standard input.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }

    /// Size in bytes when known in advance (for progress).
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Path(p) => std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()),
            Input::Stdin => None,
        }
    }
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Stdin => f.write_str("<stdin>"),
            Input::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Why a capture could not be read to its end. Display is one line naming the input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{input}: cannot read: {source}")]
    Io { input: String, source: io::Error },
    #[error("{input}: {source}")]
    Format {
        input: String,
        source: capfile::Error,
    },
}

impl Error {
    /// Byte offset of a format error.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Format { source, .. } => Some(source.offset),
            Error::Io { .. } => None,
        }
    }
}

/// What reading one capture yielded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets: u64,
    /// Bytes of the file consumed.
    pub bytes: u64,
    /// Whether the packet callback stopped the read before the end.
    pub stopped: bool,
}

/// Calls `on_packet` for every packet of `input`, in file order, with the byte offset of its
/// record, until it returns `Break`; and `on_progress` now and then with the number of bytes
/// consumed so far. On error, every packet before the error has been delivered.
pub fn read(
    input: &Input,
    mut on_packet: impl FnMut(&Packet<'_>, u64) -> ControlFlow<()>,
    mut on_progress: impl FnMut(u64),
) -> Result<Stats, Error> {
    let name = input.to_string();
    let io_err = |source| Error::Io {
        input: name.clone(),
        source,
    };
    let fmt_err = |source| Error::Format {
        input: name.clone(),
        source,
    };
    match input {
        Input::Stdin => {
            stream(io::stdin().lock(), &mut on_packet, &mut on_progress).map_err(|e| match e {
                StreamError::Io(e) => io_err(e),
                StreamError::Format(e) => fmt_err(e),
            })
        }
        Input::Path(p) => {
            let file = File::open(p).map_err(io_err)?;
            let meta = file.metadata().map_err(io_err)?;
            if meta.is_dir() {
                return Err(io_err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory",
                )));
            }
            if meta.is_file() {
                let map = map(&file, meta.len()).map_err(io_err)?;
                let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
                let mut released = 0usize;
                let mut progress = |at: u64| {
                    on_progress(at);
                    if let Some(m) = &map {
                        release(m, &mut released, at as usize);
                    }
                };
                parse_all(bytes, &mut on_packet, &mut progress).map_err(fmt_err)
            } else {
                stream(file, &mut on_packet, &mut on_progress).map_err(|e| match e {
                    StreamError::Io(e) => io_err(e),
                    StreamError::Format(e) => fmt_err(e),
                })
            }
        }
    }
}

/// Maps a regular file read-only; `None` for an empty file (which cannot be mapped).
#[allow(unsafe_code)]
fn map(file: &File, len: u64) -> io::Result<Option<memmap2::Mmap>> {
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the map is read-only and lives only for this read. If another process truncates
    // the file meanwhile, reads of the lost pages raise SIGBUS: the same risk every mmap-based
    // capture reader (and libpcap-free tools like capinfos' mmap path) accepts for speed. No
    // Rust reference outlives the map.
    let map = unsafe { memmap2::Mmap::map(file)? };
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Some(map))
}

/// Bytes of a mapped file read before they are handed back to the kernel.
const RELEASE_EVERY: usize = 64 << 20;

/// Drops the pages of a mapped file below `upto` from this process, so that reading a
/// capture of any size keeps a bounded resident set (they are clean file pages: the kernel
/// would reclaim them anyway, but they count against the process until then).
#[allow(unsafe_code)]
fn release(map: &memmap2::Mmap, released: &mut usize, upto: usize) {
    let upto = upto & !4095;
    if upto < *released + RELEASE_EVERY {
        return;
    }
    // SAFETY: the mapping is a read-only, shared mapping of a file. MADV_DONTNEED only drops
    // this process's page-table entries: touching the range again would fault the same bytes
    // back in from the file. The parser has consumed everything below `upto` and no packet
    // slice below it is alive (the packet callback has returned).
    let _ = unsafe {
        map.unchecked_advise_range(
            memmap2::UncheckedAdvice::DontNeed,
            *released,
            upto - *released,
        )
    };
    *released = upto;
}

/// Progress is reported every this many packets.
const PROGRESS_EVERY: u64 = 1 << 16;

fn parse_all(
    bytes: &[u8],
    on_packet: &mut impl FnMut(&Packet<'_>, u64) -> ControlFlow<()>,
    on_progress: &mut impl FnMut(u64),
) -> Result<Stats, capfile::Error> {
    let mut parser = Parser::new();
    let mut at = 0usize;
    let mut packets = 0u64;
    loop {
        let rest = bytes.get(at..).unwrap_or(&[]);
        match parser.next(rest)? {
            Some((event, consumed)) => {
                if let Event::Packet(p) = event {
                    packets += 1;
                    if on_packet(&p, at as u64).is_break() {
                        return Ok(Stats {
                            packets,
                            bytes: (at + consumed) as u64,
                            stopped: true,
                        });
                    }
                    if packets.is_multiple_of(PROGRESS_EVERY) {
                        on_progress(at as u64);
                    }
                }
                at += consumed;
            }
            None => {
                parser.finish(rest)?;
                on_progress(at as u64);
                return Ok(Stats {
                    packets,
                    bytes: at as u64,
                    stopped: false,
                });
            }
        }
    }
}

enum StreamError {
    Io(io::Error),
    Format(capfile::Error),
}

/// Initial read buffer for streams.
const CHUNK: usize = 1 << 20;

fn stream(
    mut r: impl Read,
    on_packet: &mut impl FnMut(&Packet<'_>, u64) -> ControlFlow<()>,
    on_progress: &mut impl FnMut(u64),
) -> Result<Stats, StreamError> {
    let mut parser = Parser::new();
    let mut buf = vec![0u8; CHUNK];
    let (mut start, mut end) = (0usize, 0usize);
    let mut packets = 0u64;
    let mut eof = false;
    loop {
        let offset = parser.offset();
        match parser.next(&buf[start..end]).map_err(StreamError::Format)? {
            Some((event, consumed)) => {
                if let Event::Packet(p) = event {
                    packets += 1;
                    if on_packet(&p, offset).is_break() {
                        return Ok(Stats {
                            packets,
                            bytes: parser.offset(),
                            stopped: true,
                        });
                    }
                    if packets.is_multiple_of(PROGRESS_EVERY) {
                        on_progress(parser.offset());
                    }
                }
                start += consumed;
            }
            None if eof => {
                parser
                    .finish(&buf[start..end])
                    .map_err(StreamError::Format)?;
                on_progress(parser.offset());
                return Ok(Stats {
                    packets,
                    bytes: parser.offset(),
                    stopped: false,
                });
            }
            None => {
                // Make room: move the unread tail to the front, grow if one block needs more.
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
                let need = parser.needed().unwrap_or(0).max(end + 1);
                if need > buf.len() {
                    buf.resize(need.next_power_of_two(), 0);
                }
                loop {
                    match r.read(&mut buf[end..]) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => {
                            end += n;
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(StreamError::Io(e)),
                    }
                }
            }
        }
    }
}

/// Reads a whole capture from a path (a convenience for tests and tools).
pub fn read_path(path: &Path, mut on_packet: impl FnMut(&Packet<'_>, u64)) -> Result<Stats, Error> {
    let each = |p: &Packet<'_>, at: u64| {
        on_packet(p, at);
        ControlFlow::Continue(())
    };
    read(&Input::Path(path.to_path_buf()), each, |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(records: &[&[u8]], cut: usize) -> Vec<u8> {
        let mut f = vec![
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0,
        ];
        for (i, r) in records.iter().enumerate() {
            f.extend((i as u32 + 1).to_le_bytes());
            f.extend(0u32.to_le_bytes());
            f.extend((r.len() as u32).to_le_bytes());
            f.extend((r.len() as u32).to_le_bytes());
            f.extend(*r);
        }
        f.truncate(f.len() - cut);
        f
    }

    #[test]
    fn stream_and_map_agree_and_report_cut_tail() {
        let recs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 60 + usize::from(i)]).collect();
        let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
        let whole = pcap(&refs, 0);
        let mut a = Vec::new();
        parse_all(
            &whole,
            &mut |p, _| {
                a.push(p.data.to_vec());
                ControlFlow::Continue(())
            },
            &mut |_| {},
        )
        .ok()
        .unwrap();
        let mut b = Vec::new();
        // a reader that hands out 7 bytes at a time
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(7);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let ok = stream(
            Slow(&whole),
            &mut |p, _| {
                b.push(p.data.to_vec());
                ControlFlow::Continue(())
            },
            &mut |_| {},
        );
        assert!(ok.is_ok());
        assert_eq!(a, recs);
        assert_eq!(b, recs);

        let cut = pcap(&refs, 10);
        let mut n = 0;
        let err = parse_all(
            &cut,
            &mut |_, _| {
                n += 1;
                ControlFlow::Continue(())
            },
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(n, 4, "every packet before the cut is delivered");
        let last_record = (cut.len() + 10 - 16 - 64) as u64;
        assert_eq!(err.offset, last_record);
        let mut m = 0;
        let Err(StreamError::Format(e)) = stream(
            Slow(&cut),
            &mut |_, _| {
                m += 1;
                ControlFlow::Continue(())
            },
            &mut |_| {},
        ) else {
            panic!("stream should fail")
        };
        assert_eq!((m, e.offset), (4, last_record));
    }

    #[test]
    fn errors_name_the_input() {
        let e = read_path(Path::new("/nonexistent/x.pcap"), |_, _| {}).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/x.pcap: cannot read:"),
            "{e}"
        );
        let dir = std::env::temp_dir();
        let e = read_path(&dir, |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
    }
}
