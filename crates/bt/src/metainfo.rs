//! Naming torrents: the info-hashes of a metainfo (`.torrent`) file, and info-hashes as people
//! write them — 40 hex digits, 32 base32 characters, or magnet links (BEP 9, BEP 52).
//!
//! A v1 info-hash is the SHA-1 of the bencoded `info` dictionary; a v2 one (BEP 52) is its
//! SHA-256, which the wire protocols carry truncated to 20 bytes. A hybrid torrent has both,
//! and a client may use either: both are returned.

use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::InfoHash;

/// Why a torrent name could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The metainfo file is not a bencoded dictionary with an `info` dictionary.
    NotATorrent(&'static str),
    /// The text is neither 40 hex digits, 32 base32 characters, nor a magnet link with a
    /// BitTorrent `xt`.
    NotAnInfoHash,
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameError::NotATorrent(why) => write!(f, "not a .torrent file: {why}"),
            NameError::NotAnInfoHash => f.write_str(
                "expected an info-hash: 40 hex digits, 32 base32 characters, or a magnet link \
                 with xt=urn:btih: or xt=urn:btmh:",
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// The info-hashes of a metainfo file: v1, then v2 (truncated) when the `info` dictionary says
/// `meta version` 2.
pub fn torrent_infohashes(file: &[u8]) -> Result<Vec<InfoHash>, NameError> {
    let (value, _) = bencode::decode(file).map_err(|_| NameError::NotATorrent("not bencoded"))?;
    let top = value
        .as_dict()
        .ok_or(NameError::NotATorrent("not a dictionary"))?;
    let info = top
        .get_dict(b"info")
        .ok_or(NameError::NotATorrent("no info dictionary"))?;
    let raw = info.raw();
    let mut out = Vec::with_capacity(2);
    let v1: [u8; 20] = Sha1::digest(raw).into();
    let v2_only = info.get_int(b"meta version") == Some(2) && info.get(b"pieces").is_none();
    if !v2_only {
        out.push(InfoHash(v1));
    }
    if info.get_int(b"meta version") == Some(2) {
        out.push(truncated(&Sha256::digest(raw)));
    }
    Ok(out)
}

/// Reads one written info-hash: 40 hex digits, 32 base32 characters (either case), or a magnet
/// link (every `xt=urn:btih:` and `xt=urn:btmh:1220…` in it). Surrounding whitespace is ignored.
pub fn parse_infohash(text: &str) -> Result<Vec<InfoHash>, NameError> {
    let t = text.trim();
    if let Some(query) = strip_prefix_ignore_case(t, "magnet:?") {
        let mut out = Vec::new();
        for pair in query.split('&') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            if !k.eq_ignore_ascii_case("xt") && !is_numbered_xt(k) {
                continue;
            }
            let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
            if let Some(h) = strip_prefix_ignore_case(&v, "urn:btih:") {
                out.push(bare(h)?);
            } else if let Some(m) = strip_prefix_ignore_case(&v, "urn:btmh:") {
                out.push(multihash(m)?);
            }
        }
        return if out.is_empty() {
            Err(NameError::NotAnInfoHash)
        } else {
            Ok(out)
        };
    }
    Ok(vec![bare(t)?])
}

/// `xt.1`, `xt.2`, ... (BEP 9 allows numbered parameters).
fn is_numbered_xt(k: &str) -> bool {
    strip_prefix_ignore_case(k, "xt.").is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// 40 hex digits or 32 base32 characters.
fn bare(s: &str) -> Result<InfoHash, NameError> {
    match s.len() {
        40 => InfoHash::from_hex(s.as_bytes()).ok_or(NameError::NotAnInfoHash),
        32 => {
            let upper = s.to_ascii_uppercase();
            let bytes = data_encoding::BASE32_NOPAD
                .decode(upper.as_bytes())
                .map_err(|_| NameError::NotAnInfoHash)?;
            InfoHash::from_slice(&bytes).ok_or(NameError::NotAnInfoHash)
        }
        _ => Err(NameError::NotAnInfoHash),
    }
}

/// A v2 multihash: `1220` (SHA-256, 32 bytes) and 64 hex digits; truncated to 20 bytes.
fn multihash(s: &str) -> Result<InfoHash, NameError> {
    let digest = s
        .strip_prefix("1220")
        .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(NameError::NotAnInfoHash)?;
    InfoHash::from_hex(&digest.as_bytes()[..40]).ok_or(NameError::NotAnInfoHash)
}

fn truncated(sha256: &[u8]) -> InfoHash {
    let mut h = [0u8; 20];
    h.copy_from_slice(&sha256[..20]);
    InfoHash(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bencode::encode::Item;

    const HEX: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn hex_base32_and_magnets() {
        let want = InfoHash::from_hex(HEX.as_bytes()).unwrap();
        assert_eq!(parse_infohash(HEX).unwrap(), vec![want]);
        assert_eq!(parse_infohash(&HEX.to_uppercase()).unwrap(), vec![want]);
        let b32 = data_encoding::BASE32_NOPAD.encode(&want.0);
        assert_eq!(b32.len(), 32);
        assert_eq!(parse_infohash(&b32).unwrap(), vec![want]);
        assert_eq!(parse_infohash(&b32.to_lowercase()).unwrap(), vec![want]);
        let magnet = format!("magnet:?xt=urn:btih:{HEX}&dn=some+file&tr=http%3A%2F%2Ft%2Fa");
        assert_eq!(parse_infohash(&magnet).unwrap(), vec![want]);
        let encoded = format!("  MAGNET:?dn=x&xt=urn%3Abtih%3A{b32}\n");
        assert_eq!(parse_infohash(&encoded).unwrap(), vec![want]);
        // a hybrid magnet: v1 and v2 (truncated)
        let v2 = "1220".to_string() + &"ab".repeat(32);
        let hybrid = format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:{v2}");
        assert_eq!(
            parse_infohash(&hybrid).unwrap(),
            vec![want, InfoHash([0xab; 20])]
        );
        assert_eq!(
            parse_infohash(&format!("magnet:?xt.1=urn:btih:{HEX}")).unwrap(),
            vec![want]
        );
    }

    #[test]
    fn not_info_hashes() {
        for bad in [
            "",
            "0123",
            &HEX[..39],
            &format!("{HEX}0"),
            "zz23456789abcdef0123456789abcdef01234567",
            "magnet:?dn=nothing",
            "magnet:?xt=urn:sha1:AAAA",
            "magnet:?xt=urn:btih:short",
            "magnet:?xt=urn:btmh:1114abcd",
            &format!("magnet:?xt=urn:btmh:1220{}", "zz".repeat(32)),
            "11111111111111111111111111111111", // '1' is not base32
        ] {
            assert_eq!(
                parse_infohash(bad),
                Err(NameError::NotAnInfoHash),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn torrent_files() {
        let info = Item::dict([
            ("length", Item::Int(5)),
            ("name", Item::Bytes(b"a.txt")),
            ("piece length", Item::Int(16384)),
            ("pieces", Item::Bytes(&[7; 20])),
        ]);
        let raw = info.to_vec();
        let file = Item::dict([("announce", Item::Bytes(b"http://t/a")), ("info", info)]).to_vec();
        let v1: [u8; 20] = Sha1::digest(&raw).into();
        assert_eq!(torrent_infohashes(&file).unwrap(), vec![InfoHash(v1)]);
        // hybrid: both
        let info2 = Item::dict([
            ("meta version", Item::Int(2)),
            ("name", Item::Bytes(b"a.txt")),
            ("pieces", Item::Bytes(&[7; 20])),
        ]);
        let raw2 = info2.to_vec();
        let file2 = Item::dict([("info", info2)]).to_vec();
        let h = torrent_infohashes(&file2).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].0, <[u8; 20]>::from(Sha1::digest(&raw2)));
        assert_eq!(h[1].0[..], Sha256::digest(&raw2)[..20]);
        for bad in [&b"not bencode"[..], b"le", b"d4:infoi1ee"] {
            assert!(torrent_infohashes(bad).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}", b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_infohash(&s);
            let _ = parse_infohash(&format!("magnet:?xt=urn:btih:{s}"));
            let _ = torrent_infohashes(&b);
        }
    }
}
