//! One worker's judgement: each queued packet goes through the engine, the policy decides, and
//! the decision becomes a netfilter verdict and mark (see `netfilter::marks`). No I/O: the
//! worker loop feeds it packets and sends what it returns.

use std::collections::HashSet;

use engine::{Config, Engine, FlowKey, FlowRecord, Proto};
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
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Judges one packet (`bytes` from its IP header, `wire_len` long, with its current
    /// `mark`) at `now_ns`. `dry_run`: decide and report, but let everything through.
    pub fn packet(
        &mut self,
        policy: &Policy,
        dry_run: bool,
        now_ns: i64,
        bytes: &[u8],
        wire_len: u32,
        mark: u32,
    ) -> Outcome {
        self.stats.packets += 1;
        let Judge {
            engine,
            reported,
            ended,
            keep_ended,
            ..
        } = self;
        let seen = engine.frame(LinkType::Raw, now_ns, bytes, wire_len, &mut |r| {
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
        let Some(seen) = seen else {
            // Not a flow (a later fragment, a packet that does not decode): it passes.
            self.stats.unjudged += 1;
            return seen_mark;
        };
        let key = seen.flow.key;
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
        let with = |s| Some(marks.with(mark, s));
        if dry_run {
            return Outcome {
                verdict: Verdict::Repeat,
                mark: with(if d.fin { state::ALLOW } else { state::SEEN }),
            };
        }
        self.outcome(&d, mark)
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
