//! The nfnetlink_queue messages, encoded and decoded without I/O (see
//! `linux/netfilter/nfnetlink_queue.h` and `linux/netlink.h`).
//!
//! A netlink message is a 16-byte header (length, type, flags, sequence, port id; host byte
//! order), a 4-byte `nfgenmsg` (family, version, queue number in network byte order), then
//! attributes: 4-byte header (length, type; host byte order), payload in network byte order,
//! padded to 4 bytes.

/// `NFNL_SUBSYS_QUEUE`.
const SUBSYS_QUEUE: u16 = 3;
/// Message types of the queue subsystem.
pub const MSG_PACKET: u16 = SUBSYS_QUEUE << 8;
pub const MSG_VERDICT: u16 = (SUBSYS_QUEUE << 8) | 1;
pub const MSG_CONFIG: u16 = (SUBSYS_QUEUE << 8) | 2;
pub const MSG_VERDICT_BATCH: u16 = (SUBSYS_QUEUE << 8) | 3;

/// Netlink control messages.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Netlink flags.
pub const F_REQUEST: u16 = 1;
pub const F_ACK: u16 = 4;

const HDR: usize = 16;
const NFGEN: usize = 4;

/// Attributes of a queued packet.
mod attr {
    pub const PACKET_HDR: u16 = 1;
    pub const VERDICT_HDR: u16 = 2;
    pub const MARK: u16 = 3;
    pub const IFINDEX_INDEV: u16 = 5;
    pub const IFINDEX_OUTDEV: u16 = 6;
    pub const PAYLOAD: u16 = 10;
    pub const CAP_LEN: u16 = 13;
    pub const SKB_INFO: u16 = 14;
}

/// Configuration attributes.
mod cfg {
    pub const CMD: u16 = 1;
    pub const PARAMS: u16 = 2;
    pub const QUEUE_MAXLEN: u16 = 3;
    pub const MASK: u16 = 4;
    pub const FLAGS: u16 = 5;
    pub const CMD_BIND: u8 = 1;
    pub const CMD_UNBIND: u8 = 2;
    pub const COPY_PACKET: u8 = 2;
}

/// Queue flags (`NFQA_CFG_F_*`).
pub mod flags {
    /// Accept packets instead of dropping them when the queue is full.
    pub const FAIL_OPEN: u32 = 1;
    /// Hand over GSO packets whole instead of segmenting them.
    pub const GSO: u32 = 1 << 2;
}

/// `NFQA_SKB_CSUMNOTREADY`: the checksum is not computed yet (offloaded).
pub const SKB_CSUM_NOT_READY: u32 = 1;

/// Netfilter verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Drop = 0,
    Accept = 1,
    /// Traverse the hook again (with the mark set in the verdict).
    Repeat = 4,
}

/// Builds netlink messages into one buffer, to be sent in one write.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    seq: u32,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Binds to `queue` (with an acknowledgement requested).
    pub fn bind(&mut self, queue: u16) {
        let at = self.begin(MSG_CONFIG, F_ACK, queue);
        self.attr(cfg::CMD, &[cfg::CMD_BIND, 0, 0, 0]);
        self.end(at);
    }

    /// Unbinds from `queue`.
    pub fn unbind(&mut self, queue: u16) {
        let at = self.begin(MSG_CONFIG, F_ACK, queue);
        self.attr(cfg::CMD, &[cfg::CMD_UNBIND, 0, 0, 0]);
        self.end(at);
    }

    /// Copies whole packets up to `copy_range` bytes; at most `max_len` packets wait in the
    /// queue; `flags` set (within the mask of all of `flags`).
    pub fn params(&mut self, queue: u16, copy_range: u32, max_len: u32, set_flags: u32) {
        let at = self.begin(MSG_CONFIG, F_ACK, queue);
        let mut p = [0u8; 5];
        p[..4].copy_from_slice(&copy_range.to_be_bytes());
        p[4] = cfg::COPY_PACKET;
        self.attr(cfg::PARAMS, &p);
        self.attr(cfg::QUEUE_MAXLEN, &max_len.to_be_bytes());
        self.attr(cfg::MASK, &set_flags.to_be_bytes());
        self.attr(cfg::FLAGS, &set_flags.to_be_bytes());
        self.end(at);
    }

    /// A verdict on packet `id`, setting its mark when `mark` is given.
    pub fn verdict(&mut self, queue: u16, id: u32, verdict: Verdict, mark: Option<u32>) {
        self.verdict_msg(MSG_VERDICT, queue, id, verdict, mark);
    }

    /// The same verdict (and mark) on every packet still queued with an id up to `id`.
    pub fn batch_verdict(&mut self, queue: u16, id: u32, verdict: Verdict, mark: Option<u32>) {
        self.verdict_msg(MSG_VERDICT_BATCH, queue, id, verdict, mark);
    }

    fn verdict_msg(&mut self, ty: u16, queue: u16, id: u32, verdict: Verdict, mark: Option<u32>) {
        let at = self.begin(ty, 0, queue);
        let mut v = [0u8; 8];
        v[..4].copy_from_slice(&(verdict as u32).to_be_bytes());
        v[4..].copy_from_slice(&id.to_be_bytes());
        self.attr(attr::VERDICT_HDR, &v);
        if let Some(m) = mark {
            self.attr(attr::MARK, &m.to_be_bytes());
        }
        self.end(at);
    }

    fn begin(&mut self, ty: u16, extra_flags: u16, queue: u16) -> usize {
        let at = self.buf.len();
        self.seq = self.seq.wrapping_add(1);
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in end()
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf
            .extend_from_slice(&(F_REQUEST | extra_flags).to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        // nfgenmsg: AF_UNSPEC, NFNETLINK_V0, the queue number (big-endian)
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&queue.to_be_bytes());
        at
    }

    fn attr(&mut self, ty: u16, payload: &[u8]) {
        let len = 4 + payload.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_ne_bytes());
    }
}

/// A queued packet, borrowed from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The queue it came from.
    pub queue: u16,
    pub id: u32,
    /// The link-layer protocol (0x0800 IPv4, 0x86dd IPv6).
    pub hw_protocol: u16,
    /// The netfilter hook (1 input, 2 forward, 3 output, ...).
    pub hook: u8,
    /// The packet's mark, when not zero.
    pub mark: u32,
    /// The packet from its IP header, as much as was copied.
    pub payload: &'a [u8],
    /// The packet's length, when the copy was cut short.
    pub cap_len: Option<u32>,
    pub indev: Option<u32>,
    pub outdev: Option<u32>,
    /// `NFQA_SKB_INFO` bits.
    pub skb_info: u32,
}

impl Packet<'_> {
    /// The packet's length on the wire.
    pub fn wire_len(&self) -> u32 {
        self.cap_len.unwrap_or(self.payload.len() as u32)
    }
}

/// One message received from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    Packet(Packet<'a>),
    /// An acknowledgement (`Ok`) or an error (`Err(errno)`) for the request with `seq`.
    Ack {
        seq: u32,
        result: Result<(), i32>,
    },
    /// Anything else (ignored).
    Other(u16),
}

/// Why a received buffer could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("netlink message at byte {0}: length out of bounds")]
    Length(usize),
    #[error("queued packet at byte {0}: {1}")]
    Packet(usize, &'static str),
}

/// Iterates the netlink messages in a received buffer.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Messages { buf, at: 0 }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Received<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.at..)?;
        if rest.len() < HDR {
            return None;
        }
        let start = self.at;
        let len = u32_ne(&rest[0..4]) as usize;
        if len < HDR || len > rest.len() {
            self.at = self.buf.len();
            return Some(Err(DecodeError::Length(start)));
        }
        let ty = u16_ne(&rest[4..6]);
        let seq = u32_ne(&rest[8..12]);
        let body = &rest[HDR..len];
        self.at = start + align4(len);
        Some(match ty {
            NLMSG_ERROR => {
                let errno = body
                    .get(..4)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                let req_seq = body.get(12..16).map_or(seq, u32_ne);
                Ok(Received::Ack {
                    seq: req_seq,
                    result: if errno == 0 {
                        Ok(())
                    } else {
                        Err(errno.saturating_neg())
                    },
                })
            }
            MSG_PACKET => packet(body, start),
            NLMSG_DONE => Ok(Received::Other(ty)),
            other => Ok(Received::Other(other)),
        })
    }
}

fn packet(body: &[u8], at: usize) -> Result<Received<'_>, DecodeError> {
    let bad = |why| DecodeError::Packet(at, why);
    let nfgen = body.get(..NFGEN).ok_or(bad("no nfgenmsg"))?;
    let queue = u16::from_be_bytes([nfgen[2], nfgen[3]]);
    let mut p = Packet {
        queue,
        id: 0,
        hw_protocol: 0,
        hook: 0,
        mark: 0,
        payload: &[],
        cap_len: None,
        indev: None,
        outdev: None,
        skb_info: 0,
    };
    let mut have_hdr = false;
    let mut attrs = &body[NFGEN..];
    while attrs.len() >= 4 {
        let len = usize::from(u16_ne(&attrs[0..2]));
        let ty = u16_ne(&attrs[2..4]) & 0x3fff; // without NLA_F_NESTED / NET_BYTEORDER
        if len < 4 || len > attrs.len() {
            return Err(bad("attribute length out of bounds"));
        }
        let v = &attrs[4..len];
        match ty {
            attr::PACKET_HDR => {
                if v.len() < 7 {
                    return Err(bad("short packet header"));
                }
                p.id = u32_be(&v[0..4]);
                p.hw_protocol = u16::from_be_bytes([v[4], v[5]]);
                p.hook = v[6];
                have_hdr = true;
            }
            attr::MARK => p.mark = be_u32(v).ok_or(bad("short mark"))?,
            attr::PAYLOAD => p.payload = v,
            attr::CAP_LEN => p.cap_len = Some(be_u32(v).ok_or(bad("short cap_len"))?),
            attr::IFINDEX_INDEV => p.indev = be_u32(v),
            attr::IFINDEX_OUTDEV => p.outdev = be_u32(v),
            attr::SKB_INFO => p.skb_info = be_u32(v).unwrap_or(0),
            _ => {}
        }
        attrs = attrs.get(align4(len)..).unwrap_or(&[]);
    }
    if !have_hdr {
        return Err(bad("no packet header attribute"));
    }
    Ok(Received::Packet(p))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_ne(b: &[u8]) -> u16 {
    u16::from_ne_bytes([b[0], b[1]])
}

fn u32_ne(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

fn u32_be(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_u32(v: &[u8]) -> Option<u32> {
    v.get(..4).map(u32_be)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet message as the kernel builds it (nfqnl_build_packet_message).
    fn kernel_packet(
        queue: u16,
        id: u32,
        mark: u32,
        payload: &[u8],
        cap_len: Option<u32>,
    ) -> Vec<u8> {
        let mut attrs = Vec::new();
        let mut put = |ty: u16, v: &[u8]| {
            attrs.extend(((4 + v.len()) as u16).to_ne_bytes());
            attrs.extend(ty.to_ne_bytes());
            attrs.extend(v);
            while attrs.len() % 4 != 0 {
                attrs.push(0);
            }
        };
        let mut hdr = id.to_be_bytes().to_vec();
        hdr.extend(0x0800u16.to_be_bytes());
        hdr.push(2); // NF_INET_FORWARD
        put(attr::PACKET_HDR, &hdr);
        put(attr::IFINDEX_INDEV, &7u32.to_be_bytes());
        if mark != 0 {
            put(attr::MARK, &mark.to_be_bytes());
        }
        if let Some(c) = cap_len {
            put(attr::CAP_LEN, &c.to_be_bytes());
        }
        put(attr::PAYLOAD, payload);
        let mut m = Vec::new();
        m.extend(((HDR + NFGEN + attrs.len()) as u32).to_ne_bytes());
        m.extend(MSG_PACKET.to_ne_bytes());
        m.extend(0u16.to_ne_bytes());
        m.extend(0u32.to_ne_bytes());
        m.extend(0u32.to_ne_bytes());
        m.extend([2, 0]); // AF_INET, v0
        m.extend(queue.to_be_bytes());
        m.extend(attrs);
        m
    }

    #[test]
    fn packets_are_read_whole() {
        let mut buf = kernel_packet(3, 41, 0x0200_0000, &[0x45, 1, 2], None);
        buf.extend(kernel_packet(3, 42, 0, &[0x45; 64], Some(1500)));
        let got: Vec<_> = Messages::new(&buf).collect::<Result<_, _>>().unwrap();
        let Received::Packet(a) = got[0] else {
            panic!()
        };
        assert_eq!(
            (a.queue, a.id, a.hw_protocol, a.hook, a.mark),
            (3, 41, 0x0800, 2, 0x0200_0000)
        );
        assert_eq!(
            (a.payload, a.wire_len(), a.indev),
            (&[0x45, 1, 2][..], 3, Some(7))
        );
        let Received::Packet(b) = got[1] else {
            panic!()
        };
        assert_eq!(
            (b.id, b.mark, b.payload.len(), b.wire_len()),
            (42, 0, 64, 1500)
        );
    }

    #[test]
    fn acks_and_errors() {
        let mut w = Writer::new();
        w.bind(0);
        // the kernel's answer: NLMSG_ERROR with the request header echoed
        let req = w.bytes();
        // (i32::MIN has no negation: found by the fuzz target)
        for errno in [0i32, -1, i32::MIN] {
            let mut m = Vec::new();
            m.extend(((HDR + 4 + HDR) as u32).to_ne_bytes());
            m.extend(NLMSG_ERROR.to_ne_bytes());
            m.extend(0u16.to_ne_bytes());
            m.extend(1u32.to_ne_bytes());
            m.extend(0u32.to_ne_bytes());
            m.extend(errno.to_ne_bytes());
            m.extend(&req[..HDR]);
            let got = Messages::new(&m).next().unwrap().unwrap();
            let want = match errno {
                0 => Ok(()),
                -1 => Err(1),
                _ => Err(i32::MAX),
            };
            assert_eq!(
                got,
                Received::Ack {
                    seq: 1,
                    result: want
                }
            );
        }
    }

    #[test]
    fn requests_are_laid_out_as_the_kernel_expects() {
        let mut w = Writer::new();
        w.bind(5);
        let b = w.bytes();
        // nlmsghdr
        assert_eq!(u32_ne(&b[0..4]) as usize, b.len());
        assert_eq!(b.len(), 16 + 4 + 8);
        assert_eq!(u16_ne(&b[4..6]), MSG_CONFIG);
        assert_eq!(u16_ne(&b[6..8]), F_REQUEST | F_ACK);
        // nfgenmsg: queue 5 big-endian
        assert_eq!(&b[16..20], &[0, 0, 0, 5]);
        // NFQA_CFG_CMD {BIND, pad, pf 0}
        assert_eq!(u16_ne(&b[20..22]), 8);
        assert_eq!(u16_ne(&b[22..24]), cfg::CMD);
        assert_eq!(&b[24..28], &[cfg::CMD_BIND, 0, 0, 0]);

        w.clear();
        w.params(5, 0xffff, 4096, flags::FAIL_OPEN | flags::GSO);
        let b = w.bytes();
        assert_eq!(u32_ne(&b[0..4]) as usize, b.len());
        // params: 5 bytes, padded to 8
        assert_eq!(u16_ne(&b[20..22]), 9);
        assert_eq!(&b[24..29], &[0, 0, 0xff, 0xff, cfg::COPY_PACKET]);
        assert_eq!(&b[32..40], &[8, 0, 3, 0, 0, 0, 0x10, 0]);

        w.clear();
        w.verdict(1, 77, Verdict::Repeat, Some(0x0100_0000));
        w.batch_verdict(1, 90, Verdict::Accept, None);
        let b = w.bytes();
        assert_eq!(u32_ne(&b[0..4]), 16 + 4 + 12 + 8);
        assert_eq!(u16_ne(&b[4..6]), MSG_VERDICT);
        assert_eq!(&b[24..32], &[0, 0, 0, 4, 0, 0, 0, 77]);
        assert_eq!(&b[36..40], &[1, 0, 0, 0]);
        let second = &b[40..];
        assert_eq!(u16_ne(&second[4..6]), MSG_VERDICT_BATCH);
        assert_eq!(&second[24..32], &[0, 0, 0, 1, 0, 0, 0, 90]);
        assert_eq!(u32_ne(&second[0..4]), 16 + 4 + 12);
    }

    #[test]
    fn malformed_buffers_are_errors() {
        let good = kernel_packet(0, 1, 0, &[0x45], None);
        let mut bad_len = good.clone();
        bad_len[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(
            Messages::new(&bad_len).next(),
            Some(Err(DecodeError::Length(0)))
        );
        let mut no_hdr = good.clone();
        // turn the packet-header attribute into an unknown one
        no_hdr[22..24].copy_from_slice(&99u16.to_ne_bytes());
        assert!(matches!(
            Messages::new(&no_hdr).next(),
            Some(Err(DecodeError::Packet(0, _)))
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            for m in Messages::new(&b) {
                let _ = m;
            }
        }
    }
}
