//! SOCKS4 and SOCKS4a.
//!
//! ```text
//! request   VN=4 CD DSTPORT(2) DSTIP(4) USERID NUL [HOSTNAME NUL]   (CD 1: CONNECT, 2: BIND)
//! reply     VN=0 CD DSTPORT(2) DSTIP(4)                             (CD 90: granted; 91-93: not)
//! ```
//! SOCKS4a: a DSTIP of `0.0.0.x` with x ≠ 0 means a host name follows the user id.

use std::net::Ipv4Addr;

use crate::{Dest, Error, Host, be16, invalid, printable, take};

/// Longest user id or host name accepted (bytes before the NUL).
pub const MAX_FIELD: usize = 255;

/// A client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// CONNECT (else BIND).
    pub connect: bool,
    pub dest: Dest<'a>,
    /// Bytes the request took.
    pub len: usize,
}

/// Parses a client request.
pub fn request(b: &[u8]) -> Result<Request<'_>, Error> {
    let head = take(b, 0, 2)?;
    if head[0] != 4 {
        return invalid("SOCKS version 4");
    }
    let connect = match head[1] {
        1 => true,
        2 => false,
        _ => return invalid("CONNECT or BIND"),
    };
    let port = be16(b, 2)?;
    let ip = take(b, 4, 4)?;
    let ip = Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]);
    let (user, mut len) = field(b, 8)?;
    if !printable(user) {
        return invalid("a printable user id");
    }
    let o = ip.octets();
    let host = if o[..3] == [0, 0, 0] && o[3] != 0 {
        let (name, n) = field(b, len)?;
        if name.is_empty() || !printable(name) {
            return invalid("a printable host name (SOCKS4a)");
        }
        len = n;
        Host::Name(name)
    } else {
        Host::V4(ip)
    };
    Ok(Request {
        connect,
        dest: Dest { host, port },
        len,
    })
}

/// A NUL-terminated field at `at`: its bytes and the offset after the NUL.
fn field(b: &[u8], at: usize) -> Result<(&[u8], usize), Error> {
    let rest = b.get(at..).unwrap_or(&[]);
    match memchr::memchr(0, &rest[..rest.len().min(MAX_FIELD + 1)]) {
        Some(n) => Ok((&rest[..n], at + n + 1)),
        None if rest.len() > MAX_FIELD => invalid("a NUL within 256 bytes"),
        None => Err(Error::Incomplete),
    }
}

/// Parses a reply (8 bytes); returns whether the request was granted.
pub fn reply(b: &[u8]) -> Result<bool, Error> {
    let s = take(b, 0, 8)?;
    if s[0] != 0 {
        return invalid("reply version 0");
    }
    match s[1] {
        90 => Ok(true),
        91..=93 => Ok(false),
        _ => invalid("reply code 90-93"),
    }
}

/// Length of a reply.
pub const REPLY_LEN: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks4_connect() {
        // CONNECT 10.77.1.2:6881, user "lt"
        let r = [4, 1, 0x1A, 0xE1, 10, 77, 1, 2, b'l', b't', 0];
        assert_eq!(
            request(&r),
            Ok(Request {
                connect: true,
                dest: Dest {
                    host: Host::V4(Ipv4Addr::new(10, 77, 1, 2)),
                    port: 6881
                },
                len: 11
            })
        );
        for n in 0..r.len() {
            assert_eq!(request(&r[..n]), Err(Error::Incomplete), "cut at {n}");
        }
        assert_eq!(reply(&[0, 90, 0, 0, 0, 0, 0, 0]), Ok(true));
        assert_eq!(reply(&[0, 91, 0, 0, 0, 0, 0, 0]), Ok(false));
        assert!(reply(&[0, 1, 0, 0, 0, 0, 0, 0]).is_err());
        assert_eq!(reply(&[0, 90, 0]), Err(Error::Incomplete));
    }

    #[test]
    fn socks4a_host_name() {
        let mut r = vec![4, 1, 0x1B, 0x39, 0, 0, 0, 1, 0];
        r.extend(b"tracker.example\0");
        let got = request(&r).unwrap();
        assert_eq!(got.dest.host, Host::Name(b"tracker.example"));
        assert_eq!((got.dest.port, got.len), (6969, r.len()));
        for n in 0..r.len() {
            assert_eq!(request(&r[..n]), Err(Error::Incomplete), "cut at {n}");
        }
    }

    #[test]
    fn not_socks4() {
        assert!(request(&[4, 3, 0, 1, 1, 2, 3, 4, 0]).is_err(), "command 3");
        assert!(request(&[5, 1, 0, 1, 1, 2, 3, 4, 0]).is_err(), "version 5");
        assert!(
            request(&[4, 1, 0, 1, 1, 2, 3, 4, 0xFF, 0]).is_err(),
            "binary user id"
        );
        let mut long = vec![4, 1, 0, 1, 1, 2, 3, 4];
        long.extend([b'a'; 300]);
        assert!(request(&long).is_err(), "no NUL within 256 bytes");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = request(&b);
            let _ = reply(&b);
        }
    }
}
