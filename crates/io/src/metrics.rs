//! Prometheus metrics: the text exposition format (version 0.0.4) and a minimal HTTP endpoint
//! that serves the latest page (`--metrics ADDR:PORT` on `watch` and `enforce`).
//!
//! The page is written here rather than by `prometheus-client`: that crate writes OpenMetrics
//! text (`# TYPE swarmwall_packets counter` over a `swarmwall_packets_total` sample, and a
//! closing `# EOF`), which `promtool check metrics` (Prometheus 2.42, Debian 12) rejects; the
//! classic format is a few lines of escaping. Counters carry their `_total` name in HELP, TYPE
//! and samples alike, as promtool wants.
//!
//! The daemons build a fresh [`Page`] from their counters about once a second and
//! [`Exporter::publish`] it; a scrape gets the last one published. The endpoint answers
//! `GET /metrics` (200), any other path with 404 and any other method with 405, one connection
//! at a time, each given 2 s to send its request: scrapes are rare, and a slow client delays
//! the next scrape, never the daemon.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

#[derive(Debug)]
struct Family {
    name: String,
    help: &'static str,
    kind: Kind,
    samples: Vec<(String, f64)>,
}

/// One exposition page: metric families in the order first added, each with its samples.
#[derive(Debug, Default)]
pub struct Page {
    families: Vec<Family>,
}

impl Page {
    /// Adds a counter sample; `name` ends in `_total`.
    pub fn counter(&mut self, name: &str, help: &'static str, labels: &[(&str, &str)], v: u64) {
        debug_assert!(name.ends_with("_total"), "{name}");
        self.add(name, help, Kind::Counter, labels, v as f64);
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &str, help: &'static str, labels: &[(&str, &str)], v: f64) {
        self.add(name, help, Kind::Gauge, labels, v);
    }

    fn add(&mut self, name: &str, help: &'static str, kind: Kind, labels: &[(&str, &str)], v: f64) {
        let mut sample = String::new();
        if !labels.is_empty() {
            sample.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    sample.push(',');
                }
                let _ = write!(sample, "{k}=\"{}\"", escape_label(val));
            }
            sample.push('}');
        }
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((sample, v)),
            None => self.families.push(Family {
                name: name.to_string(),
                help,
                kind,
                samples: vec![(sample, v)],
            }),
        }
    }

    /// The page in the text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for f in &self.families {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(s, "# HELP {} {}", f.name, escape_help(f.help));
            let _ = writeln!(s, "# TYPE {} {kind}", f.name);
            for (labels, v) in &f.samples {
                let _ = writeln!(s, "{}{labels} {}", f.name, number(*v));
            }
        }
        s
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The HTTP endpoint: serves the last page published until dropped.
pub struct Exporter {
    addr: SocketAddr,
    page: Arc<Mutex<Arc<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Exporter {
    /// Binds `addr` (e.g. `127.0.0.1:9477`, `[::]:9477`; port 0 picks one) and starts serving.
    /// Bind before dropping privileges: a port below 1024 needs them.
    pub fn start(addr: &str) -> io::Result<Exporter> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            io::Error::new(e.kind(), format!("--metrics {addr}: cannot listen: {e}"))
        })?;
        let local = listener.local_addr()?;
        let page = Arc::new(Mutex::new(Arc::new(String::new())));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (page.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("swarmwall-metrics".into())
            .spawn(move || serve(&listener, &p, &s))?;
        Ok(Exporter {
            addr: local,
            page,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the page scrapes get.
    pub fn publish(&self, page: &Page) {
        let text = Arc::new(page.render());
        if let Ok(mut p) = self.page.lock() {
            *p = text;
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connections answered at once at most (each on a thread of its own, so that a client that
/// says nothing delays no other); beyond, a connection is closed unanswered.
const MAX_CLIENTS: usize = 8;

fn serve(listener: &TcpListener, page: &Mutex<Arc<String>>, stop: &AtomicBool) {
    let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut conn) = conn else { continue };
        if busy.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
            busy.fetch_sub(1, Ordering::AcqRel);
            continue; // dropped: closed
        }
        let text = page.lock().map(|p| p.clone()).unwrap_or_default();
        let done = busy.clone();
        let spawned = std::thread::Builder::new()
            .name("swarmwall-metrics-conn".into())
            .spawn(move || {
                let _ = answer(&mut conn, &text);
                done.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            busy.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Reads one request (its head, at most 8 KiB, within 2 s in all: a client that trickles
/// bytes holds its thread no longer) and answers it.
fn answer(conn: &mut TcpStream, page: &str) -> io::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    conn.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        conn.set_read_timeout(Some(left))?;
        match conn.read(&mut buf)? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, body, kind) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            ("200 OK", page, "text/plain; version=0.0.4; charset=utf-8")
        }
        ("GET" | "HEAD", _) => ("404 Not Found", "not found: try /metrics\n", "text/plain"),
        _ => ("405 Method Not Allowed", "only GET\n", "text/plain"),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    conn.write_all(&out)?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn families_grouped_labels_escaped() {
        let mut p = Page::default();
        p.counter("swarmwall_packets_total", "Packets read.", &[], 12);
        p.counter(
            "swarmwall_decisions_total",
            "Decisions.",
            &[("kind", "peer-tcp"), ("action", "drop")],
            3,
        );
        p.gauge("swarmwall_flows_open", "Open flows.\nNow.", &[], 2.5);
        p.counter(
            "swarmwall_decisions_total",
            "Decisions.",
            &[("kind", "a\"b\\c\nd"), ("action", "allow")],
            1,
        );
        assert_eq!(
            p.render(),
            "# HELP swarmwall_packets_total Packets read.\n\
             # TYPE swarmwall_packets_total counter\n\
             swarmwall_packets_total 12\n\
             # HELP swarmwall_decisions_total Decisions.\n\
             # TYPE swarmwall_decisions_total counter\n\
             swarmwall_decisions_total{kind=\"peer-tcp\",action=\"drop\"} 3\n\
             swarmwall_decisions_total{kind=\"a\\\"b\\\\c\\nd\",action=\"allow\"} 1\n\
             # HELP swarmwall_flows_open Open flows.\\nNow.\n\
             # TYPE swarmwall_flows_open gauge\n\
             swarmwall_flows_open 2.5\n"
        );
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(1e20), "100000000000000000000");
    }

    #[test]
    fn serves_the_last_page_published() {
        let e = Exporter::start("127.0.0.1:0").unwrap();
        let addr = e.local_addr();
        let empty = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(empty.starts_with("HTTP/1.1 200 OK\r\n"), "{empty}");
        assert!(
            empty.ends_with("\r\n\r\n"),
            "nothing published yet: {empty}"
        );
        let mut p = Page::default();
        p.counter("swarmwall_packets_total", "Packets read.", &[], 7);
        e.publish(&p);
        let r = get(addr, "GET /metrics HTTP/1.0\r\n\r\n");
        assert!(r.contains("text/plain; version=0.0.4"), "{r}");
        assert!(r.ends_with("swarmwall_packets_total 7\n"), "{r}");
        assert!(get(addr, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        let head = get(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.ends_with("\r\n\r\n"), "no body for HEAD: {head}");
        // A client that says nothing and goes away does not stop the endpoint.
        drop(TcpStream::connect(addr).unwrap());
        assert!(get(addr, "GET /metrics HTTP/1.1\r\n\r\n").contains("_total 7"));
        // Nor does one that says nothing and stays (the server waits 2 s for a request): the
        // next scrape is answered meanwhile.
        let silent = TcpStream::connect(addr).unwrap();
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut r = String::new();
        c.read_to_string(&mut r)
            .expect("answered while a silent client is connected");
        assert!(r.contains("_total 7"), "{r}");
        drop(silent);
        drop(e);
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
            "closed when dropped"
        );
    }

    #[test]
    fn a_client_that_trickles_its_request_is_cut_off() {
        let e = Exporter::start("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(e.local_addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        // One piece every half second, for three seconds: past the two the server gives a
        // request in all (each piece is well within a per-read timeout).
        for piece in ["GET ", "/met", "rics", " HTTP", "/1.1", "\r\n"] {
            if c.write_all(piece.as_bytes()).is_err() {
                break; // already closed
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let _ = c.write_all(b"\r\n");
        let mut r = Vec::new();
        let _ = c.read_to_end(&mut r);
        assert!(r.is_empty(), "answered: {}", String::from_utf8_lossy(&r));
    }

    #[test]
    fn a_port_in_use_is_a_clear_error() {
        let e = Exporter::start("127.0.0.1:0").unwrap();
        let err = Exporter::start(&e.local_addr().to_string()).unwrap_err();
        assert!(err.to_string().contains("cannot listen"), "{err}");
    }
}
