//! uTP: data on connections never opened (`utp-forged`), and hosts made to reflect
//! handshakes and retransmissions at an address that never acknowledges (`utp-reflection`).
//!
//! Per UDP 5-tuple the detector keeps what it saw of the uTP connections on it (a client uses
//! one socket for all of them). Forged data: an ST_DATA whose connection had no SYN, on a
//! 5-tuple whose other end never sent anything — a suspect until its receiver answers. An
//! ST_RESET from the receiver, or no answer within [`ANSWER_S`], confirms it; an ST_STATE or
//! data from the receiver clears it (a capture that began in the middle of a connection).
//! Confirmed sources are counted per info-hash (when the data carries a BitTorrent handshake)
//! or per target; [`Thresholds::utp_forged_sources`] of them make an incident. A bogon
//! source is an incident at once.
//!
//! Reflection (Adamsky et al., WOOT 2015): a SYN from R to host H, H's answer, then data from
//! R whose ack matches nothing H sent — R is not the one who opened the connection, only its
//! forged source. Every packet H sent R on such a connection while R never acknowledged one
//! counts, over all connections to R; [`Thresholds::utp_unanswered`] of them make an incident
//! about R (the victim).

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

use bt::utp::{ACK_AHEAD, Header, Type};
use engine::{FlowKey, Proto, TapPacket};

use crate::alerts::{Detection, Severity};
use crate::monitor::{Ctx, flow_name};
use crate::table::Table;
use crate::{Category, Thresholds, net};

/// Seconds a suspect's receiver has to answer before the data counts as forged.
pub const ANSWER_S: i64 = 5;

#[derive(Debug, Default)]
struct Conn {
    /// Connection ids opened by a SYN on this 5-tuple (the SYN's id; the initiator then
    /// sends id + 1).
    opened: Vec<u16>,
    /// Packets seen from each end (lo, hi of the key).
    from: [u32; 2],
    suspect: Option<Suspect>,
    reflect: Option<Reflect>,
}

#[derive(Debug)]
struct Suspect {
    src: SocketAddr,
    dst: SocketAddr,
    since_s: i64,
    infohash: Option<[u8; 20]>,
}

#[derive(Debug)]
struct Reflect {
    host: SocketAddr,
    remote: SocketAddr,
    /// The SYN's connection id: the host sends with it, the remote with id + 1.
    id: u16,
    /// First and last sequence numbers the host sent.
    host_seq: Option<(u16, u16)>,
    mismatched: bool,
    acked: bool,
    host_packets: u32,
    bytes_out: u64,
    bytes_in: u64,
    infohash: Option<[u8; 20]>,
    /// The ack of the remote's first data when it came before anything of the host's.
    early_ack: Option<u16>,
}

#[derive(Debug, Default)]
struct Sources {
    set: HashSet<IpAddr>,
    /// The incident opened (the sources before it were counted into it then).
    opened: bool,
}

#[derive(Debug)]
pub(crate) struct Utp {
    conns: Table<FlowKey, Conn>,
    /// Confirmed forging sources per incident key.
    sources: Table<String, Sources>,
    /// Endpoints seen completing a uTP handshake: data without a handshake aimed at one is
    /// worth suspecting.
    known: Table<SocketAddr, ()>,
    /// Per victim of reflection: what hosts sent it on connections it never acknowledged.
    victims: Table<IpAddr, Victim>,
    /// Suspects in the order they were raised, to judge when their time is up.
    waiting: VecDeque<(i64, FlowKey)>,
    waiting_evicted: u64,
    cap: usize,
}

/// The info-hash of a BitTorrent handshake at the start of a uTP payload.
fn handshake_hash(payload: &[u8]) -> Option<[u8; 20]> {
    bt::handshake::parse(payload)
        .ok()
        .map(|h| h.info_hash.0)
        .filter(|h| *h != [0; 20])
}

impl Utp {
    pub fn new(t: &Thresholds) -> Utp {
        let cap = t.max_state as usize;
        Utp {
            conns: Table::new(cap),
            sources: Table::new(cap),
            known: Table::new(cap),
            victims: Table::new(cap),
            waiting: VecDeque::new(),
            waiting_evicted: 0,
            cap: cap.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
            + self.sources.len()
            + self.known.len()
            + self.victims.len()
            + self.waiting.len()
    }

    pub fn evicted(&self) -> u64 {
        self.conns.evicted
            + self.sources.evicted
            + self.known.evicted
            + self.victims.evicted
            + self.waiting_evicted
    }

    pub fn packet(&mut self, p: &TapPacket<'_>, h: &Header<'_>, cx: &mut Ctx<'_>) {
        let key = p.flow.key;
        let me = usize::from(!p.from_client);
        let id = h.connection_id();
        let conn = self.conns.entry(key, Conn::default);
        conn.from[me] = conn.from[me].saturating_add(1);
        let first_from_me = conn.from[me] == 1;
        let other_silent = conn.from[1 - me] == 0;
        match h.kind() {
            Type::Syn => {
                if conn.opened.len() < 8 && !conn.opened.contains(&id) {
                    conn.opened.push(id);
                }
                conn.reflect = Some(Reflect {
                    host: p.dst,
                    remote: p.src,
                    id,
                    host_seq: None,
                    mismatched: false,
                    acked: false,
                    host_packets: 0,
                    bytes_out: 0,
                    bytes_in: u64::from(p.ip.wire_len),
                    infohash: None,
                    early_ack: None,
                });
            }
            Type::State | Type::Data | Type::Fin => {
                let opened = conn
                    .opened
                    .iter()
                    .any(|&o| o == id || o.wrapping_add(1) == id);
                if opened && h.kind() != Type::Data {
                    self.known.entry(p.src, || ());
                    self.known.entry(p.dst, || ());
                }
                // The receiver of a suspect answered like a peer: not forged.
                if conn.suspect.as_ref().is_some_and(|s| s.dst == p.src) {
                    conn.suspect = None;
                }
                if h.kind() == Type::Data
                    && !opened
                    && first_from_me
                    && other_silent
                    && conn.suspect.is_none()
                {
                    let infohash = handshake_hash(h.payload());
                    if net::bogon_source(p.src.ip(), p.dst.ip()) {
                        let s = Suspect {
                            src: p.src,
                            dst: p.dst,
                            since_s: cx.now_s,
                            infohash,
                        };
                        forged(&mut self.sources, &s, cx, "bogon source");
                    } else if infohash.is_some() || self.known.contains(&p.dst) {
                        if self.waiting.len() >= self.cap {
                            self.waiting.pop_front();
                            self.waiting_evicted += 1;
                        }
                        self.waiting.push_back((cx.now_s, key));
                        conn.suspect = Some(Suspect {
                            src: p.src,
                            dst: p.dst,
                            since_s: cx.now_s,
                            infohash,
                        });
                    }
                }
            }
            Type::Reset => {
                // The receiver of a suspect refused it: forged.
                if let Some(s) = conn.suspect.take_if(|s| s.dst == p.src) {
                    forged(&mut self.sources, &s, cx, "refused by its receiver");
                }
            }
        }
        if let Some(conn) = self.conns.get_mut(&key)
            && let Some(r) = conn.reflect.as_mut()
        {
            reflect(r, &mut self.victims, p, h, cx);
        }
    }

    /// Suspects whose receiver did not answer in time.
    pub fn sweep(&mut self, cx: &mut Ctx<'_>) {
        self.expire_all(cx, cx.now_s);
    }

    /// Suspects still waiting are forgotten (the end of a run, or of a clock epoch).
    pub fn forget_waits(&mut self) {
        self.waiting.clear();
    }

    /// Suspects unanswered for [`ANSWER_S`] by `now_s`, in the order they were raised.
    pub fn expire_all(&mut self, cx: &mut Ctx<'_>, now_s: i64) {
        while let Some(&(since, key)) = self.waiting.front() {
            if now_s - since < ANSWER_S {
                break;
            }
            self.waiting.pop_front();
            let late = self
                .conns
                .get_mut(&key)
                .and_then(|c| c.suspect.take_if(|s| s.since_s == since));
            if let Some(s) = late {
                forged(&mut self.sources, &s, cx, "never answered");
            }
        }
    }
}

/// Counts a confirmed forged packet's source; an incident once enough sources (or one
/// bogon).
fn forged(sources: &mut Table<String, Sources>, s: &Suspect, cx: &mut Ctx<'_>, why: &str) {
    let bogon = net::bogon_source(s.src.ip(), s.dst.ip());
    let key = match s.infohash {
        Some(h) => format!("infohash {}", hex(&h)),
        None => format!("target {}", s.dst.ip()),
    };
    // Sources are remembered up to the threshold: once the incident is open, it counts them.
    let need = cx.t.utp_forged_sources;
    let e = sources.entry(key.clone(), Sources::default);
    if (e.set.len() as u32) < need.max(1) {
        e.set.insert(s.src.ip());
    }
    let n = e.set.len() as u32;
    if n < need && !bogon {
        return;
    }
    // The incident opens: the sources confirmed before count into it too.
    let earlier: Vec<IpAddr> = if e.opened {
        Vec::new()
    } else {
        e.opened = true;
        e.set.iter().copied().filter(|&a| a != s.src.ip()).collect()
    };
    let why = why.to_string();
    cx.raise(
        Category::UtpForged,
        &key,
        || {
            format!(
                "uTP data on connections never opened, from {} ({why})",
                if bogon {
                    "a bogon source"
                } else {
                    "many sources"
                }
            )
        },
        Severity::High,
        || format!("utp_forged_sources = {need} distinct sources, or one bogon source"),
        Detection {
            source: Some(s.src.ip()),
            target: Some(s.dst.ip()),
            flow: Some(flow_name(Proto::Udp, s.src, s.dst)),
            infohash: s.infohash.map(|h| hex(&h)),
            measured: vec![
                ("sources", f64::from(n)),
                ("bogon", f64::from(u8::from(bogon))),
            ],
        },
    );
    for a in earlier {
        cx.raise(
            Category::UtpForged,
            &key,
            String::new,
            Severity::High,
            String::new,
            Detection {
                source: Some(a),
                target: Some(s.dst.ip()),
                infohash: s.infohash.map(|h| hex(&h)),
                ..Detection::default()
            },
        );
    }
}

/// Whether the remote's `ack` acknowledges something the host sent (from just before its
/// first sequence number to a little past its last); marks the connection either way.
fn judge_ack(r: &mut Reflect, first: u16, last: u16, ack: u16) {
    let off = ack.wrapping_sub(first.wrapping_sub(1));
    let span = last.wrapping_sub(first);
    if off <= span.saturating_add(1 + ACK_AHEAD) {
        r.acked = true;
    } else {
        r.mismatched = true;
    }
}

/// What the connections with a foreign ack made hosts send one victim.
#[derive(Debug, Default)]
struct Victim {
    packets: u32,
    bytes_out: u64,
    bytes_in: u64,
    connections: u32,
}

fn reflect(
    r: &mut Reflect,
    victims: &mut Table<IpAddr, Victim>,
    p: &TapPacket<'_>,
    h: &Header<'_>,
    cx: &mut Ctx<'_>,
) {
    let len = u64::from(p.ip.wire_len);
    let was = r.mismatched && !r.acked;
    let from_host = if p.src == r.host && p.dst == r.remote && h.connection_id() == r.id {
        r.host_packets = r.host_packets.saturating_add(1);
        r.bytes_out += len;
        let seq = h.seq_nr();
        r.host_seq = Some(match r.host_seq {
            None => (seq, seq),
            Some((first, last)) => {
                if seq.wrapping_sub(last) < 0x8000 {
                    (first, seq)
                } else {
                    (first, last)
                }
            }
        });
        // Data from the remote that came before the host's first packet: judge its ack now.
        if let (Some(ack), Some((first, last))) = (r.early_ack.take(), r.host_seq) {
            judge_ack(r, first, last, ack);
        }
        true
    } else if p.src == r.remote && p.dst == r.host && h.connection_id() == r.id.wrapping_add(1) {
        r.bytes_in += len;
        if r.infohash.is_none() {
            r.infohash = handshake_hash(h.payload());
        }
        if matches!(h.kind(), Type::State | Type::Data | Type::Fin) {
            match r.host_seq {
                Some((first, last)) => judge_ack(r, first, last, h.ack_nr()),
                None => r.early_ack = r.early_ack.or(Some(h.ack_nr())),
            }
        }
        false
    } else {
        return;
    };
    if !r.mismatched || r.acked {
        return;
    }
    let v = victims.entry(r.remote.ip(), Victim::default);
    if was {
        // One more packet of a connection already counted.
        if from_host {
            v.packets = v.packets.saturating_add(1);
            v.bytes_out += len;
        } else {
            v.bytes_in += len;
        }
    } else {
        // The connection's opener turns out not to have opened it: all of it counts.
        v.connections = v.connections.saturating_add(1);
        v.packets = v.packets.saturating_add(r.host_packets);
        v.bytes_out += r.bytes_out;
        v.bytes_in += r.bytes_in;
    }
    let need = cx.t.utp_unanswered;
    let Some(v) = victims.get_mut(&r.remote.ip()) else {
        return;
    };
    if v.packets < need {
        return;
    }
    let measured = vec![
        ("packets_out", f64::from(v.packets)),
        ("bytes_out", v.bytes_out as f64),
        ("bytes_in", v.bytes_in as f64),
        (
            "amplification",
            v.bytes_out as f64 / v.bytes_in.max(1) as f64,
        ),
        ("connections", f64::from(v.connections)),
    ];
    let (host, remote) = (r.host, r.remote);
    cx.raise(
        Category::UtpReflection,
        &format!("victim {}", remote.ip()),
        || {
            "uTP reflection: hosts answer connections whose opener never acknowledges \
             (forged SYN and data with a foreign ack)"
                .to_string()
        },
        Severity::High,
        || {
            format!(
                "utp_unanswered = {need} packets sent to an address on connections it never \
                 acknowledged, after data with a foreign ack"
            )
        },
        Detection {
            source: Some(host.ip()),
            target: Some(remote.ip()),
            flow: Some(flow_name(Proto::Udp, remote, host)),
            infohash: r.infohash.map(|h| hex(&h)),
            measured,
        },
    );
}

pub(crate) use bt::hex;
