//! What the evidence says of a notice: a verdict and its reasons. Pure: the caller looks the
//! notice's address up in the evidence store and hands over what it found.

use serde::Serialize;

use crate::Notice;

/// The verdicts (their names are a contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// BitTorrent activity of that address (and port, when given) at that time, and of that
    /// torrent when the notice names one.
    Corroborated,
    /// BitTorrent activity of that address at that time, but not what the notice names (another
    /// torrent, or another port).
    OtherTorrent,
    /// The address was watched at that time and did no BitTorrent.
    NoBittorrent,
    /// Nothing recorded for that address at that time.
    NotObserved,
    /// No notice could be read.
    Unparseable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Corroborated => "corroborated",
            Verdict::OtherTorrent => "other-torrent",
            Verdict::NoBittorrent => "no-bittorrent",
            Verdict::NotObserved => "not-observed",
            Verdict::Unparseable => "unparseable",
        }
    }
}

/// One BitTorrent flow of the notice's address near its time, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The address's port in the flow.
    pub port: u16,
    pub first_s: i64,
    pub last_s: i64,
    pub infohashes: Vec<String>,
}

/// What the store holds of the notice's address around its time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// BitTorrent flows of the address overlapping the window.
    pub flows: Vec<Seen>,
    /// The address was seen (any traffic) in the window's days.
    pub present: bool,
    /// A sensor was watching at the notice's time (within the tolerance).
    pub watched: bool,
    /// The address is in the local networks (`--local`).
    pub local: bool,
}

/// The verdict on `n` given what the store holds.
pub fn judge(n: &Notice, o: &Observation) -> (Verdict, Vec<String>) {
    let mut why = Vec::new();
    if n.ip.is_none() || n.time.is_none() {
        why.push(format!(
            "the notice gives no {}",
            match (n.ip, n.time) {
                (None, None) => "address and no time",
                (None, _) => "address",
                _ => "time",
            }
        ));
        return (Verdict::Unparseable, why);
    }
    let on_port: Vec<&Seen> = o
        .flows
        .iter()
        .filter(|s| n.port.is_none_or(|p| p == s.port))
        .collect();
    if !on_port.is_empty() {
        match &n.infohash {
            None => {
                why.push(format!(
                    "{} BitTorrent flow{} of the address{} at that time; the notice names no torrent",
                    on_port.len(),
                    if on_port.len() == 1 { "" } else { "s" },
                    n.port.map(|p| format!(" from port {p}")).unwrap_or_default()
                ));
                return (Verdict::Corroborated, why);
            }
            Some(h) => {
                let with: Vec<&&Seen> = on_port
                    .iter()
                    .filter(|s| s.infohashes.contains(h))
                    .collect();
                if !with.is_empty() {
                    why.push(format!(
                        "{} BitTorrent flow{} of the address{} at that time carried torrent {h}",
                        with.len(),
                        if with.len() == 1 { "" } else { "s" },
                        n.port
                            .map(|p| format!(" from port {p}"))
                            .unwrap_or_default()
                    ));
                    return (Verdict::Corroborated, why);
                }
                let mut others: Vec<&str> = on_port
                    .iter()
                    .flat_map(|s| s.infohashes.iter().map(String::as_str))
                    .collect();
                others.sort_unstable();
                others.dedup();
                why.push(format!(
                    "BitTorrent from the address at that time, but not torrent {h}; {}",
                    if others.is_empty() {
                        "its flows named no torrent".to_string()
                    } else {
                        format!("torrents seen: {}", others.join(", "))
                    }
                ));
                return (Verdict::OtherTorrent, why);
            }
        }
    }
    if !o.flows.is_empty() {
        let mut ports: Vec<u16> = o.flows.iter().map(|s| s.port).collect();
        ports.sort_unstable();
        ports.dedup();
        let torrent = n
            .infohash
            .as_ref()
            .is_some_and(|h| o.flows.iter().any(|s| s.infohashes.contains(h)));
        why.push(format!(
            "BitTorrent from the address at that time, but not from port {} (ports seen: {}){}; behind a shared address (NAT, VPN, Tor exit) another user",
            n.port.unwrap_or(0),
            ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", "),
            if torrent { ", with the notice's torrent" } else { "" }
        ));
        return (Verdict::OtherTorrent, why);
    }
    if !o.local {
        why.push("the address is not a local address of the watched networks".into());
        return (Verdict::NotObserved, why);
    }
    if !o.watched {
        why.push("no sensor was watching at that time".into());
        return (Verdict::NotObserved, why);
    }
    if !o.present {
        why.push("sensors were watching, but the address was not seen that day".into());
        return (Verdict::NotObserved, why);
    }
    why.push("the address was seen at that time and did no BitTorrent".into());
    (Verdict::NoBittorrent, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(port: Option<u16>, hash: Option<&str>) -> Notice {
        Notice {
            ip: Some("10.77.0.2".parse().unwrap()),
            port,
            time: Some(1000),
            infohash: hash.map(str::to_string),
            ..Notice::default()
        }
    }

    fn seen(port: u16, hash: &str) -> Seen {
        Seen {
            port,
            first_s: 990,
            last_s: 1010,
            infohashes: vec![hash.to_string()],
        }
    }

    #[test]
    fn each_verdict() {
        let h = "aa".repeat(20);
        let o = Observation {
            flows: vec![seen(6881, &h)],
            present: true,
            watched: true,
            local: true,
        };
        assert_eq!(
            judge(&notice(Some(6881), Some(&h)), &o).0,
            Verdict::Corroborated
        );
        assert_eq!(judge(&notice(None, None), &o).0, Verdict::Corroborated);
        assert_eq!(
            judge(&notice(Some(6881), Some(&"bb".repeat(20))), &o).0,
            Verdict::OtherTorrent
        );
        let (v, why) = judge(&notice(Some(7000), Some(&h)), &o);
        assert_eq!(v, Verdict::OtherTorrent);
        assert!(why[0].contains("not from port 7000"), "{why:?}");
        let quiet = Observation {
            flows: vec![],
            ..o.clone()
        };
        assert_eq!(
            judge(&notice(Some(6881), None), &quiet).0,
            Verdict::NoBittorrent
        );
        let (v, why) = judge(
            &notice(Some(6881), None),
            &Observation {
                present: false,
                ..quiet.clone()
            },
        );
        assert_eq!(v, Verdict::NotObserved);
        assert!(why[0].contains("not seen"));
        let (_, why) = judge(
            &notice(Some(6881), None),
            &Observation {
                watched: false,
                ..quiet.clone()
            },
        );
        assert!(why[0].contains("no sensor was watching"));
        let (_, why) = judge(
            &notice(Some(6881), None),
            &Observation {
                local: false,
                ..quiet.clone()
            },
        );
        assert!(why[0].contains("not a local address"));
        let mut n = notice(None, None);
        n.time = None;
        assert_eq!(judge(&n, &o).0, Verdict::Unparseable);
    }
}
