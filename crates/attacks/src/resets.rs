//! Resets (`reset-injection`): a TCP RST or uTP ST_RESET whose TTL (hop limit) differs by
//! [`Thresholds::reset_ttl_delta`] or more from its sender's previous packet in the flow — a
//! third party on the path forged it — or after which the same sender goes on sending data
//! in the same connection (the real endpoint never reset it).

use std::net::SocketAddr;

use bt::utp::{Header, Type};
use engine::{FlowKey, Proto, TapPacket};

use crate::alerts::{Detection, Severity};
use crate::monitor::{Ctx, flow_name};
use crate::table::Table;
use crate::utp::hex;
use crate::{Category, Thresholds};

/// Seconds after a reset in which its sender's data still counts against it.
pub const AFTER_S: i64 = 60;

/// Resets matter on BitTorrent flows (found or suspected): resets elsewhere are not attacks
/// on swarms (middleboxes reset other protocols with their own TTL every day).
fn swarm(p: &TapPacket<'_>) -> bool {
    p.flow.verdict.is_bittorrent() || !p.flow.verdict.suspected.is_empty()
}

#[derive(Debug)]
struct Mark {
    at_s: i64,
    ttl: u8,
}

#[derive(Debug)]
pub(crate) struct Resets {
    /// Resets seen: flow, sender, uTP connection id (0 for TCP).
    marks: Table<(FlowKey, SocketAddr, u16), Mark>,
}

impl Resets {
    pub fn new(t: &Thresholds) -> Resets {
        Resets {
            marks: Table::new(t.max_state as usize),
        }
    }

    pub fn len(&self) -> usize {
        self.marks.len()
    }

    pub fn evicted(&self) -> u64 {
        self.marks.evicted
    }

    pub fn tcp(&mut self, p: &TapPacket<'_>, cx: &mut Ctx<'_>) {
        let Some(tcp) = p.tcp else {
            return;
        };
        if !swarm(p) {
            return;
        }
        use wire::tcp::flags;
        let mark = (p.flow.key, p.src, 0);
        if tcp.flags & flags::SYN != 0 {
            // A new connection on the same 5-tuple.
            self.marks.remove(&mark);
            return;
        }
        if tcp.flags & flags::RST != 0 {
            self.reset(p, 0, cx);
        } else if !p.payload.is_empty() && p.flow.reset {
            self.after(p, mark, cx);
        }
    }

    pub fn utp(&mut self, p: &TapPacket<'_>, h: &Header<'_>, cx: &mut Ctx<'_>) {
        if !swarm(p) {
            return;
        }
        let id = h.connection_id();
        match h.kind() {
            Type::Reset => self.reset(p, id, cx),
            Type::Syn => {}
            Type::Data | Type::State | Type::Fin => {
                // A reset carries the id its receiver expects, or one of the ids next to it
                // (libutp accepts both); the same sender's later packets carry its own.
                if !self.marks.is_empty() {
                    for m in [id, id.wrapping_add(1), id.wrapping_sub(1)] {
                        if self.marks.contains(&(p.flow.key, p.src, m)) {
                            self.after(p, (p.flow.key, p.src, m), cx);
                            break;
                        }
                    }
                }
            }
        }
    }

    fn reset(&mut self, p: &TapPacket<'_>, id: u16, cx: &mut Ctx<'_>) {
        let ttl = p.ip.ttl;
        self.marks.entry((p.flow.key, p.src, id), || Mark {
            at_s: cx.now_s,
            ttl,
        });
        let t = cx.t;
        if p.prev_ttl == 0 || ttl == 0 {
            return;
        }
        let delta = u32::from(ttl.abs_diff(p.prev_ttl));
        if delta < t.reset_ttl_delta {
            return;
        }
        let what = if p.proto == Proto::Tcp {
            "TCP RST"
        } else {
            "uTP ST_RESET"
        };
        cx.raise(
            Category::ResetInjection,
            &format!("target {}", p.dst.ip()),
            || format!("Injected reset: a {what} whose TTL is not its sender's"),
            Severity::High,
            || format!("reset_ttl_delta = {}", t.reset_ttl_delta),
            Detection {
                source: Some(p.src.ip()),
                target: Some(p.dst.ip()),
                flow: Some(flow_name(p.proto, p.src, p.dst)),
                infohash: p.flow.infohashes.first().map(|h| hex(&h.0)),
                measured: vec![
                    ("ttl", f64::from(ttl)),
                    ("sender_ttl", f64::from(p.prev_ttl)),
                ],
            },
        );
    }

    /// Data from a sender that reset the connection before.
    fn after(&mut self, p: &TapPacket<'_>, mark: (FlowKey, SocketAddr, u16), cx: &mut Ctx<'_>) {
        let Some(m) = self.marks.remove(&mark) else {
            return;
        };
        if cx.now_s.abs_diff(m.at_s) > AFTER_S.unsigned_abs() {
            return;
        }
        let t = cx.t;
        cx.raise(
            Category::ResetInjection,
            &format!("target {}", p.dst.ip()),
            || "Injected reset: its sender went on sending data after it".into(),
            Severity::High,
            || {
                format!(
                    "data after a reset within {AFTER_S} s (reset_ttl_delta = {})",
                    t.reset_ttl_delta
                )
            },
            Detection {
                source: Some(p.src.ip()),
                target: Some(p.dst.ip()),
                flow: Some(flow_name(p.proto, p.src, p.dst)),
                infohash: p.flow.infohashes.first().map(|h| hex(&h.0)),
                measured: vec![
                    ("reset_ttl", f64::from(m.ttl)),
                    ("data_ttl", f64::from(p.ip.ttl)),
                ],
            },
        );
    }
}
