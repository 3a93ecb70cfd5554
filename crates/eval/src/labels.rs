//! Ground-truth label files: `NAME.flows.csv` of the lab captures.
//!
//! Columns: `proto, ip_a, port_a, ip_b, port_b, packets, bytes, label, first_ts, last_ts,
//! rule, check`. `label` is `bittorrent:<kinds>` (kinds joined by `+`, each with an optional
//! `-mse`, `-mse-plaintext` or `-nopayload` suffix), `non-bittorrent:<protocol>`,
//! `other:<protocol>` or `unlabeled`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use engine::Kind;

/// How much of a labelled BitTorrent connection is visible in plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Plain,
    /// MSE/PE encrypted throughout.
    Mse,
    /// An MSE handshake that selected plaintext: the peer wire handshake follows it.
    MsePlaintext,
    /// A connection that carried no payload.
    NoPayload,
}

/// One kind in a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub kind: Kind,
    pub variant: Variant,
}

impl Part {
    /// Whether swarmwall must find this part from plaintext: every plain part, the handshake
    /// after an MSE exchange that chose plaintext, and uTP whose payload is encrypted (its
    /// headers are plaintext uTP). Encrypted TCP and empty connections are not required here.
    pub fn plaintext_visible(&self) -> bool {
        match self.variant {
            Variant::Plain | Variant::MsePlaintext => true,
            Variant::Mse => self.kind == Kind::PeerUtp,
            Variant::NoPayload => false,
        }
    }

    /// Whether a flow of this part carries its torrent's info-hash in plaintext: a kind that
    /// names its torrent in every flow (a UDP tracker flow may hold only connect exchanges, a
    /// DHT flow only pings and node lookups), not encrypted (MSE/PE then plaintext still
    /// shows the peer wire handshake).
    pub fn carries_infohash(&self) -> bool {
        self.kind.carries_infohash()
            && match self.variant {
                Variant::Plain => true,
                Variant::MsePlaintext => self.kind == Kind::PeerTcp,
                Variant::Mse | Variant::NoPayload => false,
            }
    }
}

/// A flow's ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    BitTorrent(Vec<Part>),
    NonBitTorrent(String),
    Other(String),
    Unlabeled,
}

impl Label {
    /// Parses the `label` column.
    pub fn parse(s: &str) -> Result<Label, String> {
        let (class, sub) = s.split_once(':').unwrap_or((s, ""));
        match class {
            "bittorrent" => {
                let parts: Result<Vec<Part>, String> = sub.split('+').map(parse_part).collect();
                Ok(Label::BitTorrent(parts?))
            }
            "non-bittorrent" => Ok(Label::NonBitTorrent(sub.to_string())),
            "other" => Ok(Label::Other(sub.to_string())),
            "unlabeled" => Ok(Label::Unlabeled),
            _ => Err(format!("unknown label class {class:?}")),
        }
    }

    pub fn is_bittorrent(&self) -> bool {
        matches!(self, Label::BitTorrent(_))
    }
}

fn parse_part(s: &str) -> Result<Part, String> {
    let (base, variant) = if let Some(b) = s.strip_suffix("-mse-plaintext") {
        (b, Variant::MsePlaintext)
    } else if let Some(b) = s.strip_suffix("-mse") {
        (b, Variant::Mse)
    } else if let Some(b) = s.strip_suffix("-nopayload") {
        (b, Variant::NoPayload)
    } else {
        (s, Variant::Plain)
    };
    let kind = Kind::from_name(base).ok_or_else(|| format!("unknown BitTorrent kind {base:?}"))?;
    Ok(Part { kind, variant })
}

/// One labelled flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledFlow {
    /// `tcp`, `udp`, `icmp`, `igmp`, ...
    pub proto: String,
    pub a: SocketAddr,
    pub b: SocketAddr,
    pub packets: u64,
    pub bytes: u64,
    pub label: Label,
    /// The raw label text.
    pub text: String,
    /// The tunnel the flow goes through, as `type:target` (`socks5:203.0.113.7:51413`,
    /// `http-connect:name:443`, `http-proxy:tracker:6969`), from the optional `tunnel` column.
    pub tunnel: Option<String>,
}

impl LabelledFlow {
    /// For a flow through a SOCKS5 UDP relay (UDP with a tunnel), its target: several labelled
    /// flows share the relay's 5-tuple.
    pub fn relay_target(&self) -> Option<&str> {
        let t = self.tunnel.as_deref()?;
        (self.proto == "udp").then(|| t.split_once(':').map_or(t, |(_, target)| target))
    }
}

/// Reads a `NAME.flows.csv` file.
pub fn read_flows_csv(path: &Path) -> Result<Vec<LabelledFlow>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_flows_csv(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the text of a `NAME.flows.csv` file.
pub fn parse_flows_csv(text: &str) -> Result<Vec<LabelledFlow>, String> {
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = match lines.next() {
        Some((_, h)) => h.split(',').map(str::trim).collect(),
        None => return Err("empty file".to_string()),
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("line 1: no {name:?} column"))
    };
    let (proto, ip_a, port_a, ip_b, port_b) = (
        col("proto")?,
        col("ip_a")?,
        col("port_a")?,
        col("ip_b")?,
        col("port_b")?,
    );
    let (packets, bytes, label) = (col("packets")?, col("bytes")?, col("label")?);
    // Added later: older label files have no tunnel column.
    let tunnel = col("tunnel").ok();
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let err = |what: &str| format!("line {}: bad {what}", i + 1);
        let get = |c: usize| f.get(c).copied().ok_or_else(|| err("column count"));
        let ip = |c: usize| get(c)?.parse::<IpAddr>().map_err(|_| err("address"));
        let num = |c: usize| get(c)?.parse::<u64>().map_err(|_| err("number"));
        let port = |c: usize| get(c)?.parse::<u16>().map_err(|_| err("port"));
        let text = get(label)?.to_string();
        out.push(LabelledFlow {
            proto: get(proto)?.to_string(),
            a: SocketAddr::new(ip(ip_a)?, port(port_a)?),
            b: SocketAddr::new(ip(ip_b)?, port(port_b)?),
            packets: num(packets)?,
            bytes: num(bytes)?,
            label: Label::parse(&text).map_err(|e| format!("line {}: {e}", i + 1))?,
            text,
            tunnel: tunnel
                .and_then(|c| f.get(c))
                .map(|t| t.trim())
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(
            Label::parse("bittorrent:dht+peer-utp-mse").unwrap(),
            Label::BitTorrent(vec![
                Part {
                    kind: Kind::Dht,
                    variant: Variant::Plain
                },
                Part {
                    kind: Kind::PeerUtp,
                    variant: Variant::Mse
                }
            ])
        );
        assert_eq!(
            Label::parse("bittorrent:peer-tcp-mse-plaintext").unwrap(),
            Label::BitTorrent(vec![Part {
                kind: Kind::PeerTcp,
                variant: Variant::MsePlaintext
            }])
        );
        assert_eq!(
            Label::parse("non-bittorrent:dns").unwrap(),
            Label::NonBitTorrent("dns".into())
        );
        assert!(Label::parse("bittorrent:carrier-pigeon").is_err());
        assert!(Label::parse("weird:x").is_err());
    }

    #[test]
    fn csv() {
        let t = "proto,ip_a,port_a,ip_b,port_b,packets,bytes,label,first_ts,last_ts,rule,check\n\
                 udp,10.77.4.11,6881,10.77.4.21,6881,42,6246,bittorrent:dht,1,2,peer-udp,\n";
        let f = parse_flows_csv(t).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].b, "10.77.4.21:6881".parse().unwrap());
        assert!(f[0].label.is_bittorrent());
        assert!(parse_flows_csv("proto,ip_a\nudp,x").is_err());
    }
}
