//! Test-only builders of pcap and pcapng bytes, in either byte order, and drivers.

use crate::{Error, Event, Packet, Parser};

pub(crate) fn u16b(big: bool, v: u16) -> [u8; 2] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

pub(crate) fn u32b(big: bool, v: u32) -> [u8; 4] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

pub(crate) fn u64b(big: bool, v: u64) -> [u8; 8] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

/// A pcap file header.
pub(crate) fn pcap_header(
    big: bool,
    magic: u32,
    major: u16,
    minor: u16,
    snaplen: u32,
    network: u32,
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(u32b(big, magic));
    v.extend(u16b(big, major));
    v.extend(u16b(big, minor));
    v.extend(u32b(big, 0)); // thiszone
    v.extend(u32b(big, 0)); // sigfigs
    v.extend(u32b(big, snaplen));
    v.extend(u32b(big, network));
    v
}

/// A pcap record whose header's captured length is `caplen`, followed by `data` (which may
/// disagree with `caplen`, to build broken files).
pub(crate) fn pcap_record_raw(
    big: bool,
    modified: bool,
    sec: u32,
    frac: u32,
    caplen: u32,
    orig_len: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(u32b(big, sec));
    v.extend(u32b(big, frac));
    v.extend(u32b(big, caplen));
    v.extend(u32b(big, orig_len));
    if modified {
        v.extend(u32b(big, 3)); // ifindex
        v.extend(u16b(big, 0x0800)); // protocol
        v.push(4); // packet type
        v.push(0); // padding
    }
    v.extend(data);
    v
}

/// A well-formed pcap record.
pub(crate) fn pcap_record(
    big: bool,
    modified: bool,
    sec: u32,
    frac: u32,
    data: &[u8],
    orig_len: u32,
) -> Vec<u8> {
    pcap_record_raw(big, modified, sec, frac, data.len() as u32, orig_len, data)
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

/// A pcapng block of type `block_type` around `body` (padded to 4 bytes).
pub(crate) fn block(big: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    pad4(&mut body);
    let len = (body.len() + 12) as u32;
    let mut v = Vec::new();
    v.extend(u32b(big, block_type));
    v.extend(u32b(big, len));
    v.extend(body);
    v.extend(u32b(big, len));
    v
}

/// One option (code, length, value padded to 4 bytes).
pub(crate) fn opt(big: bool, code: u16, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(u16b(big, code));
    v.extend(u16b(big, value.len() as u16));
    v.extend(value);
    pad4(&mut v);
    v
}

/// A section header block, version 1.0, unknown section length, with a comment option.
pub(crate) fn shb(big: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u32b(big, 0x1a2b_3c4d));
    body.extend(u16b(big, 1));
    body.extend(u16b(big, 0));
    body.extend(u64b(big, u64::MAX));
    body.extend(opt(big, 1, b"built by hand"));
    body.extend(opt(big, 0, b""));
    block(big, 0x0a0d_0d0a, &body)
}

/// An interface description block with `options` (code, value), ended by opt_endofopt if any.
pub(crate) fn idb(big: bool, linktype: u16, snaplen: u32, options: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u16b(big, linktype));
    body.extend(u16b(big, 0));
    body.extend(u32b(big, snaplen));
    for (code, value) in options {
        body.extend(opt(big, *code, value));
    }
    if !options.is_empty() {
        body.extend(opt(big, 0, b""));
    }
    block(big, 1, &body)
}

/// An enhanced packet block with a comment option.
pub(crate) fn epb(big: bool, interface: u32, ts: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
    epb_raw(big, interface, ts, data.len() as u32, orig_len, data, true)
}

/// An enhanced packet block whose captured length field is `caplen`.
pub(crate) fn epb_raw(
    big: bool,
    interface: u32,
    ts: u64,
    caplen: u32,
    orig_len: u32,
    data: &[u8],
    with_option: bool,
) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u32b(big, interface));
    body.extend(u32b(big, (ts >> 32) as u32));
    body.extend(u32b(big, ts as u32));
    body.extend(u32b(big, caplen));
    body.extend(u32b(big, orig_len));
    body.extend(data);
    pad4(&mut body);
    if with_option {
        body.extend(opt(big, 1, b"epb comment"));
        body.extend(opt(big, 0, b""));
    }
    block(big, 6, &body)
}

/// A simple packet block.
pub(crate) fn spb(big: bool, orig_len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u32b(big, orig_len));
    body.extend(data);
    block(big, 3, &body)
}

/// An obsolete packet block.
pub(crate) fn opb(big: bool, interface: u16, ts: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u16b(big, interface));
    body.extend(u16b(big, 0)); // drops
    body.extend(u32b(big, (ts >> 32) as u32));
    body.extend(u32b(big, ts as u32));
    body.extend(u32b(big, data.len() as u32));
    body.extend(u32b(big, orig_len));
    body.extend(data);
    block(big, 2, &body)
}

/// Drives a parser over the whole of `file`: every event, then the result of `finish` (or the
/// first error).
pub(crate) fn parse_all(file: &[u8]) -> (Vec<Event<'_>>, Result<(), Error>) {
    let mut parser = Parser::new();
    let mut rest = file;
    let mut events = Vec::new();
    loop {
        match parser.next(rest) {
            Ok(Some((event, consumed))) => {
                assert!(consumed > 0 && consumed <= rest.len());
                events.push(event);
                rest = &rest[consumed..];
            }
            Ok(None) => {
                assert!(parser.needed().is_some_and(|n| n > rest.len()));
                return (events, parser.finish(rest));
            }
            Err(e) => return (events, Err(e)),
        }
    }
}

/// The packets among `events`.
pub(crate) fn packets<'a>(events: &[Event<'a>]) -> Vec<Packet<'a>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Packet(p) => Some(*p),
            Event::Skipped => None,
        })
        .collect()
}
