//! Flows: bidirectional 5-tuples, what is known about them, and the record they leave.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bt::{InfoHash, PeerId};

use crate::detect::Detect;

/// Transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A flow's identity: protocol and both endpoints, in a canonical order so that both
/// directions of a conversation find the same flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    v6: bool,
    /// The IP protocol number, with [`RELAYED`] set for a flow carried by a SOCKS5 UDP relay:
    /// the key holds the proxy's client and the target, never the same as a direct flow
    /// between them (one byte: the key is hashed for every packet).
    proto: u8,
    ips: [[u8; 16]; 2],
    ports: [u16; 2],
}

/// Three words for the hasher instead of the derive's field-by-field writes (length prefixes
/// for the nested address arrays among them): the flow table hashes a key for every packet.
impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_ne_bytes(self.ips[0]));
        state.write_u128(u128::from_ne_bytes(self.ips[1]));
        state.write_u64(
            u64::from(self.ports[0])
                | u64::from(self.ports[1]) << 16
                | u64::from(self.proto) << 32
                | u64::from(self.v6) << 40,
        );
    }
}

/// A bit of [`FlowKey`]'s protocol byte: the flow goes through a SOCKS5 UDP relay.
const RELAYED: u8 = 0x80;

/// Which endpoint of a [`FlowKey`] sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The endpoint that sorts first.
    Lo,
    Hi,
}

impl Side {
    /// The other endpoint.
    #[inline]
    pub fn other(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`, and which side of the key sent it.
    #[inline(always)]
    pub fn new(proto: Proto, src: SocketAddr, dst: SocketAddr) -> (FlowKey, Side) {
        // Addresses as integers, compared in registers (byte arrays written then compared
        // word by word cost a store-forwarding stall on every packet), stored once.
        let (s, d) = (bits(src.ip()), bits(dst.ip()));
        // Both ends of an IP packet are of one family (a relayed key may mix them: see
        // `relayed`).
        let v6 = src.is_ipv6();
        let p = match proto {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        };
        if (s, src.port()) <= (d, dst.port()) {
            (
                FlowKey {
                    v6,
                    proto: p,
                    ips: [s.to_be_bytes(), d.to_be_bytes()],
                    ports: [src.port(), dst.port()],
                },
                Side::Lo,
            )
        } else {
            (
                FlowKey {
                    v6,
                    proto: p,
                    ips: [d.to_be_bytes(), s.to_be_bytes()],
                    ports: [dst.port(), src.port()],
                },
                Side::Hi,
            )
        }
    }

    /// The key of a datagram between the proxy's client `src` and `dst` through a SOCKS5 UDP
    /// relay (either way round).
    #[inline]
    pub fn relayed(src: SocketAddr, dst: SocketAddr) -> (FlowKey, Side) {
        let (mut k, side) = FlowKey::new(Proto::Udp, src, dst);
        k.proto |= RELAYED;
        // An IPv6 client may reach an IPv4 target: the key is then IPv6, the target mapped.
        k.v6 = src.is_ipv6() || dst.is_ipv6();
        (k, side)
    }

    /// Whether the flow is carried by a SOCKS5 UDP relay (one of several flows that share
    /// the relay's 5-tuple).
    pub fn is_relayed(&self) -> bool {
        self.proto & RELAYED != 0
    }

    pub fn proto(&self) -> Proto {
        if self.proto == 6 {
            Proto::Tcp
        } else {
            Proto::Udp
        }
    }

    /// The endpoint on `side`.
    pub fn addr(&self, side: Side) -> SocketAddr {
        let i = match side {
            Side::Lo => 0,
            Side::Hi => 1,
        };
        let ip = if self.v6 {
            let a = Ipv6Addr::from(self.ips[i]);
            match a.to_ipv4_mapped() {
                // Only a relayed key mixes families (an IPv4 target stored mapped).
                Some(v4) if self.is_relayed() => IpAddr::V4(v4),
                _ => IpAddr::V6(a),
            }
        } else {
            let o = self.ips[i];
            IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        };
        SocketAddr::new(ip, self.ports[i])
    }
}

/// An address as the integer of its 16 bytes, IPv4 mapped into IPv6 (`::ffff:a.b.c.d`):
/// integers compare as the bytes would.
#[inline(always)]
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => 0xffff_0000_0000 | u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}

pub use crate::detect::{Kind, Signal};

impl Kind {
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of kinds (one UDP socket can carry DHT and uTP at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KindSet(u8);

impl KindSet {
    pub fn insert(&mut self, k: Kind) {
        self.0 |= k.bit();
    }
    pub fn remove(&mut self, k: Kind) {
        self.0 &= !k.bit();
    }
    pub fn contains(&self, k: Kind) -> bool {
        self.0 & k.bit() != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    /// The kinds in precedence order.
    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
    /// The kind a flow is reported as.
    pub fn primary(self) -> Option<Kind> {
        self.iter().next()
    }
    pub fn union(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }
}

impl FromIterator<Kind> for KindSet {
    fn from_iter<I: IntoIterator<Item = Kind>>(it: I) -> Self {
        let mut s = KindSet::default();
        for k in it {
            s.insert(k);
        }
        s
    }
}

/// The set of signals that matched on a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Evidence(u32);

impl Evidence {
    pub fn insert(&mut self, s: Signal) {
        self.0 |= 1 << (s as u32);
    }
    pub fn contains(&self, s: Signal) -> bool {
        self.0 & (1 << (s as u32)) != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    pub fn union(self, other: Evidence) -> Evidence {
        Evidence(self.0 | other.0)
    }
    pub fn iter(self) -> impl Iterator<Item = Signal> {
        Signal::ALL
            .iter()
            .copied()
            .filter(move |s| self.contains(*s))
    }
}

/// How sure a decision is.
///
/// * `Certain`: the protocol's own structure matched (a plaintext signature), or an MSE/PE
///   handshake went to an endpoint the swarm itself announced.
/// * `Likely`: weaker corroboration — an MSE/PE handshake to a host seen speaking BitTorrent
///   on that port (or between two BitTorrent hosts), a never-answered MSE/PE opening to an
///   announced endpoint, uTP one way.
/// * `Suspect`: the MSE/PE shape alone, which other obfuscated protocols share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confidence {
    Suspect,
    Likely,
    Certain,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Suspect => "suspect",
            Confidence::Likely => "likely",
            Confidence::Certain => "certain",
        }
    }

    /// One level less sure (a suspect stays a suspect).
    pub fn weaker(self) -> Confidence {
        match self {
            Confidence::Certain => Confidence::Likely,
            _ => Confidence::Suspect,
        }
    }
}

/// Why a flow record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Idle for longer than its protocol's timeout.
    Idle,
    /// Pushed out of a full flow table (oldest idle first).
    Evicted,
    /// A new TCP connection reused the 5-tuple after this one closed.
    Reused,
    /// Still open when the input ended.
    Eof,
}

impl End {
    pub fn as_str(self) -> &'static str {
        match self {
            End::Idle => "idle",
            End::Evicted => "evicted",
            End::Reused => "reused",
            End::Eof => "eof",
        }
    }
}

/// The verdict on a flow so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The kinds seen at likely or certain.
    pub kinds: KindSet,
    /// Kinds only suspected (not counted as BitTorrent).
    pub suspected: KindSet,
    pub evidence: Evidence,
    /// How sure; `None` while nothing points at BitTorrent.
    pub confidence: Option<Confidence>,
    /// 1-based index of the flow's packet at which it reached its confidence.
    pub decided_at: Option<u32>,
    /// Whether the BitTorrent payload was encrypted (an MSE/PE handshake, no plaintext one).
    pub encrypted: bool,
    /// Whether the confidence was raised at the end of an offline run, from what was learned
    /// after the flow.
    pub relabelled: bool,
    /// Payload packets sent by the client and by the server when the confidence was reached.
    pub decided_payloads: [u16; 2],
}

impl Verdict {
    /// Whether the flow counts as BitTorrent (likely or certain).
    pub fn is_bittorrent(&self) -> bool {
        self.confidence >= Some(Confidence::Likely)
    }
}

/// Rarely needed per-flow facts, kept out of line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extra {
    /// Every torrent the flow's hosts take part in (its record's `infohashes`).
    pub infohashes: Vec<InfoHash>,
    /// Those of them that are the connection's own: carried by a handshake or a tracker
    /// request, or attributed to an encrypted connection — not those that DHT messages on the
    /// same socket named (a UDP socket's DHT traffic is about other torrents than the uTP
    /// connection it shares a 5-tuple with).
    pub own_infohashes: Vec<InfoHash>,
    /// DHT targets searched on the flow (`get_peers`, `find_node`, `sample_infohashes`).
    pub lookups: Vec<InfoHash>,
    /// Peer ids seen from the lo and hi endpoints.
    pub peer_ids: [Option<PeerId>; 2],
    /// The tunnel the flow goes through (boxed: few flows are tunnelled).
    pub tunnel: Option<Box<Tunnel>>,
}

/// A proxy protocol a flow goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// SOCKS4 or SOCKS4a.
    Socks4,
    /// SOCKS5 (RFC 1928): a CONNECT, a UDP ASSOCIATE's control connection, or datagrams
    /// through its UDP relay.
    Socks5,
    /// HTTP CONNECT.
    HttpConnect,
    /// A request with an absolute URI sent to an HTTP proxy.
    HttpProxy,
}

impl TunnelKind {
    /// The name used in flow records (`tunnel.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Socks4 => "socks4",
            TunnelKind::Socks5 => "socks5",
            TunnelKind::HttpConnect => "http-connect",
            TunnelKind::HttpProxy => "http-proxy",
        }
    }
}

/// Where a tunnel leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Addr(SocketAddr),
    /// A host name (at most 255 bytes, as SOCKS5 allows) and port.
    Name(Box<str>, u16),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Name(n, p) => write!(f, "{n}:{p}"),
        }
    }
}

/// A flow's tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// The inner destination: the peer, tracker or node the client reaches through the
    /// proxy (for a UDP ASSOCIATE's control connection, the relay the proxy opened).
    pub target: Target,
    /// The proxy's command: `connect`, `udp-associate` (the control connection), `udp` (a
    /// datagram through a SOCKS5 relay), `request` (an HTTP proxy request).
    pub command: &'static str,
    /// For flows through a SOCKS5 UDP relay: the relay's address (the flow record's
    /// `server`; its key holds the target instead).
    pub relay: Option<SocketAddr>,
}

/// Most info-hashes kept per flow (a DHT flow may name many).
pub const MAX_INFOHASHES_PER_FLOW: usize = 64;

/// TCP state bits of a flow.
pub(crate) mod tcp_state {
    /// The SYN or SYN-ACK was seen: the client/server roles are known.
    pub const OPENED: u8 = 0x20;
    pub const FIN_LO: u8 = 0x02;
    pub const FIN_HI: u8 = 0x04;
    pub const RST: u8 = 0x08;
    pub const CLOSED: u8 = 0x10;
}

/// Everything kept per flow.
#[derive(Debug)]
pub(crate) struct Flow {
    pub first_ns: i64,
    pub last_ns: i64,
    /// Bytes and packets sent by the lo and hi endpoints.
    pub bytes: [u64; 2],
    pub packets: [u32; 2],
    /// Packets with payload sent by the lo and hi endpoints.
    pub payloads: [u16; 2],
    /// Whether the client (connection initiator) is the lo endpoint.
    pub client_is_lo: bool,
    pub tcp: u8,
    /// TTL (hop limit) of the last packet from the lo and hi endpoints; 0 before one.
    pub ttl: [u8; 2],
    pub verdict: Verdict,
    /// State of the detectors still running; `None` once they all finished.
    pub detect: Option<Detect>,
    pub extra: Option<Box<Extra>>,
}

impl Flow {
    /// A pair of per-side (lo, hi) values in (client, server) order.
    #[inline]
    pub fn client_server<T: Copy>(&self, v: [T; 2]) -> [T; 2] {
        if self.client_is_lo { v } else { [v[1], v[0]] }
    }
}

// Keep the per-flow state small (nDPI's per-flow struct is ~1 KB; STYLE.md).
const _: () = assert!(std::mem::size_of::<Flow>() <= 96);

/// A finished flow, as written to the flow log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    pub proto: Proto,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_ns: i64,
    pub last_ns: i64,
    /// Packets and IP-layer bytes sent by the client and by the server.
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// Packets with payload sent by the client and by the server.
    pub payload_packets: [u64; 2],
    pub verdict: Verdict,
    /// Torrents the flow's hosts take part in.
    pub infohashes: Vec<InfoHash>,
    /// DHT targets searched on the flow.
    pub lookups: Vec<InfoHash>,
    /// The tunnel the flow goes through; `client` and `server` are then the ends of the
    /// flow as it crossed the network (the proxy's client and the proxy).
    pub tunnel: Option<Tunnel>,
    pub client_peer_id: Option<PeerId>,
    pub server_peer_id: Option<PeerId>,
    pub end: End,
}

impl FlowRecord {
    /// The kind a BitTorrent flow is reported as (none for suspects).
    pub fn kind(&self) -> Option<Kind> {
        if self.is_bittorrent() {
            self.verdict.kinds.primary()
        } else {
            None
        }
    }
    /// Likely or certain BitTorrent.
    pub fn is_bittorrent(&self) -> bool {
        self.verdict.is_bittorrent()
    }
    /// The kind a suspect flow is suspected of.
    pub fn suspected_kind(&self) -> Option<Kind> {
        if self.is_bittorrent() {
            None
        } else {
            self.verdict.suspected.primary()
        }
    }
    pub fn confidence(&self) -> Option<Confidence> {
        self.verdict.confidence
    }
    /// The key the flow had in the engine's table.
    pub fn key(&self) -> FlowKey {
        match self.tunnel.as_ref().filter(|t| t.relay.is_some()) {
            Some(t) => FlowKey::relayed(self.client, t.target.key_addr()).0,
            None => FlowKey::new(self.proto, self.client, self.server).0,
        }
    }

    pub fn total_packets(&self) -> u64 {
        self.packets[0] + self.packets[1]
    }
    pub fn total_bytes(&self) -> u64 {
        self.bytes[0] + self.bytes[1]
    }

    pub(crate) fn new(key: &FlowKey, flow: Flow, end: End) -> FlowRecord {
        let (c, s) = if flow.client_is_lo { (0, 1) } else { (1, 0) };
        let (cs, ss) = if flow.client_is_lo {
            (Side::Lo, Side::Hi)
        } else {
            (Side::Hi, Side::Lo)
        };
        let extra = flow.extra.map(|b| *b).unwrap_or_default();
        let server = match extra.tunnel.as_ref().and_then(|t| t.relay) {
            Some(relay) => relay,
            None => key.addr(ss),
        };
        FlowRecord {
            proto: key.proto(),
            client: key.addr(cs),
            server,
            first_ns: flow.first_ns,
            last_ns: flow.last_ns,
            packets: [u64::from(flow.packets[c]), u64::from(flow.packets[s])],
            bytes: [flow.bytes[c], flow.bytes[s]],
            payload_packets: [u64::from(flow.payloads[c]), u64::from(flow.payloads[s])],
            verdict: flow.verdict,
            infohashes: extra.infohashes,
            lookups: extra.lookups,
            tunnel: extra.tunnel.map(|t| *t),
            client_peer_id: extra.peer_ids[c],
            server_peer_id: extra.peer_ids[s],
            end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_integers_are_their_bytes_and_sort_alike() {
        let octets = |ip: IpAddr| match ip {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        let ips: Vec<IpAddr> = [
            "0.0.0.0",
            "10.77.0.1",
            "10.77.0.2",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.77.0.1",
            "2001:db8::1",
            "fe80::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for a in &ips {
            assert_eq!(bits(*a).to_be_bytes(), octets(*a), "{a}");
            for b in &ips {
                assert_eq!(
                    bits(*a).cmp(&bits(*b)),
                    octets(*a).cmp(&octets(*b)),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn key_is_direction_independent() {
        let a: SocketAddr = "10.77.0.2:6881".parse().unwrap();
        let b: SocketAddr = "10.77.0.1:51413".parse().unwrap();
        let (k1, s1) = FlowKey::new(Proto::Tcp, a, b);
        let (k2, s2) = FlowKey::new(Proto::Tcp, b, a);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.addr(Side::Lo), b);
        assert_eq!(k1.addr(Side::Hi), a);
        let (k3, _) = FlowKey::new(Proto::Udp, a, b);
        assert_ne!(k1, k3);
        let v6: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        let (k, side) = FlowKey::new(Proto::Udp, v6, a);
        assert_eq!(k.addr(side), v6);
    }

    #[test]
    fn kind_precedence() {
        let s: KindSet = [Kind::Dht, Kind::PeerUtp].into_iter().collect();
        assert_eq!(s.primary(), Some(Kind::PeerUtp));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Kind::PeerUtp, Kind::Dht]);
        assert_eq!(Kind::from_name("lsd"), Some(Kind::Lsd));
    }
}
