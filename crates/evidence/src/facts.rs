//! Endpoints learned, shared between sensors through the store (schema 3).
//!
//! A sensor publishes what its engines learned of endpoints — the peers of a tracker reply,
//! DHT values, PEX, LSD — as *facts*: the endpoint's keyed tag (HMAC under the period key of
//! when it was learned, [`crate::pseudonym::Keyed::endpoint_tag`]), the info-hash, the source
//! and the time. The other sensors, which share the key file, poll the table every round and
//! give their engines each fact as [`engine::Fact::Remote`]; an engine that does not know a
//! flow's endpoint itself looks it up by tag. So an encrypted connection on one link is
//! attributed from a tracker reply seen on another (asymmetric routing), and the table holds
//! no address. Facts are hints, not evidence: each sensor deletes those older than
//! [`FACT_TTL_S`].
//!
//! Polling by id, with the ids skipped over remembered for a while: a PostgreSQL sequence
//! hands out ids before the transactions commit, so a later id may be seen before an earlier
//! one of a slower sensor.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bt::InfoHash;
use engine::{Fact, Source, Tag, Tagger};

use crate::store::Backend;
use crate::{Error, KeyRing};

/// Seconds a fact is kept and used.
pub const FACT_TTL_S: i64 = 3600;

/// A fact is published again at most once a minute (trackers and DHT repeat themselves).
const REPUBLISH_NS: i64 = 60 * 1_000_000_000;

/// Facts read per poll at most (the rest at the next).
const POLL_LIMIT: usize = 20_000;

/// How long an id skipped over is waited for (a transaction still committing).
const GAP_WAIT: Duration = Duration::from_secs(10);

/// Ids skipped over remembered at most.
const MAX_GAPS: usize = 1 << 16;

/// Ids skipped over asked for per read at most.
const GAPS_PER_READ: usize = 1024;

/// How long a statement on the store may take (PostgreSQL): a server that hangs pauses the
/// sharing, as one that is gone does.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Seconds between two attempts to reach the store again.
const RETRY: Duration = Duration::from_secs(5);

/// Published facts remembered (against publishing them again) at most.
const MAX_RECENT: usize = 1 << 18;

/// One fact as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFact {
    pub sensor: String,
    pub tag: Tag,
    pub infohash: Option<InfoHash>,
    pub source: Source,
    /// When it was learned (capture time, ns since the epoch).
    pub at_ns: i64,
}

/// The name a source is stored under.
pub fn source_name(s: Source) -> &'static str {
    s.as_str()
}

/// The source stored under `name`.
pub fn source_of(name: &str) -> Option<Source> {
    Source::ALL.iter().copied().find(|s| s.as_str() == name)
}

/// A fact read back from a store: `None` for a tag or info-hash of the wrong length or an
/// unknown source (written by a newer swarmwall, or damaged).
pub fn fact_of(
    sensor: String,
    tag: &[u8],
    infohash: Option<&[u8]>,
    source: &str,
    at_ns: i64,
) -> Option<SharedFact> {
    Some(SharedFact {
        sensor,
        tag: tag.try_into().ok()?,
        infohash: match infohash {
            Some(h) => Some(InfoHash::from_slice(h)?),
            None => None,
        },
        source: source_of(source)?,
        at_ns,
    })
}

/// What a sharer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ShareCounters {
    /// Facts this sensor published.
    pub published: u64,
    /// Facts of other sensors handed to the engines.
    pub received: u64,
    /// Facts not published (the store out of reach, or no key for their time).
    pub lost: u64,
    /// Rounds that failed (each says why once, until the store answers again).
    pub errors: u64,
    /// The delay of sharing: the largest age (ms, from when the other sensor learned it to
    /// when this one read it) of the newest fact a round read, among the facts learned since
    /// this sensor started (not those that were waiting for it).
    pub delay_ms_max: u64,
}

/// Publishes this sensor's endpoint facts and reads the others'.
pub struct Sharer {
    spec: String,
    store: Option<Box<dyn Backend>>,
    retry_at: Option<Instant>,
    tagger: Tagger,
    sensor: String,
    /// The highest id read, and the ids below it not seen yet (with when they were skipped).
    cursor: i64,
    gaps: BTreeMap<i64, Instant>,
    /// Facts learned before are not counted in the delay.
    started_ns: i64,
    recent: HashMap<(Tag, Option<InfoHash>, u16), i64>,
    last_prune: Option<Instant>,
    messages: Vec<String>,
    pub counters: ShareCounters,
}

impl std::fmt::Debug for Sharer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharer")
            .field("sensor", &self.sensor)
            .field("cursor", &self.cursor)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Sharer {
    /// Opens `spec` (a store of schema 3 or later) as `sensor`, tagging with the keys of `keys`
    /// from the period of `now_s` on.
    pub fn open(spec: &str, keys: &KeyRing, sensor: &str, now_s: i64) -> Result<Sharer, Error> {
        let store = crate::store::open_for_sharing(spec, STATEMENT_TIMEOUT)?;
        let mut s = Sharer::with_store(store, spec, crate::pseudonym::tagger(keys, now_s), sensor);
        s.started_ns = now_s.saturating_mul(1_000_000_000);
        Ok(s)
    }

    /// A sharer on an open store (reopened from `spec` after an error).
    pub fn with_store(store: Box<dyn Backend>, spec: &str, tagger: Tagger, sensor: &str) -> Self {
        Sharer {
            spec: spec.to_string(),
            store: Some(store),
            retry_at: None,
            tagger,
            sensor: sensor.to_string(),
            cursor: 0,
            gaps: BTreeMap::new(),
            started_ns: i64::MIN,
            recent: HashMap::new(),
            last_prune: None,
            messages: Vec::new(),
            counters: ShareCounters::default(),
        }
    }

    /// How this sensor's engines tag endpoints (the tags the facts carry).
    pub fn tagger(&self) -> Tagger {
        self.tagger.clone()
    }

    /// Lines for the operator (the store lost, found again) since the last call.
    pub fn take_messages(&mut self) -> Vec<String> {
        std::mem::take(&mut self.messages)
    }

    /// One round at `now_ns`: publishes the endpoint facts among `learned` (other facts are
    /// this sensor's own business), deletes facts past their time now and then, and returns
    /// what the other sensors published since the last round, as [`Fact::Remote`].
    pub fn exchange(&mut self, learned: &[Fact], now_ns: i64) -> Vec<Fact> {
        let out = self.outgoing(learned, now_ns);
        if self.store.is_none() {
            let reopened = if self.retry_at.is_some_and(|t| Instant::now() < t) {
                None
            } else {
                crate::store::open_for_sharing(&self.spec, STATEMENT_TIMEOUT).ok()
            };
            match reopened {
                Some(s) => {
                    self.store = Some(s);
                    self.messages
                        .push(format!("{}: sharing facts again", self.name()));
                }
                None => {
                    if self.retry_at.is_none_or(|t| Instant::now() >= t) {
                        self.retry_at = Some(Instant::now() + RETRY);
                    }
                    self.unpublished(&out);
                    return Vec::new();
                }
            }
        }
        if let Err(e) = self.publish(&out, now_ns) {
            self.unpublished(&out);
            self.failed(e);
            return Vec::new();
        }
        match self.read(now_ns) {
            Ok(got) => got,
            Err(e) => {
                self.failed(e);
                Vec::new()
            }
        }
    }

    /// Facts that could not be published: counted, and published when learned again.
    fn unpublished(&mut self, out: &[SharedFact]) {
        self.counters.lost += out.len() as u64;
        for f in out {
            self.recent.remove(&(f.tag, f.infohash, f.source as u16));
        }
    }

    fn failed(&mut self, e: Error) {
        self.counters.errors += 1;
        self.messages.push(format!(
            "{e} (sharing facts paused; the capture goes on, retrying every 5 s)"
        ));
        self.store = None;
        self.retry_at = Some(Instant::now() + RETRY);
    }

    fn name(&self) -> String {
        crate::store::redact(&self.spec)
    }

    /// The facts to publish: endpoint facts with a tag, not published in the last minute.
    fn outgoing(&mut self, learned: &[Fact], now_ns: i64) -> Vec<SharedFact> {
        if self.recent.len() > MAX_RECENT {
            let old = now_ns.saturating_sub(REPUBLISH_NS);
            self.recent.retain(|_, at| *at >= old);
            if self.recent.len() > MAX_RECENT {
                self.recent.clear();
            }
        }
        let mut out = Vec::new();
        for f in learned {
            let Fact::Endpoint {
                addr,
                hash,
                source,
                at_ns,
            } = *f
            else {
                continue;
            };
            let Some(tag) = self.tagger.tag(&addr, at_ns) else {
                self.counters.lost += 1;
                continue;
            };
            let last = self
                .recent
                .entry((tag, hash, source as u16))
                .or_insert(i64::MIN);
            if at_ns.saturating_sub(*last) < REPUBLISH_NS {
                continue;
            }
            *last = at_ns;
            out.push(SharedFact {
                sensor: self.sensor.clone(),
                tag,
                infohash: hash,
                source,
                at_ns,
            });
        }
        out
    }

    fn publish(&mut self, out: &[SharedFact], now_ns: i64) -> Result<(), Error> {
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        if !out.is_empty() {
            store.put_facts(out)?;
            self.counters.published += out.len() as u64;
        }
        if self
            .last_prune
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.last_prune = Some(Instant::now());
            store.prune_facts(now_ns.saturating_sub(FACT_TTL_S * 1_000_000_000))?;
        }
        Ok(())
    }

    /// The other sensors' facts since the last read: first the ids skipped over before (late
    /// commits), then those after the highest id read.
    fn read(&mut self, now_ns: i64) -> Result<Vec<Fact>, Error> {
        let Some(store) = self.store.as_mut() else {
            return Ok(Vec::new());
        };
        let since = now_ns.saturating_sub(FACT_TTL_S * 1_000_000_000);
        let now = Instant::now();
        let mut rows = Vec::new();
        if !self.gaps.is_empty() {
            let ids: Vec<i64> = self.gaps.keys().take(GAPS_PER_READ).copied().collect();
            for row in store.facts_in(&ids)? {
                self.gaps.remove(&row.0);
                rows.push(row);
            }
        }
        for (id, f) in store.facts_after(self.cursor, since, POLL_LIMIT)? {
            if id <= self.cursor {
                continue;
            }
            // The ids skipped over may still come (uncommitted), or never (rolled back).
            if self.cursor > 0 {
                let room = MAX_GAPS.saturating_sub(self.gaps.len());
                for g in ((self.cursor + 1)..id).take(room) {
                    self.gaps.insert(g, now);
                }
            }
            self.cursor = id;
            rows.push((id, f));
        }
        self.gaps.retain(|_, t| t.elapsed() < GAP_WAIT);
        let mut got = Vec::new();
        for f in rows.into_iter().filter_map(|(_, f)| f) {
            if f.sensor == self.sensor || f.at_ns < since {
                continue;
            }
            got.push(Fact::Remote {
                tag: f.tag,
                hash: f.infohash,
                source: f.source,
                at_ns: f.at_ns,
            });
        }
        self.counters.received += got.len() as u64;
        let newest = got.iter().filter_map(|f| match f {
            Fact::Remote { at_ns, .. } => Some(*at_ns),
            _ => None,
        });
        if let Some(newest) = newest.max().filter(|&t| t >= self.started_ns) {
            let age = u64::try_from(now_ns.saturating_sub(newest) / 1_000_000).unwrap_or(0);
            self.counters.delay_ms_max = self.counters.delay_ms_max.max(age);
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn tagger() -> Tagger {
        Tagger::new(|a: &SocketAddr, _| {
            let mut t = [0u8; 16];
            t[..2].copy_from_slice(&a.port().to_be_bytes());
            Some(t)
        })
    }

    fn learned(port: u16, at_s: i64) -> Fact {
        Fact::Endpoint {
            addr: SocketAddr::from(([10, 77, 0, 9], port)),
            hash: Some(InfoHash([7; 20])),
            source: Source::ALL[0],
            at_ns: at_s * 1_000_000_000,
        }
    }

    fn sharer(path: &std::path::Path, sensor: &str) -> Sharer {
        let spec = path.to_str().unwrap();
        Sharer::with_store(crate::store::open(spec).unwrap(), spec, tagger(), sensor)
    }

    /// A fresh folder and the path of a store in it.
    fn store_in(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("swarmwall-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("store.db");
        (dir, db)
    }

    #[test]
    fn sources_round_trip() {
        for s in Source::ALL {
            assert_eq!(source_of(source_name(s)), Some(s));
        }
        assert_eq!(source_of("nonsense"), None);
    }

    #[test]
    fn one_sensor_learns_what_another_published_once_and_never_its_own() {
        let (dir, db) = store_in("facts");
        let (mut a, mut b) = (sharer(&db, "a"), sharer(&db, "b"));
        let now = 1_800_000_000i64;
        let ns = now * 1_000_000_000;
        assert!(
            a.exchange(&[learned(6881, now), learned(6882, now)], ns)
                .is_empty()
        );
        // Once more within the minute: not published again.
        assert!(a.exchange(&[learned(6881, now + 5)], ns).is_empty());
        assert_eq!(a.counters.published, 2);
        let got = b.exchange(&[], ns);
        assert_eq!(got.len(), 2, "{got:?}");
        let Fact::Remote {
            tag, hash, source, ..
        } = got[0]
        else {
            panic!("{got:?}")
        };
        assert_eq!(tag[..2], 6881u16.to_be_bytes());
        assert_eq!(hash, Some(InfoHash([7; 20])));
        assert_eq!(source, Source::ALL[0]);
        assert!(b.exchange(&[], ns).is_empty(), "read once");
        assert_eq!(b.counters.delay_ms_max, 0, "learned and read at one time");
        // Read 1.5 s after it was learned.
        a.exchange(&[learned(6999, now)], ns);
        assert_eq!(b.exchange(&[], ns + 1_500_000_000).len(), 1);
        assert_eq!(b.counters.delay_ms_max, 1500);
        // b's own facts do not come back to it; a gets them.
        assert!(b.exchange(&[learned(7000, now)], ns).is_empty());
        assert_eq!(a.exchange(&[], ns).len(), 1, "b's only");
        // A minute later a fact is published again.
        a.exchange(&[learned(6881, now + 61)], ns);
        assert_eq!(b.exchange(&[], ns + 1_500_000_000).len(), 1);
        // Past their time, facts are not read…
        let later = ns + (FACT_TTL_S + 120) * 1_000_000_000;
        let mut raw = crate::store::open(db.to_str().unwrap()).unwrap();
        assert!(!raw.facts_after(0, ns, 100).unwrap().is_empty());
        assert!(
            raw.facts_after(0, later - FACT_TTL_S * 1_000_000_000, 100)
                .unwrap()
                .is_empty()
        );
        // …nor kept.
        let mut c = sharer(&db, "c");
        assert!(c.exchange(&[], later).is_empty());
        assert!(raw.facts_after(0, i64::MIN, 100).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ids_committed_late_are_read_when_they_come() {
        let (dir, db) = store_in("gaps");
        let mut b = sharer(&db, "b");
        let ns = 1_800_000_000i64 * 1_000_000_000;
        // Rows as another sensor's transactions leave them: id 3 visible before id 2.
        let raw = rusqlite::Connection::open(&db).unwrap();
        let put = |id: i64| {
            raw.execute(
                "INSERT INTO facts (id, sensor, tag, infohash, source, at_ns)
                 VALUES (?1, 'a', ?2, NULL, ?3, ?4)",
                rusqlite::params![id, vec![id as u8; 16], Source::ALL[1].as_str(), ns],
            )
            .unwrap();
        };
        put(1);
        assert_eq!(b.exchange(&[], ns).len(), 1);
        put(3);
        assert_eq!(b.exchange(&[], ns).len(), 1);
        assert_eq!(b.gaps.len(), 1, "id 2 waited for");
        put(2);
        let got = b.exchange(&[], ns);
        assert_eq!(got.len(), 1, "id 2 read when it came");
        assert!(matches!(got[0], Fact::Remote { tag, .. } if tag == [2; 16]));
        assert!(b.gaps.is_empty());
        assert!(b.exchange(&[], ns).is_empty());
        // Rows that do not read as facts (a newer swarmwall's source, a value of another
        // type) are passed over, not read again and again.
        raw.execute(
            "INSERT INTO facts (id, sensor, tag, infohash, source, at_ns)
             VALUES (4, 'a', x'00', NULL, 'pex', ?1), (5, 'a', ?2, NULL, 'telepathy', ?1),
                    (6, 'a', ?2, NULL, 'pex', 'soon')",
            rusqlite::params![ns, vec![6u8; 16]],
        )
        .unwrap();
        put(7);
        let got = b.exchange(&[], ns);
        assert!(
            matches!(got[..], [Fact::Remote { tag, .. }] if tag == [7; 16]),
            "{got:?}"
        );
        assert_eq!(b.cursor, 7);
        // Ids far apart: the ids skipped over that are remembered stay bounded.
        for id in [100_000i64, 200_000, 300_000] {
            put(id);
        }
        assert_eq!(b.exchange(&[], ns).len(), 3);
        assert!(b.gaps.len() <= MAX_GAPS, "{}", b.gaps.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
