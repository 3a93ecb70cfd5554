//! HTTP CONNECT (RFC 9110, section 9.3.6): the client asks an HTTP proxy for a tunnel,
//! `CONNECT host:port HTTP/1.1` and header lines up to a blank line; a 2xx response head
//! opens the tunnel, and both sides' next bytes are the tunnel's.

use std::net::{IpAddr, SocketAddr};

use crate::{Dest, Error, Host, invalid, printable};

/// Longest request or response head waited for.
pub const MAX_HEAD: usize = 8192;

const CONNECT: &[u8] = b"CONNECT ";

/// A CONNECT request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub dest: Dest<'a>,
    /// Bytes the head took, blank line included.
    pub len: usize,
}

/// A response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub len: usize,
}

/// Whether `b` can still be the start of a CONNECT request (a cheap first test).
pub fn starts_like(b: &[u8]) -> bool {
    let n = b.len().min(CONNECT.len());
    b[..n] == CONNECT[..n]
}

/// The end of a head: the offset after its blank line.
fn head_end(b: &[u8]) -> Result<usize, Error> {
    let window = &b[..b.len().min(MAX_HEAD)];
    let crlf = memchr::memmem::find(window, b"\r\n\r\n").map(|i| i + 4);
    let lf = memchr::memmem::find(window, b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Ok(a.min(b)),
        (Some(a), None) | (None, Some(a)) => Ok(a),
        (None, None) if b.len() >= MAX_HEAD => invalid("a head shorter than 8 KiB"),
        (None, None) => Err(Error::Incomplete),
    }
}

/// The first line of a head, without its line ending.
fn first_line(head: &[u8]) -> &[u8] {
    let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = &head[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses a CONNECT request head.
pub fn request(b: &[u8]) -> Result<Request<'_>, Error> {
    if !starts_like(b) {
        return invalid("CONNECT");
    }
    let len = head_end(b)?;
    let line = first_line(&b[..len]);
    let rest = line.get(CONNECT.len()..).unwrap_or(&[]);
    let Some(sp) = memchr::memchr(b' ', rest) else {
        return invalid("CONNECT authority HTTP/1.x");
    };
    if !rest[sp + 1..].starts_with(b"HTTP/1.") {
        return invalid("HTTP/1.x");
    }
    let Some(dest) = authority(&rest[..sp]) else {
        return invalid("host:port");
    };
    Ok(Request { dest, len })
}

/// Parses a response head.
pub fn response(b: &[u8]) -> Result<Response, Error> {
    const HTTP: &[u8] = b"HTTP/1.";
    let n = b.len().min(HTTP.len());
    if b[..n] != HTTP[..n] {
        return invalid("HTTP/1.x");
    }
    let len = head_end(b)?;
    let line = first_line(&b[..len]);
    let code = line.get(9..12).unwrap_or(&[]);
    if line.get(8) != Some(&b' ') || code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return invalid("a status code");
    }
    let status = code.iter().fold(0u16, |s, d| s * 10 + u16::from(d - b'0'));
    Ok(Response { status, len })
}

/// `host:port` (an IPv6 address in brackets); the port is required.
pub fn authority(a: &[u8]) -> Option<Dest<'_>> {
    let text = std::str::from_utf8(a).ok()?;
    if let Ok(sa) = text.parse::<SocketAddr>() {
        let host = match sa.ip() {
            IpAddr::V4(x) => Host::V4(x),
            IpAddr::V6(x) => Host::V6(x),
        };
        return Some(Dest {
            host,
            port: sa.port(),
        });
    }
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let name = host.as_bytes();
    let ok = !name.is_empty()
        && name.len() <= 255
        && printable(name)
        && !name
            .iter()
            .any(|c| matches!(c, b'/' | b'[' | b']' | b'@' | b':'));
    ok.then_some(Dest {
        host: Host::Name(&a[..host.len()]),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn connect_and_200() {
        let r = b"CONNECT 10.77.1.2:51413 HTTP/1.1\r\nHost: 10.77.1.2:51413\r\n\r\n\x13BitTorrent";
        let got = request(r).unwrap();
        assert_eq!(
            got.dest,
            Dest {
                host: Host::V4(Ipv4Addr::new(10, 77, 1, 2)),
                port: 51413
            }
        );
        assert_eq!(&r[got.len..], b"\x13BitTorrent");
        for n in 0..got.len {
            assert_eq!(request(&r[..n]), Err(Error::Incomplete), "cut at {n}");
        }
        let s = b"HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n";
        assert_eq!(
            response(s),
            Ok(Response {
                status: 200,
                len: s.len()
            })
        );
        assert_eq!(response(&s[..20]), Err(Error::Incomplete));
        assert_eq!(
            response(b"HTTP/1.1 403 Forbidden\r\n\r\n").unwrap().status,
            403
        );
    }

    #[test]
    fn names_and_ipv6() {
        let got = request(b"CONNECT tracker.example:443 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(got.dest.host, Host::Name(b"tracker.example"));
        assert_eq!(got.dest.port, 443);
        let got = request(b"CONNECT [2001:db8::2]:6881 HTTP/1.1\n\n").unwrap();
        assert_eq!(got.dest.port, 6881);
        assert!(matches!(got.dest.host, Host::V6(_)));
    }

    #[test]
    fn not_connect() {
        assert!(request(b"GET / HTTP/1.1\r\n\r\n").is_err());
        assert!(
            request(b"CONNECT tracker.example HTTP/1.1\r\n\r\n").is_err(),
            "no port"
        );
        assert!(request(b"CONNECT a:1 SIP/2.0\r\n\r\n").is_err());
        assert!(request(b"CONNECT /x:1 HTTP/1.1\r\n\r\n").is_err());
        assert!(response(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(response(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
        let long = [b"CONNECT a:1 HTTP/1.1\r\n".as_slice(), &[b'x'; MAX_HEAD]].concat();
        assert!(request(&long).is_err(), "no end within 8 KiB");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = request(&b);
            let _ = response(&b);
            let _ = authority(&b);
        }

        #[test]
        fn text_never_panics(s in "CONNECT [a-z0-9.:\\[\\]]{0,40} HTTP/1\\.[01]\r\n(\r\n)?") {
            let _ = request(s.as_bytes());
        }
    }
}
