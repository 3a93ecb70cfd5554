//! `swarmwall-bench table`: the README's performance table in one command.
//!
//! Both benchmark captures (built when missing), every tool in the same run, run after run
//! (so that this machine's drift hits them alike): `swarmwall analyze --flows /dev/null` on
//! one thread (pinned to one core) and on two, `capinfos -c`, nDPI 4.2 in C (the reader in
//! `../shared/bench`, built here when `libndpi-dev` is installed) and nfstream (once: it is
//! slow). Seconds (median and best), Gbit/s and Mpps from the median, peak RSS of each
//! process, and heap bytes per tracked flow counted in this process
//! ([`crate::alloc::Counting`]). With `--markdown FILE` the section between
//! `<!-- bench:table -->` and `<!-- /bench:table -->` is replaced, with the commit and date.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use engine::{Config, Engine};
use wire::LinkType;

use crate::alloc;

pub struct Args {
    pub bt_heavy: PathBuf,
    pub mix: PathBuf,
    pub repeat: u32,
    pub swarmwall: PathBuf,
    pub ndpi_reader: Option<PathBuf>,
    pub ndpi_python: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub corpus: PathBuf,
}

/// One measured command: wall seconds of each run, and the largest peak RSS seen.
struct Tool {
    name: String,
    /// Program and arguments; `{}` is the capture.
    argv: Vec<String>,
    /// Pinned to one core.
    one_core: bool,
    runs: u32,
    secs: Vec<f64>,
    rss_kb: u64,
}

impl Tool {
    fn new(name: &str, argv: &[&str], one_core: bool, runs: u32) -> Tool {
        Tool {
            name: name.to_string(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            one_core,
            runs,
            secs: Vec::new(),
            rss_kb: 0,
        }
    }

    /// Runs once on `file` (under GNU time for the peak RSS).
    fn run(&mut self, file: &Path) -> Result<()> {
        let rss = std::env::temp_dir().join(format!("swarmwall-bench-rss-{}", std::process::id()));
        let mut cmd = Command::new("/usr/bin/time");
        cmd.args(["-f", "%M", "-o"]).arg(&rss);
        if self.one_core {
            cmd.args(["taskset", "-c", "0"]);
        }
        for a in &self.argv {
            if a == "{}" {
                cmd.arg(file);
            } else {
                cmd.arg(a);
            }
        }
        let t = Instant::now();
        let out = cmd
            .output()
            .with_context(|| format!("{}: cannot run", self.name))?;
        let secs = t.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "{} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let kb = std::fs::read_to_string(&rss)
            .ok()
            .and_then(|s| s.lines().last()?.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let _ = std::fs::remove_file(&rss);
        self.secs.push(secs);
        self.rss_kb = self.rss_kb.max(kb);
        Ok(())
    }

    fn median(&self) -> Option<f64> {
        let mut v = self.secs.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }

    fn best(&self) -> Option<f64> {
        self.secs.iter().copied().min_by(f64::total_cmp)
    }
}

/// What one capture gave.
struct Measured {
    file: PathBuf,
    bytes: u64,
    packets: u64,
    tools: Vec<Tool>,
    memory: alloc::PerFlow,
}

pub fn run(a: &Args) -> Result<()> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench");
    if !a.bt_heavy.exists() {
        eprintln!("building {} (make-bt-heavy.sh)", a.bt_heavy.display());
        let ok = Command::new(shared.join("make-bt-heavy.sh"))
            .arg(&a.bt_heavy)
            .status()
            .context("make-bt-heavy.sh")?;
        if !ok.success() {
            bail!("make-bt-heavy.sh failed");
        }
    }
    if !a.mix.exists() {
        eprintln!("building {} (make-capture, 1800 MB)", a.mix.display());
        crate::make::capture(&a.corpus, &a.mix, 1_800_000_000)?;
    }
    let ndpi = match &a.ndpi_reader {
        Some(p) => Some(p.clone()),
        None => build_ndpi_reader(&shared),
    };
    let mut results = Vec::new();
    for file in [&a.bt_heavy, &a.mix] {
        results.push(measure(a, file, ndpi.as_deref())?);
    }
    let text = render(&results, a.repeat)?;
    print!("{text}");
    if let Some(md) = &a.markdown {
        replace_section(md, &text)?;
        eprintln!("{}: performance table replaced", md.display());
    }
    Ok(())
}

/// Builds the nDPI reader in a temporary directory; `None` (said) without libndpi-dev.
fn build_ndpi_reader(shared: &Path) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join("swarmwall-bench-ndpi");
    let _ = std::fs::create_dir_all(&dir);
    for f in ["ndpi_reader.c", "Makefile"] {
        if std::fs::copy(shared.join(f), dir.join(f)).is_err() {
            eprintln!(
                "note: {} not found: no nDPI figure",
                shared.join(f).display()
            );
            return None;
        }
    }
    let ok = Command::new("make")
        .args(["-s", "-C"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(dir.join("ndpi_reader"))
    } else {
        eprintln!("note: cannot build the nDPI reader (apt-get install libndpi-dev libpcap-dev)");
        None
    }
}

fn measure(a: &Args, file: &Path, ndpi: Option<&Path>) -> Result<Measured> {
    let sw = a.swarmwall.to_string_lossy().to_string();
    let analyze = |threads: &str| {
        vec![
            sw.clone(),
            "analyze".into(),
            "--quiet".into(),
            "--flows".into(),
            "/dev/null".into(),
            "--threads".into(),
            threads.to_string(),
            "{}".into(),
        ]
    };
    fn argv(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let mut tools = vec![
        Tool::new(
            "swarmwall analyze --flows /dev/null, 1 thread",
            &argv(&analyze("1")),
            true,
            a.repeat,
        ),
        Tool::new(
            "swarmwall analyze --flows /dev/null, 2 threads",
            &argv(&analyze("2")),
            false,
            a.repeat,
        ),
        Tool::new("capinfos -c", &["capinfos", "-c", "{}"], true, a.repeat),
    ];
    if let Some(n) = ndpi {
        let n = n.to_string_lossy().to_string();
        tools.push(Tool::new(
            "nDPI 4.2 in C (ndpi_reader -q), 1 thread",
            &[&n, "-q", "{}"],
            true,
            a.repeat,
        ));
    }
    if let Some(py) = &a.ndpi_python {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/ndpi_flows.py");
        let out = std::env::temp_dir().join("swarmwall-bench-nfstream.jsonl");
        let (py, script, out) = (
            py.to_string_lossy().to_string(),
            script.to_string_lossy().to_string(),
            out.to_string_lossy().to_string(),
        );
        tools.push(Tool::new(
            "nfstream 6.6 (nDPI 5.0, Python), 1 run",
            &[&py, &script, "{}", &out],
            true,
            1,
        ));
    }
    // The file into the page cache, then every tool once per round.
    let _ = Command::new("cat")
        .arg(file)
        .stdout(std::process::Stdio::null())
        .status();
    for round in 0..a.repeat {
        for t in tools.iter_mut().filter(|t| round < t.runs) {
            eprintln!("{}: {} (run {})", file.display(), t.name, round + 1);
            if let Err(e) = t.run(file) {
                eprintln!("note: {e:#}");
            }
        }
    }
    let bytes = std::fs::metadata(file)?.len();
    let memory = alloc::per_flow(file)?;
    Ok(Measured {
        file: file.to_path_buf(),
        bytes,
        packets: memory.packets,
        tools,
        memory,
    })
}

fn render(results: &[Measured], repeat: u32) -> Result<String> {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut s = String::new();
    writeln!(
        s,
        "Measured by `swarmwall-bench table` at commit {commit} on {date}, {cores} cores; \
         median of {repeat} runs taken in turn (best in brackets), files in the page cache; \
         Gbit/s = file bytes × 8 / median time; one-thread tools pinned to one core.\n"
    )?;
    for m in results {
        writeln!(
            s,
            "**{}** ({:.2} GB, {:.2} M packets)\n",
            m.file
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default(),
            m.bytes as f64 / 1e9,
            m.packets as f64 / 1e6
        )?;
        writeln!(s, "| | seconds | Gbit/s | Mpps | peak RSS |")?;
        writeln!(s, "|---|---|---|---|---|")?;
        for t in &m.tools {
            let (Some(med), Some(best)) = (t.median(), t.best()) else {
                writeln!(s, "| {} | (did not run) | | | |", t.name)?;
                continue;
            };
            writeln!(
                s,
                "| {} | {:.3} ({:.3}) | {:.2} | {:.2} | {} MB |",
                t.name,
                med,
                best,
                m.bytes as f64 * 8.0 / med / 1e9,
                m.packets as f64 / med / 1e6,
                t.rss_kb / 1024
            )?;
        }
        let med = |i: usize| m.tools.get(i).and_then(Tool::median);
        let mut ratios = Vec::new();
        if let (Some(one), Some(cap)) = (med(0), med(2)) {
            ratios.push(format!("one thread **{:.2}×** `capinfos -c`", cap / one));
        }
        if let (Some(one), Some(nd)) = (med(0), med(3)) {
            ratios.push(format!("**{:.2}×** nDPI in C", nd / one));
        }
        if let (Some(one), Some(two)) = (med(0), med(1)) {
            ratios.push(format!("two threads **{:.2}×** one thread", one / two));
        }
        writeln!(s, "\nswarmwall: {}.", ratios.join(", "))?;
        s.push_str(&memory_paragraph(&m.memory)?);
    }
    Ok(s)
}

/// The README's paragraph on heap per tracked flow.
pub fn memory_paragraph(mem: &alloc::PerFlow) -> Result<String> {
    let mut s = String::new();
    if mem.mean_flows >= 1000.0 {
        writeln!(
            s,
            "Per tracked flow, on average over the second half of the file ({:.0} k flows \
             tracked on average): **{:.0} bytes** of flow table (the table's own \
             accounting: entries with their state inline, index), **{:.0} bytes** of heap \
             in all (a counting allocator: everything the engine holds — detector \
             buffers, learned endpoints, records held for relabelling — charged to the \
             flows). At the most flows ({:.0} k): {:.1} MB of heap, of which flow table \
             {:.1} MB, reassembly buffers {:.1} MB, learned endpoints and hosts {:.1} MB, \
             held records {:.1} MB, state of the detectors still running {:.1} MB, \
             per-flow extras {:.1} MB, the rest {:.1} MB.\n",
            mem.mean_flows / 1e3,
            mem.table_per_flow,
            mem.bytes_per_flow,
            mem.at_max.flows as f64 / 1e3,
            mem.heap_at_max as f64 / 1e6,
            mem.at_max.flow_table as f64 / 1e6,
            mem.at_max.reassembly as f64 / 1e6,
            mem.at_max.knowledge as f64 / 1e6,
            mem.at_max.held as f64 / 1e6,
            mem.at_max.detectors as f64 / 1e6,
            mem.at_max.extras as f64 / 1e6,
            (mem.heap_at_max as f64
                - (mem.at_max.flow_table
                    + mem.at_max.reassembly
                    + mem.at_max.knowledge
                    + mem.at_max.held
                    + mem.at_max.detectors
                    + mem.at_max.extras) as f64)
                / 1e6,
        )?;
    } else {
        writeln!(
            s,
            "Bytes per tracked flow: not measured on this file (at most {} flows tracked \
             at once: fixed costs would dominate).\n",
            mem.at_max.flows
        )?;
    }
    Ok(s)
}

const START: &str = "<!-- bench:table -->";
const END: &str = "<!-- /bench:table -->";

fn replace_section(md: &Path, text: &str) -> Result<()> {
    let doc = std::fs::read_to_string(md).with_context(|| format!("{}", md.display()))?;
    let (Some(a), Some(b)) = (doc.find(START), doc.find(END)) else {
        bail!("{}: no {START} … {END} section", md.display());
    };
    if b < a {
        bail!("{}: {END} before {START}", md.display());
    }
    let new = format!("{}{START}\n{text}{}", &doc[..a], &doc[b..]);
    std::fs::write(md, new).with_context(|| format!("{}", md.display()))?;
    Ok(())
}

/// Runs one engine over `file` in this process (records counted, not kept), sampling the
/// heap in use and the flows tracked every 64 Ki packets.
pub fn engine_samples(
    file: &Path,
    counting: bool,
    mut sample: impl FnMut(u64, engine::Memory),
) -> Result<u64> {
    let input = swarmwall_io::capture::Input::Path(file.to_path_buf());
    // With `counting`, the allocator counts only inside the engine (its creation and each
    // frame), not the reader's buffers.
    crate::alloc::count(counting);
    let mut engine = Engine::new(Config::default());
    crate::alloc::count(false);
    let mut n = 0u64;
    let mut ended = 0u64;
    swarmwall_io::capture::read(
        &input,
        |p, _| {
            crate::alloc::count(counting);
            engine.frame(
                LinkType::from_number(p.linktype),
                p.ts_nanos,
                p.data,
                p.orig_len,
                &mut |_| ended += 1,
            );
            crate::alloc::count(false);
            n += 1;
            if n.is_multiple_of(1 << 16) {
                sample(n, engine.memory());
            }
            std::ops::ControlFlow::Continue(())
        },
        |_| {},
    )?;
    std::hint::black_box(ended);
    Ok(n)
}
