//! `lsd`: Local Service Discovery (BEP 14). A `BT-SEARCH` datagram decides at once.

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use super::{Answer, Ctx, DatagramDetector};
use crate::flow::{Kind, Signal};
use crate::knowledge::Source;

/// LSD keeps no state: every announce stands alone.
#[derive(Debug, Default)]
pub(crate) struct Lsd;

impl DatagramDetector for Lsd {
    fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8], wire_len: u32) -> Answer {
        if payload.first() != Some(&b'B') || (payload.len() as u32) < wire_len {
            return Answer::NotMine;
        }
        let Ok(a) = bt::lsd::parse(payload) else {
            return Answer::NotMine;
        };
        ctx.decide(Kind::Lsd, Signal::LsdSearch);
        let listen = SocketAddr::new(ctx.src.ip(), a.port);
        for h in a.info_hashes() {
            ctx.infohash(h);
            if a.port != 0 {
                ctx.learn(listen, Some(h), Source::Lsd);
            }
        }
        Answer::Mine
    }
}
