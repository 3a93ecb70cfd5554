//! `swarmwall eval`: scores swarmwall (and optionally another detector's verdicts, e.g.
//! nDPI's) against a capture's ground-truth labels.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use ::eval::labels::read_flows_csv;
use ::eval::score::{BinaryScore, Outcome, PeerVerdicts, Score, score, score_binary};
use anyhow::{Context, Result, bail};
use engine::{Config, Kind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The capture to analyze.
    capture: PathBuf,

    /// Ground truth, one row per flow (default: the capture's name with .flows.csv).
    #[arg(long, value_name = "CSV")]
    labels: Option<PathBuf>,

    /// Another detector's verdicts per flow (JSON lines, as written by lab/ndpi_flows.py),
    /// scored beside swarmwall's.
    #[arg(long, value_name = "JSONL")]
    peer_flows: Option<PathBuf>,

    /// Also list every BitTorrent flow with the packet at which it was decided.
    #[arg(long)]
    decisions: bool,

    /// Write the figures as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,

    /// Exit 1 if swarmwall's recall of plaintext-visible BitTorrent flows is below this.
    #[arg(long, value_name = "FRACTION")]
    min_recall: Option<f64>,

    /// Exit 1 if swarmwall calls more flows BitTorrent that are not.
    #[arg(long, value_name = "N")]
    max_false_positives: Option<u64>,

    /// Exit 1 if swarmwall gives more BitTorrent flows a wrong kind.
    #[arg(long, value_name = "N")]
    max_wrong_kinds: Option<u64>,

    /// Exit 1 if less than this fraction of the purely encrypted (MSE/PE) peer flows is found
    /// at likely or certain with the right kind.
    #[arg(long, value_name = "FRACTION")]
    min_encrypted_recall: Option<f64>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let labels_path = args
        .labels
        .clone()
        .unwrap_or_else(|| default_labels(&args.capture));
    let labels = read_flows_csv(&labels_path).map_err(anyhow::Error::msg)?;
    let size = std::fs::metadata(&args.capture)
        .with_context(|| format!("{}: cannot read", args.capture.display()))?
        .len();

    let started = Instant::now();
    let (records, engine, result) = ::eval::analyze_file(&args.capture, Config::default());
    let seconds = started.elapsed().as_secs_f64();
    result?;
    let s = score(&labels, &records);
    let peer = match &args.peer_flows {
        Some(p) => Some(read_peer(p)?),
        None => None,
    };
    let ps = peer.as_ref().map(|p| score_binary(&labels, p));

    let mut o = String::new();
    let packets = engine.totals().packets;
    let _ = writeln!(
        o,
        "swarmwall eval: {} ({} labelled flows, {} packets, {:.1} MB)",
        args.capture.display(),
        labels.len(),
        packets,
        size as f64 / 1e6
    );
    render(&mut o, &s, ps.as_ref(), peer.as_ref());
    let _ = writeln!(o, "\nThroughput (whole capture, wall clock)");
    let _ = writeln!(
        o,
        "  {:<44} {}",
        "swarmwall (in process: read + analyze)",
        rate(seconds, size, packets)
    );
    if let (Some(p), Some(t)) = (&peer, peer.as_ref().and_then(|p| p.seconds)) {
        let _ = writeln!(
            o,
            "  {:<44} {}",
            format!("{} (its runner)", p.tool),
            rate(t, size, packets)
        );
    }
    if args.decisions {
        decisions(&mut o, &s);
    }
    print!("{o}");

    if let Some(path) = &args.json {
        let j = to_json(
            &args.capture,
            &s,
            ps.as_ref(),
            peer.as_ref(),
            seconds,
            size,
            packets,
        );
        std::fs::write(path, j + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }

    let wrong = s.count(Outcome::WrongKind);
    let fps = s.count(Outcome::FalsePositive) + s.unlabelled_detections.len() as u64;
    let mut failed = Vec::new();
    if let Some(min) = args.min_recall.filter(|&m| s.recall() < m) {
        failed.push(format!("recall {:.4} < {min}", s.recall()));
    }
    if let Some(max) = args.max_false_positives.filter(|&m| fps > m) {
        failed.push(format!("{fps} false positives > {max}"));
    }
    if let Some(max) = args.max_wrong_kinds.filter(|&m| wrong > m) {
        failed.push(format!("{wrong} wrong kinds > {max}"));
    }
    let m = s.mse();
    if let Some(min) = args.min_encrypted_recall.filter(|&x| m.recall() < x) {
        failed.push(format!("encrypted recall {:.4} < {min}", m.recall()));
    }
    if !failed.is_empty() {
        eprintln!(
            "swarmwall eval: {}: below thresholds: {}",
            args.capture.display(),
            failed.join(", ")
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn default_labels(capture: &Path) -> PathBuf {
    let name = capture.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = name
        .strip_suffix(".pcapng")
        .or_else(|| name.strip_suffix(".pcap"))
        .unwrap_or(name);
    capture.with_file_name(format!("{stem}.flows.csv"))
}

/// Reads another detector's per-flow verdicts (JSON lines; an optional first `meta` line).
fn read_peer(path: &Path) -> Result<PeerVerdicts> {
    let f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut v = PeerVerdicts::default();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}: cannot read", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let j: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}: line {}: not JSON", path.display(), i + 1))?;
        if let Some(meta) = j.get("meta") {
            v.tool = meta["tool"].as_str().unwrap_or("peer").to_string();
            v.seconds = meta["seconds"].as_f64();
            continue;
        }
        let addr = |k: &str| -> Result<SocketAddr> {
            j[k].as_str()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("{}: line {}: bad {k:?}", path.display(), i + 1))
        };
        let Some(proto) = j["proto"].as_str() else {
            bail!("{}: line {}: no \"proto\"", path.display(), i + 1);
        };
        v.add(
            proto,
            addr("src")?,
            addr("dst")?,
            j["bittorrent"].as_bool().unwrap_or(false),
        );
    }
    if v.tool.is_empty() {
        v.tool = "peer".to_string();
    }
    Ok(v)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn rate(seconds: f64, size: u64, packets: u64) -> String {
    let s = seconds.max(1e-9);
    format!(
        "{seconds:.3} s, {:.2} Gbit/s, {:.2} Mpps",
        size as f64 * 8.0 / s / 1e9,
        packets as f64 / s / 1e6
    )
}

fn render(o: &mut String, s: &Score, ps: Option<&BinaryScore>, peer: Option<&PeerVerdicts>) {
    let peer_name = peer.map_or("", |p| p.tool.as_str());
    let _ = writeln!(
        o,
        "\nPer kind: plaintext-visible BitTorrent flows (encrypted ones below)"
    );
    let _ = write!(
        o,
        "  {:<13} {:>8} {:>6} {:>6} {:>6} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "kind",
        "labelled",
        "found",
        "missed",
        "wrong",
        "recall",
        "bytes",
        "precision",
        "infohash",
        "decided@"
    );
    if ps.is_some() {
        let _ = write!(o, "  | {peer_name}: found recall");
    }
    let _ = writeln!(o);
    for (k, v) in &s.kinds {
        let mut at = v.decided_at.clone();
        at.sort_unstable();
        let dec = match (at.get(at.len() / 2), at.last()) {
            (Some(m), Some(x)) => format!("{m}/{x}"),
            _ => "-".to_string(),
        };
        let bytes = if v.labelled_bytes == 0 {
            "-".to_string()
        } else {
            pct(v.found_bytes as f64 / v.labelled_bytes as f64)
        };
        let _ = write!(
            o,
            "  {:<13} {:>8} {:>6} {:>6} {:>6} {:>7} {:>7} {:>9} {:>9} {:>9}",
            k.as_str(),
            v.labelled,
            v.found,
            v.missed,
            v.wrong,
            pct(v.recall()),
            bytes,
            pct(v.precision()),
            format!("{}/{}", v.infohash_found, v.infohash_expected),
            dec
        );
        if let Some(ps) = ps {
            let (l, f) = ps.kinds.get(k).copied().unwrap_or((0, 0));
            let r = if l == 0 {
                "-".to_string()
            } else {
                pct(f as f64 / l as f64)
            };
            let _ = write!(o, "  | {f:>5} {r:>7}");
        }
        let _ = writeln!(o);
    }
    let m = s.mse();
    let _ = writeln!(
        o,
        "\nEncrypted (MSE/PE) peer flows: {} labelled; swarmwall: {} certain, {} likely ({} of flows, {} of bytes; {} with the MSE/PE shape as evidence; {} by the 2nd payload packet each way, {} at the end of the run), {} only suspect",
        m.labelled,
        m.certain,
        m.likely,
        pct(m.recall()),
        pct(m.bytes_recall()),
        m.by_shape,
        m.within_two,
        m.relabelled,
        m.suspect
    );
    if let Some(ps) = ps {
        let _ = writeln!(
            o,
            "  {peer_name}: {} of {} called BitTorrent",
            ps.encrypted.1, ps.encrypted.0
        );
    }
    let _ = writeln!(
        o,
        "\nOverall swarmwall (plaintext-visible flows): recall {} of {} flows ({} of bytes), precision {} of {} reported, {} false positives, {} wrong kinds, {} wrong tunnels, {} encrypted flags wrong, {} non-BitTorrent flows suspected",
        pct(s.recall()),
        s.required(),
        pct(s.bytes_recall()),
        pct(s.precision()),
        s.reported(),
        s.count(Outcome::FalsePositive) + s.unlabelled_detections.len() as u64,
        s.count(Outcome::WrongKind),
        s.count(Outcome::WrongTunnel),
        s.encrypted_flag_wrong(),
        s.suspects_not_bittorrent()
    );
    if let Some(ps) = ps {
        let _ = writeln!(
            o,
            "Overall {peer_name}: recall {} of {} flows ({} of bytes), precision {} of {} reported, {} false positives; encrypted peer flows {}/{}",
            pct(ps.recall()),
            ps.required,
            pct(ps.bytes_recall()),
            pct(ps.precision()),
            ps.reported,
            ps.false_positives,
            ps.encrypted.1,
            ps.encrypted.0
        );
    }
    let _ = writeln!(o, "\nConfusion (label -> swarmwall's kinds: flows)");
    for ((label, got), n) in &s.confusion {
        let _ = writeln!(o, "  {label:<40} -> {got:<22} {n}");
    }
    let bad: Vec<_> = s
        .flows
        .iter()
        .filter(|f| {
            matches!(
                f.outcome,
                Outcome::Missed
                    | Outcome::WrongKind
                    | Outcome::WrongTunnel
                    | Outcome::FalsePositive
            )
        })
        .collect();
    if !bad.is_empty() || !s.unlabelled_detections.is_empty() {
        let _ = writeln!(o, "\nMistakes");
        for f in bad {
            let _ = writeln!(
                o,
                "  {:?}: {} {} <-> {} labelled {}{} detected {}{}",
                f.outcome,
                f.label.proto,
                f.label.a,
                f.label.b,
                f.label.text,
                f.label
                    .tunnel
                    .as_ref()
                    .map_or(String::new(), |t| format!(" via {t}")),
                kinds(f.detected.kinds),
                if f.detected.tunnels.is_empty() {
                    String::new()
                } else {
                    format!(" via {}", f.detected.tunnels.join(","))
                }
            );
        }
        for (p, a, b, k) in &s.unlabelled_detections {
            let _ = writeln!(o, "  Unlabelled: {p} {a} <-> {b} detected {}", kinds(*k));
        }
    }
}

fn kinds(k: engine::KindSet) -> String {
    let v: Vec<&str> = k.iter().map(Kind::as_str).collect();
    if v.is_empty() {
        "-".to_string()
    } else {
        v.join("+")
    }
}

fn decisions(o: &mut String, s: &Score) {
    let _ = writeln!(
        o,
        "\nDecisions (BitTorrent flows: packet of the flow at which each was decided)"
    );
    for f in s.flows.iter().filter(|f| f.label.label.is_bittorrent()) {
        let at = f
            .detected
            .decided_at
            .map_or("-".to_string(), |a| a.to_string());
        let _ = writeln!(
            o,
            "  {} {} <-> {} {:<32} {:<20} at packet {at}",
            f.label.proto,
            f.label.a,
            f.label.b,
            f.label.text,
            kinds(f.detected.kinds)
        );
    }
}

fn to_json(
    capture: &Path,
    s: &Score,
    ps: Option<&BinaryScore>,
    peer: Option<&PeerVerdicts>,
    seconds: f64,
    size: u64,
    packets: u64,
) -> String {
    use serde_json::json;
    let kinds: serde_json::Map<String, serde_json::Value> = s
        .kinds
        .iter()
        .map(|(k, v)| {
            let mut at = v.decided_at.clone();
            at.sort_unstable();
            (
                k.as_str().to_string(),
                json!({
                    "labelled": v.labelled, "found": v.found, "missed": v.missed, "wrong": v.wrong,
                    "labelled_bytes": v.labelled_bytes, "found_bytes": v.found_bytes,
                    "reported": v.reported, "reported_right": v.reported_right,
                    "infohash_expected": v.infohash_expected, "infohash_found": v.infohash_found,
                    "decided_at_median": at.get(at.len() / 2), "decided_at_max": at.last(),
                    "peer_found": ps.and_then(|p| p.kinds.get(k)).map(|x| x.1),
                }),
            )
        })
        .collect();
    let m = s.mse();
    let t = s.tunnelled();
    let v = json!({
        "capture": capture.display().to_string(),
        "size": size, "packets": packets,
        "swarmwall": {
            "recall": s.recall(), "bytes_recall": s.bytes_recall(), "precision": s.precision(),
            "required": s.required(), "reported": s.reported(),
            "false_positives": s.count(Outcome::FalsePositive) + s.unlabelled_detections.len() as u64,
            "wrong_kinds": s.count(Outcome::WrongKind),
            "wrong_tunnels": s.count(Outcome::WrongTunnel),
            "tunnelled": {
                "labelled": t.labelled, "found": t.found,
                "encrypted_labelled": t.encrypted_labelled, "encrypted_found": t.encrypted_found,
                "infohash_expected": t.infohash_expected, "infohash_found": t.infohash_found,
            },
            "encrypted_labelled": m.labelled, "encrypted_found": m.certain + m.likely,
            "encrypted_certain": m.certain, "encrypted_likely": m.likely, "encrypted_suspect": m.suspect,
            "encrypted_recall": m.recall(), "encrypted_bytes_recall": m.bytes_recall(),
            "encrypted_within_two": m.within_two, "encrypted_by_shape": m.by_shape,
            "encrypted_relabelled": m.relabelled,
            "suspects_not_bittorrent": s.suspects_not_bittorrent(),
            "encrypted_flag_wrong": s.encrypted_flag_wrong(),
            "seconds": seconds, "kinds": kinds,
        },
        "peer": ps.map(|p| json!({
            "tool": peer.map(|p| p.tool.clone()),
            "recall": p.recall(), "bytes_recall": p.bytes_recall(), "precision": p.precision(),
            "required": p.required, "found": p.found, "reported": p.reported,
            "false_positives": p.false_positives,
            "encrypted_labelled": p.encrypted.0, "encrypted_found": p.encrypted.1,
            "seconds": peer.and_then(|p| p.seconds),
        })),
    });
    v.to_string()
}
