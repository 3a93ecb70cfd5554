//! SOCKS5 (RFC 1928) and its username/password sub-negotiation (RFC 1929).
//!
//! ```text
//! client greeting   VER=5 NMETHODS METHODS[NMETHODS]
//! server choice     VER=5 METHOD                       (0xFF: none acceptable)
//! [RFC 1929]        VER=1 ULEN UNAME PLEN PASSWD  ->  VER=1 STATUS (0: success)
//! client request    VER=5 CMD RSV=0 ATYP DST.ADDR DST.PORT
//! server reply      VER=5 REP RSV=0 ATYP BND.ADDR BND.PORT   (REP 0: succeeded)
//! UDP datagram      RSV=0 RSV=0 FRAG ATYP DST.ADDR DST.PORT DATA
//! ```
//! ATYP 1 is an IPv4 address (4 bytes), 3 a host name (a length byte, then the name), 4 an
//! IPv6 address (16 bytes). Ports are big-endian.
//!
//! The parsers are strict where RFC 1928 is (version bytes, reserved bytes, known commands
//! and address types), so that a binary protocol that happens to start with a 5 is not taken
//! for SOCKS.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{Dest, Error, Host, be16, invalid, printable, take};

/// The protocol version byte.
pub const VERSION: u8 = 5;

/// Authentication methods (IANA "SOCKS Methods").
pub mod method {
    pub const NO_AUTH: u8 = 0x00;
    pub const GSSAPI: u8 = 0x01;
    pub const USERNAME_PASSWORD: u8 = 0x02;
    pub const NONE_ACCEPTABLE: u8 = 0xFF;
}

/// A request's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Connect,
    Bind,
    UdpAssociate,
}

/// The client's greeting: the methods it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting<'a> {
    pub methods: &'a [u8],
    /// Bytes the greeting took.
    pub len: usize,
}

/// Parses the client's greeting. Methods must be assigned ones (0x00–0x09) or private
/// (0x80–0xFE), each at most once.
pub fn greeting(b: &[u8]) -> Result<Greeting<'_>, Error> {
    match b.first() {
        None => return Err(Error::Incomplete),
        Some(&VERSION) => {}
        Some(_) => return invalid("SOCKS version 5"),
    }
    let n = match b.get(1) {
        None => return Err(Error::Incomplete),
        Some(0) => return invalid("at least one method"),
        Some(&n) => usize::from(n),
    };
    let methods = take(b, 2, n)?;
    for (i, m) in methods.iter().enumerate() {
        if !matches!(m, 0x00..=0x09 | 0x80..=0xFE) {
            return invalid("a known authentication method");
        }
        if methods[..i].contains(m) {
            return invalid("each method offered once");
        }
    }
    Ok(Greeting {
        methods,
        len: 2 + n,
    })
}

/// Parses the server's method choice (2 bytes); returns the method.
pub fn method_choice(b: &[u8]) -> Result<u8, Error> {
    let s = take(b, 0, 2)?;
    if s[0] != VERSION {
        return invalid("SOCKS version 5");
    }
    Ok(s[1])
}

/// Parses a username/password request (RFC 1929); returns the bytes it took.
pub fn auth_request(b: &[u8]) -> Result<usize, Error> {
    let ver = *take(b, 0, 1)?.first().ok_or(Error::Incomplete)?;
    if ver != 1 {
        return invalid("username/password version 1");
    }
    let ulen = usize::from(*take(b, 1, 1)?.first().ok_or(Error::Incomplete)?);
    take(b, 2, ulen)?;
    let plen = usize::from(*take(b, 2 + ulen, 1)?.first().ok_or(Error::Incomplete)?);
    take(b, 3 + ulen, plen)?;
    Ok(3 + ulen + plen)
}

/// Parses a username/password reply (2 bytes); returns the status (0: success).
pub fn auth_reply(b: &[u8]) -> Result<u8, Error> {
    let s = take(b, 0, 2)?;
    if s[0] != 1 {
        return invalid("username/password version 1");
    }
    Ok(s[1])
}

/// A client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub command: Command,
    pub dest: Dest<'a>,
    /// Bytes the request took.
    pub len: usize,
}

/// Parses a client request.
pub fn request(b: &[u8]) -> Result<Request<'_>, Error> {
    let head = take(b, 0, 3)?;
    if head[0] != VERSION {
        return invalid("SOCKS version 5");
    }
    let command = match head[1] {
        1 => Command::Connect,
        2 => Command::Bind,
        3 => Command::UdpAssociate,
        _ => return invalid("CONNECT, BIND or UDP ASSOCIATE"),
    };
    if head[2] != 0 {
        return invalid("a zero reserved byte");
    }
    let (dest, n) = address(b, 3)?;
    Ok(Request {
        command,
        dest,
        len: 3 + n,
    })
}

/// A server reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// 0: succeeded; 1–8: the failures of RFC 1928.
    pub code: u8,
    /// The address the server bound (for UDP ASSOCIATE: the relay).
    pub bound: Dest<'a>,
    pub len: usize,
}

/// Parses a server reply.
pub fn reply(b: &[u8]) -> Result<Reply<'_>, Error> {
    let head = take(b, 0, 3)?;
    if head[0] != VERSION {
        return invalid("SOCKS version 5");
    }
    if head[1] > 8 {
        return invalid("a reply code of RFC 1928");
    }
    if head[2] != 0 {
        return invalid("a zero reserved byte");
    }
    let (bound, n) = address(b, 3)?;
    Ok(Reply {
        code: head[1],
        bound,
        len: 3 + n,
    })
}

/// The header of a datagram through a UDP relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpHeader<'a> {
    /// Fragment number (0: a whole datagram).
    pub frag: u8,
    /// The datagram's destination (from the client) or source (to the client).
    pub dest: Dest<'a>,
    /// Header length: the data follows.
    pub len: usize,
}

/// Parses the header of a datagram through a UDP relay. A datagram is whole, so a short one
/// is invalid, never incomplete.
pub fn udp_header(b: &[u8]) -> Result<UdpHeader<'_>, Error> {
    let r = (|| {
        let head = take(b, 0, 3)?;
        if head[0] != 0 || head[1] != 0 {
            return invalid("two zero reserved bytes");
        }
        let (dest, n) = address(b, 3)?;
        Ok(UdpHeader {
            frag: head[2],
            dest,
            len: 3 + n,
        })
    })();
    match r {
        Err(Error::Incomplete) => invalid("a whole SOCKS5 UDP header"),
        r => r,
    }
}

/// ATYP, address and port at `at`; returns them and the bytes they took.
fn address(b: &[u8], at: usize) -> Result<(Dest<'_>, usize), Error> {
    let atyp = *take(b, at, 1)?.first().ok_or(Error::Incomplete)?;
    let (host, n) = match atyp {
        1 => {
            let a = take(b, at + 1, 4)?;
            (Host::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), 4)
        }
        3 => {
            let len = usize::from(*take(b, at + 1, 1)?.first().ok_or(Error::Incomplete)?);
            let name = take(b, at + 2, len)?;
            if len == 0 || !printable(name) {
                return invalid("a printable host name");
            }
            (Host::Name(name), 1 + len)
        }
        4 => {
            let a = take(b, at + 1, 16)?;
            let mut o = [0u8; 16];
            o.copy_from_slice(a);
            (Host::V6(Ipv6Addr::from(o)), 16)
        }
        _ => return invalid("address type 1, 3 or 4"),
    };
    let port = be16(b, at + 1 + n)?;
    Ok((Dest { host, port }, 1 + n + 2))
}

/// Writes a request, reply or UDP header (`first` = `[VER, CMD|REP]` or `[0, 0]` then FRAG
/// for UDP), for tests and tools.
pub fn emit(first: &[u8], dest: &Dest<'_>) -> Vec<u8> {
    let mut v = first.to_vec();
    match dest.host {
        Host::V4(a) => {
            v.push(1);
            v.extend(a.octets());
        }
        Host::Name(n) => {
            v.push(3);
            v.push(n.len().min(255) as u8);
            v.extend(&n[..n.len().min(255)]);
        }
        Host::V6(a) => {
            v.push(4);
            v.extend(a.octets());
        }
    }
    v.extend(dest.port.to_be_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(s: &str) -> Dest<'static> {
        let a: std::net::SocketAddr = s.parse().unwrap();
        Dest {
            host: match a.ip() {
                std::net::IpAddr::V4(x) => Host::V4(x),
                std::net::IpAddr::V6(x) => Host::V6(x),
            },
            port: a.port(),
        }
    }

    #[test]
    fn greeting_and_choice() {
        // VER 5, 2 methods: no auth, username/password
        let g = [0x05, 0x02, 0x00, 0x02];
        assert_eq!(
            greeting(&g),
            Ok(Greeting {
                methods: &[0, 2],
                len: 4
            })
        );
        for n in 0..g.len() {
            assert_eq!(greeting(&g[..n]), Err(Error::Incomplete), "cut at {n}");
        }
        assert!(greeting(&[0x05, 0x00]).is_err(), "no method");
        assert!(greeting(&[0x05, 0x01, 0x42]).is_err(), "unassigned method");
        assert!(greeting(&[0x05, 0x02, 0x00, 0x00]).is_err(), "method twice");
        assert!(greeting(&[0x04, 0x01, 0x00]).is_err(), "version 4");
        assert_eq!(method_choice(&[0x05, 0x00]), Ok(method::NO_AUTH));
        assert_eq!(method_choice(&[0x05]), Err(Error::Incomplete));
        assert!(method_choice(&[0x01, 0x00]).is_err());
    }

    #[test]
    fn username_password() {
        // VER 1, "alice", "pw"
        let r = [1, 5, b'a', b'l', b'i', b'c', b'e', 2, b'p', b'w'];
        assert_eq!(auth_request(&r), Ok(10));
        for n in 0..r.len() {
            assert_eq!(auth_request(&r[..n]), Err(Error::Incomplete), "cut at {n}");
        }
        assert!(auth_request(&[5, 1]).is_err());
        assert_eq!(auth_reply(&[1, 0]), Ok(0));
        assert_eq!(auth_reply(&[1, 1]), Ok(1));
    }

    #[test]
    fn requests_of_every_address_type() {
        // CONNECT 203.0.113.7:51413
        let r = [5, 1, 0, 1, 203, 0, 113, 7, 0xC8, 0xD5];
        assert_eq!(
            request(&r),
            Ok(Request {
                command: Command::Connect,
                dest: dest("203.0.113.7:51413"),
                len: 10
            })
        );
        for n in 0..r.len() {
            assert_eq!(request(&r[..n]), Err(Error::Incomplete), "cut at {n}");
        }
        // CONNECT tracker.example:6969 by name
        let mut r = vec![5, 1, 0, 3, 15];
        r.extend(b"tracker.example");
        r.extend(6969u16.to_be_bytes());
        let got = request(&r).unwrap();
        assert_eq!(got.dest.host, Host::Name(b"tracker.example"));
        assert_eq!((got.dest.port, got.len), (6969, r.len()));
        // UDP ASSOCIATE [::]:0
        let r = emit(&[5, 3, 0], &dest("[::]:0"));
        let got = request(&r).unwrap();
        assert_eq!(got.command, Command::UdpAssociate);
        assert!(got.dest.is_unspecified());
        assert_eq!(got.len, 22);
        // bad command, reserved byte, address type, empty or binary name
        assert!(request(&[5, 4, 0, 1, 1, 2, 3, 4, 0, 1]).is_err());
        assert!(request(&[5, 1, 1, 1, 1, 2, 3, 4, 0, 1]).is_err());
        assert!(request(&[5, 1, 0, 2, 1, 2, 3, 4, 0, 1]).is_err());
        assert!(request(&[5, 1, 0, 3, 0, 0, 1]).is_err());
        assert!(request(&[5, 1, 0, 3, 2, 0xFF, 0x00, 0, 1]).is_err());
    }

    #[test]
    fn replies() {
        let r = emit(&[5, 0, 0], &dest("10.77.2.1:40000"));
        let got = reply(&r).unwrap();
        assert_eq!(
            (got.code, got.bound, got.len),
            (0, dest("10.77.2.1:40000"), 10)
        );
        let refused = emit(&[5, 5, 0], &dest("0.0.0.0:0"));
        assert_eq!(reply(&refused).unwrap().code, 5);
        assert!(reply(&emit(&[5, 9, 0], &dest("0.0.0.0:0"))).is_err());
        for n in 0..r.len() {
            assert_eq!(reply(&r[..n]), Err(Error::Incomplete), "cut at {n}");
        }
    }

    #[test]
    fn udp_headers() {
        let mut d = emit(&[0, 0, 0], &dest("[2001:db8::5]:6881"));
        let header = d.len();
        d.extend(b"d1:ad2:id20:");
        let h = udp_header(&d).unwrap();
        assert_eq!(
            (h.frag, h.dest, h.len),
            (0, dest("[2001:db8::5]:6881"), header)
        );
        assert!(
            udp_header(&d[..5]).is_err(),
            "short: invalid, not incomplete"
        );
        assert_ne!(udp_header(&d[..5]), Err(Error::Incomplete));
        assert!(udp_header(&[0, 1, 0, 1, 1, 2, 3, 4, 0, 1]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = greeting(&b);
            let _ = method_choice(&b);
            let _ = auth_request(&b);
            let _ = auth_reply(&b);
            let _ = request(&b);
            let _ = reply(&b);
            let _ = udp_header(&b);
        }

        #[test]
        fn requests_round_trip(v4 in proptest::num::u32::ANY, port in proptest::num::u16::ANY, cmd in 1u8..=3, tail in proptest::collection::vec(proptest::num::u8::ANY, 0..20)) {
            let d = Dest { host: Host::V4(Ipv4Addr::from(v4)), port };
            let mut b = emit(&[5, cmd, 0], &d);
            let len = b.len();
            b.extend(tail);
            let r = request(&b).unwrap();
            proptest::prop_assert_eq!(r.dest, d);
            proptest::prop_assert_eq!(r.len, len);
        }
    }
}
