//! Peer lists (`peer-list-poisoning`): the peers a tracker reply, a DHT `values` reply or a
//! PEX message names. One list is poisoned when it names bogons, or packs
//! [`Thresholds::peers_per_net`] peers into one /24 (/48); an ip:port is recycled when lists
//! name it for [`Thresholds::peer_torrents_per_endpoint`] different torrents; and the peers of
//! one sender are dead when connection attempts to [`Thresholds::unanswered_peers`] of them go
//! unanswered for [`ATTEMPT_S`] while at most a tenth of those tried answer.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use bt::utp::{Header, Type};
use engine::{Source, TapPacket};

use crate::alerts::{Detection, Severity};
use crate::monitor::{Ctx, flow_name};
use crate::table::Table;
use crate::utp::hex;
use crate::{Category, Thresholds, net};

/// Seconds a connection attempt to a listed peer waits for an answer.
pub const ATTEMPT_S: i64 = 10;

type Hash = [u8; 20];

#[derive(Debug)]
struct Listed {
    /// Who named it, for which torrent.
    by: IpAddr,
    hash: Option<Hash>,
    attempted_s: Option<i64>,
    answered: bool,
    judged: bool,
}

#[derive(Debug, Default)]
struct Tally {
    answered: u32,
    dead: u32,
}

#[derive(Debug)]
pub(crate) struct Peers {
    /// Torrents each endpoint was listed for.
    torrents: Table<SocketAddr, Vec<Hash>>,
    listed: Table<SocketAddr, Listed>,
    tally: Table<IpAddr, Tally>,
    /// Connection attempts in the order they were made, to judge when their time is up.
    waiting: VecDeque<(i64, SocketAddr)>,
    waiting_evicted: u64,
    cap: usize,
}

fn is_list(s: Source) -> bool {
    matches!(
        s,
        Source::TrackerHttp | Source::TrackerUdp | Source::DhtValues | Source::Pex
    )
}

impl Peers {
    pub fn new(t: &Thresholds) -> Peers {
        let cap = t.max_state as usize;
        Peers {
            torrents: Table::new(cap),
            listed: Table::new(cap),
            tally: Table::new(cap),
            waiting: VecDeque::new(),
            waiting_evicted: 0,
            cap: cap.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.torrents.len() + self.listed.len() + self.tally.len() + self.waiting.len()
    }

    pub fn evicted(&self) -> u64 {
        self.torrents.evicted + self.listed.evicted + self.tally.evicted + self.waiting_evicted
    }

    /// The peers a packet named; and whether it answers a connection attempt to one, or
    /// makes one (TCP: a SYN).
    pub fn packet(&mut self, p: &TapPacket<'_>, cx: &mut Ctx<'_>) {
        if !self.listed.is_empty() {
            if let Some(l) = self.listed.get_mut(&p.src) {
                l.answered = true;
            }
            let syn = p.tcp.is_some_and(|t| {
                t.flags & (wire::tcp::flags::SYN | wire::tcp::flags::ACK) == wire::tcp::flags::SYN
            });
            if syn {
                self.attempt(p.dst, cx.now_s);
            }
        }
        let lists = p.facts.learned.iter().filter(|l| is_list(l.source));
        if lists.clone().next().is_none() {
            return;
        }
        let t = cx.t;
        let mut per_net: HashMap<IpAddr, u32> = HashMap::new();
        let mut bogons: Vec<SocketAddr> = Vec::new();
        let mut hash = None;
        let mut source = Source::Pex;
        let mut recycled: Option<(SocketAddr, usize)> = None;
        let mut count = 0u32;
        for l in lists {
            count += 1;
            source = l.source;
            let h = l.hash.map(|h| h.0);
            hash = hash.or(h);
            if net::is_bogon(l.addr.ip()) || l.addr.port() == 0 {
                if bogons.len() < 16 {
                    bogons.push(l.addr);
                }
                continue;
            }
            *per_net.entry(net::net24(l.addr.ip())).or_default() += 1;
            if let Some(h) = h {
                let v = self.torrents.entry(l.addr, Vec::new);
                if !v.contains(&h) && (v.len() as u32) < t.peer_torrents_per_endpoint.max(1) {
                    v.push(h);
                    if v.len() as u32 >= t.peer_torrents_per_endpoint {
                        recycled = Some((l.addr, v.len()));
                    }
                }
            }
            if l.addr.ip() != p.src.ip() {
                self.listed.entry(l.addr, || Listed {
                    by: p.src.ip(),
                    hash: h,
                    attempted_s: None,
                    answered: false,
                    judged: false,
                });
            }
        }
        let (packed_net, packed) = per_net
            .iter()
            .max_by_key(|(n, c)| (**c, **n))
            .map_or((None, 0), |(n, c)| (Some(*n), *c));
        let packed_hit = packed >= t.peers_per_net;
        if !bogons.is_empty() || packed_hit {
            let what = if bogons.is_empty() {
                format!(
                    "{packed} peers of one list in {}",
                    packed_net.map(net::net_name).unwrap_or_default()
                )
            } else {
                format!("bogon peers ({})", bogons[0])
            };
            cx.raise(
                Category::PeerListPoisoning,
                &format!("list from {}", p.src.ip()),
                || format!("Poisoned peer list ({}): {what}", source.as_str()),
                Severity::Medium,
                || {
                    format!(
                        "any bogon peer, or peers_per_net = {} in one /24",
                        t.peers_per_net
                    )
                },
                Detection {
                    source: Some(p.src.ip()),
                    target: Some(p.dst.ip()),
                    flow: Some(flow_name(p.proto, p.src, p.dst)),
                    infohash: hash.map(|h| hex(&h)),
                    measured: vec![
                        ("peers", f64::from(count)),
                        ("bogons", bogons.len() as f64),
                        ("max_per_net", f64::from(packed)),
                    ],
                },
            );
        }
        if let Some((ep, n)) = recycled {
            cx.raise(
                Category::PeerListPoisoning,
                &format!("endpoint {ep}"),
                || "Poisoned peer lists: one ip:port listed for many torrents".into(),
                Severity::Low,
                || {
                    format!(
                        "peer_torrents_per_endpoint = {}",
                        t.peer_torrents_per_endpoint
                    )
                },
                Detection {
                    source: Some(p.src.ip()),
                    target: Some(ep.ip()),
                    flow: Some(flow_name(p.proto, p.src, p.dst)),
                    infohash: hash.map(|h| hex(&h)),
                    measured: vec![("torrents", n as f64)],
                },
            );
        }
    }

    /// A uTP SYN is a connection attempt too.
    pub fn attempt_utp(&mut self, h: &Header<'_>, to: SocketAddr, now_s: i64) {
        if h.kind() == Type::Syn && !self.listed.is_empty() {
            self.attempt(to, now_s);
        }
    }

    /// Attempts still waiting are forgotten (the end of a run, or of a clock epoch).
    pub fn forget_waits(&mut self) {
        self.waiting.clear();
    }

    fn attempt(&mut self, to: SocketAddr, now_s: i64) {
        if let Some(l) = self.listed.get_mut(&to)
            && l.attempted_s.is_none()
        {
            l.attempted_s = Some(now_s);
            if self.waiting.len() >= self.cap {
                self.waiting.pop_front();
                self.waiting_evicted += 1;
            }
            self.waiting.push_back((now_s, to));
        }
    }

    pub fn sweep(&mut self, cx: &mut Ctx<'_>) {
        self.expire_all(cx, cx.now_s);
    }

    /// Judges attempts that waited long enough (all of them at the end of a run), in the
    /// order they were made.
    pub fn expire_all(&mut self, cx: &mut Ctx<'_>, now_s: i64) {
        let mut judged: Vec<(IpAddr, bool, Option<Hash>, SocketAddr)> = Vec::new();
        while let Some(&(at, addr)) = self.waiting.front() {
            if now_s - at < ATTEMPT_S {
                break;
            }
            self.waiting.pop_front();
            if let Some(l) = self.listed.get_mut(&addr)
                && !l.judged
                && l.attempted_s == Some(at)
            {
                l.judged = true;
                judged.push((l.by, l.answered, l.hash, addr));
            }
        }
        let t = cx.t;
        for (by, answered, hash, addr) in judged {
            let tally = self.tally.entry(by, Tally::default);
            if answered {
                tally.answered = tally.answered.saturating_add(1);
                continue;
            }
            tally.dead = tally.dead.saturating_add(1);
            if tally.dead >= t.unanswered_peers && tally.answered.saturating_mul(9) <= tally.dead {
                let (dead, ok) = (tally.dead, tally.answered);
                cx.raise(
                    Category::PeerListPoisoning,
                    &format!("dead lists from {by}"),
                    || "Poisoned peer lists: the peers they name never answer".into(),
                    Severity::Low,
                    || {
                        format!(
                            "unanswered_peers = {} tried peers silent for {ATTEMPT_S} s, \
                             at most 1 in 10 answering",
                            t.unanswered_peers
                        )
                    },
                    Detection {
                        source: Some(by),
                        target: Some(addr.ip()),
                        flow: None,
                        infohash: hash.map(|h| hex(&h)),
                        measured: vec![
                            ("unanswered", f64::from(dead)),
                            ("answered", f64::from(ok)),
                        ],
                    },
                );
            }
        }
    }
}
