//! Test support shared by the crates' tests: a throw-away PostgreSQL cluster (initdb and
//! pg_ctl as the unprivileged `postgres` user, a Unix socket in a temporary folder, password
//! authentication), stopped and removed when dropped. Skips, saying so, where the server is not
//! installed (Debian: `postgresql`), without root, or without a `postgres` user.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh temporary folder.
pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "swarmwall-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
}

pub const OWNER_PW: &str = "owner-pw-3d1";
pub const SENSOR_PW: &str = "sensor-pw-8f2";
pub const READER_PW: &str = "reader-pw-1a7";

fn pg_bin() -> Option<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    v.sort();
    v.pop()
}

fn as_postgres(cmd: &Path, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(cmd)
        .args(args)
        .output()
        .unwrap()
}

impl Cluster {
    /// A new cluster, started; `None` (and a message) where PostgreSQL is not installed.
    pub fn start(tag: &str) -> Option<Cluster> {
        let Some(bin) = pg_bin() else {
            eprintln!("skipping: PostgreSQL's server is not installed (Debian: postgresql)");
            return None;
        };
        let known = Command::new("id")
            .arg("postgres")
            .output()
            .is_ok_and(|o| o.status.success());
        if !known {
            eprintln!("skipping: no `postgres` user to run the server as");
            return None;
        }
        let dir = tmpdir(&format!("pg-{tag}"));
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status();
        let pw = dir.join("pw");
        std::fs::write(&pw, OWNER_PW).unwrap();
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&pw)
            .status();
        let data = dir.join("data");
        let o = as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "swarmwall_owner",
                "--auth=scram-sha-256",
                "--pwfile",
                pw.to_str().unwrap(),
                "-E",
                "UTF8",
            ],
        );
        assert!(
            o.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let c = Cluster { dir, bin };
        c.pg_ctl("start");
        c.psql_owner("postgres", "CREATE DATABASE evidence;");
        c.psql_owner(
            "evidence",
            &format!(
                "CREATE ROLE sensor LOGIN PASSWORD '{SENSOR_PW}';
                 CREATE ROLE reader LOGIN PASSWORD '{READER_PW}';"
            ),
        );
        Some(c)
    }

    pub fn pg_ctl(&self, what: &str) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let opts = format!("-k {} -c listen_addresses=''", self.dir.display());
        let mut args = vec![what, "-D", data.to_str().unwrap(), "-w", "-m", "fast"];
        if what != "stop" {
            args.extend(["-o", &opts, "-l", log.to_str().unwrap()]);
        }
        let o = as_postgres(&self.bin.join("pg_ctl"), &args);
        assert!(
            o.status.success(),
            "pg_ctl {what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// The folder of the server's Unix socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn host(&self) -> String {
        self.dir.to_str().unwrap().replace('/', "%2F")
    }

    pub fn url(&self, user: &str, pw: &str) -> String {
        format!("postgres://{user}:{pw}@{}/evidence", self.host())
    }

    pub fn psql_owner(&self, db: &str, sql: &str) {
        let o = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                self.dir.to_str().unwrap(),
                "-U",
                "swarmwall_owner",
                "-d",
                db,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .env("PGPASSWORD", OWNER_PW)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    pub fn dump(&self) -> Vec<u8> {
        let o = Command::new(self.bin.join("pg_dump"))
            .args([
                "-h",
                self.dir.to_str().unwrap(),
                "-U",
                "swarmwall_owner",
                "evidence",
            ])
            .env("PGPASSWORD", OWNER_PW)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = as_postgres(
            &self.bin.join("pg_ctl"),
            &["stop", "-D", data.to_str().unwrap(), "-m", "immediate"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
