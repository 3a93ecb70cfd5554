//! The DHT (KRPC, BEP 5): responses nobody asked for (`dht-reflection`), many identities from
//! one place (`dht-sybil`), and identities gathered next to a looked-up info-hash
//! (`dht-eclipse`).
//!
//! * Reflection: every query is remembered by (querier, responder, transaction id) until its
//!   response; a response or error that matches none was not asked for by its receiver. Per
//!   receiver and window of [`Thresholds::dht_rate_window_s`]: unsolicited messages, their
//!   sources, bytes in against bytes of queries the receiver sent (amplification), replies
//!   that were oversized or fragmented. [`Thresholds::dht_unsolicited`] of them from at least
//!   [`Thresholds::dht_reflection_min_sources`] sources — or more than
//!   [`Thresholds::dht_rate_per_source`] from one — make an incident about the receiver.
//! * Sybil: distinct node ids per IPv4 address or IPv6 /64 (as senders); more than
//!   [`Thresholds::node_ids_per_address`] make an incident. Ids differing in at most
//!   [`Thresholds::near_twin_bytes`] bytes from one /24 (or /48) make one too. Ids that break
//!   BEP 42 for a public address are counted and shown.
//! * Eclipse: for each info-hash looked up (`get_peers`, `announce_peer`), the ids seen (as
//!   senders, or in `nodes` lists) that share at least [`Thresholds::dht_eclipse_bits`]
//!   leading bits with it — never a querier's own id — and their /24s:
//!   [`Thresholds::dht_eclipse_min_ids`] of them from at most
//!   [`Thresholds::dht_eclipse_max_nets`] networks, or one sharing
//!   [`Thresholds::dht_eclipse_any_bits`], make an incident about the info-hash.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

use bt::krpc::{Body, Message, Method};
use engine::{Proto, TapPacket};

use crate::alerts::{Detection, Severity};
use crate::monitor::{Ctx, flow_name};
use crate::table::Table;
use crate::utp::hex;
use crate::{Category, Thresholds, net};

/// A DHT reply larger than this (UDP payload bytes) is oversized: BEP 5 replies fit one
/// Ethernet frame.
pub const OVERSIZED: usize = 1400;
/// Sources counted one by one per window (others only in the total), ids remembered per
/// network for near twins, close ids per lookup, querier ids per lookup: small, so that the
/// worst case of every table full stays a few tens of MiB (docs/attacks.md).
const MAX_SOURCES: usize = 32;
const MAX_TWINS: usize = 8;
const MAX_CLOSE: usize = 16;
const MAX_QUERIERS: usize = 4;

type Id = [u8; 20];

/// A transaction id as a key (longer ones are cut to 8 bytes; the length is kept).
fn tid(t: &[u8]) -> (u64, u8) {
    let mut b = [0u8; 8];
    let n = t.len().min(8);
    b[..n].copy_from_slice(&t[..n]);
    (u64::from_le_bytes(b), t.len().min(255) as u8)
}

#[derive(Debug)]
struct Pending {
    len: u32,
}

#[derive(Debug, Default)]
struct Window {
    start_s: i64,
    unsolicited: u32,
    per_source: BTreeMap<IpAddr, u32>,
    bytes_in: u64,
    bytes_out: u64,
    oversized: u32,
    fragmented: u32,
    /// Answers to the receiver's own queries more than `dht_amplification` times larger.
    amplified: u32,
    /// Unsolicited messages from sources past the ones counted one by one.
    others: u32,
}

#[derive(Debug, Default)]
struct Ids {
    ids: Vec<Id>,
    /// Distinct ids counted (beyond [`MAX_IDS`], each unknown id counts: an upper estimate).
    distinct: u32,
    ports: Vec<u16>,
    bep42_broken: u32,
}

#[derive(Debug, Default)]
struct Lookup {
    queriers: Vec<Id>,
    close: Vec<(Id, u32, IpAddr)>,
}

#[derive(Debug)]
pub(crate) struct Dht {
    cap: usize,
    pending: Table<(SocketAddr, SocketAddr, (u64, u8)), Pending>,
    windows: Table<IpAddr, Window>,
    ids: Table<IpAddr, Ids>,
    twins: Table<IpAddr, VecDeque<(Id, IpAddr)>>,
    /// Looked-up info-hashes, in order (the oldest forgotten first).
    lookups: BTreeMap<Id, Lookup>,
    lookup_order: VecDeque<Id>,
    /// Ids recently seen as senders, for a lookup that comes after them.
    recent: BTreeMap<Id, IpAddr>,
    recent_order: VecDeque<Id>,
    evicted: u64,
    /// When the query table last dropped its older half, and the time before.
    rotations: [i64; 2],
    /// Answers not counted while the query table churned.
    pub uncounted: u64,
}

impl Dht {
    pub fn new(t: &Thresholds) -> Dht {
        let cap = t.max_state as usize;
        Dht {
            cap: cap.max(1),
            pending: Table::new(cap),
            windows: Table::new(cap),
            ids: Table::new(cap),
            twins: Table::new(cap),
            lookups: BTreeMap::new(),
            lookup_order: VecDeque::new(),
            recent: BTreeMap::new(),
            recent_order: VecDeque::new(),
            evicted: 0,
            rotations: [i64::MIN; 2],
            uncounted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
            + self.windows.len()
            + self.ids.len()
            + self.twins.len()
            + self.lookups.len()
            + self.recent.len()
    }

    pub fn evicted(&self) -> u64 {
        self.pending.evicted
            + self.windows.evicted
            + self.ids.evicted
            + self.twins.evicted
            + self.evicted
    }

    /// The clock jumped: rate windows start again.
    pub fn new_epoch(&mut self) {
        self.windows = Table::new(self.cap);
    }

    pub fn message(&mut self, p: &TapPacket<'_>, m: &Message<'_>, cx: &mut Ctx<'_>) {
        let len = p.payload.len() as u32;
        match &m.body {
            Body::Query(q) => {
                let target = match q.method {
                    Method::GetPeers { info_hash, .. } | Method::AnnouncePeer { info_hash, .. } => {
                        Some(info_hash.0)
                    }
                    _ => None,
                };
                let before = self.pending.evicted;
                self.pending
                    .entry((p.src, p.dst, tid(m.transaction)), || Pending { len });
                if self.pending.evicted > before {
                    self.rotations = [self.rotations[1], cx.now_s];
                }
                let w = window(&mut self.windows, p.src.ip(), cx);
                w.bytes_out += u64::from(len);
                // The lookup first: a querier's own id never counts as close to its target.
                if let Some(t) = target {
                    self.lookup(t, q.id.0, cx, p);
                }
                self.sender(p, q.id.0, target, cx);
            }
            Body::Response(_) | Body::Error { .. } => {
                match self.pending.remove(&(p.dst, p.src, tid(m.transaction))) {
                    None => self.unsolicited(p, cx),
                    Some(q) => {
                        let w = window(&mut self.windows, p.dst.ip(), cx);
                        if f64::from(len) > f64::from(q.len) * cx.t.dht_amplification {
                            w.amplified = w.amplified.saturating_add(1);
                        }
                    }
                }
                if let Body::Response(r) = &m.body {
                    self.sender(p, r.id.0, None, cx);
                    let nodes: Vec<(Id, IpAddr)> = r
                        .nodes()
                        .chain(r.nodes6())
                        .take(64)
                        .map(|(id, a)| (id.0, a.ip()))
                        .collect();
                    for (id, ip) in nodes {
                        self.seen_id(id, ip, cx, p);
                    }
                }
            }
        }
    }

    /// Whether queries are going through the table so fast that one still waiting for its
    /// answer may have been forgotten: two rotations within a minute, the last one less than
    /// a window ago. Answers then are not counted as unsolicited (a busy gateway's honest
    /// answers are not a reflection; the price: a blind spot while it lasts, counted).
    fn churning(&self, now_s: i64, window_s: i64) -> bool {
        let [a, b] = self.rotations;
        a != i64::MIN && b.saturating_sub(a) < 60 && now_s.saturating_sub(b) < window_s
    }

    /// A response or error that answers no query its receiver sent.
    fn unsolicited(&mut self, p: &TapPacket<'_>, cx: &mut Ctx<'_>) {
        let t = cx.t;
        if self.churning(cx.now_s, i64::from(t.dht_rate_window_s)) {
            self.uncounted = self.uncounted.saturating_add(1);
            return;
        }
        let victim = p.dst.ip();
        let w = window(&mut self.windows, victim, cx);
        w.unsolicited = w.unsolicited.saturating_add(1);
        w.bytes_in += u64::from(p.ip.wire_len);
        if p.payload.len() > OVERSIZED {
            w.oversized = w.oversized.saturating_add(1);
        }
        if p.fragments > 1 {
            w.fragmented = w.fragmented.saturating_add(1);
        }
        if w.per_source.len() < MAX_SOURCES || w.per_source.contains_key(&p.src.ip()) {
            let c = w.per_source.entry(p.src.ip()).or_default();
            *c = c.saturating_add(1);
        } else {
            w.others = w.others.saturating_add(1);
        }
        // Past the ones counted one by one, each message may be a new source: at most.
        let sources = w.per_source.len() as u32 + w.others.min(u32::from(u16::MAX));
        let top = w.per_source.values().copied().max().unwrap_or(0);
        let many = w.unsolicited >= t.dht_unsolicited && sources >= t.dht_reflection_min_sources;
        let flood = top > t.dht_rate_per_source;
        if !many && !flood {
            return;
        }
        let measured = vec![
            ("unsolicited", f64::from(w.unsolicited)),
            ("sources", f64::from(sources)),
            ("bytes_in", w.bytes_in as f64),
            ("bytes_out", w.bytes_out as f64),
            (
                "amplification",
                w.bytes_in as f64 / w.bytes_out.max(1) as f64,
            ),
            ("oversized", f64::from(w.oversized)),
            ("fragmented", f64::from(w.fragmented)),
            ("amplified_answers", f64::from(w.amplified)),
            ("window_s", f64::from(t.dht_rate_window_s)),
        ];
        cx.raise(
            Category::DhtReflection,
            &format!("victim {victim}"),
            || "DHT reflection: KRPC responses that answer no query of their receiver".into(),
            Severity::High,
            || {
                format!(
                    "dht_unsolicited = {} in {} s from dht_reflection_min_sources = {} sources, \
                     or more than dht_rate_per_source = {} from one",
                    t.dht_unsolicited,
                    t.dht_rate_window_s,
                    t.dht_reflection_min_sources,
                    t.dht_rate_per_source
                )
            },
            Detection {
                source: Some(p.src.ip()),
                target: Some(victim),
                flow: Some(flow_name(Proto::Udp, p.src, p.dst)),
                infohash: None,
                measured,
            },
        );
    }

    /// A node id its sender claims (`target`: the info-hash its query looks up).
    fn sender(&mut self, p: &TapPacket<'_>, id: Id, target: Option<Id>, cx: &mut Ctx<'_>) {
        let ip = p.src.ip();
        let t = cx.t;
        // One address has one node; an IPv6 /64 (one network, where a Sybil has addresses to
        // spare) has a node per host: a LAN's worth.
        let mut units = vec![(ip, t.node_ids_per_address, "address", "")];
        if ip.is_ipv6() {
            units.push((net::host_unit(ip), t.node_ids_per_v6_net, "network", "/64"));
        }
        let mut new = false;
        for (unit, limit, what, suffix) in units {
            let e = self.ids.entry(unit, Ids::default);
            let fresh = !e.ids.contains(&id);
            if fresh {
                // Ids are remembered up to one past the threshold; beyond, each unknown id
                // counts.
                if e.ids.len() <= limit as usize {
                    e.ids.push(id);
                }
                e.distinct = e.distinct.saturating_add(1);
                if net::bep42_valid(ip, &id) == Some(false) {
                    e.bep42_broken = e.bep42_broken.saturating_add(1);
                }
            }
            new |= fresh;
            if e.ports.len() < 8 && !e.ports.contains(&p.src.port()) {
                e.ports.push(p.src.port());
            }
            if !fresh || e.distinct <= limit {
                continue;
            }
            let measured = vec![
                ("node_ids", f64::from(e.distinct)),
                ("ports", e.ports.len() as f64),
                ("bep42_broken", f64::from(e.bep42_broken)),
            ];
            let setting = if suffix.is_empty() {
                "node_ids_per_address"
            } else {
                "node_ids_per_v6_net"
            };
            cx.raise(
                Category::DhtSybil,
                &format!("{what} {unit}{suffix}"),
                || format!("DHT Sybil: many node ids from one {what}"),
                Severity::Medium,
                || {
                    format!(
                        "{setting} = {limit} (BEP 42: 8 id prefixes per IPv4 address; an honest \
                         node has one id)"
                    )
                },
                Detection {
                    source: Some(ip),
                    target: Some(p.dst.ip()),
                    flow: Some(flow_name(Proto::Udp, p.src, p.dst)),
                    infohash: target.map(|h| hex(&h)),
                    measured,
                },
            );
        }
        if new {
            self.twin(ip, id, target, cx, p);
        }
        self.seen_id(id, ip, cx, p);
        if !self.recent.contains_key(&id) {
            if self.recent.len() >= self.cap
                && let Some(old) = self.recent_order.pop_front()
            {
                self.recent.remove(&old);
                self.evicted += 1;
            }
            self.recent.insert(id, ip);
            self.recent_order.push_back(id);
        }
    }

    /// A new id from `ip`: near twins of ids from the same network.
    fn twin(
        &mut self,
        ip: IpAddr,
        id: Id,
        target: Option<Id>,
        cx: &mut Ctx<'_>,
        p: &TapPacket<'_>,
    ) {
        let t = cx.t;
        let netw = net::net24(ip);
        let ring = self.twins.entry(netw, VecDeque::new);
        let twin = ring
            .iter()
            .map(|(o, a)| (net::differing_bytes(o, &id), *a))
            .filter(|&(d, _)| d > 0 && d <= t.near_twin_bytes)
            .min_by_key(|&(d, _)| d);
        if ring.len() >= MAX_TWINS {
            ring.pop_front();
        }
        if !ring.iter().any(|(o, _)| *o == id) {
            ring.push_back((id, ip));
        }
        if let Some((d, other)) = twin {
            cx.raise(
                Category::DhtSybil,
                &format!("network {}", net::net_name(netw)),
                || "DHT Sybil: node ids differing in a few bytes from one network".into(),
                Severity::Medium,
                || format!("near_twin_bytes = {}", t.near_twin_bytes),
                Detection {
                    source: Some(ip),
                    target: Some(other),
                    flow: Some(flow_name(Proto::Udp, p.src, p.dst)),
                    infohash: target.map(|h| hex(&h)),
                    measured: vec![("differing_bytes", f64::from(d))],
                },
            );
        }
    }

    /// An info-hash looked up by a querier with id `querier`.
    fn lookup(&mut self, target: Id, querier: Id, cx: &mut Ctx<'_>, p: &TapPacket<'_>) {
        if !self.lookups.contains_key(&target) {
            if self.lookups.len() >= self.cap
                && let Some(old) = self.lookup_order.pop_front()
            {
                self.lookups.remove(&old);
                self.evicted += 1;
            }
            self.lookups.insert(target, Lookup::default());
            self.lookup_order.push_back(target);
            // Ids seen before the lookup count too.
            let (lo, hi) = prefix_range(&target, cx.t.dht_eclipse_bits);
            let near: Vec<(Id, IpAddr)> = self
                .recent
                .range(lo..=hi)
                .map(|(k, v)| (*k, *v))
                .take(MAX_CLOSE)
                .collect();
            if let Some(l) = self.lookups.get_mut(&target) {
                l.queriers.push(querier);
            }
            for (id, ip) in near {
                self.seen_id(id, ip, cx, p);
            }
            return;
        }
        if let Some(l) = self.lookups.get_mut(&target) {
            if l.queriers.len() < MAX_QUERIERS && !l.queriers.contains(&querier) {
                l.queriers.push(querier);
            }
            l.close.retain(|(id, _, _)| *id != querier);
        }
    }

    /// An id seen with an address (a sender's own, or in a `nodes` list): is it next to a
    /// looked-up info-hash?
    fn seen_id(&mut self, id: Id, ip: IpAddr, cx: &mut Ctx<'_>, p: &TapPacket<'_>) {
        let t = cx.t;
        let bits = t.dht_eclipse_bits.min(160);
        let (lo, hi) = prefix_range(&id, bits);
        let hit: Vec<Id> = self
            .lookups
            .range(lo..=hi)
            .map(|(k, _)| *k)
            .take(4)
            .collect();
        for target in hit {
            let Some(l) = self.lookups.get_mut(&target) else {
                continue;
            };
            if l.queriers.contains(&id) || l.close.iter().any(|(c, _, _)| *c == id) {
                continue;
            }
            let common = net::common_bits(&id, &target);
            if l.close.len() < MAX_CLOSE {
                l.close.push((id, common, ip));
            }
            let nets: HashSet<IpAddr> = l.close.iter().map(|(_, _, a)| net::net24(*a)).collect();
            let closest = l.close.iter().map(|(_, b, _)| *b).max().unwrap_or(0);
            let gathered = l.close.len() as u32 >= t.dht_eclipse_min_ids
                && nets.len() as u32 <= t.dht_eclipse_max_nets;
            if !gathered && closest < t.dht_eclipse_any_bits {
                continue;
            }
            let measured = vec![
                ("close_ids", l.close.len() as f64),
                ("networks", nets.len() as f64),
                ("closest_bits", f64::from(closest)),
            ];
            cx.raise(
                Category::DhtEclipse,
                &format!("infohash {}", hex(&target)),
                || "DHT eclipse: node ids gathered next to a looked-up info-hash".into(),
                Severity::High,
                || {
                    format!(
                        "dht_eclipse_min_ids = {} ids sharing dht_eclipse_bits = {} leading bits \
                         from at most dht_eclipse_max_nets = {} /24s, or one sharing \
                         dht_eclipse_any_bits = {}",
                        t.dht_eclipse_min_ids,
                        t.dht_eclipse_bits,
                        t.dht_eclipse_max_nets,
                        t.dht_eclipse_any_bits
                    )
                },
                Detection {
                    source: Some(ip),
                    target: Some(p.dst.ip()),
                    flow: Some(flow_name(Proto::Udp, p.src, p.dst)),
                    infohash: Some(hex(&target)),
                    measured,
                },
            );
        }
    }
}

/// The window of `ip`, restarted when older than the configured length.
fn window<'a>(w: &'a mut Table<IpAddr, Window>, ip: IpAddr, cx: &Ctx<'_>) -> &'a mut Window {
    let len = i64::from(cx.t.dht_rate_window_s.max(1));
    let now = cx.now_s;
    let e = w.entry(ip, || Window {
        start_s: now,
        ..Window::default()
    });
    if now < e.start_s || now - e.start_s >= len {
        *e = Window {
            start_s: now,
            ..Window::default()
        };
    }
    e
}

/// The ids sharing the first `bits` bits of `id`: the lowest and the highest.
fn prefix_range(id: &Id, bits: u32) -> (Id, Id) {
    let mut lo = *id;
    let mut hi = *id;
    for i in 0..160u32 {
        if i >= bits {
            let (byte, bit) = ((i / 8) as usize, 7 - (i % 8));
            lo[byte] &= !(1 << bit);
            hi[byte] |= 1 << bit;
        }
    }
    (lo, hi)
}
