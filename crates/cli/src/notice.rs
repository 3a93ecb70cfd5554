//! `swarmwall notice`: read copyright notices and check them against the evidence store.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::{Context, Result};
use evidence::{KeyRing, LocalNets, Lookup, query};
use notice::Notice;
use notice::verdict::{self, Observation, Seen, Verdict};
use serde::Serialize;

use crate::evidence::{StoreArgs, local_nets, now_s};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Check notices (.eml, .mbox, .xml, .json, .txt; `-` for standard input) against the
    /// evidence: one verdict per notice.
    Check(CheckArgs),
    /// Read notices and print what they say (JSON, one object per notice), without evidence.
    Parse(ParseArgs),
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Minutes either side of a notice's time in which activity counts (monitoring firms'
    /// clocks are not exact).
    #[arg(long, value_name = "MINUTES", default_value_t = 10)]
    tolerance: u32,
    /// Networks whose addresses are local (as given to the sensors).
    #[arg(long, value_name = "CIDR", num_args = 1..)]
    local: Vec<String>,
    /// One JSON object per notice instead of a line of text.
    #[arg(long)]
    json: bool,
    #[arg(required = true, value_name = "NOTICE")]
    files: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ParseArgs {
    #[arg(required = true, value_name = "NOTICE")]
    files: Vec<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Sub::Check(a) => check(a),
        Sub::Parse(a) => parse_only(a),
    }
}

/// The notices of one file: (notices, why none), or the file could not be read.
fn read_notices(file: &str) -> Result<notice::Parsed, String> {
    let mut bytes = Vec::new();
    let read = if file == "-" {
        io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(notice::MAX_BYTES as u64 + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| format!("cannot read: {e}"))?;
    let mut all = notice::Parsed::default();
    for message in notice::split_mbox(&bytes) {
        let p = notice::parse(message);
        all.notices.extend(p.notices);
        if all.error.is_none() {
            all.error = p.error;
        }
    }
    if !all.notices.is_empty() {
        all.error = None;
    }
    Ok(all)
}

/// What `check --json` prints for a notice.
#[derive(Debug, Serialize)]
struct Checked<'a> {
    file: &'a str,
    format: Option<String>,
    case_id: Option<&'a str>,
    complainant: Option<&'a str>,
    ip: Option<String>,
    port: Option<u16>,
    time: Option<String>,
    infohash: Option<&'a str>,
    filename: Option<&'a str>,
    filesize: Option<u64>,
    title: Option<&'a str>,
    verdict: Verdict,
    reasons: Vec<String>,
    problems: &'a [String],
    evidence: Vec<query::Match>,
}

fn check(a: CheckArgs) -> Result<ExitCode> {
    let keys = KeyRing::open(
        a.store
            .key
            .as_ref()
            .context("--key KEYFILE is needed (the key file the sensors use)")?,
    )?;
    let mut store = evidence::open_existing(
        a.store
            .evidence
            .as_deref()
            .context("--evidence STORE is needed (an SQLite file or a postgres:// URL)")?,
    )?;
    let local = local_nets(&a.local)?;
    let tol = i64::from(a.tolerance) * 60;
    let now = now_s();
    let mut out = io::stdout().lock();
    let mut unread = false;
    let none: Vec<String> = Vec::new();
    for file in &a.files {
        let parsed = match read_notices(file) {
            Ok(p) => p,
            Err(e) => {
                unread = true;
                notice::Parsed {
                    notices: vec![],
                    error: Some(e),
                }
            }
        };
        if let Some(e) = &parsed.error {
            let c = Checked {
                file,
                format: None,
                case_id: None,
                complainant: None,
                ip: None,
                port: None,
                time: None,
                infohash: None,
                filename: None,
                filesize: None,
                title: None,
                verdict: Verdict::Unparseable,
                reasons: vec![e.clone()],
                problems: &none,
                evidence: vec![],
            };
            emit(&mut out, &c, a.json)?;
            continue;
        }
        for n in &parsed.notices {
            let (obs, rows) = observe(store.as_mut(), &keys, &local, n, tol, now)?;
            let (v, reasons) = verdict::judge(n, &obs);
            let c = Checked {
                file,
                format: Some(n.format.name()),
                case_id: n.case_id.as_deref(),
                complainant: n.complainant.as_deref(),
                ip: n.ip.map(|i| i.to_string()),
                port: n.port,
                time: n.time.map(query::rfc3339),
                infohash: n.infohash.as_deref(),
                filename: n.filename.as_deref(),
                filesize: n.filesize,
                title: n.title.as_deref(),
                verdict: v,
                reasons,
                problems: &n.problems,
                evidence: rows,
            };
            emit(&mut out, &c, a.json)?;
        }
    }
    out.flush()?;
    Ok(if unread {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What the store holds of a notice's address around its time.
fn observe(
    store: &mut dyn evidence::Backend,
    keys: &KeyRing,
    local: &LocalNets,
    n: &Notice,
    tol: i64,
    now: i64,
) -> Result<(Observation, Vec<query::Match>)> {
    let (Some(ip), Some(t)) = (n.ip, n.time) else {
        return Ok((Observation::default(), vec![]));
    };
    let (from_s, to_s) = (t - tol, t + tol);
    let rows = query::find(
        store,
        keys,
        &Lookup {
            ip,
            port: None,
            from_s,
            to_s,
            infohash: None,
        },
        now,
    )?;
    let flows = rows
        .iter()
        .map(|m| Seen {
            port: m.port,
            first_s: query::parse_time(&m.first_seen).unwrap_or(from_s),
            last_s: query::parse_time(&m.last_seen).unwrap_or(to_s),
            infohashes: m.infohashes.clone(),
        })
        .collect();
    let present = !query::presence(store, keys, ip, from_s, to_s, now)?.is_empty();
    let watched = !store.coverage(from_s, to_s)?.is_empty();
    Ok((
        Observation {
            flows,
            present,
            watched,
            local: local.contains(ip),
        },
        rows,
    ))
}

fn emit(out: &mut impl Write, c: &Checked<'_>, json: bool) -> Result<()> {
    if json {
        serde_json::to_writer(&mut *out, c)?;
        out.write_all(b"\n")?;
        return Ok(());
    }
    let what = match (&c.ip, c.port) {
        (Some(ip), Some(p)) => format!("{}:{p}", bracket(ip)),
        (Some(ip), None) => ip.clone(),
        _ => "no address".into(),
    };
    writeln!(
        out,
        "{}: {}{} at {}{}: {} — {}{}",
        c.file,
        c.case_id.map(|c| format!("case {c}, ")).unwrap_or_default(),
        what,
        c.time.as_deref().unwrap_or("no time"),
        c.infohash
            .map(|h| format!(", torrent {h}"))
            .unwrap_or_default(),
        c.verdict.as_str(),
        c.reasons.join("; "),
        if c.problems.is_empty() {
            String::new()
        } else {
            format!(" [problems: {}]", c.problems.join("; "))
        }
    )?;
    Ok(())
}

fn bracket(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{ip}]"),
        _ => ip.to_string(),
    }
}

fn parse_only(a: ParseArgs) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    let mut unread = false;
    for file in &a.files {
        match read_notices(file) {
            Ok(p) => {
                for n in &p.notices {
                    let mut v = serde_json::to_value(n)?;
                    if let Some(o) = v.as_object_mut() {
                        o.insert("file".into(), file.as_str().into());
                        if let Some(t) = n.time {
                            o.insert("time".into(), query::rfc3339(t).into());
                        }
                    }
                    writeln!(out, "{v}")?;
                }
                if let Some(e) = p.error {
                    writeln!(out, "{}", serde_json::json!({"file": file, "error": e}))?;
                }
            }
            Err(e) => {
                unread = true;
                writeln!(out, "{}", serde_json::json!({"file": file, "error": e}))?;
            }
        }
    }
    Ok(if unread {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
