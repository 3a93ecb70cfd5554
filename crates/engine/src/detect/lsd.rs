//! Local Service Discovery (BEP 14): a `BT-SEARCH` datagram decides at once.

use std::net::SocketAddr;

use super::Ctx;
use crate::flow::{Kind, Signal};
use crate::knowledge::Source;

/// Handles a datagram starting with `B`; returns whether it was an LSD announce.
pub(crate) fn datagram(ctx: &mut Ctx<'_>, payload: &[u8]) -> bool {
    let Ok(a) = bt::lsd::parse(payload) else {
        return false;
    };
    ctx.decide(Kind::Lsd, Signal::LsdSearch);
    let listen = SocketAddr::new(ctx.src.ip(), a.port);
    for h in a.info_hashes() {
        ctx.infohash(h);
        if a.port != 0 {
            ctx.learn(listen, Some(h), Source::Lsd);
        }
    }
    true
}
