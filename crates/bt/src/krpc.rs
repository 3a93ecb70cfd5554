//! DHT messages: KRPC over UDP (BEP 5), with the queries of BEP 33 (scrape), BEP 44
//! (get/put) and BEP 51 (sample_infohashes).
//!
//! A KRPC message is one bencoded dictionary filling the whole datagram:
//! `t` (transaction id), `y` (`q` query, `r` response, `e` error), and for a query `q` (method)
//! and `a` (arguments, with the sender's 20-byte `id`), for a response `r` (with `id`), for an
//! error `e` = `[code, message]`. Optional `v` is the sender's client version.
//!
//! [`parse`] requires all of that. A cheap [`probe`] rejects most non-KRPC datagrams before
//! the bencode decoder runs.

use std::net::SocketAddr;

use bencode::{Dict, List, Value};

use crate::compact::{self, Family, Nodes};
use crate::{Error, InfoHash, NodeId, invalid};

/// A KRPC message, borrowing from the datagram.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Transaction id chosen by the querier, echoed in the response.
    pub transaction: &'a [u8],
    /// Client version (`v`), e.g. `LT\x02\x08`.
    pub version: Option<&'a [u8]>,
    pub body: Body<'a>,
}

/// What kind of message it is.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Query(Query<'a>),
    Response(Response<'a>),
    Error { code: i64, message: &'a [u8] },
}

/// A query with its sender id and method.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub id: NodeId,
    pub method: Method<'a>,
    /// All arguments, for what [`Method`] does not decode.
    pub args: Dict<'a>,
}

/// Query methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method<'a> {
    Ping,
    FindNode {
        target: NodeId,
    },
    /// `get_peers`; `scrape` is BEP 33's flag.
    GetPeers {
        info_hash: InfoHash,
        scrape: bool,
    },
    /// `announce_peer`: `port`, or the UDP source port when `implied_port` is 1.
    AnnouncePeer {
        info_hash: InfoHash,
        port: Option<u16>,
        implied_port: bool,
    },
    /// BEP 44 `get` of an immutable or mutable item.
    Get {
        target: NodeId,
    },
    /// BEP 44 `put`.
    Put,
    /// BEP 51 `sample_infohashes`.
    SampleInfohashes {
        target: NodeId,
    },
    /// Any other method name (vendor extensions).
    Other(&'a [u8]),
}

/// A response: the responder's id and the reply dictionary.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    pub id: NodeId,
    pub r: Dict<'a>,
}

impl<'a> Response<'a> {
    /// Peers from `values` (a list of 6- or 18-byte compact peers).
    pub fn values(&self) -> impl Iterator<Item = SocketAddr> + 'a {
        self.r
            .get_list(b"values")
            .into_iter()
            .flat_map(|l: List<'a>| l.iter())
            .filter_map(|v| v.as_bytes().and_then(compact::peer))
    }

    /// IPv4 nodes from `nodes`.
    pub fn nodes(&self) -> Nodes<'a> {
        Nodes::new(self.r.get_bytes(b"nodes").unwrap_or(&[]), Family::V4)
    }

    /// IPv6 nodes from `nodes6` (BEP 32).
    pub fn nodes6(&self) -> Nodes<'a> {
        Nodes::new(self.r.get_bytes(b"nodes6").unwrap_or(&[]), Family::V6)
    }

    /// Info-hashes from BEP 51 `samples`.
    pub fn samples(&self) -> impl Iterator<Item = InfoHash> + 'a {
        self.r
            .get_bytes(b"samples")
            .unwrap_or(&[])
            .chunks_exact(20)
            .filter_map(InfoHash::from_slice)
    }

    pub fn token(&self) -> Option<&'a [u8]> {
        self.r.get_bytes(b"token")
    }
}

/// Cheap test run before decoding: a bencoded dictionary that has a `y` key with a one-byte
/// value. False positives are fine (the decoder follows); false negatives are not.
pub fn probe(payload: &[u8]) -> bool {
    payload.len() >= 12
        && payload.first() == Some(&b'd')
        && payload.last() == Some(&b'e')
        && memchr::memmem::find(payload, b"1:y1:").is_some()
}

/// Parses a whole datagram as a KRPC message.
pub fn parse(payload: &[u8]) -> Result<Message<'_>, Error> {
    let dict = match bencode::decode_exact(payload) {
        Ok(Value::Dict(d)) => d,
        Ok(_) => return invalid("bencoded dictionary"),
        Err(bencode::Error::Incomplete) => return Err(Error::Incomplete),
        Err(_) => return invalid("bencoded dictionary"),
    };
    let Some(transaction) = dict.get_bytes(b"t") else {
        return invalid("transaction id 't'");
    };
    let version = dict.get_bytes(b"v");
    let body = match dict.get_bytes(b"y") {
        Some(b"q") => {
            let Some(method) = dict.get_bytes(b"q") else {
                return invalid("method name 'q'");
            };
            let Some(args) = dict.get_dict(b"a") else {
                return invalid("arguments 'a'");
            };
            let Some(id) = args.get_bytes(b"id").and_then(NodeId::from_slice) else {
                return invalid("20-byte node id in 'a'");
            };
            Body::Query(Query {
                id,
                method: method_of(method, &args)?,
                args,
            })
        }
        Some(b"r") => {
            let Some(r) = dict.get_dict(b"r") else {
                return invalid("reply dictionary 'r'");
            };
            let Some(id) = r.get_bytes(b"id").and_then(NodeId::from_slice) else {
                return invalid("20-byte node id in 'r'");
            };
            Body::Response(Response { id, r })
        }
        Some(b"e") => {
            let Some(e) = dict.get_list(b"e") else {
                return invalid("error list 'e'");
            };
            let mut it = e.iter();
            let (Some(Value::Int(code)), Some(Value::Bytes(message))) = (it.next(), it.next())
            else {
                return invalid("[code, message] in 'e'");
            };
            Body::Error { code, message }
        }
        _ => return invalid("'y' of q, r or e"),
    };
    Ok(Message {
        transaction,
        version,
        body,
    })
}

fn method_of<'a>(name: &'a [u8], args: &Dict<'a>) -> Result<Method<'a>, Error> {
    let id20 = |key: &[u8], what: &'static str| {
        args.get_bytes(key)
            .and_then(NodeId::from_slice)
            .ok_or(Error::Invalid { expected: what })
    };
    let hash = |what: &'static str| {
        args.get_bytes(b"info_hash")
            .and_then(InfoHash::from_slice)
            .ok_or(Error::Invalid { expected: what })
    };
    Ok(match name {
        b"ping" => Method::Ping,
        b"find_node" => Method::FindNode {
            target: id20(b"target", "20-byte target")?,
        },
        b"get_peers" => Method::GetPeers {
            info_hash: hash("20-byte info_hash")?,
            scrape: args.get_int(b"scrape") == Some(1),
        },
        b"announce_peer" => Method::AnnouncePeer {
            info_hash: hash("20-byte info_hash")?,
            port: args.get_int(b"port").and_then(|p| u16::try_from(p).ok()),
            implied_port: args.get_int(b"implied_port") == Some(1),
        },
        b"get" => Method::Get {
            target: id20(b"target", "20-byte target")?,
        },
        b"put" => Method::Put,
        b"sample_infohashes" => Method::SampleInfohashes {
            target: id20(b"target", "20-byte target")?,
        },
        other => Method::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bencode::encode::Item;

    const ID: &[u8; 20] = b"abcdefghij0123456789";
    const HASH: &[u8; 20] = b"mnopqrstuvwxyz123456";

    fn query(method: &str, args: Vec<(&'static [u8], Item<'static>)>) -> Vec<u8> {
        let mut a = vec![(&b"id"[..], Item::Bytes(ID))];
        a.extend(args);
        Item::Dict(vec![
            (b"a", Item::Dict(a)),
            (b"q", Item::Bytes(method.as_bytes())),
            (b"t", Item::Bytes(b"aa")),
            (b"y", Item::Bytes(b"q")),
        ])
        .to_vec()
    }

    #[test]
    fn bep5_example_queries() {
        // The ping example of BEP 5, byte for byte.
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        assert!(probe(ping));
        let m = parse(ping).unwrap();
        assert_eq!(m.transaction, b"aa");
        let Body::Query(q) = m.body else { panic!() };
        assert_eq!((q.id, q.method), (NodeId(*ID), Method::Ping));

        let gp = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe";
        let Body::Query(q) = parse(gp).unwrap().body else {
            panic!()
        };
        assert_eq!(
            q.method,
            Method::GetPeers {
                info_hash: InfoHash(*HASH),
                scrape: false
            }
        );

        let ap = b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
        let Body::Query(q) = parse(ap).unwrap().body else {
            panic!()
        };
        assert_eq!(
            q.method,
            Method::AnnouncePeer {
                info_hash: InfoHash(*HASH),
                port: Some(6881),
                implied_port: true
            }
        );
    }

    #[test]
    fn other_beps() {
        let s = query(
            "get_peers",
            vec![(b"info_hash", Item::Bytes(HASH)), (b"scrape", Item::Int(1))],
        );
        let Body::Query(q) = parse(&s).unwrap().body else {
            panic!()
        };
        assert_eq!(
            q.method,
            Method::GetPeers {
                info_hash: InfoHash(*HASH),
                scrape: true
            }
        );
        let s = query("sample_infohashes", vec![(b"target", Item::Bytes(HASH))]);
        let Body::Query(q) = parse(&s).unwrap().body else {
            panic!()
        };
        assert_eq!(
            q.method,
            Method::SampleInfohashes {
                target: NodeId(*HASH)
            }
        );
        let s = query("get", vec![(b"target", Item::Bytes(HASH))]);
        assert!(matches!(
            parse(&s).unwrap().body,
            Body::Query(Query {
                method: Method::Get { .. },
                ..
            })
        ));
        let s = query("vendor_thing", vec![]);
        assert!(matches!(
            parse(&s).unwrap().body,
            Body::Query(Query {
                method: Method::Other(b"vendor_thing"),
                ..
            })
        ));
    }

    #[test]
    fn responses_with_values_nodes_samples() {
        let mut nodes = vec![b'n'; 20];
        nodes.extend([10, 77, 0, 5, 0x1a, 0xe1]);
        let samples = [[1u8; 20], [2u8; 20]].concat();
        let r = Item::Dict(vec![
            (
                b"r",
                Item::Dict(vec![
                    (b"id", Item::Bytes(ID)),
                    (b"nodes", Item::Bytes(&nodes)),
                    (b"samples", Item::Bytes(&samples)),
                    (b"token", Item::Bytes(b"tok")),
                    (
                        b"values",
                        Item::List(vec![
                            Item::Bytes(&[10, 77, 0, 1, 0xc8, 0xd5]),
                            Item::Bytes(b"short"),
                        ]),
                    ),
                ]),
            ),
            (b"t", Item::Bytes(b"aa")),
            (b"v", Item::Bytes(b"LT\x02\x08")),
            (b"y", Item::Bytes(b"r")),
        ])
        .to_vec();
        let m = parse(&r).unwrap();
        assert_eq!(m.version, Some(&b"LT\x02\x08"[..]));
        let Body::Response(resp) = m.body else {
            panic!()
        };
        assert_eq!(
            resp.values().collect::<Vec<_>>(),
            vec!["10.77.0.1:51413".parse().unwrap()]
        );
        assert_eq!(
            resp.nodes().collect::<Vec<_>>(),
            vec![(NodeId([b'n'; 20]), "10.77.0.5:6881".parse().unwrap())]
        );
        assert_eq!(resp.samples().count(), 2);
        assert_eq!(resp.token(), Some(&b"tok"[..]));
    }

    #[test]
    fn errors_and_rejections() {
        let e = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        let Body::Error { code, message } = parse(e).unwrap().body else {
            panic!()
        };
        assert_eq!((code, message), (201, &b"A Generic Error Ocurred"[..]));

        let cases: &[&[u8]] = &[
            b"d1:t2:aa1:y1:xe",                                            // unknown y
            b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe",                     // short id
            b"d1:q4:ping1:t2:aa1:y1:qe",                                   // no args
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe",          // no transaction
            b"li1ee",                                                      // not a dict
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qexx", // trailing bytes
        ];
        for c in cases {
            assert!(
                matches!(parse(c), Err(Error::Invalid { .. })),
                "{}",
                String::from_utf8_lossy(c)
            );
        }
        assert_eq!(parse(b"d1:ad2:id20:abc").unwrap_err(), Error::Incomplete);
        assert!(!probe(b"GET / HTTP/1.1\r\n"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Ok(m) = parse(&b)
                && let Body::Response(r) = m.body {
                    let _ = (r.values().count(), r.nodes().count(), r.nodes6().count(), r.samples().count());
                }
        }
    }
}
