//! Copyright notices, read into one shape — a pure crate, no I/O.
//!
//! Notices reach an operator as e-mails from monitoring firms: ACNS 2.0 XML (inline in a text
//! part, as an attachment, between PGP clear-signature markers, quoted-printable or base64,
//! `>`-quoted in a forward, several in one mail), X-ARF v4 JSON, or free text ("Date Found: 14
//! Nov 2026 21:07:44 EST (GMT -0500)", "IP Address:", …). [`parse`] reads a file of any of these
//! (an `.eml`, an `.xml`, a `.json`, a `.txt`; [`split_mbox`] cuts an mbox into messages) and
//! returns every notice it holds, each with the problems found (text and XML disagreeing, a
//! hash that is not one, an unsure time zone), or why none could be read.
//!
//! - [`acns`]: `Infringement` documents of every version, matched by local name.
//! - [`xarf`]: X-ARF copyright/p2p reports.
//! - [`text`]: `Label: value` notices, PGP dash-escaping and `>` quoting undone.
//! - [`values`]: times, sizes and info-hashes as senders write them.

pub mod acns;
pub mod ledger;
pub mod reply;
pub mod text;
pub mod values;
pub mod verdict;
pub mod xarf;

use std::net::IpAddr;

use serde::Serialize;

/// Where a notice was read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Format {
    /// ACNS, with its schema version (`0.6`, `0.7`, `1.0`, `1.1`, `1.2`).
    Acns(String),
    /// X-ARF, with its version.
    Xarf(String),
    #[default]
    Text,
}

impl Format {
    pub fn name(&self) -> String {
        match self {
            Format::Acns(v) => format!("acns-{v}"),
            Format::Xarf(v) => format!("xarf-{v}"),
            Format::Text => "text".into(),
        }
    }
}

impl Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// One notice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub format: Format,
    pub case_id: Option<String>,
    pub complainant: Option<String>,
    /// The source the notice accuses.
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    /// When it was seen, seconds since 1970 (UTC).
    pub time: Option<i64>,
    pub protocol: Option<String>,
    /// 40 lower-case hex digits; none when the notice gives none that is one.
    pub infohash: Option<String>,
    pub filename: Option<String>,
    pub filesize: Option<u64>,
    pub title: Option<String>,
    /// What is doubtful or contradictory in it.
    pub problems: Vec<String>,
    /// The unit `filesize` was written in (1: bytes; `902 MB` is exact only to a MiB).
    #[serde(skip)]
    pub filesize_unit: u64,
}

/// What a file held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub notices: Vec<Notice>,
    /// Why no notice could be read (when `notices` is empty).
    pub error: Option<String>,
}

/// Bytes past which a file is not read (no notice is that long; a mail with attachments is
/// read up to here).
pub const MAX_BYTES: usize = 16 << 20;

/// Whether the bytes look like binary data rather than text.
fn binary(b: &[u8]) -> bool {
    let head = &b[..b.len().min(4096)];
    if head.contains(&0) {
        return true;
    }
    let odd = head
        .iter()
        .filter(|c| **c < 0x09 || (**c > 0x0d && **c < 0x20) || **c == 0x7f)
        .count();
    odd * 20 > head.len()
}

/// Whether the text starts like an e-mail (header lines, or an mbox `From ` line).
fn is_mail(text: &str) -> bool {
    let mut lines = text.lines().take_while(|l| !l.trim().is_empty());
    let Some(first) = lines.next() else {
        return false;
    };
    if first.starts_with("From ") {
        return true;
    }
    let header = |l: &str| {
        l.split_once(':').is_some_and(|(name, _)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    };
    header(first)
        && lines
            .take(3)
            .all(|l| header(l) || l.starts_with([' ', '\t']))
}

/// The texts of a mail: every text part, and every attachment that is text (an XML or JSON
/// notice), decoded; nested messages (forwards as attachments) too.
fn mail_texts(bytes: &[u8]) -> Vec<String> {
    let Some(msg) = mail_parser::MessageParser::default().parse(bytes) else {
        return vec![String::from_utf8_lossy(bytes).into_owned()];
    };
    let mut out = Vec::new();
    collect(&msg, &mut out, 0);
    out
}

fn collect(msg: &mail_parser::Message<'_>, out: &mut Vec<String>, depth: usize) {
    use mail_parser::PartType;
    for part in &msg.parts {
        match &part.body {
            PartType::Text(t) | PartType::Html(t) => out.push(t.to_string()),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                if !binary(b) {
                    out.push(String::from_utf8_lossy(b).into_owned());
                }
            }
            PartType::Message(m) if depth < 8 => collect(m, out, depth + 1),
            PartType::Message(_) | PartType::Multipart(_) => {}
        }
    }
}

/// Whitespace-insensitive form of an XML document, to tell copies of one apart from others.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect()
}

/// Reads every notice in a file's bytes.
pub fn parse(bytes: &[u8]) -> Parsed {
    let bytes = &bytes[..bytes.len().min(MAX_BYTES)];
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Parsed {
            error: Some("empty".into()),
            ..Parsed::default()
        };
    }
    if binary(bytes) {
        return Parsed {
            error: Some(
                "binary data, not a notice (expected an e-mail, ACNS XML, X-ARF JSON or text)"
                    .into(),
            ),
            ..Parsed::default()
        };
    }
    let whole = String::from_utf8_lossy(bytes);
    if whole.trim_start().starts_with('{') {
        return match xarf::parse(&whole) {
            Ok(n) => Parsed {
                notices: vec![n],
                error: None,
            },
            Err(e) => Parsed {
                error: Some(e),
                ..Parsed::default()
            },
        };
    }
    let texts = if is_mail(&whole) {
        mail_texts(bytes)
    } else {
        vec![whole.into_owned()]
    };
    let mut notices: Vec<Notice> = Vec::new();
    let mut seen_xml: Vec<String> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut plain: Option<Notice> = None;
    for t in &texts {
        let t = text::unwrap_lines(t);
        if t.trim_start().starts_with('{')
            && let Ok(n) = xarf::parse(&t)
        {
            notices.push(n);
            continue;
        }
        let blocks = acns::find_blocks(&t);
        // The text around the XML: what the sender wrote for people, to compare.
        let mut prose = String::new();
        let mut last = 0;
        for &(a, b) in &blocks {
            prose.push_str(t.get(last..a).unwrap_or(""));
            last = b;
        }
        prose.push_str(t.get(last..).unwrap_or(""));
        let from_text = text::parse(&prose);
        for &(a, b) in &blocks {
            let Some(xml) = t.get(a..b) else { continue };
            let key = squeeze(xml);
            if seen_xml.contains(&key) {
                continue;
            }
            seen_xml.push(key);
            match acns::parse(xml) {
                Ok(mut n) => {
                    if let Some(tn) = &from_text {
                        compare(&mut n, tn);
                    }
                    notices.push(n);
                }
                Err(e) => errors.push(e),
            }
        }
        if blocks.is_empty()
            && plain.is_none()
            && let Some(n) = from_text
        {
            plain = Some(n);
        }
    }
    // Free text counts only where no structured notice was found.
    if notices.is_empty()
        && let Some(n) = plain
    {
        notices.push(n);
    }
    // The same notice as XML in the text and as an attachment, told apart by content.
    let mut unique: Vec<Notice> = Vec::new();
    for n in notices {
        if !unique.iter().any(|u| same_notice(u, &n)) {
            unique.push(n);
        }
    }
    let error = if unique.is_empty() {
        Some(errors.into_iter().next().unwrap_or_else(|| {
            "no notice found (no ACNS XML, no X-ARF JSON, no `IP Address:` line)".into()
        }))
    } else {
        None
    };
    Parsed {
        notices: unique,
        error,
    }
}

fn same_notice(a: &Notice, b: &Notice) -> bool {
    (&a.case_id, a.ip, a.port, a.time, &a.infohash, &a.filename)
        == (&b.case_id, b.ip, b.port, b.time, &b.infohash, &b.filename)
}

/// Notes where the people-readable text and the XML of one mail disagree, and takes from the
/// text what the XML lacks (Irdeto's info-hash is only in its text, as `Bay ID`).
fn compare(xml: &mut Notice, txt: &Notice) {
    fn check<T: PartialEq + std::fmt::Debug>(
        problems: &mut Vec<String>,
        what: &str,
        x: &Option<T>,
        t: &Option<T>,
    ) {
        if let (Some(x), Some(t)) = (x, t)
            && x != t
        {
            problems.push(format!(
                "text and XML disagree on the {what}: text {t:?}, XML {x:?}"
            ));
        }
    }
    check(&mut xml.problems, "address", &xml.ip, &txt.ip);
    check(&mut xml.problems, "port", &xml.port, &txt.port);
    if let (Some(x), Some(t)) = (xml.filesize, txt.filesize)
        && x.abs_diff(t) >= txt.filesize_unit.max(1)
    {
        xml.problems.push(format!(
            "text and XML disagree on the file size: text {t}, XML {x}"
        ));
    }
    check(&mut xml.problems, "info-hash", &xml.infohash, &txt.infohash);
    check(&mut xml.problems, "time", &xml.time, &txt.time);
    if xml.infohash.is_none()
        && let Some(h) = &txt.infohash
    {
        xml.infohash = Some(h.clone());
        xml.problems
            .push("info-hash taken from the text (the XML has none)".into());
    }
}

/// Cuts an mbox file into its messages (at lines starting `From `).
pub fn split_mbox(bytes: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at..].starts_with(b"From ") && (at == 0 || bytes[at - 1] == b'\n') {
            starts.push(at);
        }
        match bytes[at..].iter().position(|b| *b == b'\n') {
            Some(p) => at += p + 1,
            None => break,
        }
    }
    if starts.is_empty() {
        return vec![bytes];
    }
    let mut out = Vec::new();
    for (i, s) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(bytes.len());
        out.push(&bytes[*s..e]);
    }
    out
}

#[cfg(test)]
mod tests;
