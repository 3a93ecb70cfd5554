//! Property tests: no panics or stalls on any input, chunking does not change the result, and a
//! file cut anywhere yields the packets before the cut and then a precise truncation error.

use proptest::prelude::*;

use crate::testutil::*;
use crate::{Error, ErrorKind, Event, Parser};

/// What a generated file should yield for each packet: data, original length, link type,
/// interface.
type Expected = (Vec<u8>, u32, u16, u32);

/// A generated valid file and the packets it holds.
#[derive(Debug, Clone)]
struct GenFile {
    bytes: Vec<u8>,
    expected: Vec<Expected>,
}

fn arb_data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..80)
}

fn arb_pcap() -> impl Strategy<Value = GenFile> {
    let magic = prop::sample::select(vec![0xa1b2_c3d4u32, 0xa1b2_3c4d, 0xa1b2_cd34]);
    let record = (any::<u32>(), any::<u32>(), arb_data(), any::<u32>());
    (
        magic,
        any::<bool>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(record, 0..12),
    )
        .prop_map(|(magic, big, snaplen, network, records)| {
            let modified = magic == 0xa1b2_cd34;
            let mut bytes = pcap_header(big, magic, 2, 4, snaplen, network);
            let mut expected = Vec::new();
            for (sec, frac, data, orig) in records {
                bytes.extend(pcap_record(big, modified, sec, frac, &data, orig));
                expected.push((data, orig, network as u16, 0));
            }
            GenFile { bytes, expected }
        })
}

/// One interface: link type, snapshot length, optional if_tsresol, optional if_tsoffset.
type GenInterface = (u16, u32, Option<u8>, Option<i64>);

/// One block after the interfaces: kind, interface index (reduced modulo the count),
/// timestamp, data, original length.
type GenBlock = (u8, u32, u64, Vec<u8>, u32);

fn arb_section() -> impl Strategy<Value = (bool, Vec<GenInterface>, Vec<GenBlock>)> {
    let interface = (
        any::<u16>(),
        prop_oneof![Just(0u32), 1..200u32, Just(65_535)],
        prop::option::of(any::<u8>()),
        prop::option::of(any::<i64>()),
    );
    let block = (0..5u8, any::<u32>(), any::<u64>(), arb_data(), any::<u32>());
    (
        any::<bool>(),
        prop::collection::vec(interface, 1..4),
        prop::collection::vec(block, 0..8),
    )
}

fn arb_pcapng() -> impl Strategy<Value = GenFile> {
    prop::collection::vec(arb_section(), 1..4).prop_map(|sections| {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for (big, interfaces, blocks) in sections {
            bytes.extend(shb(big));
            for &(linktype, snaplen, tsresol, tsoffset) in &interfaces {
                let mut options = Vec::new();
                if let Some(r) = tsresol {
                    options.push((9, vec![r]));
                }
                if let Some(o) = tsoffset {
                    options.push((14, u64b(big, o as u64).to_vec()));
                }
                bytes.extend(idb(big, linktype, snaplen, &options));
            }
            for (kind, id, ts, data, orig) in blocks {
                let id = id % interfaces.len() as u32;
                let linktype = interfaces[id as usize].0;
                match kind {
                    0 => {
                        bytes.extend(epb(big, id, ts, &data, orig));
                        expected.push((data, orig, linktype, id));
                    }
                    1 => {
                        bytes.extend(opb(big, id as u16, ts, &data, orig));
                        expected.push((data, orig, linktype, id));
                    }
                    2 => {
                        bytes.extend(spb(big, orig, &data));
                        let mut padded = data.clone();
                        padded.resize(data.len().next_multiple_of(4), 0);
                        let mut caplen = padded.len().min(orig as usize);
                        let snaplen = interfaces[0].1;
                        if snaplen != 0 {
                            caplen = caplen.min(snaplen as usize);
                        }
                        padded.truncate(caplen);
                        expected.push((padded, orig, interfaces[0].0, 0));
                    }
                    3 => bytes.extend(block(big, 0x4000_0bad, &data)),
                    _ => bytes.extend(block(big, 5, &data)),
                }
            }
        }
        GenFile { bytes, expected }
    })
}

fn arb_file() -> impl Strategy<Value = GenFile> {
    prop_oneof![arb_pcap(), arb_pcapng()]
}

/// Inputs for the no-panic property: random bytes, random bytes after a valid magic, and valid
/// files with bytes overwritten and cut.
fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    let magics = prop::sample::select(vec![
        vec![0xd4, 0xc3, 0xb2, 0xa1],
        vec![0xa1, 0xb2, 0x3c, 0x4d],
        vec![0x34, 0xcd, 0xb2, 0xa1],
        vec![
            0x0a, 0x0d, 0x0d, 0x0a, 0x40, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0,
        ],
        vec![
            0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0x40, 0x1a, 0x2b, 0x3c, 0x4d, 0, 1,
        ],
    ]);
    let mutations = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (magics, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(mut m, rest)| {
            m.extend(rest);
            m
        }),
        (arb_file(), mutations, any::<prop::sample::Index>()).prop_map(|(f, muts, cut)| {
            let mut bytes = f.bytes;
            for (at, byte) in muts {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let keep = cut.index(bytes.len() + 1);
            bytes.truncate(keep);
            bytes
        }),
    ]
}

/// Feeds `file` growing the visible buffer by `chunks` (cycled) whenever the parser asks for
/// more, like a caller reading a stream.
fn parse_chunked<'a>(file: &'a [u8], chunks: &[usize]) -> (Vec<Event<'a>>, Result<(), Error>) {
    let mut parser = Parser::new();
    let mut events = Vec::new();
    let mut start = 0;
    let mut end = 0;
    let mut next_chunk = chunks.iter().cycle();
    loop {
        let buf = &file[start..end];
        match parser.next(buf) {
            Ok(Some((event, consumed))) => {
                assert!(consumed > 0 && consumed <= buf.len());
                events.push(event);
                start += consumed;
                assert_eq!(parser.offset(), start as u64);
            }
            Ok(None) => {
                assert!(parser.needed().is_some_and(|n| n > buf.len()));
                if end == file.len() {
                    return (events, parser.finish(buf));
                }
                let chunk = next_chunk.next().copied().unwrap_or(1);
                end = (end + chunk).min(file.len());
            }
            Err(e) => return (events, Err(e)),
        }
    }
}

/// Like `parse_chunked`, but grows the buffer to exactly what `needed()` asks for.
fn parse_needed(file: &[u8]) -> (Vec<Event<'_>>, Result<(), Error>) {
    let mut parser = Parser::new();
    let mut events = Vec::new();
    let mut start = 0;
    let mut end = 0;
    loop {
        let buf = &file[start..end];
        match parser.next(buf) {
            Ok(Some((event, consumed))) => {
                events.push(event);
                start += consumed;
            }
            Ok(None) => {
                let needed = parser.needed().unwrap_or(1);
                if end == file.len() {
                    return (events, parser.finish(buf));
                }
                end = (start + needed).min(file.len());
            }
            Err(e) => return (events, Err(e)),
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_or_stall(bytes in arb_bytes()) {
        let mut parser = Parser::new();
        let mut rest = &bytes[..];
        // Every successful call consumes at least one byte.
        for _ in 0..=bytes.len() + 1 {
            match parser.next(rest) {
                Ok(Some((event, consumed))) => {
                    prop_assert!(consumed > 0 && consumed <= rest.len());
                    if let Event::Packet(p) = event {
                        prop_assert!(p.data.len() <= consumed);
                    }
                    rest = &rest[consumed..];
                }
                Ok(None) => {
                    prop_assert!(parser.needed().is_some_and(|n| n > rest.len()));
                    let end = parser.finish(rest);
                    prop_assert_eq!(end.is_ok(), rest.is_empty() && !bytes.is_empty());
                    if let Err(e) = end {
                        prop_assert!(e.offset <= bytes.len() as u64);
                        prop_assert!(!e.to_string().contains('\n'));
                    }
                    return Ok(());
                }
                Err(e) => {
                    prop_assert!(e.offset >= parser.offset());
                    prop_assert!(e.offset <= bytes.len() as u64);
                    prop_assert!(!e.to_string().contains('\n'));
                    prop_assert_eq!(parser.next(rest), Err(e));
                    return Ok(());
                }
            }
        }
        prop_assert!(false, "parser did not finish within {} calls", bytes.len() + 2);
    }

    #[test]
    fn generated_files_parse_as_generated(f in arb_file()) {
        let (events, end) = parse_all(&f.bytes);
        prop_assert_eq!(end, Ok(()));
        let got: Vec<Expected> = packets(&events)
            .iter()
            .map(|p| (p.data.to_vec(), p.orig_len, p.linktype, p.interface))
            .collect();
        prop_assert_eq!(got, f.expected);
    }

    #[test]
    fn chunking_does_not_change_the_result(
        f in arb_file(),
        chunks in prop::collection::vec(1..40usize, 1..8),
    ) {
        let whole = parse_all(&f.bytes);
        prop_assert_eq!(parse_chunked(&f.bytes, &chunks), whole.clone());
        prop_assert_eq!(parse_needed(&f.bytes), whole);
    }

    #[test]
    fn chunking_does_not_change_errors(
        bytes in arb_bytes(),
        chunks in prop::collection::vec(1..40usize, 1..8),
    ) {
        prop_assert_eq!(parse_chunked(&bytes, &chunks), parse_all(&bytes));
    }

    #[test]
    fn cut_files_yield_the_packets_before_the_cut(
        f in arb_file(),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(f.bytes.len() + 1);
        // Events of the whole file with the offset where each starts and ends.
        let mut parser = Parser::new();
        let mut spans = Vec::new();
        let mut at = 0;
        while let Some((event, consumed)) = parser.next(&f.bytes[at..]).unwrap() {
            spans.push((event, at, at + consumed));
            at += consumed;
        }
        prop_assert_eq!(at, f.bytes.len());

        let (events, end) = parse_all(&f.bytes[..cut]);
        let before: Vec<Event<'_>> =
            spans.iter().filter(|s| s.2 <= cut).map(|s| s.0).collect();
        prop_assert_eq!(&events, &before);
        if cut == 0 {
            prop_assert_eq!(end, Err(Error { offset: 0, kind: ErrorKind::EmptyFile }));
        } else if spans.iter().any(|s| s.2 == cut) {
            prop_assert_eq!(end, Ok(()));
        } else {
            let start = spans.iter().find(|s| s.1 < cut && cut < s.2).map(|s| s.1);
            let e = end.unwrap_err();
            prop_assert_eq!(Some(e.offset as usize), start);
            let available = (cut - e.offset as usize) as u64;
            match e.kind {
                ErrorKind::Truncated { available: a, needed, .. } => {
                    prop_assert_eq!(a, available);
                    prop_assert!(needed > a);
                }
                ErrorKind::TruncatedBlock { available: a, promised, .. } => {
                    prop_assert_eq!(a, available);
                    prop_assert!(promised > a);
                }
                ErrorKind::TruncatedRecord { available: a, promised } => {
                    prop_assert!(a < available);
                    prop_assert!(promised > a);
                }
                other => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }
}
