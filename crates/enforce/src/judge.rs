//! One worker's judgement: each queued packet goes through the engine, the policy decides, and
//! the decision becomes a netfilter verdict and mark (see `netfilter::marks`). No I/O: the
//! worker loop feeds it packets and sends what it returns.

use std::collections::{HashMap, HashSet};

use engine::{
    Config, DatagramKey, Engine, FlowKey, FlowRecord, INLINE_DEFRAG_TIMEOUT_NS, Observed, Proto,
};
use netfilter::marks::{Marks, state};
use netfilter::queue::Verdict;
use policy::{Action, Decision, Policy, Scope, Subject};
use wire::LinkType;

use crate::event::Event;
use crate::stats::Stats;
#[cfg(test)]
use netfilter::queue::Writer;

/// The verdict on one packet, and the mark to set with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub mark: Option<u32>,
}

/// What became of one queued packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// Its verdict.
    Now(Outcome),
    /// An IP fragment: its verdict waits for its datagram's (see [`Judge::released`]).
    Held,
}

/// Fragments waiting for their datagram's verdict: packet id and mark, and since when.
#[derive(Debug, Default)]
struct Held {
    packets: Vec<(u32, u32)>,
    since_ns: i64,
}

/// Fragments held per datagram at most (beyond, they pass at once: fail open).
const MAX_HELD_PER_DATAGRAM: usize = 64;
/// Datagrams whose fragments are held at most.
const MAX_HELD_DATAGRAMS: usize = 1024;

/// An engine and what the worker reports from it.
#[derive(Debug)]
pub struct Judge {
    engine: Engine,
    marks: Marks,
    /// Flows whose final decision was reported (packets already queued when it was made still
    /// arrive; the flow's end removes it).
    reported: HashSet<FlowKey>,
    /// Events of the packets judged since the last take.
    pub events: Vec<Event>,
    pub stats: Stats,
    /// Flows that ended since the last take, when kept.
    pub ended: Vec<FlowRecord>,
    keep_ended: bool,
    /// IP fragments whose verdict waits for their datagram's.
    held: HashMap<DatagramKey, Held>,
    /// Verdicts of held fragments, decided since the last take: their datagram's, or, when it
    /// never completed, a pass.
    pub released: Vec<(u32, Outcome)>,
}

impl Judge {
    /// `config`: the engine's limits (relabelling is turned off: inline, a decision uses only
    /// what is known at the moment). `keep_ended`: keep finished flows' records.
    pub fn new(mut config: Config, marks: Marks, keep_ended: bool) -> Judge {
        config.relabel_at_end = false;
        Judge {
            engine: Engine::new(config),
            marks,
            reported: HashSet::new(),
            events: Vec::new(),
            stats: Stats::default(),
            ended: Vec::new(),
            keep_ended,
            held: HashMap::new(),
            released: Vec::new(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Judges one queued packet (`id`, `bytes` from its IP header, `wire_len` long, with its
    /// current `mark`) at `now_ns`. `dry_run`: decide and report, but let everything through.
    ///
    /// An IP fragment is held until its datagram is complete: the fragment that completes it
    /// gets the datagram's verdict, and so do the held ones (in [`Judge::released`]). Held
    /// fragments of a datagram that does not complete within the engine's inline reassembly
    /// time pass ([`Judge::release_expired`]): enforcement fails open.
    #[allow(clippy::too_many_arguments)]
    pub fn packet(
        &mut self,
        policy: &Policy,
        dry_run: bool,
        now_ns: i64,
        id: u32,
        bytes: &[u8],
        wire_len: u32,
        mark: u32,
    ) -> Judged {
        self.stats.packets += 1;
        let Judge {
            engine,
            reported,
            ended,
            keep_ended,
            held,
            ..
        } = self;
        let observed = engine.frame(LinkType::Raw, now_ns, bytes, wire_len, &mut |r| {
            reported.remove(&r.key());
            if *keep_ended {
                ended.push(r);
            }
        });
        let marks = self.marks;
        let seen_mark = Outcome {
            verdict: Verdict::Repeat,
            mark: Some(marks.with(mark, state::SEEN)),
        };
        let seen = match observed {
            Observed::Flow(seen) => seen,
            Observed::Held(&key) => {
                let known = held.contains_key(&key);
                if !known && held.len() >= MAX_HELD_DATAGRAMS {
                    self.stats.unjudged += 1;
                    return Judged::Now(seen_mark);
                }
                let h = held.entry(key).or_insert_with(|| Held {
                    packets: Vec::new(),
                    since_ns: now_ns,
                });
                if h.packets.len() >= MAX_HELD_PER_DATAGRAM {
                    self.stats.unjudged += 1;
                    return Judged::Now(seen_mark);
                }
                h.packets.push((id, mark));
                self.stats.fragments_held += 1;
                return Judged::Held;
            }
            Observed::Ended(&key) => {
                // Its datagram ended without a flow's packet: it and the fragments held for
                // it pass.
                if let Some(h) = held.remove(&key) {
                    for (held_id, held_mark) in h.packets {
                        self.stats.fragments_released += 1;
                        self.released.push((
                            held_id,
                            Outcome {
                                verdict: Verdict::Repeat,
                                mark: Some(marks.with(held_mark, state::SEEN)),
                            },
                        ));
                    }
                }
                self.stats.unjudged += 1;
                return Judged::Now(seen_mark);
            }
            Observed::Other => {
                // Not a flow (a packet that does not decode, another protocol): it passes.
                self.stats.unjudged += 1;
                return Judged::Now(seen_mark);
            }
        };
        let datagram = seen.datagram.and_then(|k| held.remove(k));
        let key = seen.key();
        let subject = Subject::new(&seen);
        let d = policy.decide(&subject);
        if seen.facts.new_flow {
            self.stats.flows += 1;
        }
        // Report.
        let first_final = d.fin && !self.reported.contains(&key);
        let packet_block = d.scope == Scope::Packet && !d.action.passes();
        let blocks_flow = d.fin && !d.action.passes();
        let by_rule_logged = d
            .rule
            .and_then(|i| policy.rules.get(i))
            .is_some_and(|r| r.log);
        if first_final {
            self.reported.insert(key);
            self.stats.count(&subject, d.action, dry_run);
            // A dry run reports every decision about BitTorrent (what the policy would do),
            // a real run only blocks and what rules ask to log.
            let audit = dry_run && subject.verdict.is_bittorrent();
            if by_rule_logged || blocks_flow || d.logged != 0 || audit {
                self.events
                    .push(Event::decision(now_ns, policy, &subject, &key, &d, dry_run));
            }
        } else if packet_block {
            self.stats.count(&subject, d.action, dry_run);
            self.events
                .push(Event::decision(now_ns, policy, &subject, &key, &d, dry_run));
        }
        // The datagram's verdict is its held fragments' too.
        for (held_id, held_mark) in datagram.map(|h| h.packets).unwrap_or_default() {
            let o = self.verdict(&d, dry_run, held_mark);
            self.released.push((held_id, o));
        }
        Judged::Now(self.verdict(&d, dry_run, mark))
    }

    /// The outcome of decision `d` for a packet marked `mark`.
    fn verdict(&mut self, d: &Decision, dry_run: bool, mark: u32) -> Outcome {
        if dry_run {
            let s = if d.fin { state::ALLOW } else { state::SEEN };
            return Outcome {
                verdict: Verdict::Repeat,
                mark: Some(self.marks.with(mark, s)),
            };
        }
        self.outcome(d, mark)
    }

    /// Lets the held fragments of datagrams that did not complete within the engine's inline
    /// reassembly time (or, with `all`, every held fragment: the worker stops) pass.
    pub fn release_expired(&mut self, now_ns: i64, all: bool) {
        let marks = self.marks;
        let released = &mut self.released;
        let stats = &mut self.stats;
        self.held.retain(|_, h| {
            if !all && now_ns.saturating_sub(h.since_ns) <= INLINE_DEFRAG_TIMEOUT_NS {
                return true;
            }
            for &(id, mark) in &h.packets {
                stats.fragments_released += 1;
                released.push((
                    id,
                    Outcome {
                        verdict: Verdict::Repeat,
                        mark: Some(marks.with(mark, state::SEEN)),
                    },
                ));
            }
            false
        });
    }

    /// Whether fragments are held (their verdicts are still to come: no batch verdict may
    /// cover their ids).
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    fn outcome(&mut self, d: &Decision, mark: u32) -> Outcome {
        let with = |s| Some(self.marks.with(mark, s));
        let repeat = |mark| Outcome {
            verdict: Verdict::Repeat,
            mark,
        };
        let drop = Outcome {
            verdict: Verdict::Drop,
            mark: None,
        };
        match (d.action, d.fin && d.scope == Scope::Flow) {
            (Action::Allow | Action::Mark(_), false) => repeat(with(state::SEEN)),
            (Action::Drop | Action::Reject, false) => {
                self.stats.packets_dropped += 1;
                drop
            }
            (Action::Allow, true) => repeat(with(state::ALLOW)),
            (Action::Mark(m), true) => repeat(with(state::MARK + u32::from(m))),
            (Action::Drop, true) => {
                self.stats.packets_dropped += 1;
                repeat(with(state::DROP))
            }
            (Action::Reject, true) => {
                self.stats.packets_dropped += 1;
                repeat(with(state::REJECT))
            }
        }
    }

    /// Flows tracked now.
    pub fn flows(&self) -> usize {
        self.engine.active_flows()
    }
}

/// The proto name used in events.
pub(crate) fn proto_str(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

#[cfg(test)]
mod tests;
