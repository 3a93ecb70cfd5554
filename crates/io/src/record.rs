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

/// Writes one record as a line of JSON.
pub fn write_line(out: &mut impl Write, r: &FlowRecord) -> io::Result<()> {
    // Serialise first, then write: an I/O error (a closed pipe) keeps its kind.
    let mut line = serde_json::to_vec(&Json::new(r)).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
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
}
