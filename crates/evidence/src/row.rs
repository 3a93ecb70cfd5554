//! What a store keeps of a flow: a row of evidence, and the presence of local addresses.
//!
//! Never any payload and never an address: both ends of a flow (and a tunnel's target) are
//! stored as pseudonyms under the key of the period the flow started in; ports, times (to the
//! second), kinds, info-hashes, bytes and client software are stored as they are.

use std::collections::HashSet;
use std::net::IpAddr;

use engine::{FlowRecord, Target};
use ipnet::IpNet;

use crate::key::KeyRing;
use crate::pseudonym::{Keyed, Pseudonym, pseudonym};

/// One BitTorrent flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub sensor: String,
    /// The period of `first_s`, whose key made the pseudonyms.
    pub period: i64,
    pub first_s: i64,
    pub last_s: i64,
    /// `tcp` or `udp`.
    pub proto: String,
    pub kind: String,
    pub kinds: Vec<String>,
    pub confidence: String,
    pub encrypted: bool,
    pub evidence: Vec<String>,
    /// Torrents (40 hex digits, or 64 for v2), never DHT lookups.
    pub infohashes: Vec<String>,
    pub tunnel: Option<StoredTunnel>,
    /// The local end (the client when both or neither end are local).
    pub local: Pseudonym,
    pub local_port: u16,
    pub remote: Pseudonym,
    pub remote_port: u16,
    /// Whether the local end opened the flow.
    pub local_is_client: bool,
    /// IP-layer bytes sent by the local end, and by the remote end.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub local_software: Option<String>,
    pub remote_software: Option<String>,
}

/// A tunnel as stored: its target only as a pseudonym.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTunnel {
    pub kind: String,
    pub command: String,
    pub target: Pseudonym,
    pub target_port: u16,
}

/// A local address seen in a period (presence only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Presence {
    pub period: i64,
    pub host: Pseudonym,
}

/// The networks whose addresses count as local.
#[derive(Debug, Clone)]
pub struct LocalNets(Vec<IpNet>);

impl LocalNets {
    pub fn new(nets: Vec<IpNet>) -> LocalNets {
        LocalNets(nets)
    }

    /// The private ranges: RFC 1918, shared address space (RFC 6598), unique local IPv6.
    pub fn private() -> LocalNets {
        let nets = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "fc00::/7",
        ];
        LocalNets(nets.iter().filter_map(|n| n.parse().ok()).collect())
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }
}

/// Most periods a flow is counted present in (a flow open longer than this many periods
/// marks its hosts present in its first ones).
const MAX_PRESENCE_PERIODS: i64 = 400;

/// Turns flow records into rows and presence, under the period keys.
#[derive(Debug)]
pub struct Recorder {
    pub keys: KeyRing,
    pub local: LocalNets,
    pub sensor: String,
    /// The last period's keyed HMAC.
    keyed: Option<(i64, Keyed)>,
    /// Local addresses already marked present, per period (cleared when it grows past
    /// [`MAX_REMEMBERED`]; the store ignores repeats anyway).
    present: HashSet<(i64, IpAddr)>,
}

/// Presence entries remembered as made.
const MAX_REMEMBERED: usize = 1 << 20;

/// What one record gives the store.
#[derive(Debug, Default)]
pub struct Recorded {
    pub row: Option<Row>,
    pub presence: Vec<Presence>,
    /// The record started in a period already past retention, or absurdly far after it
    /// (nothing stored).
    pub too_old: bool,
}

impl Recorder {
    pub fn new(keys: KeyRing, local: LocalNets, sensor: String) -> Recorder {
        Recorder {
            keys,
            local,
            sensor,
            keyed: None,
            present: HashSet::new(),
        }
    }

    /// The keyed HMAC of a period (none for a period whose key is gone).
    fn keyed(&mut self, period: i64) -> Option<Keyed> {
        match &self.keyed {
            Some((p, k)) if *p == period => Some(k.clone()),
            _ => {
                let k = Keyed::new(&self.keys.get_cached(period)?);
                self.keyed = Some((period, k.clone()));
                Some(k)
            }
        }
    }

    /// Forgets what it remembered of periods before `first`.
    pub fn forget_before(&mut self, first: i64) {
        self.present.retain(|(p, _)| *p >= first);
    }

    /// Rows for BitTorrent flows (likely or certain); presence for the local ends of every
    /// flow. A flow of a period whose key is destroyed (past retention) gives nothing.
    pub fn record(&mut self, r: &FlowRecord) -> Recorded {
        let first_s = r.first_ns.div_euclid(1_000_000_000);
        let last_s = r.last_ns.div_euclid(1_000_000_000).max(first_s);
        let period = self.keys.period_of(first_s);
        let mut out = Recorded::default();
        let Some(keyed) = self.keyed(period) else {
            out.too_old = true;
            return out;
        };
        let client_local = self.local.contains(r.client.ip());
        let server_local = self.local.contains(r.server.ip());
        let last_period = self
            .keys
            .period_of(last_s)
            .min(period + MAX_PRESENCE_PERIODS - 1);
        for (addr, local) in [(r.client.ip(), client_local), (r.server.ip(), server_local)] {
            if !local {
                continue;
            }
            for p in period..=last_period {
                if self.present.len() >= MAX_REMEMBERED {
                    self.present.clear();
                }
                if !self.present.insert((p, addr.to_canonical())) {
                    continue;
                }
                let host = if p == period {
                    keyed.pseudonym(addr)
                } else {
                    let Some(k) = self.keys.get_cached(p) else {
                        break;
                    };
                    pseudonym(&k, addr)
                };
                out.presence.push(Presence { period: p, host });
            }
        }
        if r.is_bittorrent() {
            out.row = Some(self.row(
                r,
                &keyed,
                period,
                first_s,
                last_s,
                client_local || !server_local,
            ));
        }
        out
    }

    fn row(
        &self,
        r: &FlowRecord,
        keyed: &Keyed,
        period: i64,
        first_s: i64,
        last_s: i64,
        local_is_client: bool,
    ) -> Row {
        let (local, remote, li, ri) = if local_is_client {
            (r.client, r.server, 0, 1)
        } else {
            (r.server, r.client, 1, 0)
        };
        let software = |i: usize| {
            let id = if i == 0 {
                r.client_peer_id.as_ref()
            } else {
                r.server_peer_id.as_ref()
            };
            id.and_then(bt::peer_id::describe)
        };
        Row {
            sensor: self.sensor.clone(),
            period,
            first_s,
            last_s,
            proto: r.proto.as_str().to_string(),
            kind: r.kind().map(|k| k.as_str()).unwrap_or("").to_string(),
            kinds: r
                .verdict
                .kinds
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            confidence: r.confidence().map(|c| c.as_str()).unwrap_or("").to_string(),
            encrypted: r.verdict.encrypted,
            evidence: r
                .verdict
                .evidence
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            infohashes: r.infohashes.iter().map(|h| h.to_hex()).collect(),
            tunnel: r.tunnel.as_ref().map(|t| {
                let (target, target_port) = match &t.target {
                    Target::Addr(a) => (keyed.pseudonym(a.ip()), a.port()),
                    Target::Name(n, port) => (keyed.name_pseudonym(n), *port),
                };
                StoredTunnel {
                    kind: t.kind.as_str().to_string(),
                    command: t.command.to_string(),
                    target,
                    target_port,
                }
            }),
            local: keyed.pseudonym(local.ip()),
            local_port: local.port(),
            remote: keyed.pseudonym(remote.ip()),
            remote_port: remote.port(),
            local_is_client,
            bytes_sent: r.bytes[li],
            bytes_received: r.bytes[ri],
            local_software: software(li),
            remote_software: software(ri),
        }
    }
}

/// The `flows` columns, in the order both backends read and write them.
pub(crate) const COLUMNS: &str = "sensor, period, first_s, last_s, proto, kind, kinds, confidence, encrypted, evidence, infohashes, tunnel, tunnel_command, tunnel_target, tunnel_port, local, local_port, remote, remote_port, local_is_client, bytes_sent, bytes_received, local_software, remote_software";

/// A stored digest (32 bytes; shorter input is padded).
pub(crate) fn digest_of(v: impl AsRef<[u8]>) -> [u8; 32] {
    let v = v.as_ref();
    let mut d = [0u8; 32];
    let n = v.len().min(32);
    d[..n].copy_from_slice(&v[..n]);
    d
}

/// Column helpers shared by the backends.
pub(crate) fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored pseudonym (16 bytes; shorter input is padded, never trusted to be whole).
pub(crate) fn pseudonym_of(v: impl AsRef<[u8]>) -> Pseudonym {
    let v = v.as_ref();
    let mut p = [0u8; 16];
    let n = v.len().min(16);
    p[..n].copy_from_slice(&v[..n]);
    p
}

/// A comma-separated list column.
pub(crate) fn split(s: String) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_string).collect()
    }
}
