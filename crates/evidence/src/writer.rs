//! Batches flow records into a store, keeps the watched time, prunes past retention.

use engine::FlowRecord;

use crate::Error;
use crate::row::Recorder;
use crate::store::{Backend, Batch, Coverage, Pruned};

/// Rows (and presence entries) per transaction at most.
pub const DEFAULT_BATCH: usize = 1024;

/// What a writer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Rows of BitTorrent flows committed.
    pub rows: u64,
    /// Presence entries committed (new local addresses per period).
    pub presence: u64,
    pub batches: u64,
    /// Records of flows that started in a period already past retention (not stored).
    pub too_old: u64,
    /// Rows in batches that could not be written.
    pub failed_rows: u64,
    /// Rows and presence entries deleted by pruning, keys destroyed.
    pub pruned_rows: u64,
    pub pruned_presence: u64,
    pub keys_destroyed: u64,
    /// A PostgreSQL store's spool (rows spooled, sent, dropped).
    pub spool: Option<crate::spool::SpoolCounters>,
}

/// Writes the evidence of one sensor's run.
pub struct Writer {
    recorder: Recorder,
    store: Box<dyn Backend>,
    retention_s: i64,
    pending: Batch,
    max_batch: usize,
    run: String,
    messages: Vec<String>,
    pub counters: Counters,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("store", &self.store.name())
            .field("recorder", &self.recorder)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// `run` names this run in the watched-time table (e.g. its start time and process id).
    pub fn new(
        store: Box<dyn Backend>,
        recorder: Recorder,
        retention_s: i64,
        run: String,
    ) -> Writer {
        Writer {
            pending: Batch {
                sensor: recorder.sensor.clone(),
                ..Batch::default()
            },
            recorder,
            store,
            retention_s,
            max_batch: DEFAULT_BATCH,
            run,
            messages: Vec::new(),
            counters: Counters::default(),
        }
    }

    pub fn set_batch(&mut self, rows: usize) {
        self.max_batch = rows.max(1);
    }

    pub fn store_name(&self) -> &str {
        self.store.name()
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Takes one finished flow; commits when the batch is full.
    pub fn record(&mut self, r: &FlowRecord) -> Result<(), Error> {
        let rec = self.recorder.record(r);
        if rec.too_old {
            self.counters.too_old += 1;
            return Ok(());
        }
        self.pending.presence.extend(rec.presence);
        if let Some(row) = rec.row {
            self.pending.rows.push(row);
        }
        if self.pending.rows.len() + self.pending.presence.len() >= self.max_batch {
            self.commit()?;
        }
        Ok(())
    }

    /// Records that this run watched from `from_s` to `to_s` (seconds since the epoch), with
    /// the next commit.
    pub fn watched(&mut self, from_s: i64, to_s: i64) {
        self.pending.coverage.push(Coverage {
            sensor: self.recorder.sensor.clone(),
            run: self.run.clone(),
            from_s,
            to_s: to_s.max(from_s),
        });
    }

    /// Lines for the operator (a PostgreSQL server lost, found again) since the last call.
    pub fn take_messages(&mut self) -> Vec<String> {
        std::mem::take(&mut self.messages)
    }

    /// Rows and presence entries waiting for the next commit.
    pub fn pending(&self) -> usize {
        self.pending.rows.len() + self.pending.presence.len()
    }

    /// Writes what is pending in one transaction. On error the batch is dropped (counted) and
    /// what was committed before stays.
    pub fn commit(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = self.store.write(&self.pending);
        if let Some((c, m)) = self.store.spool() {
            self.counters.spool = Some(c);
            self.messages.extend(m);
        }
        let rows = self.pending.rows.len() as u64;
        let presence = self.pending.presence.len() as u64;
        self.pending.rows.clear();
        self.pending.presence.clear();
        self.pending.coverage.clear();
        match result {
            Ok(()) => {
                self.counters.rows += rows;
                self.counters.presence += presence;
                self.counters.batches += 1;
                Ok(())
            }
            Err(e) => {
                self.counters.failed_rows += rows;
                Err(e)
            }
        }
    }

    /// Applies retention at `now_s`: destroys the keys of the periods that left the window
    /// (first: a crash between the two steps leaves rows no one can link), then deletes
    /// their rows and presence. Records of those periods are no longer stored.
    pub fn prune(&mut self, now_s: i64) -> Result<Pruned, Error> {
        let (first_period, destroyed) =
            prune_keys(&mut self.recorder.keys, now_s, self.retention_s)?;
        self.counters.keys_destroyed += destroyed;
        let pruned = self
            .store
            .prune(first_period, now_s.saturating_sub(self.retention_s))?;
        self.counters.pruned_rows += pruned.rows;
        self.counters.pruned_presence += pruned.presence;
        self.recorder.forget_before(first_period);
        Ok(pruned)
    }
}

/// The first period still within retention at `now_s`: the periods wholly before
/// `now_s - retention_s` are past it.
pub fn first_retained(keys: &crate::KeyRing, now_s: i64, retention_s: i64) -> i64 {
    keys.period_of(now_s.saturating_sub(retention_s))
}

/// Destroys the keys of the periods past retention. Returns the first period kept and how
/// many periods' keys were destroyed.
pub fn prune_keys(
    keys: &mut crate::KeyRing,
    now_s: i64,
    retention_s: i64,
) -> Result<(i64, u64), Error> {
    let first_period = first_retained(keys, now_s, retention_s).max(keys.first_period());
    let destroyed = keys.destroy_before(first_period)?;
    Ok((first_period, destroyed))
}
