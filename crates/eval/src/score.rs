//! Matching flow records to labelled flows, and the resulting figures.
//!
//! A labelled flow is one bidirectional 5-tuple over the whole capture; swarmwall may have
//! split it into several records (idle timeout, port reuse), so records are grouped by
//! 5-tuple first and their kinds and info-hashes united.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::net::SocketAddr;

use bt::InfoHash;
use engine::{Confidence, Evidence, FlowRecord, Kind, KindSet, Signal};

use crate::labels::{Label, LabelledFlow, Part, Variant};

/// What swarmwall said about one 5-tuple.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detected {
    /// Kinds of the records called BitTorrent (likely or certain).
    pub kinds: KindSet,
    /// The highest confidence of any record (suspects included).
    pub confidence: Option<Confidence>,
    /// The evidence of the records called BitTorrent.
    pub evidence: Evidence,
    /// Whether the first record called BitTorrent was raised only at the end of the run.
    pub relabelled: bool,
    pub encrypted: bool,
    pub infohashes: Vec<InfoHash>,
    /// Packet index of the first decision (in the first record that decided).
    pub decided_at: Option<u32>,
    /// Payload packets (client, server) seen at that decision.
    pub decided_payloads: Option<[u16; 2]>,
    pub packets: u64,
    pub bytes: u64,
    /// The tunnels of the records, as `type:target`.
    pub tunnels: Vec<String>,
}

/// The verdict on one labelled flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// BitTorrent, found with the right kind(s).
    Correct,
    /// BitTorrent and visible in plaintext, but not found.
    Missed,
    /// BitTorrent and found, but with a kind the label does not have.
    WrongKind,
    /// BitTorrent and found with the right kind, but not through the labelled tunnel (or
    /// through one the label does not have).
    WrongTunnel,
    /// BitTorrent but not visible in plaintext (encrypted, or no payload), and not found:
    /// fine for now.
    NotVisible,
    /// Not BitTorrent, and not called BitTorrent.
    TrueNegative,
    /// Not BitTorrent, but called BitTorrent.
    FalsePositive,
}

/// One labelled flow with what was detected.
#[derive(Debug, Clone)]
pub struct FlowScore {
    pub label: LabelledFlow,
    pub detected: Detected,
    pub outcome: Outcome,
}

/// Figures for one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindScore {
    /// Labelled flows with this kind that are visible in plaintext.
    pub labelled: u64,
    pub labelled_bytes: u64,
    /// ... of which found with the right kind(s).
    pub found: u64,
    pub found_bytes: u64,
    pub missed: u64,
    pub wrong: u64,
    /// Flows swarmwall reported as this (primary) kind, and how many were right.
    pub reported: u64,
    pub reported_right: u64,
    /// Flows that must carry an info-hash, and how many had one found.
    pub infohash_expected: u64,
    pub infohash_found: u64,
    /// Packet index of the decision for each flow found.
    pub decided_at: Vec<u32>,
}

impl KindScore {
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.labelled)
    }
    pub fn precision(&self) -> f64 {
        ratio(self.reported_right, self.reported)
    }
}

/// The score of one capture.
#[derive(Debug, Clone, Default)]
pub struct Score {
    pub flows: Vec<FlowScore>,
    pub kinds: BTreeMap<Kind, KindScore>,
    /// 5-tuples swarmwall called BitTorrent that have no label row.
    pub unlabelled_detections: Vec<(String, SocketAddr, SocketAddr, KindSet)>,
    /// (label text, detected kinds) → flows.
    pub confusion: BTreeMap<(String, String), u64>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// A bidirectional 5-tuple, and for flows through a SOCKS5 UDP relay (which share the
/// relay's 5-tuple) the target.
pub type Tuple = (String, SocketAddr, SocketAddr, Option<String>);

fn tuple(proto: &str, a: SocketAddr, b: SocketAddr, relay_target: Option<&str>) -> Tuple {
    let target = relay_target.map(str::to_string);
    if a <= b {
        (proto.to_string(), a, b, target)
    } else {
        (proto.to_string(), b, a, target)
    }
}

/// A record's tunnel as labels write it, `type:target`.
fn tunnel_text(r: &FlowRecord) -> Option<String> {
    r.tunnel
        .as_ref()
        .map(|t| format!("{}:{}", t.kind.as_str(), t.target))
}

/// Scores `records` against `labels`.
pub fn score(labels: &[LabelledFlow], records: &[FlowRecord]) -> Score {
    let mut by_tuple: HashMap<Tuple, Detected> = HashMap::new();
    for r in records {
        let relay_target = r
            .tunnel
            .as_ref()
            .filter(|t| t.relay.is_some())
            .map(|t| t.target.to_string());
        let d = by_tuple
            .entry(tuple(
                r.proto.as_str(),
                r.client,
                r.server,
                relay_target.as_deref(),
            ))
            .or_default();
        if let Some(t) = tunnel_text(r)
            && !d.tunnels.contains(&t)
        {
            d.tunnels.push(t);
        }
        if r.is_bittorrent() {
            d.kinds = d.kinds.union(r.verdict.kinds);
            d.evidence = d.evidence.union(r.verdict.evidence);
        }
        d.confidence = d.confidence.max(r.confidence());
        d.encrypted |= r.verdict.encrypted && r.is_bittorrent();
        if d.decided_payloads.is_none() && r.is_bittorrent() {
            d.decided_payloads = Some(r.verdict.decided_payloads);
            d.relabelled = r.verdict.relabelled;
        }
        for h in &r.infohashes {
            if !d.infohashes.contains(h) {
                d.infohashes.push(*h);
            }
        }
        if d.decided_at.is_none() && r.is_bittorrent() {
            d.decided_at = r.verdict.decided_at;
        }
        d.packets += r.total_packets();
        d.bytes += r.total_bytes();
    }
    let mut s = Score::default();
    for l in labels {
        let detected = by_tuple
            .remove(&tuple(&l.proto, l.a, l.b, l.relay_target()))
            .unwrap_or_default();
        let outcome = match &l.label {
            Label::BitTorrent(parts) => judge(parts, l, &detected, &mut s.kinds),
            _ if detected.kinds.is_empty() => Outcome::TrueNegative,
            _ => Outcome::FalsePositive,
        };
        if let Some(primary) = detected.kinds.primary() {
            let k = s.kinds.entry(primary).or_default();
            k.reported += 1;
            if let Label::BitTorrent(parts) = &l.label
                && parts.iter().any(|p| p.kind == primary)
            {
                k.reported_right += 1;
            }
        }
        *s.confusion
            .entry((l.text.clone(), kinds_text(detected.kinds)))
            .or_default() += 1;
        s.flows.push(FlowScore {
            label: l.clone(),
            detected,
            outcome,
        });
    }
    let mut rest: Vec<_> = by_tuple
        .into_iter()
        .filter(|(_, d)| !d.kinds.is_empty())
        .collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    for ((proto, a, b, _), d) in rest {
        if let Some(primary) = d.kinds.primary() {
            s.kinds.entry(primary).or_default().reported += 1;
        }
        s.unlabelled_detections.push((proto, a, b, d.kinds));
    }
    s
}

fn judge(
    parts: &[Part],
    l: &LabelledFlow,
    d: &Detected,
    kinds: &mut BTreeMap<Kind, KindScore>,
) -> Outcome {
    let bytes = l.bytes;
    let allowed: KindSet = parts.iter().map(|p| p.kind).collect();
    let required: KindSet = parts
        .iter()
        .filter(|p| p.plaintext_visible())
        .map(|p| p.kind)
        .collect();
    let wrong = d.kinds.iter().any(|k| !allowed.contains(k));
    let complete = required.iter().all(|k| d.kinds.contains(k));
    let outcome = if wrong {
        Outcome::WrongKind
    } else if required.is_empty() {
        if d.kinds.is_empty() {
            Outcome::NotVisible
        } else {
            Outcome::Correct
        }
    } else if complete {
        Outcome::Correct
    } else {
        Outcome::Missed
    };
    // Found, but the tunnel must be the labelled one too.
    let tunnel_right = match &l.tunnel {
        Some(t) => d.tunnels.len() == 1 && d.tunnels[0] == *t,
        None => d.tunnels.is_empty(),
    };
    let outcome = if outcome == Outcome::Correct && !d.kinds.is_empty() && !tunnel_right {
        Outcome::WrongTunnel
    } else {
        outcome
    };
    for p in parts.iter().filter(|p| p.plaintext_visible()) {
        let k = kinds.entry(p.kind).or_default();
        k.labelled += 1;
        k.labelled_bytes += bytes;
        match outcome {
            Outcome::Correct => {
                k.found += 1;
                k.found_bytes += bytes;
                if let Some(at) = d.decided_at {
                    k.decided_at.push(at);
                }
            }
            Outcome::WrongKind => k.wrong += 1,
            _ => k.missed += 1,
        }
        if p.carries_infohash() {
            k.infohash_expected += 1;
            if !d.infohashes.is_empty() {
                k.infohash_found += 1;
            }
        }
    }
    outcome
}

fn kinds_text(k: KindSet) -> String {
    let v: Vec<&str> = k.iter().map(Kind::as_str).collect();
    if v.is_empty() {
        "-".to_string()
    } else {
        v.join("+")
    }
}

impl Score {
    /// Labelled BitTorrent flows visible in plaintext.
    pub fn required(&self) -> u64 {
        self.flows
            .iter()
            .filter(|f| {
                matches!(
                    f.outcome,
                    Outcome::Correct | Outcome::Missed | Outcome::WrongKind | Outcome::WrongTunnel
                ) && required_any(f)
            })
            .count() as u64
    }

    pub fn count(&self, o: Outcome) -> u64 {
        self.flows.iter().filter(|f| f.outcome == o).count() as u64
    }

    /// Flows swarmwall called BitTorrent.
    pub fn reported(&self) -> u64 {
        self.flows
            .iter()
            .filter(|f| !f.detected.kinds.is_empty())
            .count() as u64
            + self.unlabelled_detections.len() as u64
    }

    /// Right-kind detections over plaintext-visible BitTorrent flows.
    pub fn recall(&self) -> f64 {
        let found = self
            .flows
            .iter()
            .filter(|f| f.outcome == Outcome::Correct && required_any(f))
            .count() as u64;
        ratio(found, self.required())
    }

    /// BitTorrent detections that are labelled BitTorrent (unlabelled ones count against).
    pub fn precision(&self) -> f64 {
        let right = self
            .flows
            .iter()
            .filter(|f| !f.detected.kinds.is_empty() && f.label.label.is_bittorrent())
            .count() as u64;
        ratio(right, self.reported())
    }

    /// A table per kind, then the mistakes.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{:<14} {:>8} {:>6} {:>6} {:>6} {:>8} {:>9} {:>10} {:>9}",
            "kind",
            "labelled",
            "found",
            "missed",
            "wrong",
            "recall",
            "precision",
            "infohash",
            "decided@"
        );
        for (k, v) in &self.kinds {
            let mut at = v.decided_at.clone();
            at.sort_unstable();
            let med = at
                .get(at.len() / 2)
                .map_or("-".to_string(), |m| m.to_string());
            let max = at.last().map_or("-".to_string(), |m| m.to_string());
            let _ = writeln!(
                o,
                "{:<14} {:>8} {:>6} {:>6} {:>6} {:>7.1}% {:>8.1}% {:>10} {:>9}",
                k.as_str(),
                v.labelled,
                v.found,
                v.missed,
                v.wrong,
                100.0 * v.recall(),
                100.0 * v.precision(),
                format!("{}/{}", v.infohash_found, v.infohash_expected),
                format!("{med}/{max}")
            );
        }
        let _ = writeln!(
            o,
            "overall: recall {:.2}% of {} plaintext-visible BitTorrent flows, precision {:.2}% of {} reported, {} false positives, {} wrong kinds",
            100.0 * self.recall(),
            self.required(),
            100.0 * self.precision(),
            self.reported(),
            self.count(Outcome::FalsePositive) + self.unlabelled_detections.len() as u64,
            self.count(Outcome::WrongKind)
        );
        for f in &self.flows {
            if matches!(
                f.outcome,
                Outcome::Missed | Outcome::WrongKind | Outcome::FalsePositive
            ) {
                let _ = writeln!(
                    o,
                    "  {:?}: {} {} <-> {} labelled {} detected {}",
                    f.outcome,
                    f.label.proto,
                    f.label.a,
                    f.label.b,
                    f.label.text,
                    kinds_text(f.detected.kinds)
                );
            }
        }
        for (p, a, b, k) in &self.unlabelled_detections {
            let _ = writeln!(
                o,
                "  Unlabelled: {p} {a} <-> {b} detected {}",
                kinds_text(*k)
            );
        }
        o
    }
}

fn required_any(f: &FlowScore) -> bool {
    match &f.label.label {
        Label::BitTorrent(parts) => parts.iter().any(Part::plaintext_visible),
        _ => false,
    }
}

/// BitTorrent flows through proxies (see [`Score::tunnelled`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelScore {
    pub labelled: u64,
    pub found: u64,
    pub encrypted_labelled: u64,
    pub encrypted_found: u64,
    pub infohash_expected: u64,
    pub infohash_found: u64,
}

/// Another detector's verdicts: which 5-tuples it called BitTorrent (it names no kinds).
#[derive(Debug, Clone, Default)]
pub struct PeerVerdicts {
    /// Name and version of the detector.
    pub tool: String,
    /// Every 5-tuple it reported, and whether it called it BitTorrent.
    pub flows: HashMap<Tuple, bool>,
    /// Seconds it took over the capture (whole run, as measured by its runner).
    pub seconds: Option<f64>,
}

impl PeerVerdicts {
    /// Records one verdict (a 5-tuple reported twice is BitTorrent if either said so).
    pub fn add(&mut self, proto: &str, a: SocketAddr, b: SocketAddr, bittorrent: bool) {
        *self.flows.entry(tuple(proto, a, b, None)).or_default() |= bittorrent;
    }
}

/// Figures for a detector that only says BitTorrent or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BinaryScore {
    /// Per labelled kind (plaintext-visible flows): labelled, found.
    pub kinds: BTreeMap<Kind, (u64, u64)>,
    /// Encrypted (MSE) peer flows: labelled, found.
    pub encrypted: (u64, u64),
    pub required: u64,
    pub found: u64,
    pub required_bytes: u64,
    pub found_bytes: u64,
    pub reported: u64,
    pub false_positives: u64,
}

impl BinaryScore {
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.required)
    }
    pub fn precision(&self) -> f64 {
        ratio(self.reported - self.false_positives, self.reported)
    }
    pub fn bytes_recall(&self) -> f64 {
        ratio(self.found_bytes, self.required_bytes)
    }
}

/// Scores a detector that only says whether a flow is BitTorrent.
pub fn score_binary(labels: &[LabelledFlow], v: &PeerVerdicts) -> BinaryScore {
    let mut s = BinaryScore::default();
    let mut seen = std::collections::HashSet::new();
    for l in labels {
        // Another detector sees 5-tuples only: a relay's flows share one.
        let t = tuple(&l.proto, l.a, l.b, None);
        let flagged = v.flows.get(&t).copied().unwrap_or(false);
        seen.insert(t);
        if flagged {
            s.reported += 1;
        }
        match &l.label {
            Label::BitTorrent(parts) => {
                let visible = parts.iter().any(Part::plaintext_visible);
                if visible {
                    s.required += 1;
                    s.required_bytes += l.bytes;
                    if flagged {
                        s.found += 1;
                        s.found_bytes += l.bytes;
                    }
                }
                for p in parts.iter().filter(|p| p.plaintext_visible()) {
                    let e = s.kinds.entry(p.kind).or_default();
                    e.0 += 1;
                    e.1 += u64::from(flagged);
                }
                if parts
                    .iter()
                    .any(|p| p.variant == crate::labels::Variant::Mse)
                {
                    s.encrypted.0 += 1;
                    s.encrypted.1 += u64::from(flagged);
                }
            }
            _ => s.false_positives += u64::from(flagged),
        }
    }
    for (t, flagged) in &v.flows {
        if *flagged && !seen.contains(t) {
            s.reported += 1;
            s.false_positives += 1;
        }
    }
    s
}

impl Score {
    /// Bytes of plaintext-visible BitTorrent flows found with the right kind, over all of them.
    pub fn bytes_recall(&self) -> f64 {
        let (mut found, mut all) = (0u64, 0u64);
        for f in self.flows.iter().filter(|f| required_any(f)) {
            all += f.label.bytes;
            if f.outcome == Outcome::Correct {
                found += f.label.bytes;
            }
        }
        ratio(found, all)
    }

    /// BitTorrent flows labelled with a tunnel: (plaintext-visible, found with the right kind
    /// and tunnel, purely encrypted peer flows, found at likely or certain with the right kind
    /// and tunnel, info-hashes expected, found).
    pub fn tunnelled(&self) -> TunnelScore {
        let mut t = TunnelScore::default();
        for f in self.flows.iter().filter(|f| f.label.tunnel.is_some()) {
            let Label::BitTorrent(parts) = &f.label.label else {
                continue;
            };
            let right_tunnel = f.detected.tunnels.len() == 1
                && Some(&f.detected.tunnels[0]) == f.label.tunnel.as_ref();
            if required_any(f) {
                t.labelled += 1;
                t.found += u64::from(f.outcome == Outcome::Correct);
            }
            if let Some(p) = parts.iter().find(|p| p.variant == Variant::Mse) {
                t.encrypted_labelled += 1;
                let found = f.detected.kinds.contains(p.kind)
                    && f.detected.confidence >= Some(Confidence::Likely);
                t.encrypted_found += u64::from(found && right_tunnel);
            }
            if parts.iter().any(Part::carries_infohash) {
                t.infohash_expected += 1;
                t.infohash_found += u64::from(!f.detected.infohashes.is_empty());
            }
        }
        t
    }

    /// Purely encrypted (MSE/PE) peer flows: how many, and at which confidence they were
    /// found with the right kind.
    pub fn mse(&self) -> MseScore {
        let mut m = MseScore::default();
        for f in &self.flows {
            let Label::BitTorrent(parts) = &f.label.label else {
                continue;
            };
            let Some(p) = parts.iter().find(|p| p.variant == Variant::Mse) else {
                continue;
            };
            m.labelled += 1;
            m.labelled_bytes += f.label.bytes;
            let d = &f.detected;
            let right = d.kinds.contains(p.kind);
            match d.confidence {
                Some(Confidence::Certain) if right => m.certain += 1,
                Some(Confidence::Likely) if right => m.likely += 1,
                Some(Confidence::Suspect) => m.suspect += 1,
                _ => {}
            }
            if right && d.confidence >= Some(Confidence::Likely) {
                m.found_bytes += f.label.bytes;
                if d.evidence.contains(Signal::MseShape) || d.evidence.contains(Signal::MseOneSided)
                {
                    m.by_shape += 1;
                }
                if d.relabelled {
                    m.relabelled += 1;
                } else if d.decided_payloads.is_some_and(|p| p[0] <= 2 && p[1] <= 2) {
                    m.within_two += 1;
                }
            }
        }
        m
    }

    /// BitTorrent flows found whose `encrypted` flag disagrees with the label (purely MSE/PE:
    /// encrypted; plaintext, or MSE that selected plaintext: not).
    pub fn encrypted_flag_wrong(&self) -> u64 {
        self.flows
            .iter()
            .filter(|f| {
                let Label::BitTorrent(parts) = &f.label.label else {
                    return false;
                };
                let want = parts.iter().any(|p| p.variant == Variant::Mse)
                    && !parts.iter().any(|p| {
                        matches!(p.variant, Variant::Plain | Variant::MsePlaintext)
                            && matches!(p.kind, Kind::PeerTcp | Kind::PeerUtp)
                    });
                !f.detected.kinds.is_empty() && f.detected.encrypted != want
            })
            .count() as u64
    }

    /// Flows labelled as something other than BitTorrent that swarmwall only suspected.
    pub fn suspects_not_bittorrent(&self) -> u64 {
        self.flows
            .iter()
            .filter(|f| {
                !f.label.label.is_bittorrent() && f.detected.confidence == Some(Confidence::Suspect)
            })
            .count() as u64
    }
}

/// How purely encrypted peer flows were found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MseScore {
    pub labelled: u64,
    pub labelled_bytes: u64,
    /// Found with the right kind, certain / likely.
    pub certain: u64,
    pub likely: u64,
    /// Only suspected.
    pub suspect: u64,
    /// Bytes of the flows found at likely or certain.
    pub found_bytes: u64,
    /// Of those found (likely or certain): found with the MSE/PE shape among the evidence
    /// (the others were found by plaintext, uTP headers say).
    pub by_shape: u64,
    /// Found while the flow was seen, by the second payload packet in each direction.
    pub within_two: u64,
    /// Found only at the end of the run, from what was learned after the flow.
    pub relabelled: u64,
}

impl MseScore {
    /// Found with the right kind at likely or certain, over all.
    pub fn recall(&self) -> f64 {
        ratio(self.certain + self.likely, self.labelled)
    }
    pub fn bytes_recall(&self) -> f64 {
        ratio(self.found_bytes, self.labelled_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::parse_flows_csv;
    use engine::{Config, Engine};
    use wire::tcp::flags::{ACK, PSH, SYN};
    use wire::{LinkType, build};

    /// A SOCKS5 CONNECT from 10.77.0.2:40000 through 10.77.1.1:1080 to 203.0.113.7:51413, and a
    /// peer wire handshake inside.
    fn tunnelled_records() -> Vec<FlowRecord> {
        let (c, p) = (
            "10.77.0.2:40000".parse().unwrap(),
            "10.77.1.1:1080".parse().unwrap(),
        );
        let mut hs = vec![19];
        hs.extend(b"BitTorrent protocol");
        hs.extend([0; 8]);
        hs.extend([0x42; 20]);
        hs.extend(b"-qB4520-aaaaaaaaaaaa");
        let msgs: [(bool, Vec<u8>); 5] = [
            (true, vec![5, 1, 0]),
            (false, vec![5, 0]),
            (true, vec![5, 1, 0, 1, 203, 0, 113, 7, 0xC8, 0xD5]),
            (false, vec![5, 0, 0, 1, 10, 77, 1, 1, 0x9C, 0x41]),
            (true, hs),
        ];
        let mut e = Engine::new(Config::default());
        let mut out = Vec::new();
        let mut t = 1_000_000_000;
        let mut send = |e: &mut Engine, f: Vec<u8>| {
            t += 1_000_000;
            e.frame(LinkType::Ethernet, t, &f, f.len() as u32, &mut |r| {
                out.push(r)
            });
        };
        send(&mut e, build::tcp(c, p, 1000, 0, SYN, &[]));
        send(&mut e, build::tcp(p, c, 5000, 1001, SYN | ACK, &[]));
        let mut seq = [1001u32, 5001];
        for (from_client, m) in msgs {
            let (s, d, i) = if from_client { (c, p, 0) } else { (p, c, 1) };
            send(&mut e, build::tcp(s, d, seq[i], seq[1 - i], PSH | ACK, &m));
            seq[i] += m.len() as u32;
        }
        e.finish(&mut |r| out.push(r));
        out
    }

    const HEADER: &str = "proto,ip_a,port_a,ip_b,port_b,packets,bytes,label,tunnel\n";

    #[test]
    fn a_tunnelled_flow_is_right_only_through_its_tunnel() {
        let records = tunnelled_records();
        let score = |tunnel: &str| {
            let csv = format!(
                "{HEADER}tcp,10.77.0.2,40000,10.77.1.1,1080,7,500,bittorrent:peer-tcp,{tunnel}\n"
            );
            score(&parse_flows_csv(&csv).unwrap(), &records).flows[0].outcome
        };
        assert_eq!(score("socks5:203.0.113.7:51413"), Outcome::Correct);
        assert_eq!(score("socks5:203.0.113.7:6881"), Outcome::WrongTunnel);
        assert_eq!(
            score("http-connect:203.0.113.7:51413"),
            Outcome::WrongTunnel
        );
        assert_eq!(
            score(""),
            Outcome::WrongTunnel,
            "a tunnel the label does not have"
        );
        // older label files have no tunnel column
        let csv = "proto,ip_a,port_a,ip_b,port_b,packets,bytes,label\ntcp,10.77.0.2,40000,10.77.1.1,1080,7,500,bittorrent:peer-tcp\n";
        let l = parse_flows_csv(csv).unwrap();
        assert_eq!(l[0].tunnel, None);
        assert_eq!(
            super::score(&l, &records).flows[0].outcome,
            Outcome::WrongTunnel
        );
    }
}
