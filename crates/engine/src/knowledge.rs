//! Endpoints learned from payloads: peers announced by trackers, DHT `values` and nodes,
//! LSD announces, a client's own announced listen port, and the listening ends of confirmed
//! peer flows — each with the info-hashes it was learned for, where from and when.
//!
//! Kept per run, bounded, least recently confirmed entries evicted first. The detectors of
//! encrypted traffic use it to recognise flows to endpoints the swarm itself announced.

use std::net::SocketAddr;

use bt::InfoHash;

use crate::lru::Lru;

/// Where an endpoint was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Peers in an HTTP tracker reply.
    TrackerHttp,
    /// Peers in a UDP tracker reply.
    TrackerUdp,
    /// Peers in a DHT `get_peers` reply (`values`).
    DhtValues,
    /// DHT nodes (`nodes`, `nodes6`, and every KRPC sender).
    DhtNodes,
    /// The sender of a DHT `announce_peer`, at the port it announced.
    DhtAnnounce,
    /// An LSD announce's sender and `Port:`.
    Lsd,
    /// A client's own listen port from a tracker announce (`port=`).
    Announce,
    /// The listening end(s) of a flow that carried a peer wire handshake or uTP.
    PeerFlow,
}

impl Source {
    pub const ALL: [Source; 8] = [
        Source::TrackerHttp,
        Source::TrackerUdp,
        Source::DhtValues,
        Source::DhtNodes,
        Source::DhtAnnounce,
        Source::Lsd,
        Source::Announce,
        Source::PeerFlow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::TrackerHttp => "tracker-http",
            Source::TrackerUdp => "tracker-udp",
            Source::DhtValues => "dht-values",
            Source::DhtNodes => "dht-nodes",
            Source::DhtAnnounce => "dht-announce",
            Source::Lsd => "lsd",
            Source::Announce => "announce",
            Source::PeerFlow => "peer-flow",
        }
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
    sources: u8,
    pub infohashes: Vec<InfoHash>,
}

impl Endpoint {
    pub fn has(&self, s: Source) -> bool {
        self.sources & (1 << s as u8) != 0
    }

    pub fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        Source::ALL.into_iter().filter(|s| self.has(*s))
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
    pub by_source: [u64; 8],
}

/// The bounded store of learned endpoints.
#[derive(Debug)]
pub struct Knowledge {
    map: Lru<SocketAddr, Endpoint, 1>,
    stats: KnowledgeStats,
}

impl Knowledge {
    pub fn new(capacity: usize) -> Self {
        Knowledge {
            map: Lru::new(capacity),
            stats: KnowledgeStats::default(),
        }
    }

    /// Records that `addr` is a BitTorrent endpoint (for `hash`, if known) per `source`.
    pub fn learn(&mut self, addr: SocketAddr, hash: Option<InfoHash>, source: Source, now_ns: i64) {
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return;
        }
        self.stats.learned += 1;
        self.stats.by_source[source as usize] += 1;
        let h = match self.map.find(&addr) {
            Some(h) => {
                self.map.touch(h);
                h
            }
            None => {
                if self.map.is_full()
                    && let Some(old) = self.map.oldest(0)
                {
                    self.map.remove(old);
                    self.stats.evicted += 1;
                }
                let e = Endpoint {
                    first_ns: now_ns,
                    ..Endpoint::default()
                };
                let Some(h) = self.map.insert(addr, e, 0) else {
                    return;
                };
                h
            }
        };
        if let Some((_, e)) = self.map.get_mut(h) {
            e.last_ns = e.last_ns.max(now_ns);
            e.sources |= 1 << source as u8;
            if let Some(hash) = hash
                && e.infohashes.len() < MAX_HASHES_PER_ENDPOINT
                && !e.infohashes.contains(&hash)
            {
                e.infohashes.push(hash);
            }
        }
    }

    /// What is known of `addr`.
    pub fn get(&self, addr: &SocketAddr) -> Option<&Endpoint> {
        self.map
            .find(addr)
            .and_then(|h| self.map.get(h))
            .map(|(_, e)| e)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn stats(&self) -> KnowledgeStats {
        self.stats
    }

    /// Every endpoint, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&SocketAddr, &Endpoint)> {
        self.map.iter().map(|(_, k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_merges_and_evicts() {
        let mut k = Knowledge::new(2);
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
        // a is older than b: c evicts a
        k.learn(c, None, Source::Lsd, 40);
        assert!(k.get(&a).is_none());
        assert_eq!(k.stats().evicted, 1);
        assert_eq!(k.len(), 2);
        // port 0 is never an endpoint
        k.learn("10.77.0.9:0".parse().unwrap(), None, Source::Lsd, 50);
        assert_eq!(k.stats().learned, 4);
    }
}
