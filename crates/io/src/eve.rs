//! EVE JSON: flow and DHT events in the shape of Suricata's EVE log (`--eve PATH`), so that
//! the Filebeat, Logstash, Wazuh or Evebox setups built for Suricata take them unchanged.
//!
//! Suricata's keys keep Suricata's meaning: `timestamp` (`2026-11-21T06:30:11.962192+0000`),
//! `flow_id` (the same for every event of one flow), `event_type`, `src_ip`/`src_port` (the
//! client of a flow, the sender of a DHT message), `dest_ip`/`dest_port`, `proto` (`TCP`,
//! `UDP`), `app_proto`, `flow{…}` and Suricata's own `bittorrent_dht{…}` for DHT messages.
//! swarmwall's own fields go in one object of their own, `swarmwall`: for a flow event, the
//! JSON flow record itself (the contract of `--flows`). Suricata's schema allows no top-level
//! key it does not know, so a record is valid against it once that one key is taken out (the
//! tests check both: the whole event against the schema with `swarmwall` added as an object,
//! and the event without it against the schema unchanged); the tools that read EVE keep
//! unknown keys.

use std::net::SocketAddr;

use bt::hex;
use bt::krpc::{self, Body, Method};
use engine::{FlowRecord, Kind, Proto};
use serde_json::{Map, Value, json};

use crate::record;

/// EVE's time: RFC 3339 with microseconds and a numeric zone (`+0000`).
pub fn timestamp(ns: i64) -> String {
    let mut t = record::rfc3339_micros(ns);
    if t.ends_with('Z') {
        t.pop();
        t.push_str("+0000");
    }
    t
}

/// A flow's id: the same for its flow event and its DHT events, from its protocol, its two
/// ends (in either order) and when it started; 51 bits, as Suricata's (a JSON number every
/// reader keeps exact).
pub fn flow_id(proto: Proto, a: SocketAddr, b: SocketAddr, first_ns: i64) -> u64 {
    // FNV-1a: stable across builds and platforms (a log's ids must not change with them).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &x in bytes {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let (lo, hi) = if (a.ip(), a.port()) <= (b.ip(), b.port()) {
        (a, b)
    } else {
        (b, a)
    };
    eat(proto.as_str().as_bytes());
    for e in [lo, hi] {
        eat(e.ip().to_string().as_bytes());
        eat(&e.port().to_be_bytes());
    }
    eat(&first_ns.to_be_bytes());
    h & ((1 << 51) - 1)
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
    }
}

/// The application protocol in Suricata's words where it has one (`http`, `bittorrent-dht`),
/// else swarmwall's kind; `None` for a flow that is not BitTorrent.
fn app_proto(r: &FlowRecord) -> Option<&'static str> {
    Some(match r.kind()? {
        Kind::Dht => "bittorrent-dht",
        Kind::TrackerHttp => "http",
        Kind::TrackerUdp => "bittorrent-tracker",
        Kind::Lsd => "bittorrent-lsd",
        Kind::PeerTcp | Kind::PeerUtp => "bittorrent",
    })
}

/// The flow's id as its events carry it.
pub fn record_flow_id(r: &FlowRecord) -> u64 {
    flow_id(r.proto, r.client, r.server, r.first_ns)
}

/// A flow event for one ended flow.
pub fn flow_event(r: &FlowRecord) -> Value {
    let mut e = Map::new();
    e.insert("timestamp".into(), timestamp(r.first_ns).into());
    e.insert("flow_id".into(), record_flow_id(r).into());
    e.insert("event_type".into(), "flow".into());
    e.insert("src_ip".into(), r.client.ip().to_string().into());
    e.insert("src_port".into(), r.client.port().into());
    e.insert("dest_ip".into(), r.server.ip().to_string().into());
    e.insert("dest_port".into(), r.server.port().into());
    e.insert("proto".into(), proto_name(r.proto).into());
    if let Some(a) = app_proto(r) {
        e.insert("app_proto".into(), a.into());
    }
    let age = (r.last_ns.saturating_sub(r.first_ns)) / 1_000_000_000;
    e.insert(
        "flow".into(),
        json!({
            "pkts_toserver": r.packets[0],
            "pkts_toclient": r.packets[1],
            "bytes_toserver": r.bytes[0],
            "bytes_toclient": r.bytes[1],
            "start": timestamp(r.first_ns),
            "end": timestamp(r.last_ns),
            "age": age,
            "reason": r.end.as_str(),
            "alerted": false,
        }),
    );
    e.insert(
        "swarmwall".into(),
        serde_json::to_value(record::Json::new(r)).unwrap_or(Value::Null),
    );
    Value::Object(e)
}

/// A `bittorrent_dht` event for one KRPC message (`None` if the payload is not one), in the
/// fields of Suricata's DHT logger: `transaction_id` and `client_version` in hex, the
/// request's type and arguments, the response's id, nodes, values and token, or the error.
pub fn dht_event(
    ts_ns: i64,
    src: SocketAddr,
    dst: SocketAddr,
    flow_id: u64,
    payload: &[u8],
) -> Option<Value> {
    let m = krpc::parse(payload).ok()?;
    let mut d = Map::new();
    d.insert("transaction_id".into(), hex(m.transaction).into());
    if let Some(v) = m.version {
        d.insert("client_version".into(), hex(v).into());
    }
    match m.body {
        Body::Query(q) => {
            let mut req = Map::new();
            req.insert("id".into(), q.id.to_hex().into());
            let kind = match q.method {
                Method::Ping => "ping",
                Method::FindNode { target } => {
                    req.insert("target".into(), target.to_hex().into());
                    "find_node"
                }
                Method::GetPeers { info_hash, .. } => {
                    req.insert("info_hash".into(), info_hash.to_hex().into());
                    "get_peers"
                }
                Method::AnnouncePeer {
                    info_hash,
                    port,
                    implied_port,
                } => {
                    req.insert("info_hash".into(), info_hash.to_hex().into());
                    if let Some(p) = port {
                        req.insert("port".into(), p.into());
                    }
                    req.insert("implied_port".into(), u8::from(implied_port).into());
                    "announce_peer"
                }
                Method::Get { target } => {
                    req.insert("target".into(), target.to_hex().into());
                    "get"
                }
                Method::Put => "put",
                Method::SampleInfohashes { target } => {
                    req.insert("target".into(), target.to_hex().into());
                    "sample_infohashes"
                }
                Method::Other(name) => {
                    d.insert(
                        "request_type".into(),
                        String::from_utf8_lossy(name).into_owned().into(),
                    );
                    ""
                }
            };
            if !kind.is_empty() {
                d.insert("request_type".into(), kind.into());
            }
            d.insert("request".into(), Value::Object(req));
        }
        Body::Response(r) => {
            let mut resp = Map::new();
            resp.insert("id".into(), r.id.to_hex().into());
            let nodes = |it: bt::compact::Nodes<'_>| -> Vec<Value> {
                it.map(
                    |(id, a)| json!({"id": id.to_hex(), "ip": a.ip().to_string(), "port": a.port()}),
                )
                .collect()
            };
            let n4 = nodes(r.nodes());
            if !n4.is_empty() {
                resp.insert("nodes".into(), n4.into());
            }
            let n6 = nodes(r.nodes6());
            if !n6.is_empty() {
                resp.insert("nodes6".into(), n6.into());
            }
            let values: Vec<Value> = r
                .values()
                .map(|a| json!({"ip": a.ip().to_string(), "port": a.port()}))
                .collect();
            if !values.is_empty() {
                resp.insert("values".into(), values.into());
            }
            if let Some(t) = r.token() {
                resp.insert("token".into(), hex(t).into());
            }
            d.insert("response".into(), Value::Object(resp));
        }
        Body::Error { code, message } => {
            d.insert(
                "error".into(),
                json!({"num": code, "msg": String::from_utf8_lossy(message)}),
            );
        }
    }
    Some(json!({
        "timestamp": timestamp(ts_ns),
        "flow_id": flow_id,
        "event_type": "bittorrent_dht",
        "src_ip": src.ip().to_string(),
        "src_port": src.port(),
        "dest_ip": dst.ip().to_string(),
        "dest_port": dst.port(),
        "proto": "UDP",
        "app_proto": "bittorrent-dht",
        "bittorrent_dht": Value::Object(d),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_ids() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000+0000");
        let (a, b): (SocketAddr, SocketAddr) = (
            "10.77.0.2:6881".parse().unwrap(),
            "10.77.0.3:51413".parse().unwrap(),
        );
        let id = flow_id(Proto::Udp, a, b, 5);
        assert_eq!(id, flow_id(Proto::Udp, b, a, 5), "either end first");
        assert_ne!(id, flow_id(Proto::Tcp, a, b, 5));
        assert_ne!(id, flow_id(Proto::Udp, a, b, 6));
        assert!(id < 1 << 51);
    }

    #[test]
    fn dht_messages() {
        let (a, b): (SocketAddr, SocketAddr) = (
            "10.77.0.2:6881".parse().unwrap(),
            "10.77.0.3:6881".parse().unwrap(),
        );
        let q = b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa9:info_hash20:bbbbbbbbbbbbbbbbbbbbe1:q9:get_peers1:t2:xy1:v4:LT\x01\x021:y1:qe";
        let e = dht_event(1_000_000_000, a, b, 7, q).unwrap();
        let d = &e["bittorrent_dht"];
        assert_eq!(d["request_type"], "get_peers");
        assert_eq!(d["transaction_id"], "7879");
        assert_eq!(d["client_version"], "4c540102");
        assert_eq!(d["request"]["info_hash"], hex(&[b'b'; 20]));
        assert_eq!(e["flow_id"], 7);
        let mut values = b"d1:rd2:id20:cccccccccccccccccccc6:valuesl6:".to_vec();
        values.extend([10, 77, 0, 9, 0x1a, 0xe1]);
        values.extend(b"ee1:t2:xy1:y1:re");
        let e = dht_event(0, b, a, 7, &values).unwrap();
        assert_eq!(
            e["bittorrent_dht"]["response"]["values"][0]["ip"],
            "10.77.0.9"
        );
        assert_eq!(e["bittorrent_dht"]["response"]["values"][0]["port"], 6881);
        let err = dht_event(0, b, a, 7, b"d1:eli201e4:Oopse1:t2:xy1:y1:ee").unwrap();
        assert_eq!(err["bittorrent_dht"]["error"]["num"], 201);
        assert!(dht_event(0, a, b, 7, b"not bencode").is_none());
    }
}
