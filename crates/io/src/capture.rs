//! Capture inputs: files and streams of pcap or pcapng.
//!
//! Files, pipes and standard input alike are read in chunks of 1 MiB into a buffer the parser
//! reads in place (no per-packet copy or allocation); a buffer grows only as far as the
//! largest block, which the format parser caps at 16 MiB. Reading beats mapping the file
//! here: `analyze` on the BitTorrent-heavy benchmark capture took 1.06–1.10 s read against
//! 1.15–1.17 s mapped (one core), with a third of the resident memory (the mapped pages
//! count against the process until given back), and the chunk just read is still in the
//! cache when its packets are analysed.
//!
//! A reader that hands packets to other threads ([`read_shared`]) gets each packet's
//! [`Buffer`]: a shared, reference-counted chunk. A chunk still referenced elsewhere is never
//! written again; the reader moves on to another (recycled once nobody holds it).

use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    read_shared(input, |p, at, _| on_packet(p, at), &mut on_progress)
}

/// [`read`] for readers that hand packets to other threads without copying them: each packet
/// comes with the [`Buffer`] it is a slice of; a clone of it keeps the bytes valid and
/// unchanged for as long as it is held.
pub fn read_shared(
    input: &Input,
    mut on_packet: impl FnMut(&Packet<'_>, u64, &Buffer) -> ControlFlow<()>,
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
    let result = match input {
        Input::Stdin => stream(io::stdin().lock(), &mut on_packet, &mut on_progress),
        Input::Path(p) => {
            let file = File::open(p).map_err(io_err)?;
            let meta = file.metadata().map_err(io_err)?;
            if meta.is_dir() {
                return Err(io_err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory",
                )));
            }
            stream(file, &mut on_packet, &mut on_progress)
        }
    };
    result.map_err(|e| match e {
        StreamError::Io(e) => io_err(e),
        StreamError::Format(e) => fmt_err(e),
    })
}

/// A chunk of a capture as read, shared by the threads that analyse its packets.
#[derive(Clone)]
pub struct Buffer(Arc<Vec<u8>>);

impl Buffer {
    /// Where `data` (a packet slice of this chunk) starts in it; `None` if it is not in it.
    pub fn offset_of(&self, data: &[u8]) -> Option<usize> {
        let base = self.0.as_ptr() as usize;
        let at = (data.as_ptr() as usize).checked_sub(base)?;
        (at.checked_add(data.len())? <= self.0.len()).then_some(at)
    }

    /// The bytes at `at..at + len`, if inside the chunk.
    pub fn get(&self, at: usize, len: usize) -> Option<&[u8]> {
        self.0.get(at..at.checked_add(len)?)
    }

    /// Whether both are the same chunk.
    pub fn same(&self, other: &Buffer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({} bytes)", self.0.len())
    }
}

/// Progress is reported every this many packets.
const PROGRESS_EVERY: u64 = 1 << 16;

enum StreamError {
    Io(io::Error),
    Format(capfile::Error),
}

/// Bytes read at once (and the size of a fresh buffer).
const CHUNK: usize = 1 << 20;

/// Chunks kept for reuse once other threads let go of them.
const SPARES: usize = 64;

fn stream(
    mut r: impl Read,
    on_packet: &mut impl FnMut(&Packet<'_>, u64, &Buffer) -> ControlFlow<()>,
    on_progress: &mut impl FnMut(u64),
) -> Result<Stats, StreamError> {
    let mut parser = Parser::new();
    let mut buf = Buffer(Arc::new(vec![0u8; CHUNK]));
    // Chunks handed out with packets, to reuse when nobody holds them any more.
    let mut spares: Vec<Buffer> = Vec::new();
    let (mut start, mut end) = (0usize, 0usize);
    let mut packets = 0u64;
    let mut eof = false;
    loop {
        let offset = parser.offset();
        match parser
            .next(buf.0.get(start..end).unwrap_or(&[]))
            .map_err(StreamError::Format)?
        {
            Some((event, consumed)) => {
                if let Event::Packet(p) = event {
                    packets += 1;
                    if on_packet(&p, offset, &buf).is_break() {
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
                    .finish(buf.0.get(start..end).unwrap_or(&[]))
                    .map_err(StreamError::Format)?;
                on_progress(parser.offset());
                return Ok(Stats {
                    packets,
                    bytes: parser.offset(),
                    stopped: false,
                });
            }
            None => {
                // Make room: move the unread tail to the front of a chunk nobody else holds,
                // and grow it if one block needs more.
                let tail = end - start;
                let need = parser.needed().unwrap_or(0).max(tail + 1).max(CHUNK);
                if Arc::get_mut(&mut buf.0).is_none() {
                    let fresh = match spares.iter().position(|b| Arc::strong_count(&b.0) == 1) {
                        Some(i) => spares.swap_remove(i),
                        None => Buffer(Arc::new(vec![0u8; CHUNK])),
                    };
                    let old = std::mem::replace(&mut buf, fresh);
                    if let Some(b) = Arc::get_mut(&mut buf.0) {
                        if b.len() < tail {
                            b.resize(tail, 0);
                        }
                        b[..tail].copy_from_slice(&old.0[start..end]);
                    }
                    if spares.len() < SPARES {
                        spares.push(old);
                    }
                } else if let Some(b) = Arc::get_mut(&mut buf.0) {
                    b.copy_within(start..end, 0);
                }
                start = 0;
                end = tail;
                let Some(b) = Arc::get_mut(&mut buf.0) else {
                    // Unreachable: `buf` was just made (or found) unshared.
                    return Err(StreamError::Io(io::Error::other(
                        "read buffer still shared",
                    )));
                };
                if need > b.len() {
                    b.resize(need.next_power_of_two(), 0);
                }
                loop {
                    match r.read(&mut b[end..]) {
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

    /// A reader that hands out at most `.1` bytes at a time.
    struct Slow<'a>(&'a [u8], usize);

    impl Read for Slow<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(out.len()).min(self.1);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn any_read_size_gives_the_same_packets_and_reports_a_cut_tail() {
        let recs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 60 + usize::from(i)]).collect();
        let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
        let whole = pcap(&refs, 0);
        let mut a = Vec::new();
        let ok = stream(
            &whole[..],
            &mut |p, _, _| {
                a.push(p.data.to_vec());
                ControlFlow::Continue(())
            },
            &mut |_| {},
        );
        assert!(ok.is_ok());
        let mut b = Vec::new();
        let ok = stream(
            Slow(&whole, 7),
            &mut |p, _, _| {
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
        let Err(StreamError::Format(err)) = stream(
            &cut[..],
            &mut |_, _, _| {
                n += 1;
                ControlFlow::Continue(())
            },
            &mut |_| {},
        ) else {
            panic!("a cut file should fail")
        };
        assert_eq!(n, 4, "every packet before the cut is delivered");
        let last_record = (cut.len() + 10 - 16 - 64) as u64;
        assert_eq!(err.offset, last_record);
        let mut m = 0;
        let Err(StreamError::Format(e)) = stream(
            Slow(&cut, 7),
            &mut |_, _, _| {
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
    fn a_held_buffer_is_never_written_again() {
        let recs: Vec<Vec<u8>> = (0..200u8).map(|i| vec![i; 40 + usize::from(i)]).collect();
        let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
        let whole = pcap(&refs, 0);
        // Hold every other packet's buffer, as a worker thread would, and read in small
        // pieces so that the reader refills (and must move on from held chunks) many times.
        let mut held: Vec<(Buffer, usize, usize)> = Vec::new();
        let mut n = 0usize;
        let ok = stream(
            Slow(&whole, 7),
            &mut |p, _, buf| {
                if n.is_multiple_of(2) {
                    let at = buf.offset_of(p.data).unwrap();
                    held.push((buf.clone(), at, p.data.len()));
                }
                n += 1;
                ControlFlow::Continue(())
            },
            &mut |_| {},
        );
        assert!(ok.is_ok());
        assert_eq!(n, recs.len());
        for (i, (buf, at, len)) in held.iter().enumerate() {
            assert_eq!(buf.get(*at, *len).unwrap(), &recs[2 * i][..]);
        }
        // Without holders the reader keeps to one chunk (told apart by where it starts).
        let mut bases: Vec<usize> = Vec::new();
        let _ = stream(
            Slow(&whole, 1000),
            &mut |p, _, buf| {
                let base = p.data.as_ptr() as usize - buf.offset_of(p.data).unwrap();
                if !bases.contains(&base) {
                    bases.push(base);
                }
                ControlFlow::Continue(())
            },
            &mut |_| {},
        );
        assert_eq!(bases.len(), 1);
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
