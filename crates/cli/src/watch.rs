//! `swarmwall watch`: live capture, with the same outputs as `analyze` and the evidence store.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use engine::report::Summary;
use swarmwall_io::{metrics, record};
use watch::{Report, RingConfig, Sensor};

use crate::analyze::Limits;
use crate::eve::Eve;
use crate::{alerts, evidence, summary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interface to capture on (repeat for several).
    #[arg(short = 'i', long = "interface", value_name = "IFACE", required = true)]
    interfaces: Vec<String>,

    /// Worker threads, each with its own engine; flows are spread over them by hash
    /// (default: one per core).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,

    /// Capture filter (tcpdump syntax, compiled by libpcap), e.g. `not port 22`.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    /// Write one JSON object per flow as flows end, one per line, to PATH (`-` for standard
    /// output).
    #[arg(long, value_name = "PATH")]
    flows: Option<String>,

    /// Rewrite PATH with the counters (JSON) every --stats-every seconds and at exit.
    #[arg(long, value_name = "PATH")]
    stats: Option<PathBuf>,

    /// Seconds between two writes of --stats.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    stats_every: u64,

    /// Write flow, alert (with --alerts) and DHT events in Suricata's EVE JSON shape to PATH
    /// (`-` for standard output).
    #[arg(long, value_name = "PATH")]
    eve: Option<String>,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (text format; e.g.
    /// `127.0.0.1:9477`), updated every second.
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<String>,

    /// Rows in the summary's top tables (printed at exit).
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,

    /// Ring buffer per worker and interface, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    ring_mb: u32,

    /// Do not put the interfaces in promiscuous mode.
    #[arg(long)]
    no_promisc: bool,

    /// Switch to this user once the sockets are open (the evidence store, key file and
    /// outputs must then be writable by it).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,

    /// Keep every capability (for debugging; not recommended).
    #[arg(long)]
    keep_privileges: bool,

    /// Stop after SECS seconds (for tests and measurements; default: until SIGTERM/SIGINT).
    #[arg(long, value_name = "SECS", hide = true)]
    duration: Option<f64>,

    /// Share the endpoints learned (tracker replies, DHT values, PEX, LSD) with the other
    /// sensors of the evidence store, and use theirs: an encrypted connection on this link is
    /// attributed from a tracker reply another sensor saw (asymmetric routing). By keyed tag,
    /// never an address; the sensors must share the key file. Needs --evidence.
    #[arg(long)]
    share_endpoints: bool,

    #[command(flatten)]
    limits: Limits,

    #[command(flatten)]
    sensor: evidence::SensorArgs,

    #[command(flatten)]
    attacks: alerts::AlertArgs,
}

/// How often records are committed to the evidence store.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

pub fn run(args: Args) -> Result<ExitCode> {
    args.limits.check()?;
    if args.stats_every == 0 {
        bail!("--stats-every must be at least 1");
    }
    // Outputs first, while any file can be opened.
    let mut flows_out: Option<Box<dyn Write>> = match args.flows.as_deref() {
        None => None,
        Some("-") => Some(Box::new(BufWriter::new(io::stdout()))),
        Some(p) => Some(Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("{p}: cannot create"))?,
        ))),
    };
    let to_stdout = crate::stdout_used(
        args.flows.as_deref(),
        args.attacks.alerts.as_deref(),
        args.eve.as_deref(),
    )?;
    let eve = args.eve.as_deref().map(Eve::create).transpose()?;
    let monitor = args.attacks.load()?.map(attacks::Shared::new);
    let mut alert_out = args.attacks.writer()?;
    if let Some(w) = alert_out.as_mut() {
        w.eve = eve.clone();
    }
    let mut stats_file = match &args.stats {
        None => None,
        Some(p) => {
            Some(File::create(p).with_context(|| format!("{}: cannot create", p.display()))?)
        }
    };
    // Before privileges go (a port below 1024 needs them).
    let exporter = match &args.metrics {
        Some(a) => Some(metrics::Exporter::start(a)?),
        None => None,
    };
    let mut opts = watch::Options::new(args.interfaces.clone());
    if let Some(n) = args.workers {
        opts.workers = n.max(1);
    }
    opts.filter = args.filter.clone();
    opts.ring = RingConfig {
        block_size: 1 << 20,
        blocks: args.ring_mb.max(1),
        promiscuous: !args.no_promisc,
        ..RingConfig::default()
    };
    opts.engine = args.limits.apply(watch::live_config());
    opts.taps = crate::eve::taps(monitor.clone(), eve.clone());
    if args.share_endpoints && args.sensor.store.evidence.is_none() {
        bail!("--share-endpoints shares through the evidence store: add --evidence and --key");
    }
    let mut sensor = Sensor::open(opts)?;
    if !args.keep_privileges {
        watch::drop_privileges(args.user.as_deref())?;
    }
    // The store and key file as the user the sensor runs as.
    let started_s = evidence::now_s();
    let mut store = args.sensor.writer(started_s)?;
    let sharing = match (&store, args.sensor.store.evidence.as_deref()) {
        (Some(w), Some(spec)) if args.share_endpoints => {
            let (sharing, exchange) = crate::share::start(spec, w, started_s)?;
            sensor.set_exchange(exchange);
            Some(sharing)
        }
        _ => None,
    };
    eprintln!(
        "swarmwall watch: {} on {} worker{}; capabilities: {}{}",
        sensor
            .interfaces()
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        sensor.workers(),
        if sensor.workers() == 1 { "" } else { "s" },
        {
            let c = netfilter::privs::effective();
            if c.is_empty() {
                "none".to_string()
            } else {
                c.join(",")
            }
        },
        store
            .as_ref()
            .map(|w| format!("; evidence to {}", w.store_name()))
            .unwrap_or_default()
            + if sharing.is_some() {
                "; sharing endpoints"
            } else {
                ""
            }
            + &exporter
                .as_ref()
                .map(|e| format!("; metrics at http://{}/metrics", e.local_addr()))
                .unwrap_or_default()
    );

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    if let Some(secs) = args.duration {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(secs.max(0.0)));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }

    let mut summary = Summary::default();
    // Ended flows per kind (`none`: not BitTorrent), for the metrics.
    let mut by_kind: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut last_commit = Instant::now();
    let mut last_stats = Instant::now();
    let mut last_prune = Instant::now();
    // The watched time goes to the store a minute at a time (rows are appended).
    let mut covered_to = started_s;
    let mut flows_error: Option<io::Error> = None;
    let mut store_errors = 0u64;
    let stats_every = Duration::from_secs(args.stats_every);
    let store_error = |e: ::evidence::Error, n: &mut u64| {
        *n += 1;
        // One line per failure; the capture goes on.
        eprintln!("swarmwall: {e} (the capture goes on; this batch's rows are lost)");
    };
    let finished = sensor.run(&stop, COMMIT_EVERY, |report| match report {
        Report::Records(records) => {
            for r in &records {
                summary.add(r);
                *by_kind
                    .entry(r.kind().map_or("none", |k| k.as_str()))
                    .or_default() += 1;
                if let Some(e) = &eve {
                    e.flow(r);
                }
                if let (Some(out), None) = (flows_out.as_mut(), &flows_error)
                    && let Err(e) = record::write_line(out, r)
                {
                    eprintln!("swarmwall: cannot write flow records: {e}");
                    flows_error = Some(e);
                }
                if let Some(w) = store.as_mut()
                    && let Err(e) = w.record(r)
                {
                    store_error(e, &mut store_errors);
                }
            }
        }
        Report::Stats(s) => {
            let now = evidence::now_s();
            if let (Some(m), Some(w)) = (&monitor, alert_out.as_mut()) {
                let mut m = m.lock();
                m.tick(now);
                w.write(&m.due());
            }
            if let Some(w) = store.as_mut() {
                if now - covered_to >= 60 {
                    w.watched(covered_to, now);
                    covered_to = now;
                }
                if last_commit.elapsed() >= COMMIT_EVERY {
                    last_commit = Instant::now();
                    if let Err(e) = w.commit() {
                        store_error(e, &mut store_errors);
                    }
                }
                for m in w.take_messages() {
                    eprintln!("swarmwall: {m}");
                }
                if last_prune.elapsed() >= Duration::from_secs(3600) {
                    last_prune = Instant::now();
                    if let Err(e) = w.prune(now) {
                        store_error(e, &mut store_errors);
                    }
                }
            }
            if let Some(out) = flows_out.as_mut() {
                let _ = out.flush();
            }
            if let Some(e) = &eve {
                e.flush();
            }
            if last_stats.elapsed() >= stats_every {
                last_stats = Instant::now();
                write_stats(
                    stats_file.as_mut(),
                    s,
                    store.as_ref(),
                    sharing.as_ref().map(|x| x.counters()),
                );
            }
            if let Some(e) = &exporter {
                let mut p = page(
                    s,
                    &by_kind,
                    store.as_ref(),
                    alert_out.as_ref(),
                    store_errors,
                );
                if let Some(x) = &sharing {
                    crate::share::metrics(&mut p, &x.counters());
                }
                e.publish(&p);
            }
        }
    })?;
    let mut evidence_line = None;
    if let Some(w) = store.as_mut() {
        w.watched(covered_to, evidence::now_s());
        if let Err(e) = w.commit() {
            store_error(e, &mut store_errors);
        }
        for m in w.take_messages() {
            eprintln!("swarmwall: {m}");
        }
        evidence_line = Some(evidence::summary_line(w));
    }
    let shared = sharing.map(crate::share::Sharing::finish);
    write_stats(stats_file.as_mut(), &finished.stats, store.as_ref(), shared);
    let mut attacks_text = None;
    if let (Some(m), Some(mut w)) = (&monitor, alert_out.take()) {
        let mut m = m.lock();
        w.write(&m.finish());
        let lines = w.finish()?;
        attacks_text = Some(alerts::section(&m, lines, args.top));
    }
    if let Some(mut out) = flows_out.take() {
        out.flush().context("cannot write flow records")?;
    }
    if let Some(e) = &eve {
        e.finish()?;
    }
    summary.finish(&finished.knowledge);
    let k = &finished.stats.kernel;
    let mut text = summary::render(
        &finished.totals,
        &summary,
        &finished.knowledge,
        &finished.defrag,
        &format!("watch: {}", finished.stats.interfaces.join(", ")),
        args.top,
    );
    text.push_str(&format!(
        "\nkernel: {} packets received, {} dropped by full rings (tp_drops), {} ring freezes (tp_freeze_q_cnt); {} workers read {:?} packets\n",
        k.packets,
        k.drops,
        k.freezes,
        finished.stats.workers,
        finished.stats.per_worker
    ));
    if let Some(a) = attacks_text {
        text.push_str(&a);
    }
    if let Some(line) = evidence_line {
        text.push_str(&format!("{line}\n"));
    }
    if let Some(c) = &shared {
        text.push_str(&format!("{}\n", crate::share::summary_line(c)));
    }
    if to_stdout {
        io::stderr().write_all(text.as_bytes())?;
    } else {
        io::stdout().write_all(text.as_bytes())?;
    }
    Ok(if flows_error.is_some() || store_errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The metrics page: the sensor's counters, ended flows per kind, the evidence store's rows,
/// alerts per category.
fn page(
    s: &watch::Stats,
    by_kind: &BTreeMap<&'static str, u64>,
    store: Option<&::evidence::Writer>,
    alerts: Option<&alerts::AlertWriter>,
    store_errors: u64,
) -> metrics::Page {
    let mut p = metrics::Page::default();
    p.gauge(
        "swarmwall_build_info",
        "The running swarmwall (always 1).",
        &[("version", env!("CARGO_PKG_VERSION")), ("command", "watch")],
        1.0,
    );
    p.counter(
        "swarmwall_packets_total",
        "Packets the engines read.",
        &[],
        s.packets,
    );
    p.counter(
        "swarmwall_bytes_total",
        "Bytes (on the wire) the engines read.",
        &[],
        s.bytes,
    );
    for (i, n) in s.per_worker.iter().enumerate() {
        let w = i.to_string();
        p.counter(
            "swarmwall_worker_packets_total",
            "Packets each worker read (how evenly the fanout spreads them).",
            &[("worker", &w)],
            *n,
        );
    }
    p.gauge(
        "swarmwall_flows_open",
        "Flows tracked now.",
        &[],
        s.flows_open as f64,
    );
    p.counter(
        "swarmwall_flows_ended_total",
        "Flows ended (records written).",
        &[],
        s.flows_ended,
    );
    // Every kind, zero or not (a rate is defined from the start, and the family is there
    // before the first flow ends).
    let kinds = engine::Kind::ALL.iter().map(|k| k.as_str()).chain(["none"]);
    for kind in kinds {
        p.counter(
            "swarmwall_flows_total",
            "Ended flows by kind (none: not BitTorrent).",
            &[("kind", kind)],
            by_kind.get(kind).copied().unwrap_or(0),
        );
    }
    p.counter(
        "swarmwall_kernel_packets_total",
        "Packets the kernel handed to the capture sockets.",
        &[],
        s.kernel.packets,
    );
    p.counter(
        "swarmwall_kernel_drops_total",
        "Packets the kernel dropped because a ring was full.",
        &[],
        s.kernel.drops,
    );
    p.counter(
        "swarmwall_kernel_ring_freezes_total",
        "Times a capture ring froze (tp_freeze_q_cnt).",
        &[],
        s.kernel.freezes,
    );
    if let Some(w) = store {
        let c = &w.counters;
        p.counter(
            "swarmwall_evidence_rows_total",
            "Evidence rows committed.",
            &[],
            c.rows,
        );
        p.counter(
            "swarmwall_evidence_failed_rows_total",
            "Evidence rows in batches that could not be written.",
            &[],
            c.failed_rows,
        );
        p.counter(
            "swarmwall_evidence_errors_total",
            "Evidence store errors (the capture goes on).",
            &[],
            store_errors,
        );
        if let Some(sp) = &c.spool {
            p.counter(
                "swarmwall_evidence_spooled_total",
                "Rows spooled while the PostgreSQL server was out of reach.",
                &[],
                sp.spooled,
            );
            p.counter(
                "swarmwall_evidence_spool_dropped_total",
                "Rows dropped because the spool was full.",
                &[],
                sp.dropped,
            );
            p.gauge(
                "swarmwall_evidence_spool_waiting",
                "Rows in the spool now.",
                &[],
                sp.waiting as f64,
            );
        }
    }
    if let Some(a) = alerts {
        alerts::metrics(&mut p, a);
    }
    p
}

fn write_stats(
    file: Option<&mut File>,
    s: &watch::Stats,
    store: Option<&::evidence::Writer>,
    shared: Option<::evidence::facts::ShareCounters>,
) {
    let Some(f) = file else { return };
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let (Some(obj), Some(w)) = (v.as_object_mut(), store) {
        obj.insert(
            "evidence".into(),
            serde_json::to_value(w.counters).unwrap_or_default(),
        );
    }
    if let (Some(obj), Some(c)) = (v.as_object_mut(), shared) {
        obj.insert("shared".into(), serde_json::to_value(c).unwrap_or_default());
    }
    use std::io::Seek;
    let _ = f.set_len(0);
    let _ = f.seek(io::SeekFrom::Start(0));
    let _ = writeln!(
        f,
        "{}",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    );
    let _ = f.flush();
}
