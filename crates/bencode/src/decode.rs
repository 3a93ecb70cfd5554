//! The validating decoder: a byte-level lexer and one iterative pass over the
//! input that checks the whole grammar with a fixed-size stack of container
//! kinds (no recursion, no heap).

use crate::value::{Dict, List, Value};
use crate::{DEFAULT_MAX_DEPTH, Error, MAX_DEPTH_LIMIT};

/// Longest accepted string length prefix, in decimal digits.
const MAX_LEN_DIGITS: usize = 19;

const EXPECT_VALUE: &str = "value";
const EXPECT_LIST_ITEM: &str = "value or 'e' ending list";
const EXPECT_DICT_VALUE: &str = "dictionary value";
const EXPECT_KEY: &str = "string key in dictionary";
const EXPECT_INT_START: &str = "digit or '-'";
const EXPECT_DIGIT: &str = "digit";
const EXPECT_NONZERO: &str = "nonzero digit after '-'";
const EXPECT_INT_END: &str = "'e' ending integer";
const EXPECT_INT_RANGE: &str = "integer that fits in i64";
const EXPECT_COLON: &str = "':' after string length";
const EXPECT_LEN_DIGITS: &str = "':' after string length (at most 19 digits)";
const EXPECT_LEN_RANGE: &str = "string length that fits in usize";

/// Decodes one value at the start of `input` with [`DEFAULT_MAX_DEPTH`].
///
/// Returns the value and the number of bytes it occupies; bytes after it are
/// allowed and ignored (use [`decode_exact`] to reject them).
///
/// # Errors
///
/// [`Error::Incomplete`] if the input ends inside the value,
/// [`Error::Malformed`] if it can never be valid, [`Error::TooDeep`] if
/// containers nest more than [`DEFAULT_MAX_DEPTH`] levels.
#[inline]
pub fn decode(input: &[u8]) -> Result<(Value<'_>, usize), Error> {
    decode_with_depth(input, DEFAULT_MAX_DEPTH)
}

/// Decodes one value at the start of `input`, allowing at most `max_depth`
/// nested lists/dictionaries.
///
/// The outermost container is level 1, so `max_depth == 0` admits only
/// integers and strings; values above [`MAX_DEPTH_LIMIT`] are clamped to it.
///
/// Returns the value and the number of bytes it occupies; bytes after it are
/// allowed and ignored.
///
/// # Errors
///
/// As [`decode`], with `max_depth` as the nesting limit.
pub fn decode_with_depth(input: &[u8], max_depth: usize) -> Result<(Value<'_>, usize), Error> {
    let (tok, next) = lex(input, 0)?;
    let is_dict = match tok {
        Tok::Int(n) => return Ok((Value::Int(n), next)),
        Tok::Bytes(b) => return Ok((Value::Bytes(b), next)),
        Tok::End => return Err(malformed(0, EXPECT_VALUE)),
        Tok::List => false,
        Tok::Dict => true,
    };
    let end = validate_container(input, 0, is_dict, max_depth.min(MAX_DEPTH_LIMIT))?;
    // `end <= input.len()` by construction; `Incomplete` is unreachable.
    let raw = input.get(..end).ok_or(Error::Incomplete)?;
    let value = if is_dict {
        Value::Dict(Dict::new(raw))
    } else {
        Value::List(List::new(raw))
    };
    Ok((value, end))
}

/// Decodes exactly one value spanning the whole input, with
/// [`DEFAULT_MAX_DEPTH`].
///
/// # Errors
///
/// As [`decode`], plus [`Error::Trailing`] when bytes follow the value.
#[inline]
pub fn decode_exact(input: &[u8]) -> Result<Value<'_>, Error> {
    let (value, used) = decode(input)?;
    if used == input.len() {
        Ok(value)
    } else {
        Err(Error::Trailing { offset: used })
    }
}

/// One lexical element of bencode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List,
    Dict,
    End,
}

#[inline]
const fn malformed(offset: usize, expected: &'static str) -> Error {
    Error::Malformed { offset, expected }
}

#[inline]
fn byte(buf: &[u8], at: usize) -> Result<u8, Error> {
    match buf.get(at) {
        Some(&b) => Ok(b),
        None => Err(Error::Incomplete),
    }
}

/// Reads the token starting at `at`; returns it and the offset just after it.
#[inline]
fn lex(buf: &[u8], at: usize) -> Result<(Tok<'_>, usize), Error> {
    match byte(buf, at)? {
        b'i' => lex_int(buf, at).map(|(n, end)| (Tok::Int(n), end)),
        b'0'..=b'9' => lex_bytes(buf, at).map(|(s, end)| (Tok::Bytes(s), end)),
        b'l' => Ok((Tok::List, at + 1)),
        b'd' => Ok((Tok::Dict, at + 1)),
        b'e' => Ok((Tok::End, at + 1)),
        _ => Err(malformed(at, EXPECT_VALUE)),
    }
}

/// Parses `i<int>e` whose `i` is at `at`.
pub(crate) fn lex_int(buf: &[u8], at: usize) -> Result<(i64, usize), Error> {
    let mut p = at + 1;
    let mut b = byte(buf, p)?;
    let neg = b == b'-';
    if neg {
        p += 1;
        b = byte(buf, p)?;
    }
    if b == b'0' {
        if neg {
            return Err(malformed(p, EXPECT_NONZERO));
        }
        p += 1;
        return if byte(buf, p)? == b'e' {
            Ok((0, p + 1))
        } else {
            Err(malformed(p, EXPECT_INT_END))
        };
    }
    if !b.is_ascii_digit() {
        return Err(malformed(
            p,
            if neg { EXPECT_DIGIT } else { EXPECT_INT_START },
        ));
    }
    let mut n: i64 = 0;
    loop {
        let d = i64::from(b - b'0');
        // Accumulate towards the sign so that i64::MIN is representable.
        let next = if neg {
            n.checked_mul(10).and_then(|m| m.checked_sub(d))
        } else {
            n.checked_mul(10).and_then(|m| m.checked_add(d))
        };
        n = match next {
            Some(n) => n,
            None => return Err(malformed(p, EXPECT_INT_RANGE)),
        };
        p += 1;
        b = byte(buf, p)?;
        if b == b'e' {
            return Ok((n, p + 1));
        }
        if !b.is_ascii_digit() {
            return Err(malformed(p, EXPECT_INT_END));
        }
    }
}

/// Parses `<len>:<bytes>` whose first length digit is at `at`.
fn lex_bytes(buf: &[u8], at: usize) -> Result<(&[u8], usize), Error> {
    let Some(first) = digit(byte(buf, at)?) else {
        return Err(malformed(at, EXPECT_DIGIT));
    };
    let mut len = usize::from(first);
    let mut p = at + 1;
    loop {
        let b = byte(buf, p)?;
        match digit(b) {
            // A length starting with '0' must be exactly "0:".
            Some(d) if len != 0 => {
                if p - at >= MAX_LEN_DIGITS {
                    return Err(malformed(p, EXPECT_LEN_DIGITS));
                }
                len = match len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(d)))
                {
                    Some(len) => len,
                    None => return Err(malformed(p, EXPECT_LEN_RANGE)),
                };
                p += 1;
            }
            _ if b == b':' => break,
            _ => return Err(malformed(p, EXPECT_COLON)),
        }
    }
    // `p` indexes the ':' so `start <= buf.len()`.
    let start = p + 1;
    if len > buf.len() - start {
        return Err(Error::Incomplete);
    }
    let end = start + len;
    match buf.get(start..end) {
        Some(s) => Ok((s, end)),
        None => Err(Error::Incomplete),
    }
}

/// One bit per open container: set for a dictionary, clear for a list.
struct KindStack([u64; MAX_DEPTH_LIMIT.div_ceil(64)]);

impl KindStack {
    #[inline]
    const fn new() -> Self {
        Self([0; MAX_DEPTH_LIMIT.div_ceil(64)])
    }

    #[inline]
    fn set(&mut self, level: usize, is_dict: bool) {
        if let Some(word) = self.0.get_mut(level / 64) {
            let bit = 1u64 << (level % 64);
            if is_dict {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
    }

    #[inline]
    fn is_dict(&self, level: usize) -> bool {
        self.0
            .get(level / 64)
            .is_some_and(|word| word >> (level % 64) & 1 == 1)
    }
}

/// Validates the list (`is_dict == false`) or dictionary whose opening byte
/// is at `at`; returns the offset just after its closing `e`.
///
/// `max_depth` must be at most [`MAX_DEPTH_LIMIT`].
fn validate_container(
    buf: &[u8],
    at: usize,
    is_dict: bool,
    max_depth: usize,
) -> Result<usize, Error> {
    if max_depth == 0 {
        return Err(Error::TooDeep { offset: at });
    }
    let mut kinds = KindStack::new();
    kinds.set(0, is_dict);
    // Number of open containers; the innermost is at level `depth - 1`.
    let mut depth: usize = 1;
    let mut in_dict = is_dict;
    // Inside a dictionary: the next item is a key (or the closing 'e').
    let mut want_key = is_dict;
    let mut pos = at + 1;
    loop {
        let b = byte(buf, pos)?;
        if b == b'e' {
            if in_dict && !want_key {
                return Err(malformed(pos, EXPECT_DICT_VALUE));
            }
            pos += 1;
            depth -= 1;
            if depth == 0 {
                return Ok(pos);
            }
            // The closed container was a value of its parent.
            in_dict = kinds.is_dict(depth - 1);
            want_key = in_dict;
            continue;
        }
        if want_key {
            if !b.is_ascii_digit() {
                return Err(malformed(pos, EXPECT_KEY));
            }
            pos = lex_bytes(buf, pos)?.1;
            want_key = false;
            continue;
        }
        match b {
            b'0'..=b'9' => pos = lex_bytes(buf, pos)?.1,
            b'i' => pos = lex_int(buf, pos)?.1,
            b'l' | b'd' => {
                if depth >= max_depth {
                    return Err(Error::TooDeep { offset: pos });
                }
                in_dict = b == b'd';
                kinds.set(depth, in_dict);
                depth += 1;
                want_key = in_dict;
                pos += 1;
                continue;
            }
            _ => {
                let expected = if in_dict {
                    EXPECT_DICT_VALUE
                } else {
                    EXPECT_LIST_ITEM
                };
                return Err(malformed(pos, expected));
            }
        }
        // A scalar value completed.
        want_key = in_dict;
    }
}

/// Reads the byte string whose length starts at `at` in already validated
/// input; returns it and the offset just after it. Returns `None` instead of
/// failing on anything unexpected.
#[inline]
pub(crate) fn string_at(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let mut len = usize::from(digit(*buf.get(at)?)?);
    let mut p = at + 1;
    loop {
        let b = *buf.get(p)?;
        if b == b':' {
            break;
        }
        len = len.checked_mul(10)?.checked_add(usize::from(digit(b)?))?;
        p += 1;
    }
    let start = p + 1;
    let end = start.checked_add(len)?;
    Some((buf.get(start..end)?, end))
}

#[inline]
fn digit(b: u8) -> Option<u8> {
    let d = b.wrapping_sub(b'0');
    (d <= 9).then_some(d)
}

/// Returns the offset just after the value starting at `at` in already
/// validated input, scanning nested containers with a depth counter (no
/// recursion). Returns `None` instead of failing on anything unexpected,
/// including a closing `e` at `at`.
pub(crate) fn skip_value(buf: &[u8], at: usize) -> Option<usize> {
    let mut depth: usize = 0;
    let mut pos = at;
    loop {
        pos = match *buf.get(pos)? {
            b'0'..=b'9' => string_at(buf, pos)?.1,
            b'i' => {
                let digits = buf.get(pos + 1..)?;
                pos + 2 + digits.iter().position(|&b| b == b'e')?
            }
            b'l' | b'd' => {
                depth += 1;
                pos + 1
            }
            b'e' => {
                depth = depth.checked_sub(1)?;
                pos + 1
            }
            _ => return None,
        };
        if depth == 0 {
            return Some(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_stack_bits() {
        let mut k = KindStack::new();
        for level in 0..MAX_DEPTH_LIMIT {
            k.set(level, level % 3 == 0);
        }
        for level in 0..MAX_DEPTH_LIMIT {
            assert_eq!(k.is_dict(level), level % 3 == 0, "level {level}");
        }
        k.set(70, false);
        assert!(!k.is_dict(70));
        // Out of range is ignored, not a panic.
        k.set(MAX_DEPTH_LIMIT, true);
        assert!(!k.is_dict(MAX_DEPTH_LIMIT));
    }

    #[test]
    fn lex_tokens() {
        type Lexed<'a> = Result<(Tok<'a>, usize), Error>;
        let cases: &[(&[u8], Lexed<'_>)] = &[
            (b"i-12e", Ok((Tok::Int(-12), 5))),
            (b"3:abcX", Ok((Tok::Bytes(b"abc"), 5))),
            (b"l", Ok((Tok::List, 1))),
            (b"d", Ok((Tok::Dict, 1))),
            (b"e", Ok((Tok::End, 1))),
            (b"", Err(Error::Incomplete)),
            (b"x", Err(malformed(0, EXPECT_VALUE))),
        ];
        for (input, want) in cases {
            assert_eq!(
                lex(input, 0),
                *want,
                "{:?}",
                input.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn skip_values() {
        let buf = b"ld1:ai1eel3:xyzee4:tail";
        assert_eq!(skip_value(buf, 0), Some(17));
        assert_eq!(skip_value(buf, 1), Some(9));
        assert_eq!(skip_value(buf, 2), Some(5));
        assert_eq!(skip_value(buf, 5), Some(8));
        assert_eq!(skip_value(buf, 9), Some(16));
        assert_eq!(skip_value(buf, 17), Some(23));
        // Closing byte, truncated, or garbage: None, never a panic.
        assert_eq!(skip_value(buf, 8), None);
        assert_eq!(skip_value(b"ll", 0), None);
        assert_eq!(skip_value(b"lxe", 0), None);
        assert_eq!(skip_value(b"i12", 0), None);
        assert_eq!(skip_value(b"5:ab", 0), None);
        assert_eq!(skip_value(b"99999999999999999999999:", 0), None);
        assert_eq!(skip_value(b"", 5), None);
    }

    #[test]
    fn strings_at() {
        assert_eq!(string_at(b"3:abcd", 0), Some((&b"abc"[..], 5)));
        assert_eq!(string_at(b"x0:", 1), Some((&b""[..], 3)));
        assert_eq!(string_at(b"3:ab", 0), None);
        assert_eq!(string_at(b":ab", 0), None);
        assert_eq!(string_at(b"1x:ab", 0), None);
        assert_eq!(string_at(b"12", 0), None);
    }
}
