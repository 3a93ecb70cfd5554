//! Helpers shared by the integration tests.

#![allow(dead_code)]

use swarmwall_bencode::encode::Item;
use swarmwall_bencode::{Value, decode_exact, decode_with_depth};

/// True if the decoded `value` has exactly the structure of `item`.
pub fn same(item: &Item<'_>, value: Value<'_>) -> bool {
    match (item, value) {
        (Item::Int(a), Value::Int(b)) => *a == b,
        (Item::Bytes(a), Value::Bytes(b)) => *a == b,
        (Item::List(items), Value::List(list)) => {
            let mut it = list.iter();
            items.iter().all(|i| it.next().is_some_and(|v| same(i, v))) && it.next().is_none()
        }
        (Item::Dict(entries), Value::Dict(dict)) => {
            let mut it = dict.iter();
            entries
                .iter()
                .all(|(k, i)| it.next().is_some_and(|(dk, v)| dk == *k && same(i, v)))
                && it.next().is_none()
        }
        _ => false,
    }
}

/// Visits every value reachable from `root` with an explicit stack, calls
/// every accessor and checks the invariants that must hold for validated
/// values. `max_depth` is the limit `root` was decoded with. Returns the
/// number of values visited.
pub fn walk(root: Value<'_>, max_depth: usize) -> usize {
    let mut stack = vec![root];
    let mut visited = 0;
    while let Some(v) = stack.pop() {
        visited += 1;
        let kinds = [
            v.as_int().is_some(),
            v.as_bytes().is_some(),
            v.as_list().is_some(),
            v.as_dict().is_some(),
        ];
        assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{v:?}");
        if let Some(list) = v.as_list() {
            let raw = list.raw();
            assert!(raw.len() >= 2 && raw[0] == b'l' && raw[raw.len() - 1] == b'e');
            assert_eq!(decode_with_depth(raw, max_depth), Ok((v, raw.len())));
            let n = list.iter().count();
            assert_eq!(list.is_empty(), n == 0);
            let mut it = list.iter();
            it.by_ref().for_each(drop);
            assert_eq!(it.next(), None, "fused");
            stack.extend(list.iter());
        }
        if let Some(dict) = v.as_dict() {
            let raw = dict.raw();
            assert!(raw.len() >= 2 && raw[0] == b'd' && raw[raw.len() - 1] == b'e');
            assert_eq!(decode_with_depth(raw, max_depth), Ok((v, raw.len())));
            let n = dict.iter().count();
            assert_eq!(dict.is_empty(), n == 0);
            for (key, value) in dict.iter() {
                // `get` returns the first entry with that key.
                let first = dict.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
                assert_eq!(dict.get(key), first);
                let Some(first) = first else {
                    panic!("key {key:?} not found by iteration")
                };
                assert_eq!(dict.get_int(key), first.as_int());
                assert_eq!(dict.get_bytes(key), first.as_bytes());
                assert_eq!(dict.get_list(key), first.as_list());
                assert_eq!(dict.get_dict(key), first.as_dict());
                stack.push(value);
            }
            assert_eq!(dict.get(b"\xff\xfe absent key \x00"), None);
        }
        if let Some(b) = v.as_bytes() {
            let mut enc = Vec::new();
            Item::bytes(b).encode(&mut enc);
            assert_eq!(decode_exact(&enc), Ok(v));
        }
        if let Some(n) = v.as_int() {
            assert_eq!(decode_exact(&Item::int(n).to_vec()), Ok(v));
        }
    }
    visited
}
