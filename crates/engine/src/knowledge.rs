//! What the swarm told about itself: endpoints learned from payloads, and hosts seen speaking
//! BitTorrent.
//!
//! **Endpoints** come from tracker replies (HTTP and UDP, compact and dictionary peers, IPv4
//! and IPv6), DHT `values`, `nodes`/`nodes6` and every KRPC sender, LSD announces, peer
//! exchange, a client's own announced listen port (tracker `port=`, DHT `announce_peer`, the
//! extension handshake's `p`), and the listening ends of confirmed peer connections — each with
//! the info-hashes it was learned for, where from and when.
//!
//! **Hosts** record on which ports an address was seen speaking DHT, uTP or peer wire (a client
//! uses one port for all three), whether it took part in BitTorrent at all, and about how many
//! distinct peers it had.
//!
//! Both are bounded (least recently confirmed evicted first) and time-limited: an entry not
//! confirmed for [`Knowledge::ttl_ns`] of capture time is no longer used. Detectors of
//! encrypted traffic consult them to tell a BitTorrent MSE/PE handshake from look-alikes.

use std::net::{IpAddr, SocketAddr};

use bt::InfoHash;

use crate::flow::Kind;
use crate::lru::Lru;

pub use crate::detect::Source;

impl Source {
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// Info-hashes kept per endpoint.
pub const MAX_HASHES_PER_ENDPOINT: usize = 8;

/// What is known of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub first_ns: i64,
    pub last_ns: i64,
    /// Bit set of [`Source`]s.
    sources: u16,
    pub infohashes: Vec<InfoHash>,
}

impl Endpoint {
    pub fn has(&self, s: Source) -> bool {
        self.sources & s.bit() != 0
    }

    pub fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        Source::ALL.into_iter().filter(|s| self.has(*s))
    }

    /// Whether any source names it as a peer's listening endpoint.
    pub fn is_peer(&self) -> bool {
        self.sources().any(Source::is_peer)
    }
}

/// Ports per host remembered.
pub const MAX_PORTS_PER_HOST: usize = 8;

/// What is known of one host (address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub first_ns: i64,
    pub last_ns: i64,
    /// (port, bit set of kinds seen on it, when last seen on it).
    ports: Vec<(u16, u8, i64)>,
    /// Linear-counting bitmap of the distinct peers it had (1024 bits).
    peers: [u64; 16],
}

impl Host {
    fn new(now: i64) -> Host {
        Host {
            first_ns: now,
            last_ns: now,
            ports: Vec::new(),
            peers: [0; 16],
        }
    }

    /// Whether it was seen speaking BitTorrent (DHT, uTP or peer wire) on `port` within
    /// `ttl_ns` before `now_ns`.
    pub fn speaks_on(&self, port: u16, now_ns: i64, ttl_ns: i64) -> bool {
        self.ports
            .iter()
            .any(|&(p, k, t)| p == port && k != 0 && now_ns.saturating_sub(t) <= ttl_ns)
    }

    /// Whether it was ever seen speaking BitTorrent on `port`.
    pub fn speaks_on_any_time(&self, port: u16) -> bool {
        self.ports.iter().any(|&(p, k, _)| p == port && k != 0)
    }

    /// The ports it was seen speaking BitTorrent on, with the kinds.
    pub fn ports(&self) -> impl Iterator<Item = (u16, impl Iterator<Item = Kind>)> + '_ {
        self.ports.iter().map(|&(p, k, _)| {
            (
                p,
                Kind::ALL
                    .into_iter()
                    .filter(move |x| k & (1 << *x as u8) != 0),
            )
        })
    }

    /// About how many distinct peers it had (linear counting: within a few percent up to a few
    /// hundred, saturating near 7,000).
    pub fn distinct_peers(&self) -> u32 {
        let zeros: u32 = self.peers.iter().map(|w| w.count_zeros()).sum();
        if zeros == 0 {
            return 7_100;
        }
        let m = 1024f64;
        (-m * (f64::from(zeros) / m).ln()).round() as u32
    }
}

/// Counters of the knowledge store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KnowledgeStats {
    /// Facts recorded (an endpoint learned again counts again).
    pub learned: u64,
    /// Endpoints evicted to stay within capacity.
    pub evicted: u64,
    /// Facts per source, in [`Source::ALL`] order.
    pub by_source: [u64; Source::ALL.len()],
    /// Hosts evicted to stay within capacity.
    pub hosts_evicted: u64,
    /// Facts not journaled because the journal was full.
    pub journal_lost: u64,
    /// DHT searches evicted to stay within capacity.
    pub searches_evicted: u64,
}

/// One fact recorded in the store, as passed between engines that share what they learn
/// (the inline path runs one engine per worker thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// See [`Knowledge::learn`].
    Endpoint {
        addr: SocketAddr,
        hash: Option<InfoHash>,
        source: Source,
        at_ns: i64,
    },
    /// See [`Knowledge::note_host`].
    Host {
        ip: IpAddr,
        port: u16,
        kind: Kind,
        peer: Option<IpAddr>,
        at_ns: i64,
    },
    /// See [`Knowledge::note_search`].
    Search {
        querier: IpAddr,
        target: InfoHash,
        announced: bool,
        at_ns: i64,
    },
    /// See [`Knowledge::note_relay`].
    Relay {
        relay: SocketAddr,
        client: IpAddr,
        at_ns: i64,
    },
    /// See [`Knowledge::learn_remote`].
    Remote {
        tag: Tag,
        hash: Option<InfoHash>,
        source: Source,
        at_ns: i64,
    },
}

/// An endpoint's keyed tag: what another sensor learned of an endpoint, shared without its
/// address (see [`Knowledge::set_tagger`]).
pub type Tag = [u8; 16];

/// Gives an endpoint's tag at a capture time (under that time's key), or `None` when there
/// is no key for it.
#[derive(Clone)]
pub struct Tagger(std::sync::Arc<TagFn>);

/// What a [`Tagger`] calls.
type TagFn = dyn Fn(&SocketAddr, i64) -> Option<Tag> + Send + Sync;

impl Tagger {
    pub fn new(f: impl Fn(&SocketAddr, i64) -> Option<Tag> + Send + Sync + 'static) -> Tagger {
        Tagger(std::sync::Arc::new(f))
    }

    pub fn tag(&self, addr: &SocketAddr, at_ns: i64) -> Option<Tag> {
        (self.0)(addr, at_ns)
    }
}

impl std::fmt::Debug for Tagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tagger")
    }
}

/// A process's link to other sensors (sensors as one): where what its engines learn goes,
/// where what the others learned ([`Fact::Remote`]) comes from, and how its engines tag
/// endpoints to look those up.
#[derive(Debug)]
pub struct Exchange {
    pub learned: std::sync::mpsc::Sender<std::sync::Arc<Vec<Fact>>>,
    pub remote: std::sync::mpsc::Receiver<Vec<Fact>>,
    pub tagger: Tagger,
}

/// What is known of one DHT search: a querier's `get_peers` or `announce_peer` for a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Search {
    pub first_ns: i64,
    pub last_ns: i64,
    /// Flows (nodes) on which the querier sent a `get_peers` for it (saturating).
    pub nodes: u16,
    /// Whether the querier announced it (`announce_peer`).
    pub announced: bool,
}

/// A SOCKS5 UDP relay the proxy opened for a client (UDP ASSOCIATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relay {
    /// The proxy's client: datagrams between it and the relay carry a SOCKS UDP header.
    pub client: IpAddr,
    pub first_ns: i64,
    pub last_ns: i64,
}

/// SOCKS5 UDP relays remembered at most.
pub const MAX_RELAYS: usize = 4096;

/// Facts kept for [`Knowledge::take_journal`] at most between two takes (beyond, they are
/// counted and lost: sharing is best-effort, the store itself is unaffected).
pub const MAX_JOURNAL: usize = 1 << 16;

/// The bounded, time-limited store of endpoints and hosts.
#[derive(Debug)]
pub struct Knowledge {
    map: Lru<SocketAddr, Endpoint, 1>,
    hosts: Lru<IpAddr, Host, 1>,
    searches: Lru<(IpAddr, InfoHash), Search, 1>,
    relays: Lru<SocketAddr, Relay, 1>,
    stats: KnowledgeStats,
    /// Capture time after which an unconfirmed entry is no longer used.
    pub ttl_ns: i64,
    /// Facts recorded since the last take, when journaling.
    journal: Option<Vec<Fact>>,
    /// What other sensors learned, by tag, and how this one tags an endpoint.
    remote: Lru<Tag, Endpoint, 1>,
    tagger: Option<Tagger>,
}

/// Adds what `source` said of an endpoint to its entry in `map` (made, evicting the oldest
/// if need be); returns the entries evicted.
fn merge<K: std::hash::Hash + Eq>(
    map: &mut Lru<K, Endpoint, 1>,
    key: K,
    hash: Option<InfoHash>,
    source: Source,
    now_ns: i64,
) -> u64 {
    let mut evicted = 0;
    let h = match map.find(&key) {
        Some(h) => {
            map.touch(h);
            h
        }
        None => {
            if map.is_full()
                && let Some(old) = map.oldest(0)
            {
                map.remove(old);
                evicted += 1;
            }
            let e = Endpoint {
                first_ns: now_ns,
                ..Endpoint::default()
            };
            let Some(h) = map.insert(key, e, 0) else {
                return evicted;
            };
            h
        }
    };
    if let Some((_, e)) = map.get_mut(h) {
        e.last_ns = e.last_ns.max(now_ns);
        e.sources |= source.bit();
        if let Some(hash) = hash
            && e.infohashes.len() < MAX_HASHES_PER_ENDPOINT
            && !e.infohashes.contains(&hash)
        {
            e.infohashes.push(hash);
        }
    }
    evicted
}

impl Knowledge {
    pub fn new(capacity: usize, ttl_ns: i64) -> Self {
        Knowledge {
            map: Lru::new(capacity),
            hosts: Lru::new(capacity),
            searches: Lru::new(capacity),
            relays: Lru::new(MAX_RELAYS),
            stats: KnowledgeStats::default(),
            ttl_ns,
            journal: None,
            remote: Lru::new(capacity),
            tagger: None,
        }
    }

    /// How to tag an endpoint, so that what other sensors learned of it ([`Fact::Remote`])
    /// is found when it is not known here.
    pub fn set_tagger(&mut self, tagger: Option<Tagger>) {
        self.tagger = tagger;
    }

    /// Starts (or stops) keeping a journal of the facts recorded, for other engines.
    pub fn set_journal(&mut self, on: bool) {
        self.journal = on.then(Vec::new);
    }

    /// The facts recorded since the last take (empty when not journaling).
    pub fn take_journal(&mut self) -> Vec<Fact> {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Records a fact another engine learned (not journaled again).
    pub fn apply(&mut self, fact: &Fact) {
        let journal = self.journal.take();
        match *fact {
            Fact::Endpoint {
                addr,
                hash,
                source,
                at_ns,
            } => self.learn(addr, hash, source, at_ns),
            Fact::Host {
                ip,
                port,
                kind,
                peer,
                at_ns,
            } => self.note_host(ip, port, kind, peer, at_ns),
            Fact::Search {
                querier,
                target,
                announced,
                at_ns,
            } => self.note_search(querier, target, announced, at_ns),
            Fact::Relay {
                relay,
                client,
                at_ns,
            } => self.note_relay(relay, client, at_ns),
            Fact::Remote {
                tag,
                hash,
                source,
                at_ns,
            } => self.learn_remote(tag, hash, source, at_ns),
        }
        self.journal = journal;
    }

    fn record(&mut self, fact: Fact) {
        if let Some(j) = self.journal.as_mut() {
            // A relay is never lost: without it, another engine would read the relay's
            // datagrams as a flow of its own.
            if j.len() < MAX_JOURNAL || matches!(fact, Fact::Relay { .. }) {
                j.push(fact);
            } else {
                self.stats.journal_lost += 1;
            }
        }
    }

    /// Records that `addr` is a BitTorrent endpoint (for `hash`, if known) per `source`.
    pub fn learn(&mut self, addr: SocketAddr, hash: Option<InfoHash>, source: Source, now_ns: i64) {
        if addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_multicast() {
            return;
        }
        self.record(Fact::Endpoint {
            addr,
            hash,
            source,
            at_ns: now_ns,
        });
        self.stats.learned += 1;
        self.stats.by_source[source as usize] += 1;
        self.stats.evicted += merge(&mut self.map, addr, hash, source, now_ns);
    }

    /// Records what another sensor learned of the endpoint tagged `tag` (journaled, for this
    /// sensor's other engines).
    pub fn learn_remote(&mut self, tag: Tag, hash: Option<InfoHash>, source: Source, now_ns: i64) {
        self.record(Fact::Remote {
            tag,
            hash,
            source,
            at_ns: now_ns,
        });
        self.stats.evicted += merge(&mut self.remote, tag, hash, source, now_ns);
    }

    /// What other sensors learned of `addr` (tagged as at `at_ns`), whatever its age.
    fn get_remote(&self, addr: &SocketAddr, at_ns: i64) -> Option<&Endpoint> {
        if self.remote.is_empty() {
            return None; // no HMAC for nothing
        }
        let tag = self.tagger.as_ref()?.tag(addr, at_ns)?;
        self.remote
            .find(&tag)
            .and_then(|h| self.remote.get(h))
            .map(|(_, e)| e)
    }

    /// What is known of `addr`, whatever its age.
    pub fn get(&self, addr: &SocketAddr) -> Option<&Endpoint> {
        self.map
            .find(addr)
            .and_then(|h| self.map.get(h))
            .map(|(_, e)| e)
    }

    /// What was known of `addr` at `now_ns`: learned by then and confirmed within the time
    /// limit before.
    pub fn endpoint(&self, addr: &SocketAddr, now_ns: i64) -> Option<&Endpoint> {
        let fresh =
            |e: &&Endpoint| e.first_ns <= now_ns && now_ns.saturating_sub(e.last_ns) <= self.ttl_ns;
        self.get(addr)
            .filter(fresh)
            .or_else(|| self.get_remote(addr, now_ns).filter(fresh))
    }

    /// What is known of `addr` around a flow from `first_ns` to `last_ns`: confirmed no more
    /// than the time limit before the flow began, and first learned no more than the time
    /// limit after it ended (an announcement may follow the connection).
    pub fn endpoint_around(
        &self,
        addr: &SocketAddr,
        first_ns: i64,
        last_ns: i64,
    ) -> Option<&Endpoint> {
        let near = |e: &&Endpoint| {
            e.last_ns >= first_ns.saturating_sub(self.ttl_ns)
                && e.first_ns <= last_ns.saturating_add(self.ttl_ns)
        };
        self.get(addr)
            .filter(near)
            .or_else(|| self.get_remote(addr, first_ns).filter(near))
    }

    /// Records that `ip` took part in BitTorrent, speaking `kind` on `port` (port 0: an
    /// ephemeral port, not recorded), and that `peer` was one of its peers.
    pub fn note_host(
        &mut self,
        ip: IpAddr,
        port: u16,
        kind: Kind,
        peer: Option<IpAddr>,
        now_ns: i64,
    ) {
        if ip.is_unspecified() || ip.is_multicast() {
            return;
        }
        self.record(Fact::Host {
            ip,
            port,
            kind,
            peer,
            at_ns: now_ns,
        });
        let h = match self.hosts.find(&ip) {
            Some(h) => {
                self.hosts.touch(h);
                h
            }
            None => {
                if self.hosts.is_full()
                    && let Some(old) = self.hosts.oldest(0)
                {
                    self.hosts.remove(old);
                    self.stats.hosts_evicted += 1;
                }
                let Some(h) = self.hosts.insert(ip, Host::new(now_ns), 0) else {
                    return;
                };
                h
            }
        };
        if let Some((_, host)) = self.hosts.get_mut(h) {
            host.last_ns = host.last_ns.max(now_ns);
            if port != 0 {
                let bit = 1u8 << kind as u8;
                if let Some((_, k, t)) = host.ports.iter_mut().find(|(p, _, _)| *p == port) {
                    *k |= bit;
                    *t = (*t).max(now_ns);
                } else if host.ports.len() < MAX_PORTS_PER_HOST {
                    host.ports.push((port, bit, now_ns));
                } else if let Some(old) = host.ports.iter_mut().min_by_key(|(_, _, t)| *t) {
                    // Full: the port seen longest ago gives way.
                    *old = (port, bit, now_ns);
                }
            }
            if let Some(peer) = peer {
                let bit = (fold(peer) % 1024) as usize;
                host.peers[bit / 64] |= 1 << (bit % 64);
            }
        }
    }

    /// Records a DHT search by `querier` for `target`: a `get_peers` sent on one more flow,
    /// or (`announced`) an `announce_peer`.
    pub fn note_search(&mut self, querier: IpAddr, target: InfoHash, announced: bool, now_ns: i64) {
        self.record(Fact::Search {
            querier,
            target,
            announced,
            at_ns: now_ns,
        });
        let key = (querier, target);
        let h = match self.searches.find(&key) {
            Some(h) => {
                self.searches.touch(h);
                h
            }
            None => {
                if self.searches.is_full()
                    && let Some(old) = self.searches.oldest(0)
                {
                    self.searches.remove(old);
                    self.stats.searches_evicted += 1;
                }
                let s = Search {
                    first_ns: now_ns,
                    last_ns: now_ns,
                    ..Search::default()
                };
                let Some(h) = self.searches.insert(key, s, 0) else {
                    return;
                };
                h
            }
        };
        if let Some((_, s)) = self.searches.get_mut(h) {
            s.last_ns = s.last_ns.max(now_ns);
            if announced {
                s.announced = true;
            } else {
                s.nodes = s.nodes.saturating_add(1);
            }
        }
    }

    /// What is known of `querier`'s searches for `target`, whatever their age.
    pub fn search(&self, querier: &IpAddr, target: &InfoHash) -> Option<&Search> {
        let h = self.searches.find(&(*querier, *target))?;
        self.searches.get(h).map(|(_, s)| s)
    }

    /// Records that `relay` is a SOCKS5 UDP relay the proxy opened for `client`.
    pub fn note_relay(&mut self, relay: SocketAddr, client: IpAddr, now_ns: i64) {
        if relay.port() == 0 {
            return;
        }
        self.record(Fact::Relay {
            relay,
            client,
            at_ns: now_ns,
        });
        match self.relays.find(&relay) {
            Some(h) => {
                self.relays.touch(h);
                if let Some((_, r)) = self.relays.get_mut(h) {
                    r.client = client;
                    r.last_ns = r.last_ns.max(now_ns);
                }
            }
            None => {
                if self.relays.is_full()
                    && let Some(old) = self.relays.oldest(0)
                {
                    self.relays.remove(old);
                }
                let r = Relay {
                    client,
                    first_ns: now_ns,
                    last_ns: now_ns,
                };
                self.relays.insert(relay, r, 0);
            }
        }
    }

    /// The relay at `addr`, if one was announced (whatever its age: a relay lives as long as
    /// its control connection, which the capture may not show ending).
    #[inline]
    pub fn relay(&self, addr: &SocketAddr) -> Option<&Relay> {
        if self.relays.is_empty() {
            return None;
        }
        let h = self.relays.find(addr)?;
        self.relays.get(h).map(|(_, r)| r)
    }

    /// Whether any relay is known (the common path asks nothing more).
    #[inline]
    pub fn has_relays(&self) -> bool {
        !self.relays.is_empty()
    }

    /// What was known of host `ip` at `now_ns` (seen by then, within the time limit).
    pub fn host(&self, ip: &IpAddr, now_ns: i64) -> Option<&Host> {
        self.host_any_time(ip).filter(|host| {
            host.first_ns <= now_ns && now_ns.saturating_sub(host.last_ns) <= self.ttl_ns
        })
    }

    /// Whether host `ip` was seen around a flow from `first_ns` to `last_ns` (see
    /// [`Knowledge::endpoint_around`]), and whether it spoke on `port` then.
    pub fn host_in(&self, ip: &IpAddr, port: u16, first_ns: i64, last_ns: i64) -> Option<bool> {
        self.host_any_time(ip)
            .filter(|h| {
                h.last_ns >= first_ns.saturating_sub(self.ttl_ns)
                    && h.first_ns <= last_ns.saturating_add(self.ttl_ns)
            })
            .map(|h| h.speaks_on_any_time(port))
    }

    /// What is known of host `ip`, whatever its age.
    pub fn host_any_time(&self, ip: &IpAddr) -> Option<&Host> {
        self.hosts
            .find(ip)
            .and_then(|h| self.hosts.get(h))
            .map(|(_, host)| host)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes its tables hold on the heap (entries inline; not the info-hash lists they point to).
    pub fn heap_bytes(&self) -> usize {
        self.map.heap_bytes()
            + self.hosts.heap_bytes()
            + self.searches.heap_bytes()
            + self.relays.heap_bytes()
            + self.remote.heap_bytes()
    }

    pub fn hosts_len(&self) -> usize {
        self.hosts.len()
    }

    pub fn stats(&self) -> KnowledgeStats {
        self.stats
    }

    /// Every endpoint, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&SocketAddr, &Endpoint)> {
        self.map.iter().map(|(_, k, v)| (k, v))
    }

    /// Every host, in no particular order.
    pub fn hosts(&self) -> impl Iterator<Item = (&IpAddr, &Host)> {
        self.hosts.iter().map(|(_, k, v)| (k, v))
    }
}

/// A well-mixed 64-bit value of an address (for the peer-count bitmap; not a security
/// boundary: the bitmap only estimates a count).
fn fold(ip: IpAddr) -> u64 {
    let o = match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    };
    let (a, b) = o.split_at(8);
    let mut x = u64::from_le_bytes(a.try_into().unwrap_or([0; 8]))
        ^ u64::from_le_bytes(b.try_into().unwrap_or([0; 8])).rotate_left(29);
    // MurmurHash3's 64-bit finaliser.
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn learns_merges_and_evicts() {
        let mut k = Knowledge::new(2, HOUR);
        let a: SocketAddr = "10.77.0.1:6881".parse().unwrap();
        let b: SocketAddr = "10.77.0.2:6881".parse().unwrap();
        let c: SocketAddr = "10.77.0.3:6881".parse().unwrap();
        k.learn(a, Some(InfoHash([1; 20])), Source::DhtValues, 10);
        k.learn(a, Some(InfoHash([2; 20])), Source::TrackerHttp, 20);
        k.learn(b, None, Source::DhtNodes, 30);
        let e = k.get(&a).unwrap();
        assert_eq!((e.first_ns, e.last_ns), (10, 20));
        assert_eq!(e.infohashes.len(), 2);
        assert_eq!(
            e.sources().collect::<Vec<_>>(),
            vec![Source::TrackerHttp, Source::DhtValues]
        );
        assert!(e.is_peer());
        assert!(!k.get(&b).unwrap().is_peer(), "a DHT node only");
        // a is older than b: c evicts a
        k.learn(c, None, Source::Lsd, 40);
        assert!(k.get(&a).is_none());
        assert_eq!(k.stats().evicted, 1);
        assert_eq!(k.len(), 2);
        // port 0 is never an endpoint
        k.learn("10.77.0.9:0".parse().unwrap(), None, Source::Lsd, 50);
        assert_eq!(k.stats().learned, 4);
    }

    #[test]
    fn entries_age_out() {
        let mut k = Knowledge::new(8, HOUR);
        let a: SocketAddr = "10.77.0.1:6881".parse().unwrap();
        k.learn(a, None, Source::Pex, 0);
        assert!(k.endpoint(&a, HOUR).is_some());
        assert!(k.endpoint(&a, HOUR + 1).is_none());
        assert!(k.get(&a).is_some(), "kept, but no longer used");
        k.note_host(a.ip(), 6881, Kind::Dht, None, 0);
        assert!(k.host(&a.ip(), HOUR).unwrap().speaks_on(6881, HOUR, HOUR));
        assert!(k.host(&a.ip(), HOUR + 1).is_none());
        // knowledge from the future is not known yet
        k.learn(a, None, Source::Pex, 5 * HOUR);
        assert!(k.endpoint(&a, 4 * HOUR).is_some(), "first learned at 0");
        let b: SocketAddr = "10.77.0.2:6881".parse().unwrap();
        k.learn(b, None, Source::Pex, 5 * HOUR);
        assert!(k.endpoint(&b, 4 * HOUR).is_none());
        assert!(
            k.endpoint_around(&b, 3 * HOUR, 4 * HOUR).is_some(),
            "within an hour after the flow"
        );
        assert!(
            k.endpoint_around(&b, 0, HOUR).is_none(),
            "not three hours after"
        );
    }

    #[test]
    fn hosts_ports_and_peer_count() {
        let mut k = Knowledge::new(8, HOUR);
        let ip: IpAddr = "10.77.0.1".parse().unwrap();
        k.note_host(ip, 51413, Kind::Dht, None, 0);
        k.note_host(ip, 51413, Kind::PeerUtp, None, 0);
        k.note_host(ip, 0, Kind::PeerTcp, None, 0);
        for i in 0..200u8 {
            k.note_host(ip, 0, Kind::PeerTcp, Some(IpAddr::from([10, 77, 1, i])), 0);
        }
        let h = k.host(&ip, 0).unwrap();
        assert!(h.speaks_on(51413, 0, HOUR) && !h.speaks_on(6881, 0, HOUR));
        let kinds: Vec<Kind> = h.ports().next().unwrap().1.collect();
        assert_eq!(kinds, vec![Kind::PeerUtp, Kind::Dht]);
        let n = h.distinct_peers();
        assert!((180..=220).contains(&n), "estimate {n} of 200");
    }

    #[test]
    fn a_journal_carries_facts_to_another_store() {
        let mut a = Knowledge::new(8, HOUR);
        let mut b = Knowledge::new(8, HOUR);
        a.set_journal(true);
        b.set_journal(true);
        let peer: SocketAddr = "10.77.0.1:6881".parse().unwrap();
        a.learn(peer, Some(InfoHash([7; 20])), Source::TrackerHttp, 5);
        a.note_host(peer.ip(), 6881, Kind::Dht, None, 5);
        let facts = a.take_journal();
        assert_eq!(facts.len(), 2);
        assert!(a.take_journal().is_empty(), "taken");
        for f in &facts {
            b.apply(f);
        }
        assert_eq!(
            b.endpoint(&peer, 6).unwrap().infohashes,
            vec![InfoHash([7; 20])]
        );
        assert!(b.host(&peer.ip(), 6).unwrap().speaks_on(6881, 6, HOUR));
        assert!(
            b.take_journal().is_empty(),
            "applied facts are not journaled again"
        );
        // without a journal, nothing is kept
        let mut c = Knowledge::new(8, HOUR);
        c.learn(peer, None, Source::Pex, 1);
        assert!(c.take_journal().is_empty());
    }

    #[test]
    fn what_other_sensors_learned_is_found_by_tag() {
        // A stand-in for the keyed tag: the address and the hour (a key per hour).
        let tag_of = |a: &SocketAddr, t: i64| -> Option<Tag> {
            let mut tag = [0u8; 16];
            let s = format!("{a}@{}", t.div_euclid(HOUR));
            for (i, b) in s.bytes().enumerate() {
                tag[i % 16] ^= b;
            }
            Some(tag)
        };
        let peer: SocketAddr = "10.77.0.9:51413".parse().unwrap();
        let other: SocketAddr = "10.77.0.10:51413".parse().unwrap();
        let hash = InfoHash([7; 20]);
        let mut a = Knowledge::new(16, HOUR);
        a.set_journal(true);
        a.learn_remote(
            tag_of(&peer, 10).unwrap(),
            Some(hash),
            Source::TrackerHttp,
            10,
        );
        assert!(
            a.endpoint(&peer, 20).is_none(),
            "no tagger: nothing found by tag"
        );
        a.set_tagger(Some(Tagger::new(tag_of)));
        let e = a.endpoint(&peer, 20).unwrap();
        assert!(e.is_peer() && e.infohashes == vec![hash]);
        assert!(a.endpoint(&other, 20).is_none());
        assert!(
            a.endpoint(&peer, HOUR + 5).is_none(),
            "another hour, another key"
        );
        assert!(a.endpoint_around(&peer, 0, 30).is_some());
        // What is known here comes first.
        a.learn(peer, None, Source::DhtNodes, 30);
        assert!(!a.endpoint(&peer, 40).unwrap().is_peer());
        // The fact goes to this sensor's other engines like any other.
        let journal = a.take_journal();
        assert!(matches!(
            journal[0],
            Fact::Remote {
                source: Source::TrackerHttp,
                ..
            }
        ));
        let mut b = Knowledge::new(16, HOUR);
        b.set_tagger(Some(Tagger::new(tag_of)));
        for f in &journal {
            b.apply(f);
        }
        // Before its own fact (30), b finds the other sensor's.
        assert!(b.endpoint(&peer, 20).unwrap().has(Source::TrackerHttp));
    }
}
