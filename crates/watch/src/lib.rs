//! `swarmwall watch`: live capture.
//!
//! Each worker thread has one AF_PACKET socket with a TPACKET_V3 ring per interface ([`ring`]),
//! and its own engine. The sockets of an interface form one fanout group hashing flows, so a
//! flow (both directions, and its IP fragments) always reaches the same worker. The workers
//! pass each other what their engines learn (tracker replies, DHT values, PEX, LSD, SOCKS
//! relays), as `enforce`'s workers do, so an encrypted connection on one worker is judged with
//! what a tracker reply on another announced. With [`Sensor::set_exchange`] the same facts also
//! go to other sensors (through the evidence store: `swarmwall_evidence::facts`), and theirs
//! come to every worker.
//!
//! Decisions: a flow's record is written when the flow ends (closed, idle, evicted, or at
//! exit), judged with everything known at that moment — like `analyze`, not like `enforce`:
//! nothing waits for a verdict, so there is no reason to decide before the flow is over. An
//! encrypted (MSE/PE-shaped) flow that is not certain is relabelled when it ends from what is
//! known then (the endpoints trackers, DHT, PEX and LSD announced, on any worker), as `analyze`
//! relabels at the end of its input; `analyze`'s holding of those records until the end has
//! no place in a capture that does not end. What `analyze` learns only after a flow ended
//! (a tracker reply that names a peer after the connection closed) `watch` does not use.
//!
//! The clock is the packets' (kernel receive time); on a quiet link each worker moves its
//! engine's clock to the wall clock every tick, so idle flows still end in time.

pub mod block;
pub mod filter;
pub mod iface;
pub mod ring;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::{Config, DefragStats, Engine, Exchange, Fact, FlowRecord, Knowledge, Totals};
use wire::LinkType;

pub use iface::Iface;
pub use ring::{KernelStats, RingConfig};

/// How the sensor runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub interfaces: Vec<String>,
    /// Worker threads (each with a ring per interface); at least 1.
    pub workers: usize,
    /// A tcpdump filter expression.
    pub filter: Option<String>,
    pub ring: RingConfig,
    pub engine: Config,
    /// How often each worker reports and moves its clock.
    pub tick: Duration,
    /// A tap for each worker's engine (the attack detectors).
    pub taps: Option<engine::Taps>,
}

impl Options {
    pub fn new(interfaces: Vec<String>) -> Options {
        Options {
            interfaces,
            workers: thread::available_parallelism().map_or(1, |n| n.get()),
            filter: None,
            ring: RingConfig::default(),
            engine: live_config(),
            tick: Duration::from_secs(1),
            taps: None,
        }
    }
}

/// The engine's settings for a live sensor: as `analyze`, relabelling when a flow ends
/// instead of at the end of the input.
pub fn live_config() -> Config {
    Config {
        relabel_at_end: false,
        relabel_when_ended: true,
        ..Config::default()
    }
}

/// Why the sensor could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: {1}")]
    Interface(String, io::Error),
    #[error("{0}")]
    Filter(String),
    #[error("{0}")]
    Privileges(String),
    #[error("worker {0}: {1}")]
    Worker(usize, io::Error),
}

/// Counters, as `--stats` writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub interfaces: Vec<String>,
    pub workers: usize,
    /// Packets and bytes (on the wire) the engines read.
    pub packets: u64,
    pub bytes: u64,
    /// Flows ended (records written) and flows open now.
    pub flows_ended: u64,
    pub flows_open: u64,
    /// The kernel's counters, over all sockets: packets received, packets dropped because a
    /// ring was full (`tp_drops`), times a ring froze (`tp_freeze_q_cnt`).
    pub kernel: KernelStats,
    /// Ring blocks whose layout made no sense (never expected; given back unread).
    pub bad_blocks: u64,
    /// Packets per worker (how evenly the fanout spreads them).
    pub per_worker: Vec<u64>,
}

/// What a run leaves for the summary.
#[derive(Debug)]
pub struct Finished {
    pub stats: Stats,
    pub totals: Totals,
    pub defrag: DefragStats,
    /// The most complete of the workers' knowledge (each has the others' facts too).
    pub knowledge: Knowledge,
}

/// What the caller gets while the sensor runs.
#[derive(Debug)]
pub enum Report<'a> {
    /// Records of flows that ended.
    Records(Vec<FlowRecord>),
    /// The counters, every `stats_every` given to [`Sensor::run`].
    Stats(&'a Stats),
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The sockets, open, before the capture starts (privileges can be dropped in between).
#[derive(Debug)]
pub struct Sensor {
    opts: Options,
    ifaces: Vec<Iface>,
    /// Per worker: a ring per interface, with its link type.
    rings: Vec<Vec<(ring::Ring, LinkType)>>,
    exchange: Option<Exchange>,
}

impl Sensor {
    /// Opens every socket (needs CAP_NET_RAW, and CAP_NET_ADMIN for promiscuous mode).
    pub fn open(opts: Options) -> Result<Sensor, Error> {
        let workers = opts.workers.max(1);
        let mut ifaces = Vec::new();
        for name in &opts.interfaces {
            ifaces.push(Iface::lookup(name).map_err(|e| Error::Interface(name.clone(), e))?);
        }
        // One program per interface framing (compiled once).
        let mut programs = Vec::new();
        for i in &ifaces {
            programs.push(match &opts.filter {
                Some(expr) => Some(filter::compile(expr, i.dlt()).map_err(Error::Filter)?),
                None => None,
            });
        }
        let base = (std::process::id() as u16).wrapping_mul(31);
        let mut rings: Vec<Vec<(ring::Ring, LinkType)>> =
            (0..workers).map(|_| Vec::new()).collect();
        // Each interface's sockets join its group in worker order, so that one flow hash
        // picks the same worker on every interface.
        for (n, (i, prog)) in ifaces.iter().zip(&programs).enumerate() {
            let cfg = RingConfig {
                fanout_group: (workers > 1).then(|| base.wrapping_add(n as u16)),
                ..opts.ring.clone()
            };
            for w in &mut rings {
                let r = ring::Ring::open(i.index, &cfg, prog.as_ref(), !i.ethernet(), i.loopback())
                    .map_err(|e| Error::Interface(i.name.clone(), e))?;
                w.push((r, i.link()));
            }
        }
        Ok(Sensor {
            opts: Options { workers, ..opts },
            ifaces,
            rings,
            exchange: None,
        })
    }

    /// Shares what the workers learn with other sensors, and gives them what those learned
    /// (sensors as one): every fact a worker journals goes to `learned`; what arrives on
    /// `remote` goes to every worker, whose engines look endpoints up by `tagger`'s tags.
    pub fn set_exchange(&mut self, exchange: Exchange) {
        self.exchange = Some(exchange);
    }

    pub fn interfaces(&self) -> &[Iface] {
        &self.ifaces
    }

    pub fn workers(&self) -> usize {
        self.rings.len()
    }

    /// Runs until `stop` is set. `on` gets the records of flows as they end and, every
    /// `stats_every`, the counters; it runs on the calling thread.
    pub fn run(
        self,
        stop: &AtomicBool,
        stats_every: Duration,
        mut on: impl FnMut(Report<'_>),
    ) -> Result<Finished, Error> {
        let n = self.rings.len();
        let halt = Arc::new(AtomicBool::new(false));
        let (out_tx, out_rx) = mpsc::channel::<Vec<FlowRecord>>();
        let (txs, rxs): (Vec<Sender<Facts>>, Vec<Receiver<Facts>>) =
            (0..n).map(|_| mpsc::channel()).unzip();
        let progress = Arc::new(Mutex::new(vec![Progress::default(); n]));
        let mut handles: Vec<JoinHandle<Result<Done, io::Error>>> = Vec::new();
        let (outside, remote) = match self.exchange {
            Some(x) => (Some((x.learned, x.tagger)), Some(x.remote)),
            None => (None, None),
        };
        for (i, (rings, learned)) in self.rings.into_iter().zip(rxs).enumerate() {
            let peers = txs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, t)| t.clone())
                .chain(outside.as_ref().map(|(l, _)| l.clone()))
                .collect();
            let mut engine = Engine::new(self.opts.engine.clone());
            engine.set_tap(self.opts.taps.as_ref().map(engine::Taps::make));
            engine
                .knowledge_mut()
                .set_tagger(outside.as_ref().map(|(_, t)| t.clone()));
            let w = Worker {
                index: i,
                rings,
                engine,
                peers,
                learned,
                out: out_tx.clone(),
                progress: progress.clone(),
                halt: halt.clone(),
                tick: self.opts.tick,
            };
            let h = thread::Builder::new()
                .name(format!("swarmwall-w{i}"))
                .spawn(move || w.run())
                .map_err(|e| Error::Worker(i, e))?;
            handles.push(h);
        }
        // What other sensors learned goes to every worker (the workers' own senders are
        // kept for that only then).
        drop(outside);
        let forward = if remote.is_some() { txs } else { Vec::new() };
        drop(out_tx);

        let mut stats = Stats {
            interfaces: self.ifaces.iter().map(|i| i.name.clone()).collect(),
            workers: n,
            ..Stats::default()
        };
        let mut last_stats = Instant::now();
        let mut flows_ended = 0u64;
        let mut stopped_early = false;
        while !stop.load(Ordering::Relaxed) {
            match out_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(r) => {
                    flows_ended += r.len() as u64;
                    on(Report::Records(r));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    stopped_early = true;
                    break;
                }
            }
            if let Some(r) = &remote {
                while let Ok(facts) = r.try_recv() {
                    let facts = Arc::new(facts);
                    for t in &forward {
                        let _ = t.send(facts.clone());
                    }
                }
            }
            if last_stats.elapsed() >= stats_every {
                last_stats = Instant::now();
                fill_stats(&mut stats, &progress, flows_ended);
                on(Report::Stats(&stats));
            }
            if handles.iter().any(JoinHandle::is_finished) {
                stopped_early = true;
                break;
            }
        }
        halt.store(true, Ordering::Relaxed);
        let mut totals = Totals::default();
        let mut defrag = DefragStats::default();
        let mut knowledge: Option<Knowledge> = None;
        let mut failure = None;
        // Records still in flight, and each worker's last ones.
        let mut results = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            results.push((i, h.join()));
        }
        while let Ok(r) = out_rx.try_recv() {
            flows_ended += r.len() as u64;
            on(Report::Records(r));
        }
        for (i, r) in results {
            match r {
                Ok(Ok(done)) => {
                    totals.merge(&done.totals);
                    defrag.merge(&done.defrag);
                    if knowledge
                        .as_ref()
                        .is_none_or(|k| done.knowledge.len() > k.len())
                    {
                        knowledge = Some(done.knowledge);
                    }
                }
                Ok(Err(e)) => failure = Some(Error::Worker(i, e)),
                Err(_) => failure = Some(Error::Worker(i, io::Error::other("the worker panicked"))),
            }
        }
        fill_stats(&mut stats, &progress, flows_ended);
        if let Some(e) = failure {
            return Err(e);
        }
        if stopped_early && !stop.load(Ordering::Relaxed) {
            return Err(Error::Worker(0, io::Error::other("the workers stopped")));
        }
        Ok(Finished {
            stats,
            totals,
            defrag,
            knowledge: knowledge.unwrap_or_else(|| Knowledge::new(1, 0)),
        })
    }
}

fn fill_stats(stats: &mut Stats, progress: &Mutex<Vec<Progress>>, flows_ended: u64) {
    let Ok(p) = progress.lock() else { return };
    stats.packets = p.iter().map(|w| w.packets).sum();
    stats.bytes = p.iter().map(|w| w.bytes).sum();
    stats.flows_open = p.iter().map(|w| w.flows_open).sum();
    stats.bad_blocks = p.iter().map(|w| w.bad_blocks).sum();
    stats.per_worker = p.iter().map(|w| w.packets).collect();
    let mut k = KernelStats::default();
    for w in p.iter() {
        k.add(&w.kernel);
    }
    stats.kernel = k;
    stats.flows_ended = flows_ended;
}

type Facts = Arc<Vec<Fact>>;

/// One worker's counters, shared with the main thread.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    packets: u64,
    bytes: u64,
    flows_open: u64,
    kernel: KernelStats,
    bad_blocks: u64,
}

/// What a worker hands back when it stops.
struct Done {
    totals: Totals,
    defrag: DefragStats,
    knowledge: Knowledge,
}

struct Worker {
    index: usize,
    rings: Vec<(ring::Ring, LinkType)>,
    engine: Engine,
    peers: Vec<Sender<Facts>>,
    learned: Receiver<Facts>,
    out: Sender<Vec<FlowRecord>>,
    progress: Arc<Mutex<Vec<Progress>>>,
    halt: Arc<AtomicBool>,
    tick: Duration,
}

impl Worker {
    fn run(mut self) -> io::Result<Done> {
        let journal = !self.peers.is_empty();
        self.engine.knowledge_mut().set_journal(journal);
        let mut ended: Vec<FlowRecord> = Vec::new();
        let mut last_tick = Instant::now();
        while !self.halt.load(Ordering::Relaxed) {
            let ready = {
                let rings: Vec<&ring::Ring> = self.rings.iter().map(|(r, _)| r).collect();
                ring::Ring::wait(&rings, 100)?
            };
            // What the others learned, before this worker's packets are read.
            self.apply_learned();
            if ready {
                self.read_ready(&mut ended);
                // What this worker learned, to the others at once: the connection a tracker
                // reply announces may open on another worker a moment later.
                self.share(journal);
            }
            if last_tick.elapsed() >= self.tick {
                last_tick = Instant::now();
                self.engine.advance(now_ns(), &mut |r| ended.push(r));
                self.report(&mut ended, journal);
            }
        }
        // What is in the rings now, then every flow still open.
        self.read_ready(&mut ended);
        self.engine.finish(&mut |r| ended.push(r));
        self.report(&mut ended, journal);
        Ok(Done {
            totals: *self.engine.totals(),
            defrag: *self.engine.defrag_stats(),
            knowledge: std::mem::replace(self.engine.knowledge_mut(), Knowledge::new(1, 0)),
        })
    }

    /// Reads every block ready on every ring (a bounded number per call, so that a busy
    /// ring does not starve the tick).
    fn read_ready(&mut self, ended: &mut Vec<FlowRecord>) {
        let engine = &mut self.engine;
        for _ in 0..64 {
            let mut any = false;
            for (r, link) in &mut self.rings {
                let link = *link;
                let n = r.read_block(|f| {
                    engine.frame(link, f.ts_ns, f.data, f.wire_len, &mut |rec| {
                        ended.push(rec)
                    });
                });
                any |= n > 0;
            }
            if !any {
                break;
            }
        }
    }

    fn apply_learned(&mut self) {
        while let Ok(facts) = self.learned.try_recv() {
            let k = self.engine.knowledge_mut();
            for f in facts.iter() {
                k.apply(f);
            }
        }
    }

    fn share(&mut self, journal: bool) {
        if journal {
            let facts = self.engine.knowledge_mut().take_journal();
            if !facts.is_empty() {
                let facts = Arc::new(facts);
                for p in &self.peers {
                    let _ = p.send(facts.clone());
                }
            }
        }
    }

    fn report(&mut self, ended: &mut Vec<FlowRecord>, journal: bool) {
        if !ended.is_empty() {
            let _ = self.out.send(std::mem::take(ended));
        }
        self.share(journal);
        let mut kernel = KernelStats::default();
        let mut bad_blocks = 0;
        for (r, _) in &mut self.rings {
            if let Ok(k) = r.read_kernel_stats() {
                kernel.add(&k);
            }
            bad_blocks += r.bad_blocks;
        }
        let t = self.engine.totals();
        let p = Progress {
            packets: t.packets,
            bytes: t.wire_bytes,
            flows_open: self.engine.active_flows() as u64,
            kernel,
            bad_blocks,
        };
        if let Ok(mut all) = self.progress.lock()
            && let Some(slot) = all.get_mut(self.index)
        {
            *slot = p;
        }
    }
}

/// Drops every capability (the sockets stay usable), switching to `user` if given.
pub fn drop_privileges(user: Option<&str>) -> Result<(), Error> {
    netfilter::privs::keep_only(&[], user).map_err(Error::Privileges)
}
