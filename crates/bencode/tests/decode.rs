//! Table-driven tests of the decoder: exact values, exact errors and offsets.

mod common;

use swarmwall_bencode::encode::Item;
use swarmwall_bencode::{
    DEFAULT_MAX_DEPTH, Error, MAX_DEPTH_LIMIT, Value, decode, decode_exact, decode_with_depth,
};

fn show(input: &[u8]) -> String {
    let shown: String = input.escape_ascii().to_string();
    if shown.len() > 80 {
        format!("{}... ({} bytes)", &shown[..80], input.len())
    } else {
        shown
    }
}

const fn mal(offset: usize, expected: &'static str) -> Error {
    Error::Malformed { offset, expected }
}

#[test]
fn scalars() {
    type Decoded<'a> = Result<(Value<'a>, usize), Error>;
    let cases: &[(&[u8], Decoded<'_>)] = &[
        (b"i0e", Ok((Value::Int(0), 3))),
        (b"i7e", Ok((Value::Int(7), 3))),
        (b"i42e", Ok((Value::Int(42), 4))),
        (b"i-1e", Ok((Value::Int(-1), 4))),
        (b"i-42e", Ok((Value::Int(-42), 5))),
        (b"i1000000e", Ok((Value::Int(1_000_000), 9))),
        (b"i9223372036854775807e", Ok((Value::Int(i64::MAX), 21))),
        (b"i-9223372036854775808e", Ok((Value::Int(i64::MIN), 22))),
        (b"i1ei2e", Ok((Value::Int(1), 3))),
        (b"0:", Ok((Value::Bytes(b""), 2))),
        (b"4:spam", Ok((Value::Bytes(b"spam"), 6))),
        (b"3:\x00\xffe", Ok((Value::Bytes(b"\x00\xffe"), 5))),
        (b"3:i1e", Ok((Value::Bytes(b"i1e"), 5))),
        (b"1:ee", Ok((Value::Bytes(b"e"), 3))),
        (b"10:0123456789", Ok((Value::Bytes(b"0123456789"), 13))),
        (b"2:ab junk", Ok((Value::Bytes(b"ab"), 4))),
    ];
    for (input, want) in cases {
        assert_eq!(decode(input), *want, "{}", show(input));
    }
}

#[test]
fn integer_errors() {
    let cases: &[(&[u8], Error)] = &[
        // Prefixes of valid integers.
        (b"i", Error::Incomplete),
        (b"i-", Error::Incomplete),
        (b"i0", Error::Incomplete),
        (b"i12", Error::Incomplete),
        (b"i-5", Error::Incomplete),
        (b"i922337203685477580", Error::Incomplete),
        // Empty.
        (b"ie", mal(1, "digit or '-'")),
        (b"i-e", mal(2, "digit")),
        // Negative zero, with or without more bytes.
        (b"i-0e", mal(2, "nonzero digit after '-'")),
        (b"i-0", mal(2, "nonzero digit after '-'")),
        (b"i-01e", mal(2, "nonzero digit after '-'")),
        // Leading zeros.
        (b"i03e", mal(2, "'e' ending integer")),
        (b"i00e", mal(2, "'e' ending integer")),
        (b"i-", Error::Incomplete),
        // Missing 'e' / junk inside.
        (b"i1x", mal(2, "'e' ending integer")),
        (b"i12:", mal(3, "'e' ending integer")),
        (b"i1.5e", mal(2, "'e' ending integer")),
        (b"i1 e", mal(2, "'e' ending integer")),
        (b"i0x", mal(2, "'e' ending integer")),
        (b"i+1e", mal(1, "digit or '-'")),
        (b"i 1e", mal(1, "digit or '-'")),
        (b"i--1e", mal(2, "digit")),
        (b"i-xe", mal(2, "digit")),
        // Overflow: reported at the digit that leaves the i64 range, without
        // waiting for the 'e'.
        (
            b"i9223372036854775808e",
            mal(19, "integer that fits in i64"),
        ),
        (b"i9223372036854775808", mal(19, "integer that fits in i64")),
        (
            b"i-9223372036854775809e",
            mal(20, "integer that fits in i64"),
        ),
        (
            b"i92233720368547758070e",
            mal(20, "integer that fits in i64"),
        ),
        (
            b"i99999999999999999999e",
            mal(19, "integer that fits in i64"),
        ),
        (
            b"i-99999999999999999999e",
            mal(20, "integer that fits in i64"),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(decode(input), Err(*want), "{}", show(input));
    }
}

#[test]
fn string_errors() {
    let cases: &[(&[u8], Error)] = &[
        (b"0", Error::Incomplete),
        (b"4", Error::Incomplete),
        (b"12", Error::Incomplete),
        (b"4:", Error::Incomplete),
        (b"4:spa", Error::Incomplete),
        (b"10:abc", Error::Incomplete),
        // A length beyond the input could still arrive.
        (b"9999999999999999999:", Error::Incomplete),
        (b"9999999999999999999", Error::Incomplete),
        // More than 19 digits can never be valid.
        (
            b"12345678901234567890:",
            mal(19, "':' after string length (at most 19 digits)"),
        ),
        (b"00000000000000000001:", mal(1, "':' after string length")),
        // Leading zeros and junk in the length.
        (b"03:abc", mal(1, "':' after string length")),
        (b"00:", mal(1, "':' after string length")),
        (b"0x", mal(1, "':' after string length")),
        (b"4x", mal(1, "':' after string length")),
        (b"4-:spam", mal(1, "':' after string length")),
        (b"1e", mal(1, "':' after string length")),
        (b"-1:a", mal(0, "value")),
        (b":a", mal(0, "value")),
    ];
    for (input, want) in cases {
        assert_eq!(decode(input), Err(*want), "{}", show(input));
    }
}

#[test]
fn start_errors() {
    let cases: &[(&[u8], Error)] = &[
        (b"", Error::Incomplete),
        (b"x", mal(0, "value")),
        (b"e", mal(0, "value")),
        (b" i1e", mal(0, "value")),
        (b"\x00", mal(0, "value")),
        (b"I1E", mal(0, "value")),
    ];
    for (input, want) in cases {
        assert_eq!(decode(input), Err(*want), "{}", show(input));
        assert_eq!(decode_exact(input), Err(*want), "{}", show(input));
    }
}

#[test]
fn containers() {
    let cases: &[(&[u8], usize, Item<'_>)] = &[
        (b"le", 2, Item::list([])),
        (b"de", 2, Item::dict([])),
        (b"lee", 2, Item::list([])),
        (b"li1ei2ee", 8, Item::list([Item::int(1), Item::int(2)])),
        (
            b"l4:spami-3ee",
            12,
            Item::list([Item::str("spam"), Item::int(-3)]),
        ),
        (b"llelee", 6, Item::list([Item::list([]), Item::list([])])),
        (b"ldee", 4, Item::list([Item::dict([])])),
        (
            b"d3:cow3:moo4:spam4:eggse",
            24,
            Item::dict([("cow", Item::str("moo")), ("spam", Item::str("eggs"))]),
        ),
        (
            b"d4:spaml1:a1:bee",
            16,
            Item::dict([("spam", Item::list([Item::str("a"), Item::str("b")]))]),
        ),
        (
            b"d0:i0e1:dd1:xle1:yi-1eee",
            24,
            Item::dict([
                ("", Item::int(0)),
                (
                    "d",
                    Item::dict([("x", Item::list([])), ("y", Item::int(-1))]),
                ),
            ]),
        ),
        // Keys containing bencode syntax bytes.
        (
            b"d2:lei1e2:dei2e1:ei3ee",
            22,
            Item::dict([
                ("le", Item::int(1)),
                ("de", Item::int(2)),
                ("e", Item::int(3)),
            ]),
        ),
        // Unsorted and duplicate keys are accepted and kept in order.
        (
            b"d1:bi1e1:ai2e1:bi3eeXYZ",
            20,
            Item::dict([
                ("b", Item::int(1)),
                ("a", Item::int(2)),
                ("b", Item::int(3)),
            ]),
        ),
        (
            b"lld1:ali1el1:xeeeeei9e",
            19,
            Item::list([Item::list([Item::dict([(
                "a",
                Item::list([Item::int(1), Item::list([Item::str("x")])]),
            )])])]),
        ),
    ];
    for (input, used, want) in cases {
        let (value, n) = decode(input).unwrap_or_else(|e| panic!("{}: {e}", show(input)));
        assert_eq!(n, *used, "{}", show(input));
        assert!(common::same(want, value), "{}: {value:?}", show(input));
        assert_eq!(want.to_vec(), &input[..*used]);
        common::walk(value, DEFAULT_MAX_DEPTH);
    }
}

#[test]
fn container_errors() {
    let cases: &[(&[u8], Error)] = &[
        (b"l", Error::Incomplete),
        (b"li1e", Error::Incomplete),
        (b"l4:spa", Error::Incomplete),
        (b"lle", Error::Incomplete),
        (b"d", Error::Incomplete),
        (b"d1:", Error::Incomplete),
        (b"d1:a", Error::Incomplete),
        (b"d1:ai1e", Error::Incomplete),
        (b"d1:ad", Error::Incomplete),
        (b"d1:ade", Error::Incomplete),
        (b"lx", mal(1, "value or 'e' ending list")),
        (b"li1e:e", mal(4, "value or 'e' ending list")),
        (b"l-1e", mal(1, "value or 'e' ending list")),
        (b"li1el03:abcee", mal(6, "':' after string length")),
        // Non-string keys.
        (b"di1ei2ee", mal(1, "string key in dictionary")),
        (b"dlei1ee", mal(1, "string key in dictionary")),
        (b"ddee", mal(1, "string key in dictionary")),
        (b"d1:ai1ei2ei3ee", mal(7, "string key in dictionary")),
        (b"d1:a1:bxe", mal(7, "string key in dictionary")),
        (b"d-1:a", mal(1, "string key in dictionary")),
        // Key without value.
        (b"d1:ae", mal(4, "dictionary value")),
        (b"d1:ax", mal(4, "dictionary value")),
        (b"d1:ai1e1:be", mal(10, "dictionary value")),
        (b"d1:a:", mal(4, "dictionary value")),
        // Errors deep inside report their own offset.
        (b"ld1:ali-0eeee", mal(8, "nonzero digit after '-'")),
        (b"ld1:ald1:xeeee", mal(10, "dictionary value")),
        (b"llllli01eeeeee", mal(7, "'e' ending integer")),
        // After the first complete value nothing more is read.
        (b"leX", Error::Trailing { offset: 2 }),
    ];
    for (input, want) in cases {
        let got = match want {
            Error::Trailing { .. } => decode_exact(input).map(|_| ()),
            _ => decode(input).map(|_| ()),
        };
        assert_eq!(got, Err(*want), "{}", show(input));
    }
}

#[test]
fn exact() {
    let cases: &[(&[u8], Result<Value<'_>, Error>)] = &[
        (b"i1e", Ok(Value::Int(1))),
        (b"4:spam", Ok(Value::Bytes(b"spam"))),
        (b"i1ee", Err(Error::Trailing { offset: 3 })),
        (b"i1e ", Err(Error::Trailing { offset: 3 })),
        (b"4:spams", Err(Error::Trailing { offset: 6 })),
        (b"lei1e", Err(Error::Trailing { offset: 2 })),
        (b"de\n", Err(Error::Trailing { offset: 2 })),
        (b"i1", Err(Error::Incomplete)),
        (b"ie", Err(mal(1, "digit or '-'"))),
    ];
    for (input, want) in cases {
        assert_eq!(decode_exact(input), *want, "{}", show(input));
    }
    let v = decode_exact(b"li1ee").unwrap();
    assert_eq!(v.as_list().map(|l| l.raw()), Some(&b"li1ee"[..]));
}

fn nested(open: &[u8], levels: usize, close: bool) -> Vec<u8> {
    let mut v = open.repeat(levels);
    if close {
        v.extend(std::iter::repeat_n(b'e', levels));
    }
    v
}

#[test]
fn depth_limits() {
    let l = |n| nested(b"l", n, true);
    let cases: Vec<(Vec<u8>, usize, Result<usize, Error>)> = vec![
        (b"i1e".to_vec(), 0, Ok(3)),
        (b"4:spam".to_vec(), 0, Ok(6)),
        (b"le".to_vec(), 0, Err(Error::TooDeep { offset: 0 })),
        (b"de".to_vec(), 0, Err(Error::TooDeep { offset: 0 })),
        (b"le".to_vec(), 1, Ok(2)),
        (b"llee".to_vec(), 1, Err(Error::TooDeep { offset: 1 })),
        (b"lelee".to_vec(), 1, Ok(2)),
        (b"llee".to_vec(), 2, Ok(4)),
        (b"ld1:aleee".to_vec(), 2, Err(Error::TooDeep { offset: 5 })),
        (b"ld1:aleee".to_vec(), 3, Ok(9)),
        (b"ld1:alee".to_vec(), 3, Err(Error::Incomplete)),
        (b"ld1:ai1eelee".to_vec(), 2, Ok(12)),
        (
            b"ld1:ai1eelee".to_vec(),
            1,
            Err(Error::TooDeep { offset: 1 }),
        ),
        (
            b"ld1:ai1eeldeee".to_vec(),
            2,
            Err(Error::TooDeep { offset: 10 }),
        ),
        (b"ld1:ai1eeldeee".to_vec(), 3, Ok(14)),
        // Depth is checked as soon as the container opens.
        (b"lll".to_vec(), 2, Err(Error::TooDeep { offset: 2 })),
        (b"lll".to_vec(), 3, Err(Error::Incomplete)),
        (l(24), DEFAULT_MAX_DEPTH, Ok(48)),
        (l(25), DEFAULT_MAX_DEPTH, Err(Error::TooDeep { offset: 24 })),
        (l(256), usize::MAX, Ok(512)),
        (l(257), usize::MAX, Err(Error::TooDeep { offset: 256 })),
        (
            l(300),
            1000,
            Err(Error::TooDeep {
                offset: MAX_DEPTH_LIMIT,
            }),
        ),
    ];
    for (input, depth, want) in cases {
        let got = decode_with_depth(&input, depth).map(|(_, n)| n);
        assert_eq!(got, want, "{} depth {depth}", show(&input));
    }
    assert_eq!(decode(&l(24)).map(|(_, n)| n), Ok(48));
    assert_eq!(decode(&l(25)), Err(Error::TooDeep { offset: 24 }));
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    // A tiny stack proves that validation does not recurse.
    let worker = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let lists = nested(b"l", 10_000, false);
            assert_eq!(decode(&lists), Err(Error::TooDeep { offset: 24 }));
            assert_eq!(
                decode_with_depth(&lists, usize::MAX),
                Err(Error::TooDeep { offset: 256 })
            );
            let closed = nested(b"l", 10_000, true);
            assert_eq!(decode(&closed), Err(Error::TooDeep { offset: 24 }));
            assert_eq!(decode_exact(&closed), Err(Error::TooDeep { offset: 24 }));
            let dicts = nested(b"d1:a", 10_000, false);
            assert_eq!(decode(&dicts), Err(Error::TooDeep { offset: 4 * 24 }));
            let mixed = nested(b"ld0:", 10_000, false);
            // Levels alternate list, dict: level 25 is the 'l' of chunk 12.
            assert_eq!(decode(&mixed), Err(Error::TooDeep { offset: 48 }));

            // The deepest accepted value can be walked on the same stack.
            let deepest = nested(b"l", MAX_DEPTH_LIMIT, true);
            let (mut v, n) = decode_with_depth(&deepest, MAX_DEPTH_LIMIT).unwrap();
            assert_eq!(n, deepest.len());
            let mut levels = 1;
            while let Some(inner) = v.as_list().and_then(|l| l.iter().next()) {
                v = inner;
                levels += 1;
            }
            assert_eq!(levels, MAX_DEPTH_LIMIT);
        })
        .unwrap();
    worker.join().unwrap();
}

const NODE_ID: &[u8; 20] = b"abcdefghij0123456789";
const INFO_HASH: &[u8; 20] = b"mnopqrstuvwxyz123456";

#[test]
fn krpc_get_peers_query() {
    let mut msg = b"d1:ad2:id20:".to_vec();
    msg.extend_from_slice(NODE_ID);
    msg.extend_from_slice(b"9:info_hash20:");
    msg.extend_from_slice(INFO_HASH);
    msg.extend_from_slice(b"e1:q9:get_peers1:t2:aa1:y1:qe");

    let value = decode_exact(&msg).unwrap();
    let dict = value.as_dict().unwrap();
    assert_eq!(dict.raw(), &msg[..]);
    assert_eq!(dict.get_bytes(b"y"), Some(&b"q"[..]));
    assert_eq!(dict.get_bytes(b"q"), Some(&b"get_peers"[..]));
    assert_eq!(dict.get_bytes(b"t"), Some(&b"aa"[..]));
    let args = dict.get_dict(b"a").unwrap();
    assert_eq!(args.get_bytes(b"id"), Some(&NODE_ID[..]));
    assert_eq!(args.get_bytes(b"info_hash"), Some(&INFO_HASH[..]));
    assert_eq!(args.get(b"target"), None);
    assert_eq!(dict.get_dict(b"q"), None);
    assert_eq!(dict.get_bytes(b"a"), None);
    let keys: Vec<&[u8]> = dict.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [&b"a"[..], b"q", b"t", b"y"]);
    assert_eq!(common::walk(value, DEFAULT_MAX_DEPTH), 7);

    // Same query via the encoder.
    let item = Item::dict([
        (
            "a",
            Item::dict([
                ("id", Item::bytes(NODE_ID)),
                ("info_hash", Item::bytes(INFO_HASH)),
            ]),
        ),
        ("q", Item::str("get_peers")),
        ("t", Item::str("aa")),
        ("y", Item::str("q")),
    ]);
    assert_eq!(item.to_vec(), msg);

    // Split across segments: every cut is Incomplete.
    for cut in 0..msg.len() {
        assert_eq!(decode(&msg[..cut]), Err(Error::Incomplete), "cut {cut}");
    }
}

/// A get_peers reply carrying both `nodes` (8 compact node infos) and
/// `values` (`peers` compact peer infos), as real nodes send.
pub fn get_peers_reply(peers: usize) -> Vec<u8> {
    let mut nodes = Vec::with_capacity(208);
    for i in 0..8u8 {
        nodes.extend_from_slice(&[b'd', b'e', b'l', b':', b'i', i]);
        nodes.extend_from_slice(&[0xff - i; 14]);
        nodes.extend_from_slice(&[10, 0, 0, i, 0x1a, 0xe1]);
    }
    let values: Vec<Item<'static>> = (0..peers)
        .map(|i| {
            let peer: &'static [u8] = Box::leak(Box::new([192, 168, 1, i as u8, 0x1a, b'e']));
            Item::bytes(peer)
        })
        .collect();
    let nodes: &'static [u8] = Box::leak(nodes.into_boxed_slice());
    Item::dict([
        ("ip", Item::bytes(b"\x01\x02\x03\x04\x1a\xe1")),
        (
            "r",
            Item::dict([
                ("id", Item::bytes(NODE_ID)),
                ("nodes", Item::bytes(nodes)),
                ("token", Item::str("aoeusnth")),
                ("values", Item::List(values)),
            ]),
        ),
        ("t", Item::str("aa")),
        ("v", Item::str("LT\x01\x02")),
        ("y", Item::str("r")),
    ])
    .to_vec()
}

#[test]
fn krpc_get_peers_reply() {
    let msg = get_peers_reply(50);
    assert!((650..750).contains(&msg.len()), "{}", msg.len());
    let value = decode_exact(&msg).unwrap();
    let dict = value.as_dict().unwrap();
    assert_eq!(dict.get_bytes(b"y"), Some(&b"r"[..]));
    assert_eq!(dict.get_bytes(b"ip").map(<[u8]>::len), Some(6));
    let r = dict.get_dict(b"r").unwrap();
    assert_eq!(r.get_bytes(b"id"), Some(&NODE_ID[..]));
    assert_eq!(r.get_bytes(b"token"), Some(&b"aoeusnth"[..]));
    let nodes = r.get_bytes(b"nodes").unwrap();
    assert_eq!(nodes.len(), 208);
    assert_eq!(nodes.chunks_exact(26).count(), 8);
    let values = r.get_list(b"values").unwrap();
    assert!(!values.is_empty());
    let peers: Vec<&[u8]> = values.iter().map(|v| v.as_bytes().unwrap()).collect();
    assert_eq!(peers.len(), 50);
    assert!(peers.iter().all(|p| p.len() == 6 && p[0] == 192));
    assert_eq!(peers[7], &[192, 168, 1, 7, 0x1a, b'e']);
    assert_eq!(common::walk(value, DEFAULT_MAX_DEPTH), 1 + 5 + 4 + 50);
    for cut in 0..msg.len() {
        assert_eq!(decode(&msg[..cut]), Err(Error::Incomplete), "cut {cut}");
    }
}

#[test]
fn krpc_error_reply() {
    let msg = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
    let dict = decode_exact(msg).unwrap().as_dict().unwrap();
    let err: Vec<Value<'_>> = dict.get_list(b"e").unwrap().iter().collect();
    assert_eq!(
        err,
        [Value::Int(201), Value::Bytes(b"A Generic Error Ocurred")]
    );
    assert_eq!(dict.get_bytes(b"y"), Some(&b"e"[..]));
}

#[test]
fn tracker_reply_with_compact_peers() {
    let msg: &[u8] = b"d8:completei5e10:incompletei3e8:intervali1800e\
12:min intervali900e5:peers12:\x0a\x00\x00\x01\x1a\xe1\xc0\xa8\x00\x02\xc8\xd5e";
    let value = decode_exact(msg).unwrap();
    let dict = value.as_dict().unwrap();
    assert_eq!(dict.get_int(b"complete"), Some(5));
    assert_eq!(dict.get_int(b"incomplete"), Some(3));
    assert_eq!(dict.get_int(b"interval"), Some(1800));
    assert_eq!(dict.get_int(b"min interval"), Some(900));
    assert_eq!(dict.get_bytes(b"failure reason"), None);
    let peers = dict.get_bytes(b"peers").unwrap();
    let addrs: Vec<([u8; 4], u16)> = peers
        .chunks_exact(6)
        .map(|c| ([c[0], c[1], c[2], c[3]], u16::from_be_bytes([c[4], c[5]])))
        .collect();
    assert_eq!(addrs, [([10, 0, 0, 1], 6881), ([192, 168, 0, 2], 51413)]);
    assert_eq!(dict.get_int(b"peers"), None);

    let failure = b"d14:failure reason17:torrent not founde";
    let dict = decode_exact(failure).unwrap().as_dict().unwrap();
    assert_eq!(
        dict.get_bytes(b"failure reason"),
        Some(&b"torrent not found"[..])
    );
}

#[test]
fn dict_lookup() {
    let (value, _) = decode(b"d1:bi1e1:a3:xyz1:bi3e1:ll1:xe1:dd1:ki0eee").unwrap();
    let d = value.as_dict().unwrap();
    assert_eq!(d.get(b"b"), Some(Value::Int(1)), "first duplicate wins");
    assert_eq!(d.get_int(b"b"), Some(1));
    assert_eq!(d.get_bytes(b"a"), Some(&b"xyz"[..]));
    assert_eq!(d.get_int(b"a"), None);
    assert_eq!(d.get_bytes(b"b"), None);
    assert_eq!(d.get_list(b"l").map(|l| l.raw()), Some(&b"l1:xe"[..]));
    assert_eq!(d.get_dict(b"l"), None);
    assert_eq!(d.get_dict(b"d").and_then(|d| d.get_int(b"k")), Some(0));
    assert_eq!(d.get_list(b"d"), None);
    assert_eq!(d.get(b""), None);
    assert_eq!(d.get(b"bb"), None);
    assert_eq!(d.iter().count(), 5);
    assert!(!d.is_empty());
    let entries: Vec<(&[u8], Option<i64>)> = d.into_iter().map(|(k, v)| (k, v.as_int())).collect();
    assert_eq!(
        entries,
        [
            (&b"b"[..], Some(1)),
            (b"a", None),
            (b"b", Some(3)),
            (b"l", None),
            (b"d", None)
        ]
    );
    let empty = decode_exact(b"de").unwrap().as_dict().unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.iter().next(), None);
    assert_eq!(empty.get(b""), None);
}

#[test]
fn list_iteration() {
    let (value, _) = decode(b"li1e0:l1:ad1:bleeei-2ee").unwrap();
    let list = value.as_list().unwrap();
    let items: Vec<Value<'_>> = (&list).into_iter().collect();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0], Value::Int(1));
    assert_eq!(items[1], Value::Bytes(b""));
    assert_eq!(
        items[2].as_list().map(|l| l.raw()),
        Some(&b"l1:ad1:bleee"[..])
    );
    assert_eq!(items[3], Value::Int(-2));
    let inner: Vec<Value<'_>> = items[2].as_list().unwrap().iter().collect();
    assert_eq!(inner[0], Value::Bytes(b"a"));
    assert_eq!(
        inner[1]
            .as_dict()
            .and_then(|d| d.get_list(b"b"))
            .map(|l| l.is_empty()),
        Some(true)
    );
    let mut it = list.iter();
    assert_eq!(it.by_ref().count(), 4);
    assert_eq!(it.next(), None);
    assert!(decode_exact(b"le").unwrap().as_list().unwrap().is_empty());
}

#[test]
fn accessors() {
    let list = decode_exact(b"le").unwrap();
    let dict = decode_exact(b"de").unwrap();
    let cases: [(Value<'_>, [bool; 4]); 4] = [
        (Value::Int(3), [true, false, false, false]),
        (Value::Bytes(b"x"), [false, true, false, false]),
        (list, [false, false, true, false]),
        (dict, [false, false, false, true]),
    ];
    for (v, want) in cases {
        let got = [
            v.as_int().is_some(),
            v.as_bytes().is_some(),
            v.as_list().is_some(),
            v.as_dict().is_some(),
        ];
        assert_eq!(got, want, "{v:?}");
    }
    assert_eq!(Value::Int(3).as_int(), Some(3));
    assert_eq!(Value::Bytes(b"x").as_bytes(), Some(&b"x"[..]));
}

#[test]
fn formatting() {
    let v = decode_exact(b"d1:ali1e2:\x00ze1:di-5ee").unwrap();
    assert_eq!(
        format!("{v:?}"),
        r#"Dict{b"a": List[Int(1), Bytes(b"\x00z")], b"d": Int(-5)}"#
    );
    let cases = [
        (
            Error::Incomplete,
            "incomplete bencode: input ends inside a value",
        ),
        (
            mal(3, "digit"),
            "malformed bencode at byte 3: expected digit",
        ),
        (
            Error::TooDeep { offset: 24 },
            "bencode nested too deeply at byte 24",
        ),
        (
            Error::Trailing { offset: 9 },
            "trailing bytes after bencode value at byte 9",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
        assert!(!want.contains('\n'));
        assert_eq!(e.is_incomplete(), e == Error::Incomplete);
    }
    let boxed: Box<dyn std::error::Error> = Box::new(Error::Incomplete);
    assert!(boxed.source().is_none());
}
