//! The key file: one secret key per period, kept apart from the store.
//!
//! ```text
//! swarmwall-evidence-keys 1
//! period-seconds 86400
//! 20427 5f0c…(64 hex digits)
//! 20428 91ab…
//! ```
//!
//! The file is created with mode 0600 and is rewritten whole (a temporary file in the same
//! folder, synced, then renamed over it) when a key is added or destroyed, so that a crash
//! leaves either the old or the new file. A key is destroyed by rewriting the file without
//! it: a period whose key is gone can no longer be linked to any address. (The old file's
//! blocks may stay on the disk until they are reused; a store and key file on an encrypted
//! volume, or on tmpfs for short retention, do not have that problem.)

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// Seconds in the default period (a day).
pub const DAY: i64 = 86_400;

const MAGIC: &str = "swarmwall-evidence-keys 1";

/// A 256-bit HMAC key.
pub type Key = [u8; 32];

/// The keys of the periods still within retention.
#[derive(Clone)]
pub struct KeyRing {
    path: PathBuf,
    period: i64,
    keys: BTreeMap<i64, Key>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys themselves.
        f.debug_struct("KeyRing")
            .field("path", &self.path)
            .field("period", &self.period)
            .field("periods", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// Opens the key file, creating it (mode 0600, no keys yet) when it does not exist.
    /// `period` is the period length in seconds a new file gets; an existing file keeps its own.
    pub fn open_or_create(path: &Path, period: i64) -> Result<KeyRing, Error> {
        match File::open(path) {
            Ok(_) => KeyRing::open(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if period <= 0 {
                    return Err(Error::Key(
                        path.into(),
                        "the period must be positive".into(),
                    ));
                }
                let ring = KeyRing {
                    path: path.into(),
                    period,
                    keys: BTreeMap::new(),
                };
                ring.save()?;
                Ok(ring)
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
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l.trim() == MAGIC => {}
            _ => return Err(bad(format!("line 1: expected `{MAGIC}`"))),
        }
        let period = match lines.next() {
            Some((_, l)) => l
                .trim()
                .strip_prefix("period-seconds ")
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("line 2: expected `period-seconds N`".into()))?,
            None => return Err(bad("line 2: expected `period-seconds N`".into())),
        };
        let mut keys = BTreeMap::new();
        for (i, line) in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line
                .split_once(' ')
                .and_then(|(p, k)| Some((p.parse::<i64>().ok()?, hex32(k.trim())?)));
            let Some((p, k)) = parsed else {
                return Err(bad(format!(
                    "line {}: expected `PERIOD KEY` (a number and 64 hex digits)",
                    i + 1
                )));
            };
            keys.insert(p, k);
        }
        Ok(KeyRing {
            path: path.into(),
            period,
            keys,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The period length in seconds.
    pub fn period_seconds(&self) -> i64 {
        self.period
    }

    /// The period a time (seconds since the epoch) falls in.
    pub fn period_of(&self, secs: i64) -> i64 {
        secs.div_euclid(self.period)
    }

    /// The first second after a period.
    pub fn period_end(&self, period: i64) -> i64 {
        period.saturating_add(1).saturating_mul(self.period)
    }

    /// The key of a period, if the file holds it.
    pub fn get(&self, period: i64) -> Option<&Key> {
        self.keys.get(&period)
    }

    /// The periods whose keys the file holds, oldest first.
    pub fn periods(&self) -> impl Iterator<Item = i64> + '_ {
        self.keys.keys().copied()
    }

    /// The key of a period, made (and saved) if the file does not hold it yet.
    pub fn get_or_create(&mut self, period: i64) -> Result<Key, Error> {
        if let Some(k) = self.keys.get(&period) {
            return Ok(*k);
        }
        let mut k = [0u8; 32];
        getrandom::fill(&mut k)
            .map_err(|e| Error::Key(self.path.clone(), format!("no random bytes: {e}")))?;
        self.keys.insert(period, k);
        if let Err(e) = self.save() {
            self.keys.remove(&period);
            return Err(e);
        }
        Ok(k)
    }

    /// Destroys the keys of every period before `first_kept`. Returns how many were destroyed.
    pub fn destroy_before(&mut self, first_kept: i64) -> Result<usize, Error> {
        let kept = self.keys.split_off(&first_kept);
        let gone = std::mem::replace(&mut self.keys, kept);
        if gone.is_empty() {
            return Ok(0);
        }
        self.save()?;
        Ok(gone.len())
    }

    /// Rewrites the file: a temporary file (0600) beside it, synced, renamed over it.
    fn save(&self) -> Result<(), Error> {
        let err = |what: &str, e: io::Error| Error::Key(self.path.clone(), format!("{what}: {e}"));
        let mut text = format!("{MAGIC}\nperiod-seconds {}\n", self.period);
        text.push_str("# one key per period (period number = seconds since 1970 / period-seconds); keep this file apart from the store\n");
        for (p, k) in &self.keys {
            text.push_str(&format!("{p} {}\n", to_hex(k)));
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
        let tmp = dir.join(format!(".{name}.tmp"));
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err("cannot create a temporary key file", e))?;
        let written = f
            .write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .and_then(|()| fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(err("cannot write", e));
        }
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn to_hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 15)]));
    }
    s
}

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
    fn created_0600_keys_persist_and_are_destroyed() {
        let d = dir();
        let p = d.join("keys");
        let mut r = KeyRing::open_or_create(&p, DAY).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let k1 = r.get_or_create(10).unwrap();
        let k2 = r.get_or_create(11).unwrap();
        assert_ne!(k1, k2);
        assert_eq!(r.get_or_create(10).unwrap(), k1);
        let r2 = KeyRing::open(&p).unwrap();
        assert_eq!(r2.get(10), Some(&k1));
        assert_eq!(r2.get(11), Some(&k2));
        assert_eq!(r.destroy_before(11).unwrap(), 1);
        let r3 = KeyRing::open(&p).unwrap();
        assert_eq!(r3.get(10), None);
        assert_eq!(r3.get(11), Some(&k2));
        let text = fs::read_to_string(&p).unwrap();
        assert!(!text.contains(&to_hex(&k1)));
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn refuses_readable_or_malformed_files() {
        let d = dir();
        let p = d.join("keys");
        KeyRing::open_or_create(&p, DAY).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = KeyRing::open(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&p, format!("{MAGIC}\nperiod-seconds 86400\n12 zz\n")).unwrap();
        let e = KeyRing::open(&p).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
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
        let r = KeyRing::open_or_create(&d.join("k"), DAY).unwrap();
        assert_eq!(r.period_of(0), 0);
        assert_eq!(r.period_of(DAY - 1), 0);
        assert_eq!(r.period_of(DAY), 1);
        assert_eq!(r.period_of(-1), -1);
        assert_eq!(r.period_end(0), DAY);
        fs::remove_dir_all(&d).ok();
    }
}
