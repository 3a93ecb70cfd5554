//! ACNS 2.0 `Infringement` documents, of every version: 0.6 and 0.7 (no namespace), 1.0 and
//! 1.1 (`http://www.movielabs.com/ACNS`), 1.2 (`http://www.acns.net/ACNS`). Elements are
//! matched by local name, so any namespace or prefix is read alike.

use crate::values;
use crate::{Format, Notice};

/// Byte ranges of the `<Infringement …>…</Infringement>` documents in `text` (any prefix).
pub fn find_blocks(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = find_open(text, from) {
        let Some(end) = find_close(text, start) else {
            // An opening without its end: the rest, for the parser to say what is wrong.
            out.push((start, text.len()));
            break;
        };
        out.push((start, end));
        from = end;
    }
    out
}

/// The next `<Infringement` or `<prefix:Infringement` start tag at or after `from`.
fn find_open(text: &str, from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let rel = text.get(at..)?.find("Infringement")?;
        let pos = at + rel;
        let before = text.get(..pos)?;
        let lt = before.rfind('<');
        let after = text.get(pos + 12..)?.chars().next();
        if let Some(lt) = lt {
            let between = &before[lt + 1..];
            let is_prefix = between.is_empty()
                || (between.ends_with(':')
                    && between[..between.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
            if is_prefix && after.is_some_and(|c| c.is_whitespace() || c == '>') {
                return Some(lt);
            }
        }
        at = pos + 12;
    }
}

/// The end of the `</…Infringement>` closing the document that starts at `start`.
fn find_close(text: &str, start: usize) -> Option<usize> {
    let mut at = start;
    loop {
        let rel = text.get(at..)?.find("Infringement>")?;
        let pos = at + rel;
        let before = text.get(start..pos)?;
        if let Some(lt) = before.rfind("</")
            && before[lt + 2..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ':')
        {
            return Some(pos + 13);
        }
        at = pos + 13;
    }
}

/// `&` not starting an entity or character reference becomes `&amp;` (senders write
/// `AT&T` in element text).
pub fn escape_ampersands(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let reference = after.find(';').is_some_and(|j| {
            let name = &after[..j];
            j <= 10
                && !name.is_empty()
                && (name.chars().all(|c| c.is_ascii_alphanumeric())
                    || (name.starts_with('#')
                        && name[1..].chars().all(|c| c.is_ascii_alphanumeric())))
        });
        out.push_str(if reference { "&" } else { "&amp;" });
        rest = after;
    }
    out.push_str(rest);
    out.into()
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name().eq_ignore_ascii_case(name))
}

fn text_of(n: Option<roxmltree::Node<'_, '_>>) -> Option<String> {
    let t: String = n?
        .descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect();
    // A value on several lines (an address) is joined; one line keeps its spaces (file names).
    let t = if t.trim().contains('\n') {
        t.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        t.trim().to_string()
    };
    (!t.is_empty()).then_some(t)
}

/// Reads one `Infringement` document.
pub fn parse(xml: &str) -> Result<Notice, String> {
    let xml = escape_ampersands(xml);
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 200_000,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&xml, opts)
        .map_err(|e| format!("ACNS XML: {e}"))?;
    let root = doc.root_element();
    if !root.tag_name().name().eq_ignore_ascii_case("Infringement") {
        return Err(format!(
            "ACNS XML: the document is <{}>, not <Infringement>",
            root.tag_name().name()
        ));
    }
    let ns = root.tag_name().namespace().unwrap_or("");
    let location = root
        .attributes()
        .find(|a| a.name().ends_with("schemaLocation") || a.name().ends_with("SchemaLocation"))
        .map(|a| a.value().to_string())
        .unwrap_or_default();
    let version = if ns.contains("acns.net") {
        "1.2"
    } else if ns.contains("movielabs") {
        if location.contains("v1.0") || location.contains("1_0") {
            "1.0"
        } else {
            "1.1"
        }
    } else if location.contains("0.7") {
        "0.7"
    } else {
        "0.6"
    };
    let mut n = Notice {
        format: Format::Acns(version.to_string()),
        ..Notice::default()
    };
    let case = child(root, "Case");
    n.case_id = text_of(case.and_then(|c| child(c, "ID")));
    n.complainant = text_of(child(root, "Complainant").and_then(|c| child(c, "Entity")));
    let source = child(root, "Source");
    if let Some(ip) = text_of(source.and_then(|s| child(s, "IP_Address"))) {
        match ip.parse() {
            Ok(a) => n.ip = Some(a),
            Err(_) => n
                .problems
                .push(format!("IP_Address {ip:?} is not an IP address")),
        }
    }
    if let Some(p) = text_of(source.and_then(|s| child(s, "Port"))) {
        match p.parse::<u16>() {
            Ok(p) => n.port = Some(p),
            Err(_) => n.problems.push(format!("Port {p:?} is not a port number")),
        }
    }
    n.protocol = source
        .and_then(|s| child(s, "SubType"))
        .and_then(|s| s.attribute("Protocol"))
        .map(str::to_string)
        .or_else(|| text_of(source.and_then(|s| child(s, "Type"))));
    let items: Vec<_> = child(root, "Content")
        .map(|c| {
            c.children()
                .filter(|i| i.is_element() && i.tag_name().name().eq_ignore_ascii_case("Item"))
                .collect()
        })
        .unwrap_or_default();
    let item = items
        .iter()
        .find(|i| child(**i, "Hash").is_some())
        .or(items.first())
        .copied();
    if items.len() > 1 {
        n.problems.push(format!(
            "{} content items; the first{} is checked",
            items.len(),
            if item.is_some_and(|i| child(i, "Hash").is_some()) {
                " with a hash"
            } else {
                ""
            }
        ));
    }
    let stamp = text_of(source.and_then(|s| child(s, "TimeStamp")))
        .or_else(|| text_of(item.and_then(|i| child(i, "TimeStamp"))));
    if let Some(s) = stamp {
        match values::time(&s) {
            Some(w) => {
                n.time = Some(w.secs);
                n.problems.extend(w.problem);
            }
            None => n.problems.push(format!("TimeStamp {s:?} is not a time")),
        }
    }
    if let Some(i) = item {
        n.title = text_of(child(i, "Title"));
        n.filename = text_of(child(i, "FileName"));
        if let Some(s) = text_of(child(i, "FileSize")) {
            match values::size(&s) {
                Some(v) => n.filesize = Some(v),
                None => n.problems.push(format!("FileSize {s:?} is not a size")),
            }
        }
        if let Some(h) = text_of(child(i, "Hash")) {
            match values::infohash(&h) {
                Some(v) => n.infohash = Some(v),
                None => n.problems.push(format!(
                    "Hash {h:?} is not 40 hex digits (nor base32, nor a magnet link): taken as no hash"
                )),
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_with_or_without_prefix() {
        let t = "x <Infringement a='1'><b/></Infringement> y <acns:Infringement>z</acns:Infringement> <Infringements>";
        let b = find_blocks(t);
        assert_eq!(b.len(), 2);
        assert!(t[b[0].0..b[0].1].starts_with("<Infringement a"));
        assert!(t[b[1].0..b[1].1].ends_with("</acns:Infringement>"));
        assert_eq!(find_blocks("no notice here"), vec![]);
        let cut = "<Infringement><Case>";
        assert_eq!(find_blocks(cut), vec![(0, cut.len())]);
    }

    #[test]
    fn ampersands() {
        assert_eq!(
            escape_ampersands("AT&T &amp; &#38; &lt;"),
            "AT&amp;T &amp; &#38; &lt;"
        );
        assert_eq!(escape_ampersands("a & b"), "a &amp; b");
    }

    #[test]
    fn minimal_with_unescaped_ampersand() {
        let x = "<Infringement><Case><ID>7</ID></Case><Complainant><Entity>AT&T Films</Entity></Complainant>\
                 <Source><TimeStamp>2026-11-14T21:07:44Z</TimeStamp><IP_Address>2001:db8::7</IP_Address><Port>6881</Port></Source>\
                 <Content><Item><FileSize>5</FileSize><Hash Type='SHA1'>zz</Hash></Item></Content></Infringement>";
        let n = parse(x).unwrap();
        assert_eq!(n.complainant.as_deref(), Some("AT&T Films"));
        assert_eq!(n.ip, Some("2001:db8::7".parse().unwrap()));
        assert_eq!(n.port, Some(6881));
        assert_eq!(n.infohash, None);
        assert!(
            n.problems.iter().any(|p| p.contains("not 40 hex")),
            "{:?}",
            n.problems
        );
        assert!(
            parse("<Infringement><Case>")
                .unwrap_err()
                .starts_with("ACNS XML:")
        );
        assert!(
            parse("<Other/>")
                .unwrap_err()
                .contains("not <Infringement>")
        );
    }
}
