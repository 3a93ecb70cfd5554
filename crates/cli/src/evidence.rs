//! The evidence store's options (shared by `analyze`, `watch` and `evidence`) and the
//! `swarmwall evidence` subcommand: query, stats, prune.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use evidence::{DAY, KeyRing, LocalNets, Lookup, Recorder, Writer, query};

/// Where evidence goes, and under which keys.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The evidence store: an SQLite file (created, mode 0600) or a `postgres://` URL.
    #[arg(long, value_name = "STORE")]
    pub evidence: Option<String>,

    /// The key file (one secret key per day; created, mode 0600, on first use). Keep it apart
    /// from the store: without it the store links nothing to any address.
    #[arg(long, value_name = "KEYFILE")]
    pub key: Option<PathBuf>,

    /// Days a period's rows and key are kept; older ones are deleted and their keys destroyed.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub retention: u32,
}

/// Options of the sensors that write evidence (`analyze`, `watch`).
#[derive(Debug, Clone, clap::Args)]
pub struct SensorArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// This sensor's name in the store (default: the host name).
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,

    /// Networks whose addresses are local (their presence is recorded, and they are the
    /// "local" end of a flow); default: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,
    /// 100.64.0.0/10, fc00::/7.
    #[arg(long, value_name = "CIDR", num_args = 1..)]
    pub local: Vec<String>,

    /// With a PostgreSQL store: where rows wait while the server is out of reach (an SQLite
    /// file; default: the key file's path with `.spool` added).
    #[arg(long, value_name = "PATH")]
    pub spool: Option<PathBuf>,

    /// Rows the spool holds at most; beyond, rows are dropped (and counted).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub spool_max_rows: u64,
}

impl StoreArgs {
    fn retention_s(&self) -> i64 {
        i64::from(self.retention) * DAY
    }

    fn key_path(&self) -> Result<&PathBuf> {
        self.key
            .as_ref()
            .context("--key KEYFILE is needed with --evidence (keep it apart from the store)")
    }

    fn store(&self) -> Result<&str> {
        self.evidence
            .as_deref()
            .context("--evidence STORE is needed (an SQLite file or a postgres:// URL)")
    }
}

/// The host name, for `--sensor`'s default.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sensor".into())
}

pub fn local_nets(list: &[String]) -> Result<LocalNets> {
    if list.is_empty() {
        return Ok(LocalNets::private());
    }
    let mut nets = Vec::new();
    for item in list.iter().flat_map(|s| s.split(',')) {
        let t = item.trim();
        let net = t
            .parse::<ipnet::IpNet>()
            .or_else(|_| t.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                anyhow::anyhow!(
                    "--local {t}: expected a network such as 10.0.0.0/8 or 2001:db8::/32"
                )
            })?;
        nets.push(net);
    }
    Ok(LocalNets::new(nets))
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl SensorArgs {
    /// The writer for this run, pruned to the retention window at `now_s`; none without
    /// `--evidence`.
    pub fn writer(&self, now_s: i64) -> Result<Option<Writer>> {
        let Some(spec) = self.store.evidence.as_deref() else {
            if self.store.key.is_some() {
                bail!("--key is used with --evidence STORE");
            }
            return Ok(None);
        };
        let key = self.store.key_path()?;
        // A new key file starts at the oldest period still within retention.
        let first = now_s
            .saturating_sub(self.store.retention_s())
            .div_euclid(DAY);
        let keys = KeyRing::open_or_create(key, DAY, first)?;
        let spool = self.spool.clone().unwrap_or_else(|| {
            let mut p = key.clone().into_os_string();
            p.push(".spool");
            PathBuf::from(p)
        });
        let backend = evidence::open_sensor(spec, &spool, self.spool_max_rows)?;
        let sensor = self.sensor.clone().unwrap_or_else(host_name);
        let recorder = Recorder::new(keys, local_nets(&self.local)?, sensor.clone());
        let run = format!("{sensor}:{}:{}", now_s, std::process::id());
        let mut w = Writer::new(backend, recorder, self.store.retention_s(), run);
        w.prune(now_s)?;
        Ok(Some(w))
    }
}

/// One line for the summary.
pub fn summary_line(w: &Writer) -> String {
    let c = &w.counters;
    let mut s = format!(
        "evidence: {} BitTorrent flow rows and {} local-host presences written to {} in {} batches",
        c.rows,
        c.presence,
        w.store_name(),
        c.batches
    );
    if c.too_old > 0 {
        s.push_str(&format!(
            "; {} flows older than the retention window not stored",
            c.too_old
        ));
    }
    if c.pruned_rows + c.keys_destroyed > 0 {
        s.push_str(&format!(
            "; pruned {} rows, destroyed {} period keys",
            c.pruned_rows, c.keys_destroyed
        ));
    }
    if c.failed_rows > 0 {
        s.push_str(&format!("; {} rows could not be written", c.failed_rows));
    }
    if let Some(sp) = c.spool.filter(|sp| sp.spooled + sp.dropped > 0) {
        s.push_str(&format!(
            "; server out of reach {} times: {} rows spooled, {} sent since, {} dropped (spool full), {} waiting",
            sp.outages, sp.spooled, sp.sent, sp.dropped, sp.waiting
        ));
    }
    s
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// The rows of an address: one JSON object per BitTorrent flow, oldest first.
    Query(QueryArgs),
    /// Rows, periods, oldest and newest row, size.
    Stats(StatsArgs),
    /// Deletes the rows of periods past retention and destroys their keys.
    Prune(PruneArgs),
    /// Creates or updates a store's schema (PostgreSQL: as the database's owner), and grants
    /// the sensor and reader roles their rights.
    Migrate(MigrateArgs),
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// The store: an SQLite file or a `postgres://` URL.
    #[arg(long, value_name = "STORE")]
    evidence: String,
    /// PostgreSQL role of the sensors: may insert rows, nothing else (and read, add and prune
    /// the facts sensors share with --share-endpoints).
    #[arg(long, value_name = "ROLE")]
    sensor_role: Option<String>,
    /// PostgreSQL role of the readers (`evidence query`, `notice check`): may select.
    #[arg(long, value_name = "ROLE")]
    reader_role: Option<String>,
}

#[derive(Debug, clap::Args)]
struct QueryArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The address asked about.
    #[arg(long, value_name = "ADDR")]
    ip: String,
    /// Only flows in which the address used this port.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// From this time (RFC 3339, `YYYY-MM-DD HH:MM:SS` in UTC, a date, or seconds since 1970).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Until this time (same forms).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Only flows of this torrent (40 or 64 hex digits).
    #[arg(long, value_name = "HASH")]
    infohash: Option<String>,
    /// Only rows written by this sensor.
    #[arg(long, value_name = "NAME")]
    sensor: Option<String>,
}

#[derive(Debug, clap::Args)]
struct StatsArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct PruneArgs {
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Sub::Query(a) => run_query(a),
        Sub::Stats(a) => run_stats(a),
        Sub::Prune(a) => run_prune(a),
        Sub::Migrate(a) => run_migrate(a),
    }
}

fn time_arg(name: &str, v: Option<&str>, default: i64) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(s) => query::parse_time(s).with_context(|| {
            format!("--{name} {s}: expected a time such as 2026-11-21T06:30:11Z, 2026-11-21 06:30:11 (UTC), 2026-11-21 or seconds since 1970")
        }),
    }
}

fn run_query(a: QueryArgs) -> Result<ExitCode> {
    let ip: IpAddr =
        a.ip.parse()
            .map_err(|_| anyhow::anyhow!("--ip {}: expected an IPv4 or IPv6 address", a.ip))?;
    let from_s = time_arg("from", a.from.as_deref(), 0)?;
    let to_s = time_arg("to", a.to.as_deref(), i64::MAX / 2)?;
    if from_s > to_s {
        bail!("--from is after --to");
    }
    let infohash = match a.infohash {
        Some(h) if matches!(h.len(), 40 | 64) && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(h)
        }
        Some(h) => bail!("--infohash {h}: expected 40 (or, for v2, 64) hex digits"),
        None => None,
    };
    let keys = KeyRing::open(a.store.key_path()?)?;
    let mut store = evidence::open_existing(a.store.store()?)?;
    let found = query::find(
        store.as_mut(),
        &keys,
        &Lookup {
            ip,
            port: a.port,
            from_s,
            to_s,
            infohash,
        },
        now_s(),
    )?;
    let mut out = io::stdout().lock();
    for m in found
        .iter()
        .filter(|m| a.sensor.as_ref().is_none_or(|s| *s == m.sensor))
    {
        serde_json::to_writer(&mut out, m)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn run_stats(a: StatsArgs) -> Result<ExitCode> {
    let mut store = evidence::open_existing(a.store.store()?)?;
    let s = store.stats()?;
    let keys = match &a.store.key {
        Some(k) => Some(KeyRing::open(k)?),
        None => None,
    };
    let first_key: Option<i64> = keys.as_ref().map(KeyRing::first_period);
    let mut out = io::stdout().lock();
    if a.json {
        let mut v = serde_json::to_value(&s)?;
        if let (Some(obj), Some(k)) = (v.as_object_mut(), &keys) {
            obj.insert(
                "keys_from".into(),
                query::rfc3339(k.first_period() * k.period_seconds()).into(),
            );
        }
        writeln!(out, "{v}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "store:    {} ({}, schema {})",
        store.name(),
        s.backend,
        s.schema_version
    )?;
    writeln!(
        out,
        "rows:     {} BitTorrent flows in {} periods",
        s.rows, s.periods
    )?;
    writeln!(out, "presence: {} local hosts × periods", s.presence)?;
    match (s.oldest, s.newest) {
        (Some(a), Some(b)) => writeln!(
            out,
            "span:     {} .. {}",
            query::rfc3339(a),
            query::rfc3339(b)
        )?,
        _ => writeln!(out, "span:     no rows")?,
    }
    writeln!(out, "sensors:  {}", s.sensors.join(", "))?;
    if let Some(b) = s.bytes {
        writeln!(out, "size:     {b} bytes")?;
    }
    if let (Some(k), Some(_)) = (&keys, first_key) {
        writeln!(
            out,
            "keys:     from {} (periods of {} s; earlier ones destroyed)",
            query::rfc3339(k.first_period() * k.period_seconds()),
            k.period_seconds()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_prune(a: PruneArgs) -> Result<ExitCode> {
    let mut keys = KeyRing::open(a.store.key_path()?)?;
    let now = now_s();
    let (first_period, destroyed) =
        evidence::writer::prune_keys(&mut keys, now, a.store.retention_s())?;
    let mut store = evidence::open_existing(a.store.store()?)?;
    let p = store.prune(first_period, now - a.store.retention_s())?;
    // The facts sensors share are hints of the last hour (they prune them as they run).
    let facts = store.prune_facts(
        now.saturating_sub(evidence::facts::FACT_TTL_S)
            .saturating_mul(1_000_000_000),
    )?;
    println!(
        "pruned: {} rows, {} presences, {} watched times, {} shared facts older than an hour deleted; {} period keys destroyed (retention {} days)",
        p.rows, p.presence, p.coverage, facts, destroyed, a.store.retention
    );
    Ok(ExitCode::SUCCESS)
}

fn run_migrate(a: MigrateArgs) -> Result<ExitCode> {
    if evidence::is_postgres(&a.evidence) {
        let applied = evidence::postgres::Postgres::migrate(
            &a.evidence,
            a.sensor_role.as_deref(),
            a.reader_role.as_deref(),
        )?;
        println!(
            "{}: schema version {}{}",
            evidence::store::redact(&a.evidence),
            evidence::store::SCHEMA_VERSION,
            if applied.is_empty() {
                " (already)".to_string()
            } else {
                format!(" (applied {applied:?})")
            }
        );
    } else {
        if a.sensor_role.is_some() || a.reader_role.is_some() {
            bail!("--sensor-role and --reader-role are for PostgreSQL stores");
        }
        let s = evidence::open(&a.evidence)?.stats()?;
        println!("{}: schema version {}", a.evidence, s.schema_version);
    }
    Ok(ExitCode::SUCCESS)
}
