//! The repeat-infringer ledger's rules, pure: which recorded notices count as strikes against a
//! subscriber, and which step of a graduated policy a subscriber has reached.
//!
//! A notice is not proof: by default only corroborated notices are strikes (the policy may say
//! otherwise); a subscriber gets at most one strike per day (UTC, by the notice's time); the
//! same case id, or a byte-identical notice, counts once; a case id seen again with another
//! address is flagged (a sender's error, or a reused reference), not counted twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use crate::verdict::Verdict;

/// One notice as the ledger keeps it (pseudonymous: `subscriber` and `address` are keyed
/// pseudonyms, never the subscriber or the address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub subscriber: String,
    pub address: String,
    /// The notice's time (seconds since 1970, UTC).
    pub time: i64,
    pub case_id: Option<String>,
    /// A digest of the notice's bytes (byte-identical notices have the same).
    pub digest: String,
    pub verdict: Verdict,
}

/// Which notices count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Counting {
    /// Only corroborated notices (the default).
    #[default]
    Corroborated,
    /// Corroborated and other-torrent (BitTorrent of that address at that time).
    AnyBittorrent,
    /// Every notice received, whatever the evidence (not recommended).
    All,
}

/// One step of a graduated policy: reached with `strikes` strikes within `window_days`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    pub strikes: u32,
    pub window_days: u32,
}

/// A graduated response policy (TOML).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub count: Counting,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

impl Policy {
    /// Reads a policy; a one-line error on a mistake.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let p: Policy = toml::from_str(text).map_err(|e| e.to_string().replace('\n', " "))?;
        if p.steps.is_empty() {
            return Err("the policy has no [[step]]".into());
        }
        if p.steps.windows(2).any(|w| w[1].strikes <= w[0].strikes) {
            return Err("steps must need more strikes one after the other".into());
        }
        if p.steps.iter().any(|s| s.strikes == 0 || s.window_days == 0) {
            return Err("a step needs at least 1 strike in a window of at least 1 day".into());
        }
        Ok(p)
    }
}

/// What the ledger says of one subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Standing {
    pub subscriber: String,
    /// Notices received (each case and each identical notice once).
    pub notices: u32,
    pub corroborated: u32,
    /// Strikes counted, all time, and the days they fell on.
    pub strikes: u32,
    pub strike_days: Vec<i64>,
    /// The highest step reached at `now`, if any.
    pub step: Option<String>,
    /// Cases whose id came again with another address.
    pub flagged: Vec<String>,
}

const DAY: i64 = 86_400;

/// Every subscriber's standing at `now`.
pub fn standings(entries: &[Entry], policy: &Policy, now: i64) -> Vec<Standing> {
    // One entry per case (the first seen), per identical notice, in time order.
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| (a.time, &a.digest).cmp(&(b.time, &b.digest)));
    let mut seen_digest: HashSet<&str> = HashSet::new();
    let mut seen_case: HashMap<&str, &str> = HashMap::new();
    let mut by_sub: BTreeMap<&str, Standing> = BTreeMap::new();
    for e in sorted {
        let st = by_sub.entry(&e.subscriber).or_insert_with(|| Standing {
            subscriber: e.subscriber.clone(),
            ..Standing::default()
        });
        if !seen_digest.insert(&e.digest) {
            continue;
        }
        if let Some(case) = e.case_id.as_deref() {
            match seen_case.get(case) {
                Some(addr) if *addr != e.address => {
                    if !st.flagged.iter().any(|c| c == case) {
                        st.flagged.push(case.to_string());
                    }
                    continue;
                }
                Some(_) => continue,
                None => {
                    seen_case.insert(case, &e.address);
                }
            }
        }
        st.notices += 1;
        if e.verdict == Verdict::Corroborated {
            st.corroborated += 1;
        }
        let counts = match policy.count {
            Counting::Corroborated => e.verdict == Verdict::Corroborated,
            Counting::AnyBittorrent => {
                matches!(e.verdict, Verdict::Corroborated | Verdict::OtherTorrent)
            }
            Counting::All => e.verdict != Verdict::Unparseable,
        };
        let day = e.time.div_euclid(DAY);
        if counts && !st.strike_days.contains(&day) {
            st.strikes += 1;
            st.strike_days.push(day);
        }
    }
    for st in by_sub.values_mut() {
        st.step = policy
            .steps
            .iter()
            .rev()
            .find(|s| {
                let from = now.div_euclid(DAY) - i64::from(s.window_days) + 1;
                let within = st
                    .strike_days
                    .iter()
                    .filter(|d| (from..=now.div_euclid(DAY)).contains(*d))
                    .count();
                within >= s.strikes as usize
            })
            .map(|s| s.name.clone());
    }
    by_sub.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
        # strikes within a window reach a step
        [[step]]
        name = "first notice forwarded"
        strikes = 1
        window_days = 365

        [[step]]
        name = "second warning"
        strikes = 3
        window_days = 365

        [[step]]
        name = "termination review"
        strikes = 6
        window_days = 180
    "#;

    fn entry(sub: &str, day: i64, hour: i64, case: &str, verdict: Verdict) -> Entry {
        Entry {
            subscriber: sub.into(),
            address: format!("addr-{sub}"),
            time: 20_000 * DAY + day * DAY + hour * 3600,
            case_id: Some(case.into()),
            digest: format!("{sub}-{day}-{hour}-{case}"),
            verdict,
        }
    }

    #[test]
    fn a_year_of_notices() {
        let p = Policy::parse(POLICY).unwrap();
        let mut e = Vec::new();
        // Subscriber A: corroborated notices on 8 days over a year, three of them on one day.
        for (i, day) in [3, 40, 41, 41, 41, 100, 200, 250, 300, 340]
            .iter()
            .enumerate()
        {
            e.push(entry(
                "A",
                *day,
                i as i64 % 24,
                &format!("a{i}"),
                Verdict::Corroborated,
            ));
        }
        // The same case again (a resend), and a byte-identical copy: counted once.
        e.push(entry("A", 301, 1, "a8", Verdict::Corroborated));
        let dup = e[0].clone();
        e.push(dup);
        // Subscriber B: many notices, none corroborated: no strike, no step.
        for day in 0..30 {
            e.push(entry(
                "B",
                day * 10,
                5,
                &format!("b{day}"),
                Verdict::NotObserved,
            ));
        }
        e.push(entry("B", 5, 5, "b-other", Verdict::OtherTorrent));
        // A case id reused for another address: flagged, not counted.
        let mut reused = entry("C", 50, 1, "a3", Verdict::Corroborated);
        reused.address = "somewhere-else".into();
        e.push(reused);

        let now = 20_000 * DAY + 345 * DAY;
        let s = standings(&e, &p, now);
        let a = s.iter().find(|x| x.subscriber == "A").unwrap();
        assert_eq!(a.notices, 10, "resend and copy counted once");
        assert_eq!(a.corroborated, 10);
        assert_eq!(a.strikes, 8, "one strike per day: day 41 had three notices");
        // 180-day window back from day 345: days 200, 250, 300, 340 → 4 < 6.
        assert_eq!(a.step.as_deref(), Some("second warning"));
        let b = s.iter().find(|x| x.subscriber == "B").unwrap();
        assert_eq!((b.notices, b.strikes, b.step.clone()), (31, 0, None));
        let c = s.iter().find(|x| x.subscriber == "C").unwrap();
        assert_eq!((c.notices, c.strikes), (0, 0));
        assert_eq!(c.flagged, vec!["a3".to_string()]);
        // A policy that counts any BitTorrent gives B one strike.
        let any = Policy {
            count: Counting::AnyBittorrent,
            ..p.clone()
        };
        let b = standings(&e, &any, now)
            .into_iter()
            .find(|x| x.subscriber == "B")
            .unwrap();
        assert_eq!(b.strikes, 1);
        // A year and a half later, windows have passed: no step.
        let later = now + 550 * DAY;
        let a = standings(&e, &p, later)
            .into_iter()
            .find(|x| x.subscriber == "A")
            .unwrap();
        assert_eq!(a.step, None);
    }

    #[test]
    fn policies_are_checked() {
        assert!(Policy::parse("").unwrap_err().contains("step"));
        let e = Policy::parse("[[step]]\nname='a'\nstrikes=2\nwindow_days=1\n[[step]]\nname='b'\nstrikes=1\nwindow_days=1").unwrap_err();
        assert!(e.contains("more strikes"), "{e}");
        assert!(
            Policy::parse("count = 'maybe'\n[[step]]\nname='a'\nstrikes=1\nwindow_days=1").is_err()
        );
        assert!(
            Policy::parse("[[step]]\nname='a'\nstrikes=1\nwindow_days=1\ncolour='red'").is_err()
        );
        let p =
            Policy::parse("count = 'all'\n[[step]]\nname='a'\nstrikes=1\nwindow_days=1").unwrap();
        assert_eq!(p.count, Counting::All);
    }
}
