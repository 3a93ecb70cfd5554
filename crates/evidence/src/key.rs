//! The key file: the key of the oldest period still within retention; each later period's
//! key follows from it by a one-way step.
//!
//! ```text
//! swarmwall-evidence-keys 2
//! period-seconds 86400
//! first-period 20400
//! key 5f0c…(64 hex digits: the key of period 20400)
//! ```
//!
//! The key of period p+1 is SHA-256("swarmwall evidence ratchet v1" ‖ key of period p). A
//! period's key gives every later period's key and no earlier one: destroying the keys of the
//! periods that left the retention window is replacing the file's key by a later one. Sensors
//! that share one key file (copies of it) derive the same keys without talking to each other,
//! so their rows in one store (PostgreSQL) are found with one file; each prunes its own copy.
//! The price: whoever steals a key file can link the retained periods *and later ones* until
//! the file is replaced (`swarmwall evidence rekey` is not needed for that: delete the file and
//! a new one is made, and the rows under the old keys can no longer be linked by anyone).
//!
//! The file is created with mode 0600 and rewritten whole (a temporary file in the same folder,
//! synced, renamed over it) when the retention window moves, so that a crash leaves the old or
//! the new file (and at worst a temporary file, removed by the next write once a minute old). The old file's blocks may stay on the disk until they are reused; a key file
//! on an encrypted volume or on tmpfs does not have that problem.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// Seconds in the default period (a day).
pub const DAY: i64 = 86_400;

const MAGIC: &str = "swarmwall-evidence-keys 2";
const RATCHET: &[u8] = b"swarmwall evidence ratchet v1";

/// Periods past the first that a key is derived for at most (about 270 years of days): a
/// timestamp beyond is nonsense, not a reason to hash for minutes.
pub const MAX_AHEAD: i64 = 100_000;

/// A 256-bit HMAC key.
pub type Key = [u8; 32];

/// The key of the period after the one whose key is `k`.
pub fn next_key(k: &Key) -> Key {
    let mut h = Sha256::new();
    h.update(RATCHET);
    h.update(k);
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize());
    out
}

/// The period keys still within retention.
#[derive(Clone)]
pub struct KeyRing {
    path: PathBuf,
    period: i64,
    first: i64,
    /// `chain[i]`: the key of period `first + i` (at least the first).
    chain: Vec<Key>,
    /// The key of the repeat-infringer ledger's pseudonyms (stable: a subscriber is counted
    /// over months), made when first needed.
    ledger: Option<Key>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys themselves.
        f.debug_struct("KeyRing")
            .field("path", &self.path)
            .field("period", &self.period)
            .field("first_period", &self.first)
            .finish()
    }
}

impl KeyRing {
    /// Opens the key file, or creates it (mode 0600) with a new random key for `first_period`
    /// (the oldest period a record may still be stored in) and periods of `period` seconds.
    pub fn open_or_create(path: &Path, period: i64, first_period: i64) -> Result<KeyRing, Error> {
        match File::open(path) {
            Ok(_) => KeyRing::open(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if period <= 0 {
                    return Err(Error::Key(
                        path.into(),
                        "the period must be positive".into(),
                    ));
                }
                let mut k = [0u8; 32];
                getrandom::fill(&mut k)
                    .map_err(|e| Error::Key(path.into(), format!("no random bytes: {e}")))?;
                let ring = KeyRing {
                    path: path.into(),
                    period,
                    first: first_period,
                    chain: vec![k],
                    ledger: None,
                };
                // Several sensors may start at once on one key file: the first to link its
                // file wins, the others read it.
                if ring.write(true)? {
                    Ok(ring)
                } else {
                    KeyRing::open(path)
                }
            }
            Err(e) => Err(Error::Key(path.into(), format!("cannot open: {e}"))),
        }
    }

    /// Opens an existing key file (for queries: a missing file is an error).
    pub fn open(path: &Path) -> Result<KeyRing, Error> {
        let bad = |why: String| Error::Key(path.into(), why);
        let meta = fs::metadata(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(bad(format!(
                "mode {:o} lets other users read the keys (expected 600: chmod 600 {})",
                meta.permissions().mode() & 0o777,
                path.display()
            )));
        }
        let text = fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let text = String::from_utf8(text).map_err(|e| {
            bad(format!(
                "byte {}: not a key file (not text)",
                e.utf8_error().valid_up_to()
            ))
        })?;
        KeyRing::parse(path, &text)
    }

    /// Reads a key file's text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<KeyRing, Error> {
        let bad = |why: String| Error::Key(path.into(), why);
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let mut field = |name: &str, what: &str| -> Result<String, Error> {
            match lines.next() {
                Some((i, l)) => l
                    .trim()
                    .strip_prefix(name)
                    .map(|v| v.trim().to_string())
                    .ok_or_else(|| bad(format!("line {}: expected `{name}{what}`", i + 1))),
                None => Err(bad(format!("end of file: expected `{name}{what}`"))),
            }
        };
        if field("swarmwall-evidence-keys", " 2")? != "2" {
            return Err(bad(format!("line 1: expected `{MAGIC}`")));
        }
        let number = |v: String, name: &str| {
            v.parse::<i64>()
                .map_err(|_| bad(format!("`{name}` is not a number")))
        };
        let period = number(field("period-seconds ", "N")?, "period-seconds")?;
        if period <= 0 {
            return Err(bad("`period-seconds` must be positive".into()));
        }
        let first = number(field("first-period ", "N")?, "first-period")?;
        let key = hex32(&field("key ", " followed by 64 hex digits")?)
            .ok_or_else(|| bad("`key` is not 64 hex digits".into()))?;
        let ledger = match field("ledger-key ", " followed by 64 hex digits") {
            Ok(v) => {
                Some(hex32(&v).ok_or_else(|| bad("`ledger-key` is not 64 hex digits".into()))?)
            }
            Err(_) => None,
        };
        Ok(KeyRing {
            path: path.into(),
            period,
            first,
            chain: vec![key],
            ledger,
        })
    }

    /// The ledger's key, if the file holds one.
    pub fn ledger_key(&self) -> Option<Key> {
        self.ledger
    }

    /// The ledger's key, made (and saved) if the file holds none yet.
    pub fn ledger_key_or_create(&mut self) -> Result<Key, Error> {
        if let Some(k) = self.ledger {
            return Ok(k);
        }
        let mut k = [0u8; 32];
        getrandom::fill(&mut k)
            .map_err(|e| Error::Key(self.path.clone(), format!("no random bytes: {e}")))?;
        self.ledger = Some(k);
        if let Err(e) = self.save() {
            self.ledger = None;
            return Err(e);
        }
        Ok(k)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The period length in seconds.
    pub fn period_seconds(&self) -> i64 {
        self.period
    }

    /// The oldest period whose key is still known.
    pub fn first_period(&self) -> i64 {
        self.first
    }

    /// The period a time (seconds since the epoch) falls in.
    pub fn period_of(&self, secs: i64) -> i64 {
        secs.div_euclid(self.period)
    }

    /// The first second after a period.
    pub fn period_end(&self, period: i64) -> i64 {
        period.saturating_add(1).saturating_mul(self.period)
    }

    /// The key of a period: none before the first period (destroyed) or absurdly far after it.
    pub fn get(&self, period: i64) -> Option<Key> {
        let i = period.checked_sub(self.first)?;
        if !(0..=MAX_AHEAD).contains(&i) {
            return None;
        }
        let i = i as usize;
        if let Some(k) = self.chain.get(i) {
            return Some(*k);
        }
        let mut k = *self.chain.last()?;
        for _ in self.chain.len()..=i {
            k = next_key(&k);
        }
        Some(k)
    }

    /// The keys of the periods `first_period()..=last`, in order (each derived from the one
    /// before), at most [`MAX_AHEAD`] of them.
    pub fn keys_through(&self, last: i64) -> impl Iterator<Item = (i64, Key)> + '_ {
        let n = last
            .saturating_sub(self.first)
            .saturating_add(1)
            .clamp(0, MAX_AHEAD + 1);
        let mut k = self.chain.first().copied().unwrap_or([0; 32]);
        (0..n).map(move |i| {
            if i > 0 {
                k = next_key(&k);
            }
            (self.first + i, k)
        })
    }

    /// The key of a period, kept for the next calls (a sensor writing rows).
    pub fn get_cached(&mut self, period: i64) -> Option<Key> {
        let i = period.checked_sub(self.first)?;
        if !(0..=MAX_AHEAD).contains(&i) {
            return None;
        }
        while self.chain.len() <= i as usize {
            let k = next_key(self.chain.last()?);
            self.chain.push(k);
        }
        self.chain.get(i as usize).copied()
    }

    /// Destroys the keys of every period before `first_kept`: the file keeps the key of
    /// `first_kept` only. Returns how many periods' keys were destroyed.
    pub fn destroy_before(&mut self, first_kept: i64) -> Result<u64, Error> {
        if first_kept <= self.first {
            return Ok(0);
        }
        let gone = first_kept - self.first;
        let Some(k) = self.get(first_kept) else {
            return Err(Error::Key(
                self.path.clone(),
                format!(
                    "period {first_kept} is too far after the file's first period {}",
                    self.first
                ),
            ));
        };
        let old = (self.first, std::mem::replace(&mut self.chain, vec![k]));
        // The ledger's key stays: its entries are deleted by retention instead.
        self.first = first_kept;
        if let Err(e) = self.save() {
            (self.first, self.chain) = old;
            return Err(e);
        }
        Ok(u64::try_from(gone).unwrap_or(u64::MAX))
    }

    /// Rewrites the file: a temporary file (0600) beside it, synced, renamed over it.
    fn save(&self) -> Result<(), Error> {
        self.write(false).map(|_| ())
    }

    /// Writes the file through a temporary one (0600, named after this process and write,
    /// synced):
    /// renamed over the file, or with `create` linked to its name only if there is no file
    /// yet. Returns whether the file is this ring's (false: another process created it first).
    fn write(&self, create: bool) -> Result<bool, Error> {
        let err = |what: &str, e: io::Error| Error::Key(self.path.clone(), format!("{what}: {e}"));
        let Some(k) = self.chain.first() else {
            return Err(err("no key", io::Error::other("empty")));
        };
        let mut text = format!(
            "{MAGIC}\n# keep this file apart from the evidence store; without it the store links nothing to anyone\nperiod-seconds {}\nfirst-period {}\nkey {}\n",
            self.period,
            self.first,
            to_hex(k)
        );
        if let Some(l) = &self.ledger {
            text.push_str(&format!("ledger-key {}\n", to_hex(l)));
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "keys".into());
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err("cannot create a temporary key file", e))?;
        let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
        let placed = written.and_then(|()| {
            if create {
                let linked = fs::hard_link(&tmp, &self.path);
                let _ = fs::remove_file(&tmp);
                match linked {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e),
                }
            } else {
                fs::rename(&tmp, &self.path).map(|()| true)
            }
        });
        let mine = match placed {
            Ok(mine) => mine,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(err("cannot write", e));
            }
        };
        sweep(&dir, &name);
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(mine)
    }
}

/// Seconds after which a temporary key file is taken as left by a writer that was killed (a
/// write takes milliseconds).
const STALE_TMP_S: u64 = 60;

/// Removes the temporary files of key file `name` in `dir` that writers killed between
/// writing and placing them left behind (each holds a key).
fn sweep(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let file = file.to_string_lossy();
        if !(file.starts_with(&prefix) && file.ends_with(".tmp")) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() >= STALE_TMP_S);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}

use bt::hex as to_hex;

fn hex32(s: &str) -> Option<Key> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut k = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        k[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "swarmwall-keytest-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        fs::create_dir_all(&d).ok();
        d
    }

    #[test]
    fn sensors_starting_at_once_share_the_first_key_made() {
        let d = dir();
        let p = d.join("keys");
        let keys: Vec<Key> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| KeyRing::open_or_create(&p, DAY, 10).unwrap().get(10)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "one key for all");
        assert_eq!(KeyRing::open(&p).unwrap().get(10), Some(keys[0]));
        let left: Vec<_> = fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn temporaries_left_by_killed_writers_are_swept() {
        let d = dir();
        let p = d.join("keys");
        let stale = d.join(".keys.4242.0.tmp");
        let fresh = d.join(".keys.4243.0.tmp");
        let other = d.join(".other.4242.0.tmp");
        for f in [&stale, &fresh, &other] {
            fs::write(f, "x").unwrap();
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for f in [&stale, &other] {
            File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
        }
        let mut r = KeyRing::open_or_create(&p, DAY, 10).unwrap();
        assert!(
            !stale.exists(),
            "a stale temporary of this key file is removed"
        );
        assert!(fresh.exists(), "one being written (recent) is not");
        assert!(other.exists(), "another file's is not");
        File::options()
            .write(true)
            .open(&fresh)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        r.destroy_before(11).unwrap();
        assert!(!fresh.exists(), "swept at the next write too");
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn created_0600_keys_follow_one_way_and_are_destroyed() {
        let d = dir();
        let p = d.join("keys");
        let mut r = KeyRing::open_or_create(&p, DAY, 10).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(r.get(9), None);
        let k10 = r.get(10).unwrap();
        let k11 = r.get(11).unwrap();
        assert_eq!(k11, next_key(&k10));
        assert_eq!(r.get_cached(12), Some(next_key(&k11)));
        assert_eq!(r.get(12), Some(next_key(&k11)));
        // Another copy of the file derives the same keys.
        let r2 = KeyRing::open(&p).unwrap();
        assert_eq!((r2.get(10), r2.get(12)), (Some(k10), r.get(12)));
        // Destroying: the file no longer holds, nor gives, period 10's key.
        assert_eq!(r.destroy_before(11).unwrap(), 1);
        let r3 = KeyRing::open(&p).unwrap();
        assert_eq!(
            (r3.first_period(), r3.get(10), r3.get(11)),
            (11, None, Some(k11))
        );
        let text = fs::read_to_string(&p).unwrap();
        assert!(!text.contains(&to_hex(&k10)));
        assert!(text.contains(&to_hex(&k11)));
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(r.destroy_before(5).unwrap(), 0, "never backwards");
        assert_eq!(r.get(11 + MAX_AHEAD + 1), None);
        let through: Vec<_> = r.keys_through(13).collect();
        assert_eq!(
            through,
            vec![
                (11, k11),
                (12, next_key(&k11)),
                (13, next_key(&next_key(&k11)))
            ]
        );
        assert_eq!(r.keys_through(10).count(), 0);
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn refuses_readable_or_malformed_files() {
        let d = dir();
        let p = d.join("keys");
        KeyRing::open_or_create(&p, DAY, 0).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = KeyRing::open(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(
            &p,
            format!("{MAGIC}\nperiod-seconds 86400\nfirst-period 3\nkey zz\n"),
        )
        .unwrap();
        let e = KeyRing::open(&p).unwrap_err().to_string();
        assert!(e.contains("64 hex digits"), "{e}");
        fs::write(&p, format!("{MAGIC}\nperiod-seconds 86400\n")).unwrap();
        let e = KeyRing::open(&p).unwrap_err().to_string();
        assert!(e.contains("first-period"), "{e}");
        fs::write(&p, "hello\n").unwrap();
        let e = KeyRing::open(&p).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = KeyRing::open(&d.join("absent")).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn periods() {
        let d = dir();
        let r = KeyRing::open_or_create(&d.join("k"), DAY, 0).unwrap();
        assert_eq!(r.period_of(0), 0);
        assert_eq!(r.period_of(DAY - 1), 0);
        assert_eq!(r.period_of(DAY), 1);
        assert_eq!(r.period_of(-1), -1);
        assert_eq!(r.period_end(0), DAY);
        fs::remove_dir_all(&d).ok();
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text is a key file or a one-line error naming the file; never a panic.
        #[test]
        fn any_text_parses_or_fails_cleanly(text in "\\PC{0,300}", lines in prop::collection::vec("[a-z0-9 -]{0,80}", 0..6)) {
            for t in [text, lines.join("\n"), format!("{MAGIC}\n{}", lines.join("\n"))] {
                match KeyRing::parse(Path::new("k"), &t) {
                    Ok(r) => prop_assert!(r.period_seconds() > 0),
                    Err(e) => {
                        let s = e.to_string();
                        prop_assert!(s.starts_with("k: key file: "), "{}", s);
                        prop_assert_eq!(s.lines().count(), 1);
                    }
                }
            }
        }

        /// A written file reads back the same keys.
        #[test]
        fn keys_round_trip(first in -100_000i64..100_000, key in prop::array::uniform32(any::<u8>()), ahead in 0i64..50) {
            let text = format!("{MAGIC}\nperiod-seconds 86400\nfirst-period {first}\nkey {}\n", to_hex(&key));
            let r = KeyRing::parse(Path::new("k"), &text).unwrap();
            prop_assert_eq!(r.get(first), Some(key));
            let mut k = key;
            for _ in 0..ahead { k = next_key(&k); }
            prop_assert_eq!(r.get(first + ahead), Some(k));
            prop_assert_eq!(r.get(first - 1), None);
        }
    }
}
