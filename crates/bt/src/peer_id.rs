//! Client software from a peer id (BEP 20 and the conventions it documents).
//!
//! * Azureus style: `-` + two-letter client code + four version characters + `-`, e.g.
//!   `-TR3000-` (Transmission 3.00), `-LT2080-` (libtorrent-rasterbar 2.0.8),
//!   `-qB4520-` (qBittorrent 4.5.2), `-lt0D80-` (rtorrent's libtorrent 0.13.8).
//! * aria2: `A2-1-36-0-` (major, minor, patch between dashes).
//! * Mainline style: one letter + version numbers separated by dashes, e.g. `M7-4-0--`.
//! * Shadow style: one letter + up to five version characters + dashes, e.g. `S58B-----`.

use crate::PeerId;

/// Azureus-style client codes (two letters) and names.
const AZUREUS: &[(&[u8; 2], &str)] = &[
    (b"AG", "Ares"),
    (b"AZ", "Vuze"),
    (b"BC", "BitComet"),
    (b"BI", "BiglyBT"),
    (b"BT", "BitTorrent"),
    (b"DE", "Deluge"),
    (b"FD", "Free Download Manager"),
    (b"FW", "FrostWire"),
    (b"KT", "KTorrent"),
    (b"LT", "libtorrent-rasterbar"),
    (b"lt", "libtorrent (rakshasa)"),
    (b"PI", "PicoTorrent"),
    (b"qB", "qBittorrent"),
    (b"RT", "Retriever"),
    (b"SD", "Thunder"),
    (b"TB", "Torch"),
    (b"TL", "Tribler"),
    (b"TR", "Transmission"),
    (b"TX", "Tixati"),
    (b"UM", "µTorrent Mac"),
    (b"UT", "µTorrent"),
    (b"UW", "µTorrent Web"),
    (b"WW", "WebTorrent"),
    (b"XL", "Xunlei"),
    (b"BN", "Baidu Netdisk"),
    (b"bt", "BitTorrent (mainline library)"),
];

/// Shadow / Mainline style single-letter codes.
const SHADOW: &[(u8, &str)] = &[
    (b'A', "ABC"),
    (b'M', "BitTorrent (Mainline)"),
    (b'O', "Osprey Permaseed"),
    (b'Q', "BTQueue"),
    (b'R', "Tribler"),
    (b'S', "Shadow's client"),
    (b'T', "BitTornado"),
    (b'U', "UPnP NAT Bit Torrent"),
];

/// Names the client software that made `id`, with its version when it can be read, e.g.
/// `"Transmission 3.00"`. `None` for ids that follow no known convention (random ids).
pub fn describe(id: &PeerId) -> Option<String> {
    let b = &id.0;
    if b[0] == b'-' && b[7] == b'-' {
        let code = [b[1], b[2]];
        let name = AZUREUS.iter().find(|(c, _)| **c == code).map(|(_, n)| *n)?;
        let v = &b[3..7];
        if !v.iter().all(u8::is_ascii_alphanumeric) {
            return Some(name.to_string());
        }
        return Some(format!("{name} {}", azureus_version(&code, v)));
    }
    if b.starts_with(b"A2-") {
        let rest = &b[3..];
        let parts: Vec<&[u8]> = rest.split(|&c| c == b'-').take(3).collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
        {
            let v: Vec<String> = parts
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            return Some(format!("aria2 {}", v.join(".")));
        }
        return Some("aria2".to_string());
    }
    // Mainline: M4-3-6-- (letter, then digit groups separated by '-')
    if b[0] == b'M' && b[1].is_ascii_digit() && (b[2] == b'-' || b[3] == b'-') {
        let head: Vec<&[u8]> = b[1..8]
            .split(|&c| c == b'-')
            .filter(|p| !p.is_empty())
            .collect();
        if !head.is_empty() && head.iter().all(|p| p.iter().all(u8::is_ascii_digit)) {
            let v: Vec<String> = head
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            return Some(format!("BitTorrent (Mainline) {}", v.join(".")));
        }
    }
    // Shadow: S58B----- : letter + version chars + at least three dashes
    if b[6..9] == *b"---" || b[5..9] == *b"----" {
        let name = SHADOW.iter().find(|(c, _)| *c == b[0]).map(|(_, n)| *n)?;
        let v: Vec<String> = b[1..6]
            .iter()
            .take_while(|&&c| c != b'-')
            .filter_map(|&c| shadow_digit(c))
            .map(|d| d.to_string())
            .collect();
        if v.is_empty() {
            return Some(name.to_string());
        }
        return Some(format!("{name} {}", v.join(".")));
    }
    None
}

/// Version characters of Azureus-style ids. Most clients use one digit per component;
/// Transmission writes `3000` = 3.00 and `4050` = 4.0.5; rasterbar and rtorrent use base-36
/// digits (`0D80` = 0.13.8); qBittorrent and Deluge put a tag letter last.
fn azureus_version(code: &[u8; 2], v: &[u8]) -> String {
    let d: Vec<u32> = v.iter().map(|&c| shadow_digit(c).unwrap_or(0)).collect();
    match code {
        b"TR" => {
            if v[0] <= b'3' && v[0].is_ascii_digit() {
                // 1.x–3.x: major, then two-digit minor, last char is a tag ('0', 'Z' = dev, 'X')
                format!("{}.{}{}", d[0], char::from(v[1]), char::from(v[2]))
            } else {
                format!("{}.{}.{}", d[0], d[1], d[2])
            }
        }
        b"LT" | b"lt" | b"qB" | b"DE" => format!("{}.{}.{}", d[0], d[1], d[2]),
        b"UT" | b"UM" | b"UW" | b"BT" => format!("{}.{}.{}", d[0], d[1], d[2]),
        _ => format!("{}.{}.{}.{}", d[0], d[1], d[2], d[3]),
    }
}

/// 0-9, A-Z (10–35), a-z (36–61), '.' and '-' have conventional meanings in Shadow ids.
fn shadow_digit(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 36),
        b'.' => Some(62),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &[u8]) -> PeerId {
        let mut b = [b'x'; 20];
        b[..prefix.len()].copy_from_slice(prefix);
        PeerId(b)
    }

    #[test]
    fn known_clients() {
        let cases: &[(&[u8], &str)] = &[
            (b"-TR3000-", "Transmission 3.00"),
            (b"-TR294Z-", "Transmission 2.94"),
            (b"-TR4050-", "Transmission 4.0.5"),
            (b"-LT2080-", "libtorrent-rasterbar 2.0.8"),
            (b"-lt0D80-", "libtorrent (rakshasa) 0.13.8"),
            (b"-qB4520-", "qBittorrent 4.5.2"),
            (b"-DE211s-", "Deluge 2.1.1"),
            (b"-UT355W-", "µTorrent 3.5.5"),
            (b"-AZ5770-", "Vuze 5.7.7.0"),
            (b"A2-1-36-0-", "aria2 1.36.0"),
            (b"M7-4-0--", "BitTorrent (Mainline) 7.4.0"),
            (b"S58B-----", "Shadow's client 5.8.11"),
        ];
        for (prefix, want) in cases {
            assert_eq!(
                describe(&id(prefix)).as_deref(),
                Some(*want),
                "{}",
                String::from_utf8_lossy(prefix)
            );
        }
    }

    #[test]
    fn unknown_and_random() {
        assert_eq!(describe(&id(b"-ZZ1000-")), None);
        assert_eq!(describe(&PeerId([0; 20])), None);
        assert_eq!(
            describe(&id(b"-TR\x00\x01\x02\x03-")).as_deref(),
            Some("Transmission")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::array::uniform20(proptest::num::u8::ANY)) {
            let _ = describe(&PeerId(b));
        }
    }
}
