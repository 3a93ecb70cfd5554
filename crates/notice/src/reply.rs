//! Reply drafts: a text for each verdict and operator profile, from templates the operator can
//! replace, and an ACNS `NoticeAck` for notices that came as ACNS. Drafts are never sent by
//! swarmwall; they state what the evidence shows, and leave what the operator did to the
//! operator (bracketed prompts in the default templates).
//!
//! Templates: `<verdict>.txt` (`corroborated.txt`, `other-torrent.txt`, `no-bittorrent.txt`,
//! `not-observed.txt`, `unparseable.txt`) and `profile-<profile>-<corroborated|other>.txt` (the
//! paragraph about the kind of network: `tor-exit`, `vpn-or-proxy`, `isp`, `hosting`). A
//! template's `{name}` placeholders are filled: `subject`, `complainant`, `case_ref` (` (case
//! X)` or nothing), `case_ref_bare`, `ip`, `port_ref` (` from port P` or nothing), `time`,
//! `tolerance`, `torrent_ref`, `evidence`, `reasons`, `profile`, `operator`, `verdict`.

use std::collections::HashMap;

use crate::Notice;
use crate::verdict::Verdict;

/// The kinds of network an operator answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    TorExit,
    VpnOrProxy,
    Isp,
    Hosting,
}

impl Profile {
    pub const ALL: [Profile; 4] = [
        Profile::TorExit,
        Profile::VpnOrProxy,
        Profile::Isp,
        Profile::Hosting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::TorExit => "tor-exit",
            Profile::VpnOrProxy => "vpn-or-proxy",
            Profile::Isp => "isp",
            Profile::Hosting => "hosting",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The default templates, built in.
const DEFAULTS: &[(&str, &str)] = &[
    (
        "corroborated.txt",
        include_str!("../templates/corroborated.txt"),
    ),
    (
        "other-torrent.txt",
        include_str!("../templates/other-torrent.txt"),
    ),
    (
        "no-bittorrent.txt",
        include_str!("../templates/no-bittorrent.txt"),
    ),
    (
        "not-observed.txt",
        include_str!("../templates/not-observed.txt"),
    ),
    (
        "unparseable.txt",
        include_str!("../templates/unparseable.txt"),
    ),
    (
        "profile-tor-exit-corroborated.txt",
        include_str!("../templates/profile-tor-exit-corroborated.txt"),
    ),
    (
        "profile-tor-exit-other.txt",
        include_str!("../templates/profile-tor-exit-other.txt"),
    ),
    (
        "profile-vpn-or-proxy-corroborated.txt",
        include_str!("../templates/profile-vpn-or-proxy-corroborated.txt"),
    ),
    (
        "profile-vpn-or-proxy-other.txt",
        include_str!("../templates/profile-vpn-or-proxy-other.txt"),
    ),
    (
        "profile-isp-corroborated.txt",
        include_str!("../templates/profile-isp-corroborated.txt"),
    ),
    (
        "profile-isp-other.txt",
        include_str!("../templates/profile-isp-other.txt"),
    ),
    (
        "profile-hosting-corroborated.txt",
        include_str!("../templates/profile-hosting-corroborated.txt"),
    ),
    (
        "profile-hosting-other.txt",
        include_str!("../templates/profile-hosting-other.txt"),
    ),
];

/// The templates in use: the defaults, some replaced by the operator's.
#[derive(Debug, Clone)]
pub struct Templates(HashMap<String, String>);

impl Default for Templates {
    fn default() -> Self {
        Templates(
            DEFAULTS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl Templates {
    /// The names of the templates (to look for replacements).
    pub fn names() -> impl Iterator<Item = &'static str> {
        DEFAULTS.iter().map(|(k, _)| *k)
    }

    /// Replaces one template (`name` as in [`Templates::names`]).
    pub fn set(&mut self, name: &str, text: String) {
        self.0.insert(name.to_string(), text);
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// One template's text.
    pub fn text(&self, name: &str) -> &str {
        self.get(name)
    }
}

/// What a reply is about.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub notice: Option<&'a Notice>,
    pub verdict: Verdict,
    pub reasons: &'a [String],
    /// The matching flows, one line each (`first .. last  port P → peer port Q  kind  torrents`).
    pub evidence: &'a [String],
    pub tolerance_min: u32,
    /// The signature: the operator's name and contact.
    pub operator: &'a str,
    /// The notice mail's subject, when known.
    pub subject: Option<&'a str>,
}

fn fill(template: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if vars.contains_key(&after[..close]) => {
                out.push_str(&vars[&after[..close]]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A draft reply as text.
pub fn draft(profile: Profile, c: &Context<'_>, t: &Templates) -> String {
    let n = c.notice;
    let field = |f: fn(&Notice) -> Option<String>| n.and_then(f);
    let case = field(|n| n.case_id.clone());
    let mut v: HashMap<&str, String> = HashMap::new();
    v.insert(
        "subject",
        c.subject
            .map(str::to_string)
            .or_else(|| case.as_ref().map(|k| format!("your notice {k}")))
            .unwrap_or_else(|| "your notice".into()),
    );
    v.insert(
        "complainant",
        field(|n| n.complainant.clone()).unwrap_or_else(|| "whom it may concern".into()),
    );
    v.insert(
        "case_ref",
        case.as_ref()
            .map(|k| format!(" (case {k})"))
            .unwrap_or_default(),
    );
    v.insert(
        "case_ref_bare",
        case.as_ref().map(|k| format!(" {k},")).unwrap_or_default(),
    );
    v.insert(
        "ip",
        field(|n| n.ip.map(|i| i.to_string())).unwrap_or_else(|| "the address".into()),
    );
    v.insert(
        "port_ref",
        field(|n| n.port.map(|p| format!(" from port {p}"))).unwrap_or_default(),
    );
    v.insert(
        "time",
        field(|n| n.time.map(rfc3339)).unwrap_or_else(|| "the time given".into()),
    );
    v.insert("tolerance", c.tolerance_min.to_string());
    v.insert(
        "torrent_ref",
        field(|n| n.infohash.as_ref().map(|h| format!(", of the torrent {h}"))).unwrap_or_default(),
    );
    v.insert(
        "evidence",
        if c.evidence.is_empty() {
            "  (no BitTorrent flow recorded)".into()
        } else {
            c.evidence
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    v.insert("reasons", c.reasons.join("; "));
    v.insert("operator", c.operator.to_string());
    v.insert("verdict", c.verdict.as_str().to_string());
    let class = if c.verdict == Verdict::Corroborated {
        "corroborated"
    } else {
        "other"
    };
    let profile_text = fill(
        t.get(&format!("profile-{}-{class}.txt", profile.as_str())),
        &v,
    );
    v.insert("profile", profile_text.trim_end().to_string());
    let body = fill(t.get(&format!("{}.txt", c.verdict.as_str())), &v);
    // No run of blank lines where a placeholder was empty.
    let mut out = String::new();
    let mut blank = 0;
    for line in body.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An ACNS 2.0 `NoticeAck` (as the ACNS 1.2 schema defines it, element names included) for a
/// notice that came as ACNS. `Accepted` is false only when the address is not ours
/// (`IP_OUT_OF_RANGE`).
pub fn notice_ack(
    n: &Notice,
    verdict: Verdict,
    reasons: &[String],
    provider: &str,
    provider_email: &str,
    now: i64,
) -> String {
    let out_of_range = verdict == Verdict::NotObserved
        && reasons.iter().any(|r| r.contains("not a local address"));
    let notes = format!("{}: {}", verdict.as_str(), reasons.join("; "));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <NoticeAck xmlns=\"http://www.acns.net/ACNS\" Accepted=\"{}\"{} TimeStamp=\"{}\">\n \
         <Case><ID>{}</ID></Case>\n \
         <Complianant><Entity>{}</Entity></Complianant>\n \
         <Service_Provider><Entity>{}</Entity><Email>{}</Email></Service_Provider>\n \
         <Notes>{}</Notes>\n\
         </NoticeAck>\n",
        !out_of_range,
        if out_of_range {
            " RejectReason=\"IP_OUT_OF_RANGE\""
        } else {
            ""
        },
        rfc3339(now),
        xml_escape(n.case_id.as_deref().unwrap_or("")),
        xml_escape(n.complainant.as_deref().unwrap_or("")),
        xml_escape(provider),
        xml_escape(provider_email),
        xml_escape(&notes),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            format: crate::Format::Acns("1.2".into()),
            case_id: Some("C-1".into()),
            complainant: Some("Films & Co".into()),
            ip: Some("192.0.2.7".parse().unwrap()),
            port: Some(6881),
            time: Some(1_794_708_464),
            infohash: Some("ab".repeat(20)),
            ..Notice::default()
        }
    }

    #[test]
    fn every_verdict_and_profile_has_a_filled_draft() {
        let n = notice();
        let t = Templates::default();
        let evidence =
            vec!["2026-11-15T02:07:40Z .. 02:08:10Z  port 6881  peer-tcp  abab…".to_string()];
        for v in [
            Verdict::Corroborated,
            Verdict::OtherTorrent,
            Verdict::NoBittorrent,
            Verdict::NotObserved,
            Verdict::Unparseable,
        ] {
            for p in Profile::ALL {
                let reasons = vec![format!("reason for {}", v.as_str())];
                let d = draft(
                    p,
                    &Context {
                        notice: Some(&n),
                        verdict: v,
                        reasons: &reasons,
                        evidence: &evidence,
                        tolerance_min: 10,
                        operator: "Example Relay Operator",
                        subject: None,
                    },
                    &t,
                );
                assert!(d.contains("Films & Co") && d.contains("case C-1"), "{d}");
                assert!(d.contains("Example Relay Operator"));
                assert!(
                    !d.contains('{') && !d.contains('}'),
                    "unfilled placeholder:\n{d}"
                );
                assert!(!d.contains("\n\n\n"));
                if v != Verdict::Unparseable {
                    assert!(d.contains("192.0.2.7"), "{d}");
                }
                if v == Verdict::Corroborated {
                    assert!(d.contains("port 6881  peer-tcp"));
                }
            }
        }
    }

    #[test]
    fn operator_templates_replace_the_defaults() {
        let mut t = Templates::default();
        t.set(
            "not-observed.txt",
            "No record of {ip} at {time}. {unknown} — {operator}".into(),
        );
        let n = notice();
        let d = draft(
            Profile::Isp,
            &Context {
                notice: Some(&n),
                verdict: Verdict::NotObserved,
                reasons: &[],
                evidence: &[],
                tolerance_min: 10,
                operator: "ISP",
                subject: None,
            },
            &t,
        );
        assert_eq!(
            d,
            "No record of 192.0.2.7 at 2026-11-15T02:07:44Z. {unknown} — ISP\n"
        );
    }

    #[test]
    fn notice_ack_follows_the_schema() {
        let n = notice();
        let x = notice_ack(
            &n,
            Verdict::NotObserved,
            &["the address is not a local address".into()],
            "ISP & Co",
            "abuse@isp.test",
            0,
        );
        let doc = roxmltree::Document::parse(&x).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "NoticeAck");
        assert_eq!(root.attribute("Accepted"), Some("false"));
        assert_eq!(root.attribute("RejectReason"), Some("IP_OUT_OF_RANGE"));
        let names: Vec<&str> = root
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
        assert_eq!(names, ["Case", "Complianant", "Service_Provider", "Notes"]);
        let x = notice_ack(&n, Verdict::Corroborated, &[], "ISP", "a@b", 0);
        assert!(x.contains("Accepted=\"true\"") && !x.contains("RejectReason"));
    }
}
