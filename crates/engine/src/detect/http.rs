//! HTTP tracker detector: announce and scrape requests on any port, and the peers in the
//! tracker's replies.
//!
//! Only streams whose first client bytes are `GET ` are buffered, and only up to
//! [`http_tracker::MAX_HEAD`] bytes per request and [`MAX_REPLY`] per reply, charged to the
//! engine-wide [`Budget`].

use bt::InfoHash;
use bt::http_tracker::{self, Kind as ReqKind};

use super::stream::Delivered;
use super::{Budget, Ctx};
use crate::flow::{Kind, Signal};
use crate::knowledge::Source;

/// Largest tracker reply buffered (a reply with 200 compact peers is ~1.3 kB).
pub const MAX_REPLY: usize = 64 * 1024;
/// Requests on one connection followed before the detector stops.
const MAX_REQUESTS: u8 = 8;

#[derive(Debug, Default)]
pub(crate) enum Http {
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
    /// Info-hashes of requests whose replies have not been read.
    asked: Vec<InfoHash>,
    requests: u8,
    tracker: bool,
}

impl Http {
    pub fn running(&self) -> bool {
        !matches!(self, Http::Off)
    }

    pub fn buffered(&self) -> usize {
        match self {
            Http::Active(a) => a.request.len() + a.reply.len(),
            _ => 0,
        }
    }

    /// Stops the detector and returns its buffers to the budget.
    pub fn stop(&mut self, budget: &mut Budget) {
        budget.give_back(self.buffered());
        *self = Http::Off;
    }

    /// The server closed its side: a reply without Content-Length ends here.
    pub fn stream_end(&mut self, ctx: &mut Ctx<'_>) {
        if let Http::Active(a) = self
            && !ctx.from_client
            && a.tracker
        {
            a.read_replies(ctx, true);
        }
    }

    pub fn deliver(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>, fin: bool) {
        if !d.contiguous {
            // A gap in a stream we were reading: nothing reliable follows.
            if matches!(self, Http::Active(_)) {
                self.stop(ctx.budget);
            }
            return;
        }
        match self {
            Http::Off => {}
            Http::Waiting => {
                if !ctx.from_client {
                    // The server spoke first: not HTTP.
                    *self = Http::Off;
                    return;
                }
                let n = d.bytes.len().min(4);
                if d.bytes[..n] != b"GET "[..n] {
                    *self = Http::Off;
                    return;
                }
                *self = Http::Active(Box::default());
                self.deliver(ctx, d, fin);
            }
            Http::Active(a) => {
                let (buf, cap) = if ctx.from_client {
                    (&mut a.request, http_tracker::MAX_HEAD)
                } else {
                    (&mut a.reply, MAX_REPLY)
                };
                let room = cap.saturating_sub(buf.len());
                let add = d.bytes.len().min(room);
                if add == 0 || !ctx.budget.take(add) {
                    self.stop(ctx.budget);
                    return;
                }
                buf.extend_from_slice(&d.bytes[..add]);
                let keep = if ctx.from_client {
                    a.read_requests(ctx)
                } else if a.tracker {
                    a.read_replies(ctx, fin)
                } else {
                    true
                };
                if !keep {
                    self.stop(ctx.budget);
                }
            }
        }
    }
}

impl Active {
    /// Parses every complete request in the buffer. Returns false when the detector should stop.
    fn read_requests(&mut self, ctx: &mut Ctx<'_>) -> bool {
        loop {
            if self.request.is_empty() {
                return true;
            }
            match http_tracker::parse_request(&self.request) {
                Err(bt::Error::Incomplete) => return true,
                Err(bt::Error::Invalid { .. }) => return self.tracker,
                Ok(req) => {
                    let signal = match req.kind {
                        ReqKind::Announce => Signal::HttpAnnounce,
                        ReqKind::Scrape => Signal::HttpScrape,
                    };
                    ctx.decide(Kind::TrackerHttp, signal);
                    self.tracker = true;
                    let port = req.port();
                    for h in req.info_hashes() {
                        ctx.infohash(h);
                        if self.asked.len() < 32 {
                            self.asked.push(h);
                        }
                        if let Some(port) = port.filter(|&p| p != 0) {
                            ctx.learn(
                                std::net::SocketAddr::new(ctx.src.ip(), port),
                                Some(h),
                                Source::Announce,
                            );
                        }
                    }
                    if let Some(id) = req.peer_id() {
                        ctx.peer_id(ctx.from, id);
                    }
                    self.requests += 1;
                    // Drop this request's head: up to the blank line if we have it.
                    let end = memchr::memmem::find(&self.request, b"\r\n\r\n").map(|i| i + 4);
                    match end {
                        Some(end) if self.requests < MAX_REQUESTS => {
                            let before = self.request.len();
                            self.request.drain(..end);
                            ctx.budget.give_back(before - self.request.len());
                        }
                        _ => {
                            // Headers still arriving, or enough requests: stop reading requests.
                            let n = self.request.len();
                            self.request = Vec::new();
                            ctx.budget.give_back(n);
                            return true;
                        }
                    }
                }
            }
        }
    }

    /// Parses complete replies and learns their peers. Returns false when there is nothing
    /// more to learn.
    fn read_replies(&mut self, ctx: &mut Ctx<'_>, at_end: bool) -> bool {
        loop {
            if self.reply.is_empty() {
                return true;
            }
            match http_tracker::parse_response(&self.reply, at_end) {
                Err(bt::Error::Incomplete) => return true,
                Err(bt::Error::Invalid { .. }) => return false,
                Ok(resp) => {
                    let hash = if self.asked.is_empty() {
                        None
                    } else {
                        Some(self.asked.remove(0))
                    };
                    if let Ok(reply) = http_tracker::parse_reply(resp.body) {
                        for peer in reply.peers() {
                            ctx.learn(peer, hash, Source::TrackerHttp);
                        }
                        for h in reply.scraped() {
                            ctx.infohash(h);
                        }
                    }
                    let used = resp.len.min(self.reply.len());
                    self.reply.drain(..used);
                    ctx.budget.give_back(used);
                }
            }
        }
    }
}
