//! `swarmwall report`: one self-contained HTML file from flow records (`--flows` output) or
//! captures (analysed here, with the attack detectors), see [`swarmwall_io::report`].

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine::{Config, Engine};
use swarmwall_io::capture::{self, Input};
use swarmwall_io::record;
use swarmwall_io::report::Report;
use wire::LinkType;

use crate::alerts;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flow records (JSON lines, as `analyze --flows` writes them) or captures (pcap,
    /// pcapng), told apart by their first bytes.
    #[arg(required = true, value_name = "FILE")]
    inputs: Vec<PathBuf>,

    /// The HTML file to write.
    #[arg(short, long, value_name = "PATH")]
    output: PathBuf,

    /// Alert lines to show (`--alerts` output of `analyze`, `watch` or `enforce`); alerts of
    /// captures given as inputs are found here with the default thresholds.
    #[arg(long, value_name = "FILE")]
    alerts: Vec<PathBuf>,

    /// The report's title.
    #[arg(long, default_value = "swarmwall report")]
    title: String,

    /// Rows in the top tables.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut report = Report::default();
    for path in &args.inputs {
        let mut head = [0u8; 1];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .with_context(|| format!("{}: cannot read", path.display()))?;
        if n == 1 && (head[0] == b'{' || head[0].is_ascii_whitespace()) {
            json_lines(path, |v| report.add(&v))?;
        } else {
            capture_file(path, &mut report)?;
        }
    }
    for path in &args.alerts {
        json_lines(path, |v| report.alert(&v))?;
    }
    let html = report.html(&args.title, args.top);
    // Written beside the target and renamed over it: a failure leaves no half page.
    let tmp = args.output.with_extension("html.tmp");
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(html.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &args.output));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(
            anyhow::Error::new(e).context(format!("{}: cannot write", args.output.display()))
        );
    }
    eprintln!(
        "swarmwall report: {} ({} bytes){}",
        args.output.display(),
        html.len(),
        if report.skipped > 0 {
            format!("; {} records without times skipped", report.skipped)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Calls `each` with every JSON object of a JSON-lines file; a line that is not one is an
/// error naming the file and line.
fn json_lines(path: &Path, mut each: impl FnMut(serde_json::Value)) -> Result<()> {
    let f = File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: cannot read", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(v) if v.is_object() => each(v),
            Ok(_) => bail!("{}:{}: expected a JSON object", path.display(), i + 1),
            Err(e) => bail!("{}:{}: not JSON: {e}", path.display(), i + 1),
        }
    }
    Ok(())
}

/// Analyses a capture on one engine with the attack detectors (default thresholds).
fn capture_file(path: &Path, report: &mut Report) -> Result<()> {
    let mut engine = Engine::new(Config::default());
    engine.set_tap(Some(Box::new(attacks::Monitor::new(
        attacks::Thresholds::default(),
    ))));
    let mut alerts_seen = Vec::new();
    let input = Input::Path(path.to_path_buf());
    let mut frames = 0u64;
    capture::read(
        &input,
        |p, _| {
            engine.frame(
                LinkType::from_number(p.linktype),
                p.ts_nanos,
                p.data,
                p.orig_len,
                &mut |r| report.add(&json(&r)),
            );
            frames += 1;
            if frames.is_multiple_of(4096)
                && let Some(m) = alerts::monitor_of(&mut engine)
            {
                alerts_seen.extend(m.due());
            }
            ControlFlow::Continue(())
        },
        |_| {},
    )?;
    engine.finish(&mut |r| report.add(&json(&r)));
    if let Some(m) = alerts::monitor_of(&mut engine) {
        alerts_seen.extend(m.finish());
    }
    for a in &alerts_seen {
        report.alert(&alerts::to_json(a));
    }
    Ok(())
}

fn json(r: &engine::FlowRecord) -> serde_json::Value {
    serde_json::to_value(record::Json::new(r)).unwrap_or(serde_json::Value::Null)
}
