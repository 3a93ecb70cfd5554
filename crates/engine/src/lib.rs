//! The analysis core of swarmwall: flows, BitTorrent detectors and learned endpoints.
//!
//! [`Engine`] takes captured frames one at a time (from a file, a live capture or an
//! NFQUEUE), decodes them with `wire`, finds their flow, runs the detectors that are still
//! interested in the flow, and hands finished flows to a sink as [`FlowRecord`]s. It does no
//! I/O and knows nothing of JSON or files; offline and inline paths share it.
//!
//! # Bounds
//! Every table is bounded: flows ([`Config::max_flows`], oldest idle evicted first),
//! learned endpoints ([`Config::max_endpoints`]), and reassembly buffers
//! ([`Config::reassembly_budget`] bytes over all flows). Per-flow state is small and only
//! flows with a detector still running carry detector state.
//!
//! # Panic rule
//! No frame makes the engine panic: every parser below it checks lengths, and the engine
//! itself indexes only fixed-size arrays with values it computed.

mod detect;
mod flow;
mod knowledge;
mod lru;
mod observe;
pub mod report;
mod tap;

use std::net::SocketAddr;

use wire::{Decoded, Layer, LinkType, Skip, Transport, ip::Fragment, tcp::flags};

pub use defrag::Stats as DefragStats;
pub use detect::Budget;
pub use detect::registry::Teaches;
use detect::{Ctx, Detect, Status};
pub use flow::{
    Confidence, End, Evidence, FlowKey, FlowRecord, Kind, KindSet, Proto, Signal, Target, Tunnel,
    TunnelKind, Verdict,
};
use flow::{Extra, Flow, Side, tcp_state};
pub use knowledge::{
    Endpoint, Exchange, Fact, Knowledge, KnowledgeStats, Relay, Search, Source, Tag, Tagger,
};
use lru::{Handle, Lru};
pub use observe::{
    DatagramKey, DhtMessage, FlowView, Learned, MAX_PACKET_INFOHASHES, MAX_PACKET_LEARNED,
    Observed, PacketFacts, Seen,
};
pub use tap::{Hook, Tap, TapPacket, Taps, TcpHeader};

const NS: i64 = 1_000_000_000;

/// Limits and timeouts.
#[derive(Debug, Clone)]
pub struct Config {
    /// Flows tracked at once; when full, the flow idle the longest is ended (and counted).
    pub max_flows: usize,
    /// Idle time after which a TCP flow ends.
    pub tcp_timeout_ns: i64,
    /// Idle time after which a TCP flow that saw FIN both ways or RST ends.
    pub tcp_closed_timeout_ns: i64,
    /// Idle time after which a UDP flow ends.
    pub udp_timeout_ns: i64,
    /// Learned endpoints (and, separately, hosts) kept.
    pub max_endpoints: usize,
    /// Capture time after which a learned endpoint or host not confirmed again is no longer
    /// used.
    pub endpoint_ttl_ns: i64,
    /// Offline runs: hold the records of MSE/PE-shaped flows that are not certain until the
    /// end, and raise their confidence from what was learned after them (marked `relabelled`).
    /// Inline use turns this off: a decision is made from what was known at that moment.
    pub relabel_at_end: bool,
    /// Records held for relabelling at most (beyond, they are written as they are).
    pub max_held: usize,
    /// Without `relabel_at_end`: relabel an MSE/PE-shaped flow that is not certain when it
    /// ends, from what is known at that moment, and write it at once (a live sensor, whose
    /// input has no end; what another worker learned reaches this one a little later than
    /// the flow's first packets may).
    pub relabel_when_ended: bool,
    /// Bytes all flows together may hold in reassembly buffers.
    pub reassembly_budget: usize,
    /// Datagrams of a UDP flow that no BitTorrent protocol recognises before the flow is
    /// given up (taken as at least 1).
    pub udp_max_misses: u16,
    /// The SYN and SYN-ACK of a TCP connection do not reach the engine unless they carry data
    /// (enforce's rules pass them in the kernel). A connection first seen at a packet
    /// without SYN is then taken as opened by that packet's sender — the opener's ACK that
    /// completes the handshake reaches the router before anything of the other side's, which
    /// cannot accept the connection without it — and each direction's stream starts where
    /// the sequence and acknowledgement numbers of the first packets say, not at its first
    /// payload (segments of an opening that arrive out of order keep their place).
    pub tcp_opening_unseen: bool,
    /// IP fragment reassembly: memory budget, datagrams and fragments per datagram, timeout.
    pub defrag: defrag::Config,
}

/// How long an incomplete datagram's fragments wait inline: each of them waits in the
/// queue for the datagram's verdict, and real fragments of one datagram arrive together.
pub const INLINE_DEFRAG_TIMEOUT_NS: i64 = NS;

impl Default for Config {
    fn default() -> Self {
        Config {
            max_flows: 1 << 20,
            tcp_timeout_ns: 300 * NS,
            tcp_closed_timeout_ns: 15 * NS,
            udp_timeout_ns: 120 * NS,
            max_endpoints: 1 << 20,
            endpoint_ttl_ns: 3600 * NS,
            relabel_at_end: true,
            max_held: 1 << 16,
            relabel_when_ended: false,
            reassembly_budget: 64 << 20,
            udp_max_misses: detect::MAX_MISSES,
            tcp_opening_unseen: false,
            defrag: defrag::Config::default(),
        }
    }
}

impl Config {
    /// Limits for inline use (`enforce`), where every packet the engine reads waits for it in
    /// a queue: a decision uses only what is known at that moment (no relabelling at the
    /// end), and a UDP flow is given up at its first datagram that no BitTorrent protocol
    /// recognises (a DNS query, a QUIC Initial), so that its other packets pass in the kernel;
    /// a TCP connection's SYN and SYN-ACK without payload stay in the kernel.
    pub fn inline() -> Self {
        Config {
            relabel_at_end: false,
            udp_max_misses: 1,
            tcp_opening_unseen: true,
            defrag: defrag::Config {
                timeout_ns: INLINE_DEFRAG_TIMEOUT_NS,
                ..defrag::Config::default()
            },
            ..Config::default()
        }
    }
}

/// Capture-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub packets: u64,
    /// Bytes as captured (may be cut by the snaplen).
    pub captured_bytes: u64,
    /// Frame lengths on the wire.
    pub wire_bytes: u64,
    /// Frames cut short by the capture's snaplen.
    pub truncated: u64,
    /// Frames that carry no IP (ARP, LLDP, ...).
    pub non_ip: u64,
    /// Frames of a link type that cannot be decoded.
    pub unsupported_link: u64,
    /// Frames whose link, IP or transport header was cut or malformed.
    pub undecodable: u64,
    /// IP fragments (first and later).
    pub fragments: u64,
    /// Datagrams read through a SOCKS5 UDP relay's header.
    pub socks_udp: u64,
    /// IP packets of other protocols (ICMP, IGMP, ESP, ...).
    pub other_ip: u64,
    pub tcp_packets: u64,
    pub udp_packets: u64,
    pub flows: u64,
    pub tcp_flows: u64,
    pub udp_flows: u64,
    /// Flows ended early because the flow table was full.
    pub flows_evicted: u64,
    /// Earliest and latest capture timestamps (ns since the epoch).
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
}

impl Totals {
    /// Adds another engine's counts (several workers' together).
    pub fn merge(&mut self, o: &Totals) {
        self.packets += o.packets;
        self.captured_bytes += o.captured_bytes;
        self.wire_bytes += o.wire_bytes;
        self.truncated += o.truncated;
        self.non_ip += o.non_ip;
        self.unsupported_link += o.unsupported_link;
        self.undecodable += o.undecodable;
        self.fragments += o.fragments;
        self.socks_udp += o.socks_udp;
        self.other_ip += o.other_ip;
        self.tcp_packets += o.tcp_packets;
        self.udp_packets += o.udp_packets;
        self.flows += o.flows;
        self.tcp_flows += o.tcp_flows;
        self.udp_flows += o.udp_flows;
        self.flows_evicted += o.flows_evicted;
        self.first_ns = [self.first_ns, o.first_ns].into_iter().flatten().min();
        self.last_ns = [self.last_ns, o.last_ns].into_iter().flatten().max();
    }
}

/// Recency classes of the flow table (each has its own idle timeout).
mod class {
    pub const TCP: u8 = 0;
    pub const TCP_CLOSED: u8 = 1;
    pub const UDP: u8 = 2;
    pub const ALL: [u8; 3] = [TCP, TCP_CLOSED, UDP];
}

/// Heap bytes of the engine's main tables ([`Engine::memory`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Flows tracked.
    pub flows: usize,
    /// The flow table: its slab of entries (key and per-flow state inline) and index.
    pub flow_table: usize,
    /// The state of the detectors still running on a flow (boxed apart from the table; not
    /// the bytes they buffer, which are `reassembly`).
    pub detectors: usize,
    /// The rarer per-flow extras (boxed apart).
    pub extras: usize,
    /// Stream and datagram bytes buffered by the detectors.
    pub reassembly: usize,
    /// Learned endpoints, hosts, searches and relays.
    pub knowledge: usize,
    /// Records held for relabelling at the end of an offline run.
    pub held: usize,
}

/// Capture time between two sweeps for idle flows.
const SWEEP_NS: i64 = NS;

/// The analysis engine. See the crate docs.
#[derive(Debug)]
pub struct Engine {
    flows: Lru<FlowKey, Flow, 3>,
    knowledge: Knowledge,
    defrag: defrag::Reassembler,
    budget: Budget,
    config: Config,
    totals: Totals,
    now_ns: i64,
    next_sweep_ns: i64,
    /// Capture time of the next expiry of incomplete IP datagrams.
    next_defrag_ns: i64,
    /// The datagram the packet at hand completed (its last fragment), or the one its fragment
    /// is held for.
    frames: Option<Frames>,
    /// Records held until the end of an offline run, to be relabelled.
    held: Vec<FlowRecord>,
    /// What the packet at hand showed.
    facts: PacketFacts,
    /// The observer of every packet, if any.
    tap: tap::Slot,
}

impl Engine {
    pub fn new(config: Config) -> Engine {
        Engine {
            flows: Lru::new(config.max_flows),
            knowledge: Knowledge::new(config.max_endpoints, config.endpoint_ttl_ns),
            defrag: defrag::Reassembler::new(config.defrag),
            budget: Budget::new(config.reassembly_budget),
            config,
            totals: Totals::default(),
            now_ns: i64::MIN,
            next_sweep_ns: i64::MIN,
            next_defrag_ns: i64::MIN,
            frames: None,
            held: Vec::new(),
            facts: PacketFacts::default(),
            tap: tap::Slot::default(),
        }
    }

    /// Hands every packet of a flow to `tap` after the detectors (with the peers each packet
    /// named), or stops (`None`).
    pub fn set_tap(&mut self, tap: Option<Box<dyn Tap>>) {
        self.facts.keep_learned = tap.is_some();
        self.tap = tap::Slot(tap);
    }

    /// The tap, to reach its state.
    pub fn tap_mut(&mut self) -> Option<&mut (dyn Tap + 'static)> {
        self.tap.0.as_deref_mut()
    }

    /// The state of a flow still tracked.
    pub fn flow(&self, key: &FlowKey) -> Option<FlowView<'_>> {
        let (k, f) = self.flows.get(self.flows.find(key)?)?;
        Some(view(k, f))
    }

    /// The knowledge store, to journal what it learns or to apply what other engines learned.
    pub fn knowledge_mut(&mut self) -> &mut Knowledge {
        &mut self.knowledge
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    pub fn knowledge(&self) -> &Knowledge {
        &self.knowledge
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// What became of IP fragments: datagrams reassembled, expired, evicted, overlapping.
    pub fn defrag_stats(&self) -> &DefragStats {
        self.defrag.stats()
    }

    /// Flows currently tracked.
    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// What the engine's main tables hold on the heap, by their own accounting (walks the
    /// flow table: for benchmarks and diagnostics).
    pub fn memory(&self) -> Memory {
        let (mut detectors, mut extras) = (0, 0);
        for (_, _, f) in self.flows.iter() {
            detectors += match &f.detect {
                Some(Detect::Tcp(_)) => std::mem::size_of::<detect::TcpDetect>(),
                Some(Detect::Udp(_)) => std::mem::size_of::<detect::UdpDetect>(),
                Some(Detect::TcpSyn(..) | Detect::TcpNew) | None => 0,
            };
            extras += f
                .extra
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<flow::Extra>());
        }
        Memory {
            flows: self.flows.len(),
            flow_table: self.flows.heap_bytes(),
            detectors,
            extras,
            reassembly: self.budget.used,
            knowledge: self.knowledge.heap_bytes(),
            held: self.held.capacity() * std::mem::size_of::<FlowRecord>(),
        }
    }

    /// Flows that still carry detector state (walks the table: for tests and diagnostics).
    pub fn detecting_flows(&self) -> usize {
        self.flows
            .iter()
            .filter(|(_, _, f)| f.detect.is_some())
            .count()
    }

    /// Processes one captured frame. Flows that end (idle, evicted) are passed to `sink`.
    /// Returns what the engine saw of the packet: its flow after it and what the packet itself
    /// carried; an IP fragment held until its datagram is complete (the fragment that
    /// completes it is processed as the whole datagram); or nothing that belongs to a flow
    /// (not IP, another protocol, undecodable).
    pub fn frame(
        &mut self,
        link: LinkType,
        ts_ns: i64,
        frame: &[u8],
        orig_len: u32,
        sink: &mut impl FnMut(FlowRecord),
    ) -> Observed<'_> {
        let t = &mut self.totals;
        t.packets += 1;
        t.captured_bytes += frame.len() as u64;
        t.wire_bytes += u64::from(orig_len.max(frame.len() as u32));
        if (frame.len() as u64) < u64::from(orig_len) {
            t.truncated += 1;
        }
        t.first_ns = Some(t.first_ns.map_or(ts_ns, |f| f.min(ts_ns)));
        t.last_ns = Some(t.last_ns.map_or(ts_ns, |l| l.max(ts_ns)));
        if self.defrag.in_progress() > 0 && ts_ns >= self.next_defrag_ns {
            self.next_defrag_ns = ts_ns.saturating_add(SWEEP_NS);
            self.defrag.expire(ts_ns);
            self.incomplete(sink);
        }
        self.facts.clear();
        let t = &mut self.totals;
        // Matched by reference: moving the decoded headers out of the result copies them to
        // another stack slot, and that copy stalled on the stores that had just written them.
        let decoded = wire::decode(link, frame);
        match &decoded {
            Ok(d) if d.ip.fragment == Fragment::No => {
                self.frames = None;
                return match self.packet(ts_ns, d, sink) {
                    Some((h, from_client)) => self.seen(h, from_client),
                    None => Observed::Other,
                };
            }
            // A fragment, or a first fragment too short for its transport header.
            Ok(_) | Err(Skip::Bad(Layer::Transport, _)) => {
                if let Ok(Some(f)) = wire::decode_fragment(link, frame) {
                    return self.fragment(ts_ns, &f, sink);
                }
                t.undecodable += 1;
            }
            Err(Skip::NotIp(_)) => t.non_ip += 1,
            Err(Skip::UnsupportedLink(_)) => t.unsupported_link += 1,
            Err(Skip::Bad(..)) => t.undecodable += 1,
        }
        Observed::Other
    }

    /// An IP fragment: held until its datagram is complete, then the datagram goes through
    /// the engine as one packet.
    fn fragment(
        &mut self,
        ts_ns: i64,
        f: &wire::FragInfo<'_>,
        sink: &mut impl FnMut(FlowRecord),
    ) -> Observed<'_> {
        self.totals.fragments += 1;
        let key = DatagramKey::of(f.src, f.dst, f.protocol, f.id);
        let outcome = self.defrag.push(f, ts_ns);
        self.incomplete(sink);
        self.facts.clear();
        let frames = match outcome {
            defrag::Outcome::Complete(dg) => match dg.decode() {
                Ok(d) => {
                    self.frames = Some(Frames {
                        key: DatagramKey::of(dg.src, dg.dst, f.protocol, dg.id),
                        count: dg.fragments as u32,
                        // Every fragment but the first carried its own headers (taken as long
                        // as the last one's), and each IPv6 one a Fragment header the
                        // datagram no longer has.
                        extra_bytes: (dg.fragments as u32)
                            .saturating_sub(1)
                            .saturating_mul(f.header_len)
                            .saturating_add(f.header_len.saturating_sub(dg.header_len)),
                    });
                    if let Some((h, from_client)) = self.packet_rare(ts_ns, &d, sink) {
                        return self.seen(h, from_client);
                    }
                    return self.ended();
                }
                Err(_) => {
                    self.totals.undecodable += 1;
                    Frames {
                        key,
                        count: 0,
                        extra_bytes: 0,
                    }
                }
            },
            defrag::Outcome::Held | defrag::Outcome::Duplicate => {
                self.frames = Some(Frames {
                    key,
                    count: 0,
                    extra_bytes: 0,
                });
                return match &self.frames {
                    Some(f) => Observed::Held(&f.key),
                    None => Observed::Other,
                };
            }
            defrag::Outcome::Discarded(_) => Frames {
                key,
                count: 0,
                extra_bytes: 0,
            },
        };
        self.frames = Some(frames);
        self.ended()
    }

    /// The datagram in `self.frames` ended without a packet of a flow.
    fn ended(&self) -> Observed<'_> {
        match &self.frames {
            Some(f) => Observed::Ended(&f.key),
            None => Observed::Other,
        }
    }

    /// Processes the first fragments of datagrams that will not complete, alone (see the
    /// `defrag` crate): flows filtered on ports keep only those.
    fn incomplete(&mut self, sink: &mut impl FnMut(FlowRecord)) {
        while let Some(dg) = self.defrag.take_incomplete() {
            match dg.decode() {
                Ok(d) => {
                    self.frames = None;
                    // What this lone fragment shows is its own, not the packet's at hand.
                    self.facts.clear();
                    let _ = self.packet_rare(dg.first_ns, &d, sink);
                }
                Err(_) => self.totals.undecodable += 1,
            }
        }
    }

    /// [`Engine::packet`] for the rare paths (reassembled datagrams, lone first fragments), out
    /// of line so that the common path in [`Engine::frame`] keeps `packet` inlined.
    #[inline(never)]
    fn packet_rare(
        &mut self,
        ts_ns: i64,
        d: &Decoded<'_>,
        sink: &mut impl FnMut(FlowRecord),
    ) -> Option<(Handle, bool)> {
        self.packet(ts_ns, d, sink)
    }

    /// Processes a whole IP packet or reassembled datagram (`datagram`: the one whose last
    /// fragment this is).
    #[inline(always)]
    fn packet(
        &mut self,
        ts_ns: i64,
        d: &Decoded<'_>,
        sink: &mut impl FnMut(FlowRecord),
    ) -> Option<(Handle, bool)> {
        let (proto, sport, dport, payload, wire_payload) = match d.transport {
            Transport::Tcp {
                src_port,
                dst_port,
                payload,
                payload_wire_len,
                ..
            } => {
                self.totals.tcp_packets += 1;
                (Proto::Tcp, src_port, dst_port, payload, payload_wire_len)
            }
            Transport::Udp {
                src_port,
                dst_port,
                payload,
                payload_wire_len,
            } => {
                self.totals.udp_packets += 1;
                (Proto::Udp, src_port, dst_port, payload, payload_wire_len)
            }
            Transport::Fragment => return None,
            Transport::Other => {
                self.totals.other_ip += 1;
                return None;
            }
        };
        self.advance_clock(ts_ns, sink);
        let src = SocketAddr::new(d.ip.src, sport);
        let dst = SocketAddr::new(d.ip.dst, dport);
        // A datagram through a SOCKS5 UDP relay belongs to the flow between the proxy's
        // client and its target (the common path asks one question: is any relay known?).
        if proto == Proto::Udp
            && self.knowledge.has_relays()
            && let Some(r) = relayed(&self.knowledge, src, dst, payload)
        {
            return self.relayed_packet(ts_ns, d, &r, src, dst, payload, wire_payload, sink);
        }
        let (key, side) = FlowKey::new(proto, src, dst);
        self.flow_packet(
            ts_ns,
            d,
            proto,
            key,
            side,
            src,
            dst,
            payload,
            wire_payload,
            None,
            sink,
        )
    }

    /// A datagram through a SOCKS5 UDP relay, as the packet of the flow between the proxy's
    /// client and the target.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn relayed_packet(
        &mut self,
        ts_ns: i64,
        d: &Decoded<'_>,
        r: &Relayed,
        mut src: SocketAddr,
        mut dst: SocketAddr,
        payload: &[u8],
        wire_payload: u32,
        sink: &mut impl FnMut(FlowRecord),
    ) -> Option<(Handle, bool)> {
        self.totals.socks_udp += 1;
        let (key, side) = if r.from_client {
            dst = r.target.addr();
            FlowKey::relayed(src, r.target.key_addr())
        } else {
            src = r.target.addr();
            FlowKey::relayed(r.target.key_addr(), dst)
        };
        let payload = payload.get(r.header..).unwrap_or(&[]);
        let wire_payload = wire_payload.saturating_sub(r.header as u32);
        self.flow_packet(
            ts_ns,
            d,
            Proto::Udp,
            key,
            side,
            src,
            dst,
            payload,
            wire_payload,
            Some(r),
            sink,
        )
    }

    /// The packet `d` from `src` to `dst` (as the detectors see them) of the flow `key`, sent
    /// by `side`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn flow_packet(
        &mut self,
        ts_ns: i64,
        d: &Decoded<'_>,
        proto: Proto,
        key: FlowKey,
        side: Side,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        wire_payload: u32,
        relayed: Option<&Relayed>,
        sink: &mut impl FnMut(FlowRecord),
    ) -> Option<(Handle, bool)> {
        let tcp_flags = match d.transport {
            Transport::Tcp { flags, .. } => flags,
            _ => 0,
        };
        let h = self.flow_for(key, side, proto, tcp_flags, ts_ns, relayed, sink)?;
        self.flows.touch(h);

        let Engine {
            flows,
            knowledge,
            budget,
            facts,
            config,
            frames: datagram,
            tap,
            ..
        } = self;
        let (_, flow) = flows.get_mut(h)?;
        let from_client = (side == Side::Lo) == flow.client_is_lo;
        let s = side as usize;
        let (frames, extra) = datagram
            .as_ref()
            .map_or((1, 0), |f| (f.count.max(1), f.extra_bytes));
        flow.packets[s] = flow.packets[s].saturating_add(frames);
        flow.bytes[s] = flow.bytes[s].saturating_add(u64::from(d.ip.wire_len) + u64::from(extra));
        if wire_payload > 0 {
            flow.payloads[s] = flow.payloads[s].saturating_add(1);
        }
        flow.first_ns = flow.first_ns.min(ts_ns);
        flow.last_ns = flow.last_ns.max(ts_ns);
        let prev_ttl = std::mem::replace(&mut flow.ttl[s], d.ip.ttl);
        let mut closed = false;
        if let Transport::Tcp { flags: f, .. } = d.transport {
            if f & flags::SYN != 0 || (config.tcp_opening_unseen && facts.new_flow) {
                flow.tcp |= tcp_state::OPENED;
            }
            if f & flags::FIN != 0 {
                flow.tcp |= if side == Side::Lo {
                    tcp_state::FIN_LO
                } else {
                    tcp_state::FIN_HI
                };
            }
            if f & flags::RST != 0 {
                flow.tcp |= tcp_state::RST;
            }
            let both_fin = tcp_state::FIN_LO | tcp_state::FIN_HI;
            if flow.tcp & tcp_state::CLOSED == 0
                && (flow.tcp & tcp_state::RST != 0 || flow.tcp & both_fin == both_fin)
            {
                flow.tcp |= tcp_state::CLOSED;
                closed = true;
            }
        }
        let payloads = flow.client_server(flow.payloads);
        if let Some(detect) = flow.detect.as_mut() {
            let index = flow.packets[0].saturating_add(flow.packets[1]);
            let roles_known = match detect {
                Detect::Tcp(_) | Detect::TcpSyn(..) | Detect::TcpNew => {
                    flow.tcp & tcp_state::OPENED != 0
                }
                Detect::Udp(_) => true,
            };
            let mut ctx = Ctx {
                now_ns: ts_ns,
                index,
                from: side,
                from_client,
                src,
                dst,
                verdict: &mut flow.verdict,
                payloads,
                roles_known,
                extra: &mut flow.extra,
                knowledge,
                budget,
                packet: facts,
            };
            // A bare SYN on a flow that has seen nothing else (or only bare SYNs from the
            // same side) is remembered; no detectors are made yet.
            let bare_syn = matches!(
                d.transport,
                Transport::Tcp { flags: f, payload_wire_len: 0, .. }
                    if f & (flags::SYN | flags::FIN | flags::RST) == flags::SYN
            ) && match detect {
                Detect::TcpNew => true,
                Detect::TcpSyn(from, _) => *from == side,
                _ => false,
            };
            let status = match (detect, d.transport) {
                (d, Transport::Tcp { seq, .. }) if bare_syn => {
                    *d = Detect::TcpSyn(side, seq);
                    Status::Running
                }
                (
                    d @ (Detect::Tcp(_) | Detect::TcpSyn(..) | Detect::TcpNew),
                    Transport::Tcp {
                        seq,
                        ack,
                        flags: f,
                        payload,
                        payload_wire_len,
                        ..
                    },
                ) => {
                    match d.tcp_for() {
                        Some(t) => {
                            // A SYN takes one sequence number; data on it (TCP Fast Open)
                            // follows.
                            let data_seq = if f & flags::SYN != 0 {
                                t.syn(side, seq);
                                seq.wrapping_add(1)
                            } else {
                                if config.tcp_opening_unseen
                                    && f & (flags::ACK | flags::RST) == flags::ACK
                                {
                                    // The sender's next byte is `seq`; it has all of the
                                    // other side's bytes before `ack`.
                                    t.starts_at(side, seq);
                                    t.starts_at(side.other(), ack);
                                }
                                seq
                            };
                            let fin = f & (flags::FIN | flags::RST) != 0;
                            t.segment(&mut ctx, data_seq, payload, payload_wire_len, fin)
                        }
                        None => Status::Done,
                    }
                }
                (Detect::Udp(u), Transport::Udp { .. }) => {
                    u.datagram(&mut ctx, payload, wire_payload)
                }
                _ => Status::Done,
            };
            if status == Status::Done
                && let Some(d) = flow.detect.take()
            {
                budget.give_back(d.buffered());
            }
        }
        if let Some(tap) = tap.0.as_deref_mut() {
            tapped(
                tap,
                ts_ns,
                proto,
                src,
                dst,
                d,
                payload,
                prev_ttl,
                frames,
                view(&key, flow),
                from_client,
                facts,
            );
        }
        if closed {
            self.flows.set_class(h, class::TCP_CLOSED);
        }
        Some((h, from_client))
    }

    /// What the engine saw of the packet that went to flow `h`.
    #[inline]
    fn seen(&self, h: Handle, from_client: bool) -> Observed<'_> {
        match self.flows.get(h) {
            Some((k, f)) => Observed::Flow(Seen::new(
                k,
                f,
                &self.facts,
                from_client,
                self.frames.as_ref().map(|f| &f.key),
            )),
            None => Observed::Other,
        }
    }

    /// Finds or creates the flow of a packet, ending an old one where a new TCP connection
    /// reuses its 5-tuple and making room in a full table.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn flow_for(
        &mut self,
        key: FlowKey,
        side: Side,
        proto: Proto,
        tcp_flags: u8,
        ts_ns: i64,
        relayed: Option<&Relayed>,
        sink: &mut impl FnMut(FlowRecord),
    ) -> Option<Handle> {
        let syn_only = tcp_flags & (flags::SYN | flags::ACK) == flags::SYN;
        if let Some(h) = self.flows.find(&key) {
            let (closed, last) = match self.flows.get(h) {
                Some((_, f)) => (f.tcp & tcp_state::CLOSED != 0, f.last_ns),
                None => (false, ts_ns),
            };
            // The sweep runs once a second of capture time, and not at all while time goes
            // backwards (several overlapping files): a flow idle past its timeout ends here.
            let timeout = self.flows.class_of(h).map_or(i64::MAX, |c| self.timeout(c));
            if ts_ns.saturating_sub(last) > timeout {
                self.end(h, End::Idle, sink);
            } else if syn_only && closed {
                self.end(h, End::Reused, sink);
            } else {
                return Some(h);
            }
        }
        if self.flows.is_full() {
            let oldest = class::ALL
                .iter()
                .filter_map(|&c| self.flows.oldest(c))
                .min_by_key(|&h| self.flows.get(h).map_or(i64::MIN, |(_, f)| f.last_ns));
            if let Some(h) = oldest {
                self.totals.flows_evicted += 1;
                self.end(h, End::Evicted, sink);
            }
        }
        // The client opened the flow: the sender of a SYN, the receiver of a SYN-ACK, else the
        // sender of the first packet seen.
        let syn_ack = tcp_flags & (flags::SYN | flags::ACK) == flags::SYN | flags::ACK;
        let sender_is_lo = side == Side::Lo;
        // Through a SOCKS5 relay the client is the proxy's client, whoever sent first.
        let client_is_lo = match relayed {
            Some(r) => sender_is_lo == r.from_client,
            None if syn_ack => !sender_is_lo,
            None => sender_is_lo,
        };
        let extra = relayed.map(|r| {
            Box::new(Extra {
                tunnel: Some(Box::new(Tunnel {
                    kind: TunnelKind::Socks5,
                    target: r.target.clone(),
                    command: "udp",
                    relay: Some(r.relay),
                })),
                ..Extra::default()
            })
        });
        let flow = Flow {
            first_ns: ts_ns,
            last_ns: ts_ns,
            bytes: [0; 2],
            packets: [0; 2],
            payloads: [0; 2],
            client_is_lo,
            tcp: 0,
            ttl: [0; 2],
            verdict: Verdict::default(),
            detect: Some(match proto {
                Proto::Tcp => Detect::TcpNew,
                Proto::Udp => Detect::udp(self.config.udp_max_misses),
            }),
            extra,
        };
        let c = match proto {
            Proto::Tcp => class::TCP,
            Proto::Udp => class::UDP,
        };
        let h = self.flows.insert(key, flow, c)?;
        self.totals.flows += 1;
        self.facts.new_flow = true;
        match proto {
            Proto::Tcp => self.totals.tcp_flows += 1,
            Proto::Udp => self.totals.udp_flows += 1,
        }
        Some(h)
    }

    fn timeout(&self, c: u8) -> i64 {
        match c {
            class::TCP => self.config.tcp_timeout_ns,
            class::TCP_CLOSED => self.config.tcp_closed_timeout_ns,
            _ => self.config.udp_timeout_ns,
        }
    }

    /// Moves the clock to `ts_ns` without a packet — a live capture's quiet moments: flows
    /// idle past their timeout end and incomplete datagrams expire, as a packet at that time
    /// would make them.
    pub fn advance(&mut self, ts_ns: i64, sink: &mut impl FnMut(FlowRecord)) {
        if self.defrag.in_progress() > 0 && ts_ns >= self.next_defrag_ns {
            self.next_defrag_ns = ts_ns.saturating_add(SWEEP_NS);
            self.defrag.expire(ts_ns);
            self.incomplete(sink);
        }
        self.advance_clock(ts_ns, sink);
    }

    /// Moves the capture clock and ends flows idle for longer than their timeout.
    fn advance_clock(&mut self, ts_ns: i64, sink: &mut impl FnMut(FlowRecord)) {
        if ts_ns <= self.now_ns {
            return;
        }
        self.now_ns = ts_ns;
        if ts_ns < self.next_sweep_ns {
            return;
        }
        // Sweeps happen on whole seconds of capture time, judging idleness at that second, so
        // that engines sharing a capture (`analyze --threads`) end the same flows at the same
        // points whichever of them sees the packet that crosses the second.
        let at = ts_ns - ts_ns.rem_euclid(SWEEP_NS);
        self.next_sweep_ns = at.saturating_add(SWEEP_NS);
        for c in class::ALL {
            let limit = at.saturating_sub(self.timeout(c));
            while let Some(h) = self.flows.oldest(c) {
                match self.flows.get(h) {
                    Some((_, f)) if f.last_ns < limit => self.end(h, End::Idle, sink),
                    _ => break,
                }
            }
        }
    }

    fn end(&mut self, h: Handle, why: End, sink: &mut impl FnMut(FlowRecord)) {
        let Some((key, mut flow)) = self.flows.remove(h) else {
            return;
        };
        if let Some(mut d) = flow.detect.take() {
            // Let the detectors judge what they have (an MSE opening never completed).
            let (client_side, server_side) = if flow.client_is_lo {
                (Side::Lo, Side::Hi)
            } else {
                (Side::Hi, Side::Lo)
            };
            let roles_known = match d {
                Detect::Tcp(_) | Detect::TcpSyn(..) | Detect::TcpNew => {
                    flow.tcp & tcp_state::OPENED != 0
                }
                Detect::Udp(_) => true,
            };
            // The flow ends on no packet: what the detectors say of one is dropped.
            let mut scratch = PacketFacts::default();
            let payloads = flow.client_server(flow.payloads);
            let mut ctx = Ctx {
                now_ns: flow.last_ns,
                index: flow.packets[0].saturating_add(flow.packets[1]),
                from: client_side,
                from_client: true,
                src: key.addr(client_side),
                dst: key.addr(server_side),
                verdict: &mut flow.verdict,
                payloads,
                roles_known,
                extra: &mut flow.extra,
                knowledge: &mut self.knowledge,
                budget: &mut self.budget,
                packet: &mut scratch,
            };
            d.finish(&mut ctx);
            self.budget.give_back(d.buffered());
        }
        let mut record = FlowRecord::new(&key, flow, why);
        let mse = record.verdict.evidence.contains(Signal::MseShape)
            || record.verdict.evidence.contains(Signal::MseOneSided);
        let uncertain = mse && record.confidence() < Some(flow::Confidence::Certain);
        if self.config.relabel_at_end && uncertain && self.held.len() < self.config.max_held {
            self.held.push(record);
        } else {
            if uncertain && self.config.relabel_when_ended {
                detect::relabel(&self.knowledge, &mut record);
            }
            sink(record);
        }
    }

    /// Ends every flow still open (end of input), in the order they started; then relabels
    /// the held records from everything learned during the run, and writes them.
    pub fn finish(&mut self, sink: &mut impl FnMut(FlowRecord)) {
        self.defrag.finish();
        self.incomplete(sink);
        let mut open: Vec<(i64, FlowKey, Handle)> = self
            .flows
            .iter()
            .map(|(h, k, f)| (f.first_ns, *k, h))
            .collect();
        open.sort_unstable_by_key(|a| (a.0, a.1));
        for (_, _, h) in open {
            self.end(h, End::Eof, sink);
        }
        let mut held = std::mem::take(&mut self.held);
        held.sort_by_key(|r| (r.first_ns, r.client, r.server));
        for mut r in held {
            detect::relabel(&self.knowledge, &mut r);
            sink(r);
        }
    }
}

/// Hands a packet to the tap (out of line: the common path without a tap stays small).
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn tapped(
    tap: &mut dyn Tap,
    ts_ns: i64,
    proto: Proto,
    src: SocketAddr,
    dst: SocketAddr,
    d: &Decoded<'_>,
    payload: &[u8],
    prev_ttl: u8,
    fragments: u32,
    flow: FlowView<'_>,
    from_client: bool,
    facts: &PacketFacts,
) {
    tap.packet(&TapPacket {
        ts_ns,
        proto,
        src,
        dst,
        ip: &d.ip,
        tcp: match d.transport {
            Transport::Tcp {
                seq, ack, flags, ..
            } => Some(TcpHeader { seq, ack, flags }),
            _ => None,
        },
        payload,
        prev_ttl,
        fragments,
        flow,
        from_client,
        facts,
    });
}

/// A datagram that arrived in IP fragments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frames {
    key: DatagramKey,
    /// Fragments it arrived in.
    count: u32,
    /// IP header bytes of the fragments after the first, not in the datagram's length.
    extra_bytes: u32,
}

/// A datagram through a SOCKS5 UDP relay.
#[derive(Debug)]
struct Relayed {
    /// Where it goes (from the proxy's client) or comes from (to it).
    target: Target,
    /// The relay's address.
    relay: SocketAddr,
    /// Whether the proxy's client sent it.
    from_client: bool,
    /// Length of the SOCKS UDP header before the payload.
    header: usize,
}

/// The datagram from `src` to `dst` read as one through a known SOCKS5 UDP relay: sent by
/// the relay's client to the relay, or by the relay to its client. A fragmented SOCKS
/// datagram (FRAG ≠ 0, which no common proxy sends) is not followed.
fn relayed(k: &Knowledge, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Relayed> {
    let (relay, from_client) = match (k.relay(&dst), k.relay(&src)) {
        (Some(r), _) if r.client == src.ip() => (dst, true),
        (_, Some(r)) if r.client == dst.ip() => (src, false),
        _ => return None,
    };
    let h = proxy::socks5::udp_header(payload).ok()?;
    if h.frag != 0 {
        return None;
    }
    Some(Relayed {
        target: detect::target(&h.dest),
        relay,
        from_client,
        header: h.len,
    })
}

/// The inline view of a flow.
pub(crate) fn view<'a>(k: &FlowKey, f: &'a Flow) -> FlowView<'a> {
    let (c, s) = if f.client_is_lo {
        (Side::Lo, Side::Hi)
    } else {
        (Side::Hi, Side::Lo)
    };
    let tunnel = f.extra.as_ref().and_then(|e| e.tunnel.as_deref());
    FlowView {
        key: *k,
        client: k.addr(c),
        server: tunnel.and_then(|t| t.relay).unwrap_or_else(|| k.addr(s)),
        verdict: &f.verdict,
        infohashes: f.extra.as_ref().map_or(&[][..], |e| &e.own_infohashes[..]),
        tunnel,
        relayed: k.is_relayed(),
        detecting: f.detect.is_some(),
        packets: u64::from(f.packets[0]) + u64::from(f.packets[1]),
        reset: f.tcp & flow::tcp_state::RST != 0,
        first_ns: f.first_ns,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
