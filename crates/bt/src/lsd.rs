//! Local Service Discovery (BEP 14).
//!
//! ```text
//! BT-SEARCH * HTTP/1.1\r\n
//! Host: <host>\r\n                 239.192.152.143:6771 or [ff15::efc0:988f]:6771
//! Port: <port>\r\n
//! Infohash: <40 hex digits>\r\n    (repeated for several torrents)
//! cookie: <opaque>\r\n             (optional, to ignore one's own announces)
//! \r\n
//! \r\n
//! ```
//! Sent to the multicast group on UDP port 6771.

use crate::{Error, InfoHash, invalid};

/// BEP 14 IPv4 multicast group.
pub const GROUP_V4: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 192, 152, 143);
/// BEP 14 IPv6 multicast group.
pub const GROUP_V6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f);
/// BEP 14 UDP port.
pub const PORT: u16 = 6771;

const START: &[u8] = b"BT-SEARCH * HTTP/1.1";

/// A parsed announce, borrowing from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce<'a> {
    /// The listen port being announced.
    pub port: u16,
    pub host: Option<&'a [u8]>,
    pub cookie: Option<&'a [u8]>,
    headers: &'a [u8],
}

impl<'a> Announce<'a> {
    /// Every well-formed `Infohash:` header.
    pub fn info_hashes(&self) -> impl Iterator<Item = InfoHash> + 'a {
        headers(self.headers)
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"infohash"))
            .filter_map(|(_, v)| InfoHash::from_hex(v))
    }
}

fn headers(block: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    block.split(|&c| c == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = memchr::memchr(b':', line)?;
        Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()))
    })
}

/// Parses a `BT-SEARCH` datagram. It must have a numeric `Port` and at least one 40-digit
/// `Infohash`.
pub fn parse(payload: &[u8]) -> Result<Announce<'_>, Error> {
    let Some(rest) = payload.strip_prefix(START) else {
        return invalid("BT-SEARCH * HTTP/1.1");
    };
    let Some(rest) = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
    else {
        return invalid("line end after the request line");
    };
    let mut port = None;
    let mut host = None;
    let mut cookie = None;
    for (name, value) in headers(rest) {
        if name.eq_ignore_ascii_case(b"port") {
            port = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u16>().ok());
        } else if name.eq_ignore_ascii_case(b"host") {
            host = Some(value);
        } else if name.eq_ignore_ascii_case(b"cookie") {
            cookie = Some(value);
        }
    }
    let Some(port) = port else {
        return invalid("a numeric Port header");
    };
    let a = Announce {
        port,
        host,
        cookie,
        headers: rest,
    };
    if a.info_hashes().next().is_none() {
        return invalid("an Infohash header of 40 hex digits");
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep14_announce_with_two_hashes() {
        let m = b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: 0123456789abcdef0123456789abcdef01234567\r\nInfohash: 89ABCDEF0123456789ABCDEF0123456789ABCDEF\r\ncookie: xyz\r\n\r\n\r\n";
        let a = parse(m).unwrap();
        assert_eq!(a.port, 6881);
        assert_eq!(a.host, Some(&b"239.192.152.143:6771"[..]));
        assert_eq!(a.cookie, Some(&b"xyz"[..]));
        let h: Vec<String> = a.info_hashes().map(|h| h.to_hex()).collect();
        assert_eq!(
            h,
            [
                "0123456789abcdef0123456789abcdef01234567",
                "89abcdef0123456789abcdef0123456789abcdef"
            ]
        );
    }

    #[test]
    fn rejections() {
        let cases: &[&[u8]] = &[
            b"M-SEARCH * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n\r\n",
            b"BT-SEARCH * HTTP/1.1\r\nHost: x\r\nInfohash: 0123456789abcdef0123456789abcdef01234567\r\n\r\n", // no port
            b"BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: 0123\r\n\r\n", // short hash
            b"BT-SEARCH * HTTP/1.1\r\nPort: 99999\r\nInfohash: 0123456789abcdef0123456789abcdef01234567\r\n\r\n",
        ];
        for c in cases {
            assert!(parse(c).is_err(), "{}", String::from_utf8_lossy(c));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Ok(a) = parse(&b) { let _ = a.info_hashes().count(); }
        }
    }
}
