//! Borrowed views of validated bencode: [`Value`], [`List`], [`Dict`] and
//! their iterators, which walk the validated raw bytes lazily.

use core::fmt;
use core::iter::FusedIterator;

use crate::decode::{lex_int, skip_value, string_at};

/// One decoded bencode value, borrowing from the input.
///
/// Equality of lists and dictionaries compares their raw encodings; since the
/// accepted grammar has exactly one encoding per structure (no leading zeros,
/// entries kept in input order), that is structural equality.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    /// An integer, `i<n>e`.
    Int(i64),
    /// A byte string, `<len>:<bytes>` (not necessarily UTF-8).
    Bytes(&'a [u8]),
    /// A list, `l...e`.
    List(List<'a>),
    /// A dictionary, `d...e`.
    Dict(Dict<'a>),
}

impl<'a> Value<'a> {
    /// The integer, if this is [`Value::Int`].
    #[inline]
    #[must_use]
    pub const fn as_int(&self) -> Option<i64> {
        match *self {
            Self::Int(n) => Some(n),
            _ => None,
        }
    }

    /// The bytes, if this is [`Value::Bytes`].
    #[inline]
    #[must_use]
    pub const fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Self::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The list, if this is [`Value::List`].
    #[inline]
    #[must_use]
    pub const fn as_list(&self) -> Option<List<'a>> {
        match *self {
            Self::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is [`Value::Dict`].
    #[inline]
    #[must_use]
    pub const fn as_dict(&self) -> Option<Dict<'a>> {
        match *self {
            Self::Dict(d) => Some(d),
            _ => None,
        }
    }
}

/// A validated bencode list: its raw encoding from `l` to `e`.
///
/// Only the decoder creates it, so the bytes are known to be valid.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct List<'a> {
    raw: &'a [u8],
}

impl<'a> List<'a> {
    /// Wraps validated bytes `l...e`.
    #[inline]
    pub(crate) const fn new(raw: &'a [u8]) -> Self {
        Self { raw }
    }

    /// Iterates over the items, in order.
    #[inline]
    #[must_use]
    pub const fn iter(&self) -> ListIter<'a> {
        ListIter {
            raw: self.raw,
            pos: 1,
        }
    }

    /// The raw encoding, from the opening `l` to the closing `e` inclusive.
    #[inline]
    #[must_use]
    pub const fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// True if the list has no items (`le`).
    #[inline]
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.raw.len() <= 2
    }
}

impl<'a> IntoIterator for List<'a> {
    type Item = Value<'a>;
    type IntoIter = ListIter<'a>;

    #[inline]
    fn into_iter(self) -> ListIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &List<'a> {
    type Item = Value<'a>;
    type IntoIter = ListIter<'a>;

    #[inline]
    fn into_iter(self) -> ListIter<'a> {
        self.iter()
    }
}

/// A validated bencode dictionary: its raw encoding from `d` to `e`.
///
/// Keys keep their input order; unsorted and duplicate keys are accepted.
/// Only the decoder creates it, so the bytes are known to be valid.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dict<'a> {
    raw: &'a [u8],
}

impl<'a> Dict<'a> {
    /// Wraps validated bytes `d...e`.
    #[inline]
    pub(crate) const fn new(raw: &'a [u8]) -> Self {
        Self { raw }
    }

    /// Iterates over the `(key, value)` entries in input order.
    #[inline]
    #[must_use]
    pub const fn iter(&self) -> DictIter<'a> {
        DictIter {
            raw: self.raw,
            pos: 1,
        }
    }

    /// The value of the first entry whose key is `key` (linear scan).
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<Value<'a>> {
        let mut pos = 1;
        loop {
            // Non-matching values are skipped without being decoded.
            let (k, after_key) = string_at(self.raw, pos)?;
            if k == key {
                return value_at(self.raw, after_key).map(|(v, _)| v);
            }
            pos = skip_value(self.raw, after_key)?;
        }
    }

    /// The value of `key` if it is a byte string.
    #[inline]
    #[must_use]
    pub fn get_bytes(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.get(key)?.as_bytes()
    }

    /// The value of `key` if it is an integer.
    #[inline]
    #[must_use]
    pub fn get_int(&self, key: &[u8]) -> Option<i64> {
        self.get(key)?.as_int()
    }

    /// The value of `key` if it is a dictionary.
    #[inline]
    #[must_use]
    pub fn get_dict(&self, key: &[u8]) -> Option<Dict<'a>> {
        self.get(key)?.as_dict()
    }

    /// The value of `key` if it is a list.
    #[inline]
    #[must_use]
    pub fn get_list(&self, key: &[u8]) -> Option<List<'a>> {
        self.get(key)?.as_list()
    }

    /// The raw encoding, from the opening `d` to the closing `e` inclusive.
    #[inline]
    #[must_use]
    pub const fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// True if the dictionary has no entries (`de`).
    #[inline]
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.raw.len() <= 2
    }
}

impl<'a> IntoIterator for Dict<'a> {
    type Item = (&'a [u8], Value<'a>);
    type IntoIter = DictIter<'a>;

    #[inline]
    fn into_iter(self) -> DictIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Dict<'a> {
    type Item = (&'a [u8], Value<'a>);
    type IntoIter = DictIter<'a>;

    #[inline]
    fn into_iter(self) -> DictIter<'a> {
        self.iter()
    }
}

/// Reads the value starting at `at` in validated bytes; returns it and the
/// offset just after it, or `None` at a closing `e` or on anything unexpected.
#[inline]
fn value_at(buf: &[u8], at: usize) -> Option<(Value<'_>, usize)> {
    match *buf.get(at)? {
        b'0'..=b'9' => string_at(buf, at).map(|(b, end)| (Value::Bytes(b), end)),
        b'i' => lex_int(buf, at).ok().map(|(n, end)| (Value::Int(n), end)),
        b'l' => {
            let end = skip_value(buf, at)?;
            Some((Value::List(List::new(buf.get(at..end)?)), end))
        }
        b'd' => {
            let end = skip_value(buf, at)?;
            Some((Value::Dict(Dict::new(buf.get(at..end)?)), end))
        }
        _ => None,
    }
}

/// Reads the dictionary entry whose key starts at `at` in validated bytes;
/// returns it and the offset just after its value, or `None` at the closing
/// `e` or on anything unexpected.
#[inline]
fn entry_at(raw: &[u8], at: usize) -> Option<((&[u8], Value<'_>), usize)> {
    let (key, after_key) = string_at(raw, at)?;
    let (value, end) = value_at(raw, after_key)?;
    Some(((key, value), end))
}

/// Iterator over the items of a [`List`], created by [`List::iter`].
#[derive(Debug, Clone)]
pub struct ListIter<'a> {
    raw: &'a [u8],
    /// Offset of the next item; `raw.len()` once finished.
    pos: usize,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Value<'a>;

    #[inline]
    fn next(&mut self) -> Option<Value<'a>> {
        match value_at(self.raw, self.pos) {
            Some((value, end)) => {
                self.pos = end;
                Some(value)
            }
            None => {
                self.pos = self.raw.len();
                None
            }
        }
    }
}

impl FusedIterator for ListIter<'_> {}

/// Iterator over the `(key, value)` entries of a [`Dict`], created by
/// [`Dict::iter`].
#[derive(Debug, Clone)]
pub struct DictIter<'a> {
    raw: &'a [u8],
    /// Offset of the next key; `raw.len()` once finished.
    pos: usize,
}

impl<'a> Iterator for DictIter<'a> {
    type Item = (&'a [u8], Value<'a>);

    #[inline]
    fn next(&mut self) -> Option<(&'a [u8], Value<'a>)> {
        match entry_at(self.raw, self.pos) {
            Some((entry, end)) => {
                self.pos = end;
                Some(entry)
            }
            None => {
                self.pos = self.raw.len();
                None
            }
        }
    }
}

impl FusedIterator for DictIter<'_> {}

/// Formats bytes as an escaped byte-string literal, `b"..."`.
struct ByteStr<'a>(&'a [u8]);

impl fmt::Debug for ByteStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => f.debug_tuple("Int").field(n).finish(),
            Self::Bytes(b) => f.debug_tuple("Bytes").field(&ByteStr(b)).finish(),
            Self::List(l) => l.fmt(f),
            Self::Dict(d) => d.fmt(f),
        }
    }
}

/// Shows the items; nesting is bounded by the validated depth limit.
impl fmt::Debug for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("List")?;
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Shows the entries; nesting is bounded by the validated depth limit.
impl fmt::Debug for Dict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dict")?;
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (ByteStr(k), v)))
            .finish()
    }
}
