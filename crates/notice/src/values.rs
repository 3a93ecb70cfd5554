//! The values notices carry, read as their senders write them: times with zones written in
//! several ways, sizes with thousands separators and units, info-hashes in hex, base32 or a
//! magnet link.

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, PrimitiveDateTime, Time};

/// A time read from a notice: seconds since 1970 (UTC), and a problem if its zone was unsure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    pub secs: i64,
    pub problem: Option<String>,
}

/// Zone abbreviations with one meaning in notices (North American and European monitoring
/// firms). Others (IST, CST outside America, BST, …) are ambiguous: their offset must be
/// written beside them.
const ZONES: &[(&str, i32)] = &[
    ("UTC", 0),
    ("UT", 0),
    ("GMT", 0),
    ("Z", 0),
    ("EST", -5 * 3600),
    ("EDT", -4 * 3600),
    ("CST", -6 * 3600),
    ("CDT", -5 * 3600),
    ("MST", -7 * 3600),
    ("MDT", -6 * 3600),
    ("PST", -8 * 3600),
    ("PDT", -7 * 3600),
    ("CET", 3600),
    ("CEST", 2 * 3600),
];

/// Abbreviations that name several zones.
const AMBIGUOUS: &[&str] = &[
    "IST", "BST", "AST", "ADT", "SST", "ECT", "MSK", "EET", "WET", "AEST",
];

fn month(s: &str) -> Option<Month> {
    let m = match s.get(..3)?.to_ascii_lowercase().as_str() {
        "jan" => Month::January,
        "feb" => Month::February,
        "mar" => Month::March,
        "apr" => Month::April,
        "may" => Month::May,
        "jun" => Month::June,
        "jul" => Month::July,
        "aug" => Month::August,
        "sep" => Month::September,
        "oct" => Month::October,
        "nov" => Month::November,
        "dec" => Month::December,
        _ => return None,
    };
    Some(m)
}

/// A numeric offset: `-0500`, `+05:30`, `-05`.
fn offset(s: &str) -> Option<i32> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Reads a notice's time: RFC 3339 (`2015-11-13T20:35:03Z`, `…T13:19:53.000Z`), or
/// `14 Nov 2026 21:07:44 EST (GMT -0500)`, `04 Sep 2015 13:19:53 GMT`, `Sat, 14 Nov 2026
/// 23:40:12 -0500`, `2026-11-14 21:07:44 UTC`. A zone abbreviation takes the numeric offset
/// written beside it; alone, a known one its usual offset; an ambiguous or unknown one, or none,
/// is read as UTC with a problem.
pub fn time(s: &str) -> Option<When> {
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(When {
            secs: t.unix_timestamp(),
            problem: None,
        });
    }
    // Split into words, keeping what is in parentheses as one.
    let cleaned = s.replace(',', " ");
    let (main, paren) = match (cleaned.find('('), cleaned.rfind(')')) {
        (Some(a), Some(b)) if a < b => (&cleaned[..a], Some(&cleaned[a + 1..b])),
        _ => (cleaned.as_str(), None),
    };
    let words: Vec<&str> = main.split_whitespace().collect();
    let mut date: Option<Date> = None;
    let mut clock: Option<Time> = None;
    let mut zone_word: Option<&str> = None;
    let mut numeric: Option<i32> = None;
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if let Some(d) = iso_date(w) {
            date = Some(d);
            // `2026-11-14T21:07:44` without a zone
            if let Some(t) = w.split_once('T').and_then(|(_, t)| clock_of(t)) {
                clock = Some(t);
            }
        } else if let Some(t) = clock_of(w) {
            clock = Some(t);
        } else if let Some(o) = offset(w) {
            numeric = Some(o);
        } else if let (Ok(day), Some(m), Some(y)) = (
            w.parse::<u8>(),
            words.get(i + 1).and_then(|m| month(m)),
            words.get(i + 2).and_then(|y| y.parse::<i32>().ok()),
        ) {
            date = Date::from_calendar_date(y, m, day).ok();
            i += 2;
        } else if let (Some(m), Ok(day), Some(y)) = (
            month(w),
            words
                .get(i + 1)
                .map_or(Err(()), |d| d.parse::<u8>().map_err(|_| ())),
            words.get(i + 2).and_then(|y| y.parse::<i32>().ok()),
        ) {
            // `Nov 14 2026`
            date = Date::from_calendar_date(y, m, day).ok();
            i += 2;
        } else if w.len() >= 2 && w.len() <= 5 && w.bytes().all(|b| b.is_ascii_uppercase()) {
            zone_word = Some(w);
        }
        i += 1;
    }
    // An offset in parentheses: `(GMT -0500)`, `(UTC-05:00)`, `(-0500)`.
    if let Some(p) = paren {
        let p = p
            .trim()
            .trim_start_matches("GMT")
            .trim_start_matches("UTC")
            .trim();
        if let Some(o) = offset(p) {
            numeric = Some(o);
        }
    }
    let dt = PrimitiveDateTime::new(date?, clock?);
    let (off, problem) = match (numeric, zone_word) {
        (Some(o), _) => (o, None),
        (None, Some(z)) => match ZONES.iter().find(|(n, _)| *n == z) {
            Some((_, o)) => (*o, None),
            None if AMBIGUOUS.contains(&z) => (
                0,
                Some(format!(
                    "time zone {z} is ambiguous and no offset is given; read as UTC"
                )),
            ),
            None => (0, Some(format!("time zone {z} is unknown; read as UTC"))),
        },
        (None, None) => (0, Some("the time has no zone; read as UTC".to_string())),
    };
    let secs = dt.assume_utc().unix_timestamp() - i64::from(off);
    Some(When { secs, problem })
}

fn iso_date(w: &str) -> Option<Date> {
    let d = w.get(..10)?;
    let b = d.as_bytes();
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let y = d.get(..4)?.parse::<i32>().ok()?;
    let m = Month::try_from(d.get(5..7)?.parse::<u8>().ok()?).ok()?;
    let day = d.get(8..10)?.parse::<u8>().ok()?;
    Date::from_calendar_date(y, m, day).ok()
}

fn clock_of(w: &str) -> Option<Time> {
    let w = w.trim_end_matches('Z');
    let w = w.split('.').next()?;
    let mut parts = w.split(':');
    let h = parts.next()?.parse::<u8>().ok()?;
    let m = parts.next()?.parse::<u8>().ok()?;
    let s = match parts.next() {
        Some(s) => s.parse::<u8>().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Time::from_hms(h, m, s).ok()
}

/// Reads a size as [`size`] does, with its unit in bytes (1 when none was written): a size
/// written in a unit is exact only to that unit.
pub fn size_unit(s: &str) -> Option<(u64, u64)> {
    let v = size(s)?;
    let t = s.trim();
    let unit = match t.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len() == t.len() {
        true => 1,
        false => size(&format!(
            "1{}",
            t.trim_start_matches(|c: char| !c.is_ascii_alphabetic())
        ))?,
    };
    Some((v, unit))
}

/// Reads a size: `1253775203`, `4,194,304k`, `902 MB`, `1.5 GB`, `330366091 bytes`. Units are
/// binary (k = 1,024): monitoring firms write `902 MB` for 946,388,880 bytes (ip-echelon).
pub fn size(s: &str) -> Option<u64> {
    let s = s.trim();
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.' || c == ' '))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(num_end);
    let num: String = num.chars().filter(|c| *c != ',' && *c != ' ').collect();
    if num.is_empty() {
        return None;
    }
    let unit = unit.trim().to_ascii_lowercase();
    let mult: u64 = match unit.trim_end_matches('s') {
        "" | "b" | "byte" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    match num.split_once('.') {
        None => num.parse::<u64>().ok()?.checked_mul(mult),
        Some((whole, frac)) => {
            // Fractions of a unit: exact in integers.
            let w = if whole.is_empty() {
                0
            } else {
                whole.parse::<u64>().ok()?
            };
            let frac = frac.get(..frac.len().min(9))?;
            let f = if frac.is_empty() {
                0
            } else {
                frac.parse::<u64>().ok()?
            };
            let scale = 10u64.checked_pow(u32::try_from(frac.len()).ok()?)?;
            w.checked_mul(mult)?
                .checked_add(f.checked_mul(mult)? / scale)
        }
    }
}

/// An info-hash from a notice: 40 hex digits (any case), 32 base32 characters, or a magnet
/// link's `xt=urn:btih:`. Lower-case hex, or `None`.
pub fn infohash(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(pos) = s.to_ascii_lowercase().find("urn:btih:") {
        let rest = s.get(pos + 9..)?;
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        return infohash(rest.get(..end)?);
    }
    if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(s.to_ascii_lowercase());
    }
    if s.len() == 32 {
        let bytes = data_encoding::BASE32_NOPAD
            .decode(s.to_ascii_uppercase().as_bytes())
            .ok()?;
        if bytes.len() == 20 {
            return Some(bytes.iter().map(|b| format!("{b:02x}")).collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        time(s).unwrap().secs
    }

    #[test]
    fn times_as_notices_write_them() {
        let base = t("2026-11-15T02:07:44Z");
        assert_eq!(t("14 Nov 2026 21:07:44 EST (GMT -0500)"), base);
        assert_eq!(t("14 Nov 2026 21:07:44 (GMT -0500)"), base);
        assert_eq!(t("Sat, 14 Nov 2026 21:07:44 -0500"), base);
        assert_eq!(t("14 Nov 2026 21:07:44 EST"), base);
        assert_eq!(t("2026-11-15 02:07:44 UTC"), base);
        assert_eq!(t("2026-11-15T02:07:44.000Z"), base);
        assert_eq!(t("Nov 14 2026 21:07:44 EST"), base);
        // The offset beside an abbreviation wins over the abbreviation.
        assert_eq!(t("15 Nov 2026 07:37:44 IST (GMT +0530)"), base);
        let w = time("15 Nov 2026 07:37:44 IST").unwrap();
        assert!(w.problem.unwrap().contains("ambiguous"));
        assert!(time("15 Nov 2026 02:07:44").unwrap().problem.is_some());
        assert_eq!(time("04 Sep 2015 13:19:53 GMT").unwrap().problem, None);
        assert!(time("soon").is_none());
        assert!(time("31 Feb 2026 10:00:00 GMT").is_none());
    }

    #[test]
    fn sizes_as_notices_write_them() {
        assert_eq!(size("1253775203"), Some(1_253_775_203));
        assert_eq!(size("4,194,304k"), Some(4_294_967_296));
        assert_eq!(size("902 MB"), Some(902 << 20));
        assert_eq!(size("1.5 GB"), Some(3 << 29));
        assert_eq!(size("330366091 bytes"), Some(330_366_091));
        assert_eq!(size("4688394339"), Some(4_688_394_339));
        assert_eq!(size("lots"), None);
        assert_eq!(size("99999999999999999999"), None);
        assert_eq!(size("99999999999 TB"), None);
        assert_eq!(size_unit("902 MB"), Some((902 << 20, 1 << 20)));
        assert_eq!(size_unit("1195"), Some((1195, 1)));
        assert_eq!(size_unit("4,194,304k"), Some((4 << 30, 1024)));
    }

    #[test]
    fn hashes_hex_base32_magnet() {
        let h = "6af9f5bf5493b6bb72f15f77c2e541d606328aea";
        assert_eq!(
            infohash("6AF9F5BF5493B6BB72F15F77C2E541D606328AEA").as_deref(),
            Some(h)
        );
        assert_eq!(
            infohash("magnet:?xt=urn:btih:6AF9F5BF5493B6BB72F15F77C2E541D606328AEA&dn=x")
                .as_deref(),
            Some(h)
        );
        let b32 = data_encoding::BASE32_NOPAD.encode(&[0x6a; 20]);
        assert_eq!(infohash(&b32), Some("6a".repeat(20)));
        assert_eq!(infohash("EKR94KF985873KD930ER4KD94"), None);
        assert_eq!(infohash(""), None);
    }
}
