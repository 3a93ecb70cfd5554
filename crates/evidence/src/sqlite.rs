//! The default backend: one SQLite file.
//!
//! WAL journal with `synchronous=NORMAL`: a committed batch is in the WAL before the commit
//! returns, so killing the writer at any moment loses at most the batch it had not committed,
//! and never corrupts the file (a power cut may also lose the last batches, never the file).
//! `secure_delete` overwrites what pruning deletes. The file (and, by SQLite's rule, its WAL
//! and shared-memory files) has mode 0600. The file is marked with an application id and the
//! schema version (`PRAGMA application_id`, `user_version`); a file of a newer schema is
//! refused, an older one is migrated in a transaction.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::Error;
use crate::pseudonym::Pseudonym;
use crate::row::{COLUMNS, Row, StoredTunnel, digest_of, i64_of, pseudonym_of, split};
use crate::store::{Backend, Batch, Coverage, Pruned, SCHEMA_VERSION, StoreStats};

/// "SWML": marks a swarmwall evidence store.
const APPLICATION_ID: i64 = 0x5357_4d4c;

/// Schema migrations: `MIGRATIONS[i]` takes a store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE flows (
    id INTEGER PRIMARY KEY,
    sensor TEXT NOT NULL,
    period INTEGER NOT NULL,
    first_s INTEGER NOT NULL,
    last_s INTEGER NOT NULL,
    proto TEXT NOT NULL,
    kind TEXT NOT NULL,
    kinds TEXT NOT NULL,
    confidence TEXT NOT NULL,
    encrypted INTEGER NOT NULL,
    evidence TEXT NOT NULL,
    infohashes TEXT NOT NULL,
    tunnel TEXT,
    tunnel_command TEXT,
    tunnel_target BLOB,
    tunnel_port INTEGER,
    local BLOB NOT NULL,
    local_port INTEGER NOT NULL,
    remote BLOB NOT NULL,
    remote_port INTEGER NOT NULL,
    local_is_client INTEGER NOT NULL,
    bytes_sent INTEGER NOT NULL,
    bytes_received INTEGER NOT NULL,
    local_software TEXT,
    remote_software TEXT
);
CREATE INDEX flows_local ON flows (local);
CREATE INDEX flows_remote ON flows (remote);
CREATE INDEX flows_period ON flows (period);
CREATE TABLE presence (
    sensor TEXT NOT NULL,
    period INTEGER NOT NULL,
    host BLOB NOT NULL,
    PRIMARY KEY (period, host, sensor)
) WITHOUT ROWID;
CREATE TABLE coverage (
    sensor TEXT NOT NULL,
    run TEXT NOT NULL,
    from_s INTEGER NOT NULL,
    to_s INTEGER NOT NULL
);
CREATE INDEX coverage_to ON coverage (to_s);
",
    "
CREATE TABLE ledger (
    id INTEGER PRIMARY KEY,
    recorded_s INTEGER NOT NULL,
    notice_s INTEGER NOT NULL,
    subscriber BLOB NOT NULL,
    address BLOB NOT NULL,
    case_id TEXT,
    digest BLOB NOT NULL,
    verdict TEXT NOT NULL
);
CREATE INDEX ledger_notice ON ledger (notice_s);
",
    // AUTOINCREMENT: an id is never handed out twice, so a reader's cursor stays right
    // when the newest facts are pruned.
    "
CREATE TABLE facts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sensor TEXT NOT NULL,
    tag BLOB NOT NULL,
    infohash BLOB,
    source TEXT NOT NULL,
    at_ns INTEGER NOT NULL
);
CREATE INDEX facts_at ON facts (at_ns);
",
];

const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// An SQLite evidence store.
#[derive(Debug)]
pub struct Sqlite {
    conn: Connection,
    name: String,
}

impl Sqlite {
    /// Opens (creating, mode 0600) an SQLite store.
    pub fn open(path: &Path) -> Result<Sqlite, Error> {
        Sqlite::open_with(path, true)
    }

    /// Opens an SQLite store that must exist already (queries).
    pub fn open_existing(path: &Path) -> Result<Sqlite, Error> {
        Sqlite::open_with(path, false)
    }

    fn open_with(path: &Path, create: bool) -> Result<Sqlite, Error> {
        let name = path.display().to_string();
        let err = |what: &str, e: &dyn std::fmt::Display| {
            Error::Store(name.clone(), format!("{what}: {e}"))
        };
        if !path.exists() {
            if !create {
                return Err(err("cannot open", &"no such file"));
            }
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| err("cannot create", &e))?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err("cannot open", &e))?;
        let mut s = Sqlite { conn, name };
        if let Err(e) = s.prepare() {
            return Err(s.prepare_error(e));
        }
        Ok(s)
    }

    fn error(&self, e: rusqlite::Error) -> Error {
        let what = match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => "the disk is full".to_string(),
            Some(rusqlite::ErrorCode::NotADatabase) => {
                "not an SQLite database (expected a swarmwall evidence store)".to_string()
            }
            Some(rusqlite::ErrorCode::ReadOnly) => "cannot write (read-only)".to_string(),
            Some(rusqlite::ErrorCode::CannotOpen) => format!("cannot open: {e}"),
            // SQLite reports a write that found no space as an I/O error when the WAL or its
            // index could not grow: say so when the file system is full.
            Some(rusqlite::ErrorCode::SystemIoFailure) if self.no_space() => {
                format!("the disk is full ({e})")
            }
            _ => e.to_string(),
        };
        Error::Store(self.name.clone(), what)
    }

    /// Whether the store's file system has (almost) no space left.
    fn no_space(&self) -> bool {
        let dir = Path::new(&self.name)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        nix::sys::statvfs::statvfs(dir)
            .is_ok_and(|v| v.blocks_available().saturating_mul(v.fragment_size()) < 64 * 1024)
    }

    /// Settings, identity check and migrations.
    fn prepare(&mut self) -> Result<(), PrepareError> {
        let c = &self.conn;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        let app: i64 = c.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let tables: i64 = c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        if app != APPLICATION_ID && !(app == 0 && version == 0 && tables == 0) {
            return Err(PrepareError::Other(
                "an SQLite database that is not a swarmwall evidence store".into(),
            ));
        }
        if version > SCHEMA_VERSION {
            return Err(PrepareError::Other(format!(
                "schema version {version} is newer than this swarmwall knows ({SCHEMA_VERSION}); use a newer swarmwall"
            )));
        }
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "NORMAL")?;
        c.pragma_update(None, "secure_delete", "ON")?;
        c.pragma_update(None, "foreign_keys", "ON")?;
        if version < SCHEMA_VERSION {
            let tx = self.conn.transaction()?;
            for (v, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", v as i64 + 1)?;
            }
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.commit()?;
        }
        Ok(())
    }
}

enum PrepareError {
    Sql(rusqlite::Error),
    Other(String),
}

impl From<rusqlite::Error> for PrepareError {
    fn from(e: rusqlite::Error) -> Self {
        PrepareError::Sql(e)
    }
}

impl Sqlite {
    fn prepare_error(&self, e: PrepareError) -> Error {
        match e {
            PrepareError::Sql(e) => self.error(e),
            PrepareError::Other(s) => Error::Store(self.name.clone(), s),
        }
    }
}

/// A presence entry with the sensor that saw it.
pub type SensorPresence = (String, crate::row::Presence);

/// A spool's reading side (see [`crate::spool`]).
impl Sqlite {
    /// The oldest rows (at most `limit`), and the id of the last.
    pub fn oldest(&mut self, limit: usize) -> Result<(Vec<Row>, i64), Error> {
        let result = (|| -> rusqlite::Result<(Vec<Row>, i64)> {
            let mut st = self.conn.prepare_cached(&format!(
                "SELECT {COLUMNS}, id FROM flows ORDER BY id LIMIT ?1"
            ))?;
            let mut max_id = 0;
            let rows = st
                .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok((read_row(r)?, r.get::<_, i64>(24)?))
                })?
                .map(|x| {
                    x.map(|(row, id)| {
                        max_id = max_id.max(id);
                        row
                    })
                })
                .collect::<rusqlite::Result<Vec<Row>>>()?;
            Ok((rows, max_id))
        })();
        result.map_err(|e| self.error(e))
    }

    /// Every presence entry (with its sensor) and watched time.
    pub fn presence_and_coverage(&mut self) -> Result<(Vec<SensorPresence>, Vec<Coverage>), Error> {
        let result = (|| -> rusqlite::Result<_> {
            let mut st = self
                .conn
                .prepare_cached("SELECT sensor, period, host FROM presence")?;
            let presence = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        crate::row::Presence {
                            period: r.get(1)?,
                            host: pseudonym_of(r.get::<_, Vec<u8>>(2)?),
                        },
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let cov = self.coverage_all()?;
            Ok((presence, cov))
        })();
        result.map_err(|e| self.error(e))
    }

    fn coverage_all(&self) -> rusqlite::Result<Vec<Coverage>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT sensor, run, from_s, to_s FROM coverage")?;
        st.query_map([], |r| {
            Ok(Coverage {
                sensor: r.get(0)?,
                run: r.get(1)?,
                from_s: r.get(2)?,
                to_s: r.get(3)?,
            })
        })?
        .collect()
    }

    /// Removes the rows up to `max_id`, and every presence entry and watched time (sent).
    pub fn forget(&mut self, max_id: i64) -> Result<(), Error> {
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            tx.execute("DELETE FROM flows WHERE id <= ?1", [max_id])?;
            tx.execute("DELETE FROM presence", [])?;
            tx.execute("DELETE FROM coverage", [])?;
            tx.commit()
        })();
        result.map_err(|e| self.error(e))
    }
}

fn join(v: &[String]) -> String {
    v.join(",")
}

/// A facts row: its id and the fact, `None` when a column does not read as one (a value of
/// another type, a newer swarmwall's source): readers move past it.
fn read_fact(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Option<crate::facts::SharedFact>)> {
    let id = r.get::<_, i64>(0)?;
    let text = |i: usize| r.get_ref(i).ok().and_then(|v| v.as_str().ok());
    let blob = |i: usize| r.get_ref(i).ok().and_then(|v| v.as_blob().ok());
    let fact = (|| {
        let infohash = match r.get_ref(3).ok()? {
            rusqlite::types::ValueRef::Null => None,
            v => Some(v.as_blob().ok()?),
        };
        crate::facts::fact_of(
            text(1)?.to_string(),
            blob(2)?,
            infohash,
            text(4)?,
            r.get_ref(5).ok()?.as_i64().ok()?,
        )
    })();
    Ok((id, fact))
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let tunnel = match r.get::<_, Option<String>>(11)? {
        Some(kind) => Some(StoredTunnel {
            kind,
            command: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
            target: pseudonym_of(r.get::<_, Option<Vec<u8>>>(13)?.unwrap_or_default()),
            target_port: r.get::<_, Option<u16>>(14)?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(Row {
        sensor: r.get(0)?,
        period: r.get(1)?,
        first_s: r.get(2)?,
        last_s: r.get(3)?,
        proto: r.get(4)?,
        kind: r.get(5)?,
        kinds: split(r.get(6)?),
        confidence: r.get(7)?,
        encrypted: r.get(8)?,
        evidence: split(r.get(9)?),
        infohashes: split(r.get(10)?),
        tunnel,
        local: pseudonym_of(r.get::<_, Vec<u8>>(15)?),
        local_port: r.get(16)?,
        remote: pseudonym_of(r.get::<_, Vec<u8>>(17)?),
        remote_port: r.get(18)?,
        local_is_client: r.get(19)?,
        bytes_sent: u64::try_from(r.get::<_, i64>(20)?).unwrap_or(0),
        bytes_received: u64::try_from(r.get::<_, i64>(21)?).unwrap_or(0),
        local_software: r.get(22)?,
        remote_software: r.get(23)?,
    })
}

impl Backend for Sqlite {
    fn write(&mut self, batch: &Batch) -> Result<(), Error> {
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            {
                let mut ins = tx.prepare_cached(&format!(
                    "INSERT INTO flows ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
                ))?;
                for r in &batch.rows {
                    let t = r.tunnel.as_ref();
                    ins.execute(params![
                        r.sensor,
                        r.period,
                        r.first_s,
                        r.last_s,
                        r.proto,
                        r.kind,
                        join(&r.kinds),
                        r.confidence,
                        r.encrypted,
                        join(&r.evidence),
                        join(&r.infohashes),
                        t.map(|t| &t.kind),
                        t.map(|t| &t.command),
                        t.map(|t| &t.target[..]),
                        t.map(|t| t.target_port),
                        &r.local[..],
                        r.local_port,
                        &r.remote[..],
                        r.remote_port,
                        r.local_is_client,
                        i64_of(r.bytes_sent),
                        i64_of(r.bytes_received),
                        r.local_software,
                        r.remote_software,
                    ])?;
                }
                let mut pres = tx.prepare_cached(
                    "INSERT OR IGNORE INTO presence (sensor, period, host) VALUES (?1, ?2, ?3)",
                )?;
                for p in &batch.presence {
                    pres.execute(params![batch.sensor, p.period, &p.host[..]])?;
                }
                let mut cov = tx.prepare_cached(
                    "INSERT INTO coverage (sensor, run, from_s, to_s) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for c in &batch.coverage {
                    cov.execute(params![c.sensor, c.run, c.from_s, c.to_s])?;
                }
            }
            tx.commit()
        })();
        result.map_err(|e| self.error(e))
    }

    fn rows(
        &mut self,
        period: i64,
        host: &Pseudonym,
        from_s: i64,
        to_s: i64,
    ) -> Result<Vec<Row>, Error> {
        let result = (|| -> rusqlite::Result<Vec<Row>> {
            let mut st = self.conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM flows WHERE period = ?1 AND (local = ?2 OR remote = ?2)
                 AND last_s >= ?3 AND first_s <= ?4 ORDER BY first_s, id"
            ))?;
            let rows = st.query_map(params![period, &host[..], from_s, to_s], read_row)?;
            rows.collect()
        })();
        result.map_err(|e| self.error(e))
    }

    fn periods(&mut self, first: i64, last: i64) -> Result<Vec<i64>, Error> {
        let result = (|| -> rusqlite::Result<Vec<i64>> {
            let mut st = self.conn.prepare_cached(
                "SELECT DISTINCT period FROM flows WHERE period BETWEEN ?1 AND ?2 ORDER BY period",
            )?;
            let rows = st.query_map(params![first, last], |r| r.get(0))?;
            rows.collect()
        })();
        result.map_err(|e| self.error(e))
    }

    fn present(&mut self, period: i64, host: &Pseudonym) -> Result<Vec<String>, Error> {
        let result = (|| -> rusqlite::Result<Vec<String>> {
            let mut st = self.conn.prepare_cached(
                "SELECT sensor FROM presence WHERE period = ?1 AND host = ?2 ORDER BY sensor",
            )?;
            let rows = st.query_map(params![period, &host[..]], |r| r.get(0))?;
            rows.collect()
        })();
        result.map_err(|e| self.error(e))
    }

    fn coverage(&mut self, from_s: i64, to_s: i64) -> Result<Vec<Coverage>, Error> {
        let result = (|| -> rusqlite::Result<Vec<Coverage>> {
            let mut st = self.conn.prepare_cached(
                "SELECT sensor, run, from_s, to_s FROM coverage WHERE to_s >= ?1 AND from_s <= ?2
                 ORDER BY from_s",
            )?;
            let rows = st.query_map(params![from_s, to_s], |r| {
                Ok(Coverage {
                    sensor: r.get(0)?,
                    run: r.get(1)?,
                    from_s: r.get(2)?,
                    to_s: r.get(3)?,
                })
            })?;
            rows.collect()
        })();
        result.map_err(|e| self.error(e))
    }

    fn stats(&mut self) -> Result<StoreStats, Error> {
        let result = (|| -> rusqlite::Result<StoreStats> {
            let c = &self.conn;
            let (rows, periods, oldest, newest): (i64, i64, Option<i64>, Option<i64>) = c
                .query_row(
                    "SELECT count(*), count(DISTINCT period), min(first_s), max(last_s) FROM flows",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
            let presence: i64 = c.query_row("SELECT count(*) FROM presence", [], |r| r.get(0))?;
            let mut st = c.prepare(
                "SELECT sensor FROM flows UNION SELECT sensor FROM presence UNION SELECT sensor FROM coverage ORDER BY 1",
            )?;
            let sensors = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            let path = c.path().map(std::path::PathBuf::from);
            let bytes = path.map(|p| {
                let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
                let mut wal = p.clone().into_os_string();
                wal.push("-wal");
                size(&p) + size(Path::new(&wal))
            });
            Ok(StoreStats {
                backend: "sqlite",
                schema_version: version,
                rows: u64::try_from(rows).unwrap_or(0),
                periods: u64::try_from(periods).unwrap_or(0),
                presence: u64::try_from(presence).unwrap_or(0),
                sensors,
                oldest,
                newest,
                bytes,
            })
        })();
        result.map_err(|e| self.error(e))
    }

    fn prune(&mut self, first_period: i64, cutoff_s: i64) -> Result<Pruned, Error> {
        let result = (|| -> rusqlite::Result<Pruned> {
            let tx = self.conn.transaction()?;
            let rows = tx.execute("DELETE FROM flows WHERE period < ?1", [first_period])?;
            let presence = tx.execute("DELETE FROM presence WHERE period < ?1", [first_period])?;
            let coverage = tx.execute("DELETE FROM coverage WHERE to_s < ?1", [cutoff_s])?;
            tx.execute("DELETE FROM ledger WHERE notice_s < ?1", [cutoff_s])?;
            tx.commit()?;
            Ok(Pruned {
                rows: rows as u64,
                presence: presence as u64,
                coverage: coverage as u64,
            })
        })();
        let pruned = result.map_err(|e| self.error(e))?;
        if pruned.rows + pruned.presence > 0 {
            // Fold the WAL (which still holds the deleted pages' old content) into the file.
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .optional();
        }
        Ok(pruned)
    }

    fn record_notices(&mut self, entries: &[crate::ledger::Entry]) -> Result<(), Error> {
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO ledger (recorded_s, notice_s, subscriber, address, case_id, digest, verdict)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for e in entries {
                    st.execute(params![
                        e.recorded_s,
                        e.notice_s,
                        &e.subscriber[..],
                        &e.address[..],
                        e.case_id,
                        &e.digest[..],
                        e.verdict
                    ])?;
                }
            }
            tx.commit()
        })();
        result.map_err(|e| self.error(e))
    }

    fn ledger(&mut self) -> Result<Vec<crate::ledger::Entry>, Error> {
        let result = (|| -> rusqlite::Result<Vec<crate::ledger::Entry>> {
            let mut st = self.conn.prepare_cached(
                "SELECT recorded_s, notice_s, subscriber, address, case_id, digest, verdict
                 FROM ledger ORDER BY notice_s, id",
            )?;
            let rows = st.query_map([], |r| {
                let digest = digest_of(r.get::<_, Vec<u8>>(5)?);
                Ok(crate::ledger::Entry {
                    recorded_s: r.get(0)?,
                    notice_s: r.get(1)?,
                    subscriber: pseudonym_of(r.get::<_, Vec<u8>>(2)?),
                    address: pseudonym_of(r.get::<_, Vec<u8>>(3)?),
                    case_id: r.get(4)?,
                    digest,
                    verdict: r.get(6)?,
                })
            })?;
            rows.collect()
        })();
        result.map_err(|e| self.error(e))
    }

    fn put_facts(&mut self, facts: &[crate::facts::SharedFact]) -> Result<(), Error> {
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO facts (sensor, tag, infohash, source, at_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for f in facts {
                    st.execute(params![
                        f.sensor,
                        &f.tag[..],
                        f.infohash.as_ref().map(|h| &h.0[..]),
                        f.source.as_str(),
                        f.at_ns
                    ])?;
                }
            }
            tx.commit()
        })();
        result.map_err(|e| self.error(e))
    }

    fn facts_after(
        &mut self,
        after: i64,
        since_ns: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Option<crate::facts::SharedFact>)>, Error> {
        let result = (|| -> rusqlite::Result<Vec<_>> {
            let mut st = self.conn.prepare_cached(
                "SELECT id, sensor, tag, infohash, source, at_ns FROM facts
                 WHERE id > ?1 AND at_ns >= ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = st.query_map(
                params![after, since_ns, i64::try_from(limit).unwrap_or(i64::MAX)],
                read_fact,
            )?;
            rows.collect()
        })();
        result.map_err(|e| self.error(e))
    }

    fn facts_in(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, Option<crate::facts::SharedFact>)>, Error> {
        // The ids as one JSON array (SQLite's json_each), not one statement per id.
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let result = (|| -> rusqlite::Result<Vec<_>> {
            let mut st = self.conn.prepare_cached(
                "SELECT id, sensor, tag, infohash, source, at_ns FROM facts
                 WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id",
            )?;
            let rows = st.query_map([list], read_fact)?;
            rows.collect()
        })();
        result.map_err(|e| self.error(e))
    }

    fn prune_facts(&mut self, before_ns: i64) -> Result<u64, Error> {
        self.conn
            .execute("DELETE FROM facts WHERE at_ns < ?1", [before_ns])
            .map(|n| n as u64)
            .map_err(|e| self.error(e))
    }

    fn name(&self) -> &str {
        &self.name
    }
}
