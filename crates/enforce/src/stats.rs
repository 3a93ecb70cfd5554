//! Counters: packets judged, flows, and decisions per kind and action.

use std::collections::BTreeMap;

use policy::{Action, Subject};
use serde::Serialize;

/// Counters of one worker, or of all of them merged.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Packets that reached user space and were judged.
    pub packets: u64,
    /// Packets not part of a flow (passed).
    pub unjudged: u64,
    /// Packets dropped (or rejected) by a verdict.
    pub packets_dropped: u64,
    /// New flows seen.
    pub flows: u64,
    /// Batches received, and verdict messages sent (individual and batch).
    pub batches: u64,
    pub verdict_messages: u64,
    /// Times the kernel could not hand packets over (accepted unseen: fail-open).
    pub overruns: u64,
    /// IP fragments held for their datagram's verdict, and those let pass because their
    /// datagram did not complete in time.
    pub fragments_held: u64,
    pub fragments_released: u64,
    /// Decisions (a flow's final one, or a packet's own) per kind, then per action. The kind
    /// is the flow's primary kind, `unknown` for flows not found to be BitTorrent. In a dry
    /// run, the actions are what would have been done.
    pub decisions: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    pub fn count(&mut self, s: &Subject<'_>, action: Action, _dry_run: bool) {
        let v = s.verdict;
        let kind = if v.is_bittorrent() {
            v.kinds.primary().map_or("unknown", |k| k.as_str())
        } else {
            "unknown"
        };
        *self
            .decisions
            .entry(kind.to_string())
            .or_default()
            .entry(action.as_str().to_string())
            .or_default() += 1;
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        self.packets += other.packets;
        self.unjudged += other.unjudged;
        self.packets_dropped += other.packets_dropped;
        self.flows += other.flows;
        self.batches += other.batches;
        self.verdict_messages += other.verdict_messages;
        self.overruns += other.overruns;
        self.fragments_held += other.fragments_held;
        self.fragments_released += other.fragments_released;
        for (k, actions) in &other.decisions {
            let e = self.decisions.entry(k.clone()).or_default();
            for (a, n) in actions {
                *e.entry(a.clone()).or_default() += n;
            }
        }
    }
}
