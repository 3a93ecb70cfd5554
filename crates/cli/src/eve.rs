//! `--eve PATH`: flow, alert and DHT events in Suricata's EVE JSON shape
//! ([`swarmwall_io::eve`]), one per line, from every engine of a run (DHT events come from a
//! tap on each engine, so with several threads or workers their lines interleave in the order
//! they are seen; each line is whole).

use std::any::Any;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use attacks::Alert;
use engine::{FlowRecord, Tap, TapPacket};
use serde_json::{Value, json};
use swarmwall_io::eve;

struct Out {
    out: BufWriter<Box<dyn Write + Send>>,
    events: u64,
    error: Option<io::Error>,
}

/// The EVE output of a run, shared by the threads that write to it.
#[derive(Clone)]
pub struct Eve {
    out: Arc<Mutex<Out>>,
    path: String,
}

impl std::fmt::Debug for Eve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eve").field("path", &self.path).finish()
    }
}

impl Eve {
    /// Creates (truncates) `path`; `-` is standard output.
    pub fn create(path: &str) -> Result<Eve> {
        let w: Box<dyn Write + Send> = if path == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(path).with_context(|| format!("{path}: cannot create"))?)
        };
        Ok(Eve {
            out: Arc::new(Mutex::new(Out {
                out: BufWriter::new(w),
                events: 0,
                error: None,
            })),
            path: path.to_string(),
        })
    }

    fn event(&self, v: &Value) {
        let Ok(mut o) = self.out.lock() else { return };
        if o.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut o.out, v)
            .map_err(io::Error::from)
            .and_then(|()| o.out.write_all(b"\n"));
        match r {
            Ok(()) => o.events += 1,
            Err(e) => o.error = Some(e),
        }
    }

    /// A flow event for an ended flow.
    pub fn flow(&self, r: &FlowRecord) {
        self.event(&eve::flow_event(r));
    }

    /// Alert events.
    pub fn alerts(&self, alerts: &[Alert]) {
        for a in alerts {
            self.event(&alert_event(a));
        }
    }

    /// Flushes what was written (a reader following the file sees whole lines).
    pub fn flush(&self) {
        if let Ok(mut o) = self.out.lock()
            && o.error.is_none()
            && let Err(e) = o.out.flush()
        {
            o.error = Some(e);
        }
    }

    /// Flushes; the events written, or the first error.
    pub fn finish(&self) -> Result<u64> {
        self.flush();
        let mut o = self
            .out
            .lock()
            .map_err(|_| anyhow::anyhow!("{}: a writer panicked", self.path))?;
        match o.error.take() {
            Some(e) => {
                Err(anyhow::Error::new(e)
                    .context(format!("{}: cannot write EVE events", self.path)))
            }
            None => Ok(o.events),
        }
    }

    /// A tap that writes a DHT event for every KRPC message, after handing the packet to
    /// `inner` (the attack monitor) if there is one.
    pub fn tap(&self, inner: Option<Box<dyn Tap>>) -> Box<dyn Tap> {
        Box::new(DhtTap {
            eve: self.clone(),
            inner: inner.unwrap_or_else(|| Box::new(Nothing)),
        })
    }
}

/// The taps of a run's engines: the attack monitor's, the EVE DHT events', both or none.
pub fn taps(monitor: Option<attacks::Shared>, eve: Option<Eve>) -> Option<engine::Taps> {
    match (monitor, eve) {
        (m, Some(e)) => Some(engine::Taps::new(move || {
            e.tap(m.clone().map(|m| Box::new(m) as Box<dyn Tap>))
        })),
        (Some(m), None) => Some(engine::Taps::new(move || {
            Box::new(m.clone()) as Box<dyn Tap>
        })),
        (None, None) => None,
    }
}

/// Signature ids: 8,100,000 plus the category's number (stable).
const SID_BASE: u64 = 8_100_000;

/// An alert event: Suricata's `alert` object (`signature_id`, `signature`, `category`,
/// `severity` 1 high to 3 low), the incident itself under `swarmwall`.
pub fn alert_event(a: &Alert) -> Value {
    let n = attacks::Category::ALL
        .iter()
        .position(|c| *c == a.category)
        .unwrap_or(0) as u64;
    let severity = match a.severity {
        attacks::Severity::High => 1,
        attacks::Severity::Medium => 2,
        attacks::Severity::Low => 3,
    };
    json!({
        "timestamp": eve::timestamp(a.last_ns),
        "event_type": "alert",
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": SID_BASE + n + 1,
            "rev": 1,
            "signature": format!("SWARMWALL {}: {}", a.category.as_str(), a.signature),
            "category": a.category.as_str(),
            "severity": severity,
        },
        "swarmwall": crate::alerts::to_json(a),
    })
}

struct DhtTap {
    eve: Eve,
    inner: Box<dyn Tap>,
}

/// The inner tap when there is no other observer.
struct Nothing;

impl Tap for Nothing {
    fn packet(&mut self, _: &TapPacket<'_>) {}
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Tap for DhtTap {
    fn packet(&mut self, p: &TapPacket<'_>) {
        self.inner.packet(p);
        if p.facts.dht.is_some() {
            let id = eve::flow_id(p.proto, p.flow.client, p.flow.server, p.flow.first_ns);
            if let Some(v) = eve::dht_event(p.ts_ns, p.src, p.dst, id, p.payload) {
                self.eve.event(&v);
            }
        }
    }

    /// The inner tap's (so that the attack monitor is still found through the engine).
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self.inner.as_any_mut()
    }
}
