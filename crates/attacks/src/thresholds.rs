//! Thresholds: one TOML section, `[attacks]`, every key optional. The defaults come from the
//! protocols' own defences where there is one.

use serde::Deserialize;

/// When a detection becomes an alert.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// KRPC messages per source in `dht_rate_window_s` above which a source is flooding
    /// (libtorrent's DHT rate limit: 50 per 10 s per source).
    pub dht_rate_per_source: u32,
    pub dht_rate_window_s: u32,
    /// Distinct node ids one IPv4 address (or IPv6 /64) may use (BEP 42: an id's first 21 bits
    /// follow from the address and 3 random bits, so an address has 8 valid prefixes; an
    /// honest node has one id).
    pub node_ids_per_address: u32,
    /// Distinct node ids one IPv6 /64 may use: a network of hosts, each with its own address
    /// and node.
    pub node_ids_per_v6_net: u32,
    /// Node ids differing in at most this many bytes, from one address or /24, are near twins.
    pub near_twin_bytes: u32,
    /// Ids sharing this many leading bits with a looked-up info-hash are close to it
    /// (`dht_eclipse_any_bits`: that close counts on its own; `dht_eclipse_min_ids` of the
    /// others from at most `dht_eclipse_max_nets` /24s make an eclipse).
    pub dht_eclipse_bits: u32,
    pub dht_eclipse_any_bits: u32,
    pub dht_eclipse_min_ids: u32,
    pub dht_eclipse_max_nets: u32,
    /// Unanswered KRPC responses (no query of their receiver had that transaction id) per
    /// receiver in `dht_rate_window_s`, from at least `dht_reflection_min_sources` sources.
    pub dht_unsolicited: u32,
    pub dht_reflection_min_sources: u32,
    /// Response bytes per query byte above which a DHT exchange amplifies.
    pub dht_amplification: f64,
    /// Sources sending uTP data on connections never opened, per info-hash or target.
    pub utp_forged_sources: u32,
    /// Packets (handshake answers, retransmissions, data) that hosts send one address on uTP
    /// connections it never acknowledged, opened in its name with a foreign ack.
    pub utp_unanswered: u32,
    /// Unrelated torrents one ip:port may be announced for before the announcements look
    /// recycled; peers of one reply in one /24 before they look packed.
    pub peer_torrents_per_endpoint: u32,
    pub peers_per_net: u32,
    /// Peers of one list sender tried and silent (at most a tenth of those tried answering)
    /// before its lists look dead.
    pub unanswered_peers: u32,
    /// Hop-limit difference between a reset and its sender's earlier packets.
    pub reset_ttl_delta: u32,
    /// Seconds between two updates of one incident's alert.
    pub update_every_s: u32,
    /// Entries of each table of detector state (and, one per 16 of them, incidents held);
    /// beyond, the oldest go.
    pub max_state: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            dht_rate_per_source: 50,
            dht_rate_window_s: 10,
            node_ids_per_address: 8,
            node_ids_per_v6_net: 64,
            near_twin_bytes: 2,
            dht_eclipse_bits: 33,
            dht_eclipse_any_bits: 40,
            dht_eclipse_min_ids: 4,
            dht_eclipse_max_nets: 2,
            dht_unsolicited: 50,
            dht_reflection_min_sources: 5,
            dht_amplification: 10.0,
            utp_forged_sources: 5,
            utp_unanswered: 6,
            peer_torrents_per_endpoint: 10,
            peers_per_net: 20,
            unanswered_peers: 10,
            reset_ttl_delta: 2,
            update_every_s: 60,
            max_state: 16_384,
        }
    }
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    attacks: Option<Thresholds>,
}

impl Thresholds {
    /// The `[attacks]` section of a TOML document (other sections are the caller's); the
    /// defaults when there is none. One-line errors.
    pub fn from_toml(text: &str) -> Result<Thresholds, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        let only = toml::Table::from_iter(
            table
                .get("attacks")
                .map(|v| ("attacks".to_string(), v.clone())),
        );
        let f: File = toml::Value::Table(only)
            .try_into()
            .map_err(|e: toml::de::Error| format!("[attacks]: {}", one_line(&e.to_string())))?;
        let t = f.attacks.unwrap_or_default();
        if t.dht_rate_window_s == 0 || t.update_every_s == 0 || t.max_state == 0 {
            return Err(
                "[attacks]: windows, update_every_s and max_state must be at least 1".into(),
            );
        }
        if t.dht_amplification.is_nan() || t.dht_amplification <= 1.0 {
            return Err("[attacks]: dht_amplification must be more than 1".into());
        }
        Ok(t)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_mistakes() {
        assert_eq!(Thresholds::from_toml("").unwrap(), Thresholds::default());
        let t = Thresholds::from_toml("[policy]\nx = 1\n[attacks]\nnode_ids_per_address = 16\n")
            .unwrap();
        assert_eq!(t.node_ids_per_address, 16);
        assert_eq!(t.dht_rate_per_source, 50);
        let e = Thresholds::from_toml("[attacks]\nnode_ids = 3\n").unwrap_err();
        assert!(e.starts_with("[attacks]:") && e.contains("node_ids"), "{e}");
        assert_eq!(e.lines().count(), 1);
        assert!(Thresholds::from_toml("[attacks]\nupdate_every_s = 0\n").is_err());
        assert!(Thresholds::from_toml("[attacks]\ndht_amplification = 0.5\n").is_err());
        assert!(Thresholds::from_toml("[attacks\n").is_err());
    }
}
