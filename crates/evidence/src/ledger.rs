//! The repeat-infringer ledger as stored: checked notices under keyed pseudonyms.
//!
//! Subscribers and addresses are pseudonyms under the key file's ledger key (one key, not one
//! per day: a subscriber is counted over months); entries are deleted with the store's
//! retention, by the time of their notice.

use std::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::key::Key;

/// One checked notice in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When it was recorded, and the notice's own time (seconds since 1970).
    pub recorded_s: i64,
    pub notice_s: i64,
    pub subscriber: [u8; 16],
    pub address: [u8; 16],
    pub case_id: Option<String>,
    /// SHA-256 of the notice's bytes and its place in them.
    pub digest: [u8; 32],
    pub verdict: String,
}

fn mac(key: &Key, domain: &[u8], data: &[u8]) -> [u8; 16] {
    let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return [0; 16];
    };
    m.update(domain);
    m.update(data);
    let out = m.finalize().into_bytes();
    let mut p = [0u8; 16];
    p.copy_from_slice(&out[..16]);
    p
}

/// A subscriber's pseudonym (the subscriber id from a lease file, or the address itself).
pub fn subscriber(key: &Key, id: &str) -> [u8; 16] {
    mac(key, b"swarmwall subscriber v1\0", id.as_bytes())
}

/// An address's pseudonym in the ledger.
pub fn address(key: &Key, ip: IpAddr) -> [u8; 16] {
    match ip.to_canonical() {
        IpAddr::V4(a) => mac(key, b"swarmwall ledger ip v1\x04", &a.octets()),
        IpAddr::V6(a) => mac(key, b"swarmwall ledger ip v1\x06", &a.octets()),
    }
}

/// The digest of the `index`-th notice of a message's bytes.
pub fn digest(message: &[u8], index: usize) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(message);
    h.update((index as u64).to_be_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize());
    out
}

/// Lower-case hex.
pub use bt::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_and_distinct() {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        assert_eq!(subscriber(&k1, "cust-1"), subscriber(&k1, "cust-1"));
        assert_ne!(subscriber(&k1, "cust-1"), subscriber(&k2, "cust-1"));
        assert_ne!(subscriber(&k1, "cust-1"), subscriber(&k1, "cust-2"));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_ne!(address(&k1, ip), subscriber(&k1, "192.0.2.1"));
        assert_ne!(digest(b"x", 0), digest(b"x", 1));
    }
}
