//! The JSON flow record: one object per flow, one flow per line.
//!
//! This is a contract: fields are added, never renamed or removed. The README documents it.

use std::io::{self, Write};

use engine::FlowRecord;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// The serialised form of a flow record.
#[derive(Debug, Serialize)]
pub struct Json {
    pub proto: &'static str,
    pub client: String,
    pub server: String,
    pub first_seen: String,
    pub last_seen: String,
    pub packets: u64,
    pub bytes: u64,
    pub client_packets: u64,
    pub client_bytes: u64,
    pub server_packets: u64,
    pub server_bytes: u64,
    pub app: &'static str,
    pub kind: Option<&'static str>,
    pub kinds: Vec<&'static str>,
    pub confidence: Option<&'static str>,
    pub suspected_kind: Option<&'static str>,
    pub encrypted: bool,
    pub relabelled: bool,
    pub evidence: Vec<&'static str>,
    pub infohashes: Vec<String>,
    pub lookups: Vec<String>,
    pub tunnel: Option<TunnelJson>,
    pub client_software: Option<String>,
    pub server_software: Option<String>,
    pub decided_at_packet: Option<u32>,
    pub decided_after_payloads: Option<[u16; 2]>,
    pub end: &'static str,
}

impl Json {
    pub fn new(r: &FlowRecord) -> Json {
        Json {
            proto: r.proto.as_str(),
            client: r.client.to_string(),
            server: r.server.to_string(),
            first_seen: rfc3339_micros(r.first_ns),
            last_seen: rfc3339_micros(r.last_ns),
            packets: r.total_packets(),
            bytes: r.total_bytes(),
            client_packets: r.packets[0],
            client_bytes: r.bytes[0],
            server_packets: r.packets[1],
            server_bytes: r.bytes[1],
            app: if r.is_bittorrent() {
                "bittorrent"
            } else {
                "unknown"
            },
            kind: r.kind().map(|k| k.as_str()),
            kinds: if r.is_bittorrent() {
                r.verdict.kinds.iter().map(|k| k.as_str()).collect()
            } else {
                Vec::new()
            },
            confidence: r.confidence().map(|c| c.as_str()),
            suspected_kind: r.suspected_kind().map(|k| k.as_str()),
            encrypted: r.is_bittorrent() && r.verdict.encrypted,
            relabelled: r.verdict.relabelled,
            evidence: r.verdict.evidence.iter().map(|s| s.as_str()).collect(),
            infohashes: r.infohashes.iter().map(|h| h.to_hex()).collect(),
            lookups: r.lookups.iter().map(|h| h.to_hex()).collect(),
            tunnel: r.tunnel.as_ref().map(TunnelJson::new),
            client_software: r.client_peer_id.as_ref().and_then(bt::peer_id::describe),
            server_software: r.server_peer_id.as_ref().and_then(bt::peer_id::describe),
            decided_at_packet: r.verdict.decided_at,
            decided_after_payloads: r.verdict.decided_at.map(|_| r.verdict.decided_payloads),
            end: r.end.as_str(),
        }
    }
}

/// A flow's tunnel: `{"type":"socks5","target":"203.0.113.7:51413","command":"connect"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelJson {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `ip:port`, `[ipv6]:port` or `name:port`.
    pub target: String,
    /// `connect`, `udp-associate`, `udp` or `request`.
    pub command: &'static str,
}

impl TunnelJson {
    pub fn new(t: &engine::Tunnel) -> TunnelJson {
        TunnelJson {
            kind: t.kind.as_str(),
            target: t.target.to_string(),
            command: t.command,
        }
    }
}

/// Writes one record as a line of JSON: the bytes `serde_json` would write for [`Json`]
/// (a golden test holds them equal on every record of the lab captures), written by hand
/// into a reused buffer. Measured on the BitTorrent-heavy capture (340,000 records):
/// `analyze --flows /dev/null` spent about 0.5 s of 1.65 s writing records through serde
/// (a `String` per address, time and hash, the `time` crate's formatter); see
/// [`write_record`].
pub fn write_line(out: &mut impl Write, r: &FlowRecord) -> io::Result<()> {
    LINE.with(|cell| {
        let mut line = cell.take();
        line.clear();
        write_record(&mut line, r);
        line.push(b'\n');
        // Written whole: an I/O error (a closed pipe) keeps its kind.
        let res = out.write_all(&line);
        cell.set(line);
        res
    })
}

thread_local! {
    static LINE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Appends the JSON object of `r` (no newline) to `b`.
pub fn write_record(b: &mut Vec<u8>, r: &FlowRecord) {
    let bt = r.is_bittorrent();
    b.extend_from_slice(b"{\"proto\":");
    quoted(b, r.proto.as_str());
    b.extend_from_slice(b",\"client\":");
    addr(b, &r.client);
    b.extend_from_slice(b",\"server\":");
    addr(b, &r.server);
    b.extend_from_slice(b",\"first_seen\":");
    time_micros(b, r.first_ns);
    b.extend_from_slice(b",\"last_seen\":");
    time_micros(b, r.last_ns);
    for (name, v) in [
        ("packets", r.total_packets()),
        ("bytes", r.total_bytes()),
        ("client_packets", r.packets[0]),
        ("client_bytes", r.bytes[0]),
        ("server_packets", r.packets[1]),
        ("server_bytes", r.bytes[1]),
    ] {
        key(b, name);
        int(b, v);
    }
    key(b, "app");
    quoted(b, if bt { "bittorrent" } else { "unknown" });
    key(b, "kind");
    opt_quoted(b, r.kind().map(|k| k.as_str()));
    key(b, "kinds");
    list(b, r.verdict.kinds.iter().filter(|_| bt).map(|k| k.as_str()));
    key(b, "confidence");
    opt_quoted(b, r.confidence().map(|c| c.as_str()));
    key(b, "suspected_kind");
    opt_quoted(b, r.suspected_kind().map(|k| k.as_str()));
    key(b, "encrypted");
    boolean(b, bt && r.verdict.encrypted);
    key(b, "relabelled");
    boolean(b, r.verdict.relabelled);
    key(b, "evidence");
    list(b, r.verdict.evidence.iter().map(|s| s.as_str()));
    key(b, "infohashes");
    hashes(b, r.infohashes.iter().map(|h| &h.0));
    key(b, "lookups");
    hashes(b, r.lookups.iter().map(|h| &h.0));
    key(b, "tunnel");
    match &r.tunnel {
        None => b.extend_from_slice(b"null"),
        Some(t) => {
            b.extend_from_slice(b"{\"type\":");
            quoted(b, t.kind.as_str());
            b.extend_from_slice(b",\"target\":");
            escaped(b, &t.target.to_string());
            b.extend_from_slice(b",\"command\":");
            escaped(b, t.command);
            b.push(b'}');
        }
    }
    for (name, id) in [
        ("client_software", &r.client_peer_id),
        ("server_software", &r.server_peer_id),
    ] {
        key(b, name);
        match id.as_ref().and_then(bt::peer_id::describe) {
            Some(s) => escaped(b, &s),
            None => b.extend_from_slice(b"null"),
        }
    }
    key(b, "decided_at_packet");
    match r.verdict.decided_at {
        Some(n) => int(b, u64::from(n)),
        None => b.extend_from_slice(b"null"),
    }
    key(b, "decided_after_payloads");
    match r.verdict.decided_at {
        Some(_) => {
            let [c, s] = r.verdict.decided_payloads;
            b.push(b'[');
            int(b, u64::from(c));
            b.push(b',');
            int(b, u64::from(s));
            b.push(b']');
        }
        None => b.extend_from_slice(b"null"),
    }
    key(b, "end");
    quoted(b, r.end.as_str());
    b.push(b'}');
}

fn key(b: &mut Vec<u8>, name: &str) {
    b.extend_from_slice(b",\"");
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(b"\":");
}

/// A name of the record's vocabulary (ASCII letters, digits, `-` and `_`: nothing to escape).
fn quoted(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    b.extend_from_slice(s.as_bytes());
    b.push(b'"');
}

fn opt_quoted(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => quoted(b, s),
        None => b.extend_from_slice(b"null"),
    }
}

/// A string from the wire (a tunnel's host name, a client's name): escaped as `serde_json`
/// escapes it.
fn escaped(b: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *b, s);
}

fn list<'a>(b: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
    b.push(b'[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            b.push(b',');
        }
        quoted(b, s);
    }
    b.push(b']');
}

fn hashes<'a>(b: &mut Vec<u8>, items: impl Iterator<Item = &'a [u8; 20]>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b.push(b'[');
    for (i, h) in items.enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.push(b'"');
        for x in h {
            b.push(HEX[usize::from(x >> 4)]);
            b.push(HEX[usize::from(x & 15)]);
        }
        b.push(b'"');
    }
    b.push(b']');
}

fn int(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn boolean(b: &mut Vec<u8>, v: bool) {
    b.extend_from_slice(if v { b"true" } else { b"false" });
}

/// `"a.b.c.d:port"`, or `"[v6]:port"` through `Display`.
fn addr(b: &mut Vec<u8>, a: &std::net::SocketAddr) {
    b.push(b'"');
    match a {
        std::net::SocketAddr::V4(v4) => {
            for (i, o) in v4.ip().octets().iter().enumerate() {
                if i > 0 {
                    b.push(b'.');
                }
                int(b, u64::from(*o));
            }
            b.push(b':');
            int(b, u64::from(v4.port()));
        }
        std::net::SocketAddr::V6(_) => {
            let _ = write!(b, "{a}");
        }
    }
    b.push(b'"');
}

/// `"YYYY-MM-DDTHH:MM:SS.ffffffZ"`, as [`rfc3339_micros`]: by hand for 1970 to 9999 (the
/// civil date from days since the epoch, H. Hinnant's algorithm), through `time` otherwise.
fn time_micros(b: &mut Vec<u8>, ns: i64) {
    const YEAR_10000_S: i64 = 253_402_300_800;
    let s = ns.div_euclid(1_000_000_000);
    if !(0..YEAR_10000_S).contains(&s) {
        b.push(b'"');
        b.extend_from_slice(rfc3339_micros(ns).as_bytes());
        b.push(b'"');
        return;
    }
    let micros = ns.rem_euclid(1_000_000_000) / 1_000;
    let (days, secs) = (s / 86_400, s % 86_400);
    // Days since 0000-03-01, in 400-year eras.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut d = [0u8; 28];
    d[0] = b'"';
    digits(&mut d[1..5], year);
    d[5] = b'-';
    digits(&mut d[6..8], month);
    d[8] = b'-';
    digits(&mut d[9..11], day);
    d[11] = b'T';
    digits(&mut d[12..14], secs / 3_600);
    d[14] = b':';
    digits(&mut d[15..17], secs / 60 % 60);
    d[17] = b':';
    digits(&mut d[18..20], secs % 60);
    d[20] = b'.';
    digits(&mut d[21..27], micros);
    d[27] = b'Z';
    b.extend_from_slice(&d);
    b.push(b'"');
}

/// `v` in decimal, zero-padded to the slice's length (its lowest digits if longer).
fn digits(out: &mut [u8], mut v: i64) {
    for c in out.iter_mut().rev() {
        *c = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

const RFC3339_MICROS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Formats nanoseconds since the epoch as RFC 3339 UTC with microseconds, e.g.
/// `2026-11-21T06:30:11.962192Z`.
pub fn rfc3339_micros(ns: i64) -> String {
    let micros = i128::from(ns.div_euclid(1_000)) * 1_000;
    OffsetDateTime::from_unix_timestamp_nanos(micros)
        .ok()
        .and_then(|t| t.format(RFC3339_MICROS).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000000Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_micros(1_795_242_611_962_192_999),
            "2026-11-21T06:30:11.962192Z"
        );
        assert_eq!(rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
    }

    /// The hand-written times are the `time` crate's, over every i64 (nanoseconds reach 2262).
    #[test]
    fn hand_written_times_match_the_time_crate() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut samples: Vec<i64> = vec![
            0,
            -1,
            1_795_242_611_962_192_999,
            951_782_400_000_000_000,   // 2000-02-29
            4_107_542_399_999_999_999, // 2100-02-28T23:59:59
            i64::MAX,
            i64::MIN,
        ];
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Every i64: before 1970 (through `time`) and up to 2262 (by hand).
            samples.push(x as i64);
        }
        for ns in samples {
            let mut b = Vec::new();
            time_micros(&mut b, ns);
            assert_eq!(
                b,
                format!("\"{}\"", rfc3339_micros(ns)).into_bytes(),
                "{ns}"
            );
        }
    }
}
