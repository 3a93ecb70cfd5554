//! Reading a policy file: the TOML model, then checks that name the line and column of the
//! first problem.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bt::InfoHash;
use bt::metainfo::{parse_infohash, torrent_infohashes};
use engine::{Confidence, Kind, KindSet};
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::{Action, Direction, MARKS, Policy, Rule};

/// Why a policy could not be loaded: one line, `file:line:column: what was expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.at {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Error {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    default: Option<Spanned<String>>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    local: Vec<Spanned<String>>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RuleSpec>>,
    dht: Option<DhtSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: Option<String>,
    app: Option<Spanned<String>>,
    kind: Option<Spanned<OneOrMany>>,
    encrypted: Option<bool>,
    confidence: Option<Spanned<String>>,
    infohashes: Option<Vec<Spanned<String>>>,
    infohash_files: Option<Vec<Spanned<String>>>,
    local: Option<Vec<Spanned<String>>>,
    direction: Option<Spanned<String>>,
    action: Spanned<String>,
    mark: Option<Spanned<i64>>,
    log: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DhtSpec {
    #[serde(default)]
    refuse: Vec<Spanned<String>>,
    #[serde(default)]
    refuse_files: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Parses the policy in `text`, read from `file`; `read` reads the files it names (info-hash
/// lists and .torrent files, relative to `file`'s directory).
pub fn parse(
    file: &Path,
    text: &str,
    read: &mut dyn FnMut(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Policy, Error> {
    let at = |span: Range<usize>| Some(line_col(text, span.start));
    let err = |span: Option<Range<usize>>, message: String| Error {
        file: file.to_path_buf(),
        at: span.and_then(at),
        message,
    };
    let spec: FileSpec = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().replace('\n', "; ");
        err(e.span(), message)
    })?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut policy = Policy::default();
    if let Some(d) = &spec.default {
        policy.default = action(d.get_ref(), None)
            .ok_or_else(|| err(Some(d.span()), expected_action(d.get_ref())))?
            .ok_or_else(|| err(Some(d.span()), "the default cannot be \"log\"".into()))?;
    }
    policy.dry_run = spec.dry_run;
    policy.local = nets(&spec.local).map_err(|(s, m)| err(Some(s), m))?;
    for (i, r) in spec.rules.iter().enumerate() {
        let rule_span = r.span();
        let r = r.get_ref();
        let n = i + 1;
        let mut rule = Rule {
            name: r.name.clone().unwrap_or_else(|| format!("rule {n}")),
            app: false,
            kinds: None,
            encrypted: r.encrypted,
            confidence: Confidence::Likely,
            confidence_set: r.confidence.is_some(),
            infohashes: None,
            local: None,
            direction: None,
            action: None,
            log: false,
        };
        if let Some(app) = &r.app {
            rule.app =
                keyword(app, "app", &[("bittorrent", true)]).map_err(|(s, m)| err(Some(s), m))?;
        }
        if let Some(k) = &r.kind {
            let names: Vec<&str> = match k.get_ref() {
                OneOrMany::One(s) => vec![s],
                OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
            };
            let mut set = KindSet::default();
            for name in names {
                let kind = Kind::ALL
                    .into_iter()
                    .find(|k| k.as_str() == name)
                    .ok_or_else(|| {
                        err(
                            Some(k.span()),
                            format!("unknown kind {name:?}: expected one of {}", kind_names()),
                        )
                    })?;
                set.insert(kind);
            }
            if set.is_empty() {
                return Err(err(
                    Some(k.span()),
                    "an empty kind list matches nothing".into(),
                ));
            }
            rule.kinds = Some(set);
        }
        if let Some(c) = &r.confidence {
            rule.confidence = keyword(
                c,
                "confidence",
                &[
                    ("certain", Confidence::Certain),
                    ("likely", Confidence::Likely),
                    ("suspect", Confidence::Suspect),
                ],
            )
            .map_err(|(s, m)| err(Some(s), m))?;
        }
        if r.infohashes.is_some() || r.infohash_files.is_some() {
            let mut set = HashSet::new();
            for h in r.infohashes.iter().flatten() {
                set.extend(
                    parse_infohash(h.get_ref()).map_err(|e| err(Some(h.span()), e.to_string()))?,
                );
            }
            for f in r.infohash_files.iter().flatten() {
                set.extend(list_file(dir, f, read).map_err(|(span, m)| match span {
                    Some(span) => err(Some(span), m),
                    None => Error {
                        file: file.to_path_buf(),
                        at: None,
                        message: m,
                    },
                })?);
            }
            if set.is_empty() {
                return Err(err(
                    Some(rule_span.clone()),
                    format!("rule {n}: its info-hash lists are empty"),
                ));
            }
            rule.infohashes = Some(set);
        }
        if let Some(l) = &r.local {
            rule.local = Some(nets(l).map_err(|(s, m)| err(Some(s), m))?);
        }
        if let Some(d) = &r.direction {
            rule.direction = Some(
                keyword(
                    d,
                    "direction",
                    &[
                        ("outbound", Direction::Outbound),
                        ("inbound", Direction::Inbound),
                    ],
                )
                .map_err(|(s, m)| err(Some(s), m))?,
            );
            if rule.local.is_none() && policy.local.is_empty() {
                return Err(err(
                    Some(d.span()),
                    "a direction needs the local networks: set `local` at the top or in the rule"
                        .into(),
                ));
            }
        }
        let a = &r.action;
        rule.action = action(a.get_ref(), r.mark.as_ref().map(|m| *m.get_ref()))
            .ok_or_else(|| err(Some(a.span()), expected_action(a.get_ref())))?;
        match (rule.action, &r.mark) {
            (Some(Action::Mark(0)), Some(m)) => {
                return Err(err(
                    Some(m.span()),
                    format!("mark {} is out of range: expected 1 to 15", m.get_ref()),
                ));
            }
            (Some(Action::Mark(0)), None) => {
                return Err(err(
                    Some(a.span()),
                    "action \"mark\" needs `mark = N` (1 to 15)".into(),
                ));
            }
            (Some(Action::Mark(_)), _) | (_, None) => {}
            (_, Some(m)) => {
                return Err(err(
                    Some(m.span()),
                    "`mark` goes with action = \"mark\"".into(),
                ));
            }
        }
        let conditions = rule.app
            || rule.kinds.is_some()
            || rule.encrypted.is_some()
            || r.confidence.is_some()
            || rule.infohashes.is_some()
            || rule.local.is_some()
            || rule.direction.is_some();
        if !conditions {
            return Err(err(
                Some(rule_span),
                format!("rule {n} has no condition (use `default` for what matches everything)"),
            ));
        }
        rule.log = r.log.unwrap_or(!matches!(rule.action, Some(Action::Allow)));
        policy.rules.push(rule);
    }
    if let Some(dht) = &spec.dht {
        for h in &dht.refuse {
            policy.refuse_dht.extend(
                parse_infohash(h.get_ref()).map_err(|e| err(Some(h.span()), e.to_string()))?,
            );
        }
        for f in &dht.refuse_files {
            policy
                .refuse_dht
                .extend(list_file(dir, f, read).map_err(|(span, m)| match span {
                    Some(span) => err(Some(span), m),
                    None => Error {
                        file: file.to_path_buf(),
                        at: None,
                        message: m,
                    },
                })?);
        }
    }
    Ok(policy)
}

/// `Some(None)`: "log". `None`: not an action. A mark out of range gives `Mark(0)`.
fn action(name: &str, mark: Option<i64>) -> Option<Option<Action>> {
    Some(Some(match name {
        "allow" => Action::Allow,
        "drop" => Action::Drop,
        "reject" => Action::Reject,
        "mark" => Action::Mark(
            mark.and_then(|m| u8::try_from(m).ok())
                .filter(|m| MARKS.contains(m))
                .unwrap_or(0),
        ),
        "log" => return Some(None),
        _ => return None,
    }))
}

fn expected_action(got: &str) -> String {
    format!("unknown action {got:?}: expected \"allow\", \"drop\", \"reject\", \"mark\" or \"log\"")
}

/// The value of a setting that is one of a few words: `choices`, or a message naming them.
fn keyword<T: Copy>(
    v: &Spanned<String>,
    what: &str,
    choices: &[(&str, T)],
) -> Result<T, (Range<usize>, String)> {
    if let Some(&(_, t)) = choices.iter().find(|(name, _)| *name == v.get_ref()) {
        return Ok(t);
    }
    let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
    let expected = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    };
    Err((
        v.span(),
        format!("unknown {what} {:?}: expected {expected}", v.get_ref()),
    ))
}

fn kind_names() -> String {
    Kind::ALL
        .iter()
        .map(|k| format!("{:?}", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn nets(list: &[Spanned<String>]) -> Result<Vec<IpNet>, (Range<usize>, String)> {
    list.iter()
        .map(|s| {
            let t = s.get_ref().trim();
            t.parse::<IpNet>()
                .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    (
                        s.span(),
                        format!("{t:?} is not a network: expected an address or CIDR like \"10.0.0.0/8\""),
                    )
                })
        })
        .collect()
}

/// Reads an info-hash list (one per line, `#` comments) or a .torrent file.
fn list_file(
    dir: &Path,
    name: &Spanned<String>,
    read: &mut dyn FnMut(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Vec<InfoHash>, (Option<Range<usize>>, String)> {
    let path = dir.join(name.get_ref());
    let bytes = read(&path).map_err(|e| (Some(name.span()), format!("{}: {e}", path.display())))?;
    if bytes.first() == Some(&b'd') {
        return torrent_infohashes(&bytes).map_err(|e| (None, format!("{}: {e}", path.display())));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        (
            None,
            format!(
                "{}: byte {}: not UTF-8 text",
                path.display(),
                e.valid_up_to()
            ),
        )
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.extend(
            parse_infohash(line)
                .map_err(|e| (None, format!("{}:{}: {e}", path.display(), i + 1)))?,
        );
    }
    Ok(out)
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Policy, Error> {
        parse(Path::new("/etc/p.toml"), text, &mut |p| {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no {}", p.display()),
            ))
        })
    }

    const H1: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn the_three_documented_examples() {
        let p = load(
            "# block every BitTorrent flow\ndefault = \"allow\"\n[[rule]]\napp = \"bittorrent\"\naction = \"drop\"\n",
        )
        .unwrap();
        assert_eq!(p.default, Action::Allow);
        assert_eq!(p.rules.len(), 1);
        assert!(p.rules[0].app && p.rules[0].log);
        assert_eq!(p.rules[0].action, Some(Action::Drop));

        let p = load(&format!(
            "# block two torrents, allow everything else (hex or magnet)\ndefault = \"allow\"\n[[rule]]\ninfohashes = [\"{H1}\", \"magnet:?xt=urn:btih:89abcdef0123456789abcdef0123456789abcdef\"]\naction = \"drop\"\n"
        ))
        .unwrap();
        let set = p.rules[0].infohashes.as_ref().unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.contains(&InfoHash::from_hex(H1.as_bytes()).unwrap()));

        let p = load(&format!(
            "# conscientious objection: do not help anyone find these torrents through the DHT\ndefault = \"allow\"\n[dht]\nrefuse = [\"{H1}\"]\n"
        ))
        .unwrap();
        assert!(p.rules.is_empty());
        assert_eq!(p.refuse_dht.len(), 1);
    }

    #[test]
    fn every_field() {
        let p = load(&format!(
            r#"default = "drop"
dry_run = true
local = ["10.77.0.0/16", "fd00::/8", "192.0.2.1"]
[[rule]]
name = "objectionable"
infohashes = ["{H1}"]
action = "reject"
[[rule]]
kind = ["peer-tcp", "peer-utp"]
encrypted = true
confidence = "suspect"
direction = "outbound"
action = "mark"
mark = 7
log = true
[[rule]]
kind = "dht"
local = ["10.77.1.0/24"]
action = "log"
[[rule]]
app = "bittorrent"
action = "allow"
"#
        ))
        .unwrap();
        assert_eq!(
            (p.default, p.dry_run, p.local.len()),
            (Action::Drop, true, 3)
        );
        assert_eq!(p.rules[0].name, "objectionable");
        assert_eq!(p.rules[1].action, Some(Action::Mark(7)));
        assert_eq!(p.rules[1].confidence, Confidence::Suspect);
        assert_eq!(p.rules[1].direction, Some(Direction::Outbound));
        assert!(p.rules[1].kinds.unwrap().contains(Kind::PeerUtp));
        assert_eq!(
            (p.rules[2].name.as_str(), p.rules[2].action),
            ("rule 3", None)
        );
        assert!(!p.rules[3].log, "allow rules are not logged unless asked");
        assert!(p.summary().contains("dry run"));
    }

    #[test]
    fn files_relative_to_the_policy() {
        let mut seen = Vec::new();
        let p = parse(
            Path::new("/etc/swarmwall/p.toml"),
            "[[rule]]\ninfohash_files = [\"list.txt\"]\naction = \"drop\"\n[dht]\nrefuse_files = [\"r.txt\"]\n",
            &mut |path| {
                seen.push(path.to_path_buf());
                Ok(format!("# listed\n{H1}  # a comment\n\nmagnet:?xt=urn:btih:{}\n", "ab".repeat(20)).into_bytes())
            },
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                PathBuf::from("/etc/swarmwall/list.txt"),
                PathBuf::from("/etc/swarmwall/r.txt")
            ]
        );
        assert_eq!(p.rules[0].infohashes.as_ref().unwrap().len(), 2);
        assert_eq!(p.refuse_dht.len(), 2);
    }

    #[test]
    fn errors_name_the_place_and_what_was_expected() {
        let cases: &[(&str, &str)] = &[
            (
                "default = \"deny\"\n",
                "/etc/p.toml:1:11: unknown action \"deny\"",
            ),
            (
                "default = \"log\"\n",
                "/etc/p.toml:1:11: the default cannot be \"log\"",
            ),
            (
                "[[rule]]\napp = \"bittorrent\"\nactoin = \"drop\"\n",
                "/etc/p.toml:3:1: unknown field `actoin`",
            ),
            (
                "[[rule]]\napp = \"emule\"\naction = \"drop\"\n",
                "/etc/p.toml:2:7: unknown app \"emule\"",
            ),
            (
                "[[rule]]\nkind = [\"dht\", \"tcp\"]\naction = \"drop\"\n",
                "/etc/p.toml:2:8: unknown kind \"tcp\": expected one of \"peer-tcp\"",
            ),
            (
                "[[rule]]\ninfohashes = [\"abc\"]\naction = \"drop\"\n",
                "/etc/p.toml:2:15: expected an info-hash",
            ),
            (
                "[[rule]]\napp = \"bittorrent\"\naction = \"mark\"\nmark = 16\n",
                "/etc/p.toml:4:8: mark 16 is out of range",
            ),
            (
                "[[rule]]\napp = \"bittorrent\"\naction = \"mark\"\n",
                "/etc/p.toml:3:10: action \"mark\" needs `mark = N`",
            ),
            (
                "[[rule]]\napp = \"bittorrent\"\naction = \"drop\"\nmark = 2\n",
                "/etc/p.toml:4:8: `mark` goes with action",
            ),
            (
                "[[rule]]\naction = \"drop\"\n",
                "/etc/p.toml:1:1: rule 1 has no condition",
            ),
            (
                "[[rule]]\napp = \"bittorrent\"\ndirection = \"outbound\"\naction = \"drop\"\n",
                "/etc/p.toml:3:13: a direction needs the local networks",
            ),
            (
                "local = [\"10.0.0.0/33\"]\n",
                "/etc/p.toml:1:10: \"10.0.0.0/33\" is not a network",
            ),
            (
                "[[rule]]\ninfohash_files = [\"x.txt\"]\naction = \"drop\"\n",
                "/etc/p.toml:2:19: /etc/x.txt: no /etc/x.txt",
            ),
            ("default = \n", "/etc/p.toml:1:11: "),
            (
                "[dht]\nrefuse = [\"nope\"]\n",
                "/etc/p.toml:2:11: expected an info-hash",
            ),
        ];
        for (text, want) in cases {
            let e = load(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}\n got: {e}\nwant: {want}");
            assert!(!e.contains('\n'), "one line: {e:?}");
        }
    }

    #[test]
    fn a_bad_list_file_names_its_line() {
        let e = parse(
            Path::new("p.toml"),
            "[[rule]]\ninfohash_files = [\"l.txt\"]\naction = \"drop\"\n",
            &mut |_| Ok(format!("{H1}\nnot-a-hash\n").into_bytes()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("p.toml: l.txt:2: expected an info-hash"),
            "{e}"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = load(&text);
        }
    }
}
