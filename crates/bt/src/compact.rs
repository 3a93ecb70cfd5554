//! Compact peer and node lists (BEP 5, BEP 23, BEP 7, BEP 32).
//!
//! A compact IPv4 peer is 6 bytes (address, port, network order), an IPv6 peer 18 bytes; a
//! compact node adds its 20-byte id in front (26 and 38 bytes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::NodeId;

/// Decodes one compact peer of 6 (IPv4) or 18 (IPv6) bytes.
pub fn peer(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        6 => {
            let ip: [u8; 4] = b.get(..4)?.try_into().ok()?;
            let port = u16::from_be_bytes(b.get(4..6)?.try_into().ok()?);
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        18 => {
            let ip: [u8; 16] = b.get(..16)?.try_into().ok()?;
            let port = u16::from_be_bytes(b.get(16..18)?.try_into().ok()?);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        _ => None,
    }
}

/// The address family of a compact list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn peer_len(self) -> usize {
        match self {
            Family::V4 => 6,
            Family::V6 => 18,
        }
    }
}

/// Iterates a string of concatenated compact peers. A trailing partial entry is ignored;
/// use [`Peers::is_exact`] to tell whether the length was a multiple of the entry size.
#[derive(Debug, Clone)]
pub struct Peers<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
    exact: bool,
}

impl<'a> Peers<'a> {
    pub fn new(buf: &'a [u8], family: Family) -> Self {
        let chunks = buf.chunks_exact(family.peer_len());
        let exact = chunks.remainder().is_empty();
        Peers { chunks, exact }
    }

    /// Whether the list length was a whole number of entries.
    pub fn is_exact(&self) -> bool {
        self.exact
    }
}

impl Iterator for Peers<'_> {
    type Item = SocketAddr;
    fn next(&mut self) -> Option<SocketAddr> {
        self.chunks.next().and_then(peer)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

/// Iterates a string of compact nodes (id + peer).
#[derive(Debug, Clone)]
pub struct Nodes<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
    exact: bool,
}

impl<'a> Nodes<'a> {
    pub fn new(buf: &'a [u8], family: Family) -> Self {
        let chunks = buf.chunks_exact(20 + family.peer_len());
        let exact = chunks.remainder().is_empty();
        Nodes { chunks, exact }
    }

    pub fn is_exact(&self) -> bool {
        self.exact
    }
}

impl Iterator for Nodes<'_> {
    type Item = (NodeId, SocketAddr);
    fn next(&mut self) -> Option<Self::Item> {
        let c = self.chunks.next()?;
        let id = NodeId::from_slice(c.get(..20)?)?;
        Some((id, peer(c.get(20..)?)?))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_v4_v6() {
        let v4 = [10, 77, 0, 1, 0x1a, 0xe1, 10, 77, 0, 2, 0xc8, 0xd5, 9];
        let p: Vec<_> = Peers::new(&v4, Family::V4).collect();
        assert_eq!(
            p,
            vec![
                "10.77.0.1:6881".parse().unwrap(),
                "10.77.0.2:51413".parse().unwrap()
            ]
        );
        assert!(!Peers::new(&v4, Family::V4).is_exact());

        let mut v6 = Ipv6Addr::LOCALHOST.octets().to_vec();
        v6.extend([0, 80]);
        let p: Vec<_> = Peers::new(&v6, Family::V6).collect();
        assert_eq!(p, vec!["[::1]:80".parse().unwrap()]);
    }

    #[test]
    fn nodes_v4() {
        let mut n = vec![7u8; 20];
        n.extend([10, 77, 0, 9, 0, 1]);
        let v: Vec<_> = Nodes::new(&n, Family::V4).collect();
        assert_eq!(v, vec![(NodeId([7; 20]), "10.77.0.9:1".parse().unwrap())]);
        assert!(Nodes::new(&n, Family::V4).is_exact());
    }
}
