//! Tunnel: HTTP CONNECT (RFC 9110, section 9.3.6), parsed by the `proxy` crate. The client
//! asks `CONNECT host:port HTTP/1.1`; a 2xx response head opens the tunnel, and the inner
//! streams start after the request head (client) and after the response head (server).
//! Clients wait for the response before they send the inner bytes.

#[cfg(test)]
mod tests;

use proxy::http_connect;

use super::heads::Heads;
use super::socks::target;
use super::{Answer, Budget, Ctx, Delivered, Opened, TunnelDetector};
use crate::flow::{Target, Tunnel, TunnelKind};

#[derive(Debug, Default)]
pub(crate) enum Connect {
    #[default]
    Waiting,
    /// The heads so far, and the request once parsed (target, client's inner start).
    Active(Box<(Heads, Option<(Target, u32)>)>),
    Off,
}

impl TunnelDetector for Connect {
    fn bytes(&mut self, ctx: &mut Ctx<'_>, d: &Delivered<'_>) -> (Answer, Option<Opened>) {
        if let Connect::Waiting = self {
            if !ctx.from_client || d.offset != 0 || !http_connect::starts_like(d.bytes) {
                *self = Connect::Off;
                return (Answer::NotMine, None);
            }
            *self = Connect::Active(Box::new((Heads::new(http_connect::MAX_HEAD), None)));
        }
        let Connect::Active(a) = self else {
            return (Answer::NotMine, None);
        };
        let (heads, request) = &mut **a;
        let answer = if !heads.push(ctx.from_client, d, ctx.budget) {
            (Answer::NotMine, None)
        } else {
            step(heads, request, ctx.budget)
        };
        if answer.0 != Answer::NotYet {
            self.stop(ctx.budget);
        }
        answer
    }

    fn stop(&mut self, budget: &mut Budget) {
        if let Connect::Active(a) = self {
            a.0.clear(budget);
        }
        *self = Connect::Off;
    }

    fn buffered(&self) -> usize {
        match self {
            Connect::Active(a) => a.0.buffered(),
            _ => 0,
        }
    }
}

fn step(
    heads: &mut Heads,
    request: &mut Option<(Target, u32)>,
    budget: &mut Budget,
) -> (Answer, Option<Opened>) {
    loop {
        if request.is_none() {
            match http_connect::request(heads.get(true)) {
                Ok(r) => {
                    let target = target(&r.dest);
                    let at = heads.consume(true, r.len, budget);
                    *request = Some((target, at));
                }
                Err(proxy::Error::Incomplete) => return (Answer::NotYet, None),
                Err(proxy::Error::Invalid { .. }) => return (Answer::NotMine, None),
            }
        }
        let r = match http_connect::response(heads.get(false)) {
            Ok(r) => r,
            Err(proxy::Error::Incomplete) => return (Answer::NotYet, None),
            Err(proxy::Error::Invalid { .. }) => return (Answer::NotMine, None),
        };
        let server_at = heads.consume(false, r.len, budget);
        if r.status == 407 {
            // Proxy authentication required: the client may ask again, with credentials, on
            // the same connection.
            *request = None;
            continue;
        }
        if !(200..300).contains(&r.status) {
            return (Answer::NotMine, None);
        }
        let Some((target, client_at)) = request.take() else {
            return (Answer::NotMine, None);
        };
        let rest = heads.take(budget);
        let open = Opened {
            tunnel: Tunnel {
                kind: TunnelKind::HttpConnect,
                target,
                command: "connect",
                relay: None,
            },
            inner: Some([client_at, server_at]),
            relay: None,
            rest,
        };
        return (Answer::Mine, Some(open));
    }
}
