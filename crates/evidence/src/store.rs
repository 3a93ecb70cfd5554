//! What every backend does.

use crate::pseudonym::Pseudonym;
use crate::row::{Presence, Row};
use crate::{Error, sqlite};

/// The current schema version of the stores this swarmwall writes.
pub const SCHEMA_VERSION: i64 = 3;

/// Rows and presence written in one transaction.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub sensor: String,
    pub rows: Vec<Row>,
    pub presence: Vec<Presence>,
    /// Times the sensor watched (appended: each interval once).
    pub coverage: Vec<Coverage>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.presence.is_empty() && self.coverage.is_empty()
    }
}

/// A time a sensor was watching: a stretch of a run of `watch`, or one capture of `analyze`.
/// Stores only append them (a sensor may only insert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub sensor: String,
    /// Names the run (sensor, start time, process).
    pub run: String,
    pub from_s: i64,
    pub to_s: i64,
}

/// What `evidence stats` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    pub backend: &'static str,
    pub schema_version: i64,
    pub rows: u64,
    pub periods: u64,
    pub presence: u64,
    pub sensors: Vec<String>,
    /// First and last second of the rows (none for an empty store).
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    /// Bytes the store takes (SQLite: the file and its WAL).
    pub bytes: Option<u64>,
}

/// What pruning deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub rows: u64,
    pub presence: u64,
    pub coverage: u64,
}

/// A store of evidence.
pub trait Backend: Send + std::fmt::Debug {
    /// Writes a batch in one transaction: all of it, or (on error) none of it.
    fn write(&mut self, batch: &Batch) -> Result<(), Error>;
    /// The rows of `period` with `host` at either end that overlap `[from_s, to_s]`.
    fn rows(
        &mut self,
        period: i64,
        host: &Pseudonym,
        from_s: i64,
        to_s: i64,
    ) -> Result<Vec<Row>, Error>;
    /// The periods in `[first, last]` that have rows, in order.
    fn periods(&mut self, first: i64, last: i64) -> Result<Vec<i64>, Error>;
    /// The sensors that saw `host` in `period`.
    fn present(&mut self, period: i64, host: &Pseudonym) -> Result<Vec<String>, Error>;
    /// The watched times that overlap `[from_s, to_s]`.
    fn coverage(&mut self, from_s: i64, to_s: i64) -> Result<Vec<Coverage>, Error>;
    fn stats(&mut self) -> Result<StoreStats, Error>;
    /// Deletes the rows and presence of periods before `first_period`, and the watched times
    /// that ended before `cutoff_s`.
    fn prune(&mut self, first_period: i64, cutoff_s: i64) -> Result<Pruned, Error>;
    /// Names the store in messages (a path, or a URL without its password).
    fn name(&self) -> &str;
    /// Adds checked notices to the repeat-infringer ledger (schema 2).
    fn record_notices(&mut self, entries: &[crate::ledger::Entry]) -> Result<(), Error>;
    /// Every ledger entry.
    fn ledger(&mut self) -> Result<Vec<crate::ledger::Entry>, Error>;
    /// Adds facts learned by a sensor, for the others (schema 3, [`crate::facts`]).
    fn put_facts(&mut self, facts: &[crate::facts::SharedFact]) -> Result<(), Error>;
    /// The facts with an id above `after` learned at or after `since_ns`, by id, at most
    /// `limit`; `None` for a row that does not read as a fact (a newer swarmwall's source,
    /// damage), so that readers move past it.
    fn facts_after(
        &mut self,
        after: i64,
        since_ns: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Option<crate::facts::SharedFact>)>, Error>;
    /// The facts with these ids (those that exist), as [`Backend::facts_after`] gives them.
    fn facts_in(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, Option<crate::facts::SharedFact>)>, Error>;
    /// Deletes the facts learned before `before_ns`.
    fn prune_facts(&mut self, before_ns: i64) -> Result<u64, Error>;
    /// A spooling store's counters, and its messages since the last call.
    fn spool(&mut self) -> Option<(crate::spool::SpoolCounters, Vec<String>)> {
        None
    }
}

/// Whether a store is named by a PostgreSQL URL.
pub fn is_postgres(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

/// Opens a store: a `postgres://` or `postgresql://` URL (migrated already), otherwise an
/// SQLite file (created, mode 0600, when it does not exist).
pub fn open(spec: &str) -> Result<Box<dyn Backend>, Error> {
    if is_postgres(spec) {
        return Ok(Box::new(crate::postgres::Postgres::connect(spec)?));
    }
    Ok(Box::new(sqlite::Sqlite::open(std::path::Path::new(spec))?))
}

/// Opens a store for sharing facts: as [`open`], but a PostgreSQL statement may take at
/// most `statement_timeout` (a server that hangs stops the sharing, not the sensor).
pub fn open_for_sharing(
    spec: &str,
    statement_timeout: std::time::Duration,
) -> Result<Box<dyn Backend>, Error> {
    if is_postgres(spec) {
        return Ok(Box::new(crate::postgres::Postgres::connect_with(
            spec,
            Some(statement_timeout),
        )?));
    }
    open(spec)
}

/// Opens a sensor's store: as [`open`], but a PostgreSQL store spools to `spool` (at most
/// `max_rows` rows) while the server is out of reach.
pub fn open_sensor(
    spec: &str,
    spool: &std::path::Path,
    max_rows: u64,
) -> Result<Box<dyn Backend>, Error> {
    if is_postgres(spec) {
        return Ok(Box::new(crate::spool::Spooled::open(
            spec, spool, max_rows,
        )?));
    }
    open(spec)
}

/// Opens a store that must exist already (queries, stats, pruning).
pub fn open_existing(spec: &str) -> Result<Box<dyn Backend>, Error> {
    if is_postgres(spec) {
        return open(spec);
    }
    Ok(Box::new(sqlite::Sqlite::open_existing(
        std::path::Path::new(spec),
    )?))
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://sensor:s3cret@db.example/evidence"),
            "postgres://sensor:***@db.example/evidence"
        );
        assert_eq!(super::redact("postgres://db/x"), "postgres://db/x");
        assert_eq!(super::redact("/var/lib/x.db"), "/var/lib/x.db");
    }
}
