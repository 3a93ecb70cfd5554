//! `tracker-http`: announce and scrape requests on any port, directly or through an HTTP
//! proxy (an absolute URI, which names the tracker: the flow's tunnel), and the peers in the
//! tracker's replies.
//!
//! Only streams whose first client bytes are `GET ` are buffered, and only up to
//! [`http_tracker::MAX_HEAD`] bytes per request and [`MAX_REPLY`] per reply, charged to the
//! engine-wide [`Budget`]. A connection whose first request is not a tracker's is plain HTTP
//! and dropped at once. On a tracker connection (keep-alive), up to [`MAX_REQUESTS`]
//! requests are read, and each reply is paired with its request in order.

use std::collections::VecDeque;
use std::net::SocketAddr;

use bt::InfoHash;
use bt::http_tracker::{self, Kind as ReqKind};

use super::{Answer, Budget, Ctx, Delivered, StreamDetector};
use crate::flow::{Kind, Signal, Target, Tunnel, TunnelKind};
use crate::knowledge::Source;

/// Largest tracker reply buffered (a reply with 200 compact peers is ~1.3 kB).
pub const MAX_REPLY: usize = 64 * 1024;
/// Requests on one connection read before the detector stops reading requests.
const MAX_REQUESTS: u8 = 8;

#[derive(Debug, Default)]
pub(crate) enum HttpTracker {
    /// No client bytes yet.
    #[default]
    Waiting,
    Active(Box<Active>),
    Off,
}

#[derive(Debug, Default)]
pub(crate) struct Active {
    request: Vec<u8>,
    reply: Vec<u8>,
    /// One entry per request whose reply has not been read yet: the torrent an announce
    /// was about (`None` for a scrape, whose reply names its torrents itself).
    asked: VecDeque<Option<InfoHash>>,
    requests: u8,
    /// The connection carried a tracker request: read its replies.
    tracker: bool,
    /// The rest of a request head is still arriving: drop bytes up to its blank line.
    skipping: bool,
}

impl StreamDetector for HttpTracker {
    fn bytes(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>, closing: bool) -> Answer {
        self.deliver(ctx, d, closing);
        if ctx.has(Kind::TrackerHttp) {
            Answer::Mine
        } else if self.running() {
            Answer::NotYet
        } else {
            Answer::NotMine
        }
    }

    fn closed(&mut self, ctx: &mut Ctx<'_>) {
        self.stream_end(ctx);
    }

    fn running(&self) -> bool {
        !matches!(self, HttpTracker::Off)
    }

    fn buffered(&self) -> usize {
        match self {
            HttpTracker::Active(a) => a.request.len() + a.reply.len(),
            _ => 0,
        }
    }

    /// Stops the detector and returns its buffers to the budget.
    fn stop(&mut self, budget: &mut Budget) {
        budget.give_back(self.buffered());
        *self = HttpTracker::Off;
    }
}

impl HttpTracker {
    /// The server closed its side: a reply without Content-Length ends here.
    fn stream_end(&mut self, ctx: &mut Ctx<'_>) {
        if let HttpTracker::Active(a) = self
            && !ctx.from_client
            && a.tracker
        {
            a.read_replies(ctx, true);
        }
    }

    fn deliver(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>, fin: bool) {
        if !d.contiguous {
            // A gap in a stream we were reading: nothing reliable follows.
            if matches!(self, HttpTracker::Active(_)) {
                self.stop(ctx.budget);
            }
            return;
        }
        match self {
            HttpTracker::Off => {}
            HttpTracker::Waiting => {
                if !ctx.from_client {
                    // The server spoke first: not HTTP.
                    *self = HttpTracker::Off;
                    return;
                }
                let n = d.bytes.len().min(4);
                if d.bytes[..n] != b"GET "[..n] {
                    *self = HttpTracker::Off;
                    return;
                }
                *self = HttpTracker::Active(Box::default());
                self.deliver(ctx, d, fin);
            }
            HttpTracker::Active(a) => {
                let keep = if ctx.from_client {
                    a.requests >= MAX_REQUESTS || a.take_request(ctx, d.bytes)
                } else if a.tracker {
                    a.take_reply(ctx, d.bytes, fin)
                } else {
                    // Replies are read only once a request was a tracker's.
                    true
                };
                let done = a.requests >= MAX_REQUESTS && a.asked.is_empty() && a.reply.is_empty();
                if !keep || done {
                    self.stop(ctx.budget);
                }
            }
        }
    }
}

/// Appends to a buffer within its cap and the budget; false if either is exceeded.
fn append(buf: &mut Vec<u8>, bytes: &[u8], cap: usize, budget: &mut Budget) -> bool {
    if buf.len() + bytes.len() > cap || !budget.take(bytes.len()) {
        return false;
    }
    buf.extend_from_slice(bytes);
    true
}

/// Drops the first `n` bytes of a buffer and returns them to the budget.
fn consume(buf: &mut Vec<u8>, n: usize, budget: &mut Budget) {
    let n = n.min(buf.len());
    buf.drain(..n);
    budget.give_back(n);
}

impl Active {
    /// Takes client bytes and parses every complete request. False: stop the detector.
    fn take_request(&mut self, ctx: &mut Ctx<'_>, bytes: &[u8]) -> bool {
        if !append(&mut self.request, bytes, http_tracker::MAX_HEAD, ctx.budget) {
            return false;
        }
        while self.requests < MAX_REQUESTS {
            if self.skipping {
                match memchr::memmem::find(&self.request, b"\r\n\r\n") {
                    Some(i) => {
                        consume(&mut self.request, i + 4, ctx.budget);
                        self.skipping = false;
                    }
                    None => {
                        // Keep only what could start the blank line.
                        let n = self.request.len().saturating_sub(3);
                        consume(&mut self.request, n, ctx.budget);
                        return true;
                    }
                }
            }
            if self.request.is_empty() {
                return true;
            }
            match http_tracker::parse_request(&self.request) {
                Err(bt::Error::Incomplete) => return true,
                Err(bt::Error::Invalid { .. }) => {
                    if !self.tracker {
                        // The connection's first request is not a tracker's: plain HTTP.
                        return false;
                    }
                    // Another request on a tracker connection: skip it, expect its reply.
                    self.asked.push_back(None);
                }
                Ok(req) => {
                    let signal = match req.kind {
                        ReqKind::Announce => Signal::HttpAnnounce,
                        ReqKind::Scrape => Signal::HttpScrape,
                    };
                    if !self.tracker
                        && let Some(target) = req.absolute.and_then(authority)
                    {
                        // An absolute URI: the request was sent to an HTTP proxy.
                        ctx.tunnel(Tunnel {
                            kind: TunnelKind::HttpProxy,
                            target,
                            command: "request",
                            relay: None,
                        });
                    }
                    ctx.decide(Kind::TrackerHttp, signal);
                    self.tracker = true;
                    let port = req.port().filter(|&p| p != 0);
                    for h in req.info_hashes() {
                        ctx.infohash(h);
                        if let Some(port) = port {
                            ctx.learn(
                                SocketAddr::new(ctx.src.ip(), port),
                                Some(h),
                                Source::Announce,
                            );
                        }
                    }
                    if let Some(id) = req.peer_id() {
                        ctx.peer_id(ctx.from, id);
                    }
                    let about = match req.kind {
                        ReqKind::Announce => req.info_hashes().next(),
                        ReqKind::Scrape => None,
                    };
                    self.asked.push_back(about);
                }
            }
            self.requests = self.requests.saturating_add(1);
            self.skipping = true;
        }
        // Enough requests: keep nothing more of the client's stream.
        let n = self.request.len();
        consume(&mut self.request, n, ctx.budget);
        true
    }

    /// Takes server bytes and parses complete replies, learning their peers. False: stop.
    fn take_reply(&mut self, ctx: &mut Ctx<'_>, bytes: &[u8], at_end: bool) -> bool {
        append(&mut self.reply, bytes, MAX_REPLY, ctx.budget) && self.read_replies(ctx, at_end)
    }

    fn read_replies(&mut self, ctx: &mut Ctx<'_>, at_end: bool) -> bool {
        while !self.reply.is_empty() {
            match http_tracker::parse_response(&self.reply, at_end) {
                Err(bt::Error::Incomplete) => return true,
                Err(bt::Error::Invalid { .. }) => return false,
                Ok(resp) => {
                    let hash = self.asked.pop_front().flatten();
                    if let Ok(reply) = http_tracker::parse_reply(resp.body) {
                        for peer in reply.peers() {
                            ctx.learn(peer, hash, Source::TrackerHttp);
                        }
                        for h in reply.scraped() {
                            ctx.infohash(h);
                        }
                    }
                    let used = resp.len;
                    consume(&mut self.reply, used, ctx.budget);
                }
            }
        }
        true
    }
}

/// The tracker named by an absolute URI's authority (`host[:port]`, an IPv6 address in
/// brackets; `default_port` when absent); `None` when it is not one.
fn authority((a, default_port): (&[u8], u16)) -> Option<Target> {
    let text = std::str::from_utf8(a).ok()?;
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (h, p.parse().ok()?),
            None if after.is_empty() => (h, default_port),
            None => return None,
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (text, default_port),
        }
    };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Some(Target::Addr(SocketAddr::new(ip, port)));
    }
    let name = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'));
    name.then(|| Target::Name(host.into(), port))
}

#[cfg(test)]
mod tests;
