//! A sensor's PostgreSQL store, with a local spool for when the server is out of reach.
//!
//! Batches go to the server while it answers. When a write fails (the server stopped, the
//! network broke, the connection was lost), the batch goes into a local SQLite file instead
//! (bounded: beyond `max_rows` rows, batches are dropped and counted), and the server is tried
//! again every few seconds. Once it answers, the spool is sent, oldest rows first, in chunks,
//! each removed from the spool once the server committed it — so a crash between the two
//! steps can send a chunk twice, never lose it. The capture never waits for the server
//! beyond one connection attempt.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::Error;
use crate::postgres::Postgres;
use crate::pseudonym::Pseudonym;
use crate::row::Row;
use crate::sqlite::Sqlite;
use crate::store::{Backend, Batch, Coverage, Pruned, StoreStats};

/// What the spool did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpoolCounters {
    /// Rows written to the spool while the server was out of reach.
    pub spooled: u64,
    /// Spooled rows sent to the server since.
    pub sent: u64,
    /// Rows dropped because the spool was full.
    pub dropped: u64,
    /// Times the server was lost.
    pub outages: u64,
    /// Rows in the spool now.
    pub waiting: u64,
}

/// Time between two attempts to reach the server.
const RETRY: Duration = Duration::from_secs(3);
/// Spooled rows sent per transaction.
const CHUNK: usize = 1000;

/// A PostgreSQL store with a local spool.
#[derive(Debug)]
pub struct Spooled {
    url: String,
    name: String,
    remote: Option<Postgres>,
    spool: Sqlite,
    max_rows: u64,
    next_attempt: Instant,
    counters: SpoolCounters,
    /// Lines for the operator (outage, recovery), taken by the caller.
    messages: Vec<String>,
}

impl Spooled {
    /// Connects to the server (which must answer now, with the current schema) and opens the
    /// spool file (created, 0600).
    pub fn open(url: &str, spool: &Path, max_rows: u64) -> Result<Spooled, Error> {
        let remote = Postgres::connect(url)?;
        let mut spool = Sqlite::open(spool)?;
        let waiting = spool.stats()?.rows;
        Ok(Spooled {
            url: url.to_string(),
            name: remote.name().to_string(),
            remote: Some(remote),
            spool,
            max_rows,
            next_attempt: Instant::now(),
            counters: SpoolCounters {
                waiting,
                ..SpoolCounters::default()
            },
            messages: Vec::new(),
        })
    }

    pub fn counters(&self) -> SpoolCounters {
        self.counters
    }

    /// The server, reconnecting when it is time to try again.
    fn remote(&mut self) -> Option<&mut Postgres> {
        if self.remote.is_none() && Instant::now() >= self.next_attempt {
            self.next_attempt = Instant::now() + RETRY;
            match Postgres::connect(&self.url) {
                Ok(p) => {
                    self.messages.push(format!(
                        "{}: reachable again; sending the {} spooled rows",
                        self.name, self.counters.waiting
                    ));
                    self.remote = Some(p);
                }
                Err(_) => return None,
            }
        }
        self.remote.as_mut()
    }

    fn lost(&mut self, e: &Error) {
        self.remote = None;
        self.next_attempt = Instant::now() + RETRY;
        self.counters.outages += 1;
        self.messages.push(format!(
            "{e}; spooling to {} until the server answers",
            self.spool.name()
        ));
    }

    /// Sends what the spool holds, oldest first. Stops at the first failure.
    fn drain(&mut self) -> Result<(), Error> {
        loop {
            let (rows, max_id) = self.spool.oldest(CHUNK)?;
            let (presence, coverage) = self.spool.presence_and_coverage()?;
            if rows.is_empty() && presence.is_empty() && coverage.is_empty() {
                self.counters.waiting = 0;
                return Ok(());
            }
            let n = rows.len() as u64;
            let sensor = rows
                .first()
                .map(|r| r.sensor.clone())
                .or_else(|| presence.first().map(|p| p.0.clone()))
                .unwrap_or_default();
            let batch = Batch {
                sensor,
                rows,
                presence: presence.iter().map(|p| p.1).collect(),
                coverage,
            };
            let Some(remote) = self.remote.as_mut() else {
                return Ok(());
            };
            remote.write(&batch)?;
            self.spool.forget(max_id)?;
            self.counters.sent += n;
            self.counters.waiting = self.counters.waiting.saturating_sub(n);
        }
    }

    /// Lines for the operator since the last call.
    pub fn take_messages(&mut self) -> Vec<String> {
        std::mem::take(&mut self.messages)
    }
}

impl Backend for Spooled {
    fn write(&mut self, batch: &Batch) -> Result<(), Error> {
        if self.remote().is_some() {
            let sent = match self.drain() {
                Ok(()) => self.remote.as_mut().map_or(Ok(()), |r| r.write(batch)),
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => return Ok(()),
                Err(e) => self.lost(&e),
            }
        }
        let rows = batch.rows.len() as u64;
        if self.counters.waiting + rows > self.max_rows {
            self.counters.dropped += rows;
            return Ok(());
        }
        self.spool.write(batch)?;
        self.counters.spooled += rows;
        self.counters.waiting += rows;
        Ok(())
    }

    fn rows(
        &mut self,
        period: i64,
        host: &Pseudonym,
        from_s: i64,
        to_s: i64,
    ) -> Result<Vec<Row>, Error> {
        self.server()?.rows(period, host, from_s, to_s)
    }

    fn periods(&mut self, first: i64, last: i64) -> Result<Vec<i64>, Error> {
        self.server()?.periods(first, last)
    }

    fn present(&mut self, period: i64, host: &Pseudonym) -> Result<Vec<String>, Error> {
        self.server()?.present(period, host)
    }

    fn coverage(&mut self, from_s: i64, to_s: i64) -> Result<Vec<Coverage>, Error> {
        self.server()?.coverage(from_s, to_s)
    }

    fn stats(&mut self) -> Result<StoreStats, Error> {
        self.server()?.stats()
    }

    /// Prunes the spool always, and the server when the sensor's role may (a sensor that may
    /// only insert leaves the server's pruning to its owner: `swarmwall evidence prune`).
    fn prune(&mut self, first_period: i64, cutoff_s: i64) -> Result<Pruned, Error> {
        let local = self.spool.prune(first_period, cutoff_s)?;
        self.counters.waiting = self.counters.waiting.saturating_sub(local.rows);
        match self.remote().map(|r| r.prune(first_period, cutoff_s)) {
            Some(Ok(p)) => Ok(p),
            Some(Err(e)) if crate::postgres::is_permission_denied(&e) => Ok(local),
            Some(Err(e)) => {
                self.lost(&e);
                Ok(local)
            }
            None => Ok(local),
        }
    }

    fn record_notices(&mut self, entries: &[crate::ledger::Entry]) -> Result<(), Error> {
        self.server()?.record_notices(entries)
    }

    fn ledger(&mut self) -> Result<Vec<crate::ledger::Entry>, Error> {
        self.server()?.ledger()
    }

    fn put_facts(&mut self, facts: &[crate::facts::SharedFact]) -> Result<(), Error> {
        self.server()?.put_facts(facts)
    }

    fn facts_after(
        &mut self,
        after: i64,
        since_ns: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Option<crate::facts::SharedFact>)>, Error> {
        self.server()?.facts_after(after, since_ns, limit)
    }

    fn facts_in(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, Option<crate::facts::SharedFact>)>, Error> {
        self.server()?.facts_in(ids)
    }

    fn prune_facts(&mut self, before_ns: i64) -> Result<u64, Error> {
        self.server()?.prune_facts(before_ns)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn spool(&mut self) -> Option<(SpoolCounters, Vec<String>)> {
        Some((self.counters, self.take_messages()))
    }
}

impl Spooled {
    fn server(&mut self) -> Result<&mut Postgres, Error> {
        let name = self.name.clone();
        self.remote()
            .ok_or_else(|| Error::Store(name, "the server does not answer".into()))
    }
}
