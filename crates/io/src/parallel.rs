//! Offline analysis on several threads.
//!
//! The reading thread (the caller's) reads the capture and chooses for each packet one of `n`
//! workers by a symmetric hash of its IP addresses ([`wire::pair_hash`]): every packet of a
//! flow, and every fragment of a datagram, reaches the same worker. Each worker runs its own
//! [`Engine`]; what one learns (tracker replies, DHT values, PEX, LSD, proxies) it sends to the
//! others after each round, as `watch`'s and `enforce`'s workers do. Packets are not copied:
//! workers read them in the chunks the reader read them into ([`Buffer`]).
//!
//! The reading thread is worker 0 itself: it analyses a smaller share of the flows, since
//! reading and choosing take it part of its time ([`reader_share`]). On two cores this
//! keeps two threads busy instead of three sharing two.
//!
//! # Order
//! The engine ends idle flows when capture time enters a new second: the reader sees when it
//! does, and tells every worker at that point of its own packets, so each ends the same idle
//! flows at the same point as one engine would. The input is cut into *rounds* of [`ROUND`]
//! packets (and at the end of every input); a worker hands back the records of the flows that
//! ended in its share of a round. The caller gets them in a defined order: round 0's records from
//! worker 0, 1, …, then round 1's, …; at the end, each worker's flows still open (in the
//! order they started) and its records held for relabelling. The same input and thread
//! count always give the same order.
//!
//! # What the split can change
//! What a worker learns in round `r` the others apply at the start of round `r + LAG`
//! ([`LAG`]), in worker order, waiting for it if need be: what each knows at each point
//! depends on the input and the thread count only, never on timing. A flow judged at its
//! first packets from what was learned shortly before on another worker (an MSE/PE
//! connection to an endpoint a tracker had just announced) is judged without it: it may lack
//! an `endpoint:*` evidence, or be held and relabelled at the end from everything all workers
//! learned.
//! Limits ([`Config::max_flows`]) apply per worker, split evenly.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use capfile::Packet;
use engine::report::Summary;
use engine::{Config, DefragStats, Engine, Fact, FlowRecord, Knowledge, Taps, Totals};
use wire::LinkType;

use crate::capture::Buffer;
use crate::record;

/// Packets per round, all workers together.
pub const ROUND: usize = 1 << 12;

/// Rounds a worker may have waiting: how far the reader runs ahead. Kept small, so that the
/// chunks in flight stay in the shared cache.
const QUEUE: usize = 2;

/// The reading thread's cost per packet (reading, parsing the record, choosing the worker,
/// handing it over) against a whole analysis of it on one thread. `swarmwall-bench run`
/// measured 0.215 s for reading and choosing against 1.03 s for the analysis on the
/// BitTorrent-heavy capture; handing over adds to it, and the analysis got faster since.
/// `analyze --threads 2`, five runs of each in turn, medians: on that file 0.90 s with 0.25,
/// 0.83 s with 0.4, 1.03 s with 0.5; on the mix 0.73, 0.67 and 0.74 s.
const READ_COST: f64 = 0.4;

/// Slots the hash space is cut into; worker 0 gets [`reader_share`] of them.
const SLOTS: u64 = 256;

/// The share of the flows the reading thread analyses with `n` workers: what leaves it as
/// busy as each of the others, given [`READ_COST`] (none once reading alone fills it).
pub fn reader_share(n: usize) -> f64 {
    if n <= 1 {
        return 1.0;
    }
    let n = n as f64;
    let e = 1.0 - READ_COST;
    // READ_COST + s·e = (1 - s)·e / (n - 1)
    ((e - READ_COST * (n - 1.0)) / (e * n)).max(0.0)
}

/// What the workers are asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    pub threads: usize,
    /// The engine's configuration (limits are split among the workers).
    pub config: Config,
    /// A tap for each worker's engine (the attack monitor, shared).
    pub taps: Option<Taps>,
    /// Write each record as its JSON line ([`record::write_record`]).
    pub json: bool,
    /// Hand the records themselves back too (for an evidence store).
    pub records: bool,
    /// Packets per round ([`ROUND`]; tests use fewer).
    pub round: usize,
}

/// The records of one worker's share of one round, in the order its engine ended them.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Their JSON lines, when asked for.
    pub json: Vec<u8>,
    /// The records, when asked for.
    pub records: Vec<FlowRecord>,
    /// How many records.
    pub flows: u64,
}

/// What the workers add up to when they are done.
#[derive(Debug)]
pub struct Finished {
    pub totals: Totals,
    pub defrag: DefragStats,
    /// The most complete of the workers' knowledge (each has the others' facts).
    pub knowledge: Knowledge,
    /// The summary of every record.
    pub summary: Summary,
}

/// Why the workers could not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start worker thread {0}: {1}")]
    Spawn(usize, std::io::Error),
    #[error("worker thread {0} panicked")]
    Panicked(usize),
}

/// One packet of a round: where its bytes are and what the engine needs besides; or a tick.
#[derive(Debug, Clone, Copy)]
struct Desc {
    ts_ns: i64,
    /// Not a packet: capture time (of another worker's packet) entered a new second.
    tick: bool,
    /// Which of the batch's buffers, and where in it.
    buf: u32,
    at: u32,
    len: u32,
    orig_len: u32,
    link: u16,
}

/// One worker's share of one round.
#[derive(Debug, Default)]
struct Batch {
    round: u64,
    /// The chunks its packets are in.
    bufs: Vec<Buffer>,
    descs: Vec<Desc>,
}

enum Msg {
    Batch(Batch),
    Finish,
}

struct Out {
    round: u64,
    worker: usize,
    chunk: Chunk,
}

/// What one worker learned in one round (possibly nothing: every round is sent, so that the
/// others know when they have all of it).
struct Facts {
    round: u64,
    from: usize,
    facts: Arc<Vec<Fact>>,
}

/// Rounds between learning a fact and the other workers applying it: more than the rounds the
/// reader may run ahead ([`QUEUE`]), so that nobody waits in the steady state.
pub const LAG: u64 = QUEUE as u64 + 1;

/// The workers and the reading side's state.
pub struct Pool {
    n: usize,
    round_len: usize,
    /// Hash slots below this are worker 0's (the reading thread's).
    local_slots: u64,
    round: u64,
    in_round: usize,
    clock_ns: i64,
    /// Worker 0, run on the reading thread.
    local: Core,
    /// The other workers' batches of the current round (index `i` is worker `i + 1`).
    batches: Vec<Batch>,
    txs: Vec<SyncSender<Msg>>,
    spare_rx: Receiver<Vec<Desc>>,
    out_rx: Receiver<Out>,
    /// Chunks received ahead of their turn.
    pending: BTreeMap<(u64, usize), Chunk>,
    /// The next chunk to hand out.
    next: (u64, usize),
    handles: Vec<JoinHandle<Done>>,
    failed: Arc<AtomicBool>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.n)
            .field("round", &self.round)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Starts `opts.threads - 1` worker threads; the caller's thread is worker 0.
    pub fn start(opts: Options) -> Result<Pool, Error> {
        let n = opts.threads.max(1);
        let mut config = opts.config.clone();
        config.max_flows = config.max_flows.div_ceil(n).max(1);
        let failed = Arc::new(AtomicBool::new(false));
        let (out_tx, out_rx) = mpsc::channel();
        let (spare_tx, spare_rx) = mpsc::channel();
        let (fact_txs, fact_rxs): (Vec<Sender<Facts>>, Vec<Receiver<Facts>>) =
            (0..n).map(|_| mpsc::channel()).unzip();
        let mut cores: Vec<Core> = fact_rxs
            .into_iter()
            .enumerate()
            .map(|(i, learned)| {
                let mut engine = Engine::new(config.clone());
                engine.set_tap(opts.taps.as_ref().map(Taps::make));
                engine.knowledge_mut().set_journal(n > 1);
                Core {
                    index: i,
                    engine,
                    out: Kept {
                        summary: Summary::default(),
                        json: opts.json,
                        records: opts.records,
                        chunk: Chunk::default(),
                    },
                    peers: fact_txs
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, t)| t.clone())
                        .collect(),
                    learned,
                    inbox: BTreeMap::new(),
                    applied: 0,
                    n,
                    failed: failed.clone(),
                }
            })
            .collect();
        drop(fact_txs);
        let local = cores.remove(0);
        let mut txs = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for core in cores {
            let i = core.index;
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            let w = Worker {
                core,
                rx,
                out: out_tx.clone(),
                spare: spare_tx.clone(),
                failed: failed.clone(),
            };
            let h = thread::Builder::new()
                .name(format!("swarmwall-a{i}"))
                .spawn(move || w.run())
                .map_err(|e| Error::Spawn(i, e))?;
            txs.push(tx);
            handles.push(h);
        }
        Ok(Pool {
            n,
            round_len: opts.round.max(1),
            local_slots: (reader_share(n) * SLOTS as f64).round() as u64,
            round: 0,
            in_round: 0,
            clock_ns: i64::MIN,
            local,
            batches: (1..n).map(|_| Batch::default()).collect(),
            txs,
            spare_rx,
            out_rx,
            pending: BTreeMap::new(),
            next: (0, 0),
            handles,
            failed,
        })
    }

    /// The worker of a packet: 0 (this thread) for non-IP frames and its share of the hash
    /// slots; the other slots dealt evenly to the others.
    fn worker_of(&self, link: LinkType, frame: &[u8]) -> usize {
        let Some(h) = wire::pair_hash(link, frame) else {
            return 0;
        };
        let slot = ((u128::from(h) * u128::from(SLOTS)) >> 64) as u64;
        if slot < self.local_slots || self.n == 1 {
            0
        } else {
            1 + ((slot - self.local_slots) % (self.n as u64 - 1)) as usize
        }
    }

    /// Hands one packet, a slice of `buf`, to its worker (or analyses it here). `on` gets the
    /// chunks whose turn has come; it returns `Break` to stop (the reader should stop too).
    pub fn packet(
        &mut self,
        p: &Packet<'_>,
        buf: &Buffer,
        on: &mut impl FnMut(Chunk) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let link = LinkType::from_number(p.linktype);
        if self.in_round == 0 {
            // What the others learned LAG rounds ago, before this round's packets.
            self.local.catch_up(self.round);
        }
        let w = self.worker_of(link, p.data);
        if p.ts_nanos > self.clock_ns {
            let second = |t: i64| t.div_euclid(1_000_000_000);
            if self.clock_ns == i64::MIN || second(p.ts_nanos) > second(self.clock_ns) {
                self.tick(w, p.ts_nanos);
            }
            self.clock_ns = p.ts_nanos;
        }
        match w {
            0 => self.local.frame(link, p.ts_nanos, p.data, p.orig_len),
            w => {
                let b = &mut self.batches[w - 1];
                // A packet is always a slice of the chunk it comes with, and chunks are far
                // below 4 GiB (the format caps a block at 16 MiB).
                if let Some(at) = buf.offset_of(p.data).and_then(|a| u32::try_from(a).ok()) {
                    if !b.bufs.last().is_some_and(|l| l.same(buf)) {
                        b.bufs.push(buf.clone());
                    }
                    b.descs.push(Desc {
                        ts_ns: p.ts_nanos,
                        tick: false,
                        buf: (b.bufs.len() - 1) as u32,
                        at,
                        len: p.data.len() as u32,
                        orig_len: p.orig_len,
                        link: p.linktype,
                    });
                }
            }
        }
        self.in_round += 1;
        if self.in_round >= self.round_len {
            self.end_round(on)
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Capture time enters a new second with a packet for worker `w`: the others' engines
    /// move their clocks there, at this point of their packets, as one engine would.
    fn tick(&mut self, w: usize, ts_ns: i64) {
        if w != 0 {
            self.local.advance(ts_ns);
        }
        for (i, b) in self.batches.iter_mut().enumerate() {
            if i + 1 != w {
                b.descs.push(Desc {
                    ts_ns,
                    tick: true,
                    buf: 0,
                    at: 0,
                    len: 0,
                    orig_len: 0,
                    link: 0,
                });
            }
        }
    }

    /// Ends the current round (at the end of each input too, so that rounds, and with them the
    /// records' order, do not depend on how inputs are grouped).
    pub fn end_round(&mut self, on: &mut impl FnMut(Chunk) -> ControlFlow<()>) -> ControlFlow<()> {
        if self.in_round == 0 {
            return self.deliver(on);
        }
        let round = self.round;
        for (i, tx) in self.txs.iter().enumerate() {
            let fresh = Batch {
                descs: self
                    .spare_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(self.round_len)),
                ..Batch::default()
            };
            let mut b = std::mem::replace(&mut self.batches[i], fresh);
            b.round = round;
            if tx.send(Msg::Batch(b)).is_err() {
                // The worker is gone (it panicked): finish() reports it.
                self.failed.store(true, Ordering::Relaxed);
            }
        }
        // Worker 0's share, after the others have theirs to work on.
        let chunk = self.local.take_chunk();
        self.pending.insert((round, 0), chunk);
        self.local.share(round);
        self.round += 1;
        self.in_round = 0;
        self.deliver(on)
    }

    /// Hands out the chunks whose turn has come, without waiting.
    fn deliver(&mut self, on: &mut impl FnMut(Chunk) -> ControlFlow<()>) -> ControlFlow<()> {
        loop {
            while let Some(c) = self.pending.remove(&self.next) {
                self.advance_next();
                on(c)?;
            }
            match self.out_rx.try_recv() {
                Ok(o) => {
                    self.pending.insert((o.round, o.worker), o.chunk);
                }
                Err(_) => return ControlFlow::Continue(()),
            }
        }
    }

    /// Hands out every chunk up to round `last` included, waiting for them; `Break` if a
    /// worker failed or `on` stopped.
    fn deliver_all(
        &mut self,
        last: u64,
        on: &mut impl FnMut(Chunk) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        loop {
            while let Some(c) = self.pending.remove(&self.next) {
                self.advance_next();
                on(c)?;
            }
            if self.next.0 > last {
                return ControlFlow::Continue(());
            }
            match self.out_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(o) => {
                    self.pending.insert((o.round, o.worker), o.chunk);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if !self.failed.load(Ordering::Relaxed) => {}
                Err(_) => return ControlFlow::Break(()),
            }
        }
    }

    fn advance_next(&mut self) {
        self.next.1 += 1;
        if self.next.1 == self.n {
            self.next = (self.next.0 + 1, 0);
        }
    }

    /// Ends the run: the last round, then every worker's open and held flows (after all have
    /// exchanged what they learned). With `stopped` (the caller stops early), the workers
    /// stop without ending their flows and `on` is not called again.
    pub fn finish(
        mut self,
        stopped: bool,
        on: &mut impl FnMut(Chunk) -> ControlFlow<()>,
    ) -> Result<Finished, Error> {
        let mut stopped = stopped;
        if !stopped {
            stopped = self.end_round(on).is_break();
        }
        if !stopped {
            for tx in &self.txs {
                let _ = tx.send(Msg::Finish);
            }
            let last = self.round;
            let chunk = self.local.finish(last);
            self.pending.insert((last, 0), chunk);
            // Every round sent, then the final chunks (one round more).
            let _ = self.deliver_all(last, on);
        }
        drop(std::mem::take(&mut self.txs));
        if stopped {
            self.failed.store(true, Ordering::Relaxed);
        }
        let mut done = vec![self.local.done()];
        for (i, h) in std::mem::take(&mut self.handles).into_iter().enumerate() {
            done.push(h.join().map_err(|_| Error::Panicked(i + 1))?);
        }
        let mut totals = Totals::default();
        let mut defrag = DefragStats::default();
        let mut summary = Summary::default();
        let mut knowledge: Option<Knowledge> = None;
        for d in done {
            totals.merge(&d.totals);
            defrag.merge(&d.defrag);
            summary.merge(d.summary);
            if knowledge
                .as_ref()
                .is_none_or(|k| d.knowledge.len() > k.len())
            {
                knowledge = Some(d.knowledge);
            }
        }
        Ok(Finished {
            totals,
            defrag,
            knowledge: knowledge.unwrap_or_else(|| Knowledge::new(1, 0)),
            summary,
        })
    }
}

/// What a worker hands back.
struct Done {
    totals: Totals,
    defrag: DefragStats,
    knowledge: Knowledge,
    summary: Summary,
}

/// One worker's engine and what it writes, wherever it runs.
struct Core {
    index: usize,
    engine: Engine,
    /// Where its ended flows go.
    out: Kept,
    peers: Vec<Sender<Facts>>,
    learned: Receiver<Facts>,
    /// The others' facts received and not applied yet, by round and worker.
    inbox: BTreeMap<(u64, usize), Arc<Vec<Fact>>>,
    /// Rounds whose facts are applied: those below this.
    applied: u64,
    n: usize,
    failed: Arc<AtomicBool>,
}

/// A worker's ended flows: its summary, and the round's chunk.
struct Kept {
    summary: Summary,
    json: bool,
    records: bool,
    /// The records of the round so far.
    chunk: Chunk,
}

impl Kept {
    /// One ended flow: into the summary, the chunk's JSON lines, its records.
    fn keep(&mut self, r: FlowRecord) {
        self.summary.add(&r);
        self.chunk.flows += 1;
        if self.json {
            record::write_record(&mut self.chunk.json, &r);
            self.chunk.json.push(b'\n');
        }
        if self.records {
            self.chunk.records.push(r);
        }
    }
}

impl Core {
    #[inline]
    fn frame(&mut self, link: LinkType, ts_ns: i64, data: &[u8], orig_len: u32) {
        let out = &mut self.out;
        self.engine
            .frame(link, ts_ns, data, orig_len, &mut |r| out.keep(r));
    }

    /// Moves the clock (capture time entered a new second on another worker).
    fn advance(&mut self, ts_ns: i64) {
        let out = &mut self.out;
        self.engine.advance(ts_ns, &mut |r| out.keep(r));
    }

    /// The records of the round (the next round's buffers start as large as this one's).
    fn take_chunk(&mut self) -> Chunk {
        let c = &self.out.chunk;
        let next = Chunk {
            json: Vec::with_capacity(c.json.len()),
            records: Vec::with_capacity(c.records.len()),
            flows: 0,
        };
        std::mem::replace(&mut self.out.chunk, next)
    }

    /// Shares what was learned (as round `last`), takes in everything the others learned, and
    /// ends every flow: the held records are relabelled from everything learned.
    fn finish(&mut self, last: u64) -> Chunk {
        self.share(last);
        self.catch_up_to(last + 1);
        let out = &mut self.out;
        self.engine.finish(&mut |r| out.keep(r));
        std::mem::take(&mut self.out.chunk)
    }

    /// Before round `round`: applies the others' facts of the rounds `LAG` or more before it.
    fn catch_up(&mut self, round: u64) {
        self.catch_up_to((round + 1).saturating_sub(LAG));
    }

    /// Applies the others' facts of every round below `upto`, in round and worker order,
    /// waiting for them (unless a worker failed).
    fn catch_up_to(&mut self, upto: u64) {
        while self.applied < upto {
            let r = self.applied;
            while (0..self.n)
                .filter(|&j| j != self.index)
                .any(|j| !self.inbox.contains_key(&(r, j)))
            {
                match self.learned.recv_timeout(Duration::from_millis(100)) {
                    Ok(f) => {
                        self.inbox.insert((f.round, f.from), f.facts);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout)
                        if !self.failed.load(Ordering::Relaxed) => {}
                    Err(_) => return,
                }
            }
            for j in 0..self.n {
                if let Some(facts) = self.inbox.remove(&(r, j)) {
                    let k = self.engine.knowledge_mut();
                    for f in facts.iter() {
                        k.apply(f);
                    }
                }
            }
            self.applied += 1;
        }
    }

    /// Sends the others what was learned in round `round`.
    fn share(&mut self, round: u64) {
        if self.peers.is_empty() {
            return;
        }
        let facts = Arc::new(self.engine.knowledge_mut().take_journal());
        for p in &self.peers {
            let _ = p.send(Facts {
                round,
                from: self.index,
                facts: facts.clone(),
            });
        }
    }

    fn done(&mut self) -> Done {
        Done {
            totals: *self.engine.totals(),
            defrag: *self.engine.defrag_stats(),
            knowledge: std::mem::replace(self.engine.knowledge_mut(), Knowledge::new(1, 0)),
            summary: std::mem::take(&mut self.out.summary),
        }
    }
}

/// A worker on its own thread.
struct Worker {
    core: Core,
    rx: Receiver<Msg>,
    out: Sender<Out>,
    spare: Sender<Vec<Desc>>,
    /// Set when a worker panicked or the run was stopped: nobody waits any more.
    failed: Arc<AtomicBool>,
}

/// Sets `failed` if the worker's thread unwinds, so that the others do not wait for it.
struct PanicFlag(Arc<AtomicBool>);

impl Drop for PanicFlag {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

impl Worker {
    fn run(mut self) -> Done {
        let _flag = PanicFlag(self.failed.clone());
        let mut rounds = 0;
        let mut finish = false;
        while let Ok(msg) = self.rx.recv() {
            let Msg::Batch(b) = msg else {
                finish = true;
                break;
            };
            self.core.catch_up(b.round);
            rounds = b.round + 1;
            let Batch {
                round,
                bufs,
                mut descs,
            } = b;
            for d in &descs {
                if d.tick {
                    self.core.advance(d.ts_ns);
                } else if let Some(data) = bufs
                    .get(d.buf as usize)
                    .and_then(|b| b.get(d.at as usize, d.len as usize))
                {
                    self.core
                        .frame(LinkType::from_number(d.link), d.ts_ns, data, d.orig_len);
                }
            }
            let chunk = self.core.take_chunk();
            // The round's chunks are free for the reader again.
            drop(bufs);
            descs.clear();
            let _ = self.spare.send(descs);
            let _ = self.out.send(Out {
                round,
                worker: self.core.index,
                chunk,
            });
            self.core.share(round);
        }
        if finish {
            let chunk = self.core.finish(rounds);
            let _ = self.out.send(Out {
                round: rounds,
                worker: self.core.index,
                chunk,
            });
        }
        self.core.done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_takes_a_smaller_share_until_reading_fills_it() {
        assert_eq!(reader_share(1), 1.0);
        let two = reader_share(2);
        assert!(two > 0.0 && two < 0.5, "{two}");
        // Busy alike: reading plus its share against each other's share.
        let e = 1.0 - READ_COST;
        assert!((READ_COST + two * e - (1.0 - two) * e).abs() < 1e-9);
        assert!(reader_share(3) < two);
        assert_eq!(reader_share(16), 0.0);
    }
}
