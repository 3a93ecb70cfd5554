//! `--share-endpoints`: sensors as one. A thread publishes, once a second, the endpoints this
//! process's engines learned to the evidence store's facts table, and hands the engines what
//! the other sensors published there (see `swarmwall_evidence::facts`).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use engine::{Exchange, Fact};
use evidence::facts::{ShareCounters, Sharer};
use swarmwall_io::metrics;

/// How often facts are published and read.
pub const ROUND: Duration = Duration::from_secs(1);

/// Endpoint facts published per round at most (beyond, counted as lost: a flood of tracker
/// replies or DHT values must not grow the sensor's memory while the store is slow).
const MAX_BATCH: usize = 1 << 16;

/// The sharing thread, running.
#[derive(Debug)]
pub struct Sharing {
    counters: Arc<Mutex<ShareCounters>>,
    handle: Option<JoinHandle<()>>,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Starts sharing through `spec` as the writer's sensor, with its keys. The thread stops
/// when every sender of the exchange's `learned` channel is gone (the workers stopped).
pub fn start(spec: &str, writer: &evidence::Writer, now_s: i64) -> Result<(Sharing, Exchange)> {
    let rec = writer.recorder();
    let sharer = Sharer::open(spec, &rec.keys, &rec.sensor, now_s).context("--share-endpoints")?;
    let tagger = sharer.tagger();
    let (learned_tx, learned_rx) = mpsc::channel::<Arc<Vec<Fact>>>();
    let (remote_tx, remote_rx) = mpsc::channel::<Vec<Fact>>();
    let counters = Arc::new(Mutex::new(ShareCounters::default()));
    let shared = counters.clone();
    let handle = std::thread::Builder::new()
        .name("swarmwall-share".into())
        .spawn(move || {
            let mut sharer = sharer;
            let mut batch: Vec<Fact> = Vec::new();
            // Facts beyond a round's batch (counted as lost).
            let mut overflow = 0u64;
            let mut open = true;
            while open {
                let until = Instant::now() + ROUND;
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    match learned_rx.recv_timeout(left) {
                        Ok(facts) => {
                            let endpoints =
                                facts.iter().filter(|f| matches!(f, Fact::Endpoint { .. }));
                            for f in endpoints {
                                if batch.len() < MAX_BATCH {
                                    batch.push(*f);
                                } else {
                                    overflow += 1;
                                }
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                }
                let got = sharer.exchange(&batch, now_ns());
                batch.clear();
                if !got.is_empty() {
                    let _ = remote_tx.send(got);
                }
                for m in sharer.take_messages() {
                    eprintln!("swarmwall: {m}");
                }
                if let Ok(mut c) = shared.lock() {
                    *c = sharer.counters;
                    c.lost += overflow;
                }
            }
        })
        .context("cannot start the sharing thread")?;
    Ok((
        Sharing {
            counters,
            handle: Some(handle),
        },
        Exchange {
            learned: learned_tx,
            remote: remote_rx,
            tagger,
        },
    ))
}

impl Sharing {
    pub fn counters(&self) -> ShareCounters {
        self.counters.lock().map(|c| *c).unwrap_or_default()
    }

    /// Waits for the last round (the workers have stopped).
    pub fn finish(mut self) -> ShareCounters {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.counters()
    }
}

/// One line for the summary.
pub fn summary_line(c: &ShareCounters) -> String {
    format!(
        "shared endpoints: {} published, {} received from other sensors (at most {} ms after they were learned), {} lost (store out of reach or no key)",
        c.published, c.received, c.delay_ms_max, c.lost
    )
}

/// The sharing counters on a metrics page.
pub fn metrics(p: &mut metrics::Page, c: &ShareCounters) {
    p.counter(
        "swarmwall_shared_facts_published_total",
        "Endpoint facts this sensor published to the other sensors.",
        &[],
        c.published,
    );
    p.counter(
        "swarmwall_shared_facts_received_total",
        "Endpoint facts of other sensors given to the engines.",
        &[],
        c.received,
    );
    p.counter(
        "swarmwall_shared_facts_lost_total",
        "Endpoint facts not published (store out of reach, or no key for their time).",
        &[],
        c.lost,
    );
    p.gauge(
        "swarmwall_shared_facts_delay_seconds_max",
        "The largest delay of a fact from another sensor (learned there, read here).",
        &[],
        c.delay_ms_max as f64 / 1000.0,
    );
}
