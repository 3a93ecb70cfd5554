//! The human-readable summary printed by `swarmwall analyze`.

use std::fmt::Write;

use engine::report::{Summary, Volume};
use engine::{DefragStats, Kind, KindSet, Knowledge, Source, Totals};
use swarmwall_io::record::rfc3339_micros;

pub fn render(
    t: &Totals,
    s: &Summary,
    k: &Knowledge,
    f: &DefragStats,
    source: &str,
    top: usize,
) -> String {
    let mut o = String::new();
    let span = match (t.first_ns, t.last_ns) {
        (Some(a), Some(b)) => format!(
            "{} .. {} ({:.1} s)",
            rfc3339_micros(a),
            rfc3339_micros(b),
            (i128::from(b) - i128::from(a)) as f64 / 1e9
        ),
        _ => "no packets".to_string(),
    };
    let _ = writeln!(
        o,
        "swarmwall {source}, {} packets, {}, {span}",
        count(t.packets),
        bytes(t.wire_bytes)
    );

    let _ = writeln!(o, "\nBitTorrent flows by kind");
    let _ = writeln!(
        o,
        "  {:<14} {:>9} {:>11} {:>11}",
        "kind", "flows", "packets", "bytes"
    );
    for kind in Kind::ALL {
        if let Some(v) = s.by_kind.get(&kind) {
            row(&mut o, kind.as_str(), v);
        }
    }
    let bt = s.bittorrent();
    row(&mut o, "all BitTorrent", &bt);
    row(&mut o, "  encrypted", &s.encrypted);
    row(&mut o, "not BitTorrent", &s.other);
    row(&mut o, "  suspects", &s.suspects);
    let _ = writeln!(
        o,
        "  confidence: {} certain, {} likely ({} relabelled at the end); suspects (MSE/PE shape alone) are not BitTorrent",
        count(s.certain),
        count(s.likely),
        count(s.relabelled)
    );
    let all = bt.bytes + s.other.bytes;
    if all > 0 {
        let _ = writeln!(
            o,
            "  BitTorrent share: {:.1}% of flows, {:.1}% of bytes",
            pct(bt.flows, bt.flows + s.other.flows),
            pct(bt.bytes, all)
        );
    }

    let torrents = s.top_torrents(top);
    if !torrents.is_empty() {
        let _ = writeln!(o, "\nTop info-hashes ({} seen)", s.torrents.len());
        let _ = writeln!(
            o,
            "  {:<40} {:>6} {:>6}  kinds",
            "info-hash", "flows", "peers"
        );
        for (h, tor) in torrents {
            let _ = writeln!(
                o,
                "  {:<40} {:>6} {:>6}  {}",
                h.to_hex(),
                tor.flows,
                tor.peers,
                kinds(tor.kinds)
            );
        }
    }

    let hosts = s.top_hosts(top);
    if !hosts.is_empty() {
        let _ = writeln!(
            o,
            "\nBitTorrent hosts ({} seen, by bytes sent)",
            s.hosts.len()
        );
        let _ = writeln!(
            o,
            "  {:<39} {:>6} {:>10}  {:<28} software",
            "host", "flows", "sent", "kinds"
        );
        for (ip, h) in hosts {
            let sw = h
                .peer_id
                .as_ref()
                .and_then(bt::peer_id::describe)
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {:<39} {:>6} {:>10}  {:<28} {sw}",
                ip.to_string(),
                h.flows,
                bytes(h.bytes),
                kinds(h.kinds)
            );
        }
    }

    if !s.tunnels.is_empty() {
        let _ = writeln!(o, "\nTunnels (the flow's kind is the inner protocol's)");
        let _ = writeln!(
            o,
            "  {:<14} {:<14} {:>9} {:>11} {:>11}",
            "type", "command", "flows", "BitTorrent", "bytes"
        );
        for ((kind, command), (all, bt)) in &s.tunnels {
            let _ = writeln!(
                o,
                "  {:<14} {:<14} {:>9} {:>11} {:>11}",
                kind,
                command,
                count(all.flows),
                count(bt.flows),
                bytes(all.bytes)
            );
        }
    }

    let ks = k.stats();
    let _ = writeln!(
        o,
        "\nLearned endpoints: {} kept ({} facts, {} evicted); hosts seen speaking BitTorrent: {}",
        count(k.len() as u64),
        count(ks.learned),
        count(ks.evicted),
        count(k.hosts_len() as u64)
    );
    let by: Vec<String> = Source::ALL
        .iter()
        .zip(ks.by_source)
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{} {}", s.as_str(), count(n)))
        .collect();
    if !by.is_empty() {
        let _ = writeln!(o, "  from: {}", by.join(", "));
    }

    let _ = writeln!(o, "\nCapture");
    let _ = writeln!(
        o,
        "  packets {} (TCP {}, UDP {}, other IP {}, non-IP {}, undecodable {}, unsupported link {})",
        count(t.packets),
        count(t.tcp_packets),
        count(t.udp_packets),
        count(t.other_ip),
        count(t.non_ip),
        count(t.undecodable),
        count(t.unsupported_link)
    );
    let _ = writeln!(o, "  cut by snaplen {}", count(t.truncated));
    let _ = writeln!(
        o,
        "  IP fragments {}: datagrams reassembled {}, expired {}, evicted {}, overlapping {}, other discarded {}; duplicate fragments {}, fragments not read {}",
        count(t.fragments),
        count(f.reassembled),
        count(f.expired),
        count(f.evicted),
        count(f.overlapping),
        count(f.too_large + f.too_many_fragments + f.inconsistent + f.bad_headers),
        count(f.duplicates),
        count(f.unread)
    );
    if t.socks_udp > 0 {
        let _ = writeln!(
            o,
            "  datagrams read through a SOCKS5 UDP relay {}",
            count(t.socks_udp)
        );
    }
    let _ = writeln!(
        o,
        "  flows {} (TCP {}, UDP {}), evicted from a full table {}",
        count(t.flows),
        count(t.tcp_flows),
        count(t.udp_flows),
        count(t.flows_evicted)
    );
    if s.dropped > 0 {
        let _ = writeln!(
            o,
            "  summary entries not kept (tables full): {}",
            count(s.dropped)
        );
    }
    o
}

fn row(o: &mut String, name: &str, v: &Volume) {
    let _ = writeln!(
        o,
        "  {:<14} {:>9} {:>11} {:>11}",
        name,
        count(v.flows),
        count(v.packets),
        bytes(v.bytes)
    );
}

fn kinds(k: KindSet) -> String {
    let v: Vec<&str> = k.iter().map(|k| k.as_str()).collect();
    if v.is_empty() {
        "-".to_string()
    } else {
        v.join(",")
    }
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

/// 1234567 → "1,234,567".
fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in SI units with one decimal.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(100), "100");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500), "1.5 kB");
        assert_eq!(bytes(2_000_000_000), "2.0 GB");
    }
}
