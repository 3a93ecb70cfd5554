//! The enforcement policy: what to do with BitTorrent traffic — per kind, confidence, encryption,
//! network and torrent — read from a TOML file, and the pure function that applies it to one
//! packet of a flow ([`Policy::decide`]).
//!
//! ```toml
//! default = "allow"              # what traffic no rule matches gets
//! dry_run = false                # true: log what would be done, drop nothing
//! local = ["10.0.0.0/8"]         # the networks `direction` is relative to
//!
//! [[rule]]                       # rules are tried in order; the first that matches decides
//! name = "listed torrents"       # shown in decision events
//! infohashes = ["0123…", "magnet:?xt=urn:btih:…"]
//! infohash_files = ["blocked.txt", "some.torrent"]
//! action = "reject"              # allow | drop | reject | mark | log
//!
//! [[rule]]
//! app = "bittorrent"             # any BitTorrent flow (at confidence `likely` or more)
//! kind = ["peer-tcp", "peer-utp"]
//! encrypted = true
//! confidence = "likely"          # the least confidence that matches (default: likely)
//! direction = "outbound"         # the flow was opened from a `local` address
//! action = "mark"
//! mark = 3                       # 1–15, for traffic shaping
//!
//! [dht]
//! refuse = ["0123…"]             # do not help anyone find these torrents through the DHT
//! refuse_files = ["refuse.txt"]
//! ```
//!
//! Loading never panics and reports the first problem on one line, naming the file, line and
//! column and what was expected. Reading the files a policy names is the caller's: [`parse`]
//! takes a function that reads them, so this crate does no I/O itself.

mod decide;
mod load;

use std::collections::HashSet;
use std::fmt;

pub use decide::{Decision, SETTLE_PACKETS, Scope, Subject};
pub use load::{Error, parse};

use bt::InfoHash;
use engine::{Confidence, KindSet};
use ipnet::IpNet;

/// What to do with a flow or a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    /// Drop silently.
    Drop,
    /// Drop and tell the sender: a TCP reset, or an ICMP port unreachable.
    Reject,
    /// Allow, setting a packet mark (1–15) for traffic shaping.
    Mark(u8),
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Drop => "drop",
            Action::Reject => "reject",
            Action::Mark(_) => "mark",
        }
    }

    /// Whether packets pass.
    pub fn passes(self) -> bool {
        matches!(self, Action::Allow | Action::Mark(_))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Mark(m) => write!(f, "mark {m}"),
            a => f.write_str(a.as_str()),
        }
    }
}

/// Marks a policy may set.
pub const MARKS: std::ops::RangeInclusive<u8> = 1..=15;

/// Which way a flow goes, relative to the local networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Opened from a local address.
    Outbound,
    /// Opened towards a local address.
    Inbound,
}

/// One rule: every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// A name for decision events (default `rule N`, 1-based).
    pub name: String,
    /// `app = "bittorrent"`: the flow is BitTorrent (any kind).
    pub app: bool,
    /// The flow has one of these kinds.
    pub kinds: Option<KindSet>,
    pub encrypted: Option<bool>,
    /// The least confidence that matches (default `likely`).
    pub confidence: Confidence,
    /// Whether `confidence` was given.
    pub confidence_set: bool,
    /// The flow or packet is about one of these torrents.
    pub infohashes: Option<HashSet<InfoHash>>,
    /// One end of the flow is in these networks.
    pub local: Option<Vec<IpNet>>,
    pub direction: Option<Direction>,
    /// `None`: `action = "log"` — log and go on to the next rule.
    pub action: Option<Action>,
    /// Whether decisions by this rule are logged as events (default: when it blocks or marks).
    pub log: bool,
}

/// A loaded policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What traffic no rule matches gets.
    pub default: Action,
    /// Log what would be done; drop nothing.
    pub dry_run: bool,
    /// The networks `direction` is relative to.
    pub local: Vec<IpNet>,
    pub rules: Vec<Rule>,
    /// Torrents whose DHT lookups and announcements are dropped.
    pub refuse_dht: HashSet<InfoHash>,
}

impl Default for Policy {
    /// Allow everything.
    fn default() -> Self {
        Policy {
            default: Action::Allow,
            dry_run: false,
            local: Vec::new(),
            rules: Vec::new(),
            refuse_dht: HashSet::new(),
        }
    }
}

impl Policy {
    /// One line saying what the policy does, for logs.
    pub fn summary(&self) -> String {
        let hashes: usize = self
            .rules
            .iter()
            .filter_map(|r| r.infohashes.as_ref())
            .map(HashSet::len)
            .sum();
        format!(
            "default {}, {} rule(s), {} listed info-hash(es), {} refused in the DHT{}",
            self.default,
            self.rules.len(),
            hashes,
            self.refuse_dht.len(),
            if self.dry_run { ", dry run" } else { "" }
        )
    }
}
