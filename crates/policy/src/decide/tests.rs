// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use super::*;
use crate::parse;

const H1: &str = "0123456789abcdef0123456789abcdef01234567";
const H2: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn h(s: &str) -> InfoHash {
    InfoHash::from_hex(s.as_bytes()).unwrap()
}

fn policy(text: &str) -> Policy {
    parse(Path::new("p.toml"), text, &mut |_| unreachable!()).unwrap()
}

fn verdict(kinds: &[Kind], confidence: Option<Confidence>, encrypted: bool) -> Verdict {
    let mut v = Verdict {
        confidence,
        encrypted,
        ..Verdict::default()
    };
    for k in kinds {
        if confidence >= Some(Confidence::Likely) {
            v.kinds.insert(*k);
        } else {
            v.suspected.insert(*k);
        }
    }
    v
}

struct S {
    verdict: Verdict,
    flow: Vec<InfoHash>,
    packet: PacketFacts,
    detecting: bool,
    packets: u64,
    client: SocketAddr,
    server: SocketAddr,
    relayed: bool,
}

impl S {
    fn new(verdict: Verdict) -> S {
        S {
            verdict,
            flow: Vec::new(),
            packet: PacketFacts::default(),
            detecting: true,
            packets: 5,
            client: "10.77.1.2:40000".parse().unwrap(),
            server: "198.51.100.7:6881".parse().unwrap(),
            relayed: false,
        }
    }
    fn subject(&self) -> Subject<'_> {
        Subject {
            client: self.client,
            server: self.server,
            verdict: &self.verdict,
            flow_infohashes: &self.flow,
            packet: &self.packet,
            detecting: self.detecting,
            packets: self.packets,
            relayed: self.relayed,
            tunnel: None,
        }
    }
}

const BLOCK_ALL: &str = "default = \"allow\"\n[[rule]]\napp = \"bittorrent\"\naction = \"drop\"\n";

#[test]
fn block_all_drops_bittorrent_at_once_and_allows_the_rest_when_settled() {
    let p = policy(BLOCK_ALL);
    let s = S::new(verdict(&[Kind::PeerTcp], Some(Confidence::Certain), false));
    let d = p.decide(&s.subject());
    assert_eq!(
        (d.action, d.scope, d.fin, d.rule),
        (Action::Drop, Scope::Flow, true, Some(0))
    );

    // not (yet) BitTorrent: allowed, not final while detectors read it
    let mut s = S::new(Verdict::default());
    let d = p.decide(&s.subject());
    assert_eq!((d.action, d.fin, d.rule), (Action::Allow, false, None));
    s.detecting = false;
    assert!(p.decide(&s.subject()).fin, "the detectors gave up: final");

    // a suspect is not BitTorrent
    let s = S::new(verdict(&[Kind::PeerTcp], Some(Confidence::Suspect), true));
    assert_eq!(p.decide(&s.subject()).action, Action::Allow);
    // unless the rule asks for suspects
    let p2 =
        policy("[[rule]]\napp = \"bittorrent\"\nconfidence = \"suspect\"\naction = \"reject\"\n");
    assert_eq!(p2.decide(&s.subject()).action, Action::Reject);
}

#[test]
fn listed_torrents_on_peer_connections() {
    let p = policy(&format!(
        "default = \"allow\"\n[[rule]]\ninfohashes = [\"{H1}\"]\naction = \"drop\"\n"
    ));
    let mut s = S::new(verdict(&[Kind::PeerTcp], Some(Confidence::Certain), false));
    s.flow = vec![h(H2)];
    let d = p.decide(&s.subject());
    assert_eq!(
        (d.action, d.fin),
        (Action::Allow, true),
        "its torrent is known: final"
    );
    s.flow = vec![h(H1)];
    let d = p.decide(&s.subject());
    assert_eq!(
        (d.action, d.scope, d.fin),
        (Action::Drop, Scope::Flow, true)
    );

    // encrypted: attributed through the endpoint, blocked only when every torrent is listed
    let mut s = S::new(verdict(&[Kind::PeerTcp], Some(Confidence::Certain), true));
    s.flow = vec![h(H1), h(H2)];
    assert_eq!(p.decide(&s.subject()).action, Action::Allow);
    s.flow = vec![h(H1)];
    assert_eq!(p.decide(&s.subject()).action, Action::Drop);
    // unattributed: allowed, settled only after a while
    s.flow.clear();
    let d = p.decide(&s.subject());
    assert_eq!((d.action, d.fin), (Action::Allow, false));
    s.packets = SETTLE_PACKETS;
    assert!(p.decide(&s.subject()).fin);
}

#[test]
fn dht_packets_are_judged_one_by_one() {
    let p = policy(&format!(
        "default = \"allow\"\n[[rule]]\ninfohashes = [\"{H1}\"]\naction = \"drop\"\n"
    ));
    let mut s = S::new(verdict(&[Kind::Dht], Some(Confidence::Certain), false));
    s.flow = vec![h(H1), h(H2)];
    s.packet.dht = Some(DhtMessage::GetPeers);
    s.packet.infohashes = vec![h(H2)];
    let d = p.decide(&s.subject());
    assert_eq!(
        (d.action, d.fin),
        (Action::Allow, false),
        "a DHT flow is never settled"
    );
    s.packet.infohashes = vec![h(H1)];
    let d = p.decide(&s.subject());
    assert_eq!(
        (d.action, d.scope, d.fin),
        (Action::Drop, Scope::Packet, false)
    );
    // a ping in the same flow passes, whatever the flow carried before
    s.packet.dht = Some(DhtMessage::OtherQuery);
    s.packet.infohashes.clear();
    assert_eq!(p.decide(&s.subject()).action, Action::Allow);
}

/// A socket pair carrying a uTP connection and DHT messages: a rule on peer connections is
/// about the connection, not about the DHT packets that share its 5-tuple, and the reverse.
#[test]
fn dht_packets_on_a_utp_flow_are_dht_for_kind_rules() {
    let rule = |kind: &str| {
        policy(&format!(
            "default = \"allow\"\n[[rule]]\ninfohashes = [\"{H1}\"]\nkind = [\"{kind}\"]\naction = \"drop\"\n"
        ))
    };
    let mut s = S::new(verdict(
        &[Kind::PeerUtp, Kind::Dht],
        Some(Confidence::Certain),
        false,
    ));
    s.flow = vec![h(H2)];
    s.packet.dht = Some(DhtMessage::GetPeers);
    s.packet.infohashes = vec![h(H1)];
    assert_eq!(rule("peer-utp").decide(&s.subject()).action, Action::Allow);
    let d = rule("dht").decide(&s.subject());
    assert_eq!((d.action, d.scope), (Action::Drop, Scope::Packet));
    // the connection's own packets: the peer rule looks at the connection's torrent
    s.packet = PacketFacts::default();
    assert_eq!(rule("peer-utp").decide(&s.subject()).action, Action::Allow);
    s.flow = vec![h(H1)];
    let d = rule("peer-utp").decide(&s.subject());
    assert_eq!(
        (d.action, d.scope, d.fin),
        (Action::Drop, Scope::Flow, true)
    );
}

#[test]
fn refusing_dht_lookups() {
    let p = policy(&format!(
        "default = \"allow\"\n[dht]\nrefuse = [\"{H1}\"]\n"
    ));
    let mut s = S::new(verdict(&[Kind::Dht], Some(Confidence::Certain), false));
    for (m, hashes, drop) in [
        (DhtMessage::GetPeers, vec![h(H1)], true),
        (DhtMessage::AnnouncePeer, vec![h(H1)], true),
        (DhtMessage::Response { peers: true }, vec![h(H1)], true),
        (DhtMessage::Response { peers: false }, vec![h(H1)], true),
        (DhtMessage::GetPeers, vec![h(H2)], false),
        (DhtMessage::OtherQuery, vec![], false),
        (DhtMessage::Error, vec![], false),
    ] {
        s.packet.dht = Some(m);
        s.packet.infohashes = hashes;
        let d = p.decide(&s.subject());
        assert_eq!(d.action == Action::Drop, drop, "{m:?}");
        assert_eq!(d.refused, drop);
        assert_eq!(d.scope == Scope::Packet, drop);
    }
    // a peer connection for the refused torrent is not the DHT's business
    let mut s = S::new(verdict(&[Kind::PeerTcp], Some(Confidence::Certain), false));
    s.flow = vec![h(H1)];
    assert_eq!(p.decide(&s.subject()).action, Action::Allow);
}

#[test]
fn kinds_encryption_direction_and_log_rules() {
    let p = policy(
        "local = [\"10.77.0.0/16\"]\n\
         [[rule]]\nkind = \"dht\"\naction = \"log\"\n\
         [[rule]]\nkind = [\"peer-utp\"]\naction = \"reject\"\n\
         [[rule]]\nkind = \"peer-tcp\"\nencrypted = true\ndirection = \"inbound\"\naction = \"drop\"\n\
         [[rule]]\nkind = \"peer-tcp\"\ndirection = \"outbound\"\naction = \"mark\"\nmark = 4\n",
    );
    let s = S::new(verdict(
        &[Kind::PeerUtp, Kind::Dht],
        Some(Confidence::Certain),
        false,
    ));
    let d = p.decide(&s.subject());
    assert_eq!((d.action, d.rule, d.logged), (Action::Reject, Some(1), 0b1));
    // outbound (the client is local): marked
    let s = S::new(verdict(&[Kind::PeerTcp], Some(Confidence::Likely), true));
    let d = p.decide(&s.subject());
    assert_eq!((d.action, d.rule), (Action::Mark(4), Some(3)));
    // inbound and encrypted: dropped
    let mut s = S::new(verdict(&[Kind::PeerTcp], Some(Confidence::Likely), true));
    std::mem::swap(&mut s.client, &mut s.server);
    assert_eq!(p.decide(&s.subject()).action, Action::Drop);
    // neither end local: the default
    let mut s = S::new(verdict(&[Kind::PeerTcp], Some(Confidence::Likely), false));
    s.client = "192.0.2.1:1".parse().unwrap();
    assert_eq!(p.decide(&s.subject()).rule, None);
}

#[test]
fn default_drop_waits_for_the_detectors() {
    let p = policy("default = \"drop\"\n[[rule]]\napp = \"bittorrent\"\naction = \"allow\"\n");
    let mut s = S::new(Verdict::default());
    let d = p.decide(&s.subject());
    assert_eq!(
        (d.action, d.fin),
        (Action::Drop, false),
        "this packet, not yet the flow"
    );
    s.detecting = false;
    assert!(p.decide(&s.subject()).fin);
    let s = S::new(verdict(
        &[Kind::TrackerHttp],
        Some(Confidence::Certain),
        false,
    ));
    assert_eq!(p.decide(&s.subject()).action, Action::Allow);
}

/// Against the engine itself: packets built from the specs, judged on what it reports.
#[test]
fn with_the_engine() {
    use bencode::encode::Item;
    use engine::{Config, Engine};
    use wire::{LinkType, build};

    let p = policy(&format!(
        "[[rule]]\ninfohashes = [\"{H1}\"]\naction = \"drop\"\n[dht]\nrefuse = [\"{H2}\"]\n"
    ));
    let mut e = Engine::new(Config::default());
    let (a, b): (SocketAddr, SocketAddr) = (
        "10.77.0.2:6881".parse().unwrap(),
        "10.77.0.3:6881".parse().unwrap(),
    );
    let judge = |e: &mut Engine, frame: Vec<u8>| {
        let seen = e
            .frame(
                LinkType::Ethernet,
                1,
                &frame,
                frame.len() as u32,
                &mut |_| {},
            )
            .seen()
            .unwrap();
        p.decide(&Subject::new(&seen))
    };
    let get_peers = |hash: &str, tid: &'static [u8]| {
        let ih = h(hash).0;
        Item::Dict(vec![
            (
                b"a",
                Item::Dict(vec![
                    (b"id", Item::Bytes(&[1; 20])),
                    (b"info_hash", Item::Bytes(Box::leak(Box::new(ih)))),
                ]),
            ),
            (b"q", Item::Bytes(b"get_peers")),
            (b"t", Item::Bytes(tid)),
            (b"y", Item::Bytes(b"q")),
        ])
        .to_vec()
    };
    let reply = |tid: &'static [u8]| {
        Item::Dict(vec![
            (
                b"r",
                Item::Dict(vec![
                    (b"id", Item::Bytes(&[2; 20])),
                    (b"token", Item::Bytes(b"tk")),
                    (
                        b"values",
                        Item::List(vec![Item::Bytes(&[10, 77, 0, 8, 0x1a, 0xe1])]),
                    ),
                ]),
            ),
            (b"t", Item::Bytes(tid)),
            (b"y", Item::Bytes(b"r")),
        ])
        .to_vec()
    };
    let d = judge(&mut e, build::udp(a, b, &get_peers(H1, b"t1")));
    assert_eq!(
        (d.action, d.scope, d.refused),
        (Action::Drop, Scope::Packet, false)
    );
    let d = judge(&mut e, build::udp(b, a, &reply(b"t1")));
    assert_eq!(d.action, Action::Drop, "the answer to a listed lookup");
    let d = judge(&mut e, build::udp(a, b, &get_peers(H2, b"t2")));
    assert!(d.refused);
    let d = judge(&mut e, build::udp(b, a, &reply(b"t2")));
    assert!(d.refused);
    let other = "00112233445566778899aabbccddeeff00112233";
    let d = judge(&mut e, build::udp(a, b, &get_peers(other, b"t3")));
    assert_eq!(d.action, Action::Allow);
    let d = judge(&mut e, build::udp(b, a, &reply(b"t3")));
    assert_eq!(d.action, Action::Allow);
}

/// A flow through a SOCKS5 UDP relay shares its 5-tuple with the relay's other flows: a
/// block applies to its packets, never to the 5-tuple's conntrack entry, and nothing is final.
#[test]
fn relayed_flows_are_decided_per_packet() {
    let p = policy(BLOCK_ALL);
    let mut s = S::new(verdict(&[Kind::PeerUtp], Some(Confidence::Certain), false));
    let d = p.decide(&s.subject());
    assert_eq!(
        (d.action, d.scope, d.fin),
        (Action::Drop, Scope::Flow, true)
    );
    s.relayed = true;
    let d = p.decide(&s.subject());
    assert_eq!(
        (d.action, d.scope, d.fin),
        (Action::Drop, Scope::Packet, false)
    );
    let p = policy("default = \"allow\"\n");
    s.detecting = false;
    let d = p.decide(&s.subject());
    assert_eq!(
        (d.action, d.scope, d.fin),
        (Action::Allow, Scope::Packet, false)
    );
}
