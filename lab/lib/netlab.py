"""Network namespaces joined by a bridge, processes started in them, and teardown.

Every lab run builds its own little network: one "switch" namespace holding a Linux bridge,
and one namespace per host, each joined to the bridge by a veth pair, addresses in
10.77.<net>.0/24. tcpdump runs in the switch namespace on the bridge, so it sees every frame
between hosts and nothing else. Nothing is configured in the root namespace.

With `ip6=True` a lab is IPv6 only: every host gets fd77:<net>::<last_octet>/64 (a ULA prefix,
`nodad` so it is usable at once) and no IPv4 address. With `mtu`, every link has that MTU.
`capture()` can record several bridges (one tcpdump each, merged into one pcap at the end).

Teardown is by construction: processes are started in their own process group and recorded
with their PID; `Lab.down()` (also run from `with Lab(...)`, on exceptions and on SIGTERM)
stops them by PID, then deletes the namespaces. A run that was killed hard leaves namespaces
named `swl<net>-*`; the next run on the same net deletes them first.
"""

import os
import re
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
    etc = Path("/etc/netns")
    if etc.is_dir():
        for d in etc.glob(f"{PREFIX}{net}-*"):
            for f in d.iterdir():
                f.unlink()
            d.rmdir()


def address(net, last_octet, ip6=False):
    """The lab address of host `last_octet` on `net`: 10.77.<net>.<octet> or fd77:<net>::<octet>."""
    return f"fd77:{net}::{last_octet}" if ip6 else f"10.77.{net}.{last_octet}"


def endpoint(ip, port):
    """"ip:port", with the IPv6 address in brackets."""
    return f"[{ip}]:{port}" if ":" in str(ip) else f"{ip}:{port}"


class Host:
    def __init__(self, lab, name, last_octet, net=None):
        self.lab = lab
        self.name = name
        self.net = net or lab.net
        self.ip6 = lab.ip6
        self.ip = address(self.net, last_octet, lab.ip6)
        self.prefix_len = 64 if lab.ip6 else 24
        self.ns = f"{PREFIX}{lab.net}-{name}"
        self.dir = lab.work / name
        self.dir.mkdir(parents=True, exist_ok=True)

    def endpoint(self, port):
        return endpoint(self.ip, port)

    def run(self, argv, timeout=30, check=True, **kw):
        return run(argv, ns=self.ns, timeout=timeout, check=check, **kw)

    def add_address(self, last_octet):
        """Gives the host another address on its link (several nodes in one namespace)."""
        ip = address(self.net, last_octet, self.ip6)
        self.run(["ip", "addr", "add", f"{ip}/{self.prefix_len}", "dev", "eth0"]
                 + (["nodad"] if self.ip6 else []))
        return ip

    def etc_hosts(self, names):
        """Name resolution for processes started in this namespace: /etc/netns/<ns>/hosts,
        which `ip netns exec` mounts over /etc/hosts ({name: ip}); removed at teardown."""
        d = Path("/etc/netns") / self.ns
        d.mkdir(parents=True, exist_ok=True)
        self.lab.etc_dirs.append(d)
        lines = ["127.0.0.1 localhost", "::1 localhost"] + [f"{ip} {n}" for n, ip in names.items()]
        (d / "hosts").write_text("\n".join(lines) + "\n")

    def spawn(self, argv, log_name=None, env=None, cwd=None):
        return self.lab.spawn(self, argv, log_name=log_name, env=env, cwd=cwd)

    def __repr__(self):
        return f"{self.name}({self.ip})"


class Lab:
    """One lab network. Use as a context manager."""

    def __init__(self, net, work, ip6=False, mtu=None):
        assert 1 <= net <= 254
        self.net = net
        self.ip6 = ip6
        self.mtu = mtu
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.switch = f"{PREFIX}{net}-sw"
        self.hosts = {}
        self.procs = []  # (name, Popen), in start order
        self.capture_procs = []  # (tcpdump, its file)
        self.capture_logs = []
        self.capture_dropped = None  # packets tcpdump reported dropped by the kernel
        self.capture_path = None
        self.etc_dirs = []  # /etc/netns/<ns> directories we wrote
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

    def bridge(self, name):
        """Another bridge in the switch namespace (a second network, joined by a router)."""
        sw = lambda *a: run(list(a), ns=self.switch)
        sw("ip", "link", "add", name, "type", "bridge", "mcast_snooping", "0", "stp_state", "0")
        sw("ip", "link", "set", name, "up")

    def _leg(self, h, dev, bridge, ip, isolated=False):
        """A veth from host `h` (named `dev` there) to a port of `bridge`."""
        n = self._legs = getattr(self, "_legs", 0) + 1
        a, b = f"{PREFIX}{self.net}h{n}", f"{PREFIX}{self.net}p{n}"
        run(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
        run(["ip", "link", "set", a, "netns", h.ns])
        run(["ip", "link", "set", b, "netns", self.switch])
        h.run(["ip", "link", "set", a, "name", dev])
        if self.mtu:
            h.run(["ip", "link", "set", dev, "mtu", str(self.mtu)])
            run(["ip", "link", "set", b, "mtu", str(self.mtu)], ns=self.switch)
        if ":" in ip:
            h.run(["ip", "addr", "add", f"{ip}/64", "dev", dev, "nodad"])
        else:
            h.run(["ip", "addr", "add", f"{ip}/24", "dev", dev])
        h.run(["ip", "link", "set", dev, "up"])
        run(["ip", "link", "set", b, "master", bridge], ns=self.switch)
        if isolated:
            # An isolated port reaches only the bridge's non-isolated ports (the router).
            run(["bridge", "link", "set", "dev", b, "isolated", "on"], ns=self.switch)
        run(["ip", "link", "set", b, "up"], ns=self.switch)
        # Captured frames should be what is on the wire, not offload super-packets.
        for ns, d in ((h.ns, dev), (self.switch, b)):
            run(["ethtool", "-K", d, "gro", "off", "gso", "off", "tso", "off"], ns=ns, check=False)

    def host(self, name, last_octet, bridge="br0", net=None, gateway=None, isolated=False):
        """A host on `bridge`, address 10.77.<net>.<last_octet> (net: the lab's by default);
        `gateway`: its default route; `isolated`: it cannot reach the bridge's other isolated
        hosts, only the others (a router)."""
        h = Host(self, name, last_octet, net)
        run(["ip", "netns", "add", h.ns])
        h.run(["ip", "link", "set", "lo", "up"])
        self._leg(h, "eth0", bridge, h.ip, isolated)
        if not self.ip6:
            # Multicast (LSD) and broadcast leave through eth0.
            h.run(["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"])
        if gateway:
            h.run(["ip", "-6" if self.ip6 else "-4", "route", "add", "default", "via", gateway])
        self.hosts[name] = h
        return h

    def router(self, name, legs, forward=True):
        """A host with one leg per (bridge, net, last_octet): eth0, eth1, ...; forwarding
        between them unless `forward` is false (a proxy host: whatever crosses it, it relays
        itself). Its `ips` are the legs' addresses, `ip` the first."""
        bridge, net, octet = legs[0]
        h = Host(self, name, octet, net)
        run(["ip", "netns", "add", h.ns])
        h.run(["ip", "link", "set", "lo", "up"])
        h.ips = []
        for i, (bridge, net, octet) in enumerate(legs):
            h.ips.append(address(net, octet, self.ip6))
            self._leg(h, f"eth{i}", bridge, h.ips[-1])
        h.run(["sysctl", "-qw", f"net.ipv4.ip_forward={int(forward)}"])
        h.run(["sysctl", "-qw", f"net.ipv6.conf.all.forwarding={int(forward)}"])
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

    def capture(self, path, snaplen=0, bridges=("br0",)):
        """Starts tcpdump on each bridge; returns once all are capturing. With several
        bridges, `stop_capture` merges their files into `path` (mergecap, by time)."""
        path = Path(path)
        self.capture_path = path
        for br in bridges:
            out = path if len(bridges) == 1 else path.with_name(f"{path.name}.{br}")
            log = self.work / f"tcpdump-{br}.log"
            self.capture_logs.append(log)
            err = open(log, "wb")
            p = subprocess.Popen(
                ["ip", "netns", "exec", self.switch, "tcpdump", "-i", br, "-n", "-U",
                 # 64 MiB of kernel buffer: with the default 2 MiB, bursts between
                 # clients on veth outran tcpdump (hundreds of packets dropped a run).
                 "-B", "65536", "-s", str(snaplen), "-w", str(out)],
                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            self.capture_procs.append((p, out))
            deadline = time.time() + 10
            while True:
                if log.read_text(errors="replace").find("listening on") >= 0:
                    break
                if p.poll() is not None:
                    raise RuntimeError("tcpdump exited: " + log.read_text())
                if time.time() > deadline:
                    raise RuntimeError("tcpdump did not start within 10 s")
                time.sleep(0.05)

    @property
    def capture_proc(self):
        return self.capture_procs[0][0] if self.capture_procs else None

    def stop_capture(self):
        procs, self.capture_procs = self.capture_procs, []
        if any(p.poll() is None for p, _ in procs):
            time.sleep(0.5)  # let the last frames arrive
        for p, _ in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        logs, self.capture_logs = self.capture_logs, []
        dropped = None
        for log in logs:
            m = re.search(r"(\d+) packets? dropped by kernel", log.read_text(errors="replace"))
            if m:
                dropped = (dropped or 0) + int(m.group(1))
        if logs:
            self.capture_dropped = dropped
        parts = [f for _, f in procs if f != self.capture_path]
        if parts:
            run(["mergecap", "-F", "pcap", "-w", str(self.capture_path)] + [str(f) for f in parts],
                timeout=300)
            for f in parts:
                f.unlink(missing_ok=True)

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
        for d in self.etc_dirs:
            for f in d.iterdir():
                f.unlink()
            d.rmdir()
        self.etc_dirs.clear()
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
