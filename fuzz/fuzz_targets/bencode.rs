//! Fuzz the bencode decoder: no input may panic, and every value reachable
//! from a successful decode must be walkable through every accessor.

#![no_main]

use bencode::{DEFAULT_MAX_DEPTH, Error, Value, decode, decode_exact, decode_with_depth};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a depth limit so small and large limits both get
    // exercised; the rest is the payload.
    let (depth, input) = match data.split_first() {
        Some((&b, rest)) if b & 0x80 != 0 => (usize::from(b & 0x7f) * 4, rest),
        _ => (DEFAULT_MAX_DEPTH, data),
    };

    let exact = decode_exact(input);
    let result = decode_with_depth(input, depth);
    if depth == DEFAULT_MAX_DEPTH {
        match (decode(input), exact) {
            (Ok((v, n)), Ok(e)) => assert!(n == input.len() && v == e),
            (Ok((_, n)), Err(Error::Trailing { offset })) => assert!(n == offset && n < input.len()),
            (Err(d), Err(e)) => assert_eq!(d, e),
            (d, e) => panic!("decode {d:?} but decode_exact {e:?}"),
        }
    }

    match result {
        Ok((value, used)) => {
            assert!(used > 0 && used <= input.len());
            // The consumed bytes alone decode to the same value...
            assert_eq!(decode_with_depth(&input[..used], depth), Ok((value, used)));
            // ...and any strict prefix of them is merely incomplete.
            assert_eq!(
                decode_with_depth(&input[..used - 1], depth),
                Err(Error::Incomplete)
            );
            walk(value, depth);
        }
        Err(Error::Malformed { offset, .. } | Error::TooDeep { offset }) => {
            // Errors are decided by the bytes seen so far.
            assert!(offset < input.len());
            assert_eq!(decode_with_depth(&input[..=offset], depth), result);
        }
        Err(Error::Incomplete) => {}
        Err(Error::Trailing { .. }) => panic!("decode_with_depth reported Trailing"),
    }
});

/// Visits every reachable value with an explicit stack (no recursion),
/// touching every accessor and checking their consistency.
fn walk(root: Value<'_>, depth: usize) {
    let mut stack = vec![root];
    while let Some(v) = stack.pop() {
        let kinds = [
            v.as_int().is_some(),
            v.as_bytes().is_some(),
            v.as_list().is_some(),
            v.as_dict().is_some(),
        ];
        assert_eq!(kinds.iter().filter(|k| **k).count(), 1);
        match v {
            Value::Int(n) => assert_eq!(v.as_int(), Some(n)),
            Value::Bytes(b) => assert_eq!(v.as_bytes(), Some(b)),
            Value::List(list) => {
                let raw = list.raw();
                assert!(raw.len() >= 2 && raw[0] == b'l' && raw[raw.len() - 1] == b'e');
                assert_eq!(decode_with_depth(raw, depth), Ok((v, raw.len())));
                let mut n = 0;
                for item in list.iter() {
                    n += 1;
                    stack.push(item);
                }
                assert_eq!(list.is_empty(), n == 0);
                let mut it = list.iter();
                it.by_ref().for_each(drop);
                assert!(it.next().is_none());
            }
            Value::Dict(dict) => {
                let raw = dict.raw();
                assert!(raw.len() >= 2 && raw[0] == b'd' && raw[raw.len() - 1] == b'e');
                assert_eq!(decode_with_depth(raw, depth), Ok((v, raw.len())));
                let mut n = 0;
                for (key, value) in dict.iter() {
                    n += 1;
                    let first = dict.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
                    assert!(first.is_some());
                    assert_eq!(dict.get(key), first);
                    assert_eq!(dict.get_int(key), first.and_then(|f| f.as_int()));
                    assert_eq!(dict.get_bytes(key), first.and_then(|f| f.as_bytes()));
                    assert_eq!(dict.get_list(key), first.and_then(|f| f.as_list()));
                    assert_eq!(dict.get_dict(key), first.and_then(|f| f.as_dict()));
                    stack.push(value);
                }
                assert_eq!(dict.is_empty(), n == 0);
                let mut it = dict.iter();
                it.by_ref().for_each(drop);
                assert!(it.next().is_none());
            }
        }
    }
    let _ = format!("{root:?}");
}
