//! `peer-utp`: the peer wire protocol over uTP (BEP 29).
//!
//! A strictly valid header (see `bt::utp`) is not enough on its own: random bytes pass it
//! now and then, and some protocols (STUN, RakNet, CAPWAP/DTLS) start with bytes that do.
//! A flow is decided when
//! * a SYN is answered exactly (same connection id, its sequence number acknowledged), or
//!   [`EXCHANGES`] packets answer the other direction's last packet (connection ids one
//!   apart, an ack at or a window behind its sequence number): `utp-exchange`;
//! * uTP data carries a peer wire handshake: `utp-bt-handshake`;
//! * or, when only one direction is seen (a peer that never answers, or an asymmetric tap),
//!   [`ONE_WAY_MIN`] headers of one connection, over at least [`ONE_WAY_SPAN_NS`], whose
//!   sequence numbers advance a little at a time and whose microsecond clock advances with
//!   the capture's clock: `utp-one-way`.

use bt::handshake;
use bt::utp::{self, Header, Seen, Type};

use super::mse::Track;
use super::peer::decide_mse;
use super::{Answer, Ctx, DatagramDetector};
use crate::flow::{Confidence, Kind, Side, Signal};
use crate::knowledge::Source;

/// Packets answering the other direction that decide a flow (without a SYN seen).
pub const EXCHANGES: u8 = 2;
/// Packets of one connection, one way, with a consistent clock, that decide a flow.
pub const ONE_WAY_MIN: u8 = 3;
/// ... spread over at least this much capture time (a burst proves nothing about a clock).
pub const ONE_WAY_SPAN_NS: i64 = 100_000_000;
/// Largest step of the sequence number between two packets one way.
const SEQ_STEP: u16 = 16;
/// Data packets per direction searched for a handshake.
const DATA_SEARCHED: u8 = 4;
/// Clock agreement: 5 ms plus 2% of the elapsed time.
const CLOCK_SLACK_US: i64 = 5_000;

#[derive(Debug, Default, Clone, Copy)]
struct OneWay {
    connection_id: u16,
    first_ns: i64,
    first_ts: u32,
    seq_nr: u16,
    count: u8,
}

/// The uTP detector of one UDP flow: nothing until a strictly valid uTP header comes (most
/// UDP flows of a BitTorrent client are DHT), then its [`State`], boxed.
#[derive(Debug, Default)]
pub(crate) struct Utp(Option<Box<State>>);

#[derive(Debug, Default)]
struct State {
    last: [Option<Seen>; 2],
    exchanges: u8,
    /// The side that sent the connection's SYN (the MSE initiator).
    initiator: Option<Side>,
    /// The next data sequence number each direction should send (retransmissions are not
    /// fed to the MSE shape twice).
    next_seq: [Option<u16>; 2],
    /// The MSE/PE shape of the data stream.
    mse: Track,
    one_way: [OneWay; 2],
    data_searched: [u8; 2],
    handshake: [bool; 2],
}

impl DatagramDetector for Utp {
    /// `wire_len`: the datagram's payload length on the wire (`payload` may be cut short).
    fn datagram(&mut self, ctx: &mut Ctx<'_>, payload: &[u8], wire_len: u32) -> Answer {
        // uTP: type in the high nibble (0-4), version 1 in the low one.
        if !matches!(payload.first(), Some(0x01 | 0x11 | 0x21 | 0x31 | 0x41)) {
            return Answer::NotMine;
        }
        let Ok(h) = Header::new_checked(payload) else {
            return Answer::NotMine;
        };
        self.0
            .get_or_insert_with(Box::default)
            .header(ctx, &h, payload, wire_len);
        if ctx.has(Kind::PeerUtp) {
            Answer::Mine
        } else {
            Answer::NotYet
        }
    }

    /// The flow (or the uTP connection) ends: judge an MSE opening never completed.
    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(s) = &mut self.0 {
            s.close(ctx);
        }
    }
}

impl State {
    /// Handles a strictly valid uTP header.
    fn header(&mut self, ctx: &mut Ctx<'_>, h: &Header<'_>, payload: &[u8], wire_len: u32) {
        let dir = ctx.from as usize;
        let seen = Seen::from(h);
        let certain = ctx.has(Kind::PeerUtp) && ctx.verdict.confidence == Some(Confidence::Certain);
        if !certain {
            if let Some(other) = self.last[1 - dir] {
                if utp::accepts_syn(&other, &seen) {
                    self.exchanges = EXCHANGES;
                } else if utp::answers(&other, &seen) {
                    self.exchanges = self.exchanges.saturating_add(1);
                } else {
                    // The answers must follow one another, not add up over a long flow.
                    self.exchanges = 0;
                }
                if self.exchanges >= EXCHANGES {
                    ctx.decide(Kind::PeerUtp, Signal::UtpExchange);
                    learn_ends(ctx, None);
                }
            }
            self.last[dir] = Some(seen);
            if self.one_way(dir, h, ctx.now_ns) {
                ctx.decide(Kind::PeerUtp, Signal::UtpOneWay);
            }
        }
        if h.kind() == Type::Syn {
            self.initiator.get_or_insert(ctx.from);
        }
        if h.kind() == Type::Data && self.mse.running() {
            self.feed_mse(ctx, h, payload.len(), wire_len);
        }
        if matches!(h.kind(), Type::Fin | Type::Reset)
            && self.initiator.is_some_and(|i| i != ctx.from)
        {
            // The responder ends the opening (its flight is complete, or it never answered).
            self.close(ctx);
        }
        if h.kind() == Type::Data && !self.handshake[dir] && self.data_searched[dir] < DATA_SEARCHED
        {
            self.data_searched[dir] += 1;
            let p = h.payload();
            if let Some(hs) = handshake::find(p).and_then(|at| handshake::parse(&p[at..]).ok()) {
                self.handshake[dir] = true;
                ctx.decide(Kind::PeerUtp, Signal::UtpHandshake);
                ctx.verdict.encrypted = false;
                ctx.infohash(hs.info_hash);
                if let Some(id) = hs.peer_id {
                    ctx.peer_id(ctx.from, id);
                }
                learn_ends(ctx, Some(hs.info_hash));
            }
        }
    }

    /// Feeds a data packet to the MSE shape, once per sequence number, in order.
    fn feed_mse(&mut self, ctx: &mut Ctx<'_>, h: &Header<'_>, captured: usize, wire_len: u32) {
        let Some(initiator) = self.initiator else {
            // Without the SYN, who spoke first is unknown.
            self.mse.stop();
            return;
        };
        let dir = ctx.from as usize;
        let seq = h.seq_nr();
        let contiguous = match self.next_seq[dir] {
            None => true,
            Some(n) if seq == n => true,
            // At or before the expected one: a retransmission.
            Some(n) if (seq.wrapping_sub(n) as i16) < 0 => return,
            Some(_) => false,
        };
        self.next_seq[dir] = Some(seq.wrapping_add(1));
        let p = h.payload();
        let header = captured.saturating_sub(p.len());
        let len = wire_len.saturating_sub(header as u32);
        if let Some(shape) = self.mse.feed(ctx.from == initiator, p, len, contiguous) {
            let (i, r) = ends_from(ctx, initiator);
            decide_mse(ctx, Kind::PeerUtp, shape, i, r);
        }
    }

    /// The uTP connection (or the flow) ends: judge an MSE opening never completed.
    fn close(&mut self, ctx: &mut Ctx<'_>) {
        let Some(initiator) = self.initiator else {
            return;
        };
        if let Some(shape) = self.mse.close() {
            let (i, r) = ends_from(ctx, initiator);
            decide_mse(ctx, Kind::PeerUtp, shape, i, r);
        }
    }

    /// Tracks one direction's connection and clock; true once it has been consistent for
    /// [`ONE_WAY_MIN`] packets.
    fn one_way(&mut self, dir: usize, h: &Header<'_>, now_ns: i64) -> bool {
        let ow = &mut self.one_way[dir];
        let id = h.connection_id();
        let same = ow.count > 0
            && (id == ow.connection_id || id == ow.connection_id.wrapping_add(1))
            && h.seq_nr().wrapping_sub(ow.seq_nr) <= SEQ_STEP;
        let elapsed_ns = now_ns.saturating_sub(ow.first_ns);
        let elapsed_us = elapsed_ns / 1_000;
        let clock_us = i64::from(h.timestamp().wrapping_sub(ow.first_ts));
        let agrees = (clock_us - elapsed_us).abs() <= CLOCK_SLACK_US + elapsed_us / 50;
        if same && agrees {
            ow.count = ow.count.saturating_add(1);
            ow.seq_nr = h.seq_nr();
        } else {
            *ow = OneWay {
                connection_id: id,
                first_ns: now_ns,
                first_ts: h.timestamp(),
                seq_nr: h.seq_nr(),
                count: 1,
            };
        }
        ow.count >= ONE_WAY_MIN && elapsed_ns >= ONE_WAY_SPAN_NS
    }
}

/// The (initiator, responder) endpoints, `initiator` being the SYN sender's side.
fn ends_from(ctx: &Ctx<'_>, initiator: Side) -> (std::net::SocketAddr, std::net::SocketAddr) {
    if ctx.from == initiator {
        (ctx.src, ctx.dst)
    } else {
        (ctx.dst, ctx.src)
    }
}

/// Both ends of a uTP connection are listening sockets of BitTorrent clients.
fn learn_ends(ctx: &mut Ctx<'_>, hash: Option<bt::InfoHash>) {
    ctx.learn(ctx.src, hash, Source::PeerFlow);
    ctx.learn(ctx.dst, hash, Source::PeerFlow);
}

// `Side` is used as an index above.
const _: () = assert!(Side::Lo as usize == 0 && Side::Hi as usize == 1);

#[cfg(test)]
mod tests;
