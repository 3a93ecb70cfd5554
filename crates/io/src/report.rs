//! The HTML report (`swarmwall report`): one self-contained file — inline CSS and SVG charts,
//! no script, nothing fetched — built from flow records in their JSON form (the `--flows`
//! contract, whether read back from a file or made from a capture just analysed) and alert
//! lines.
//!
//! Charts: the BitTorrent share of the bytes over time, flows and bytes per kind, encrypted
//! against plaintext, confidence; tables: top torrents, top hosts, alerts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Time buckets kept at most: past this the width doubles.
const MAX_BUCKETS: usize = 2048;

#[derive(Debug, Default, Clone, Copy)]
struct Vol {
    flows: u64,
    bytes: u64,
}

impl Vol {
    fn add(&mut self, bytes: u64) {
        self.flows += 1;
        self.bytes += bytes;
    }
}

#[derive(Debug, Default)]
struct Party {
    vol: Vol,
    kinds: BTreeSet<String>,
    software: BTreeSet<String>,
}

/// What the report is made of, added to one record at a time.
#[derive(Debug)]
pub struct Report {
    /// Bucket width in seconds, and (BitTorrent, other) bytes per bucket index.
    width: i64,
    buckets: BTreeMap<i64, (f64, f64)>,
    span: Option<(i64, i64)>,
    all: Vol,
    bittorrent: Vol,
    suspects: Vol,
    kinds: BTreeMap<String, Vol>,
    encrypted: Vol,
    plaintext: Vol,
    confidence: BTreeMap<String, u64>,
    torrents: HashMap<String, (Vol, BTreeSet<String>)>,
    hosts: HashMap<String, Party>,
    alerts: Vec<Value>,
    /// Records that could not be read (no time, not an object).
    pub skipped: u64,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            width: 1,
            buckets: BTreeMap::new(),
            span: None,
            all: Vol::default(),
            bittorrent: Vol::default(),
            suspects: Vol::default(),
            kinds: BTreeMap::new(),
            encrypted: Vol::default(),
            plaintext: Vol::default(),
            confidence: BTreeMap::new(),
            torrents: HashMap::new(),
            hosts: HashMap::new(),
            alerts: Vec::new(),
            skipped: 0,
        }
    }
}

fn seconds(v: &Value) -> Option<i64> {
    OffsetDateTime::parse(v.as_str()?, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

fn host_of(endpoint: &str) -> String {
    match endpoint.rsplit_once(':') {
        Some((h, _)) => h.trim_matches(['[', ']']).to_string(),
        None => endpoint.to_string(),
    }
}

impl Report {
    /// Adds one flow record (the JSON object of `--flows`).
    pub fn add(&mut self, r: &Value) {
        let (Some(first), Some(last)) = (seconds(&r["first_seen"]), seconds(&r["last_seen"]))
        else {
            self.skipped += 1;
            return;
        };
        let bytes = r["bytes"].as_u64().unwrap_or(0);
        let bt = r["app"] == "bittorrent";
        self.all.add(bytes);
        self.span = Some(match self.span {
            Some((a, b)) => (a.min(first), b.max(last)),
            None => (first, last),
        });
        self.spread(first, last.max(first), bytes as f64, bt);
        if r["suspected_kind"].is_string() && !bt {
            self.suspects.add(bytes);
        }
        if !bt {
            return;
        }
        self.bittorrent.add(bytes);
        let kind = r["kind"].as_str().unwrap_or("?").to_string();
        self.kinds.entry(kind.clone()).or_default().add(bytes);
        if r["encrypted"].as_bool().unwrap_or(false) {
            self.encrypted.add(bytes);
        } else {
            self.plaintext.add(bytes);
        }
        let conf = r["confidence"].as_str().unwrap_or("?").to_string();
        *self.confidence.entry(conf).or_default() += 1;
        let (client, server) = (
            host_of(r["client"].as_str().unwrap_or("")),
            host_of(r["server"].as_str().unwrap_or("")),
        );
        for h in r["infohashes"].as_array().into_iter().flatten() {
            if let Some(h) = h.as_str() {
                let t = self.torrents.entry(h.to_string()).or_default();
                t.0.add(bytes);
                t.1.insert(client.clone());
                t.1.insert(server.clone());
            }
        }
        for (host, sw) in [
            (client, &r["client_software"]),
            (server, &r["server_software"]),
        ] {
            let p = self.hosts.entry(host).or_default();
            p.vol.add(bytes);
            p.kinds.insert(kind.clone());
            if let Some(s) = sw.as_str() {
                p.software.insert(s.to_string());
            }
        }
    }

    /// Adds one alert line (`--alerts`).
    pub fn alert(&mut self, a: &Value) {
        self.alerts.push(a.clone());
    }

    /// Spreads a flow's bytes evenly over the buckets its life covers.
    fn spread(&mut self, first: i64, last: i64, bytes: f64, bt: bool) {
        let (a, b) = (first.div_euclid(self.width), last.div_euclid(self.width));
        let n = (b - a + 1) as f64;
        // A flow over more buckets than are kept is spread at the coarser width after.
        let step = ((b - a) / MAX_BUCKETS as i64).max(1);
        let mut i = a;
        while i <= b {
            let share = bytes * (step.min(b - i + 1) as f64) / n;
            let e = self.buckets.entry(i).or_default();
            if bt {
                e.0 += share;
            } else {
                e.1 += share;
            }
            i += step;
        }
        while self.buckets.len() > MAX_BUCKETS {
            self.width *= 2;
            let old = std::mem::take(&mut self.buckets);
            for (k, (x, y)) in old {
                let e = self.buckets.entry(k.div_euclid(2)).or_default();
                e.0 += x;
                e.1 += y;
            }
        }
    }

    /// The report as one HTML document.
    pub fn html(&self, title: &str, top: usize) -> String {
        let mut h = String::with_capacity(64 * 1024);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
            esc(title),
            esc(title)
        );
        let span = match self.span {
            Some((a, b)) => format!("{} – {}", time_label(a, true), time_label(b, true)),
            None => "no flows".into(),
        };
        let share = pct(self.bittorrent.bytes, self.all.bytes);
        let _ = writeln!(
            h,
            "<p class=\"lead\">{span}: <b>{}</b> flows, <b>{}</b>; BitTorrent <b>{}</b> flows, \
             <b>{}</b> (<b>{share}</b> of the bytes); {} flows only suspected (MSE/PE shape \
             alone, not counted as BitTorrent).</p>",
            num(self.all.flows),
            bytes_label(self.all.bytes),
            num(self.bittorrent.flows),
            bytes_label(self.bittorrent.bytes),
            num(self.suspects.flows),
        );
        h.push_str("<section><h2>BitTorrent share of the bytes over time</h2>\n");
        h.push_str(&self.timeline());
        h.push_str("</section>\n<div class=\"row\">");
        let kinds: Vec<(String, Vol)> = self.kinds.iter().map(|(k, v)| (k.clone(), *v)).collect();
        h.push_str(&format!(
            "<section><h2>BitTorrent kinds (flows)</h2>{}</section>",
            bars(&kinds, "kinds")
        ));
        h.push_str(&format!(
            "<section><h2>Encrypted or plaintext (bytes)</h2>{}</section>",
            bars(
                &[
                    (
                        "encrypted (MSE/PE)".into(),
                        Vol {
                            flows: self.encrypted.bytes,
                            ..self.encrypted
                        }
                    ),
                    (
                        "plaintext".into(),
                        Vol {
                            flows: self.plaintext.bytes,
                            ..self.plaintext
                        }
                    ),
                ],
                "crypto"
            )
        ));
        let conf: Vec<(String, Vol)> = ["certain", "likely"]
            .iter()
            .map(|c| {
                let n = self.confidence.get(*c).copied().unwrap_or(0);
                (c.to_string(), Vol { flows: n, bytes: 0 })
            })
            .chain(std::iter::once((
                "suspect (not counted)".to_string(),
                Vol {
                    flows: self.suspects.flows,
                    bytes: 0,
                },
            )))
            .collect();
        h.push_str(&format!(
            "<section><h2>Confidence (flows)</h2>{}</section></div>\n",
            bars(&conf, "confidence")
        ));
        // Top torrents.
        let mut torrents: Vec<(&String, &(Vol, BTreeSet<String>))> = self.torrents.iter().collect();
        torrents.sort_by(|a, b| b.1.0.bytes.cmp(&a.1.0.bytes).then(a.0.cmp(b.0)));
        h.push_str("<section><h2>Top torrents</h2><table><tr><th>info-hash</th><th>flows</th><th>bytes</th><th>hosts</th></tr>");
        for (ih, (v, hosts)) in torrents.iter().take(top) {
            let _ = write!(
                h,
                "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(ih),
                num(v.flows),
                bytes_label(v.bytes),
                num(hosts.len() as u64)
            );
        }
        if torrents.is_empty() {
            h.push_str("<tr><td colspan=\"4\">none</td></tr>");
        }
        h.push_str("</table></section>\n");
        // Top hosts.
        let mut hosts: Vec<(&String, &Party)> = self.hosts.iter().collect();
        hosts.sort_by(|a, b| b.1.vol.bytes.cmp(&a.1.vol.bytes).then(a.0.cmp(b.0)));
        h.push_str("<section><h2>Top BitTorrent hosts</h2><table><tr><th>host</th><th>flows</th><th>bytes</th><th>kinds</th><th>software</th></tr>");
        for (host, p) in hosts.iter().take(top) {
            let _ = write!(
                h,
                "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(host),
                num(p.vol.flows),
                bytes_label(p.vol.bytes),
                esc(&p.kinds.iter().cloned().collect::<Vec<_>>().join(", ")),
                esc(&p.software.iter().cloned().collect::<Vec<_>>().join(", "))
            );
        }
        if hosts.is_empty() {
            h.push_str("<tr><td colspan=\"5\">none</td></tr>");
        }
        h.push_str("</table></section>\n");
        // Alerts.
        h.push_str("<section><h2>Attacks on swarms (alerts)</h2><table><tr><th>time</th><th>category</th><th>severity</th><th>what</th></tr>");
        for a in self.alerts.iter().take(top.max(50)) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(a["time"].as_str().unwrap_or("")),
                esc(a["category"].as_str().unwrap_or("")),
                esc(a["severity"].as_str().unwrap_or("")),
                esc(a["signature"].as_str().unwrap_or(""))
            );
        }
        if self.alerts.is_empty() {
            h.push_str("<tr><td colspan=\"4\">none</td></tr>");
        }
        h.push_str("</table></section>\n");
        let _ = write!(
            h,
            "<footer>swarmwall {} · {} flow records{}</footer>\n</body></html>\n",
            env!("CARGO_PKG_VERSION"),
            num(self.all.flows),
            if self.skipped > 0 {
                format!(", {} unreadable records skipped", num(self.skipped))
            } else {
                String::new()
            }
        );
        h
    }

    /// The stacked bars of BitTorrent and other bytes per bucket, with the share as a line.
    fn timeline(&self) -> String {
        let (w, hgt, left, bottom) = (960.0, 260.0, 70.0, 30.0);
        let mut s = format!(
            "<svg class=\"chart\" id=\"timeline\" viewBox=\"0 0 {w} {hgt}\" width=\"100%\" \
             role=\"img\" aria-label=\"BitTorrent and other bytes over time\">"
        );
        let (Some(&first), Some(&last)) = (self.buckets.keys().next(), self.buckets.keys().last())
        else {
            s.push_str("<text x=\"20\" y=\"40\">no flows</text></svg>");
            return s;
        };
        let n = (last - first + 1).max(1) as f64;
        let max = self
            .buckets
            .values()
            .map(|(a, b)| a + b)
            .fold(0.0_f64, f64::max)
            .max(1.0);
        let plot_w = w - left - 10.0;
        let plot_h = hgt - bottom - 10.0;
        let bw = (plot_w / n).max(0.5);
        // Axes and labels.
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" class=\"axis\"/>\
             <text x=\"{tx}\" y=\"20\" class=\"lbl\" text-anchor=\"end\">{}</text>\
             <text x=\"{tx}\" y=\"{y0}\" class=\"lbl\" text-anchor=\"end\">0</text>",
            bytes_label(max as u64),
            y0 = 10.0 + plot_h,
            x1 = w - 10.0,
            tx = left - 6.0
        );
        for (i, frac) in [0.0, 0.5, 1.0].iter().enumerate() {
            let t = (first as f64 + frac * (n - 1.0)) as i64 * self.width;
            let anchor = ["start", "middle", "end"][i];
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" class=\"lbl\" text-anchor=\"{anchor}\">{}</text>",
                left + frac * plot_w,
                hgt - 8.0,
                time_label(t, false)
            );
        }
        for (&k, &(bt, other)) in &self.buckets {
            let x = left + (k - first) as f64 * plot_w / n;
            let h_bt = bt / max * plot_h;
            let h_o = other / max * plot_h;
            let y_bt = 10.0 + plot_h - h_bt;
            let _ = write!(
                s,
                "<rect class=\"bt\" x=\"{x:.2}\" y=\"{y_bt:.2}\" width=\"{bw:.2}\" height=\"{h_bt:.2}\"/>\
                 <rect class=\"other\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{bw:.2}\" height=\"{h_o:.2}\"/>",
                y_bt - h_o
            );
        }
        s.push_str(
            "</svg><p class=\"legend\"><span class=\"sw bt\"></span>BitTorrent \
             <span class=\"sw other\"></span>other traffic</p>",
        );
        s
    }
}

/// Horizontal bars of `flows` (labelled with bytes when there are some).
fn bars(rows: &[(String, Vol)], id: &str) -> String {
    let (w, row_h) = (440.0, 26.0);
    let hgt = row_h * rows.len().max(1) as f64 + 8.0;
    let max = rows.iter().map(|(_, v)| v.flows).max().unwrap_or(0).max(1) as f64;
    let mut s = format!(
        "<svg class=\"chart\" id=\"{id}\" viewBox=\"0 0 {w} {hgt}\" width=\"100%\" role=\"img\">"
    );
    for (i, (name, v)) in rows.iter().enumerate() {
        let y = 4.0 + i as f64 * row_h;
        let bw = (v.flows as f64 / max * 220.0).max(if v.flows > 0 { 2.0 } else { 0.0 });
        let label = if v.bytes > 0 && v.bytes != v.flows {
            format!("{} · {}", num(v.flows), bytes_label(v.bytes))
        } else if v.bytes == v.flows && v.bytes > 0 {
            bytes_label(v.bytes)
        } else {
            num(v.flows)
        };
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{:.1}\" class=\"lbl\">{}</text>\
             <rect class=\"bt\" x=\"140\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"lbl\">{}</text>",
            y + 17.0,
            esc(name),
            row_h - 8.0,
            146.0 + bw,
            y + 17.0,
            esc(&label)
        );
    }
    s.push_str("</svg>");
    s
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}\
h1{font-size:22px;margin:0 0 8px}h2{font-size:15px;margin:0 0 8px}\
section{margin:16px 0;padding:12px;border:1px solid #ddd;border-radius:6px}\
.row{display:flex;gap:16px;flex-wrap:wrap}.row section{flex:1 1 300px}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eee}\
.mono{font-family:ui-monospace,monospace}.lead{font-size:15px}\
.bt{fill:#d9480f;background:#d9480f}.other{fill:#adb5bd;background:#adb5bd}\
.axis{stroke:#888}.lbl{font-size:12px;fill:#444}\
.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}\
footer{color:#777;font-size:12px;margin-top:24px}";

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn num(n: u64) -> String {
    let d = n.to_string();
    let mut o = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

fn bytes_label(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}

fn pct(a: u64, b: u64) -> String {
    if b == 0 {
        "0%".into()
    } else {
        format!("{:.1}%", a as f64 * 100.0 / b as f64)
    }
}

fn time_label(s: i64, date: bool) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(s) else {
        return s.to_string();
    };
    if date {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    } else {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(first: &str, last: &str, bytes: u64, bt: bool) -> Value {
        json!({
            "first_seen": first, "last_seen": last, "bytes": bytes,
            "app": if bt { "bittorrent" } else { "unknown" },
            "kind": if bt { Value::from("peer-tcp") } else { Value::Null },
            "encrypted": false, "confidence": "certain",
            "client": "10.77.0.2:5000", "server": "[2001:db8::1]:6881",
            "infohashes": ["<script>"], "client_software": "Transmission 3.00",
        })
    }

    #[test]
    fn aggregates_and_escapes() {
        let mut r = Report::default();
        r.add(&rec(
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:09Z",
            1000,
            true,
        ));
        r.add(&rec(
            "2026-01-01T00:00:05Z",
            "2026-01-01T00:00:05Z",
            500,
            false,
        ));
        r.add(&json!({"bytes": 3}));
        assert_eq!((r.all.flows, r.bittorrent.flows, r.skipped), (2, 1, 1));
        let total: f64 = r.buckets.values().map(|(a, b)| a + b).sum();
        assert!(
            (total - 1500.0).abs() < 1e-6,
            "every byte in some bucket: {total}"
        );
        assert!(r.hosts.contains_key("2001:db8::1"));
        let html = r.html("t <b>", 10);
        assert!(html.contains("t &lt;b&gt;") && !html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("66.7%"), "BitTorrent share of the bytes");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "nothing fetched"
        );
    }

    #[test]
    fn long_spans_coarsen_and_keep_every_byte() {
        let mut r = Report::default();
        for d in 0..40 {
            let t = format!("2026-01-{:02}T00:00:00Z", 1 + d % 28);
            let u = format!("2026-02-{:02}T12:00:00Z", 1 + d % 28);
            r.add(&rec(&t, &u, 1_000_000, d % 2 == 0));
        }
        assert!(r.buckets.len() <= MAX_BUCKETS);
        assert!(r.width > 1);
        let total: f64 = r.buckets.values().map(|(a, b)| a + b).sum();
        assert!((total - 40e6).abs() < 1.0, "{total}");
    }
}
