//! The monitor: every packet of a flow (an engine tap), the detectors, and the incidents they
//! raise. One monitor serves one engine, or several behind a lock ([`Shared`]).

use std::any::Any;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use engine::{Proto, Tap, TapPacket};

use crate::alerts::{Alert, Alerts, Detection, Severity};
use crate::{Category, Thresholds, dht, peers, resets, utp};

/// Counters of the monitor's own work and bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Packets looked at.
    pub packets: u64,
    /// uTP packets and KRPC messages parsed.
    pub utp: u64,
    pub krpc: u64,
    /// Entries of detector tables dropped to stay within `max_state` (oldest first).
    pub state_evicted: u64,
    /// Incidents dropped to stay within `max_state`.
    pub incidents_evicted: u64,
    /// Times the capture clock jumped (back more than a minute, ahead more than an hour).
    pub epochs: u64,
    /// DHT answers not counted as unsolicited because their queries may have been forgotten
    /// (the query table churning under load).
    pub dht_uncounted: u64,
}

/// Clock jumps that start a new epoch ([`Monitor::tick`]).
pub const EPOCH_BACK_S: i64 = 60;
pub const EPOCH_AHEAD_S: i64 = 3600;

/// What a detector needs besides the packet: the thresholds, the clock, the incidents.
pub(crate) struct Ctx<'a> {
    pub t: &'a Thresholds,
    pub now_s: i64,
    /// The packet's capture time (a sweep: the second it runs at).
    pub now_ns: i64,
    pub alerts: &'a mut Alerts,
}

impl Ctx<'_> {
    /// Counts a detection into the incident (`category`, `key`).
    #[allow(clippy::too_many_arguments)]
    pub fn raise(
        &mut self,
        category: Category,
        key: &str,
        signature: impl FnOnce() -> String,
        severity: Severity,
        threshold: impl FnOnce() -> String,
        d: Detection,
    ) {
        self.alerts.raise(
            self.now_ns,
            category,
            key,
            signature,
            severity,
            threshold,
            d,
        );
    }
}

/// A flow's name in an alert: `proto src -> dst`.
pub(crate) fn flow_name(proto: Proto, src: SocketAddr, dst: SocketAddr) -> String {
    format!("{} {src} -> {dst}", proto.as_str())
}

/// The detectors of every category, their state, and the incidents.
#[derive(Debug)]
pub struct Monitor {
    t: Thresholds,
    alerts: Alerts,
    now_s: i64,
    next_sweep_s: i64,
    utp: utp::Utp,
    dht: dht::Dht,
    peers: peers::Peers,
    resets: resets::Resets,
    stats: Stats,
}

impl Monitor {
    pub fn new(t: Thresholds) -> Monitor {
        Monitor {
            alerts: Alerts::new(&t),
            now_s: i64::MIN,
            next_sweep_s: i64::MIN,
            utp: utp::Utp::new(&t),
            dht: dht::Dht::new(&t),
            peers: peers::Peers::new(&t),
            resets: resets::Resets::new(&t),
            stats: Stats::default(),
            t,
        }
    }

    /// Whether a packet can matter to a detector: every UDP datagram with a payload; of TCP,
    /// resets and what follows them, the opening packets of a flow (connection attempts and
    /// their answers), and packets that named peers. A monitor behind a lock is asked only
    /// about these.
    pub fn relevant(p: &TapPacket<'_>) -> bool {
        match p.proto {
            Proto::Udp => !p.payload.is_empty(),
            Proto::Tcp => {
                p.flow.reset
                    || p.flow.packets <= 3
                    || !p.facts.learned.is_empty()
                    || p.tcp.is_some_and(|t| t.flags & wire::tcp::flags::RST != 0)
            }
        }
    }

    /// Reads one packet.
    pub fn packet(&mut self, p: &TapPacket<'_>) {
        self.stats.packets = self.stats.packets.saturating_add(1);
        let now_s = p.ts_ns.div_euclid(1_000_000_000);
        self.tick(now_s);
        let mut cx = Ctx {
            t: &self.t,
            now_s: self.now_s,
            now_ns: p.ts_ns.max(self.now_s.saturating_mul(1_000_000_000)),
            alerts: &mut self.alerts,
        };
        match p.proto {
            Proto::Udp => {
                if let Ok(h) = bt::utp::Header::new_checked(p.payload) {
                    self.stats.utp = self.stats.utp.saturating_add(1);
                    self.utp.packet(p, &h, &mut cx);
                    self.resets.utp(p, &h, &mut cx);
                    self.peers.attempt_utp(&h, p.dst, cx.now_s);
                } else if bt::krpc::probe(p.payload)
                    && let Ok(m) = bt::krpc::parse(p.payload)
                {
                    self.stats.krpc = self.stats.krpc.saturating_add(1);
                    self.dht.message(p, &m, &mut cx);
                }
            }
            Proto::Tcp => self.resets.tcp(p, &mut cx),
        }
        self.peers.packet(p, &mut cx);
    }

    /// Moves the clock (packets do; a live sensor's quiet moments too): checks what waits
    /// for an answer that did not come. Time that jumps back by more than a minute (the next
    /// of several files, older than the last) or ahead by more than an hour (a broken
    /// timestamp) starts a new epoch: what waited is judged on the old clock if its time was
    /// up, forgotten if not, and rate windows start again.
    pub fn tick(&mut self, now_s: i64) {
        let jump = self.now_s != i64::MIN
            && (now_s < self.now_s.saturating_sub(EPOCH_BACK_S)
                || now_s > self.now_s.saturating_add(EPOCH_AHEAD_S));
        if jump {
            self.settle(self.now_s);
            self.dht.new_epoch();
            self.stats.epochs += 1;
            self.now_s = now_s;
            self.next_sweep_s = now_s;
        }
        if now_s <= self.now_s && !jump {
            return;
        }
        self.now_s = now_s;
        if now_s < self.next_sweep_s {
            return;
        }
        self.next_sweep_s = now_s.saturating_add(1);
        let mut cx = Ctx {
            t: &self.t,
            now_s,
            now_ns: now_s.saturating_mul(1_000_000_000),
            alerts: &mut self.alerts,
        };
        self.utp.sweep(&mut cx);
        self.peers.sweep(&mut cx);
    }

    /// Alerts due now (new incidents, and updates at most once per `update_every_s`).
    pub fn due(&mut self) -> Vec<Alert> {
        self.alerts.due(self.now_s)
    }

    /// Everything not yet written (the end of a run). What waited for an answer is judged if
    /// its time was up, forgotten if not (the capture ended before the answer could come).
    pub fn finish(&mut self) -> Vec<Alert> {
        self.settle(self.now_s);
        self.alerts.finish(self.now_s)
    }

    /// Judges the waits whose time is up at `at_s`, and forgets the others.
    fn settle(&mut self, at_s: i64) {
        let mut cx = Ctx {
            t: &self.t,
            now_s: at_s,
            now_ns: at_s.saturating_mul(1_000_000_000),
            alerts: &mut self.alerts,
        };
        self.utp.expire_all(&mut cx, at_s);
        self.utp.forget_waits();
        self.peers.expire_all(&mut cx, at_s);
        self.peers.forget_waits();
    }

    /// Every incident as it stands.
    pub fn incidents(&self) -> Vec<&Alert> {
        self.alerts.all()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            state_evicted: self.utp.evicted()
                + self.dht.evicted()
                + self.peers.evicted()
                + self.resets.evicted(),
            incidents_evicted: self.alerts.evicted,
            dht_uncounted: self.dht.uncounted,
            ..self.stats
        }
    }

    /// Entries held in detector tables (for the memory bound).
    pub fn state_entries(&self) -> usize {
        self.utp.len() + self.dht.len() + self.peers.len() + self.resets.len() + self.alerts.len()
    }

    pub fn now_s(&self) -> i64 {
        self.now_s
    }
}

impl Tap for Monitor {
    fn packet(&mut self, p: &TapPacket<'_>) {
        if Monitor::relevant(p) {
            Monitor::packet(self, p);
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// One monitor for several engines (a live sensor's workers): each worker's tap locks it for
/// the packets that can matter ([`Monitor::relevant`]).
#[derive(Debug, Clone)]
pub struct Shared(pub Arc<Mutex<Monitor>>);

impl Shared {
    pub fn new(t: Thresholds) -> Shared {
        Shared(Arc::new(Mutex::new(Monitor::new(t))))
    }

    /// The monitor, even if a worker panicked while holding it (its state is still sound
    /// enough to report).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Monitor> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Tap for Shared {
    fn packet(&mut self, p: &TapPacket<'_>) {
        if Monitor::relevant(p) {
            self.lock().packet(p);
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
