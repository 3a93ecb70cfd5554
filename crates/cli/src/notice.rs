//! `swarmwall notice`: read copyright notices and check them against the evidence store.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::{Context, Result};
use evidence::{KeyRing, LocalNets, Lookup, query};
use notice::Notice;
use notice::reply::{Context as ReplyContext, Profile, Templates};
use notice::verdict::{self, Observation, Seen, Verdict};
use serde::Serialize;
use std::path::{Path, PathBuf};

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
    Check(Box<CheckArgs>),
    /// Read notices and print what they say (JSON, one object per notice), without evidence.
    Parse(ParseArgs),
    /// Write the built-in reply templates into a folder, to edit them (`check --templates`).
    Templates(TemplatesArgs),
}

#[derive(Debug, clap::Args)]
struct TemplatesArgs {
    /// The folder (created); existing files are kept.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
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
    /// Write a draft reply for each notice, for this kind of network: tor-exit, vpn-or-proxy,
    /// isp or hosting (never sent; an ACNS NoticeAck beside it when the notice was ACNS).
    #[arg(long, value_name = "PROFILE", value_parser = ["tor-exit", "vpn-or-proxy", "isp", "hosting"])]
    reply: Option<String>,
    /// Folder for the drafts (created).
    #[arg(long, value_name = "DIR", default_value = "replies")]
    reply_dir: PathBuf,
    /// Folder of templates replacing the built-in ones, by name (see `notice templates`).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Signature of the drafts (name and contact of the abuse desk).
    #[arg(long, value_name = "TEXT", default_value = "The abuse desk")]
    operator: String,
    /// The operator's e-mail address, for NoticeAck.
    #[arg(long, value_name = "ADDR", default_value = "")]
    operator_email: String,
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
        Sub::Check(a) => check(*a),
        Sub::Parse(a) => parse_only(a),
        Sub::Templates(a) => write_templates(a),
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
    /// The draft reply and the NoticeAck written, with `--reply`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack: Option<String>,
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
    let drafts = match &a.reply {
        None => None,
        Some(p) => Some(Drafts::new(&a, p)?),
    };
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
                reply: None,
                ack: None,
            };
            let mut c = c;
            if let Some(d) = &drafts {
                c.reply = Some(d.write(None, Verdict::Unparseable, &c.reasons, &[], file)?);
            }
            emit(&mut out, &c, a.json)?;
            continue;
        }
        for n in &parsed.notices {
            let (obs, rows) = observe(store.as_mut(), &keys, &local, n, tol, now)?;
            let (v, reasons) = verdict::judge(n, &obs);
            let (reply, ack) = match &drafts {
                Some(d) => {
                    // Only the flows of the notice's port go into a reply: on a shared address
                    // (NAT, VPN, Tor exit) the others are other people's.
                    let lines: Vec<String> = rows
                        .iter()
                        .filter(|m| n.port.is_none_or(|p| p == m.port))
                        .map(evidence_line)
                        .collect();
                    let r = d.write(Some(n), v, &reasons, &lines, file)?;
                    let k = match n.format {
                        notice::Format::Acns(_) => Some(d.ack(n, v, &reasons, &r, now)?),
                        _ => None,
                    };
                    (Some(r), k)
                }
                None => (None, None),
            };
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
                reply,
                ack,
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

/// Where drafts go, and how they are made.
struct Drafts {
    profile: Profile,
    dir: PathBuf,
    templates: Templates,
    tolerance: u32,
    operator: String,
    email: String,
    count: std::cell::Cell<u32>,
}

impl Drafts {
    fn new(a: &CheckArgs, profile: &str) -> Result<Drafts> {
        let profile = Profile::parse(profile).context("unknown profile")?;
        let mut templates = Templates::default();
        if let Some(dir) = &a.templates {
            if !dir.is_dir() {
                anyhow::bail!("{}: not a folder of templates", dir.display());
            }
            for name in Templates::names() {
                let p = dir.join(name);
                if p.exists() {
                    let t = std::fs::read_to_string(&p)
                        .with_context(|| format!("{}: cannot read", p.display()))?;
                    templates.set(name, t);
                }
            }
        }
        std::fs::create_dir_all(&a.reply_dir)
            .with_context(|| format!("{}: cannot create", a.reply_dir.display()))?;
        Ok(Drafts {
            profile,
            dir: a.reply_dir.clone(),
            templates,
            tolerance: a.tolerance,
            operator: a.operator.clone(),
            email: a.operator_email.clone(),
            count: std::cell::Cell::new(0),
        })
    }

    /// Writes a draft; returns its path.
    fn write(
        &self,
        n: Option<&Notice>,
        v: Verdict,
        reasons: &[String],
        evidence: &[String],
        file: &str,
    ) -> Result<String> {
        let k = self.count.get() + 1;
        self.count.set(k);
        let stem = Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "stdin".into());
        let case = n.and_then(|n| n.case_id.as_deref()).unwrap_or("");
        let name: String = format!(
            "{k:04}-{stem}{}{case}",
            if case.is_empty() { "" } else { "-" }
        )
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
        let text = notice::reply::draft(
            self.profile,
            &ReplyContext {
                notice: n,
                verdict: v,
                reasons,
                evidence,
                tolerance_min: self.tolerance,
                operator: &self.operator,
                subject: None,
            },
            &self.templates,
        );
        let path = self.dir.join(format!("{name}.txt"));
        std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))?;
        Ok(path.display().to_string())
    }

    /// Writes the NoticeAck beside a draft.
    fn ack(
        &self,
        n: &Notice,
        v: Verdict,
        reasons: &[String],
        draft: &str,
        now: i64,
    ) -> Result<String> {
        let path = PathBuf::from(draft.trim_end_matches(".txt").to_string() + ".ack.xml");
        let xml = notice::reply::notice_ack(n, v, reasons, &self.operator, &self.email, now);
        std::fs::write(&path, xml).with_context(|| format!("{}: cannot write", path.display()))?;
        Ok(path.display().to_string())
    }
}

/// One line of evidence for a draft.
fn evidence_line(m: &query::Match) -> String {
    format!(
        "{} .. {}  {} port {} <-> port {}  {}{}",
        m.first_seen,
        m.last_seen,
        m.proto,
        m.port,
        m.peer_port,
        m.kind,
        if m.infohashes.is_empty() {
            String::new()
        } else {
            format!("  torrents {}", m.infohashes.join(", "))
        }
    )
}

fn write_templates(a: TemplatesArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("{}: cannot create", a.dir.display()))?;
    let t = Templates::default();
    for name in Templates::names() {
        let p = a.dir.join(name);
        if !p.exists() {
            std::fs::write(&p, t.text(name))
                .with_context(|| format!("{}: cannot write", p.display()))?;
            println!("{}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
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
