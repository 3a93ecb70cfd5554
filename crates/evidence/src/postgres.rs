//! PostgreSQL: one store for many sensors.
//!
//! Versioned migrations (table `swarmwall_schema`, one row per version applied), run by
//! `swarmwall evidence migrate` as the database's owner; sensors and readers then need no
//! right to change the schema. Roles (docs/evidence.md): a sensor may only insert (rows,
//! presence, watched times) and read the schema version; a reader may only select; the owner
//! prunes. Every statement a sensor runs on the evidence is an INSERT: nothing it sends can
//! change or remove what another sensor stored. The shared facts ([`crate::facts`]: hints
//! between sensors, no evidence) are the exception: a sensor reads them and deletes those
//! past their hour.

use std::str::FromStr;
use std::time::Duration;

use postgres::{Client, NoTls};

use crate::Error;
use crate::pseudonym::Pseudonym;
use crate::row::{COLUMNS, Row, StoredTunnel, digest_of, i64_of, pseudonym_of, split};
use crate::store::{Backend, Batch, Coverage, Pruned, SCHEMA_VERSION, StoreStats, redact};

/// `MIGRATIONS[i]` takes a store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE flows (
    id BIGSERIAL PRIMARY KEY,
    sensor TEXT NOT NULL,
    period BIGINT NOT NULL,
    first_s BIGINT NOT NULL,
    last_s BIGINT NOT NULL,
    proto TEXT NOT NULL,
    kind TEXT NOT NULL,
    kinds TEXT NOT NULL,
    confidence TEXT NOT NULL,
    encrypted BOOLEAN NOT NULL,
    evidence TEXT NOT NULL,
    infohashes TEXT NOT NULL,
    tunnel TEXT,
    tunnel_command TEXT,
    tunnel_target BYTEA,
    tunnel_port INTEGER,
    local BYTEA NOT NULL,
    local_port INTEGER NOT NULL,
    remote BYTEA NOT NULL,
    remote_port INTEGER NOT NULL,
    local_is_client BOOLEAN NOT NULL,
    bytes_sent BIGINT NOT NULL,
    bytes_received BIGINT NOT NULL,
    local_software TEXT,
    remote_software TEXT
);
CREATE INDEX flows_local ON flows (local);
CREATE INDEX flows_remote ON flows (remote);
CREATE INDEX flows_period ON flows (period);
CREATE TABLE presence (
    sensor TEXT NOT NULL,
    period BIGINT NOT NULL,
    host BYTEA NOT NULL,
    PRIMARY KEY (period, host, sensor)
);
CREATE TABLE coverage (
    sensor TEXT NOT NULL,
    run TEXT NOT NULL,
    from_s BIGINT NOT NULL,
    to_s BIGINT NOT NULL
);
CREATE INDEX coverage_to ON coverage (to_s);
",
    "
CREATE TABLE ledger (
    id BIGSERIAL PRIMARY KEY,
    recorded_s BIGINT NOT NULL,
    notice_s BIGINT NOT NULL,
    subscriber BYTEA NOT NULL,
    address BYTEA NOT NULL,
    case_id TEXT,
    digest BYTEA NOT NULL,
    verdict TEXT NOT NULL
);
CREATE INDEX ledger_notice ON ledger (notice_s);
",
    "
CREATE TABLE facts (
    id BIGSERIAL PRIMARY KEY,
    sensor TEXT NOT NULL,
    tag BYTEA NOT NULL,
    infohash BYTEA,
    source TEXT NOT NULL,
    at_ns BIGINT NOT NULL
);
CREATE INDEX facts_at ON facts (at_ns);
",
];

const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// A PostgreSQL evidence store.
pub struct Postgres {
    client: Client,
    name: String,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("name", &self.name)
            .finish()
    }
}

/// Seconds a connection attempt may take (unless the URL sets `connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Postgres {
    /// Connects and checks the schema version (the store must have been migrated).
    pub fn connect(url: &str) -> Result<Postgres, Error> {
        Postgres::connect_with(url, None)
    }

    /// As [`Postgres::connect`], with a limit on every statement's time (unless the URL sets
    /// the server's `options`).
    pub fn connect_with(url: &str, statement_timeout: Option<Duration>) -> Result<Postgres, Error> {
        let mut p = Postgres::connect_only(url, statement_timeout)?;
        let v = p.version()?;
        if v > SCHEMA_VERSION {
            return Err(p.err(format!(
                "schema version {v} is newer than this swarmwall knows ({SCHEMA_VERSION}); use a newer swarmwall"
            )));
        }
        if v < SCHEMA_VERSION {
            return Err(p.err(format!(
                "schema version {v}, this swarmwall needs {SCHEMA_VERSION}: run `swarmwall evidence migrate --evidence URL` as the database's owner"
            )));
        }
        Ok(p)
    }

    fn connect_only(url: &str, statement_timeout: Option<Duration>) -> Result<Postgres, Error> {
        let name = redact(url);
        let mut cfg = postgres::Config::from_str(url)
            .map_err(|e| Error::Store(name.clone(), format!("not a PostgreSQL URL: {e}")))?;
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server gone without a word (a cut link) is noticed within about a minute.
        cfg.keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3);
        if let Some(t) = statement_timeout
            && cfg.get_options().is_none()
        {
            cfg.options(&format!("-c statement_timeout={}", t.as_millis()));
        }
        if cfg.get_application_name().is_none() {
            cfg.application_name("swarmwall");
        }
        let client = cfg
            .connect(NoTls)
            .map_err(|e| Error::Store(name.clone(), format!("cannot connect: {}", one_line(&e))))?;
        Ok(Postgres { client, name })
    }

    fn err(&self, what: String) -> Error {
        Error::Store(self.name.clone(), what)
    }

    fn sql(&self, e: postgres::Error) -> Error {
        self.err(one_line(&e))
    }

    /// Whether the connection is gone (the server stopped, the network failed).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The schema version (0: not migrated yet).
    fn version(&mut self) -> Result<i64, Error> {
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass('swarmwall_schema') IS NOT NULL", &[])
            .map_err(|e| self.sql(e))?
            .get(0);
        if !exists {
            return Ok(0);
        }
        let v: Option<i32> = self
            .client
            .query_one("SELECT max(version) FROM swarmwall_schema", &[])
            .map_err(|e| self.sql(e))?
            .get(0);
        Ok(i64::from(v.unwrap_or(0)))
    }

    /// Brings the schema to this swarmwall's version (as the owner: creates tables), and
    /// grants the sensor and reader roles their rights. Returns the versions applied.
    pub fn migrate(
        url: &str,
        sensor_role: Option<&str>,
        reader_role: Option<&str>,
    ) -> Result<Vec<i64>, Error> {
        let mut p = Postgres::connect_only(url, None)?;
        let mut tx = p
            .client
            .transaction()
            .map_err(|e| Error::Store(redact(url), one_line(&e)))?;
        let name = redact(url);
        let e = |e: postgres::Error| Error::Store(name.clone(), one_line(&e));
        // One migration at a time, whoever else tries.
        tx.execute("SELECT pg_advisory_xact_lock(1398229324)", &[])
            .map_err(e)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS swarmwall_schema (
                 version INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .map_err(e)?;
        let v: Option<i32> = tx
            .query_one("SELECT max(version) FROM swarmwall_schema", &[])
            .map_err(e)?
            .get(0);
        let v = i64::from(v.unwrap_or(0));
        if v > SCHEMA_VERSION {
            return Err(Error::Store(
                name.clone(),
                format!("schema version {v} is newer than this swarmwall knows ({SCHEMA_VERSION})"),
            ));
        }
        let mut applied = Vec::new();
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(v as usize) {
            tx.batch_execute(sql).map_err(e)?;
            let next = i as i32 + 1;
            tx.execute(
                "INSERT INTO swarmwall_schema (version) VALUES ($1)",
                &[&next],
            )
            .map_err(e)?;
            applied.push(i64::from(next));
        }
        let ident = |r: &str| format!("\"{}\"", r.replace('"', "\"\""));
        if let Some(r) = sensor_role {
            tx.batch_execute(&format!(
                "GRANT USAGE ON SCHEMA public TO {r};
                 GRANT SELECT ON swarmwall_schema TO {r};
                 GRANT INSERT ON flows, presence, coverage TO {r};
                 GRANT USAGE ON SEQUENCE flows_id_seq TO {r};
                 GRANT INSERT (sensor, tag, infohash, source, at_ns), SELECT, DELETE ON facts TO {r};
                 GRANT USAGE ON SEQUENCE facts_id_seq TO {r};",
                r = ident(r)
            ))
            .map_err(e)?;
        }
        if let Some(r) = reader_role {
            tx.batch_execute(&format!(
                "GRANT USAGE ON SCHEMA public TO {r};
                 GRANT SELECT ON swarmwall_schema, flows, presence, coverage, ledger TO {r};
                 GRANT INSERT ON ledger TO {r};
                 GRANT USAGE ON SEQUENCE ledger_id_seq TO {r};",
                r = ident(r)
            ))
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(applied)
    }
}

/// A PostgreSQL error on one line: the server's message and code, or the client's error.
fn one_line(e: &postgres::Error) -> String {
    let s = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(c) = src {
                s.push_str(": ");
                s.push_str(&c.to_string());
                src = c.source();
            }
            s
        }
    };
    s.replace('\n', " ")
}

/// A facts row: its id and the fact, `None` when a column does not read as one (never a
/// panic, whatever the table holds); no row at all without an id.
fn read_fact(r: &postgres::Row) -> Option<(i64, Option<crate::facts::SharedFact>)> {
    let id = r.try_get::<_, i64>(0).ok()?;
    let fact = (|| {
        crate::facts::fact_of(
            r.try_get(1).ok()?,
            r.try_get::<_, &[u8]>(2).ok()?,
            r.try_get::<_, Option<&[u8]>>(3).ok()?,
            r.try_get::<_, &str>(4).ok()?,
            r.try_get(5).ok()?,
        )
    })();
    Some((id, fact))
}

fn read_row(r: &postgres::Row) -> Row {
    let tunnel = r.get::<_, Option<String>>(11).map(|kind| StoredTunnel {
        kind,
        command: r.get::<_, Option<String>>(12).unwrap_or_default(),
        target: pseudonym_of(r.get::<_, Option<Vec<u8>>>(13).unwrap_or_default()),
        target_port: r
            .get::<_, Option<i32>>(14)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0),
    });
    let port = |i: usize| u16::try_from(r.get::<_, i32>(i)).unwrap_or(0);
    Row {
        sensor: r.get(0),
        period: r.get(1),
        first_s: r.get(2),
        last_s: r.get(3),
        proto: r.get(4),
        kind: r.get(5),
        kinds: split(r.get(6)),
        confidence: r.get(7),
        encrypted: r.get(8),
        evidence: split(r.get(9)),
        infohashes: split(r.get(10)),
        tunnel,
        local: pseudonym_of(r.get::<_, Vec<u8>>(15)),
        local_port: port(16),
        remote: pseudonym_of(r.get::<_, Vec<u8>>(17)),
        remote_port: port(18),
        local_is_client: r.get(19),
        bytes_sent: u64::try_from(r.get::<_, i64>(20)).unwrap_or(0),
        bytes_received: u64::try_from(r.get::<_, i64>(21)).unwrap_or(0),
        local_software: r.get(22),
        remote_software: r.get(23),
    }
}

impl Backend for Postgres {
    fn write(&mut self, batch: &Batch) -> Result<(), Error> {
        let result = (|| -> Result<(), postgres::Error> {
            let mut tx = self.client.transaction()?;
            let ins = tx.prepare(&format!(
                "INSERT INTO flows ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
            ))?;
            for r in &batch.rows {
                let t = r.tunnel.as_ref();
                let (kinds, evidence, hashes) = (
                    r.kinds.join(","),
                    r.evidence.join(","),
                    r.infohashes.join(","),
                );
                let tunnel_target = t.map(|t| t.target.to_vec());
                let tunnel_port = t.map(|t| i32::from(t.target_port));
                tx.execute(
                    &ins,
                    &[
                        &r.sensor,
                        &r.period,
                        &r.first_s,
                        &r.last_s,
                        &r.proto,
                        &r.kind,
                        &kinds,
                        &r.confidence,
                        &r.encrypted,
                        &evidence,
                        &hashes,
                        &t.map(|t| t.kind.as_str()),
                        &t.map(|t| t.command.as_str()),
                        &tunnel_target,
                        &tunnel_port,
                        &&r.local[..],
                        &i32::from(r.local_port),
                        &&r.remote[..],
                        &i32::from(r.remote_port),
                        &r.local_is_client,
                        &i64_of(r.bytes_sent),
                        &i64_of(r.bytes_received),
                        &r.local_software,
                        &r.remote_software,
                    ],
                )?;
            }
            // Presence: an INSERT that skips what is there (no UPDATE, no SELECT needed).
            let pres = tx.prepare(
                "INSERT INTO presence (sensor, period, host) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )?;
            for p in &batch.presence {
                tx.execute(&pres, &[&batch.sensor, &p.period, &&p.host[..]])?;
            }
            for c in &batch.coverage {
                tx.execute(
                    "INSERT INTO coverage (sensor, run, from_s, to_s) VALUES ($1, $2, $3, $4)",
                    &[&c.sensor, &c.run, &c.from_s, &c.to_s],
                )?;
            }
            tx.commit()
        })();
        result.map_err(|e| self.sql(e))
    }

    fn rows(
        &mut self,
        period: i64,
        host: &Pseudonym,
        from_s: i64,
        to_s: i64,
    ) -> Result<Vec<Row>, Error> {
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM flows WHERE period = $1 AND (local = $2 OR remote = $2)
                     AND last_s >= $3 AND first_s <= $4 ORDER BY first_s, id"
                ),
                &[&period, &&host[..], &from_s, &to_s],
            )
            .map_err(|e| self.sql(e))?;
        Ok(rows.iter().map(read_row).collect())
    }

    fn periods(&mut self, first: i64, last: i64) -> Result<Vec<i64>, Error> {
        let rows = self
            .client
            .query(
                "SELECT DISTINCT period FROM flows WHERE period BETWEEN $1 AND $2 ORDER BY period",
                &[&first, &last],
            )
            .map_err(|e| self.sql(e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn present(&mut self, period: i64, host: &Pseudonym) -> Result<Vec<String>, Error> {
        let rows = self
            .client
            .query(
                "SELECT sensor FROM presence WHERE period = $1 AND host = $2 ORDER BY sensor",
                &[&period, &&host[..]],
            )
            .map_err(|e| self.sql(e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn coverage(&mut self, from_s: i64, to_s: i64) -> Result<Vec<Coverage>, Error> {
        let rows = self
            .client
            .query(
                "SELECT sensor, run, from_s, to_s FROM coverage WHERE to_s >= $1 AND from_s <= $2
                 ORDER BY from_s",
                &[&from_s, &to_s],
            )
            .map_err(|e| self.sql(e))?;
        Ok(rows
            .iter()
            .map(|r| Coverage {
                sensor: r.get(0),
                run: r.get(1),
                from_s: r.get(2),
                to_s: r.get(3),
            })
            .collect())
    }

    fn stats(&mut self) -> Result<StoreStats, Error> {
        let r = self
            .client
            .query_one(
                "SELECT count(*), count(DISTINCT period), min(first_s), max(last_s),
                        (SELECT count(*) FROM presence), pg_database_size(current_database())
                 FROM flows",
                &[],
            )
            .map_err(|e| self.sql(e))?;
        let sensors = self
            .client
            .query(
                "SELECT sensor FROM flows UNION SELECT sensor FROM presence
                 UNION SELECT sensor FROM coverage ORDER BY 1",
                &[],
            )
            .map_err(|e| self.sql(e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let version = self.version()?;
        Ok(StoreStats {
            backend: "postgresql",
            schema_version: version,
            rows: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
            periods: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            presence: u64::try_from(r.get::<_, i64>(4)).unwrap_or(0),
            sensors,
            oldest: r.get(2),
            newest: r.get(3),
            bytes: u64::try_from(r.get::<_, i64>(5)).ok(),
        })
    }

    fn prune(&mut self, first_period: i64, cutoff_s: i64) -> Result<Pruned, Error> {
        let result = (|| -> Result<Pruned, postgres::Error> {
            let mut tx = self.client.transaction()?;
            let rows = tx.execute("DELETE FROM flows WHERE period < $1", &[&first_period])?;
            let presence =
                tx.execute("DELETE FROM presence WHERE period < $1", &[&first_period])?;
            let coverage = tx.execute("DELETE FROM coverage WHERE to_s < $1", &[&cutoff_s])?;
            tx.execute("DELETE FROM ledger WHERE notice_s < $1", &[&cutoff_s])?;
            tx.commit()?;
            Ok(Pruned {
                rows,
                presence,
                coverage,
            })
        })();
        result.map_err(|e| self.sql(e))
    }

    fn record_notices(&mut self, entries: &[crate::ledger::Entry]) -> Result<(), Error> {
        let result = (|| -> Result<(), postgres::Error> {
            let mut tx = self.client.transaction()?;
            let st = tx.prepare(
                "INSERT INTO ledger (recorded_s, notice_s, subscriber, address, case_id, digest, verdict)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )?;
            for e in entries {
                tx.execute(
                    &st,
                    &[
                        &e.recorded_s,
                        &e.notice_s,
                        &&e.subscriber[..],
                        &&e.address[..],
                        &e.case_id,
                        &&e.digest[..],
                        &e.verdict,
                    ],
                )?;
            }
            tx.commit()
        })();
        result.map_err(|e| self.sql(e))
    }

    fn ledger(&mut self) -> Result<Vec<crate::ledger::Entry>, Error> {
        let rows = self
            .client
            .query(
                "SELECT recorded_s, notice_s, subscriber, address, case_id, digest, verdict
                 FROM ledger ORDER BY notice_s, id",
                &[],
            )
            .map_err(|e| self.sql(e))?;
        Ok(rows
            .iter()
            .map(|r| {
                let digest = digest_of(r.get::<_, Vec<u8>>(5));
                crate::ledger::Entry {
                    recorded_s: r.get(0),
                    notice_s: r.get(1),
                    subscriber: pseudonym_of(r.get::<_, Vec<u8>>(2)),
                    address: pseudonym_of(r.get::<_, Vec<u8>>(3)),
                    case_id: r.get(4),
                    digest,
                    verdict: r.get(6),
                }
            })
            .collect())
    }

    fn put_facts(&mut self, facts: &[crate::facts::SharedFact]) -> Result<(), Error> {
        let result = (|| -> Result<(), postgres::Error> {
            let mut tx = self.client.transaction()?;
            let st = tx.prepare(
                "INSERT INTO facts (sensor, tag, infohash, source, at_ns)
                 VALUES ($1, $2, $3, $4, $5)",
            )?;
            for f in facts {
                tx.execute(
                    &st,
                    &[
                        &f.sensor,
                        &&f.tag[..],
                        &f.infohash.as_ref().map(|h| &h.0[..]),
                        &f.source.as_str(),
                        &f.at_ns,
                    ],
                )?;
            }
            tx.commit()
        })();
        result.map_err(|e| self.sql(e))
    }

    fn facts_after(
        &mut self,
        after: i64,
        since_ns: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Option<crate::facts::SharedFact>)>, Error> {
        let rows = self
            .client
            .query(
                "SELECT id, sensor, tag, infohash, source, at_ns FROM facts
                 WHERE id > $1 AND at_ns >= $2 ORDER BY id LIMIT $3",
                &[&after, &since_ns, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(|e| self.sql(e))?;
        Ok(rows.iter().filter_map(read_fact).collect())
    }

    fn facts_in(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, Option<crate::facts::SharedFact>)>, Error> {
        let rows = self
            .client
            .query(
                "SELECT id, sensor, tag, infohash, source, at_ns FROM facts
                 WHERE id = ANY($1) ORDER BY id",
                &[&ids],
            )
            .map_err(|e| self.sql(e))?;
        Ok(rows.iter().filter_map(read_fact).collect())
    }

    fn prune_facts(&mut self, before_ns: i64) -> Result<u64, Error> {
        self.client
            .execute("DELETE FROM facts WHERE at_ns < $1", &[&before_ns])
            .map_err(|e| self.sql(e))
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Whether an error is PostgreSQL refusing a right (SQLSTATE 42501), e.g. a sensor's role
/// pruning.
pub fn is_permission_denied(e: &Error) -> bool {
    matches!(e, Error::Store(_, m) if m.ends_with("(42501)"))
}
