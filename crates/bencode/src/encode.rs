//! A tiny bencode encoder, meant for tests and fixtures.
//!
//! Dictionary entries are written in the order given (no sorting, duplicates
//! kept), so tests can also build the sloppy encodings real clients send.
//!
//! ```
//! use swarmwall_bencode::encode::Item;
//!
//! let ping = Item::dict([
//!     ("a", Item::dict([("id", Item::str("abcdefghij0123456789"))])),
//!     ("q", Item::str("ping")),
//!     ("t", Item::str("aa")),
//!     ("y", Item::str("q")),
//! ]);
//! assert_eq!(
//!     ping.to_vec(),
//!     b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
//! );
//! assert_eq!(Item::list([Item::int(-3), Item::bytes(b"\x00")]).to_vec(), b"li-3e1:\x00e");
//! ```

/// A bencode value to encode; strings borrow their bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item<'a> {
    /// `i<n>e`.
    Int(i64),
    /// `<len>:<bytes>`.
    Bytes(&'a [u8]),
    /// `l<items>e`.
    List(Vec<Item<'a>>),
    /// `d<key><value>...e`, entries written in this order.
    Dict(Vec<(&'a [u8], Item<'a>)>),
}

/// Pending output of the iterative encoder.
enum Work<'i, 'a> {
    Item(&'i Item<'a>),
    Key(&'a [u8]),
    End,
}

impl<'a> Item<'a> {
    /// An integer.
    #[must_use]
    pub const fn int(n: i64) -> Self {
        Self::Int(n)
    }

    /// A byte string from UTF-8 text.
    #[must_use]
    pub const fn str(s: &'a str) -> Self {
        Self::Bytes(s.as_bytes())
    }

    /// A byte string.
    #[must_use]
    pub const fn bytes(b: &'a [u8]) -> Self {
        Self::Bytes(b)
    }

    /// A list of the given items.
    #[must_use]
    pub fn list(items: impl IntoIterator<Item = Item<'a>>) -> Self {
        Self::List(items.into_iter().collect())
    }

    /// A dictionary with text keys, written in the given order.
    #[must_use]
    pub fn dict(entries: impl IntoIterator<Item = (&'a str, Item<'a>)>) -> Self {
        Self::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (k.as_bytes(), v))
                .collect(),
        )
    }

    /// A dictionary with byte-string keys, written in the given order.
    #[must_use]
    pub fn dict_bytes(entries: impl IntoIterator<Item = (&'a [u8], Item<'a>)>) -> Self {
        Self::Dict(entries.into_iter().collect())
    }

    /// Appends the encoding of `self` to `out` (iteratively: any nesting
    /// depth is fine).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut work = vec![Work::Item(self)];
        while let Some(next) = work.pop() {
            match next {
                Work::Item(Self::Int(n)) => {
                    out.push(b'i');
                    out.extend_from_slice(n.to_string().as_bytes());
                    out.push(b'e');
                }
                Work::Item(&Self::Bytes(b)) | Work::Key(b) => write_bytes(out, b),
                Work::Item(Self::List(items)) => {
                    out.push(b'l');
                    work.push(Work::End);
                    work.extend(items.iter().rev().map(Work::Item));
                }
                Work::Item(Self::Dict(entries)) => {
                    out.push(b'd');
                    work.push(Work::End);
                    for (k, v) in entries.iter().rev() {
                        work.push(Work::Item(v));
                        work.push(Work::Key(k));
                    }
                }
                Work::End => out.push(b'e'),
            }
        }
    }

    /// The encoding of `self` as a new vector.
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl From<i64> for Item<'_> {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl<'a> From<&'a [u8]> for Item<'a> {
    fn from(b: &'a [u8]) -> Self {
        Self::Bytes(b)
    }
}

impl<'a> From<&'a str> for Item<'a> {
    fn from(s: &'a str) -> Self {
        Self::Bytes(s.as_bytes())
    }
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_kind() {
        let cases: &[(Item<'_>, &[u8])] = &[
            (Item::int(0), b"i0e"),
            (Item::int(-42), b"i-42e"),
            (Item::int(i64::MIN), b"i-9223372036854775808e"),
            (Item::int(i64::MAX), b"i9223372036854775807e"),
            (Item::str(""), b"0:"),
            (Item::bytes(b"\xff:e"), b"3:\xff:e"),
            (Item::list([]), b"le"),
            (Item::dict([]), b"de"),
            (
                Item::list([Item::int(1), Item::list([Item::str("x")]), Item::dict([])]),
                b"li1el1:xedee",
            ),
            // Order kept, duplicates kept.
            (
                Item::dict([
                    ("b", Item::int(1)),
                    ("a", Item::int(2)),
                    ("b", Item::int(3)),
                ]),
                b"d1:bi1e1:ai2e1:bi3ee",
            ),
            (
                Item::dict_bytes([(&b"\x00"[..], Item::from("v"))]),
                b"d1:\x001:ve",
            ),
        ];
        for (item, want) in cases {
            assert_eq!(item.to_vec(), *want, "{item:?}");
        }
    }

    #[test]
    fn encode_appends() {
        let mut out = b"xx".to_vec();
        Item::from(7).encode(&mut out);
        assert_eq!(out, b"xxi7e");
    }

    #[test]
    fn encodes_deep_nesting_without_recursion() {
        let mut item = Item::int(1);
        for _ in 0..1000 {
            item = Item::List(vec![item]);
        }
        let out = item.to_vec();
        assert_eq!(out.len(), 2000 + 3);
        assert_eq!(&out[998..1005], b"lli1eee");
    }
}
