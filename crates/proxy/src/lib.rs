//! Pure parsers of the proxy protocols BitTorrent clients tunnel through: no I/O, no flows,
//! no allocation.
//!
//! | module | protocol |
//! |---|---|
//! | [`socks5`] | SOCKS5 (RFC 1928): greeting, method choice, CONNECT / BIND / UDP ASSOCIATE request and reply, the UDP relay's datagram header; username/password sub-negotiation (RFC 1929) |
//! | [`socks4`] | SOCKS4 and its 4a extension (a host name instead of an address) |
//! | [`http_connect`] | HTTP CONNECT (RFC 9110, section 9.3.6): the request head and the proxy's response head |
//!
//! Every parser takes untrusted bytes, returns what it parsed with the number of bytes the
//! message took, and keeps "need more bytes" ([`Error::Incomplete`]) apart from "this is not
//! that message" ([`Error::Invalid`]): a detector waits for the next TCP segment in the first
//! case and gives up in the second.
//!
//! # Panic rule
//! No input makes this crate panic; parsers check lengths before reading.

pub mod http_connect;
pub mod socks4;
pub mod socks5;

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why bytes could not be parsed as a proxy message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The bytes so far are a valid beginning: more may complete the message.
    Incomplete,
    /// The bytes can never be this message; `expected` says what was missing.
    Invalid { expected: &'static str },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Incomplete => f.write_str("incomplete message"),
            Error::Invalid { expected } => write!(f, "expected {expected}"),
        }
    }
}

impl std::error::Error for Error {}

pub(crate) fn invalid<T>(expected: &'static str) -> Result<T, Error> {
    Err(Error::Invalid { expected })
}

/// A destination as a proxy protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// A host name, as sent (1–255 bytes; not checked to be a valid DNS name).
    Name(&'a [u8]),
}

/// A host and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest<'a> {
    pub host: Host<'a>,
    pub port: u16,
}

impl Dest<'_> {
    /// Whether the host is an unspecified address (`0.0.0.0` or `::`): in a SOCKS5 reply,
    /// "the address you connected to".
    pub fn is_unspecified(&self) -> bool {
        match self.host {
            Host::V4(a) => a.is_unspecified(),
            Host::V6(a) => a.is_unspecified(),
            Host::Name(_) => false,
        }
    }
}

/// Whether a name is printable ASCII without spaces (what host names and SOCKS4 user ids
/// are in practice): random bytes rarely are, which keeps look-alikes out.
pub(crate) fn printable(name: &[u8]) -> bool {
    name.iter().all(|c| c.is_ascii_graphic())
}

/// Reads `n` bytes at `at`, or says the message is incomplete.
pub(crate) fn take(b: &[u8], at: usize, n: usize) -> Result<&[u8], Error> {
    b.get(at..at.saturating_add(n)).ok_or(Error::Incomplete)
}

pub(crate) fn be16(b: &[u8], at: usize) -> Result<u16, Error> {
    let s = take(b, at, 2)?;
    Ok(u16::from_be_bytes([s[0], s[1]]))
}
