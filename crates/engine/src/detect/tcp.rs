//! The TCP dispatcher: each direction's in-order bytes ([`Stream`]) go to the tunnel
//! detectors while a proxy protocol could still open, and to the stream detectors of the
//! registry.
//!
//! # Tunnels
//! A proxy protocol (SOCKS, HTTP CONNECT) is a layer, not a kind: when its reply says the
//! tunnel is open, the stream detectors start again, fresh, on the inner streams — each
//! direction rebased to offset 0 where its inner bytes start, segments counted from there —
//! and they see the tunnel's target where the proxy stands: a handshake inside teaches that
//! the target listens, an encrypted connection is judged by what the swarm announced of the
//! target, and the proxy's own address is never learned as a peer. What the outer bytes made
//! the detectors think before the tunnel opened is dropped with them (a greeting is not a
//! peer wire handshake, nor the start of an MSE/PE key).

use std::net::SocketAddr;

use super::registry::{StreamDetectors, TunnelDetectors};
use super::stream::Stream;
use super::{Ctx, Delivered, Opened, Status};
use crate::flow::Side;

/// Detector state of a TCP flow.
#[derive(Debug, Default)]
pub(crate) struct TcpDetect {
    streams: [Stream; 2],
    tunnels: Tunnels,
    detectors: StreamDetectors,
    /// Set once a tunnel opened with inner streams (boxed: few flows are tunnels).
    inner: Option<Box<Inner>>,
}

/// The tunnel detectors of a stream: boxed only while a tunnel could still open (the first
/// bytes of most streams rule every one out, and the flows that wait longest for more are
/// those with one segment seen).
#[derive(Debug, Default)]
enum Tunnels {
    /// No bytes yet: every tunnel could open.
    #[default]
    Unseen,
    Looking(Box<TunnelDetectors>),
    Off,
}

impl Tunnels {
    fn running(&self) -> bool {
        !matches!(self, Tunnels::Off)
    }

    /// Offers one direction's new bytes; `Some` once a tunnel opened.
    fn bytes(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>) -> Option<Opened> {
        let opened = match self {
            Tunnels::Off => return None,
            Tunnels::Looking(t) => {
                let opened = t.bytes(ctx, d);
                if t.running() {
                    return opened;
                }
                opened
            }
            Tunnels::Unseen => {
                let mut t = TunnelDetectors::default();
                let opened = t.bytes(ctx, d);
                if t.running() {
                    *self = Tunnels::Looking(Box::new(t));
                    return opened;
                }
                opened
            }
        };
        *self = Tunnels::Off;
        opened
    }

    fn stop(&mut self, budget: &mut super::Budget) {
        if let Tunnels::Looking(t) = self {
            t.stop(budget);
        }
        *self = Tunnels::Off;
    }

    fn buffered(&self) -> usize {
        match self {
            Tunnels::Looking(t) => t.buffered(),
            Tunnels::Unseen | Tunnels::Off => 0,
        }
    }
}

/// Where the inner streams of a tunnel start.
#[derive(Debug, Clone, Copy)]
struct Inner {
    /// The tunnel's target (an unspecified address when it is a name).
    target: SocketAddr,
    /// Outer stream offsets at which each direction's (lo, hi) inner bytes start.
    start: [u32; 2],
    /// Segments of each direction delivered before its inner bytes.
    segments: [u16; 2],
}

impl TcpDetect {
    pub fn buffered(&self) -> usize {
        self.detectors.buffered() + self.tunnels.buffered()
    }

    pub fn syn(&mut self, from: Side, seq: u32) {
        self.streams[from as usize].syn(seq);
    }

    /// Notes that `from`'s data starts at `seq` (unless known already).
    pub fn starts_at(&mut self, from: Side, seq: u32) {
        self.streams[from as usize].starts_at(seq);
    }

    /// Feeds one segment's payload (`seq`: sequence number of its first byte). `closing`: the
    /// segment carries FIN or RST.
    pub fn segment(
        &mut self,
        ctx: &mut Ctx<'_>,
        seq: u32,
        payload: &[u8],
        wire_len: u32,
        closing: bool,
    ) -> Status {
        let dir = ctx.from as usize;
        let Some(d) = self.streams[dir].deliver(seq, payload, wire_len) else {
            if closing {
                self.inner_view(ctx);
                self.detectors.closed(ctx);
            }
            return self.status();
        };
        match self.inner.as_deref().copied() {
            Some(inner) => {
                self.inner_view(ctx);
                if let Some(d) = rebase(&inner, dir, &d) {
                    self.detectors.bytes(ctx, &d, closing);
                } else if closing {
                    self.detectors.closed(ctx);
                }
            }
            None => {
                if self.tunnels.running()
                    && let Some(open) = self.tunnels.bytes(ctx, &d)
                {
                    self.open(ctx, open, closing);
                    return self.status();
                }
                self.detectors.bytes(ctx, &d, closing);
            }
        }
        self.status()
    }

    /// A tunnel opened on the segment at hand (whose bytes the tunnel detector read: what
    /// followed the proxy's reply is in `open.rest`).
    fn open(&mut self, ctx: &mut Ctx<'_>, open: Opened, closing: bool) {
        self.tunnels.stop(ctx.budget);
        self.detectors.reset(ctx.budget);
        let (client, _) = ctx.ends();
        if let Some(relay) = open.relay {
            ctx.knowledge.note_relay(relay, client.ip(), ctx.now_ns);
        }
        let target = open.tunnel.target.addr();
        ctx.tunnel(open.tunnel);
        let Some(starts) = open.inner else {
            // No inner stream (a UDP ASSOCIATE's control connection): nothing more to read.
            self.detectors.stop_all(ctx.budget);
            return;
        };
        let dir = ctx.from as usize;
        let client_dir = if ctx.from_client { dir } else { 1 - dir };
        let mut start = [0u32; 2];
        start[client_dir] = starts[0];
        start[1 - client_dir] = starts[1];
        // The bytes already read after the request and after the reply are each direction's
        // first inner segment; later segments count on from there.
        let [client_rest, server_rest] = open.rest;
        let mut rest: [Vec<u8>; 2] = Default::default();
        rest[client_dir] = client_rest;
        rest[1 - client_dir] = server_rest;
        let mut segments = [self.streams[0].segments, self.streams[1].segments];
        for (i, r) in rest.iter().enumerate() {
            if !r.is_empty() {
                segments[i] = segments[i].saturating_sub(1);
            }
        }
        let inner = Inner {
            target,
            start,
            segments,
        };
        self.inner = Some(Box::new(inner));
        self.inner_view(ctx);
        // The client's first (it speaks first), then the server's, each as the sender.
        let (from, from_client) = (ctx.from, ctx.from_client);
        for i in [client_dir, 1 - client_dir] {
            if rest[i].is_empty() {
                continue;
            }
            let sender = if i == dir { from } else { from.other() };
            let sender_is_client = i == client_dir;
            if sender != ctx.from {
                std::mem::swap(&mut ctx.src, &mut ctx.dst);
                ctx.from = sender;
                ctx.from_client = sender_is_client;
            }
            let d = Delivered {
                bytes: &rest[i],
                offset: 0,
                contiguous: true,
                len: rest[i].len() as u32,
                segment: 1,
            };
            self.detectors.bytes(ctx, &d, closing && i == dir);
        }
        if ctx.from != from {
            std::mem::swap(&mut ctx.src, &mut ctx.dst);
            ctx.from = from;
            ctx.from_client = from_client;
        }
    }

    /// Inside a tunnel, the detectors see its target where the proxy stands, and the roles
    /// are known (the proxy's client speaks first).
    fn inner_view(&self, ctx: &mut Ctx<'_>) {
        if let Some(inner) = &self.inner {
            if ctx.from_client {
                ctx.dst = inner.target;
            } else {
                ctx.src = inner.target;
            }
            ctx.roles_known = true;
        }
    }

    /// The flow ends: judge what is pending.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.tunnels.stop(ctx.budget);
        self.inner_view(ctx);
        self.detectors.finish(ctx);
    }

    fn status(&self) -> Status {
        let tunnel = self.inner.is_none() && self.tunnels.running();
        if tunnel || self.detectors.running() {
            Status::Running
        } else {
            Status::Done
        }
    }
}

/// The part of `d` that belongs to the inner stream of direction `dir`, with inner offsets.
fn rebase<'a>(inner: &Inner, dir: usize, d: &Delivered<'a>) -> Option<Delivered<'a>> {
    let start = inner.start[dir];
    let end = d.offset.saturating_add(d.len);
    if end <= start {
        return None;
    }
    let skip = start.saturating_sub(d.offset);
    Some(Delivered {
        bytes: d.bytes.get(skip as usize..).unwrap_or(&[]),
        offset: d.offset.saturating_add(skip).saturating_sub(start),
        // The inner stream starts here: what preceded it is not its bytes.
        contiguous: d.contiguous || skip > 0,
        len: d.len.saturating_sub(skip),
        segment: d.segment.saturating_sub(inner.segments[dir]),
    })
}

// A TCP flow's detector state, boxed apart from the flow table for as long as some detector
// runs: a third of the flows of a BitTorrent-heavy link hold one (most of them seen mid-stream,
// waiting for the other direction). What is needed only at times is boxed apart in turn.
const _: () = assert!(std::mem::size_of::<TcpDetect>() <= 184);
