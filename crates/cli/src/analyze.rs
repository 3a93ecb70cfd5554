//! `swarmwall analyze`.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine::report::Summary;
use engine::{Config, Engine, FlowRecord};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use swarmwall_io::capture::{self, Input};
use swarmwall_io::parallel::{self, Chunk, Pool};
use swarmwall_io::record;
use wire::LinkType;

use crate::eve::Eve;
use crate::{alerts, evidence, summary};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Capture files (pcap or pcapng); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,

    /// Write one JSON object per flow, one per line, to PATH (`-` for standard output, in
    /// which case the summary goes to standard error).
    #[arg(long, value_name = "PATH")]
    flows: Option<String>,

    /// Write flow, alert (with --alerts) and DHT events in Suricata's EVE JSON shape to PATH
    /// (`-` for standard output, in which case the summary goes to standard error).
    #[arg(long, value_name = "PATH")]
    eve: Option<String>,

    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,

    /// Rows in the summary's top tables.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,

    /// Worker threads: flows are spread over them by their IP addresses, each with its own
    /// engine, sharing what they learn (records come in rounds; see the README). Default: the
    /// number of cores for inputs of 64 MiB or more (or standard input), else 1; 1 with
    /// --alerts (the attack monitor then sees packets in capture order).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    #[command(flatten)]
    limits: Limits,

    #[command(flatten)]
    sensor: evidence::SensorArgs,

    #[command(flatten)]
    attacks: alerts::AlertArgs,
}

const NS: i64 = 1_000_000_000;

/// Inputs at least this large (files) are analysed on every core by default.
const PARALLEL_FROM_BYTES: u64 = 64 << 20;

/// The engine's limits and timeouts (`analyze` and `watch`).
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Flows tracked at once; when full the flow idle longest is ended early (counted).
    #[arg(long, value_name = "N", default_value_t = 1 << 20)]
    pub max_flows: usize,

    /// Seconds of idleness after which a TCP flow ends.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub tcp_timeout: u32,

    /// Seconds of idleness after which a TCP flow that closed (FIN both ways, or RST) ends.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub tcp_closed_timeout: u32,

    /// Seconds of idleness after which a UDP flow ends.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub udp_timeout: u32,

    /// Learned BitTorrent endpoints (peers, nodes) kept.
    #[arg(long, value_name = "N", default_value_t = 1 << 20)]
    pub max_endpoints: usize,
}

impl Limits {
    pub fn check(&self) -> Result<()> {
        if self.max_flows == 0 || self.max_endpoints == 0 {
            bail!("--max-flows and --max-endpoints must be at least 1");
        }
        Ok(())
    }

    /// `base` with these limits.
    pub fn apply(&self, base: Config) -> Config {
        Config {
            max_flows: self.max_flows,
            tcp_timeout_ns: i64::from(self.tcp_timeout) * NS,
            tcp_closed_timeout_ns: i64::from(self.tcp_closed_timeout) * NS,
            udp_timeout_ns: i64::from(self.udp_timeout) * NS,
            max_endpoints: self.max_endpoints,
            ..base
        }
    }
}

/// Validated options.
struct Options {
    inputs: Vec<Input>,
    flows: Option<String>,
    eve: Option<String>,
    progress: bool,
    top: usize,
    threads: usize,
    config: Config,
    sensor: evidence::SensorArgs,
    attacks: alerts::AlertArgs,
    thresholds: Option<attacks::Thresholds>,
}

impl Args {
    fn validate(self) -> Result<Options> {
        self.limits.check()?;
        if self.files.iter().filter(|f| *f == "-").count() > 1 {
            bail!("standard input (-) can be read only once");
        }
        let out = self.flows.as_deref().filter(|f| *f != "-");
        for (flag, out) in [
            ("--flows", out),
            (
                "--alerts",
                self.attacks.alerts.as_deref().filter(|f| *f != "-"),
            ),
            ("--eve", self.eve.as_deref().filter(|f| *f != "-")),
        ] {
            if let Some((out, input)) =
                out.and_then(|o| Some((o, self.files.iter().find(|f| same_file(f, o))?)))
            {
                bail!("{flag} {out} would overwrite the input {input}");
            }
        }
        crate::stdout_used(
            self.flows.as_deref(),
            self.attacks.alerts.as_deref(),
            self.eve.as_deref(),
        )?;
        let threads = match self.threads {
            Some(0) => bail!("--threads must be at least 1"),
            Some(n) => n,
            None if self.attacks.alerts.is_some() => 1,
            // Small files are read at once on one thread (and exactly as it judges them).
            None if self
                .files
                .iter()
                .map(|f| Input::from_arg(f).size())
                .sum::<Option<u64>>()
                .is_some_and(|n| n < PARALLEL_FROM_BYTES) =>
            {
                1
            }
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };

        Ok(Options {
            inputs: self.files.iter().map(|f| Input::from_arg(f)).collect(),
            progress: !self.quiet && io::stderr().is_terminal(),
            flows: self.flows,
            eve: self.eve,
            top: self.top,
            threads,
            sensor: self.sensor,
            attacks: self.attacks,
            thresholds: None,
            config: self.limits.apply(Config::default()),
        })
    }
}

/// Where the flow records go: the summary, the evidence store, the JSON lines.
struct Outputs {
    summary: Summary,
    evidence: Option<::evidence::Writer>,
    evidence_error: Option<::evidence::Error>,
    flows_out: Option<Box<dyn Write>>,
    write_error: Option<io::Error>,
    eve: Option<Eve>,
    /// Set when the records cannot be written: reading stops (e.g. `--flows - | head`).
    stop: bool,
}

impl Outputs {
    /// One record (one engine on this thread).
    fn record(&mut self, r: &FlowRecord) {
        self.summary.add(r);
        self.store(r);
        if let Some(e) = &self.eve {
            e.flow(r);
        }
        self.write(|out| record::write_line(out, r));
    }

    /// Writes to the flow records' output, if any and if nothing failed there before.
    fn write(&mut self, f: impl FnOnce(&mut Box<dyn Write>) -> io::Result<()>) {
        if let (Some(out), None) = (self.flows_out.as_mut(), &self.write_error)
            && let Err(e) = f(out)
        {
            self.write_error = Some(e);
            self.stop = true;
        }
    }

    /// Whether reading goes on.
    fn go_on(&self) -> ControlFlow<()> {
        if self.stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn store(&mut self, r: &FlowRecord) {
        if let (Some(w), None) = (self.evidence.as_mut(), &self.evidence_error)
            && let Err(e) = w.record(r)
        {
            self.evidence_error = Some(e);
            self.stop = true;
        }
    }

    /// The records of one worker's round, already counted in its summary.
    fn chunk(&mut self, c: Chunk) -> ControlFlow<()> {
        for r in &c.records {
            self.store(r);
            if let Some(e) = &self.eve {
                e.flow(r);
            }
        }
        self.write(|out| out.write_all(&c.json));
        self.go_on()
    }
}

/// One engine on this thread, or a pool of workers.
enum Runner {
    One(Box<Engine>),
    Many(Box<Pool>, Option<attacks::Shared>),
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut opts = match args.validate() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("swarmwall: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    // A thresholds file is input: its mistakes are errors (exit 1), before anything is written.
    opts.thresholds = opts.attacks.load()?;
    let flows_to_stdout = opts.flows.as_deref() == Some("-")
        || opts.attacks.alerts.as_deref() == Some("-")
        || opts.eve.as_deref() == Some("-");
    let flows_out: Option<Box<dyn Write>> = match opts.flows.as_deref() {
        None => None,
        Some("-") => Some(Box::new(BufWriter::with_capacity(
            1 << 16,
            io::stdout().lock(),
        ))),
        Some(path) => {
            let f = File::create(path).with_context(|| format!("{path}: cannot create"))?;
            Some(Box::new(BufWriter::with_capacity(1 << 16, f)))
        }
    };

    // Evidence: periods by capture time; retention by the wall clock.
    let evidence = opts.sensor.writer(evidence::now_s())?;
    let mut outs = Outputs {
        summary: Summary::default(),
        evidence,
        evidence_error: None,
        flows_out,
        write_error: None,
        eve: opts.eve.as_deref().map(Eve::create).transpose()?,
        stop: false,
    };
    // Each input's first and last packet time: the time the store says was watched.
    let mut spans: Vec<(i64, i64)> = Vec::new();

    let mut alert_out = opts.attacks.writer()?;
    if let Some(w) = alert_out.as_mut() {
        w.eve = outs.eve.clone();
    }
    let progress = progress_bar(&opts);
    let mut runner = if opts.threads <= 1 {
        let mut engine = Engine::new(opts.config.clone());
        let monitor = opts
            .thresholds
            .as_ref()
            .map(|t| Box::new(attacks::Monitor::new(t.clone())) as Box<dyn engine::Tap>);
        engine.set_tap(match &outs.eve {
            Some(e) => Some(e.tap(monitor)),
            None => monitor,
        });
        Runner::One(Box::new(engine))
    } else {
        let shared = opts.thresholds.clone().map(attacks::Shared::new);
        let taps = crate::eve::taps(shared.clone(), outs.eve.clone());
        let pool = Pool::start(parallel::Options {
            threads: opts.threads,
            config: opts.config.clone(),
            taps,
            json: outs.flows_out.is_some(),
            records: outs.evidence.is_some() || outs.eve.is_some(),
            round: parallel::ROUND,
        })?;
        Runner::Many(Box::new(pool), shared)
    };
    let mut frames = 0u64;

    let mut failed = false;
    let mut done_bytes = 0u64;
    for input in &opts.inputs {
        // Link types of this input that cannot be decoded (each named once), and how many of
        // its frames could be: an input none of whose frames could be is an error, one that
        // mixes interfaces (pcapng) is analysed where it can be.
        let mut unsupported: Vec<u16> = Vec::new();
        let mut supported_frames = 0u64;
        let mut span: Option<(i64, i64)> = None;
        let result = capture::read_shared(
            input,
            |p, offset, buf| {
                span = Some(span.map_or((p.ts_nanos, p.ts_nanos), |(a, b)| {
                    (a.min(p.ts_nanos), b.max(p.ts_nanos))
                }));
                let link = LinkType::from_number(p.linktype);
                if link.is_supported() {
                    supported_frames += 1;
                } else if !unsupported.contains(&p.linktype) {
                    unsupported.push(p.linktype);
                    progress.suspend(|| {
                        eprintln!(
                            "swarmwall: {input}: at byte {offset}: link type {} is not supported (expected Ethernet, Linux cooked SLL/SLL2, raw IPv4/IPv6, BSD NULL/LOOP, NFLOG, 802.11 bare or with radiotap/PPI, PPP, Cisco HDLC or Frame Relay); its packets are counted, not analysed",
                            p.linktype
                        )
                    });
                }
                frames += 1;
                match &mut runner {
                    Runner::One(engine) => {
                        engine.frame(link, p.ts_nanos, p.data, p.orig_len, &mut |r| {
                            outs.record(&r)
                        });
                        if frames.is_multiple_of(4096)
                            && let (Some(w), Some(m)) =
                                (alert_out.as_mut(), alerts::monitor_of(engine))
                        {
                            w.write(&m.due());
                        }
                    }
                    Runner::Many(pool, shared) => {
                        if pool.packet(p, buf, &mut |c| outs.chunk(c)).is_break() {
                            outs.stop = true;
                        }
                        if frames.is_multiple_of(4096)
                            && let (Some(w), Some(m)) = (alert_out.as_mut(), shared.as_ref())
                        {
                            w.write(&m.lock().due());
                        }
                    }
                }
                outs.go_on()
            },
            |bytes| progress.set_position(done_bytes + bytes),
        );
        // A round never spans two inputs.
        if let Runner::Many(pool, _) = &mut runner
            && !outs.stop
            && pool.end_round(&mut |c| outs.chunk(c)).is_break()
        {
            outs.stop = true;
        }
        failed |= !unsupported.is_empty() && supported_frames == 0;
        spans.extend(span.map(|(a, b)| (a.div_euclid(NS), b.div_euclid(NS))));
        match result {
            Ok(stats) if stats.stopped => break,
            Ok(stats) => done_bytes += stats.bytes,
            Err(e) => {
                failed = true;
                progress.suspend(|| eprintln!("swarmwall: {e}"));
                done_bytes += input.size().unwrap_or(0);
            }
        }
    }
    let mut attacks_text = None;
    let (totals, defrag, knowledge) = match runner {
        Runner::One(mut engine) => {
            if !outs.stop {
                engine.finish(&mut |r| outs.record(&r));
            }
            if let (Some(mut w), Some(m)) = (alert_out.take(), alerts::monitor_of(&mut engine)) {
                w.write(&m.finish());
                let lines = w.finish()?;
                attacks_text = Some(alerts::section(m, lines, opts.top));
            }
            let totals = *engine.totals();
            let defrag = *engine.defrag_stats();
            let knowledge = std::mem::replace(engine.knowledge_mut(), engine::Knowledge::new(1, 0));
            (totals, defrag, knowledge)
        }
        Runner::Many(pool, shared) => {
            let stopped = outs.stop;
            let done = pool.finish(stopped, &mut |c| outs.chunk(c))?;
            // The workers counted their records; this thread's summary is empty.
            outs.summary.merge(done.summary);
            if let (Some(mut w), Some(m)) = (alert_out.take(), shared) {
                let mut m = m.lock();
                w.write(&m.finish());
                let lines = w.finish()?;
                attacks_text = Some(alerts::section(&m, lines, opts.top));
            }
            (done.totals, done.defrag, done.knowledge)
        }
    };
    progress.finish_and_clear();
    outs.summary.finish(&knowledge);
    let mut evidence_line = None;
    if let Some(w) = outs.evidence.as_mut() {
        for (a, b) in spans {
            w.watched(a, b);
        }
        if outs.evidence_error.is_none()
            && let Err(e) = w.commit()
        {
            outs.evidence_error = Some(e);
        }
        for m in w.take_messages() {
            eprintln!("swarmwall: {m}");
        }
        evidence_line = Some(evidence::summary_line(w));
    }

    if let Some(mut out) = outs.flows_out.take() {
        if let Some(e) = outs.write_error.take() {
            return Err(anyhow::Error::new(e).context(format!(
                "{}: cannot write flow records",
                opts.flows.unwrap_or_default()
            )));
        }
        out.flush().with_context(|| {
            format!(
                "{}: cannot write flow records",
                opts.flows.unwrap_or_default()
            )
        })?;
    }
    if let Some(e) = &outs.eve {
        e.finish()?;
    }
    if let Some(e) = outs.evidence_error {
        // What was committed before stays in the store; the flow records are written.
        return Err(anyhow::Error::new(e)
            .context("evidence not written (the rows committed before are kept)"));
    }
    let mut text = summary::render(
        &totals,
        &outs.summary,
        &knowledge,
        &defrag,
        &format!(
            "analyze: {} file{}",
            opts.inputs.len(),
            if opts.inputs.len() == 1 { "" } else { "s" }
        ),
        opts.top,
    );
    if let Some(a) = attacks_text {
        text.push_str(&a);
    }
    if let Some(line) = evidence_line {
        text.push_str(&format!("\n{line}\n"));
    }
    if flows_to_stdout {
        io::stderr().write_all(text.as_bytes())?;
    } else {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether two paths name the same existing file.
fn same_file(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn progress_bar(opts: &Options) -> ProgressBar {
    if !opts.progress {
        return ProgressBar::hidden();
    }
    let total: Option<u64> = opts.inputs.iter().map(Input::size).sum();
    let bar = match total {
        Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let style = ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
