//! Finding an address's evidence: its pseudonym under each period's key, looked up.
//!
//! Only who holds the key file can ask: without a period's key, nothing of that period can
//! be compared with an address.

use std::net::IpAddr;

use serde::Serialize;

use crate::pseudonym::pseudonym;
use crate::row::Row;
use crate::store::Backend;
use crate::{Error, KeyRing};

/// A question: the rows of one address (and port), in a time range, optionally of a torrent.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub ip: IpAddr,
    pub port: Option<u16>,
    pub from_s: i64,
    pub to_s: i64,
    /// 40 or 64 hex digits, any case.
    pub infohash: Option<String>,
}

/// One matching row, as `evidence query` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// The asked address.
    pub ip: String,
    /// Its port in the flow.
    pub port: u16,
    /// The other end's port.
    pub peer_port: u16,
    pub first_seen: String,
    pub last_seen: String,
    pub proto: String,
    pub kind: String,
    pub kinds: Vec<String>,
    pub infohashes: Vec<String>,
    pub encrypted: bool,
    pub confidence: String,
    pub evidence: Vec<String>,
    /// Bytes the asked address sent and received in the flow.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub sensor: String,
    /// Whether the asked address was the flow's local end (`--local`).
    pub local: bool,
    /// Whether the asked address opened the flow.
    pub initiator: bool,
    pub software: Option<String>,
    pub peer_software: Option<String>,
    pub tunnel: Option<TunnelMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelMatch {
    #[serde(rename = "type")]
    pub kind: String,
    pub command: String,
    pub target_port: u16,
}

/// The periods a question covers: from the key file's first (a flow may have started before
/// `from`) to the period of `to`, and no later than `now_s`'s next period.
fn periods(
    keys: &KeyRing,
    to_s: i64,
    now_s: i64,
) -> impl Iterator<Item = (i64, crate::key::Key)> + '_ {
    keys.keys_through(keys.period_of(to_s).min(keys.period_of(now_s) + 1))
}

/// The rows of `q`, oldest first, as of `now_s`. Rows whose period's key is gone are not found.
pub fn find(
    store: &mut dyn Backend,
    keys: &KeyRing,
    q: &Lookup,
    now_s: i64,
) -> Result<Vec<Match>, Error> {
    let want_hash = q.infohash.as_ref().map(|h| h.to_ascii_lowercase());
    let mut out = Vec::new();
    let last = keys.period_of(q.to_s).min(keys.period_of(now_s) + 1);
    let stored = store.periods(keys.first_period(), last)?;
    let mut stored = stored.iter().peekable();
    for (p, key) in periods(keys, q.to_s, now_s) {
        // Only the periods that have rows are asked about.
        while stored.next_if(|s| **s < p).is_some() {}
        if stored.peek() != Some(&&p) {
            continue;
        }
        let host = pseudonym(&key, q.ip);
        for row in store.rows(p, &host, q.from_s, q.to_s)? {
            // Both ends may be the asked host (a flow to itself); the local end is checked first.
            let is_local = row.local == host;
            let m = to_match(q.ip, &row, is_local);
            if q.port.is_some_and(|port| port != m.port) {
                continue;
            }
            if let Some(h) = &want_hash
                && !row.infohashes.iter().any(|x| x == h)
            {
                continue;
            }
            out.push(m);
        }
    }
    out.sort_by(|a, b| (&a.first_seen, a.port).cmp(&(&b.first_seen, b.port)));
    Ok(out)
}

/// The periods in `[from_s, to_s]` in which `ip` was seen (presence), with the sensors that
/// saw it; periods whose key is gone are not found.
pub fn presence(
    store: &mut dyn Backend,
    keys: &KeyRing,
    ip: IpAddr,
    from_s: i64,
    to_s: i64,
    now_s: i64,
) -> Result<Vec<(i64, Vec<String>)>, Error> {
    let first = keys.period_of(from_s);
    let mut out = Vec::new();
    for (p, key) in periods(keys, to_s, now_s).filter(|(p, _)| *p >= first) {
        let sensors = store.present(p, &pseudonym(&key, ip))?;
        if !sensors.is_empty() {
            out.push((p, sensors));
        }
    }
    Ok(out)
}

fn to_match(ip: IpAddr, r: &Row, is_local: bool) -> Match {
    let (port, peer_port, sent, received, software, peer_software) = if is_local {
        (
            r.local_port,
            r.remote_port,
            r.bytes_sent,
            r.bytes_received,
            r.local_software.clone(),
            r.remote_software.clone(),
        )
    } else {
        (
            r.remote_port,
            r.local_port,
            r.bytes_received,
            r.bytes_sent,
            r.remote_software.clone(),
            r.local_software.clone(),
        )
    };
    Match {
        ip: ip.to_canonical().to_string(),
        port,
        peer_port,
        first_seen: rfc3339(r.first_s),
        last_seen: rfc3339(r.last_s),
        proto: r.proto.clone(),
        kind: r.kind.clone(),
        kinds: r.kinds.clone(),
        infohashes: r.infohashes.clone(),
        encrypted: r.encrypted,
        confidence: r.confidence.clone(),
        evidence: r.evidence.clone(),
        bytes_sent: sent,
        bytes_received: received,
        sensor: r.sensor.clone(),
        local: is_local,
        initiator: is_local == r.local_is_client,
        software,
        peer_software,
        tunnel: r.tunnel.as_ref().map(|t| TunnelMatch {
            kind: t.kind.clone(),
            command: t.command.clone(),
            target_port: t.target_port,
        }),
    }
}

/// Seconds since the epoch as RFC 3339 UTC, e.g. `2026-11-21T06:30:11Z`.
pub fn rfc3339(s: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(s)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| s.to_string())
}

/// Reads a time: RFC 3339 (`2026-11-21T06:30:11Z`, `…+01:00`), a date-time in UTC with a space
/// (`2026-11-21 06:30:11`), a date (`2026-11-21`, its midnight UTC), or seconds since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let dt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let dt_t = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(t) =
        time::PrimitiveDateTime::parse(s, dt).or_else(|_| time::PrimitiveDateTime::parse(s, dt_t))
    {
        return Some(t.assume_utc().unix_timestamp());
    }
    let d = format_description!("[year]-[month]-[day]");
    if let Ok(t) = time::Date::parse(s, d) {
        return Some(t.midnight().assume_utc().unix_timestamp());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_time("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_time("1970-01-02"), Some(86_400));
        assert_eq!(parse_time("1970-01-01 00:00:10"), Some(10));
        assert_eq!(parse_time("1970-01-01T00:00:10"), Some(10));
        assert_eq!(parse_time("1234"), Some(1234));
        assert_eq!(parse_time("yesterday"), None);
        let t = parse_time("2026-11-21T06:30:11Z").unwrap();
        assert_eq!(rfc3339(t), "2026-11-21T06:30:11Z");
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    proptest! {
        /// Any text is a time or none; a formatted time reads back.
        #[test]
        fn times_never_panic_and_round_trip(s in "\\PC{0,40}", t in -1_000_000_000_000i64..100_000_000_000) {
            let _ = super::parse_time(&s);
            prop_assert_eq!(super::parse_time(&super::rfc3339(t)), Some(t));
        }
    }
}
