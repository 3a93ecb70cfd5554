//! A tap: every packet of a flow, handed after the detectors to one observer that wants more
//! of it than the flow record keeps (the attack detectors read uTP headers, KRPC
//! transactions, TTLs and the peers a packet named). Without a tap, the engine pays one
//! branch per packet.

use std::any::Any;
use std::net::SocketAddr;

use wire::IpPacket;

use crate::{FlowView, PacketFacts, Proto};

/// A TCP segment's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
}

/// One packet of a flow, as the engine saw it.
#[derive(Debug, Clone, Copy)]
pub struct TapPacket<'a> {
    pub ts_ns: i64,
    pub proto: Proto,
    /// Sender and receiver as the detectors see them (through a SOCKS5 UDP relay, the
    /// proxy's client and the target).
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The IP packet (or reassembled datagram): its addresses, lengths and TTL.
    pub ip: &'a IpPacket<'a>,
    pub tcp: Option<TcpHeader>,
    /// The transport payload as captured (after a SOCKS5 UDP header).
    pub payload: &'a [u8],
    /// TTL of the sender's previous packet in the flow; 0 if this is its first.
    pub prev_ttl: u8,
    /// IP fragments the packet arrived in (1 when whole).
    pub fragments: u32,
    /// The flow after the packet; whether its client sent the packet.
    pub flow: FlowView<'a>,
    pub from_client: bool,
    /// What the packet carried (with the peers it named: [`PacketFacts::learned`]).
    pub facts: &'a PacketFacts,
}

/// An observer of every packet of a flow ([`Engine::set_tap`](crate::Engine::set_tap)).
pub trait Tap: Send {
    fn packet(&mut self, p: &TapPacket<'_>);
    /// The tap itself, for its owner to reach its state through the engine.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The engine's slot for a tap (a trait object has no `Debug`).
#[derive(Default)]
pub(crate) struct Slot(pub Option<Box<dyn Tap>>);

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Tap" } else { "None" })
    }
}

/// Makes a tap for each engine of a run (a live sensor's or an inline daemon's workers):
/// taps of one run usually share one observer behind a lock.
#[derive(Clone)]
pub struct Taps(std::sync::Arc<dyn Fn() -> Box<dyn Tap> + Send + Sync>);

impl Taps {
    pub fn new(make: impl Fn() -> Box<dyn Tap> + Send + Sync + 'static) -> Taps {
        Taps(std::sync::Arc::new(make))
    }

    pub fn make(&self) -> Box<dyn Tap> {
        (self.0)()
    }
}

impl std::fmt::Debug for Taps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Taps")
    }
}

/// Something to run now and then on the thread that writes a run's outputs (a live sensor's
/// alerts), and once more at its end.
#[derive(Clone)]
pub struct Hook(std::sync::Arc<dyn Fn() + Send + Sync>);

impl Hook {
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> Hook {
        Hook(std::sync::Arc::new(f))
    }

    pub fn call(&self) {
        (self.0)()
    }
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}
