//! `swarmwall enforce`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use engine::Config;
use netfilter::marks::{MAX_SHIFT, Marks};
use netfilter::rules::Queues;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file (TOML; see the README).
    #[arg(long, alias = "config", value_name = "FILE")]
    policy: PathBuf,

    /// Only read the policy (and the lists it names), say what it does, and exit: 0 if it is
    /// valid, 1 with the error otherwise. Needs no privileges.
    #[arg(long)]
    check: bool,

    /// Queue numbers to serve, `N` or `A-B`, one worker thread each; the same as
    /// `rules install` [default: 0 to CPUs - 1].
    #[arg(long, value_name = "A-B")]
    queues: Option<Queues>,

    /// Write decision events, one JSON object per line, to PATH (appended; `-` for standard
    /// output).
    #[arg(long, value_name = "PATH")]
    events: Option<PathBuf>,

    /// Rewrite counters (per kind and action) as JSON to PATH every --stats-every seconds and
    /// at the end.
    #[arg(long, value_name = "PATH")]
    stats: Option<PathBuf>,

    #[arg(long, value_name = "SECS", default_value_t = 10)]
    stats_every: u64,

    /// Write flow, alert (with --alerts) and DHT events in Suricata's EVE JSON shape to PATH.
    #[arg(long, value_name = "PATH")]
    eve: Option<String>,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (text format; e.g.
    /// `127.0.0.1:9478`), updated every second.
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<String>,

    /// Append every finished flow's record (as `analyze --flows`) to PATH.
    #[arg(long, value_name = "PATH")]
    flows: Option<PathBuf>,

    /// Decide and report, but drop nothing (also `dry_run = true` in the policy).
    #[arg(long)]
    dry_run: bool,

    /// After opening the queues and files, run as this user (keeping CAP_NET_ADMIN).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,

    /// Keep every capability instead of only CAP_NET_ADMIN.
    #[arg(long)]
    keep_privileges: bool,

    /// Bit position of swarmwall's five mark bits; the same as `rules install`.
    #[arg(long, value_name = "N", default_value_t = 24)]
    mark_shift: u8,

    /// Flows tracked at once per worker.
    #[arg(long, value_name = "N", default_value_t = 1 << 18)]
    max_flows: usize,

    /// Learned endpoints (and hosts) kept per worker.
    #[arg(long, value_name = "N", default_value_t = 1 << 18)]
    max_endpoints: usize,

    /// Packets waiting in each kernel queue at most (beyond, they pass unseen).
    #[arg(long, value_name = "N", default_value_t = 8192)]
    queue_maxlen: u32,

    /// Most packets taken per wake-up and answered with one write (1: a read and a verdict
    /// per packet, for comparison).
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u16).range(1..=1024))]
    batch: u16,

    #[command(flatten)]
    attacks: crate::alerts::AlertArgs,
}

pub fn run(a: Args) -> Result<ExitCode> {
    if a.check {
        let p = enforce::load_policy(&a.policy)?;
        println!("{}: ok: {}", a.policy.display(), p.summary());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(marks) = Marks::new(a.mark_shift) else {
        bail!("--mark-shift {}: expected 0 to {MAX_SHIFT}", a.mark_shift);
    };
    let mut o = enforce::Options::new(a.policy);
    o.queues = a.queues.unwrap_or_else(Queues::per_cpu);
    o.marks = marks;
    o.events = a.events;
    let a_metrics = a.metrics.clone();
    o.stats = a.stats;
    o.stats_every = Duration::from_secs(a.stats_every.max(1));
    o.flows = a.flows;
    o.dry_run = a.dry_run;
    o.user = a.user;
    o.keep_privileges = a.keep_privileges;
    o.engine = Config {
        max_flows: a.max_flows,
        max_endpoints: a.max_endpoints,
        ..Config::inline()
    };
    o.queue.max_len = a.queue_maxlen;
    o.batch = usize::from(a.batch);
    let eve = a.eve.as_deref().map(crate::eve::Eve::create).transpose()?;
    let monitor = a.attacks.load()?.map(attacks::Shared::new);
    let writer = a.attacks.writer()?.map(|mut w| {
        w.eve = eve.clone();
        std::sync::Arc::new(std::sync::Mutex::new(w))
    });
    o.taps = crate::eve::taps(monitor.clone().filter(|_| writer.is_some()), eve.clone());
    if let Some(e) = eve.clone() {
        o.on_flows = Some(enforce::FlowsHook::new(move |records| {
            for r in records {
                e.flow(r);
            }
            e.flush();
        }));
    }
    if let (Some(m), Some(w)) = (&monitor, &writer) {
        let (m, w) = (m.clone(), w.clone());
        o.tick = Some(engine::Hook::new(move || {
            let mut m = m.lock();
            m.tick(crate::evidence::now_s());
            let due = m.due();
            if let Ok(mut w) = w.lock() {
                w.write(&due);
            }
        }));
    }
    // Before privileges go (a port below 1024 needs them).
    if let Some(addr) = &a_metrics {
        let exporter = std::sync::Arc::new(swarmwall_io::metrics::Exporter::start(addr)?);
        eprintln!(
            "swarmwall enforce: metrics at http://{}/metrics",
            exporter.local_addr()
        );
        let w = writer.clone();
        o.report = Some(enforce::Reporter::new(move |s| {
            let mut p = page(s);
            if let Some(w) = &w
                && let Ok(w) = w.lock()
            {
                crate::alerts::metrics(&mut p, &w);
            }
            exporter.publish(&p);
        }));
    }
    eprintln!("swarmwall enforce: serving queues {}", o.queues);
    let s = enforce::run_with_signals(&o)?;
    drop(o);
    if let Some(e) = &eve {
        e.finish()?;
    }
    if let (Some(m), Some(w)) = (monitor, writer) {
        let alerts = m.lock().finish();
        if let Ok(w) = std::sync::Arc::try_unwrap(w) {
            let mut w = w.into_inner().unwrap_or_else(|e| e.into_inner());
            w.write(&alerts);
            let lines = w.finish()?;
            eprintln!("swarmwall enforce: {lines} alert lines written");
        }
    }
    eprintln!(
        "swarmwall enforce: stopped; {} packets judged ({} dropped), {} flows, {} batches, {} verdict messages, {} overruns, {} reloads ({} failed)",
        s.stats.packets,
        s.stats.packets_dropped,
        s.stats.flows,
        s.stats.batches,
        s.stats.verdict_messages,
        s.stats.overruns,
        s.reloads,
        s.failed_reloads
    );
    Ok(ExitCode::SUCCESS)
}

/// The metrics page of the daemon's counters.
fn page(s: &enforce::Summary) -> swarmwall_io::metrics::Page {
    let mut p = swarmwall_io::metrics::Page::default();
    let st = &s.stats;
    p.gauge(
        "swarmwall_build_info",
        "The running swarmwall (always 1).",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("command", "enforce"),
        ],
        1.0,
    );
    p.counter(
        "swarmwall_packets_total",
        "Packets that reached the daemon and were judged.",
        &[],
        st.packets,
    );
    p.counter(
        "swarmwall_packets_unjudged_total",
        "Packets not part of a flow (passed).",
        &[],
        st.unjudged,
    );
    p.counter(
        "swarmwall_packets_dropped_total",
        "Packets dropped or rejected by a verdict.",
        &[],
        st.packets_dropped,
    );
    p.counter("swarmwall_flows_total", "New flows seen.", &[], st.flows);
    // Every kind and action, zero or not: the family is there before the first decision,
    // and a rate is defined from the start.
    let kinds = engine::Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .chain(["unknown"]);
    for kind in kinds {
        for action in ["allow", "drop", "reject", "mark"] {
            let n = st
                .decisions
                .get(kind)
                .and_then(|a| a.get(action))
                .copied()
                .unwrap_or(0);
            p.counter(
                "swarmwall_decisions_total",
                "Decisions per kind (unknown: not BitTorrent) and action (in a dry run, what would have been done).",
                &[("kind", kind), ("action", action)],
                n,
            );
        }
    }
    p.counter(
        "swarmwall_queue_batches_total",
        "Batches of packets received from the queues.",
        &[],
        st.batches,
    );
    p.counter(
        "swarmwall_verdict_messages_total",
        "Verdict messages sent to the kernel.",
        &[],
        st.verdict_messages,
    );
    p.counter(
        "swarmwall_queue_overruns_total",
        "Times the kernel could not hand packets over (accepted unseen: fail-open).",
        &[],
        st.overruns,
    );
    p.counter(
        "swarmwall_fragments_held_total",
        "IP fragments held for their datagram's verdict.",
        &[],
        st.fragments_held,
    );
    p.counter(
        "swarmwall_fragments_released_total",
        "IP fragments let pass because their datagram did not complete in time.",
        &[],
        st.fragments_released,
    );
    p.counter(
        "swarmwall_reloads_total",
        "Policy reloads (SIGHUP).",
        &[("result", "ok")],
        s.reloads,
    );
    p.counter(
        "swarmwall_reloads_total",
        "Policy reloads (SIGHUP).",
        &[("result", "failed")],
        s.failed_reloads,
    );
    p
}
