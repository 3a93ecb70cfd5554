"""A throw-away PostgreSQL cluster for the lab (as crates/testkit does for the cargo tests):
initdb and pg_ctl as the unprivileged `postgres` user, a Unix socket in a temporary folder (no
TCP), password authentication, a database `evidence` with a `sensor` role. Stopped and removed
on exit. Debian: `postgresql`."""

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

OWNER_PW = "lab-owner-pw"
SENSOR_PW = "lab-sensor-pw"


def _bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed (Debian: postgresql)")
    return Path(found[-1]).parent


class Cluster:
    def __init__(self):
        self.bin = _bin()
        self.dir = Path(tempfile.mkdtemp(prefix="swarmwall-lab-pg."))
        self.dir.chmod(0o755)
        self.started = False

    def _as_postgres(self, argv):
        return subprocess.run(["runuser", "-u", "postgres", "--"] + argv, check=True,
                              capture_output=True, text=True, timeout=120)

    def __enter__(self):
        shutil.chown(self.dir, "postgres", "postgres")
        pw = self.dir / "pw"
        pw.write_text(OWNER_PW)
        shutil.chown(pw, "postgres", "postgres")
        self._as_postgres([str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U",
                           "swarmwall_owner", "--auth=scram-sha-256", "--pwfile", str(pw),
                           "-E", "UTF8"])
        self._as_postgres([str(self.bin / "pg_ctl"), "start", "-D", str(self.dir / "data"), "-w",
                           "-o", f"-k {self.dir} -c listen_addresses=''",
                           "-l", str(self.dir / "log")])
        self.started = True
        self.psql("postgres", "CREATE DATABASE evidence;")
        self.psql("evidence", f"CREATE ROLE sensor LOGIN PASSWORD '{SENSOR_PW}';")
        return self

    def __exit__(self, *exc):
        if self.started:
            subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "stop",
                            "-D", str(self.dir / "data"), "-m", "immediate"],
                           capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, db, sql):
        subprocess.run([str(self.bin / "psql"), "-h", str(self.dir), "-U", "swarmwall_owner",
                        "-d", db, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True,
                       env=dict(os.environ, PGPASSWORD=OWNER_PW), capture_output=True,
                       timeout=60)

    def query(self, sql):
        """One query's rows as lists of strings (as the owner)."""
        out = subprocess.run([str(self.bin / "psql"), "-h", str(self.dir), "-U",
                              "swarmwall_owner", "-d", "evidence", "-At", "-F", "\t", "-c", sql],
                             check=True, env=dict(os.environ, PGPASSWORD=OWNER_PW),
                             capture_output=True, text=True, timeout=60).stdout
        return [l.split("\t") for l in out.splitlines() if l]

    def url(self, user, pw):
        host = str(self.dir).replace("/", "%2F")
        return f"postgres://{user}:{pw}@{host}/evidence"

    def dump(self):
        return subprocess.run([str(self.bin / "pg_dump"), "-h", str(self.dir), "-U",
                               "swarmwall_owner", "evidence"], check=True, capture_output=True,
                              env=dict(os.environ, PGPASSWORD=OWNER_PW), timeout=120).stdout
