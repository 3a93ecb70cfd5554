//! `swarmwall-bench`: builds a large mixed capture from the corpus and measures how fast
//! `swarmwall analyze` goes through it, next to the cost of merely reading its records.
//!
//! ```text
//! swarmwall-bench make-capture --out /tmp/mix.pcap --size-mb 1800
//! swarmwall-bench run /tmp/mix.pcap
//! ```
//! Throughput is file bytes × 8 per second (Gbit/s) and records per second (Mpps), on one
//! core, best of `--repeat` runs with the file in the page cache.

mod alloc;
mod flood;
mod make;
mod table;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use engine::{Config, Engine};
use wire::LinkType;

#[derive(Debug, Parser)]
#[command(
    name = "swarmwall-bench",
    about = "Throughput benchmark of swarmwall analyze"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Write a large pcap by replaying the corpus captures with rewritten addresses.
    MakeCapture {
        #[arg(long)]
        out: PathBuf,
        /// Approximate size of the output, in MB.
        #[arg(long, default_value_t = 1800)]
        size_mb: u64,
        /// The corpus directory (with lab/ and public/ndpi/).
        #[arg(long, default_value = "../shared/corpus")]
        corpus: PathBuf,
    },
    /// Write a small capture holding the first packets of every flow of the lab captures
    /// (the bundled sample the README analyzes).
    MakeSample {
        #[arg(long)]
        out: PathBuf,
        /// Packets kept per flow.
        #[arg(long, default_value_t = 16)]
        per_flow: usize,
        #[arg(long, default_value = "../shared/corpus")]
        corpus: PathBuf,
    },
    /// Measure record iteration, header decoding and the whole analysis on a capture.
    Run {
        file: PathBuf,
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        /// The swarmwall binary to time end to end (default: next to this one).
        #[arg(long)]
        swarmwall: Option<PathBuf>,
        /// Also time nDPI through nfstream (lab/ndpi_flows.py) with this Python (e.g.
        /// lab/.venv/bin/python, made by lab/setup); run once, it is slow.
        #[arg(long)]
        ndpi_python: Option<PathBuf>,
    },
    /// The cost of the evidence store: `swarmwall analyze --quiet` on FILE without and with
    /// `--evidence` (a new SQLite file each run), and optionally a base build without the
    /// store, interleaved run by run.
    Evidence {
        file: PathBuf,
        #[arg(long, default_value_t = 5)]
        repeat: u32,
        /// The swarmwall binary (default: next to this one).
        #[arg(long)]
        swarmwall: Option<PathBuf>,
        /// An older swarmwall to compare `analyze` without `--evidence` with.
        #[arg(long)]
        base: Option<PathBuf>,
    },
    /// The cost of the attack detectors: `swarmwall analyze --quiet` on FILE without and with
    /// `--alerts /dev/null`, and optionally a base build, interleaved run by run.
    Alerts {
        file: PathBuf,
        #[arg(long, default_value_t = 5)]
        repeat: u32,
        #[arg(long)]
        swarmwall: Option<PathBuf>,
        /// An older swarmwall to compare `analyze` without `--alerts` with.
        #[arg(long)]
        base: Option<PathBuf>,
    },
    /// The README's performance table: both benchmark captures (built when missing), swarmwall
    /// on one and two threads, capinfos, nDPI in C and nfstream, in the same run; peak RSS and
    /// heap bytes per tracked flow. `--markdown README.md` replaces the table there.
    Table {
        #[arg(long, default_value = "/tmp/bench-bt-heavy.pcap")]
        bt_heavy: PathBuf,
        #[arg(long, default_value = "/tmp/mix.pcap")]
        mix: PathBuf,
        #[arg(long, default_value_t = 5)]
        repeat: u32,
        /// The swarmwall binary (default: next to this one).
        #[arg(long)]
        swarmwall: Option<PathBuf>,
        /// The nDPI reader (default: built from ../shared/bench when libndpi-dev is there).
        #[arg(long)]
        ndpi_reader: Option<PathBuf>,
        /// Also time nfstream (lab/ndpi_flows.py) with this Python (lab/.venv/bin/python).
        #[arg(long)]
        ndpi_python: Option<PathBuf>,
        /// Replace the table between `<!-- bench:table -->` markers in this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
        #[arg(long, default_value = "../shared/corpus")]
        corpus: PathBuf,
    },
    /// Memory of the attack detectors under a flood of random sources (forged uTP data, KRPC
    /// queries and responses with fresh ids, reset storms), in this process: table entries
    /// and peak RSS after each step, against the configured bound.
    /// Heap per tracked flow on a capture (the table's memory paragraph alone): one engine,
    /// a counting allocator.
    Memory { file: PathBuf },
    Flood {
        /// Packets per step; the flood runs `--steps` steps.
        #[arg(long, default_value_t = 1_000_000)]
        packets: u64,
        #[arg(long, default_value_t = 4)]
        steps: u32,
        /// `max_state` of the thresholds (entries per table; incidents: one per 16).
        #[arg(long, default_value_t = 16_384)]
        max_state: u32,
        /// The engine alone (its own bounded tables), to see what the monitor adds.
        #[arg(long)]
        without_monitor: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Table {
            bt_heavy,
            mix,
            repeat,
            swarmwall,
            ndpi_reader,
            ndpi_python,
            markdown,
            corpus,
        } => table::run(&table::Args {
            bt_heavy,
            mix,
            repeat: repeat.max(1),
            swarmwall: swarmwall_bin(swarmwall)?,
            ndpi_reader,
            ndpi_python,
            markdown,
            corpus,
        }),
        Cmd::MakeCapture {
            out,
            size_mb,
            corpus,
        } => make::capture(&corpus, &out, size_mb * 1_000_000),
        Cmd::MakeSample {
            out,
            per_flow,
            corpus,
        } => make::sample(&corpus, &out, per_flow),
        Cmd::Run {
            file,
            repeat,
            swarmwall,
            ndpi_python,
        } => run(&file, repeat.max(1), swarmwall, ndpi_python),
        Cmd::Evidence {
            file,
            repeat,
            swarmwall,
            base,
        } => evidence_cost(&file, repeat.max(1), swarmwall, base),
        Cmd::Alerts {
            file,
            repeat,
            swarmwall,
            base,
        } => alerts_cost(&file, repeat.max(1), swarmwall, base),
        Cmd::Memory { file } => {
            print!("{}", table::memory_paragraph(&alloc::per_flow(&file)?)?);
            Ok(())
        }
        Cmd::Flood {
            packets,
            steps,
            max_state,
            without_monitor,
        } => flood::run(packets, steps.max(1), max_state, !without_monitor),
    }
}

/// A timed command: its name in the report, the binary, its arguments.
type Run<'a> = (&'static str, &'a PathBuf, &'a [&'a str]);

/// Runs every command once per round, `repeat` rounds (interleaved, so that the machine's
/// drift touches them alike; `prepare(i)` before command `i`), prints best, median and worst
/// of each, and returns the medians.
fn interleaved(
    file: &Path,
    repeat: u32,
    runs: &[Run<'_>],
    mut prepare: impl FnMut(usize),
) -> Result<Vec<f64>> {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    for _ in 0..repeat {
        for (i, (name, bin, args)) in runs.iter().enumerate() {
            prepare(i);
            let t = timed(1, bin, args).with_context(|| format!("{name} failed"))?;
            times[i].push(t.as_secs_f64());
        }
    }
    let size = std::fs::metadata(file)?.len();
    println!(
        "{} ({:.2} GB), {repeat} interleaved runs each, seconds:",
        file.display(),
        size as f64 / 1e9
    );
    let mut medians = Vec::new();
    for ((name, _, _), v) in runs.iter().zip(&mut times) {
        v.sort_by(f64::total_cmp);
        println!(
            "  {name:<30} best {:.3}  median {:.3}  worst {:.3}",
            v[0],
            v[v.len() / 2],
            v[v.len() - 1]
        );
        medians.push(v[v.len() / 2]);
    }
    Ok(medians)
}

/// The swarmwall binary to time: the one given, or the one next to this benchmark.
fn swarmwall_bin(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(b) => Ok(b),
        None => Ok(std::env::current_exe()?.with_file_name("swarmwall")),
    }
}

/// Times `analyze` without and with `--alerts`, interleaved (and a base build without).
fn alerts_cost(
    file: &Path,
    repeat: u32,
    swarmwall: Option<PathBuf>,
    base: Option<PathBuf>,
) -> Result<()> {
    let bin = swarmwall_bin(swarmwall)?;
    let f = file.to_str().context("file name is not UTF-8")?;
    let without = ["analyze", "--quiet", f];
    let with = ["analyze", "--quiet", f, "--alerts", "/dev/null"];
    let mut runs: Vec<Run<'_>> = vec![
        ("analyze", &bin, &without[..]),
        ("analyze --alerts", &bin, &with[..]),
    ];
    if let Some(b) = &base {
        runs.push(("analyze, base build", b, &without[..]));
    }
    let med = interleaved(file, repeat, &runs, |_| {})?;
    println!(
        "  --alerts costs {:+.1}% (medians)",
        (med[1] / med[0] - 1.0) * 100.0
    );
    if base.is_some() {
        println!(
            "  without --alerts, against the base: {:+.1}% (medians)",
            (med[0] / med[2] - 1.0) * 100.0
        );
    }
    Ok(())
}

/// Times `analyze` without and with the evidence store, interleaved.
fn evidence_cost(
    file: &Path,
    repeat: u32,
    swarmwall: Option<PathBuf>,
    base: Option<PathBuf>,
) -> Result<()> {
    let bin = swarmwall_bin(swarmwall)?;
    let dir = std::env::temp_dir().join(format!("swarmwall-bench-evidence-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = dir.join("evidence.db");
    let keys = dir.join("keys");
    let f = file.to_str().context("file name is not UTF-8")?;
    let (s, k) = (
        store.to_str().context("temp dir")?,
        keys.to_str().context("temp dir")?,
    );
    // A retention of a century: the capture's days are all stored, whenever it was made.
    let with = [
        "analyze",
        "--quiet",
        f,
        "--evidence",
        s,
        "--key",
        k,
        "--retention",
        "36500",
    ];
    let without = ["analyze", "--quiet", f];
    let mut runs: Vec<Run<'_>> = vec![
        ("analyze", &bin, &without[..]),
        ("analyze --evidence (SQLite)", &bin, &with[..]),
    ];
    if let Some(b) = &base {
        runs.push(("analyze, base build", b, &without[..]));
    }
    let med = interleaved(file, repeat, &runs, |i| {
        if i == 1 {
            // A new store each run.
            let _ = std::fs::remove_file(&store);
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("evidence.db{suffix}")));
            }
            let _ = std::fs::remove_file(&keys);
        }
    })?;
    println!(
        "  --evidence costs {:+.1}% (medians)",
        (med[1] / med[0] - 1.0) * 100.0
    );
    if base.is_some() {
        println!(
            "  without --evidence, against the base: {:+.1}% (medians)",
            (med[0] / med[2] - 1.0) * 100.0
        );
    }
    let stats = Command::new(&bin)
        .args(["evidence", "stats", "--evidence", s, "--json"])
        .output()?;
    let rows = String::from_utf8_lossy(&stats.stdout).trim().to_string();
    println!("  store after the last run: {rows}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// One measured line of the report.
struct Line {
    name: &'static str,
    best: Duration,
    packets: u64,
}

fn best_of<F: FnMut() -> Result<u64>>(repeat: u32, mut f: F) -> Result<(Duration, u64)> {
    let mut best = Duration::MAX;
    let mut packets = 0;
    for _ in 0..repeat {
        let t = Instant::now();
        packets = f()?;
        best = best.min(t.elapsed());
    }
    Ok((best, packets))
}

#[allow(unsafe_code)]
fn map(path: &Path) -> Result<memmap2::Mmap> {
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    // SAFETY: read-only map of a file this benchmark made and nobody modifies while it runs.
    let m = unsafe { memmap2::Mmap::map(&f)? };
    Ok(m)
}

fn run(
    file: &Path,
    repeat: u32,
    swarmwall: Option<PathBuf>,
    ndpi_python: Option<PathBuf>,
) -> Result<()> {
    let size = std::fs::metadata(file)?.len();
    let data = map(file)?;
    let mut lines = Vec::new();

    // 1. Just iterate the records (the floor: what any reader must pay).
    let (best, packets) = best_of(repeat, || {
        let mut p = capfile::Parser::new();
        let mut rest: &[u8] = &data;
        let mut n = 0u64;
        let mut sum = 0u64;
        while let Some((ev, used)) = p.next(rest)? {
            if let capfile::Event::Packet(pkt) = ev {
                n += 1;
                sum = sum.wrapping_add(u64::from(pkt.orig_len));
            }
            rest = &rest[used..];
        }
        std::hint::black_box(sum);
        Ok(n)
    })?;
    lines.push(Line {
        name: "iterate records (capfile)",
        best,
        packets,
    });

    // 1a. Read (not mapped) and iterate the records, and with each packet's worker chosen
    // from its addresses: what every reader of `analyze --threads` pays for the whole file.
    for (name, shard) in [
        ("read + iterate records (io::capture)", false),
        ("read + iterate + choose worker", true),
    ] {
        let input = swarmwall_io::capture::Input::Path(file.to_path_buf());
        let (best, packets) = best_of(repeat, || {
            let mut n = 0u64;
            let mut sum = 0u64;
            swarmwall_io::capture::read(
                &input,
                |p, _| {
                    n += 1;
                    sum = sum.wrapping_add(if shard {
                        wire::pair_hash(LinkType::from_number(p.linktype), p.data).unwrap_or(0)
                            >> 63
                    } else {
                        u64::from(p.orig_len)
                    });
                    std::ops::ControlFlow::Continue(())
                },
                |_| {},
            )?;
            std::hint::black_box(sum);
            Ok(n)
        })?;
        lines.push(Line {
            name,
            best,
            packets,
        });
    }

    // 1b. The same with pcap-parser, the pure-Rust crate we did not use.
    if let Ok(mut slice) = pcap_parser::LegacyPcapSlice::from_slice(&data) {
        let t = Instant::now();
        let mut n = 0u64;
        let mut sum = 0u64;
        for b in slice.by_ref() {
            match b {
                Ok(pcap_parser::PcapBlockOwned::Legacy(b)) => {
                    n += 1;
                    sum = sum.wrapping_add(u64::from(b.origlen));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        std::hint::black_box(sum);
        lines.push(Line {
            name: "iterate records (pcap-parser 0.17)",
            best: t.elapsed(),
            packets: n,
        });
    }

    // 2. Decode every frame down to TCP/UDP, ours and etherparse's.
    let frames = collect_frames(&data)?;
    let (best, packets) = best_of(repeat, || {
        let mut ok = 0u64;
        for (link, f) in &frames {
            if wire::decode(LinkType::from_number(*link), f).is_ok() {
                ok += 1;
            }
        }
        std::hint::black_box(ok);
        Ok(frames.len() as u64)
    })?;
    lines.push(Line {
        name: "iterate + decode headers (wire)",
        best,
        packets,
    });
    let (best, packets) = best_of(repeat, || {
        let mut ok = 0u64;
        for (link, f) in &frames {
            if *link == 1
                && etherparse::LaxSlicedPacket::from_ethernet(f)
                    .is_ok_and(|p| p.transport.is_some())
            {
                ok += 1;
            }
        }
        std::hint::black_box(ok);
        Ok(frames.len() as u64)
    })?;
    lines.push(Line {
        name: "iterate + decode headers (etherparse 0.21)",
        best,
        packets,
    });
    drop(frames);

    // 3. The whole analysis, in process: engine, flow records and summary.
    let (best, packets) = best_of(repeat, || {
        let mut engine = Engine::new(Config::default());
        let mut summary = engine::report::Summary::default();
        let mut p = capfile::Parser::new();
        let mut rest: &[u8] = &data;
        let mut n = 0;
        while let Some((ev, used)) = p.next(rest)? {
            if let capfile::Event::Packet(pkt) = ev {
                n += 1;
                engine.frame(
                    LinkType::from_number(pkt.linktype),
                    pkt.ts_nanos,
                    pkt.data,
                    pkt.orig_len,
                    &mut |r| summary.add(&r),
                );
            }
            rest = &rest[used..];
        }
        engine.finish(&mut |r| summary.add(&r));
        std::hint::black_box(summary.bittorrent());
        Ok(n)
    })?;
    lines.push(Line {
        name: "analyze (engine, in process)",
        best,
        packets,
    });

    // 4. End to end: the binary, and capinfos -c as the reference reader.
    let bin = swarmwall.unwrap_or_else(|| {
        std::env::current_exe()
            .map(|p| p.with_file_name("swarmwall"))
            .unwrap_or_else(|_| "swarmwall".into())
    });
    let analyze = timed(
        repeat,
        &bin,
        &["analyze", "--quiet", &file.to_string_lossy()],
    );
    if let Some(best) = analyze {
        lines.push(Line {
            name: "swarmwall analyze --quiet (process)",
            best,
            packets,
        });
    } else {
        eprintln!(
            "note: {} not found or failed; build it with cargo build --release",
            bin.display()
        );
    }
    let capinfos = timed(
        repeat,
        Path::new("capinfos"),
        &["-c", &file.to_string_lossy()],
    );
    if let Some(best) = capinfos {
        lines.push(Line {
            name: "capinfos -c (process)",
            best,
            packets,
        });
    } else {
        eprintln!("note: capinfos not found (apt-get install tshark) - no reference figure");
    }

    if let Some(py) = ndpi_python {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/ndpi_flows.py");
        let out = std::env::temp_dir().join("swarmwall-bench-ndpi.jsonl");
        let args = [
            script.to_string_lossy(),
            file.to_string_lossy(),
            out.to_string_lossy(),
        ];
        let args: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
        match timed(1, &py, &args) {
            Some(best) => lines.push(Line {
                name: "nDPI 5.0 via nfstream 6.6 (process, 1 run)",
                best,
                packets,
            }),
            None => eprintln!(
                "note: {} could not run lab/ndpi_flows.py (run lab/setup)",
                py.display()
            ),
        }
        let _ = std::fs::remove_file(out);
    }

    println!(
        "file: {} ({:.1} MB, {} records)",
        file.display(),
        size as f64 / 1e6,
        packets
    );
    println!("{:<44} {:>9} {:>9} {:>8}", "", "seconds", "Gbit/s", "Mpps");
    for l in &lines {
        let s = l.best.as_secs_f64();
        println!(
            "{:<44} {:>9.3} {:>9.2} {:>8.2}",
            l.name,
            s,
            size as f64 * 8.0 / s / 1e9,
            l.packets as f64 / s / 1e6
        );
    }
    if let (Some(a), Some(c)) = (analyze, capinfos) {
        println!(
            "swarmwall analyze runs at {:.2}x the speed of capinfos -c on this file",
            c.as_secs_f64() / a.as_secs_f64()
        );
    }
    Ok(())
}

/// Every frame of a capture with its link type (copied once, so decoding is timed alone).
fn collect_frames(data: &[u8]) -> Result<Vec<(u16, Vec<u8>)>> {
    let mut p = capfile::Parser::new();
    let mut rest = data;
    let mut out = Vec::new();
    while let Some((ev, used)) = p.next(rest)? {
        if let capfile::Event::Packet(pkt) = ev {
            out.push((pkt.linktype, pkt.data.to_vec()));
        }
        rest = &rest[used..];
    }
    if out.is_empty() {
        bail!("no packets");
    }
    Ok(out)
}

/// Best wall time of a command, or None if it cannot run or fails.
fn timed(repeat: u32, bin: &Path, args: &[&str]) -> Option<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..repeat {
        let t = Instant::now();
        let out = Command::new(bin).args(args).output().ok()?;
        if !out.status.success() {
            return None;
        }
        best = best.min(t.elapsed());
    }
    Some(best)
}
