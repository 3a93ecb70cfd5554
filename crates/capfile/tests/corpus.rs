//! Smoke tests on real capture files from the shared corpus, skipped when it is absent.

use std::path::{Path, PathBuf};

use swarmwall_capfile::{Error, Event, Parser};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// Summary of one parse: packet count, link types seen, end result.
#[derive(Debug, PartialEq)]
struct Summary {
    packets: usize,
    linktypes: Vec<u16>,
    end: Result<(), Error>,
}

/// Parses `file` like a reader would: the visible buffer grows by `chunk` bytes (or to what the
/// parser needs) whenever the parser asks for more.
fn parse(file: &[u8], chunk: usize) -> Summary {
    let mut parser = Parser::new();
    let mut summary = Summary {
        packets: 0,
        linktypes: Vec::new(),
        end: Ok(()),
    };
    let (mut start, mut end) = (0, 0);
    loop {
        let buf = &file[start..end];
        match parser.next(buf) {
            Ok(Some((event, consumed))) => {
                assert!(consumed > 0 && consumed <= buf.len());
                if let Event::Packet(p) = event {
                    summary.packets += 1;
                    if !summary.linktypes.contains(&p.linktype) {
                        summary.linktypes.push(p.linktype);
                    }
                }
                start += consumed;
            }
            Ok(None) => {
                if end == file.len() {
                    summary.end = parser.finish(buf);
                    return summary;
                }
                let needed = parser.needed().unwrap_or(0);
                end = (start + needed).max(end + chunk).min(file.len());
            }
            Err(e) => {
                summary.end = Err(e);
                return summary;
            }
        }
    }
}

#[test]
fn lab_pcap_files() {
    let dir = corpus().join("lab");
    let plain = dir.join("tcp-plain.pcap");
    if !plain.exists() {
        eprintln!("skipping: corpus not found at {}", plain.display());
        return;
    }
    let bytes = std::fs::read(&plain).unwrap();
    let whole = parse(&bytes, usize::MAX);
    assert_eq!(whole.end, Ok(()));
    assert!(whole.packets > 1000, "{} packets", whole.packets);
    assert_eq!(whole.linktypes, [1]);
    assert_eq!(parse(&bytes, 4096), whole);
    assert_eq!(parse(&bytes, 1), whole);
    println!("tcp-plain.pcap: {} packets", whole.packets);

    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    names.sort();
    for path in names {
        let bytes = std::fs::read(&path).unwrap();
        let s = parse(&bytes, 65_536);
        println!("{}: {} packets", path.display(), s.packets);
        assert_eq!(s.end, Ok(()), "{}", path.display());
        assert!(s.packets > 0);
    }
}

#[test]
fn ndpi_files_do_not_panic() {
    let dir = corpus().join("public/ndpi");
    if !dir.exists() {
        eprintln!("skipping: corpus not found at {}", dir.display());
        return;
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcapng" || x == "pcap"))
        .collect();
    names.sort();
    let (mut files, mut ok, mut packets) = (0, 0, 0);
    for path in names {
        let bytes = std::fs::read(&path).unwrap();
        let s = parse(&bytes, 65_536);
        // Streaming in small pieces must not change anything either.
        assert_eq!(parse(&bytes, 1000), s, "{}", path.display());
        files += 1;
        packets += s.packets;
        let name = path.file_name().unwrap().to_string_lossy();
        match &s.end {
            Ok(()) => {
                ok += 1;
                println!(
                    "{name}: {} packets, link types {:?}",
                    s.packets, s.linktypes
                );
            }
            Err(e) => println!("{name}: {} packets, then {e}", s.packets),
        }
    }
    println!("{files} files, {ok} without error, {packets} packets");
}
