//! The summary of a run: what the flow records and learned endpoints add up to.
//!
//! Fed one [`FlowRecord`] at a time by whoever writes the records; pure aggregation, no
//! formatting (the CLI prints it).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use bt::{InfoHash, PeerId};

use crate::flow::{FlowRecord, Kind, KindSet};
use crate::knowledge::Knowledge;

/// Flows, packets and bytes of one kind (or of non-BitTorrent flows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Volume {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

impl Volume {
    fn merge(&mut self, o: &Volume) {
        self.flows += o.flows;
        self.packets += o.packets;
        self.bytes += o.bytes;
    }

    fn add(&mut self, r: &FlowRecord) {
        self.flows += 1;
        self.packets += r.total_packets();
        self.bytes += r.total_bytes();
    }
}

/// What is known of one info-hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Torrent {
    pub flows: u64,
    pub kinds: KindSet,
    /// Distinct endpoints learned for it (filled in by [`Summary::finish`]).
    pub peers: u64,
}

/// One host that took part in BitTorrent flows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    pub kinds: KindSet,
    pub flows: u64,
    pub bytes: u64,
    /// The last peer id seen from this host.
    pub peer_id: Option<PeerId>,
}

/// Most hosts and info-hashes tracked (beyond, new ones are counted, not kept).
pub const MAX_ENTRIES: usize = 1 << 20;

/// The running summary.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Per kind (a flow counts under its primary kind).
    pub by_kind: BTreeMap<Kind, Volume>,
    /// Flows only suspected (the MSE/PE shape alone): not counted as BitTorrent.
    pub suspects: Volume,
    /// BitTorrent flows whose payload was encrypted (MSE/PE), and those relabelled at the end.
    pub encrypted: Volume,
    pub relabelled: u64,
    /// BitTorrent flows per confidence: likely, certain.
    pub likely: u64,
    pub certain: u64,
    pub other: Volume,
    pub torrents: HashMap<InfoHash, Torrent>,
    pub hosts: HashMap<IpAddr, Host>,
    /// Entries not kept because a table was full.
    pub dropped: u64,
    /// Tunnelled flows per tunnel type and proxy command: all of them, and the BitTorrent
    /// ones among them.
    pub tunnels: BTreeMap<(&'static str, &'static str), (Volume, Volume)>,
}

impl Summary {
    pub fn add(&mut self, r: &FlowRecord) {
        if let Some(t) = &r.tunnel {
            let (all, bt) = self
                .tunnels
                .entry((t.kind.as_str(), t.command))
                .or_default();
            all.add(r);
            if r.is_bittorrent() {
                bt.add(r);
            }
        }
        let Some(kind) = r.kind() else {
            if r.suspected_kind().is_some() {
                self.suspects.add(r);
            }
            self.other.add(r);
            return;
        };
        self.by_kind.entry(kind).or_default().add(r);
        if r.verdict.encrypted {
            self.encrypted.add(r);
        }
        self.relabelled += u64::from(r.verdict.relabelled);
        match r.confidence() {
            Some(crate::flow::Confidence::Certain) => self.certain += 1,
            _ => self.likely += 1,
        }
        for h in &r.infohashes {
            let full = self.torrents.len() >= MAX_ENTRIES;
            match self.torrents.get_mut(h) {
                Some(t) => {
                    t.flows += 1;
                    t.kinds = t.kinds.union(r.verdict.kinds);
                }
                None if !full => {
                    self.torrents.insert(
                        *h,
                        Torrent {
                            flows: 1,
                            kinds: r.verdict.kinds,
                            peers: 0,
                        },
                    );
                }
                None => self.dropped += 1,
            }
        }
        // Through a tunnel, the far end is the target, never the proxy (a target known only
        // by name is left out).
        let server = match &r.tunnel {
            Some(t) => match t.target {
                crate::flow::Target::Addr(a) => Some(a),
                crate::flow::Target::Name(..) => None,
            },
            None => Some(r.server),
        };
        for (addr, bytes, id) in [
            (Some(r.client), r.bytes[0], r.client_peer_id),
            (server, r.bytes[1], r.server_peer_id),
        ] {
            let Some(addr) = addr.filter(is_host) else {
                continue;
            };
            let full = self.hosts.len() >= MAX_ENTRIES;
            match self.hosts.get_mut(&addr.ip()) {
                Some(host) => host.add(r.verdict.kinds, bytes, id),
                None if !full => {
                    self.hosts
                        .entry(addr.ip())
                        .or_default()
                        .add(r.verdict.kinds, bytes, id)
                }
                None => self.dropped += 1,
            }
        }
    }

    /// Adds another summary of records of the same run (another worker's): the result is the
    /// summary of both sets of records, except that a host's last peer id is `other`'s when it
    /// saw one.
    pub fn merge(&mut self, other: Summary) {
        for (k, v) in other.by_kind {
            self.by_kind.entry(k).or_default().merge(&v);
        }
        self.suspects.merge(&other.suspects);
        self.encrypted.merge(&other.encrypted);
        self.relabelled += other.relabelled;
        self.likely += other.likely;
        self.certain += other.certain;
        self.other.merge(&other.other);
        self.dropped += other.dropped;
        for (h, t) in other.torrents {
            let full = self.torrents.len() >= MAX_ENTRIES;
            match self.torrents.get_mut(&h) {
                Some(mine) => {
                    mine.flows += t.flows;
                    mine.kinds = mine.kinds.union(t.kinds);
                    mine.peers += t.peers;
                }
                None if !full => {
                    self.torrents.insert(h, t);
                }
                None => self.dropped += 1,
            }
        }
        for (ip, h) in other.hosts {
            let full = self.hosts.len() >= MAX_ENTRIES;
            match self.hosts.get_mut(&ip) {
                Some(mine) => {
                    mine.kinds = mine.kinds.union(h.kinds);
                    mine.flows += h.flows;
                    mine.bytes += h.bytes;
                    if h.peer_id.is_some() {
                        mine.peer_id = h.peer_id;
                    }
                }
                None if !full => {
                    self.hosts.insert(ip, h);
                }
                None => self.dropped += 1,
            }
        }
        for (k, (all, bt)) in other.tunnels {
            let (a, b) = self.tunnels.entry(k).or_default();
            a.merge(&all);
            b.merge(&bt);
        }
    }

    /// Counts the endpoints learned for each info-hash.
    pub fn finish(&mut self, knowledge: &Knowledge) {
        for (_, e) in knowledge.iter() {
            for h in &e.infohashes {
                if let Some(t) = self.torrents.get_mut(h) {
                    t.peers += 1;
                } else if self.torrents.len() < MAX_ENTRIES {
                    self.torrents.insert(
                        *h,
                        Torrent {
                            flows: 0,
                            kinds: KindSet::default(),
                            peers: 1,
                        },
                    );
                }
            }
        }
    }

    /// Totals over BitTorrent kinds.
    pub fn bittorrent(&self) -> Volume {
        self.by_kind
            .values()
            .fold(Volume::default(), |a, v| Volume {
                flows: a.flows + v.flows,
                packets: a.packets + v.packets,
                bytes: a.bytes + v.bytes,
            })
    }

    /// Info-hashes by flows then peers, most first.
    pub fn top_torrents(&self, n: usize) -> Vec<(InfoHash, Torrent)> {
        let mut v: Vec<_> = self.torrents.iter().map(|(h, t)| (*h, t.clone())).collect();
        v.sort_by(|a, b| (b.1.flows, b.1.peers, a.0).cmp(&(a.1.flows, a.1.peers, b.0)));
        v.truncate(n);
        v
    }

    /// Hosts by bytes, most first.
    pub fn top_hosts(&self, n: usize) -> Vec<(IpAddr, Host)> {
        let mut v: Vec<_> = self.hosts.iter().map(|(a, h)| (*a, h.clone())).collect();
        v.sort_by(|a, b| (b.1.bytes, a.0).cmp(&(a.1.bytes, b.0)));
        v.truncate(n);
        v
    }
}

impl Host {
    fn add(&mut self, kinds: KindSet, bytes: u64, id: Option<PeerId>) {
        self.kinds = self.kinds.union(kinds);
        self.flows += 1;
        self.bytes += bytes;
        if id.is_some() {
            self.peer_id = id;
        }
    }
}

/// Multicast and broadcast destinations (LSD) are not hosts.
fn is_host(a: &SocketAddr) -> bool {
    match a.ip() {
        IpAddr::V4(v4) => !(v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_multicast() || v6.is_unspecified()),
    }
}
