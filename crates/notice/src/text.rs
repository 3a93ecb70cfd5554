//! Free-text notices: `Label: value` lines as software-alliance, ip-echelon and Irdeto notices
//! (and the hosting tickets that forward them) write them.

use crate::values;
use crate::{Format, Notice};

/// Undoes PGP clear-signature dash-escaping (`- ` before a line) and `>` quoting of forwards,
/// and leaves out the signature's armor (its `Hash:` header, the signature block).
pub fn unwrap_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut armor_header = false;
    let mut signature = false;
    for line in text.lines() {
        let bare = line.trim_start_matches(['>', ' ']);
        if bare.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
            armor_header = true;
            continue;
        }
        if armor_header {
            if bare.trim().is_empty() {
                armor_header = false;
            }
            continue;
        }
        if bare.starts_with("-----BEGIN PGP SIGNATURE-----") {
            signature = true;
        }
        if signature {
            if bare.starts_with("-----END PGP SIGNATURE-----") {
                signature = false;
            }
            continue;
        }
        let mut l = line;
        loop {
            let t = l.trim_start();
            if let Some(r) = t.strip_prefix('>') {
                l = r.strip_prefix(' ').unwrap_or(r);
            } else if let Some(r) = l.strip_prefix("- ") {
                l = r;
            } else {
                break;
            }
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The labels each field goes by (compared without case, spaces or apostrophes).
const IP: &[&str] = &[
    "ipaddress",
    "infringersipaddress",
    "ip",
    "sourceip",
    "sourceipaddress",
];
const PORT: &[&str] = &["ipport", "port", "infringersport", "portid", "sourceport"];
const TIME: &[&str] = &[
    "datefound",
    "timestamp",
    "initialinfringementtimestamp",
    "timefirstseen",
    "firstseen",
    "dateandtime",
    "time",
];
const HASH: &[&str] = &[
    "torrenthash",
    "infohash",
    "sha1hash",
    "hash",
    "btih",
    "magnet",
    "magnetlink",
];
const BAY: &[&str] = &["bayid"];
const FILE: &[&str] = &["filename", "infringingfilename", "file"];
const SIZE: &[&str] = &["filesize", "infringingfilesize", "size"];
const TITLE: &[&str] = &["infringedwork", "title", "work"];
const PROTOCOL: &[&str] = &["protocol", "network", "type"];
const CASE: &[&str] = &["caseid", "noticeid", "case", "referencenumber"];
const COMPLAINANT: &[&str] = &[
    "complainant",
    "rightsholder",
    "copyrightowner",
    "onbehalfof",
];

fn norm(label: &str) -> String {
    label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every `Label: value` of the text, in order (labels normalised).
pub fn fields(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((label, value)) = line.split_once(':') else {
            continue;
        };
        let label = label.trim();
        // A label is a few words, not a sentence or a URL.
        if label.is_empty() || label.len() > 40 || label.split_whitespace().count() > 5 {
            continue;
        }
        let value = value.trim();
        if value.is_empty() || value.starts_with("//") {
            continue;
        }
        out.push((norm(label), value.to_string()));
    }
    out
}

fn first<'a>(fields: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| fields.iter().find(|(l, _)| l == n).map(|(_, v)| v.as_str()))
}

/// A `Case ID 55120348` written in a sentence, without a colon.
fn case_in_prose(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    for key in ["case id", "caseid", "notice id"] {
        let mut at = 0;
        while let Some(rel) = lower.get(at..)?.find(key) {
            let pos = at + rel + key.len();
            let rest = text.get(pos..)?.trim_start_matches([' ', ':', '#']);
            let id: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            let id = id.trim_end_matches(['-', '_']).to_string();
            if id.chars().any(|c| c.is_ascii_digit()) {
                return Some(id);
            }
            at = pos;
        }
    }
    None
}

/// Reads a free-text notice. `None` when the text names no address (not a notice).
pub fn parse(text: &str) -> Option<Notice> {
    let text = unwrap_lines(text);
    let f = fields(&text);
    let mut n = Notice {
        format: Format::Text,
        ..Notice::default()
    };
    // The address: the first value of an address label that is one.
    let ip = IP.iter().find_map(|name| {
        f.iter()
            .filter(|(l, _)| l == name)
            .find_map(|(_, v)| v.split_whitespace().next()?.parse().ok())
    });
    n.ip = Some(ip?);
    // Several values for one field (a ticket quoting its complaint): they must agree.
    for names in [IP, PORT] {
        let vals: Vec<&str> = f
            .iter()
            .filter(|(l, _)| names.contains(&l.as_str()))
            .map(|(_, v)| v.as_str())
            .collect();
        if vals.windows(2).any(|w| w[0] != w[1]) {
            n.problems
                .push(format!("the text gives different values: {vals:?}"));
        }
    }
    if let Some(p) = first(&f, PORT) {
        match p
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<u16>().ok())
        {
            Some(p) => n.port = Some(p),
            None => n.problems.push(format!("port {p:?} is not a port number")),
        }
    }
    if let Some(t) = first(&f, TIME) {
        match values::time(t) {
            Some(w) => {
                n.time = Some(w.secs);
                n.problems.extend(w.problem);
            }
            None => n.problems.push(format!("time {t:?} could not be read")),
        }
    }
    n.infohash = first(&f, HASH).and_then(values::infohash);
    if n.infohash.is_none()
        && let Some(b) = first(&f, BAY)
    {
        // `Bay ID: <hash>|<size>`
        let (h, s) = b.split_once('|').unwrap_or((b, ""));
        n.infohash = values::infohash(h);
        if n.filesize.is_none() {
            n.filesize = values::size(s);
        }
    }
    if n.infohash.is_none()
        && let Some(h) = first(&f, HASH).or_else(|| first(&f, BAY))
    {
        n.problems.push(format!(
            "hash {h:?} is not 40 hex digits (nor base32, nor a magnet link): taken as no hash"
        ));
    }
    if n.infohash.is_none()
        && let Some(m) = text.find("magnet:?")
    {
        n.infohash = values::infohash(text.get(m..)?.split_whitespace().next()?);
    }
    n.filename = first(&f, FILE).map(str::to_string);
    if let Some(s) = first(&f, SIZE) {
        match values::size_unit(s) {
            Some((v, unit)) => {
                n.filesize = Some(v);
                n.filesize_unit = unit;
            }
            None => n.problems.push(format!("size {s:?} could not be read")),
        }
    }
    n.title = first(&f, TITLE).map(str::to_string);
    n.protocol = first(&f, PROTOCOL).map(str::to_string);
    n.complainant = first(&f, COMPLAINANT).map(str::to_string);
    n.case_id = first(&f, CASE)
        .map(|c| c.split_whitespace().next().unwrap_or(c).to_string())
        .or_else(|| case_in_prose(&text));
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_escaped_and_quoted_lines() {
        let t = "- - ---Start ACNS XML\n> > IP Address: 192.0.2.1\n>Port: 5\n- Title: x\n";
        assert_eq!(
            unwrap_lines(t),
            "---Start ACNS XML\nIP Address: 192.0.2.1\nPort: 5\nTitle: x\n"
        );
    }

    #[test]
    fn a_forwarded_ticket() {
        let t = "> Date Found: 14 Nov 2026 21:07:44 EST (GMT -0500)\n> IP Address: 192.0.2.45\n\
                 > IP Port: 41873\n> Filesize: 4,194,304k\n> Bay ID: 4B219802E41113FAE845705758D91B39EDBEC78D|330366091\n\
                 > Please quote Case ID 55120348.\n";
        let n = parse(t).unwrap();
        assert_eq!(n.ip, Some("192.0.2.45".parse().unwrap()));
        assert_eq!(n.port, Some(41873));
        assert_eq!(n.filesize, Some(4_294_967_296));
        assert_eq!(
            n.infohash.as_deref(),
            Some("4b219802e41113fae845705758d91b39edbec78d")
        );
        assert_eq!(n.case_id.as_deref(), Some("55120348"));
        assert_eq!(n.time, Some(1_794_708_464));
        assert!(parse("Dear Sir, nothing here.").is_none());
    }
}
