//! Fuzzes the pcap/pcapng parser: the whole input in one buffer, and again as a stream of two
//! chunks split at the first byte's value. Both must yield the same packets and the same end.
#![no_main]

use capfile::{Error, Event, Packet, Parser};
use libfuzzer_sys::fuzz_target;

/// Reads every field of a packet so nothing is optimised away.
fn touch(p: &Packet<'_>) -> u64 {
    let mut h = u64::from(p.orig_len)
        ^ (p.ts_nanos as u64)
        ^ u64::from(p.linktype)
        ^ u64::from(p.interface)
        ^ p.data.len() as u64;
    if let (Some(first), Some(last)) = (p.data.first(), p.data.last()) {
        h ^= u64::from(*first) << 8 | u64::from(*last);
    }
    h
}

/// Drives a parser over `data`, showing it the first `split` bytes, then all of them once it
/// asks for more. Returns the packets and how the input ended.
fn drive(data: &[u8], split: usize) -> (Vec<Packet<'_>>, Result<(), Error>) {
    let mut parser = Parser::new();
    let mut packets = Vec::new();
    let mut start = 0usize;
    let mut end = split.min(data.len());
    loop {
        let buf = &data[start..end];
        match parser.next(buf) {
            Ok(Some((event, consumed))) => {
                assert!(
                    consumed > 0 && consumed <= buf.len(),
                    "bad consumed {consumed}"
                );
                if let Event::Packet(p) = event {
                    std::hint::black_box(touch(&p));
                    assert!(p.data.len() <= consumed);
                    packets.push(p);
                }
                start += consumed;
                assert_eq!(parser.offset(), start as u64);
            }
            Ok(None) => {
                assert!(parser.needed().is_some_and(|n| n > buf.len()));
                if end < data.len() {
                    end = data.len();
                    continue;
                }
                let result = parser.finish(buf);
                if let Err(e) = &result {
                    assert!(e.offset <= data.len() as u64);
                    std::hint::black_box(e.to_string());
                }
                return (packets, result);
            }
            Err(e) => {
                assert!(e.offset >= parser.offset() && e.offset <= data.len() as u64);
                std::hint::black_box(e.to_string());
                // Errors are sticky.
                assert_eq!(parser.next(buf), Err(e));
                return (packets, Err(e));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = drive(data, data.len());
    let split = data.first().map_or(0, |&b| usize::from(b));
    let chunked = drive(data, split);
    assert_eq!(whole, chunked);
});
