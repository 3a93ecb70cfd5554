//! Tunnel: SOCKS4, SOCKS4a and SOCKS5 (RFC 1928, with RFC 1929 username/password), parsed
//! by the `proxy` crate.
//!
//! The client speaks first: a SOCKS5 greeting (`05 n methods`) or a SOCKS4 request (`04 01
//! port ip user 00`). A SOCKS5 negotiation is followed message by message — greeting, the
//! server's method choice (which must be one the client offered), the optional
//! username/password exchange, the request, the reply — and the tunnel opens at a successful
//! reply: for CONNECT, the inner streams start after the request (client) and after the reply
//! (server); for UDP ASSOCIATE, the reply names the relay the proxy opened for the client's
//! datagrams (an unspecified address there means the proxy's own), which the knowledge store
//! remembers so that those datagrams are read through their SOCKS header (see the engine's
//! UDP path). Anything that breaks the sequence — a wrong version or reserved byte, a method
//! the client did not offer, GSSAPI (its messages are encapsulated), a refusal, a gap — ends
//! the detector: not a tunnel.

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use proxy::{Dest, Host, socks4, socks5};

use super::heads::Heads;
use super::{Answer, Budget, Ctx, Delivered, Opened, TunnelDetector};
use crate::flow::{Target, Tunnel, TunnelKind};

/// Opening bytes kept per direction (a SOCKS5 request with a 255-byte name is 262 bytes; a
/// SOCKS4a request with a user id and a name at most 520).
const CAP: usize = 1024;

#[derive(Debug, Default)]
pub(crate) enum Socks {
    /// No client byte yet.
    #[default]
    Waiting,
    Active(Box<Negotiation>),
    Off,
}

#[derive(Debug)]
pub(crate) struct Negotiation {
    heads: Heads,
    step: Step,
    /// SOCKS5 methods the client offered (bit i: method i, for 0–9).
    offered: u16,
    /// The request, once parsed: command, target, and where the client's inner bytes start.
    request: Option<(Command, Target, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Connect,
    UdpAssociate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Greeting,
    Method,
    AuthRequest,
    AuthReply,
    Request,
    Reply,
    Socks4Request,
    Socks4Reply,
}

impl TunnelDetector for Socks {
    fn bytes(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>) -> (Answer, Option<Opened>) {
        let answer = match self {
            Socks::Off => return (Answer::NotMine, None),
            Socks::Waiting => {
                let step = match (ctx.from_client, d.offset, d.bytes.first()) {
                    (true, 0, Some(&socks5::VERSION)) => Step::Greeting,
                    (true, 0, Some(4)) => Step::Socks4Request,
                    _ => {
                        *self = Socks::Off;
                        return (Answer::NotMine, None);
                    }
                };
                let mut n = Box::new(Negotiation {
                    heads: Heads::new(CAP),
                    step,
                    offered: 0,
                    request: None,
                });
                let r = n.feed(ctx, d);
                *self = Socks::Active(n);
                r
            }
            Socks::Active(n) => n.feed(ctx, d),
        };
        if answer.0 != Answer::NotYet {
            self.stop(ctx.budget);
        }
        answer
    }

    fn stop(&mut self, budget: &mut Budget) {
        if let Socks::Active(n) = self {
            n.heads.clear(budget);
        }
        *self = Socks::Off;
    }

    fn buffered(&self) -> usize {
        match self {
            Socks::Active(n) => n.heads.buffered(),
            _ => 0,
        }
    }
}

impl Negotiation {
    fn feed(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>) -> (Answer, Option<Opened>) {
        if !self.heads.push(ctx.from_client, d, ctx.budget) {
            return (Answer::NotMine, None);
        }
        loop {
            match self.step(ctx) {
                Ok(Some(open)) => return (Answer::Mine, Some(open)),
                Ok(None) => {}
                Err(proxy::Error::Incomplete) => return (Answer::NotYet, None),
                Err(proxy::Error::Invalid { .. }) => return (Answer::NotMine, None),
            }
        }
    }

    /// Parses the next message if it is complete; `Some` when the tunnel opened.
    fn step(&mut self, ctx: &mut Ctx<'_>) -> Result<Option<Opened>, proxy::Error> {
        let (_, proxy) = ctx.ends();
        let budget = &mut *ctx.budget;
        let client = self.heads.get(true);
        let server = self.heads.get(false);
        match self.step {
            Step::Greeting => {
                let g = socks5::greeting(client)?;
                for &m in g.methods {
                    if m < 16 {
                        self.offered |= 1 << m;
                    }
                }
                self.heads.consume(true, g.len, budget);
                self.step = Step::Method;
            }
            Step::Method => {
                let m = socks5::method_choice(server)?;
                if m >= 16 || self.offered & (1 << m) == 0 {
                    return Err(invalid("a method the client offered"));
                }
                self.step = match m {
                    socks5::method::NO_AUTH => Step::Request,
                    socks5::method::USERNAME_PASSWORD => Step::AuthRequest,
                    _ => return Err(invalid("a method whose messages can be followed")),
                };
                self.heads.consume(false, 2, budget);
            }
            Step::AuthRequest => {
                let n = socks5::auth_request(client)?;
                self.heads.consume(true, n, budget);
                self.step = Step::AuthReply;
            }
            Step::AuthReply => {
                if socks5::auth_reply(server)? != 0 {
                    return Err(invalid("a successful authentication"));
                }
                self.heads.consume(false, 2, budget);
                self.step = Step::Request;
            }
            Step::Request => {
                let r = socks5::request(client)?;
                let command = match r.command {
                    socks5::Command::Connect => Command::Connect,
                    socks5::Command::UdpAssociate => Command::UdpAssociate,
                    socks5::Command::Bind => return Err(invalid("CONNECT or UDP ASSOCIATE")),
                };
                let target = target(&r.dest);
                let at = self.heads.consume(true, r.len, budget);
                self.request = Some((command, target, at));
                self.step = Step::Reply;
            }
            Step::Reply => {
                let r = socks5::reply(server)?;
                if r.code != 0 {
                    return Err(invalid("a successful reply"));
                }
                let relay = relay(proxy, &r.bound);
                let len = r.len;
                let Some((command, target, client_at)) = self.request.take() else {
                    return Err(invalid("a request before the reply"));
                };
                let at = self.heads.consume(false, len, budget);
                let rest = self.heads.take(budget);
                return Ok(Some(match command {
                    Command::Connect => Opened {
                        tunnel: Tunnel {
                            kind: TunnelKind::Socks5,
                            target,
                            command: "connect",
                            relay: None,
                        },
                        inner: Some([client_at, at]),
                        relay: None,
                        rest,
                    },
                    Command::UdpAssociate => Opened {
                        tunnel: Tunnel {
                            kind: TunnelKind::Socks5,
                            target: relay.map_or(target, Target::Addr),
                            command: "udp-associate",
                            relay: None,
                        },
                        inner: None,
                        relay,
                        rest: Default::default(),
                    },
                }));
            }
            Step::Socks4Request => {
                let r = socks4::request(client)?;
                if !r.connect {
                    return Err(invalid("CONNECT"));
                }
                let target = target(&r.dest);
                let at = self.heads.consume(true, r.len, budget);
                self.request = Some((Command::Connect, target, at));
                self.step = Step::Socks4Reply;
            }
            Step::Socks4Reply => {
                if !socks4::reply(server)? {
                    return Err(invalid("a granted request"));
                }
                let at = self.heads.consume(false, socks4::REPLY_LEN, budget);
                let Some((_, target, client_at)) = self.request.take() else {
                    return Err(invalid("a request before the reply"));
                };
                let rest = self.heads.take(budget);
                return Ok(Some(Opened {
                    tunnel: Tunnel {
                        kind: TunnelKind::Socks4,
                        target,
                        command: "connect",
                        relay: None,
                    },
                    inner: Some([client_at, at]),
                    relay: None,
                    rest,
                }));
            }
        }
        Ok(None)
    }
}

fn invalid(expected: &'static str) -> proxy::Error {
    proxy::Error::Invalid { expected }
}

/// A destination as a tunnel target.
pub(crate) fn target(d: &Dest<'_>) -> Target {
    match d.host {
        Host::V4(a) => Target::Addr(SocketAddr::new(a.into(), d.port)),
        Host::V6(a) => Target::Addr(SocketAddr::new(a.into(), d.port)),
        Host::Name(n) => Target::Name(String::from_utf8_lossy(n).into(), d.port),
    }
}

/// The relay a UDP ASSOCIATE reply names: an unspecified address means the proxy's own
/// (the address the client reached it at); a name cannot be used.
fn relay(proxy: SocketAddr, bound: &Dest<'_>) -> Option<SocketAddr> {
    match bound.host {
        _ if bound.is_unspecified() => Some(SocketAddr::new(proxy.ip(), bound.port)),
        Host::V4(a) => Some(SocketAddr::new(a.into(), bound.port)),
        Host::V6(a) => Some(SocketAddr::new(a.into(), bound.port)),
        Host::Name(_) => None,
    }
}
