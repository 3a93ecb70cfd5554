//! Keyed pseudonyms of IP addresses.
//!
//! A pseudonym is the first 16 bytes of HMAC-SHA256(period key, "swarmwall ip v1" ‖ family ‖
//! address bytes). A plain hash would not do: every IPv4 address can be hashed in minutes and
//! looked up. Under a secret key, the pseudonym tells nothing to whoever does not hold the key;
//! under a different key each period, rows of different periods cannot be joined without the
//! keys either. 128 bits keep collisions out of reach (2^-64 for 2^32 addresses in a period).

use std::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::key::Key;

/// The stored form of an address.
pub type Pseudonym = [u8; 16];

const DOMAIN: &[u8] = b"swarmwall ip v1";
const ENDPOINT_DOMAIN: &[u8] = b"swarmwall endpoint v1";

/// The pseudonym of `ip` under `key`. An IPv4-mapped IPv6 address is taken as its IPv4
/// address, so that both spellings of one host meet.
pub fn pseudonym(key: &Key, ip: IpAddr) -> Pseudonym {
    Keyed::new(key).pseudonym(ip)
}

/// An HMAC keyed once (its padded key hashed), for many pseudonyms under one key: each costs
/// two SHA-256 blocks instead of four.
#[derive(Clone)]
pub struct Keyed(Hmac<Sha256>);

impl std::fmt::Debug for Keyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyed(..)")
    }
}

impl Keyed {
    pub fn new(key: &Key) -> Keyed {
        // An HMAC accepts keys of any length: this cannot fail for a 32-byte key.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        Keyed(mac)
    }

    /// The tag of an endpoint (address and port) under this key: how sensors that share a
    /// key file tell each other what they learned of an endpoint without writing its address
    /// ([`engine::Tagger`]). Another domain than the addresses' pseudonyms: a tag is never
    /// equal to a row's pseudonym.
    pub fn endpoint_tag(&self, addr: std::net::SocketAddr) -> engine::Tag {
        self.mac(ENDPOINT_DOMAIN, addr.ip(), &addr.port().to_be_bytes())
    }

    /// See [`pseudonym`].
    pub fn pseudonym(&self, ip: IpAddr) -> Pseudonym {
        self.mac(DOMAIN, ip, &[])
    }

    /// The first 16 bytes of the HMAC of `domain` ‖ family ‖ address (canonical: an
    /// IPv4-mapped IPv6 address as its IPv4 address) ‖ `suffix`.
    fn mac(&self, domain: &[u8], ip: IpAddr, suffix: &[u8]) -> [u8; 16] {
        let mut mac = self.0.clone();
        mac.update(domain);
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                mac.update(&[4]);
                mac.update(&a.octets());
            }
            IpAddr::V6(a) => {
                mac.update(&[6]);
                mac.update(&a.octets());
            }
        }
        mac.update(suffix);
        let out = mac.finalize().into_bytes();
        let mut p = [0u8; 16];
        p.copy_from_slice(&out[..16]);
        p
    }
}

impl Keyed {
    /// The pseudonym of a host name (a proxy's target given by name), lower-cased.
    pub fn name_pseudonym(&self, name: &str) -> Pseudonym {
        let mut mac = self.0.clone();
        mac.update(DOMAIN);
        mac.update(&[0]);
        mac.update(name.to_ascii_lowercase().as_bytes());
        let out = mac.finalize().into_bytes();
        let mut p = [0u8; 16];
        p.copy_from_slice(&out[..16]);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_canonical() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let a: IpAddr = "10.77.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.77.0.1".parse().unwrap();
        let b: IpAddr = "10.77.0.2".parse().unwrap();
        assert_eq!(pseudonym(&k1, a), pseudonym(&k1, a));
        assert_eq!(pseudonym(&k1, a), pseudonym(&k1, mapped));
        assert_ne!(pseudonym(&k1, a), pseudonym(&k1, b));
        assert_ne!(pseudonym(&k1, a), pseudonym(&k2, a));
        // Not the address bytes, nor a plain hash of them.
        let p = pseudonym(&k1, a);
        assert!(!p.windows(4).any(|w| w == [10, 77, 0, 1]));
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA256 with key 0x0b×32 over "swarmwall ip v1" 04 c0000201 (192.0.2.1),
        // computed independently: python3 -c 'import hmac,hashlib;print(hmac.new(b"\x0b"*32,
        // b"swarmwall ip v1\x04\xc0\x00\x02\x01",hashlib.sha256).hexdigest()[:32])'
        let p = pseudonym(&[0x0b; 32], "192.0.2.1".parse().unwrap());
        let hex: String = p.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, KNOWN);
    }
    const KNOWN: &str = "5d991d21e3221864e53dac3fe3f9309e";
}

/// How a sensor tags endpoints for the sensors that share its key file: under the key of the
/// period of the capture time (every copy of the key file derives the same keys). Holds one
/// period's key at a time, from the period of `now_s` on, moving forward as time does (one
/// step of the key file's ratchet per period); an earlier period, or one without a key, gets
/// no tag.
pub fn tagger(ring: &crate::KeyRing, now_s: i64) -> engine::Tagger {
    let period_s = ring.period_seconds();
    let first = ring.period_of(now_s);
    let state = std::sync::Mutex::new(ring.get(first).map(|k| (first, k, Keyed::new(&k))));
    engine::Tagger::new(move |addr, at_ns| {
        let want = at_ns.div_euclid(1_000_000_000).div_euclid(period_s);
        let mut guard = state.lock().ok()?;
        let (period, key, keyed) = guard.as_mut()?;
        if want < *period || want - *period > crate::key::MAX_AHEAD {
            return None;
        }
        if want > *period {
            for _ in *period..want {
                *key = crate::key::next_key(key);
            }
            *keyed = Keyed::new(key);
            *period = want;
        }
        Some(keyed.endpoint_tag(*addr))
    })
}

#[cfg(test)]
mod tag_tests {
    use super::*;

    #[test]
    fn the_tagger_moves_forward_with_the_ring_and_never_back() {
        let d = std::env::temp_dir().join(format!("swarmwall-tagger-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let ring = crate::KeyRing::open_or_create(&d.join("keys"), crate::DAY, 100).unwrap();
        let a: std::net::SocketAddr = "10.77.0.9:51413".parse().unwrap();
        let day = |p: i64| p * crate::DAY * 1_000_000_000 + 5;
        let t = tagger(&ring, 102 * crate::DAY);
        let under = |p: i64| Keyed::new(&ring.get(p).unwrap()).endpoint_tag(a);
        assert_eq!(t.tag(&a, day(102)), Some(under(102)));
        assert_eq!(t.tag(&a, day(101)), None, "before the period it started in");
        assert_eq!(t.tag(&a, day(105)), Some(under(105)), "three periods on");
        assert_eq!(t.tag(&a, day(104)), None, "and not back");
        assert_eq!(t.tag(&a, day(106)), Some(under(106)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn endpoint_tags_are_keyed_and_apart_from_pseudonyms() {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let a: std::net::SocketAddr = "10.77.0.9:51413".parse().unwrap();
        let b: std::net::SocketAddr = "10.77.0.9:51414".parse().unwrap();
        let mapped: std::net::SocketAddr = "[::ffff:10.77.0.9]:51413".parse().unwrap();
        let t = Keyed::new(&k1).endpoint_tag(a);
        assert_eq!(t, Keyed::new(&k1).endpoint_tag(a));
        assert_eq!(
            t,
            Keyed::new(&k1).endpoint_tag(mapped),
            "one host, two spellings"
        );
        assert_ne!(t, Keyed::new(&k2).endpoint_tag(a), "another key");
        assert_ne!(t, Keyed::new(&k1).endpoint_tag(b), "another port");
        assert_ne!(t, pseudonym(&k1, a.ip()), "not the address's pseudonym");
    }
}
