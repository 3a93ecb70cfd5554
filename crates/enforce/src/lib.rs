//! `swarmwall enforce`: the inline firewall daemon.
//!
//! One worker thread per NFQUEUE queue. The ruleset spreads flows over the queues by a hash of
//! their addresses, so a flow always reaches the same worker; each worker has its own engine,
//! and the workers pass each other what their engines learn (endpoints, hosts), so an
//! encrypted connection is judged with what a tracker reply on another worker announced.
//!
//! Each wake-up takes every packet waiting (a batch), judges them in order, and answers with
//! one write: individual verdicts for the exceptions, then one batch verdict for the rest.
//! A flow's final decision goes into the packet mark with `NF_REPEAT`; the ruleset saves it in
//! the conntrack mark, and the kernel applies it to the flow's later packets, which never reach
//! user space again.
//!
//! Failing open: the queues are bound fail-open (a full queue accepts), the ruleset's queue
//! rule has `bypass` (no daemon: packets pass), and the daemon installs nothing. A crash loses
//! only the packets queued at that moment.
//!
//! Reload: SIGHUP rereads the policy; a file with an error is reported and the old policy
//! stays. SIGTERM or SIGINT stop the daemon.

mod event;
mod judge;
mod stats;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::{Config, Fact};
use netfilter::marks::Marks;
use netfilter::queue::{self, Queue, Received, Verdict, Writer};
use netfilter::rules::Queues;
use policy::Policy;

pub use event::Event;
pub use judge::{Judge, Judged, Outcome};
pub use stats::Stats;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub policy: PathBuf,
    pub queues: Queues,
    pub marks: Marks,
    /// Decision events: a file (appended), `-` for standard output, or none.
    pub events: Option<PathBuf>,
    /// Counters, rewritten as JSON every `stats_every` and at the end.
    pub stats: Option<PathBuf>,
    pub stats_every: Duration,
    /// Finished flows' records (JSON lines, as `analyze --flows`).
    pub flows: Option<PathBuf>,
    /// Decide and report, drop nothing (also set by the policy's `dry_run`).
    pub dry_run: bool,
    /// Switch to this user after opening everything.
    pub user: Option<String>,
    /// Keep every capability (for debugging; not recommended).
    pub keep_privileges: bool,
    pub engine: Config,
    pub queue: queue::Options,
    /// Packets judged per wake-up at most.
    pub batch: usize,
    /// A tap for each worker's engine (the attack detectors), and what to run on the
    /// output thread every 50 ms and at the end (write their alerts).
    pub taps: Option<engine::Taps>,
    pub tick: Option<engine::Hook>,
    /// Called on the output thread about once a second, and at the end, with the counters
    /// so far (the metrics endpoint).
    pub report: Option<Reporter>,
    /// Called on the output thread with the records of flows that ended (EVE events).
    pub on_flows: Option<FlowsHook>,
}

/// What a [`FlowsHook`] calls.
type OnFlows = dyn Fn(&[engine::FlowRecord]) + Send + Sync;

/// A callback given the records of flows that ended.
#[derive(Clone)]
pub struct FlowsHook(Arc<OnFlows>);

impl FlowsHook {
    pub fn new(f: impl Fn(&[engine::FlowRecord]) + Send + Sync + 'static) -> FlowsHook {
        FlowsHook(Arc::new(f))
    }
}

impl std::fmt::Debug for FlowsHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowsHook")
    }
}

/// A callback given the counters so far.
#[derive(Clone)]
pub struct Reporter(Arc<dyn Fn(&Summary) + Send + Sync>);

impl Reporter {
    pub fn new(f: impl Fn(&Summary) + Send + Sync + 'static) -> Reporter {
        Reporter(Arc::new(f))
    }
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

impl Options {
    pub fn new(policy: PathBuf) -> Options {
        Options {
            policy,
            queues: Queues::per_cpu(),
            marks: Marks::default(),
            events: None,
            stats: None,
            stats_every: Duration::from_secs(10),
            flows: None,
            dry_run: false,
            user: None,
            keep_privileges: false,
            engine: Config::inline(),
            queue: queue::Options::default(),
            batch: 128,
            taps: None,
            tick: None,
            report: None,
            on_flows: None,
        }
    }
}

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Policy(#[from] policy::Error),
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("{0}")]
    Privileges(String),
    #[error("worker for queue {0}: {1}")]
    Worker(u16, io::Error),
}

/// Loads a policy file (and the lists it names).
pub fn load_policy(path: &Path) -> Result<Policy, Error> {
    let text = std::fs::read(path).map_err(|e| Error::Io(path.display().to_string(), e))?;
    let text = String::from_utf8(text).map_err(|e| {
        Error::Io(
            path.display().to_string(),
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("byte {}: not UTF-8 text", e.utf8_error().valid_up_to()),
            ),
        )
    })?;
    Ok(policy::parse(path, &text, &mut |p| std::fs::read(p))?)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The policy in force, swapped whole on reload.
struct Current {
    policy: RwLock<Arc<Policy>>,
    version: AtomicU64,
}

/// What the daemon did, when it stops.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub stats: Stats,
    pub reloads: u64,
    pub failed_reloads: u64,
}

/// Runs the daemon until `stop` is set; `reload` set means reread the policy (and is cleared).
/// Signals are the caller's: see [`run_with_signals`].
pub fn run(opts: &Options, stop: &AtomicBool, reload: &AtomicBool) -> Result<Summary, Error> {
    let policy = load_policy(&opts.policy)?;
    let mut events = match &opts.events {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(io::stdout()) as Box<dyn Write + Send>),
        Some(p) => Some(Box::new(append(p)?) as Box<dyn Write + Send>),
    };
    let flows_out = match &opts.flows {
        None => None,
        Some(p) => Some(BufWriter::new(append(p)?)),
    };
    let stats_file = match &opts.stats {
        None => None,
        Some(p) => Some(File::create(p).map_err(|e| Error::Io(p.display().to_string(), e))?),
    };
    // Every queue bound before privileges go.
    let mut queues = Vec::new();
    for n in opts.queues.iter() {
        queues.push(Queue::open(n, &opts.queue).map_err(|e| Error::Io(format!("queue {n}"), e))?);
    }
    if !opts.keep_privileges {
        netfilter::privs::keep_only_net_admin(opts.user.as_deref()).map_err(Error::Privileges)?;
    }
    let start_msg = format!(
        "queues {}, {}; capabilities: {}",
        opts.queues,
        policy.summary(),
        netfilter::privs::effective().join(",")
    );
    let current = Arc::new(Current {
        policy: RwLock::new(Arc::new(policy)),
        version: AtomicU64::new(0),
    });
    let (ev_tx, ev_rx) = mpsc::channel::<Vec<Event>>();
    let (flow_tx, flow_rx) = mpsc::channel::<Vec<engine::FlowRecord>>();
    let totals = Arc::new(Mutex::new(Stats::default()));
    let halt = Arc::new(AtomicBool::new(false));
    let _ = ev_tx.send(vec![Event::daemon(now_ns(), "start", true, start_msg)]);

    // Knowledge passes between workers.
    let n = queues.len();
    let (txs, rxs): (Vec<Sender<Facts>>, Vec<Receiver<Facts>>) =
        (0..n).map(|_| mpsc::channel()).unzip();
    let mut handles = Vec::new();
    for (i, (q, rx)) in queues.into_iter().zip(rxs).enumerate() {
        let peers: Vec<Sender<Facts>> = txs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, t)| t.clone())
            .collect();
        let mut judge = Judge::new(
            opts.engine.clone(),
            opts.marks,
            opts.flows.is_some() || opts.on_flows.is_some(),
        );
        judge
            .engine_mut()
            .set_tap(opts.taps.as_ref().map(engine::Taps::make));
        let w = Worker {
            queue: q,
            judge,
            current: current.clone(),
            dry_run: opts.dry_run,
            batch: opts.batch.max(1),
            events: ev_tx.clone(),
            flows: flow_tx.clone(),
            peers,
            learned: rx,
            totals: totals.clone(),
            halt: halt.clone(),
        };
        let num = w.queue.num();
        handles.push((
            num,
            thread::Builder::new()
                .name(format!("swarmwall-q{num}"))
                .spawn(move || w.run())
                .map_err(|e| Error::Io("starting a worker".into(), e))?,
        ));
    }
    drop(txs);
    drop(flow_tx);

    let mut summary = Summary::default();
    let mut stats_file = stats_file;
    let mut flows_out = flows_out;
    let mut last_stats = Instant::now();
    let mut last_report = Instant::now();
    let report = |summary: &Summary| {
        if let Some(r) = &opts.report {
            let s = Summary {
                stats: totals.lock().map(|s| s.clone()).unwrap_or_default(),
                ..summary.clone()
            };
            (r.0)(&s);
        }
    };
    report(&summary);
    let mut failure = None;
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(50));
        drain(
            &ev_rx,
            &flow_rx,
            &mut events,
            &mut flows_out,
            opts.on_flows.as_ref(),
        );
        if let Some(t) = &opts.tick {
            t.call();
        }
        if reload.swap(false, Ordering::Relaxed) {
            let (ok, msg) = match load_policy(&opts.policy) {
                Ok(p) => {
                    let msg = p.summary();
                    if let Ok(mut w) = current.policy.write() {
                        *w = Arc::new(p);
                    }
                    current.version.fetch_add(1, Ordering::Release);
                    summary.reloads += 1;
                    (true, msg)
                }
                Err(e) => {
                    summary.failed_reloads += 1;
                    eprintln!("swarmwall: reload failed, keeping the old policy: {e}");
                    (false, format!("{e}; the old policy stays"))
                }
            };
            write_events(
                &mut events,
                vec![Event::daemon(now_ns(), "reload", ok, msg)],
            );
        }
        if last_stats.elapsed() >= opts.stats_every {
            last_stats = Instant::now();
            write_stats(stats_file.as_mut(), &totals);
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            report(&summary);
        }
        if handles.iter().any(|(_, h)| h.is_finished()) {
            break;
        }
    }
    halt.store(true, Ordering::Relaxed);
    for (num, h) in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(Error::Worker(num, e)),
            Err(_) => failure = Some(Error::Worker(num, io::Error::other("the worker panicked"))),
        }
    }
    drain(
        &ev_rx,
        &flow_rx,
        &mut events,
        &mut flows_out,
        opts.on_flows.as_ref(),
    );
    write_stats(stats_file.as_mut(), &totals);
    summary.stats = totals.lock().map(|s| s.clone()).unwrap_or_default();
    report(&summary);
    let msg = format!(
        "{} packets judged, {} flows, {} packets dropped",
        summary.stats.packets, summary.stats.flows, summary.stats.packets_dropped
    );
    write_events(
        &mut events,
        vec![Event::daemon(now_ns(), "stop", failure.is_none(), msg)],
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

fn write_events(events: &mut Option<Box<dyn Write + Send>>, list: Vec<Event>) {
    if let Some(out) = events.as_mut() {
        for e in &list {
            let _ = writeln!(out, "{}", e.to_json());
        }
        let _ = out.flush();
    }
}

/// Opens `p` for appending, creating it.
fn append(p: &Path) -> Result<File, Error> {
    File::options()
        .create(true)
        .append(true)
        .open(p)
        .map_err(|e| Error::Io(p.display().to_string(), e))
}

/// Writes out what the workers reported since the last call: decision events and the records
/// of flows that ended.
fn drain(
    events_in: &Receiver<Vec<Event>>,
    flows_in: &Receiver<Vec<engine::FlowRecord>>,
    events: &mut Option<Box<dyn Write + Send>>,
    flows: &mut Option<BufWriter<File>>,
    on_flows: Option<&FlowsHook>,
) {
    while let Ok(list) = events_in.try_recv() {
        write_events(events, list);
    }
    while let Ok(records) = flows_in.try_recv() {
        if let Some(h) = on_flows {
            (h.0)(&records);
        }
        if let Some(out) = flows.as_mut() {
            for r in &records {
                let _ = swarmwall_io::record::write_line(out, r);
            }
            let _ = out.flush();
        }
    }
}

fn write_stats(file: Option<&mut File>, totals: &Mutex<Stats>) {
    let Some(f) = file else { return };
    let Ok(s) = totals.lock().map(|s| s.clone()) else {
        return;
    };
    let text = serde_json::to_string_pretty(&s).unwrap_or_default();
    use std::io::Seek;
    let _ = f.set_len(0);
    let _ = f.seek(io::SeekFrom::Start(0));
    let _ = writeln!(f, "{text}");
    let _ = f.flush();
}

/// Runs until SIGTERM or SIGINT, rereading the policy on SIGHUP.
pub fn run_with_signals(opts: &Options) -> Result<Summary, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| Error::Io("installing signal handlers".into(), e))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())
        .map_err(|e| Error::Io("installing signal handlers".into(), e))?;
    run(opts, &stop, &reload)
}

/// What one worker's engine learned, passed to the others.
type Facts = Arc<Vec<Fact>>;

/// One queue's thread.
struct Worker {
    queue: Queue,
    judge: Judge,
    current: Arc<Current>,
    dry_run: bool,
    batch: usize,
    events: Sender<Vec<Event>>,
    flows: Sender<Vec<engine::FlowRecord>>,
    peers: Vec<Sender<Facts>>,
    learned: Receiver<Facts>,
    totals: Arc<Mutex<Stats>>,
    halt: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self) -> io::Result<()> {
        let result = self.serve();
        // Held fragments pass, however the loop ended: nothing more will complete their
        // datagrams, and the kernel drops what is left in a queue whose socket closes.
        self.judge.release_expired(now_ns(), true);
        self.send_released();
        // The flows still open, so that --flows holds every flow the daemon saw.
        let mut open = Vec::new();
        self.judge.engine_mut().finish(&mut |r| open.push(r));
        if !open.is_empty() {
            let _ = self.flows.send(open);
        }
        result
    }

    /// Receives, judges and answers batches until the daemon stops.
    fn serve(&mut self) -> io::Result<()> {
        let journal = !self.peers.is_empty();
        self.judge.engine_mut().knowledge_mut().set_journal(journal);
        let mut version = u64::MAX;
        let mut policy = Arc::new(Policy::default());
        let mut w = Writer::new();
        let mut verdicts: Vec<(u32, Verdict, Option<u32>)> = Vec::new();
        let mut last_overruns = 0;
        while !self.halt.load(Ordering::Relaxed) {
            let v = self.current.version.load(Ordering::Acquire);
            if v != version {
                version = v;
                if let Ok(p) = self.current.policy.read() {
                    policy = p.clone();
                }
            }
            let dry_run = self.dry_run || policy.dry_run;
            let received = self.queue.recv_batch(self.batch)?;
            // What the other workers learned, read after the wait: a SOCKS5 relay announced
            // on another queue should be known before this queue's datagrams to it are judged.
            self.apply_learned();
            if received == 0 {
                // A quiet queue still lets its held fragments go in time.
                self.judge.release_expired(now_ns(), false);
                self.send_released();
                continue;
            }
            let now = now_ns();
            verdicts.clear();
            let queue_num = self.queue.num();
            for m in self.queue.messages() {
                let Ok(Received::Packet(p)) = m else { continue };
                if p.queue != queue_num {
                    continue;
                }
                let judged =
                    self.judge
                        .packet(&policy, dry_run, now, p.id, p.payload, p.wire_len(), p.mark);
                if let Judged::Now(o) = judged {
                    verdicts.push((p.id, o.verdict, o.mark));
                }
            }
            self.judge.release_expired(now, false);
            verdicts.extend(
                self.judge
                    .released
                    .drain(..)
                    .map(|(id, o)| (id, o.verdict, o.mark)),
            );
            self.judge.stats.batches += 1;
            w.clear();
            self.judge.stats.verdict_messages +=
                encode_verdicts(&mut w, queue_num, &verdicts, self.judge.holding());
            self.queue.send(&w)?;
            // Report.
            if !self.judge.events.is_empty() {
                let _ = self.events.send(std::mem::take(&mut self.judge.events));
            }
            if !self.judge.ended.is_empty() {
                let _ = self.flows.send(std::mem::take(&mut self.judge.ended));
            }
            if journal {
                let facts = self.judge.engine_mut().knowledge_mut().take_journal();
                if !facts.is_empty() {
                    let facts = Arc::new(facts);
                    for p in &self.peers {
                        let _ = p.send(facts.clone());
                    }
                }
            }
            self.judge.stats.overruns += self.queue.overruns - last_overruns;
            last_overruns = self.queue.overruns;
            if let Ok(mut t) = self.totals.lock() {
                t.merge(&self.judge.stats);
            }
            self.judge.stats = Stats::default();
        }
        Ok(())
    }

    /// Applies what the other workers learned.
    fn apply_learned(&mut self) {
        while let Ok(facts) = self.learned.try_recv() {
            let k = self.judge.engine_mut().knowledge_mut();
            for f in facts.iter() {
                k.apply(f);
            }
        }
    }

    /// Sends the verdicts of held fragments decided since the last batch, if any.
    fn send_released(&mut self) {
        if self.judge.released.is_empty() {
            return;
        }
        let released: Vec<_> = self
            .judge
            .released
            .drain(..)
            .map(|(id, o)| (id, o.verdict, o.mark))
            .collect();
        let mut w = Writer::new();
        self.judge.stats.verdict_messages +=
            encode_verdicts(&mut w, self.queue.num(), &released, true);
        let _ = self.queue.send(&w);
    }
}

/// Writes the verdicts of one batch: the most common (verdict, mark) goes as one batch verdict
/// up to its highest id, after individual verdicts for the others. Returns the messages.
/// `holding`: packets whose verdict comes later are in the queue (held IP fragments); a batch
/// verdict would cover them, so every verdict goes alone.
pub fn encode_verdicts(
    w: &mut Writer,
    queue: u16,
    verdicts: &[(u32, Verdict, Option<u32>)],
    holding: bool,
) -> u64 {
    if verdicts.is_empty() {
        return 0;
    }
    if holding {
        for &(id, v, m) in verdicts {
            w.verdict(queue, id, v, m);
        }
        return verdicts.len() as u64;
    }
    // The most common outcome (batches are small: a quadratic count is cheaper than hashing).
    let mut best = (0usize, verdicts[0].1, verdicts[0].2);
    for &(_, v, m) in verdicts {
        let n = verdicts.iter().filter(|x| x.1 == v && x.2 == m).count();
        if n > best.0 {
            best = (n, v, m);
        }
    }
    let (count, bv, bm) = best;
    let mut messages = 0;
    let mut max_id = 0;
    for &(id, v, m) in verdicts {
        if (v, m) == (bv, bm) {
            max_id = max_id.max(id);
        } else {
            w.verdict(queue, id, v, m);
            messages += 1;
        }
    }
    if count == 1 {
        w.verdict(queue, max_id, bv, bm);
    } else {
        w.batch_verdict(queue, max_id, bv, bm);
    }
    messages + 1
}
