//! HTTP tracker requests and replies (BEP 3, BEP 7, BEP 23, BEP 48).
//!
//! An announce is `GET <path>?info_hash=<20 bytes, %-encoded>&peer_id=<20 bytes>&port=<n>&…`
//! on any port and any path; a scrape is a `GET` whose last path segment starts with `scrape`
//! and carries zero or more `info_hash` parameters. The reply is an HTTP response whose body
//! is a bencoded dictionary: `interval` and `peers` (a compact string of 6-byte entries,
//! BEP 23, or a list of `{ip, port, peer id}` dictionaries), `peers6` (BEP 7), or
//! `failure reason`; a scrape reply has `files`.
//!
//! Requests are recognised from the request line alone, so a detector can decide as soon as
//! the line is complete, whatever segment boundaries the client used.

use std::net::{IpAddr, SocketAddr};

use bencode::{Dict, Value};

use crate::compact::{Family, Peers};
use crate::{Error, InfoHash, PeerId, invalid};

/// Longest request line or response head a detector waits for.
pub const MAX_HEAD: usize = 8192;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Announce,
    Scrape,
}

/// A tracker request line, borrowing from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub kind: Kind,
    /// The path, without the query.
    pub path: &'a [u8],
    /// The raw query string (after `?`).
    pub query: &'a [u8],
    /// Length of the request line including its line ending.
    pub line_len: usize,
    /// For a request in absolute form (sent to an HTTP proxy, RFC 9112 section 3.2.2): the
    /// URI's authority (`host[:port]`) and the scheme's default port.
    pub absolute: Option<(&'a [u8], u16)>,
}

impl<'a> Request<'a> {
    /// Raw values of every parameter named `name`.
    pub fn params(&self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.query.split(|&c| c == b'&').filter_map(move |kv| {
            let eq = memchr::memchr(b'=', kv)?;
            (kv.get(..eq)? == name).then(|| kv.get(eq + 1..).unwrap_or(&[]))
        })
    }

    /// The first value of `name`.
    pub fn param(&self, name: &'a [u8]) -> Option<&'a [u8]> {
        self.params(name).next()
    }

    /// Every `info_hash` parameter that decodes to exactly 20 bytes.
    pub fn info_hashes(&self) -> impl Iterator<Item = InfoHash> + 'a {
        self.params(b"info_hash")
            .filter_map(|v| decode20(v).map(InfoHash))
    }

    pub fn peer_id(&self) -> Option<PeerId> {
        self.param(b"peer_id").and_then(decode20).map(PeerId)
    }

    /// The announced listen port.
    pub fn port(&self) -> Option<u16> {
        let v = self.param(b"port")?;
        std::str::from_utf8(v).ok()?.parse().ok()
    }
}

/// Parses the request line at the start of `buf`.
///
/// `Incomplete` while the line has not ended (up to [`MAX_HEAD`] bytes); `Invalid` for
/// anything that is not a GET of an announce or scrape.
pub fn parse_request(buf: &[u8]) -> Result<Request<'_>, Error> {
    const GET: &[u8] = b"GET ";
    let n = buf.len().min(GET.len());
    if buf[..n] != GET[..n] {
        return invalid("GET");
    }
    let Some(eol) = memchr::memchr(b'\n', buf) else {
        return if buf.len() < MAX_HEAD {
            Err(Error::Incomplete)
        } else {
            invalid("request line shorter than 8 KiB")
        };
    };
    let line = buf[..eol].strip_suffix(b"\r").unwrap_or(&buf[..eol]);
    let Some(rest) = line.strip_prefix(GET) else {
        return invalid("GET");
    };
    let Some(sp) = memchr::memrchr(b' ', rest) else {
        return invalid("HTTP version");
    };
    if !rest[sp + 1..].starts_with(b"HTTP/1.") {
        return invalid("HTTP/1.x");
    }
    let mut target = &rest[..sp];
    let mut absolute = None;
    // absolute-form (through a proxy): skip scheme and authority
    let scheme = match target.strip_prefix(b"http://") {
        Some(after) => Some((after, 80)),
        None => target.strip_prefix(b"https://").map(|after| (after, 443)),
    };
    if let Some((after, port)) = scheme {
        let end = memchr::memchr(b'/', after).unwrap_or(after.len());
        absolute = Some((&after[..end], port));
        target = &after[end..];
    }
    let (path, query) = match memchr::memchr(b'?', target) {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &[][..]),
    };
    let last = path.rsplit(|&c| c == b'/').next().unwrap_or(&[]);
    let mut req = Request {
        kind: Kind::Announce,
        path,
        query,
        line_len: eol + 1,
        absolute,
    };
    if req.info_hashes().next().is_none() {
        return invalid("a 20-byte info_hash parameter");
    }
    if last.starts_with(b"scrape") {
        req.kind = Kind::Scrape;
    } else if req.peer_id().is_none() || req.port().is_none() {
        return invalid("peer_id and port parameters of an announce");
    }
    Ok(req)
}

/// Percent-decodes a parameter value that must be exactly 20 bytes. `+` is a space, as in
/// HTML form encoding, which the PHP trackers of the world apply.
fn decode20(v: &[u8]) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let mut n = 0;
    let mut i = 0;
    while i < v.len() {
        let b = match v[i] {
            b'%' => {
                let hi = hex(*v.get(i + 1)?)?;
                let lo = hex(*v.get(i + 2)?)?;
                i += 3;
                hi << 4 | lo
            }
            b'+' => {
                i += 1;
                b' '
            }
            c => {
                i += 1;
                c
            }
        };
        *out.get_mut(n)? = b;
        n += 1;
    }
    (n == 20).then_some(out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// An HTTP response whose head and body are complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    pub status: u16,
    /// The body (de-chunked when it is a single chunk).
    pub body: &'a [u8],
    /// Bytes of the stream the response occupies.
    pub len: usize,
}

/// Parses an HTTP/1.x response at the start of `buf`.
///
/// The body is delimited by `Content-Length`, or by the first chunk of a chunked body; with
/// neither, by the end of the stream, so `at_end` says whether the stream has ended.
/// `Incomplete` while more bytes are needed; compressed bodies are `Invalid` (trackers rarely
/// compress, and swarmwall does not inflate untrusted data).
pub fn parse_response(buf: &[u8], at_end: bool) -> Result<Response<'_>, Error> {
    const HTTP: &[u8] = b"HTTP/1.";
    let n = buf.len().min(HTTP.len());
    if buf[..n] != HTTP[..n] {
        return invalid("HTTP/1.x status line");
    }
    let Some(head_end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
        return if buf.len() < MAX_HEAD {
            Err(Error::Incomplete)
        } else {
            invalid("response head shorter than 8 KiB")
        };
    };
    let head = &buf[..head_end];
    let mut lines = head.split(|&c| c == b'\n');
    let status_line = lines.next().unwrap_or(&[]);
    let status = status_line
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok());
    let Some(status) = status else {
        return invalid("three-digit status code");
    };
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"content-encoding")
            && !value.eq_ignore_ascii_case(b"identity")
        {
            return invalid("an uncompressed body");
        }
    }
    let body_at = head_end + 4;
    let rest = &buf[body_at..];
    if chunked {
        let (body, used) = dechunk(rest)?;
        return Ok(Response {
            status,
            body,
            len: body_at + used,
        });
    }
    match content_length {
        Some(n) => match rest.get(..n) {
            Some(body) => Ok(Response {
                status,
                body,
                len: body_at + n,
            }),
            None => Err(Error::Incomplete),
        },
        None if at_end => Ok(Response {
            status,
            body: rest,
            len: buf.len(),
        }),
        None => Err(Error::Incomplete),
    }
}

/// Reads a chunked body (RFC 9112 §7.1) through its last chunk and trailer. Returns the
/// first chunk's data (a tracker reply fits in one; a body split over several chunks would
/// need copying, and its peers are then not read) and the bytes the whole body occupies.
fn dechunk(rest: &[u8]) -> Result<(&[u8], usize), Error> {
    let mut at = 0usize;
    let mut first: Option<&[u8]> = None;
    loop {
        let Some(eol) = memchr::memmem::find(&rest[at..], b"\r\n") else {
            return if rest.len() - at < 64 {
                Err(Error::Incomplete)
            } else {
                invalid("chunk size line")
            };
        };
        let line = &rest[at..at + eol];
        let size_field = line.split(|&c| c == b';').next().unwrap_or(&[]);
        let size = std::str::from_utf8(size_field.trim_ascii())
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok());
        let Some(size) = size else {
            return invalid("chunk size");
        };
        at += eol + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let Some(eol) = memchr::memmem::find(&rest[at..], b"\r\n") else {
                    return Err(Error::Incomplete);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok((first.unwrap_or(&[]), at));
                }
            }
        }
        let Some(data) = rest.get(at..at.saturating_add(size)) else {
            return Err(Error::Incomplete);
        };
        first.get_or_insert(data);
        at += size;
        match rest.get(at..at + 2) {
            Some(b"\r\n") => at += 2,
            Some(_) => return invalid("CRLF after chunk data"),
            None => return Err(Error::Incomplete),
        }
    }
}

/// A bencoded tracker reply (announce or scrape).
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    pub dict: Dict<'a>,
}

/// Parses a reply body. It must be one bencoded dictionary with at least one of `interval`,
/// `peers`, `peers6`, `failure reason` or `files`.
pub fn parse_reply(body: &[u8]) -> Result<Reply<'_>, Error> {
    let dict = match bencode::decode(body) {
        Ok((Value::Dict(d), _)) => d,
        Err(bencode::Error::Incomplete) => return Err(Error::Incomplete),
        _ => return invalid("bencoded dictionary"),
    };
    let known = [
        &b"interval"[..],
        b"peers",
        b"peers6",
        b"failure reason",
        b"files",
    ];
    if !known.iter().any(|k| dict.get(k).is_some()) {
        return invalid("tracker reply keys");
    }
    Ok(Reply { dict })
}

impl<'a> Reply<'a> {
    pub fn interval(&self) -> Option<i64> {
        self.dict.get_int(b"interval")
    }

    pub fn failure_reason(&self) -> Option<&'a [u8]> {
        self.dict.get_bytes(b"failure reason")
    }

    /// Every peer: compact `peers` (BEP 23), dictionary-form `peers` (BEP 3), `peers6` (BEP 7).
    /// Dictionary entries whose `ip` is a host name rather than an address are skipped.
    pub fn peers(&self) -> impl Iterator<Item = SocketAddr> + 'a {
        let compact = Peers::new(self.dict.get_bytes(b"peers").unwrap_or(&[]), Family::V4);
        let v6 = Peers::new(self.dict.get_bytes(b"peers6").unwrap_or(&[]), Family::V6);
        let listed = self
            .dict
            .get_list(b"peers")
            .into_iter()
            .flat_map(|l| l.iter())
            .filter_map(|v| {
                let d = v.as_dict()?;
                let ip: IpAddr = std::str::from_utf8(d.get_bytes(b"ip")?)
                    .ok()?
                    .parse()
                    .ok()?;
                let port = u16::try_from(d.get_int(b"port")?).ok()?;
                Some(SocketAddr::new(ip, port))
            });
        compact.chain(v6).chain(listed)
    }

    /// Info-hashes named in a scrape reply's `files`.
    pub fn scraped(&self) -> impl Iterator<Item = InfoHash> + 'a {
        self.dict
            .get_dict(b"files")
            .into_iter()
            .flat_map(|d| d.iter())
            .filter_map(|(k, _)| InfoHash::from_slice(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bencode::encode::Item;

    const ANNOUNCE: &[u8] = b"GET /announce?info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A&peer_id=-TR3000-abcdefghijkl&port=51413&uploaded=0&downloaded=0&left=4194304&numwant=80&key=5b2a8e3c&compact=1&supportcrypto=1&event=started HTTP/1.1\r\nHost: 10.77.1.2:6969\r\nUser-Agent: Transmission/3.00\r\n\r\n";
    const HASH: [u8; 20] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
        0x12, 0x34, 0x56, 0x78, 0x9a,
    ];

    #[test]
    fn announce_request() {
        let r = parse_request(ANNOUNCE).unwrap();
        assert_eq!(r.kind, Kind::Announce);
        assert_eq!(r.path, b"/announce");
        assert_eq!(r.info_hashes().collect::<Vec<_>>(), vec![InfoHash(HASH)]);
        assert_eq!(r.peer_id(), Some(PeerId(*b"-TR3000-abcdefghijkl")));
        assert_eq!(r.port(), Some(51413));
        assert_eq!(&ANNOUNCE[r.line_len - 2..r.line_len], b"\r\n");
        // every cut before the end of the request line is incomplete
        for n in 0..r.line_len {
            assert_eq!(
                parse_request(&ANNOUNCE[..n]),
                Err(Error::Incomplete),
                "cut at {n}"
            );
        }
    }

    #[test]
    fn scrape_with_two_hashes_and_proxy_form() {
        let s = b"GET http://tracker.example:6969/scrape?info_hash=aaaaaaaaaaaaaaaaaaaa&info_hash=bbbbbbbbbbbbbbbbbbbb HTTP/1.0\r\n";
        let r = parse_request(s).unwrap();
        assert_eq!(r.kind, Kind::Scrape);
        assert_eq!(r.path, b"/scrape");
        assert_eq!(r.absolute, Some((&b"tracker.example:6969"[..], 80)));
        let https = b"GET https://[2001:db8::7]/announce?info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=-TR3000-abcdefghijkl&port=1 HTTP/1.1\r\n";
        let a = parse_request(https).unwrap();
        assert_eq!(a.absolute, Some((&b"[2001:db8::7]"[..], 443)));
        assert_eq!(a.path, b"/announce");
        assert_eq!(parse_request(ANNOUNCE).unwrap().absolute, None);
        assert_eq!(r.info_hashes().count(), 2);
    }

    #[test]
    fn not_a_tracker_request() {
        let cases: &[&[u8]] = &[
            b"GET /index.html HTTP/1.1\r\n",
            b"GET /announce?info_hash=short&peer_id=-TR3000-abcdefghijkl&port=1 HTTP/1.1\r\n",
            b"GET /announce?info_hash=aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n", // no peer_id/port
            b"POST /announce HTTP/1.1\r\n",
            b"GET /announce?info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=-TR3000-abcdefghijkl&port=1 SIP/2.0\r\n",
        ];
        for c in cases {
            assert!(
                matches!(parse_request(c), Err(Error::Invalid { .. })),
                "{}",
                String::from_utf8_lossy(c)
            );
        }
        let long = [b"GET /".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert!(matches!(parse_request(&long), Err(Error::Invalid { .. })));
    }

    fn reply_body() -> Vec<u8> {
        let peers6 = [[0u8; 15].as_slice(), &[1, 0x1a, 0xe1]].concat();
        Item::Dict(vec![
            (b"complete", Item::Int(1)),
            (b"interval", Item::Int(1800)),
            (
                b"peers",
                Item::Bytes(&[10, 77, 1, 11, 0xc8, 0xd5, 10, 77, 1, 21, 0x1a, 0xe1]),
            ),
            (b"peers6", Item::Bytes(Box::leak(peers6.into_boxed_slice()))),
        ])
        .to_vec()
    }

    #[test]
    fn reply_with_content_length() {
        let body = reply_body();
        let mut resp = format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        resp.extend(&body);
        let r = parse_response(&resp, false).unwrap();
        assert_eq!((r.status, r.body, r.len), (200, &body[..], resp.len()));
        let reply = parse_reply(r.body).unwrap();
        assert_eq!(reply.interval(), Some(1800));
        let peers: Vec<SocketAddr> = reply.peers().collect();
        assert_eq!(
            peers,
            vec![
                "10.77.1.11:51413".parse().unwrap(),
                "10.77.1.21:6881".parse().unwrap(),
                "[::1]:6881".parse().unwrap()
            ]
        );
        assert_eq!(
            parse_response(&resp[..resp.len() - 1], false),
            Err(Error::Incomplete)
        );
    }

    #[test]
    fn chunked_and_until_close_and_dict_peers() {
        let body = Item::Dict(vec![
            (b"interval", Item::Int(900)),
            (
                b"peers",
                Item::List(vec![
                    Item::Dict(vec![
                        (b"ip", Item::Bytes(b"10.77.0.3")),
                        (b"peer id", Item::Bytes(&[b'x'; 20])),
                        (b"port", Item::Int(6881)),
                    ]),
                    Item::Dict(vec![
                        (b"ip", Item::Bytes(b"peer.example")),
                        (b"port", Item::Int(1)),
                    ]),
                ]),
            ),
        ])
        .to_vec();
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            body.len()
        )
        .into_bytes();
        resp.extend(&body);
        resp.extend(b"\r\n0\r\n\r\n");
        let r = parse_response(&resp, false).unwrap();
        assert_eq!(
            r.len,
            resp.len(),
            "the whole chunked body, trailer included"
        );
        let peers: Vec<_> = parse_reply(r.body).unwrap().peers().collect();
        assert_eq!(peers, vec!["10.77.0.3:6881".parse().unwrap()]);
        assert_eq!(
            parse_response(&resp[..resp.len() - 2], false),
            Err(Error::Incomplete)
        );

        let mut close = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        close.extend(&body);
        assert_eq!(parse_response(&close, false), Err(Error::Incomplete));
        assert_eq!(parse_response(&close, true).unwrap().body, &body[..]);
    }

    #[test]
    fn failure_scrape_and_rejections() {
        let f = parse_reply(b"d14:failure reason17:torrent not founde").unwrap();
        assert_eq!(f.failure_reason(), Some(&b"torrent not found"[..]));
        let s = parse_reply(b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei1eeee").unwrap();
        assert_eq!(s.scraped().collect::<Vec<_>>(), vec![InfoHash([b'a'; 20])]);
        assert!(parse_reply(b"d3:fooi1ee").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n", true).is_err()
        );
        assert!(parse_response(b"SSH-2.0-OpenSSH", true).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300), end: bool) {
            if let Ok(r) = parse_request(&b) { let _ = (r.info_hashes().count(), r.port(), r.peer_id()); }
            if let Ok(r) = parse_response(&b, end)
                && let Ok(rep) = parse_reply(r.body) { let _ = (rep.peers().count(), rep.scraped().count()); }
        }

        #[test]
        fn request_line_text_never_panics(s in "GET /[a-z%0-9&=_?]{0,120} HTTP/1\\.[01]\r\n") {
            let _ = parse_request(s.as_bytes()).map(|r| r.info_hashes().count());
        }
    }
}
