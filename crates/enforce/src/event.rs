//! Decision events, one JSON object per line — a contract like the flow records: fields are
//! added, never renamed or removed.

use engine::{DhtMessage, FlowKey};
use policy::{Decision, Policy, Scope, Subject};
use serde::Serialize;
use swarmwall_io::record::rfc3339_micros;

use crate::judge::proto_str;

/// One event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    pub time: String,
    /// `decision`: a flow's final decision, or a packet blocked on its own; `reload`; `start`;
    /// `stop`.
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionFields>,
    /// For `reload`, `start` and `stop`: what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
}

/// The flow a decision is about, named as in the flow records.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FlowFields {
    pub proto: &'static str,
    pub client: String,
    pub server: String,
    pub kind: Option<&'static str>,
    pub kinds: Vec<&'static str>,
    pub confidence: Option<&'static str>,
    pub encrypted: bool,
    pub evidence: Vec<&'static str>,
    /// The flow's info-hashes (carried, or for an encrypted flow, attributed).
    pub infohashes: Vec<String>,
    pub packets: u64,
    /// The proxy the flow goes through, as in flow records (`type`, `target`, `command`);
    /// absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<swarmwall_io::record::TunnelJson>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DecisionFields {
    /// `allow`, `drop`, `reject`, `mark` (what is done, or in a dry run, what would be).
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<u8>,
    /// `flow`: this and every later packet of the flow; `packet`: this packet only.
    pub scope: &'static str,
    /// The rule's name; `"default"`; or `"dht.refuse"`.
    pub rule: String,
    /// Names of `action = "log"` rules that matched on the way.
    pub logged_by: Vec<String>,
    pub dry_run: bool,
    /// For a packet decision on a DHT message: `get_peers`, `announce_peer`, `response`,
    /// `query`, `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dht: Option<&'static str>,
    /// The info-hashes the packet itself named.
    pub packet_infohashes: Vec<String>,
}

impl Event {
    pub fn decision(
        now_ns: i64,
        policy: &Policy,
        s: &Subject<'_>,
        key: &FlowKey,
        d: &Decision,
        dry_run: bool,
    ) -> Event {
        let v = s.verdict;
        let bt = v.is_bittorrent();
        let flow = FlowFields {
            proto: proto_str(key.proto()),
            client: s.client.to_string(),
            server: s.server.to_string(),
            kind: if bt {
                v.kinds.primary().map(|k| k.as_str())
            } else {
                None
            },
            kinds: v.kinds.iter().map(|k| k.as_str()).collect(),
            confidence: v.confidence.map(|c| c.as_str()),
            encrypted: bt && v.encrypted,
            evidence: v.evidence.iter().map(|e| e.as_str()).collect(),
            infohashes: s.flow_infohashes.iter().map(|h| h.to_hex()).collect(),
            packets: s.packets,
            tunnel: s.tunnel.map(swarmwall_io::record::TunnelJson::new),
        };
        let rule = match (d.refused, d.rule) {
            (true, _) => "dht.refuse".to_string(),
            (false, Some(i)) => policy
                .rules
                .get(i)
                .map_or_else(|| format!("rule {}", i + 1), |r| r.name.clone()),
            (false, None) => "default".to_string(),
        };
        let logged_by = policy
            .rules
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 64 && d.logged & (1 << i) != 0)
            .map(|(_, r)| r.name.clone())
            .collect();
        let packet_scope = d.scope == Scope::Packet;
        let decision = DecisionFields {
            action: d.action.as_str(),
            mark: match d.action {
                policy::Action::Mark(m) => Some(m),
                _ => None,
            },
            scope: if packet_scope { "packet" } else { "flow" },
            rule,
            logged_by,
            dry_run,
            dht: s.packet.dht.filter(|_| packet_scope).map(dht_str),
            packet_infohashes: s.packet.infohashes.iter().map(|h| h.to_hex()).collect(),
        };
        Event {
            time: rfc3339_micros(now_ns),
            event: "decision",
            flow: Some(flow),
            decision: Some(decision),
            message: None,
            ok: None,
        }
    }

    /// A daemon event (`start`, `reload`, `stop`).
    pub fn daemon(now_ns: i64, event: &'static str, ok: bool, message: String) -> Event {
        Event {
            time: rfc3339_micros(now_ns),
            event,
            flow: None,
            decision: None,
            message: Some(message),
            ok: Some(ok),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn dht_str(m: DhtMessage) -> &'static str {
    match m {
        DhtMessage::GetPeers => "get_peers",
        DhtMessage::AnnouncePeer => "announce_peer",
        DhtMessage::OtherQuery => "query",
        DhtMessage::Response { .. } => "response",
        DhtMessage::Error => "error",
    }
}
