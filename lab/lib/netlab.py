"""Network namespaces joined by a bridge, processes started in them, and teardown.

Every lab run builds its own little network: one "switch" namespace holding a Linux bridge,
and one namespace per host, each joined to the bridge by a veth pair, addresses in
10.77.<net>.0/24. tcpdump runs in the switch namespace on the bridge, so it sees every frame
between hosts and nothing else. Nothing is configured in the root namespace.

Teardown is by construction: processes are started in their own process group and recorded
with their PID; `Lab.down()` (also run from `with Lab(...)`, on exceptions and on SIGTERM)
stops them by PID, then deletes the namespaces. A run that was killed hard leaves namespaces
named `swl<net>-*`; the next run on the same net deletes them first.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

PREFIX = "swl"


def run(argv, ns=None, timeout=30, check=True, **kw):
    """Runs a command (in namespace `ns`), bounded in time."""
    if ns:
        argv = ["ip", "netns", "exec", ns] + list(argv)
    return subprocess.run(argv, timeout=timeout, check=check, text=True,
                          stdout=kw.pop("stdout", subprocess.PIPE),
                          stderr=kw.pop("stderr", subprocess.PIPE), **kw)


def namespaces():
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def kill_ns_processes(ns):
    """Stops whatever still runs in a namespace we made (leftovers of a killed run)."""
    pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(int(pid), sig)
            except (ProcessLookupError, ValueError):
                pass
        if pids:
            time.sleep(0.5)
        pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
        if not pids:
            return


def clean_stale(net):
    for ns in namespaces():
        if ns.startswith(f"{PREFIX}{net}-"):
            kill_ns_processes(ns)
            run(["ip", "netns", "del", ns], check=False)


class Host:
    def __init__(self, lab, name, last_octet):
        self.lab = lab
        self.name = name
        self.ip = f"10.77.{lab.net}.{last_octet}"
        self.ns = f"{PREFIX}{lab.net}-{name}"
        self.dir = lab.work / name
        self.dir.mkdir(parents=True, exist_ok=True)

    def run(self, argv, timeout=30, check=True, **kw):
        return run(argv, ns=self.ns, timeout=timeout, check=check, **kw)

    def add_address(self, last_octet):
        """Gives the host another address on its link (several nodes in one namespace)."""
        ip = f"10.77.{self.lab.net}.{last_octet}"
        self.run(["ip", "addr", "add", f"{ip}/24", "dev", "eth0"])
        return ip

    def spawn(self, argv, log_name=None, env=None, cwd=None):
        return self.lab.spawn(self, argv, log_name=log_name, env=env, cwd=cwd)

    def __repr__(self):
        return f"{self.name}({self.ip})"


class Lab:
    """One lab network. Use as a context manager."""

    def __init__(self, net, work):
        assert 1 <= net <= 254
        self.net = net
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.switch = f"{PREFIX}{net}-sw"
        self.hosts = {}
        self.procs = []  # (name, Popen), in start order
        self.capture_proc = None
        self._old_term = None

    # --- network -----------------------------------------------------------------------
    def up(self):
        clean_stale(self.net)
        run(["ip", "netns", "add", self.switch])
        sw = lambda *a: run(list(a), ns=self.switch)
        sw("ip", "link", "set", "lo", "up")
        sw("ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0", "stp_state", "0")
        sw("ip", "link", "set", "br0", "up")
        return self

    def host(self, name, last_octet):
        h = Host(self, name, last_octet)
        run(["ip", "netns", "add", h.ns])
        n = len(self.hosts)
        a, b = f"{PREFIX}{self.net}h{n}", f"{PREFIX}{self.net}p{n}"
        run(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
        run(["ip", "link", "set", a, "netns", h.ns])
        run(["ip", "link", "set", b, "netns", self.switch])
        h.run(["ip", "link", "set", a, "name", "eth0"])
        h.run(["ip", "link", "set", "lo", "up"])
        h.run(["ip", "addr", "add", f"{h.ip}/24", "dev", "eth0"])
        h.run(["ip", "link", "set", "eth0", "up"])
        # Multicast (LSD) and broadcast leave through eth0.
        h.run(["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"])
        run(["ip", "link", "set", b, "master", "br0"], ns=self.switch)
        run(["ip", "link", "set", b, "up"], ns=self.switch)
        # Captured frames should be what is on the wire, not offload super-packets.
        for ns, dev in ((h.ns, "eth0"), (self.switch, b)):
            run(["ethtool", "-K", dev, "gro", "off", "gso", "off", "tso", "off"], ns=ns, check=False)
        self.hosts[name] = h
        return h

    # --- processes ---------------------------------------------------------------------
    def spawn(self, host, argv, log_name=None, env=None, cwd=None):
        log_name = log_name or Path(argv[0]).name
        log = open(host.dir / f"{log_name}.log", "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.Popen(["ip", "netns", "exec", host.ns] + list(argv), stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=full_env, cwd=cwd, start_new_session=True)
        self.procs.append((f"{host.name}:{log_name}", p))
        return p

    def capture(self, path, snaplen=0):
        """Starts tcpdump on the bridge; returns once it is capturing."""
        path = Path(path)
        err = open(self.work / "tcpdump.log", "wb")
        self.capture_proc = subprocess.Popen(
            ["ip", "netns", "exec", self.switch, "tcpdump", "-i", "br0", "-n", "-U",
             "-s", str(snaplen), "-w", str(path)],
            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            if (self.work / "tcpdump.log").read_text(errors="replace").find("listening on") >= 0:
                return
            if self.capture_proc.poll() is not None:
                raise RuntimeError("tcpdump exited: " + (self.work / "tcpdump.log").read_text())
            time.sleep(0.05)
        raise RuntimeError("tcpdump did not start within 10 s")

    def stop_capture(self):
        p, self.capture_proc = self.capture_proc, None
        if p and p.poll() is None:
            time.sleep(0.5)  # let the last frames arrive
            os.killpg(p.pid, signal.SIGINT)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop(self, proc, grace=5.0):
        """Stops one process we started (its whole group), by PID."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()

    def down(self):
        self.stop_capture()
        for _, p in reversed(self.procs):
            self.stop(p)
        self.procs.clear()
        for h in self.hosts.values():
            kill_ns_processes(h.ns)
            run(["ip", "netns", "del", h.ns], check=False)
        kill_ns_processes(self.switch)
        run(["ip", "netns", "del", self.switch], check=False)
        left = [ns for ns in namespaces() if ns.startswith(f"{PREFIX}{self.net}-")]
        if left:
            raise RuntimeError(f"namespaces left behind: {left}")

    def __enter__(self):
        self._old_term = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            return self.up()
        except BaseException:
            self.down()
            raise

    def __exit__(self, *exc):
        try:
            self.down()
        finally:
            signal.signal(signal.SIGTERM, self._old_term or signal.SIG_DFL)
        return False


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def wait_until(pred, timeout, step=0.5, what="condition"):
    """Polls `pred` until true or `timeout` seconds pass; returns whether it became true."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False
