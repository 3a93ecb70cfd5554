//! Property tests: no input panics, encode/decode round-trips, prefixes are
//! `Incomplete`, and errors depend only on the bytes already seen.

mod common;

use proptest::prelude::*;
use swarmwall_bencode::encode::Item;
use swarmwall_bencode::{DEFAULT_MAX_DEPTH, Error, decode, decode_exact, decode_with_depth};

/// An owned value tree, turned into a borrowing [`Item`] for encoding.
#[derive(Debug, Clone)]
enum Tree {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Tree>),
    Dict(Vec<(Vec<u8>, Tree)>),
}

impl Tree {
    fn item(&self) -> Item<'_> {
        match self {
            Self::Int(n) => Item::Int(*n),
            Self::Bytes(b) => Item::Bytes(b),
            Self::List(items) => Item::List(items.iter().map(Self::item).collect()),
            Self::Dict(entries) => Item::Dict(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.item()))
                    .collect(),
            ),
        }
    }
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        -20i64..20,
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i64::MIN + 1),
        Just(i64::MAX - 1),
    ]
}

/// Byte strings biased towards bencode syntax bytes.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            any::<u8>(),
            prop::sample::select(b"ilde0123456789:-".to_vec())
        ],
        0..max,
    )
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![int().prop_map(Tree::Int), bytes(40).prop_map(Tree::Bytes)];
    leaf.prop_recursive(10, 160, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Tree::List),
            prop::collection::vec((bytes(8), inner), 0..6).prop_map(Tree::Dict),
        ]
    })
}

/// Input made mostly of bencode syntax, so random data gets deep into the
/// decoder instead of failing at the first byte.
fn bencodeish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(b"ilde0123456789:-".to_vec()),
            1 => any::<u8>(),
        ],
        0..200,
    )
}

/// Checks everything about one decode attempt that must hold for any input.
fn check_any(input: &[u8]) {
    for depth in [0, 1, 3, DEFAULT_MAX_DEPTH, usize::MAX] {
        match decode_with_depth(input, depth) {
            Ok((value, used)) => {
                assert!(used > 0 && used <= input.len());
                common::walk(value, depth);
                let _ = format!("{value:?}");
                // Exactly the consumed bytes decode exactly.
                assert_eq!(decode_with_depth(&input[..used], depth), Ok((value, used)));
                // Any strict prefix of a value is incomplete.
                assert_eq!(
                    decode_with_depth(&input[..used - 1], depth),
                    Err(Error::Incomplete)
                );
            }
            Err(Error::Malformed { offset, .. } | Error::TooDeep { offset }) => {
                assert!(offset < input.len(), "{offset} >= {}", input.len());
                // Every error is decided by the bytes up to `offset`.
                assert_eq!(
                    decode_with_depth(&input[..=offset], depth).map(|_| ()),
                    decode_with_depth(input, depth).map(|_| ())
                );
            }
            Err(Error::Incomplete) => {}
            Err(Error::Trailing { .. }) => panic!("decode never reports Trailing"),
        }
    }
    match decode_exact(input) {
        Ok(value) => assert_eq!(decode(input), Ok((value, input.len()))),
        Err(Error::Trailing { offset }) => {
            assert!(matches!(decode(input), Ok((_, n)) if n == offset && n < input.len()));
        }
        Err(e) => assert_eq!(decode(input).map(|_| ()), Err(e)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..300)) {
        check_any(&input);
    }

    #[test]
    fn bencodeish_bytes_never_panic(input in bencodeish()) {
        check_any(&input);
    }

    #[test]
    fn mutated_encodings_never_panic(
        tree in tree(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut enc = tree.item().to_vec();
        for (at, b) in edits {
            let i = at.index(enc.len());
            enc[i] = b;
        }
        check_any(&enc);
        let cut = cut.index(enc.len() + 1);
        check_any(&enc[..cut]);
    }

    #[test]
    fn encode_then_decode_round_trips(tree in tree()) {
        let item = tree.item();
        let enc = item.to_vec();
        let (value, used) = decode(&enc).unwrap();
        prop_assert_eq!(used, enc.len());
        prop_assert!(common::same(&item, value), "{:?} vs {:?}", item, value);
        prop_assert_eq!(decode_exact(&enc), Ok(value));
        common::walk(value, DEFAULT_MAX_DEPTH);
    }

    #[test]
    fn every_strict_prefix_is_incomplete(tree in tree()) {
        let enc = tree.item().to_vec();
        for cut in 0..enc.len() {
            prop_assert_eq!(decode(&enc[..cut]), Err(Error::Incomplete), "cut {}", cut);
            prop_assert_eq!(decode_exact(&enc[..cut]), Err(Error::Incomplete), "cut {}", cut);
        }
    }

    #[test]
    fn trailing_junk_is_not_consumed(tree in tree(), junk in prop::collection::vec(any::<u8>(), 1..40)) {
        let item = tree.item();
        let enc = item.to_vec();
        let mut input = enc.clone();
        input.extend_from_slice(&junk);
        let (value, used) = decode(&input).unwrap();
        prop_assert_eq!(used, enc.len());
        prop_assert!(common::same(&item, value));
        prop_assert_eq!(decode_exact(&input), Err(Error::Trailing { offset: enc.len() }));
    }

    #[test]
    fn results_are_stable_under_appending(
        input in bencodeish(),
        more in prop::collection::vec(any::<u8>(), 1..40),
    ) {
        // Anything but Incomplete is final: more bytes cannot change it.
        let before = decode(&input);
        let mut longer = input.clone();
        longer.extend_from_slice(&more);
        if before != Err(Error::Incomplete) {
            prop_assert_eq!(decode(&longer), before);
        }
    }

    #[test]
    fn depth_limit_is_exact(tree in tree()) {
        let item = tree.item();
        let enc = item.to_vec();
        let depth = nesting(&item);
        prop_assert!(decode_with_depth(&enc, depth).is_ok());
        if depth > 0 {
            prop_assert!(
                matches!(decode_with_depth(&enc, depth - 1), Err(Error::TooDeep { .. })),
                "depth {}", depth
            );
        }
    }
}

/// How many containers deep `item` nests.
fn nesting(item: &Item<'_>) -> usize {
    match item {
        Item::Int(_) | Item::Bytes(_) => 0,
        Item::List(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Item::Dict(entries) => 1 + entries.iter().map(|(_, v)| nesting(v)).max().unwrap_or(0),
    }
}
