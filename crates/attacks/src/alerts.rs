//! Incidents: detections of one attack on one thing (a target, an info-hash, a source network)
//! gathered into one alert with counts. An incident's alert is due when it is first raised and
//! then at most once every `update_every_s` while it goes on; at the end, every incident that
//! changed since its last alert is due once more.

use std::collections::{BTreeMap, HashMap, HashSet};

type Fast = foldhash::fast::RandomState;
use std::net::IpAddr;

use serde::Serialize;

use crate::{Category, Thresholds};

/// How bad an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

/// Addresses, flows and info-hashes kept per incident at most.
pub const MAX_LISTED: usize = 16;

/// One incident, as written (one JSON line per update).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// When it began and when it was last seen (seconds since 1970, and the same in
    /// nanoseconds: the packet's capture time, or the second a wait ran out).
    pub first_s: i64,
    pub last_s: i64,
    pub first_ns: i64,
    pub last_ns: i64,
    pub category: Category,
    /// What it is, in words.
    pub signature: String,
    pub severity: Severity,
    /// What the incident is about (a target address, an info-hash, a network): with the
    /// category, its identity.
    pub key: String,
    /// Detections counted into it.
    pub count: u64,
    /// Sources and targets involved (the first [`MAX_LISTED`]), and how many in all.
    pub sources: Vec<IpAddr>,
    pub sources_total: u64,
    pub targets: Vec<IpAddr>,
    pub flows: Vec<String>,
    pub infohashes: Vec<String>,
    /// The values measured, and the threshold crossed (in words).
    pub measured: BTreeMap<String, f64>,
    pub threshold: String,
    /// This is an update of an alert written before.
    pub update: bool,
}

struct Incident {
    alert: Alert,
    /// Distinct sources seen (bounded: beyond [`MAX_SOURCES`] only counted).
    sources: HashSet<IpAddr, Fast>,
    /// When its alert was last due; whether it changed since.
    last_due: Option<i64>,
    changed: bool,
    /// Last touch, for eviction.
    touched: i64,
}

/// Incidents held: one per this many entries of `max_state` (each holds up to
/// [`MAX_SOURCES`] sources).
pub const INCIDENTS_PER_STATE: usize = 16;

/// Distinct sources remembered per incident to count them.
const MAX_SOURCES: usize = 1024;

/// A detection to count into an incident.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub source: Option<IpAddr>,
    pub target: Option<IpAddr>,
    pub flow: Option<String>,
    pub infohash: Option<String>,
    /// Measured values: each replaces the incident's (the latest measurement).
    pub measured: Vec<(&'static str, f64)>,
}

/// The incidents of a run.
pub struct Alerts {
    /// Per category, by key (looked up without allocating: floods raise millions).
    incidents: HashMap<Category, HashMap<String, Incident, Fast>, Fast>,
    update_every_s: i64,
    max: usize,
    /// Incidents dropped to keep within the bound (the oldest touched first).
    pub evicted: u64,
    /// Evicted incidents' last lines, written with the next alerts due (at most as many as
    /// incidents; beyond, lost and counted).
    orphans: Vec<Alert>,
    pub orphans_lost: u64,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("incidents", &self.incidents.len())
            .field("evicted", &self.evicted)
            .finish()
    }
}

fn push_bounded<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if v.len() < MAX_LISTED && !v.contains(&x) {
        v.push(x);
    }
}

impl Alerts {
    pub fn new(t: &Thresholds) -> Alerts {
        Alerts {
            incidents: HashMap::default(),
            update_every_s: i64::from(t.update_every_s.max(1)),
            max: (t.max_state as usize / INCIDENTS_PER_STATE).max(1),
            evicted: 0,
            orphans: Vec::new(),
            orphans_lost: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.incidents.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts a detection into the incident (`category`, `key`), opening it with `signature`,
    /// `severity` and `threshold` if it is new.
    #[allow(clippy::too_many_arguments)]
    pub fn raise(
        &mut self,
        now_ns: i64,
        category: Category,
        key: &str,
        signature: impl FnOnce() -> String,
        severity: Severity,
        threshold: impl FnOnce() -> String,
        d: Detection,
    ) {
        let now_s = now_ns.div_euclid(1_000_000_000);
        let known = self
            .incidents
            .get(&category)
            .is_some_and(|m| m.contains_key(key));
        if !known && self.len() >= self.max {
            self.evict_oldest();
        }
        let map = self.incidents.entry(category).or_default();
        if !map.contains_key(key) {
            map.insert(
                key.to_string(),
                Incident {
                    alert: Alert {
                        first_s: now_s,
                        last_s: now_s,
                        first_ns: now_ns,
                        last_ns: now_ns,
                        category,
                        signature: signature(),
                        severity,
                        key: key.to_string(),
                        count: 0,
                        sources: Vec::new(),
                        sources_total: 0,
                        targets: Vec::new(),
                        flows: Vec::new(),
                        infohashes: Vec::new(),
                        measured: BTreeMap::new(),
                        threshold: threshold(),
                        update: false,
                    },
                    sources: Default::default(),
                    last_due: None,
                    changed: true,
                    touched: now_s,
                },
            );
        }
        let Some(inc) = map.get_mut(key) else {
            return;
        };
        let a = &mut inc.alert;
        a.count += 1;
        a.last_s = a.last_s.max(now_s);
        a.last_ns = a.last_ns.max(now_ns);
        a.severity = a.severity.max(severity);
        if let Some(s) = d.source {
            push_bounded(&mut a.sources, s);
            if inc.sources.len() < MAX_SOURCES {
                if inc.sources.insert(s) {
                    a.sources_total += 1;
                }
            } else if !inc.sources.contains(&s) {
                // Past the bound every unknown source counts: an upper estimate.
                a.sources_total += 1;
            }
        }
        if let Some(t) = d.target {
            push_bounded(&mut a.targets, t);
        }
        if let Some(f) = d.flow {
            push_bounded(&mut a.flows, f);
        }
        if let Some(h) = d.infohash {
            push_bounded(&mut a.infohashes, h);
        }
        for (k, v) in d.measured {
            a.measured.insert(k.to_string(), v);
        }
        inc.changed = true;
        inc.touched = now_s;
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .incidents
            .iter()
            .flat_map(|(c, m)| m.iter().map(move |(k, i)| (i.touched, *c, k)))
            .min()
            .map(|(_, c, k)| (c, k.clone()));
        if let Some((c, k)) = oldest
            && let Some(m) = self.incidents.get_mut(&c)
            && let Some(i) = m.remove(&k)
        {
            self.evicted += 1;
            // What changed since its last line is still written, once.
            if i.changed {
                if self.orphans.len() < self.max {
                    let mut a = i.alert;
                    a.update = i.last_due.is_some();
                    self.orphans.push(a);
                } else {
                    self.orphans_lost += 1;
                }
            }
        }
    }

    /// The alerts due at `now_s`: new incidents, and changed ones whose last alert is older
    /// than the update interval. In order of first detection.
    pub fn due(&mut self, now_s: i64) -> Vec<Alert> {
        let every = self.update_every_s;
        self.take(
            |i| {
                i.changed
                    && i.last_due
                        .is_none_or(|t| now_s.abs_diff(t) >= every.unsigned_abs())
            },
            now_s,
        )
    }

    /// Every alert not written since it last changed (the end of a run).
    pub fn finish(&mut self, now_s: i64) -> Vec<Alert> {
        self.take(|i| i.changed, now_s)
    }

    fn take(&mut self, pick: impl Fn(&Incident) -> bool, now_s: i64) -> Vec<Alert> {
        let mut out = std::mem::take(&mut self.orphans);
        for i in self.incidents.values_mut().flat_map(HashMap::values_mut) {
            if pick(i) {
                let mut a = i.alert.clone();
                a.update = i.last_due.is_some();
                out.push(a);
                i.last_due = Some(now_s);
                i.changed = false;
            }
        }
        out.sort_by(|a, b| (a.first_s, a.category, &a.key).cmp(&(b.first_s, b.category, &b.key)));
        out
    }

    /// Every incident as it stands (the summary).
    pub fn all(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self
            .incidents
            .values()
            .flat_map(HashMap::values)
            .map(|i| &i.alert)
            .collect();
        v.sort_by(|a, b| (a.first_s, a.category, &a.key).cmp(&(b.first_s, b.category, &b.key)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a4d_0000 + n))
    }

    fn forged(a: &mut Alerts, now: i64, src: u32) {
        a.raise(
            now * 1_000_000_000,
            Category::UtpForged,
            "10.77.0.2",
            || "uTP data on connections never opened".into(),
            Severity::High,
            || "5 sources".into(),
            Detection {
                source: Some(ip(src)),
                target: Some(ip(2)),
                infohash: Some("ab".repeat(20)),
                measured: vec![("sources", 1.0)],
                ..Detection::default()
            },
        );
    }

    #[test]
    fn a_million_detections_are_one_alert_updated_once_a_minute() {
        let t = Thresholds::default();
        let mut a = Alerts::new(&t);
        let mut written = Vec::new();
        for i in 0..1_000_000u32 {
            let now = 1_000 + i64::from(i / 10_000); // 100 seconds
            forged(&mut a, now, i % 50_000);
            if i % 1000 == 0 {
                written.extend(a.due(now));
            }
        }
        written.extend(a.finish(1_100));
        assert_eq!(a.len(), 1);
        // The first alert, one update after 60 s, and the last at the end.
        assert_eq!(written.len(), 3, "{written:#?}");
        assert!(!written[0].update && written[1].update && written[2].update);
        let last = written.last().unwrap();
        assert_eq!(last.count, 1_000_000);
        assert_eq!(last.sources.len(), MAX_LISTED);
        assert!(last.sources_total >= 50_000, "{}", last.sources_total);
        assert_eq!(last.infohashes.len(), 1);
        assert_eq!((last.first_s, last.last_s), (1_000, 1_099));
        // Nothing changed since: nothing due.
        assert!(a.due(10_000).is_empty() && a.finish(10_000).is_empty());
        let json = serde_json::to_string(last).unwrap();
        assert!(
            json.contains("\"category\":\"utp-forged\"") && json.contains("\"severity\":\"high\"")
        );
    }

    #[test]
    fn incidents_are_bounded_oldest_first() {
        let t = Thresholds {
            max_state: 3 * INCIDENTS_PER_STATE as u32,
            ..Thresholds::default()
        };
        let mut a = Alerts::new(&t);
        for k in 0..5 {
            a.raise(
                k * 1_000_000_000,
                Category::DhtSybil,
                &format!("net-{k}"),
                || "ids".into(),
                Severity::Medium,
                || "8".into(),
                Detection::default(),
            );
        }
        assert_eq!((a.len(), a.evicted), (3, 2));
        let keys: Vec<&str> = a.all().iter().map(|x| x.key.as_str()).collect();
        assert_eq!(keys, ["net-2", "net-3", "net-4"]);
        // The two evicted before any line was written are still written.
        let due: Vec<String> = a.due(10).into_iter().map(|x| x.key).collect();
        assert_eq!(due, ["net-0", "net-1", "net-2", "net-3", "net-4"]);
    }
}
