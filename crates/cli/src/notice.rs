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
    /// Check notices and keep them in the repeat-infringer ledger (in the evidence store,
    /// pseudonymous).
    Record(Box<RecordArgs>),
    /// Per pseudonymous subscriber: notices received and corroborated, strikes, and the step
    /// of the graduated policy reached.
    Ledger(LedgerArgs),
}

#[derive(Debug, clap::Args)]
struct RecordArgs {
    #[command(flatten)]
    lookup: LookupArgs,
    /// Who had an address when: CSV `start,end,ip,subscriber` (times RFC 3339 or seconds), as
    /// exported from DHCP or RADIUS. Without it (or without a lease), the subscriber is the
    /// address itself.
    #[arg(long, value_name = "FILE")]
    leases: Option<PathBuf>,
    /// The time the notices are recorded at (default: now; for tests and back-filling).
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    #[arg(required = true, value_name = "NOTICE")]
    files: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct LedgerArgs {
    /// The evidence store holding the ledger.
    #[arg(long, value_name = "STORE")]
    evidence: String,
    /// The graduated policy (TOML: `count`, `[[step]]` with `name`, `strikes`, `window_days`).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The time the standing is computed at (default: now).
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// One JSON object per subscriber.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct TemplatesArgs {
    /// The folder (created); existing files are kept.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Where a notice's address is looked up.
#[derive(Debug, clap::Args)]
struct LookupArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Minutes either side of a notice's time in which activity counts (monitoring firms'
    /// clocks are not exact).
    #[arg(long, value_name = "MINUTES", default_value_t = 10)]
    tolerance: u32,
    /// Networks whose addresses are local (as given to the sensors).
    #[arg(long, value_name = "CIDR", num_args = 1..)]
    local: Vec<String>,
}

impl LookupArgs {
    /// The key file, the store (which must exist), the local networks, the tolerance (s).
    fn open(&self) -> Result<(KeyRing, Box<dyn evidence::Backend>, LocalNets, i64)> {
        let keys = KeyRing::open(
            self.store
                .key
                .as_ref()
                .context("--key KEYFILE is needed (the key file the sensors use)")?,
        )?;
        let store = evidence::open_existing(
            self.store
                .evidence
                .as_deref()
                .context("--evidence STORE is needed (an SQLite file or a postgres:// URL)")?,
        )?;
        Ok((
            keys,
            store,
            local_nets(&self.local)?,
            i64::from(self.tolerance) * 60,
        ))
    }
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    lookup: LookupArgs,
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
        Sub::Record(a) => record(*a),
        Sub::Ledger(a) => ledger(a),
    }
}

/// The notices of one file: (notices, why none), or the file could not be read.
fn read_notices(file: &str) -> Result<notice::Parsed, String> {
    let bytes = read_bytes(file)?;
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
    let (keys, mut store, local, tol) = a.lookup.open()?;
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
            tolerance: a.lookup.tolerance,
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

fn time_arg(name: &str, v: Option<&str>) -> Result<i64> {
    match v {
        None => Ok(now_s()),
        Some(t) => query::parse_time(t)
            .with_context(|| format!("--{name} {t}: expected a time such as 2026-11-21T06:30:11Z")),
    }
}

/// One lease: `start,end,ip,subscriber`.
struct Lease {
    from: i64,
    to: i64,
    ip: IpAddr,
    subscriber: String,
}

fn read_leases(path: &Path) -> Result<Vec<Lease>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (i == 0 && line.starts_with("start")) {
            continue;
        }
        let f: Vec<&str> = line.splitn(4, ',').map(str::trim).collect();
        let parsed = (|| {
            Some(Lease {
                from: query::parse_time(f.first()?)?,
                to: query::parse_time(f.get(1)?)?,
                ip: f.get(2)?.parse().ok()?,
                subscriber: f.get(3).filter(|s| !s.is_empty())?.to_string(),
            })
        })();
        match parsed {
            Some(l) => out.push(l),
            None => anyhow::bail!(
                "{}: line {}: expected `start,end,ip,subscriber` (times RFC 3339 or seconds)",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(out)
}

fn record(a: RecordArgs) -> Result<ExitCode> {
    let (mut keys, mut store, local, tol) = a.lookup.open()?;
    let ledger_key = keys.ledger_key_or_create()?;
    let leases = match &a.leases {
        Some(p) => read_leases(p)?,
        None => Vec::new(),
    };
    let now = time_arg("now", a.now.as_deref())?;
    let mut out = io::stdout().lock();
    let mut unread = false;
    let mut entries = Vec::new();
    for file in &a.files {
        let bytes = match read_bytes(file) {
            Ok(b) => b,
            Err(e) => {
                unread = true;
                writeln!(out, "{file}: unparseable — {e}")?;
                continue;
            }
        };
        for message in notice::split_mbox(&bytes) {
            let parsed = notice::parse(message);
            if let Some(e) = &parsed.error {
                writeln!(out, "{file}: unparseable — {e} (not recorded)")?;
            }
            for (i, n) in parsed.notices.iter().enumerate() {
                let (Some(ip), Some(t)) = (n.ip, n.time) else {
                    writeln!(
                        out,
                        "{file}: unparseable — no address or time (not recorded)"
                    )?;
                    continue;
                };
                let (obs, _) = observe(store.as_mut(), &keys, &local, n, tol, now)?;
                let (v, reasons) = verdict::judge(n, &obs);
                let id = leases
                    .iter()
                    .find(|l| l.ip == ip && (l.from..=l.to).contains(&t))
                    .map_or_else(|| ip.to_string(), |l| l.subscriber.clone());
                let sub = evidence::ledger::subscriber(&ledger_key, &id);
                entries.push(evidence::ledger::Entry {
                    recorded_s: now,
                    notice_s: t,
                    subscriber: sub,
                    address: evidence::ledger::address(&ledger_key, ip),
                    case_id: n.case_id.clone(),
                    digest: evidence::ledger::digest(message, i),
                    verdict: v.as_str().to_string(),
                });
                writeln!(
                    out,
                    "{file}: {}{} — recorded for subscriber {} ({})",
                    n.case_id
                        .as_deref()
                        .map(|c| format!("case {c}: "))
                        .unwrap_or_default(),
                    v.as_str(),
                    &evidence::ledger::hex(&sub)[..12],
                    reasons.join("; ")
                )?;
            }
        }
    }
    store.record_notices(&entries)?;
    out.flush()?;
    Ok(if unread {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn read_bytes(file: &str) -> std::result::Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let read = if file == "-" {
        io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(notice::MAX_BYTES as u64 + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| format!("cannot read: {e}"))?;
    Ok(bytes)
}

fn ledger(a: LedgerArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.policy)
        .with_context(|| format!("{}: cannot read", a.policy.display()))?;
    let policy = notice::ledger::Policy::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.policy.display()))?;
    let now = time_arg("now", a.now.as_deref())?;
    let mut store = evidence::open_existing(&a.evidence)?;
    let entries: Vec<notice::ledger::Entry> = store
        .ledger()?
        .into_iter()
        .map(|e| notice::ledger::Entry {
            subscriber: evidence::ledger::hex(&e.subscriber),
            address: evidence::ledger::hex(&e.address),
            time: e.notice_s,
            case_id: e.case_id,
            digest: evidence::ledger::hex(&e.digest),
            verdict: match e.verdict.as_str() {
                "corroborated" => Verdict::Corroborated,
                "other-torrent" => Verdict::OtherTorrent,
                "no-bittorrent" => Verdict::NoBittorrent,
                "not-observed" => Verdict::NotObserved,
                _ => Verdict::Unparseable,
            },
        })
        .collect();
    let mut out = io::stdout().lock();
    for st in notice::ledger::standings(&entries, &policy, now) {
        if a.json {
            serde_json::to_writer(&mut out, &st)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(
                out,
                "{}  notices {:>3}  corroborated {:>3}  strikes {:>3}  step: {}{}",
                &st.subscriber[..12.min(st.subscriber.len())],
                st.notices,
                st.corroborated,
                st.strikes,
                st.step.as_deref().unwrap_or("none"),
                if st.flagged.is_empty() {
                    String::new()
                } else {
                    format!(
                        "  (case ids reused for another address: {})",
                        st.flagged.join(", ")
                    )
                }
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
