//! `--alerts PATH` and `--thresholds FILE` (analyze, watch, enforce): attacks on swarms as
//! JSON lines, and the summary's "Attacks" section.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use attacks::{Alert, Category, Monitor, Thresholds};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct AlertArgs {
    /// Detect attacks on swarms (forged uTP, reflection, DHT Sybils and eclipses, poisoned
    /// peer lists, injected resets) and write one JSON line per incident to PATH — when first
    /// seen, then at most once a minute while it goes on (`-` for standard output).
    #[arg(long, value_name = "PATH")]
    pub alerts: Option<String>,

    /// Detection thresholds: the `[attacks]` section of this TOML file (other sections are
    /// ignored; every key optional, defaults in docs/attacks.md).
    #[arg(long, value_name = "FILE", requires = "alerts")]
    pub thresholds: Option<PathBuf>,
}

impl AlertArgs {
    /// The thresholds, read and checked (before anything is opened or written).
    pub fn load(&self) -> Result<Option<Thresholds>> {
        if self.alerts.is_none() {
            return Ok(None);
        }
        let Some(path) = &self.thresholds else {
            return Ok(Some(Thresholds::default()));
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        Thresholds::from_toml(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The alert file, created (truncated).
    pub fn writer(&self) -> Result<Option<AlertWriter>> {
        let Some(path) = self.alerts.clone() else {
            return Ok(None);
        };
        let out: Box<dyn Write + Send> = if path == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(&path).with_context(|| format!("{path}: cannot create"))?)
        };
        Ok(Some(AlertWriter {
            out: BufWriter::new(out),
            path,
            lines: 0,
            by_category: Default::default(),
            eve: None,
            error: None,
        }))
    }
}

/// Writes alerts as JSON lines, flushed after each batch (a reader following the file sees
/// an incident when it is raised).
pub struct AlertWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    path: String,
    pub lines: u64,
    /// Lines written per category.
    pub by_category: std::collections::BTreeMap<&'static str, u64>,
    /// Where alert events go too (`--eve`).
    pub eve: Option<crate::eve::Eve>,
    error: Option<io::Error>,
}

impl std::fmt::Debug for AlertWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertWriter")
            .field("path", &self.path)
            .field("lines", &self.lines)
            .finish()
    }
}

/// An alert as a JSON object: its fields and `time`, the RFC 3339 form of `last_s`.
pub fn to_json(a: &Alert) -> serde_json::Value {
    let mut v = serde_json::to_value(a).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(m) = &mut v {
        m.insert(
            "time".into(),
            swarmwall_io::record::rfc3339_micros(a.last_ns).into(),
        );
    }
    v
}

impl AlertWriter {
    /// Writes `alerts`; the first error is kept (and reported by [`AlertWriter::finish`]).
    pub fn write(&mut self, alerts: &[Alert]) {
        if let Some(e) = &self.eve {
            e.alerts(alerts);
        }
        if alerts.is_empty() || self.error.is_some() {
            return;
        }
        let r = (|| {
            for a in alerts {
                serde_json::to_writer(&mut self.out, &to_json(a))?;
                self.out.write_all(b"\n")?;
                self.lines += 1;
                *self.by_category.entry(a.category.as_str()).or_default() += 1;
            }
            self.out.flush()
        })();
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    pub fn finish(mut self) -> Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(
                anyhow::Error::new(e).context(format!("{}: cannot write alerts", self.path))
            );
        }
        self.out
            .flush()
            .with_context(|| format!("{}: cannot write alerts", self.path))?;
        Ok(self.lines)
    }
}

/// Alert lines written, per category (every category, zero or not, so that a rate is defined
/// from the start).
pub fn metrics(p: &mut swarmwall_io::metrics::Page, a: &AlertWriter) {
    for c in attacks::Category::ALL {
        p.counter(
            "swarmwall_alerts_total",
            "Alert lines written (an incident when raised, then at most once a minute).",
            &[("category", c.as_str())],
            a.by_category.get(c.as_str()).copied().unwrap_or(0),
        );
    }
}

/// The monitor an engine's tap holds.
pub fn monitor_of(e: &mut engine::Engine) -> Option<&mut Monitor> {
    e.tap_mut()?.as_any_mut().downcast_mut::<Monitor>()
}

/// The summary's "Attacks" section.
pub fn section(m: &Monitor, lines: u64, top: usize) -> String {
    let incidents = m.incidents();
    let mut per: BTreeMap<Category, u64> = BTreeMap::new();
    for a in &incidents {
        *per.entry(a.category).or_default() += 1;
    }
    let mut s = String::from("\nAttacks\n");
    if incidents.is_empty() {
        s.push_str("  none detected\n");
    } else {
        for (c, n) in &per {
            s.push_str(&format!(
                "  {:<20} {n} incident{}\n",
                c.as_str(),
                plural(*n)
            ));
        }
        for a in incidents.iter().take(top) {
            let what = a
                .infohashes
                .first()
                .map(|h| format!(", torrent {h}"))
                .unwrap_or_default();
            s.push_str(&format!(
                "  {} {} ({}): {} detection{}, {} source{}{what}\n",
                a.category.as_str(),
                a.key,
                serde_json::to_value(a.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                a.count,
                plural(a.count),
                a.sources_total,
                plural(a.sources_total),
            ));
        }
        if incidents.len() > top {
            s.push_str(&format!("  ... {} more\n", incidents.len() - top));
        }
    }
    let st = m.stats();
    s.push_str(&format!(
        "  alert lines written {lines}; packets read {}, uTP {}, KRPC {}; state evicted {}, incidents evicted {}\n",
        st.packets, st.utp, st.krpc, st.state_evicted, st.incidents_evicted
    ));
    s
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
