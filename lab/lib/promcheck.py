"""Scraping swarmwall's `--metrics` endpoint inside a network namespace and checking the page
with `promtool check metrics` (Debian `prometheus`, installed by lab/setup)."""

import re
import shutil
import subprocess
from pathlib import Path

ADDR = re.compile(rb"metrics at (http://[^\s;]+/metrics)")


def url_in(log: Path):
    """The endpoint a daemon announced on its standard error (`metrics at http://…`)."""
    m = ADDR.search(log.read_bytes()) if log.exists() else None
    return m.group(1).decode() if m else None


def scrape(netns, url):
    """The page, fetched from inside `netns` (the daemon listens on its loopback)."""
    r = subprocess.run(["ip", "netns", "exec", netns, "curl", "-sS", "--max-time", "5", url],
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"cannot scrape {url} in {netns}: {r.stderr.strip()}")
    return r.stdout


def check(text, required=()):
    """Problems with the page: promtool's complaints, required families missing. Returns
    (problems, {sample: value})."""
    problems = []
    promtool = shutil.which("promtool")
    if promtool is None:
        problems.append("promtool not found (Debian package prometheus; lab/setup installs it)")
    else:
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            problems.append("promtool check metrics: "
                            + (r.stdout + r.stderr).strip().replace("\n", "; "))
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, v = line.rpartition(" ")
            values[name] = float(v)
    families = {n.split("{")[0] for n in values}
    for f in required:
        if f not in families:
            problems.append(f"family {f} missing")
    return problems, values
