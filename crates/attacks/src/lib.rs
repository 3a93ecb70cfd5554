//! Attacks on swarms, as alerts: the categories (a contract), the thresholds (a TOML section with
//! defaults taken from the protocols' own defences), and the aggregation of detections into
//! incidents — a million forged packets are one alert with counts, written when first seen and
//! then updated at most once a minute. Pure and bounded: no I/O, every table capped, the oldest
//! evicted first and counted.
//!
//! The detectors that feed it read what the engine parses (KRPC transaction ids and node ids,
//! uTP connection ids, tracker and PEX peers, TTLs); this crate holds what they share.

pub mod alerts;
mod dht;
pub mod monitor;
pub mod net;
mod peers;
mod resets;
mod table;
pub mod thresholds;
mod utp;

pub use alerts::{Alert, Alerts, Detection, Severity};
pub use monitor::{Monitor, Shared, Stats};
pub use thresholds::Thresholds;

/// The categories of attack (their names are a contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// uTP data on connections that never had a SYN/STATE exchange, from many sources.
    UtpForged,
    /// A host made to send repeated uTP handshakes or retransmissions to an address that never
    /// acknowledges.
    UtpReflection,
    /// KRPC responses that match no query of their receiver; amplification.
    DhtReflection,
    /// Many node ids per address, ids that break BEP 42, near-identical ids.
    DhtSybil,
    /// Ids gathered next to a looked-up info-hash from few networks.
    DhtEclipse,
    /// Bogon, packed or recycled peers in tracker replies, DHT values or PEX.
    PeerListPoisoning,
    /// RSTs or ST_RESETs whose TTL differs from their sender's, or followed by its data.
    ResetInjection,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::UtpForged,
        Category::UtpReflection,
        Category::DhtReflection,
        Category::DhtSybil,
        Category::DhtEclipse,
        Category::PeerListPoisoning,
        Category::ResetInjection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::UtpForged => "utp-forged",
            Category::UtpReflection => "utp-reflection",
            Category::DhtReflection => "dht-reflection",
            Category::DhtSybil => "dht-sybil",
            Category::DhtEclipse => "dht-eclipse",
            Category::PeerListPoisoning => "peer-list-poisoning",
            Category::ResetInjection => "reset-injection",
        }
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_are_the_contract() {
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "utp-forged",
                "utp-reflection",
                "dht-reflection",
                "dht-sybil",
                "dht-eclipse",
                "peer-list-poisoning",
                "reset-injection"
            ]
        );
        assert_eq!(
            serde_json::to_string(&Category::DhtSybil).unwrap(),
            "\"dht-sybil\""
        );
    }
}

#[cfg(test)]
mod detectors_tests;
