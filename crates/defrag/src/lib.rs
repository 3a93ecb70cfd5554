//! IP fragment reassembly for IPv4 (RFC 791) and IPv6 (RFC 8200 §4.5), bounded, with no I/O.
//!
//! A DHT node's reply of a few hundred nodes (9 KB and more) crosses an Ethernet path as IP
//! fragments, and only the first carries the UDP header. [`Reassembler::push`] takes each
//! fragment as [`wire::decode_fragment`] describes it ([`FragInfo`]: addresses,
//! identification, where its data goes) with its capture time, and returns the whole
//! [`Datagram`] when the last missing piece arrives: the upper-layer bytes, owned, and their
//! length on the wire, ready for [`wire::decode_transport`] ([`Datagram::decode`] does it).
//! Packets that are not fragments never come here, and `wire` only describes a fragment when
//! asked: the common path does not pay for fragments.
//!
//! Datagrams are told apart by source, destination, identification and, for IPv4, protocol
//! (RFC 791). An IPv6 datagram's key has no protocol: the Next Header of the fragments of
//! one datagram may differ, and only the offset-0 fragment's counts (RFC 8200 §4.5).
//!
//! # Overlaps: the datagram is discarded
//! A fragment whose bytes overlap bytes already held, other than a duplicate, discards the
//! whole datagram and every fragment held for it ([`Stats::overlapping`]). A duplicate is a
//! fragment lying wholly within bytes already held: it is ignored and the first copy is kept
//! ([`Stats::duplicates`]). This is what Linux does since the FragmentSmack fixes (4.19,
//! `inet_frag_queue_insert`: `IPFRAG_DUP` for a fragment inside a run, `IPFRAG_OVERLAP` kills
//! the queue, for IPv4 as for IPv6), and what RFC 5722 and RFC 8200 require of IPv6, with its
//! exception for duplicates. Overlaps have no legitimate use: they exist to make a sensor and
//! the receiver read different bytes (receivers once differed: first, last, BSD-style, which
//! is why Suricata has target-based policies). Following the receiver most BitTorrent hosts
//! run, the sensor reads what that receiver reads — nothing from a datagram it drops, and the
//! first copy where it keeps the first. (Linux's runs are fragments that arrived in order;
//! here a duplicate may lie across any bytes held without a gap, so fragments that arrived out
//! of order and are then re-sent across their seam are duplicates here and an overlap there:
//! only crafted traffic does that, and the sensor then reads the first copies of a datagram
//! Linux drops, never other bytes than Linux would have.)
//!
//! The other checks follow Linux's `ip_frag_queue` too, so a sender cannot make the sensor
//! drop what Linux keeps: a datagram is discarded ([`Stats::inconsistent`]) when a last
//! fragment ends before bytes already held or a second last fragment ends elsewhere, when a
//! fragment reaches past the end the last one gave, or when a fragment is empty; an IPv4
//! fragment with More Fragments set whose length is not a multiple of 8 is cut down to one
//! (an IPv6 one discards the datagram, RFC 8200). After a discard, later fragments of the same
//! datagram start a new one, as in Linux (they will most likely expire).
//!
//! # Bounds
//! - Size: a datagram may not pass what the protocol allows ([`Stats::too_large`]): an IPv4
//!   header and its data within 65,535 bytes, an IPv6 fragmentable part within 65,535
//!   (no jumbograms). This is also the ping-of-death check.
//! - Fragments per datagram: at most [`Config::max_fragments`] pieces
//!   ([`Stats::too_many_fragments`]); duplicates are not kept, so they do not count.
//! - Memory: the bytes held plus a fixed cost per datagram and per piece stay within
//!   [`Config::memory_budget`] over all datagrams in progress, and at most
//!   [`Config::max_datagrams`] are in progress. When a fragment would pass either, the oldest
//!   other datagrams are evicted ([`Stats::evicted`]); a datagram that alone passes the budget
//!   is discarded. Allocator slack is not counted.
//! - Time: a datagram still incomplete [`Config::timeout_ns`] after its first fragment is
//!   dropped ([`Stats::expired`]), as Linux times a datagram from its first fragment. Datagrams
//!   sit on one list in the order they were created, which is also the order they expire in:
//!   expiry looks at the oldest only, at each fragment or [`Reassembler::expire`] call. Capture
//!   time that goes backwards is taken as standing still.
//!
//! Defaults and why: a budget of 4 MiB, what a Linux receiver holds itself
//! (`ipfrag_high_thresh`), room for 60 maximum-size datagrams or about 450 DHT replies of 9 KB
//! in flight at once; 4,096 datagrams in progress; 64 fragments, since a 65,535-byte datagram
//! is 45 fragments at an MTU of 1,500 and 54 at IPv6's minimum of 1,280 (one over a 576-byte
//! IPv4 path, 119, is refused: raise it there), while 8-byte fragments are refused after 512
//! bytes; a timeout of 60 s,
//! IPv6's (RFC 8200, Linux `ip6frag_time`) and Suricata's, longer than Linux's 30 s for IPv4,
//! because a sensor that gives up before the receiver lets a sender slip a datagram past it by
//! pacing the fragments, while one that waits longer only holds junk a little longer, within
//! the budget.
//!
//! # Snaplen-cut fragments
//! A capture that keeps the first bytes of each frame still tells every fragment's length on
//! the wire (from its IP header), so a datagram completes by wire lengths as on the wire. The
//! bytes delivered are those captured from the start of the datagram up to the first byte
//! the capture lost; [`Datagram::payload_wire_len`] keeps the whole length, as [`wire`] does
//! for a cut packet. Fragments past that first lost byte keep no bytes while they wait.
//!
//! # Datagrams that do not complete
//! A capture filter on ports (`udp port 6881`) keeps only first fragments: their later ones
//! carry no ports. So when a datagram times out, is evicted or is still incomplete at the
//! end of the input, and its first fragment was held, that fragment is handed over alone
//! ([`Reassembler::take_incomplete`]): the ports and the start of the payload, as the
//! fragment was on the wire (its wire length is its own), for flow accounting and whatever
//! can be read of it — what a sensor without reassembly would have read. Datagrams discarded
//! for an overlap or an inconsistency are not: a receiver drops them.
//!
//! # Panic rule
//! No input makes this crate panic: every fragment is checked against the datagram before
//! anything changes, offsets stay within 16 bits plus a length, and slices are taken with
//! `get`.

#![forbid(unsafe_code)]

mod partial;
#[cfg(test)]
mod tests;

use core::net::IpAddr;
use std::collections::VecDeque;

use hashbrown::HashMap;
use wire::{Decoded, FragInfo, Fragment, IpPacket};

use partial::{Check, PIECE_COST, Partial};

/// The default memory budget: 4 MiB, Linux's `ipfrag_high_thresh`.
pub const DEFAULT_MEMORY_BUDGET: usize = 4 << 20;
/// The default number of datagrams in progress.
pub const DEFAULT_MAX_DATAGRAMS: usize = 4096;
/// The default number of pieces of one datagram.
pub const DEFAULT_MAX_FRAGMENTS: usize = 64;
/// The default timeout: 60 s from a datagram's first fragment.
pub const DEFAULT_TIMEOUT_NS: i64 = 60_000_000_000;

/// The largest IPv4 datagram (header included) and IPv6 fragmentable part.
const MAX_LEN: u32 = 65_535;
/// The IPv6 Fragment header, which the reassembled packet no longer has.
const FRAGMENT_HEADER_LEN: u32 = 8;
const NIL: u32 = u32::MAX;
/// Bytes charged for a datagram's place in the table: its slot and its index entry.
const SLOT_COST: usize = size_of::<Slot>() + size_of::<(Key, u32)>() + 1;

/// Limits of a [`Reassembler`] (see the crate documentation for the defaults' reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Bytes held over all datagrams in progress, fixed costs included.
    pub memory_budget: usize,
    /// Datagrams in progress at once (at least 1).
    pub max_datagrams: usize,
    /// Pieces of one datagram (at least 1).
    pub max_fragments: usize,
    /// How long after its first fragment an incomplete datagram is dropped, in ns.
    pub timeout_ns: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            memory_budget: DEFAULT_MEMORY_BUDGET,
            max_datagrams: DEFAULT_MAX_DATAGRAMS,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            timeout_ns: DEFAULT_TIMEOUT_NS,
        }
    }
}

/// Counts of what became of the fragments and datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Fragments pushed.
    pub fragments: u64,
    /// Datagrams completed and delivered.
    pub reassembled: u64,
    /// Datagrams still incomplete at their timeout, or at [`Reassembler::finish`].
    pub expired: u64,
    /// Datagrams pushed out by the memory budget or the table's size.
    pub evicted: u64,
    /// Datagrams discarded because a fragment overlapped bytes already held.
    pub overlapping: u64,
    /// Fragments ignored because their bytes were all held already.
    pub duplicates: u64,
    /// Fragments (and their datagrams) past the protocol's maximum size.
    pub too_large: u64,
    /// Datagrams discarded for having more than [`Config::max_fragments`] pieces.
    pub too_many_fragments: u64,
    /// Datagrams discarded for a fragment inconsistent with the others: ends that disagree,
    /// bytes past the end, an empty fragment, an IPv6 fragment not a multiple of 8 long.
    pub inconsistent: u64,
    /// Complete IPv6 datagrams whose extension headers could not be walked to the upper
    /// layer (cut by the capture, or malformed).
    pub bad_headers: u64,
    /// Fragments no delivered datagram holds: those of datagrams discarded, expired or
    /// evicted (but a first fragment handed over alone), and fragments refused.
    pub unread: u64,
}

impl Stats {
    /// Adds another reassembler's counts (several workers' together).
    pub fn merge(&mut self, o: &Stats) {
        self.fragments += o.fragments;
        self.reassembled += o.reassembled;
        self.expired += o.expired;
        self.evicted += o.evicted;
        self.overlapping += o.overlapping;
        self.duplicates += o.duplicates;
        self.too_large += o.too_large;
        self.too_many_fragments += o.too_many_fragments;
        self.inconsistent += o.inconsistent;
        self.bad_headers += o.bad_headers;
        self.unread += o.unread;
    }
}

/// Why a fragment was dropped, with the datagram it belonged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// It overlapped bytes already held ([`Stats::overlapping`]).
    Overlap,
    /// The datagram would pass the protocol's maximum size ([`Stats::too_large`]).
    TooLarge,
    /// The datagram would have more than [`Config::max_fragments`] pieces.
    TooManyFragments,
    /// It disagrees with the other fragments ([`Stats::inconsistent`]).
    Inconsistent,
    /// The complete IPv6 datagram's extension headers could not be walked.
    BadHeaders,
    /// The datagram alone does not fit the memory budget (counted as evicted).
    Budget,
}

/// What [`Reassembler::push`] did with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It was the last missing piece: here is the datagram.
    Complete(Datagram),
    /// Held, waiting for the rest of its datagram.
    Held,
    /// Its bytes were all held already: ignored.
    Duplicate,
    /// Dropped, and with it its datagram.
    Discarded(Reason),
}

/// A reassembled datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol (for IPv6, after the extension headers that opened the
    /// fragmentable part).
    pub protocol: u8,
    /// The fragments' identification.
    pub id: u32,
    /// The header length of the reassembled IP packet: the offset-0 fragment's IPv4 header,
    /// or its IPv6 header and extension headers without the Fragment header.
    pub header_len: u32,
    /// The upper-layer bytes captured, from the start up to the first byte the capture lost.
    pub payload: Vec<u8>,
    /// The length of the upper-layer data on the wire.
    pub payload_wire_len: u32,
    /// How many fragments it was made of (duplicates not counted).
    pub fragments: usize,
    /// False for the first fragment of a datagram that did not complete, handed over alone
    /// ([`Reassembler::take_incomplete`]): its payload is that fragment's.
    pub complete: bool,
    /// Capture time of the datagram's first fragment.
    pub first_ns: i64,
}

impl Datagram {
    /// The length of the reassembled IP packet on the wire.
    pub fn wire_len(&self) -> u32 {
        self.header_len.saturating_add(self.payload_wire_len)
    }

    /// The datagram as a whole IP packet.
    pub fn ip(&self) -> IpPacket<'_> {
        IpPacket {
            src: self.src,
            dst: self.dst,
            protocol: self.protocol,
            wire_len: self.wire_len(),
            fragment: Fragment::No,
            payload: &self.payload,
            payload_wire_len: self.payload_wire_len,
            ttl: 0,
        }
    }

    /// The datagram decoded down to its transport layer, as [`wire::decode`] decodes a whole
    /// packet.
    pub fn decode(&self) -> Result<Decoded<'_>, wire::Error> {
        let ip = self.ip();
        let transport = wire::decode_transport(ip.protocol, ip.payload, ip.payload_wire_len)?;
        Ok(Decoded { ip, transport })
    }
}

/// What tells datagrams apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    /// IPv4's protocol; 0 for IPv6.
    protocol: u8,
}

#[derive(Debug)]
struct Slot {
    key: Key,
    created: i64,
    /// Neighbours on the list in creation order (`NIL` at the ends).
    prev: u32,
    next: u32,
    partial: Partial,
}

/// Reassembles IPv4 and IPv6 datagrams from their fragments, within bounded memory.
#[derive(Debug)]
pub struct Reassembler {
    config: Config,
    index: HashMap<Key, u32, foldhash::fast::RandomState>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// The oldest datagram in progress, and the newest.
    oldest: u32,
    newest: u32,
    memory: usize,
    /// The latest capture time seen.
    clock: i64,
    stats: Stats,
    /// First fragments of datagrams that will not complete, not yet taken (at most
    /// `max_datagrams`).
    incomplete: VecDeque<Datagram>,
}

impl Reassembler {
    /// A reassembler with the given limits (`max_datagrams` and `max_fragments` at least 1).
    pub fn new(config: Config) -> Self {
        let config = Config {
            max_datagrams: config.max_datagrams.clamp(1, NIL as usize - 1),
            max_fragments: config.max_fragments.max(1),
            ..config
        };
        Reassembler {
            config,
            // The hasher is seeded at random: keys come from the network.
            index: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            slots: Vec::new(),
            free: Vec::new(),
            oldest: NIL,
            newest: NIL,
            memory: 0,
            clock: i64::MIN,
            stats: Stats::default(),
            incomplete: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bytes charged to the budget now.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.index.len()
    }

    /// Takes one fragment captured at `ts_ns`: holds it, and returns the datagram when it was
    /// the last piece missing. Datagrams timed out by `ts_ns` are dropped first.
    pub fn push(&mut self, frag: &FragInfo<'_>, ts_ns: i64) -> Outcome {
        self.stats.fragments += 1;
        self.expire(ts_ns);
        let v6 = frag.src.is_ipv6();
        let key = Key {
            src: frag.src,
            dst: frag.dst,
            id: frag.id,
            protocol: if v6 { 0 } else { frag.protocol },
        };

        // What the fragment alone says.
        let start = frag.offset;
        let mut end = start.saturating_add(frag.data_wire_len);
        if frag.more && !end.is_multiple_of(8) {
            if v6 {
                return self.discard(key, Reason::Inconsistent);
            }
            // Linux cuts an IPv4 fragment with More Fragments to a multiple of 8.
            end &= !7;
        }
        let limit = if v6 {
            MAX_LEN
        } else {
            MAX_LEN.saturating_sub(frag.header_len)
        };
        if end > limit {
            return self.discard(key, Reason::TooLarge);
        }
        if end <= start {
            return self.discard(key, Reason::Inconsistent);
        }
        let captured = frag.data.len().min((end - start) as usize);

        // What it does to its datagram.
        let existing = self.index.get(&key).copied();
        let check = match existing.and_then(|i| self.slot(i)) {
            Some(slot) => {
                slot.partial
                    .check(start, end, frag.more, captured, self.config.max_fragments)
            }
            None => Ok(Check::Insert {
                at: 0,
                stored: captured,
            }),
        };
        let (at, stored) = match check {
            Ok(Check::Insert { at, stored }) => (at, stored),
            Ok(Check::Duplicate) => {
                self.stats.duplicates += 1;
                return Outcome::Duplicate;
            }
            Err(reason) => return self.discard(key, reason),
        };

        // Room for it.
        let cost = PIECE_COST + stored + if existing.is_none() { SLOT_COST } else { 0 };
        if existing.is_none() {
            while self.index.len() >= self.config.max_datagrams && self.oldest != NIL {
                self.give_up(self.oldest);
                self.stats.evicted += 1;
            }
        }
        if !self.make_room(existing.unwrap_or(NIL), cost) {
            if let Some(i) = existing
                && let Some(slot) = self.remove(i)
            {
                self.stats.unread += slot.partial.fragments() as u64;
            }
            self.stats.unread += 1;
            self.stats.evicted += 1;
            return Outcome::Discarded(Reason::Budget);
        }
        let i = match existing {
            Some(i) => i,
            None => self.create(key),
        };

        // Hold it.
        let Some(slot) = self.slots.get_mut(i as usize).and_then(Option::as_mut) else {
            return Outcome::Held;
        };
        let before = slot.partial.memory;
        slot.partial.insert(
            at,
            start,
            end,
            frag.more,
            frag.data,
            (frag.protocol, frag.header_len),
        );
        let after = slot.partial.memory;
        let complete = slot.partial.is_complete();
        self.memory = self.memory - before + after;
        if !complete {
            return Outcome::Held;
        }
        match self.remove(i) {
            Some(slot) => self.deliver(slot),
            None => Outcome::Held,
        }
    }

    /// Drops the datagrams whose timeout passed by `now_ns` (a capture time), counting them as
    /// expired. [`push`](Self::push) does this itself; call it when no fragment came for a
    /// while, e.g. at the flow table's idle sweep.
    pub fn expire(&mut self, now_ns: i64) {
        self.clock = self.clock.max(now_ns);
        while let Some(slot) = self.slot(self.oldest) {
            if self.clock.saturating_sub(slot.created) < self.config.timeout_ns {
                break;
            }
            self.give_up(self.oldest);
            self.stats.expired += 1;
        }
    }

    /// Drops every datagram in progress (at the end of the input: none can complete any
    /// more), counting them as expired.
    pub fn finish(&mut self) {
        while self.oldest != NIL {
            self.give_up(self.oldest);
            self.stats.expired += 1;
        }
    }

    /// The first fragment of a datagram that timed out, was evicted or was still incomplete at
    /// [`finish`](Self::finish), oldest first (see the crate docs); take them after each call.
    pub fn take_incomplete(&mut self) -> Option<Datagram> {
        self.incomplete.pop_front()
    }

    /// Removes the datagram at `i`, which will not complete, keeping its first fragment.
    fn give_up(&mut self, i: u32) {
        let Some(slot) = self.remove(i) else {
            return;
        };
        self.stats.unread += slot.partial.fragments() as u64;
        let Some((payload, wire_len)) = slot.partial.first_fragment() else {
            return;
        };
        let Some(datagram) = datagram(&slot, payload, wire_len, 1, false) else {
            return;
        };
        if self.incomplete.len() >= self.config.max_datagrams {
            return;
        }
        // The first fragment is read after all.
        self.stats.unread -= 1;
        self.incomplete.push_back(datagram);
    }

    fn slot(&self, i: u32) -> Option<&Slot> {
        self.slots.get(i as usize).and_then(Option::as_ref)
    }

    /// Drops the datagram of `key`, if one is in progress, for `reason`.
    fn discard(&mut self, key: Key, reason: Reason) -> Outcome {
        if let Some(i) = self.index.get(&key).copied()
            && let Some(slot) = self.remove(i)
        {
            self.stats.unread += slot.partial.fragments() as u64;
        }
        // and the fragment at hand
        self.stats.unread += 1;
        let count = match reason {
            Reason::Overlap => &mut self.stats.overlapping,
            Reason::TooLarge => &mut self.stats.too_large,
            Reason::TooManyFragments => &mut self.stats.too_many_fragments,
            Reason::Inconsistent => &mut self.stats.inconsistent,
            Reason::BadHeaders => &mut self.stats.bad_headers,
            Reason::Budget => &mut self.stats.evicted,
        };
        *count += 1;
        Outcome::Discarded(reason)
    }

    /// Evicts the oldest datagrams other than `keep` until `cost` more bytes fit the budget;
    /// false if they cannot.
    fn make_room(&mut self, keep: u32, cost: usize) -> bool {
        while self.memory.saturating_add(cost) > self.config.memory_budget {
            let victim = if self.oldest == keep {
                self.slot(keep).map_or(NIL, |s| s.next)
            } else {
                self.oldest
            };
            if victim == NIL {
                return false;
            }
            self.give_up(victim);
            self.stats.evicted += 1;
        }
        true
    }

    /// A new, empty datagram for `key`, newest on the list.
    fn create(&mut self, key: Key) -> u32 {
        let slot = Slot {
            key,
            created: self.clock,
            prev: self.newest,
            next: NIL,
            partial: Partial::new(SLOT_COST),
        };
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = Some(slot);
                }
                i
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        match self
            .slots
            .get_mut(self.newest as usize)
            .and_then(Option::as_mut)
        {
            Some(newest) => newest.next = i,
            None => self.oldest = i,
        }
        self.newest = i;
        self.index.insert(key, i);
        self.memory += SLOT_COST;
        i
    }

    /// Takes the datagram at `i` out of the table, the list and the budget.
    fn remove(&mut self, i: u32) -> Option<Slot> {
        let slot = self.slots.get_mut(i as usize)?.take()?;
        match self
            .slots
            .get_mut(slot.prev as usize)
            .and_then(Option::as_mut)
        {
            Some(prev) => prev.next = slot.next,
            None => self.oldest = slot.next,
        }
        match self
            .slots
            .get_mut(slot.next as usize)
            .and_then(Option::as_mut)
        {
            Some(next) => next.prev = slot.prev,
            None => self.newest = slot.prev,
        }
        self.index.remove(&slot.key);
        self.free.push(i);
        self.memory -= slot.partial.memory;
        Some(slot)
    }

    /// Builds the datagram of a complete slot.
    fn deliver(&mut self, slot: Slot) -> Outcome {
        let (payload, wire_len) = slot.partial.assemble();
        let fragments = slot.partial.fragments();
        let Some(datagram) = datagram(&slot, payload, wire_len, fragments, true) else {
            // Complete means the bytes from offset 0 are held: their headers are malformed.
            self.stats.bad_headers += 1;
            return Outcome::Discarded(Reason::BadHeaders);
        };
        if !slot.key.src.is_ipv6()
            && datagram
                .header_len
                .saturating_add(datagram.payload_wire_len)
                > MAX_LEN
        {
            // The offset-0 fragment's header is longer than the later ones' were.
            self.stats.too_large += 1;
            return Outcome::Discarded(Reason::TooLarge);
        }
        self.stats.reassembled += 1;
        Outcome::Complete(datagram)
    }

    /// Checks the table's invariants: list, index and memory agree.
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut seen = 0;
        let mut memory = 0;
        let mut prev = NIL;
        let mut at = self.oldest;
        let mut created = i64::MIN;
        while let Some(slot) = self.slot(at) {
            assert_eq!(slot.prev, prev);
            assert_eq!(self.index.get(&slot.key), Some(&at));
            assert!(slot.created >= created);
            assert_eq!(slot.partial.memory, slot.partial.recount(SLOT_COST));
            created = slot.created;
            memory += slot.partial.memory;
            seen += 1;
            prev = at;
            at = slot.next;
        }
        assert_eq!(prev, self.newest);
        assert_eq!(seen, self.index.len());
        assert_eq!(memory, self.memory);
        assert!(self.memory <= self.config.memory_budget);
        assert!(self.index.len() <= self.config.max_datagrams);
    }
}

/// The datagram of `slot` from its bytes held from offset 0 (`payload`, `wire_len` of them on
/// the wire): for IPv6, read past the extension headers that followed the fragment header.
/// None when the offset-0 fragment's headers are missing or malformed.
fn datagram(
    slot: &Slot,
    mut payload: Vec<u8>,
    mut wire_len: u32,
    fragments: usize,
    complete: bool,
) -> Option<Datagram> {
    let (mut protocol, mut header_len) = slot.partial.first()?;
    if slot.key.src.is_ipv6() {
        let (upper, at) = wire::ipv6::upper_layer(protocol, &payload).ok()?;
        payload.drain(..at.min(payload.len()));
        protocol = upper;
        let at = at as u32;
        wire_len = wire_len.saturating_sub(at);
        header_len = header_len.saturating_sub(FRAGMENT_HEADER_LEN) + at;
    }
    Some(Datagram {
        src: slot.key.src,
        dst: slot.key.dst,
        protocol,
        id: slot.key.id,
        header_len,
        payload,
        payload_wire_len: wire_len,
        fragments,
        complete,
        first_ns: slot.created,
    })
}
