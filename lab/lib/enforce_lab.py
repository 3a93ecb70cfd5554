"""`swarmwall enforce` against real clients, through a router.

Topology (one lab network per run): leechers on the inside bridge (10.77.<net>.0/24), each on
an isolated bridge port so they reach only the router, never each other; the router
(10.77.<net>.1 and 10.77.<net+1>.1) runs `swarmwall rules install --hook forward` and
`swarmwall enforce`; the swarm on the outside bridge (10.77.<net+1>.0/24): a tracker, one
seeder per torrent (libtorrent), and for the DHT mode a bootstrap node and 32 more DHT nodes.
Every port is random. Each leecher downloads two torrents at once, A and B.

What a leecher has is counted in verified pieces: the 64 KiB pieces of its files that are
byte-identical to the original content (pseudo-random: preallocated zeros never match).
"""

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import netlab, promcheck, torrent
from .clients import Aria2, Cfg, DhtNode, DhtSwarm, Libtorrent, Qbittorrent, Rtorrent, Tracker, Transmission

LIB = Path(__file__).resolve().parent
ROOT = LIB.parent.parent
# SWARMWALL_BIN: another build to measure (a benchmark of the build before a change).
BIN = Path(os.environ.get("SWARMWALL_BIN") or ROOT / "target" / "release" / "swarmwall")

ALL_CLIENTS = [Transmission, Aria2, Libtorrent, Qbittorrent, Rtorrent]

# mode -> (tracker, seeder configuration, {client: configuration}, magnet links)
MODES = {
    "plain": ("http", dict(encryption="plain"),
              {k: dict(encryption="plain") for k in ALL_CLIENTS}, False),
    "mse": ("http", dict(encryption="require-rc4"),
            {k: dict(encryption="require-rc4") for k in ALL_CLIENTS}, False),
    "utp": ("http", dict(tcp=False, utp=True),
            {Transmission: dict(utp=True), Libtorrent: dict(tcp=False, utp=True),
             Qbittorrent: dict(tcp=False, utp=True)}, False),
    "dht": (None, dict(dht=True, utp=True),
            {Libtorrent: dict(dht=True, utp=True), Aria2: dict(dht=True),
             Transmission: dict(dht=True, utp=True), Rtorrent: dict(dht=True)}, True),
}

# The clients a mode runs unless told otherwise. transmission and rtorrent are left out of the
# DHT mode: behind the router, with nothing blocked (`lab/enforce download dht none --clients
# transmission,rtorrent`), neither got a piece within 120 s (transmission: "DHT announce
# failed (poor, 10 nodes)"), so a block could not be told from a failure to start.
DEFAULT_CLIENTS = {"dht": [Libtorrent, Aria2]}

# Each mode has its own pair of nets; the other tests theirs.
NETS = {"plain": 60, "mse": 62, "utp": 64, "dht": 66, "refuse-dht": 68, "traffic": 70}

POLICY_ALL = 'default = "allow"\n[[rule]]\napp = "bittorrent"\naction = "drop"\n'


def policy_hashes(listed):
    return f'default = "allow"\n[[rule]]\ninfohashes = ["{listed}"]\naction = "drop"\n'


# Peer connections only: discovery (trackers, DHT) passes, so the client learns its peers and
# the connections themselves — encrypted ones included — must be recognised and dropped.
POLICY_PEERS = 'default = "allow"\n[[rule]]\nkind = ["peer-tcp", "peer-utp"]\naction = "drop"\n'


def policy_peer_hashes(listed):
    """Torrent A's peer connections only: its announces pass, so an encrypted connection to
    A's seeder is attributed through the endpoint the tracker (or DHT) reply named."""
    return (f'default = "allow"\n[[rule]]\ninfohashes = ["{listed}"]\nkind = ["peer-tcp", "peer-utp"]\n'
            'action = "drop"\n')


# policy -> what each leecher must end with of [A, B] when it is enforced
POLICIES = {"all": [0.0, 0.0], "peers": [0.0, 0.0], "hashes": [0.0, 1.0],
            "peer-hashes": [0.0, 1.0], "none": [1.0, 1.0]}


def policy_text(policy, hashes):
    return {"all": POLICY_ALL, "peers": POLICY_PEERS, "hashes": policy_hashes(hashes[0]),
            "peer-hashes": policy_peer_hashes(hashes[0]), "none": 'default = "allow"\n'}[policy]


def policy_refuse(listed):
    return f'default = "allow"\n[dht]\nrefuse = ["{listed}"]\n'


class Swarmwall:
    """The rules and the daemon on the router."""

    def __init__(self, lab, router, work, policy_text, dry_run=False, queues="0-1", args=(),
                 flows=True):
        self.lab, self.router, self.work = lab, router, Path(work)
        self.policy = self.work / "policy.toml"
        self.policy.write_text(policy_text)
        self.events = self.work / "events.jsonl"
        self.stats_path = self.work / "stats.json"
        self.flows = self.work / "flows.jsonl"
        self.alerts = self.work / "alerts.jsonl"
        self.eve = self.work / "eve.json"
        self.dry_run, self.queues, self.args = dry_run, queues, list(args)
        self.keep_flows = flows
        self.proc = None

    def install(self, hooks=("forward",)):
        self.router.run([str(BIN), "rules", "install", *(a for h in hooks for a in ("--hook", h)),
                         "--queues", self.queues])
        self.forwarded0 = self.forwarded()

    def start(self):
        argv = [str(BIN), "enforce", "--policy", str(self.policy), "--queues", self.queues,
                "--events", str(self.events), "--stats", str(self.stats_path), "--stats-every", "1",
                "--alerts", str(self.alerts), "--metrics", "127.0.0.1:0",
                "--eve", str(self.eve)]
        if self.keep_flows:
            argv += ["--flows", str(self.flows)]
        if self.dry_run:
            argv.append("--dry-run")
        argv += self.args
        self.proc = self.router.spawn(argv, "swarmwall")
        if not netlab.wait_until(lambda: self.events.exists() and '"start"' in self.events.read_text(), 10):
            raise RuntimeError("swarmwall enforce did not start: " +
                               (self.router.dir / "swarmwall.log").read_text(errors="replace"))

    def stop(self):
        if self.proc:
            self.lab.stop(self.proc, grace=10)

    def remove(self):
        self.router.run([str(BIN), "rules", "remove"], check=False)

    def metrics(self, required=()):
        """The daemon's metrics page, scraped on the router, checked with promtool: (problems,
        {sample: value})."""
        url = promcheck.url_in(self.router.dir / "swarmwall.log")
        if url is None:
            return ["no metrics address in the daemon's log"], {}
        return promcheck.check(promcheck.scrape(self.router.ns, url), required)

    def stats(self):
        try:
            return json.loads(self.stats_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def read_alerts(self):
        """The attack alerts the daemon wrote (an ordinary swarm: none)."""
        if not self.alerts.exists():
            return []
        return [json.loads(l) for l in self.alerts.read_text().splitlines() if l.strip()]

    def read_eve(self):
        """The EVE events the daemon wrote, by type."""
        out = {}
        if self.eve.exists():
            for l in self.eve.read_text().splitlines():
                if l.strip():
                    e = json.loads(l)
                    out.setdefault(e["event_type"], []).append(e)
        return out

    def read_events(self):
        if not self.events.exists():
            return []
        return [json.loads(l) for l in self.events.read_text().splitlines() if l.strip()]

    def counters(self):
        """Packets per rule of the SWARMWALL chain (the kernel's counters)."""
        out = self.router.run(["iptables", "-w", "-L", "SWARMWALL", "-n", "-v", "-x"], check=False).stdout
        rows = []
        for line in out.splitlines()[2:]:
            f = line.split()
            if len(f) >= 3 and f[0].isdigit():
                rows.append((f[2], int(f[0]), line))
        return rows


    def forwarded(self):
        """IPv4 packets the router has forwarded (its /proc/net/snmp; a GRO-merged packet
        counts once, as in the rule counters)."""
        out = self.router.run(["cat", "/proc/net/snmp"]).stdout
        ip = [l.split() for l in out.splitlines() if l.startswith("Ip:")]
        return int(ip[1][ip[0].index("ForwDatagrams")])

    def traffic(self):
        """(packets queued to the daemon, packets through the router) since `install`."""
        return userspace_share(self.counters(), self.forwarded() - self.forwarded0)


def userspace_share(rows, forwarded):
    """Packets queued to user space (first passes; a packet back from the daemon passes the
    rules again, it is not queued twice), and all the packets: those the router forwarded
    (most never enter the chain: the packets of a flow allowed for good skip the jump) and
    those dropped in the chain (a blocked flow's)."""
    queued = sum(n for t, n, _ in rows if t == "NFQUEUE")
    dropped = sum(n for t, n, _ in rows if t in ("DROP", "REJECT"))
    return queued, forwarded + dropped


def build(lab, net, work, mode, clients, rng, size_kb):
    """The routed topology, content, torrents, swarm and leechers (nothing started)."""
    tracker_kind, seed_cfg, client_cfgs, magnet = MODES[mode]
    inside, outside = net, net + 1
    lab.bridge("br1")
    router = lab.router("router", [("br0", inside, 1), ("br1", outside, 1)])
    gw_in, gw_out = f"10.77.{inside}.1", f"10.77.{outside}.1"
    port = lambda: rng.randrange(10000, 65000)
    contents, torrents, hashes, mags = [], [], [], []
    tracker = None
    if tracker_kind:
        th = lab.host("tracker", 2, bridge="br1", net=outside, gateway=gw_out)
        tracker = Tracker(th, port(), [])
    for name in "ab":
        c = torrent.make_content(work / "content" / f"enforce-{mode}-{name}.bin", size_kb << 10,
                                 f"enforce-{mode}-{name}")
        t = work / f"{name}.torrent"
        _, ih = torrent.make_torrent(c, t, [tracker.announce(tracker_kind)] if tracker else [])
        contents.append(c)
        torrents.append(t)
        hashes.append(ih)
        mags.append(torrent.magnet(ih, c.name))
    if tracker:
        tracker.infohashes = list(hashes)
    dht, bootstrap = [], []
    if mode == "dht":
        bh = lab.host("dht-boot", 3, bridge="br1", net=outside, gateway=gw_out)
        bport = port()
        dht.append(DhtNode(bh, Cfg(port=bport, dht=True, tcp=False, utp=False)))
        bootstrap = [f"{bh.ip}:{bport}"]
        sh = lab.host("dht-nodes", 4, bridge="br1", net=outside, gateway=gw_out)
        dht.append(DhtSwarm(sh, 200, 32, port(), bootstrap[0]))
    seeders = []
    for i, name in enumerate("ab"):
        h = lab.host(f"seed-{name}", 11 + i, bridge="br1", net=outside, gateway=gw_out)
        cfg = Cfg(port=port(), bootstrap=list(bootstrap), **seed_cfg)
        seeders.append(Libtorrent(h, cfg, torrents[i], contents[i], True))
    leechers = []
    for i, kind in enumerate(clients):
        h = lab.host(f"leech{i}-{kind.__name__.lower()}", 11 + i, bridge="br0", net=inside,
                     gateway=gw_in, isolated=True)
        cfg = Cfg(port=port(), bootstrap=list(bootstrap), **client_cfgs[kind])
        first = (None, mags[0], contents[0]) if magnet else (torrents[0], None, contents[0])
        second = (None, mags[1], contents[1]) if magnet else (torrents[1], None, contents[1])
        leechers.append(kind(h, cfg, first[0], contents[0], False, magnet=first[1], extra=[second]))
    return router, tracker, dht, seeders, leechers, contents, hashes


def start_swarm(tracker, dht, seeders, leechers):
    if tracker:
        tracker.start()
    for n in dht:
        n.start()
    if dht:
        time.sleep(2)
    for s in seeders:
        s.start()
    time.sleep(1)
    for c in leechers:
        c.start()
        time.sleep(0.3)


def have(leechers, contents):
    return {c.host.name: [round(c.verified(x), 3) for x in contents] for c in leechers}


def save(result, out):
    """Appends one run's result to the results file `out` (JSON lines), if one is given."""
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(result) + "\n")


def run_download(mode, policy, clients=None, window=90.0, size_kb=2048, out=None, log=print,
                 dry_run=False, seed=1):
    """One download run with `policy` (a key of POLICIES) — returns a result dict with `ok`
    and the measurements. The policies that list a torrent list A."""
    clients = clients or DEFAULT_CLIENTS.get(mode) or list(MODES[mode][2])
    net = NETS[mode]
    work = Path("/tmp/swarmwall-enforce") / f"{mode}-{policy}{'-dry' if dry_run else ''}"
    shutil.rmtree(work, ignore_errors=True)
    rng = random.Random(f"enforce-{mode}-{policy}-{seed}")
    started = time.time()
    result = {"mode": mode, "policy": policy, "dry_run": dry_run,
              "clients": [k.software for k in clients]}
    with netlab.Lab(net, work) as lab:
        router, tracker, dht, seeders, leechers, contents, hashes = build(
            lab, net, work, mode, clients, rng, size_kb)
        result["infohashes"] = {"a": hashes[0], "b": hashes[1]}
        text = policy_text(policy, hashes)
        sw = Swarmwall(lab, router, work, text, dry_run=dry_run)
        sw.install()
        sw.start()
        start_swarm(tracker, dht, seeders, leechers)
        t0 = time.time()
        # A dry run blocks nothing: everything must complete.
        expect = [1.0, 1.0] if dry_run else POLICIES[policy]
        result["expected"] = expect
        complete = [i for i, f in enumerate(expect) if f == 1.0]
        if not complete:
            # Blocked: nothing may arrive within the window.
            netlab.wait_until(lambda: False, window, step=1.0)
        else:
            netlab.wait_until(lambda: all(c.verified(contents[i]) == 1.0 for c in leechers for i in complete),
                              window, step=1.0)
            result["complete_seconds"] = round(time.time() - t0, 1)
            if len(complete) < len(expect):
                # ...and the blocked torrent must still have nothing a while later.
                time.sleep(15)
        result["waited_seconds"] = round(time.time() - t0, 1)
        result["have"] = have(leechers, contents)
        for c in reversed(leechers + seeders):
            lab.stop(c.proc)
        for n in dht:
            lab.stop(n.proc)
        if tracker:
            lab.stop(tracker.proc)
        sw.stop()
        rows = sw.counters()
        result["counters"] = [(t, n) for t, n, _ in rows]
        queued, total = sw.traffic()
        result["userspace"] = {"queued": queued, "packets": total,
                               "share": round(queued / total, 5) if total else None}
        sw.remove()
        result["stats"] = sw.stats()
        events = sw.read_events()
        result["events"] = len([e for e in events if e["event"] == "decision"])
        result["attack_alerts"] = sorted({(a["category"], a["key"]) for a in sw.read_alerts()})
        if dry_run:
            result["flow_records"], result["unlogged_bt_flows"] = unlogged(sw, events)
    result["seconds"] = round(time.time() - started, 1)
    h = result["have"]
    # The swarm is ordinary: enforce's attack detectors raise nothing.
    result["ok"] = all(v == expect for v in h.values()) and not result.get("attack_alerts")
    if dry_run:
        # Nothing blocked, nothing dropped, every BitTorrent flow reported with what the
        # policy would have done.
        result["ok"] = (result["ok"] and result["stats"].get("packets_dropped", 1) == 0
                        and result["flow_records"] > 0 and not result["unlogged_bt_flows"]
                        and result["events"] > 0)
    save(result, out)
    return result


def unlogged(sw, events):
    """The BitTorrent flows of the daemon's own flow records, and those without a decision
    event."""
    logged = set()
    for e in events:
        f = e.get("flow")
        if e["event"] == "decision" and f:
            logged.add((f["proto"], f["client"], f["server"]))
    missing, bt = [], 0
    if sw.flows.exists():
        for line in sw.flows.read_text().splitlines():
            r = json.loads(line)
            if r["app"] != "bittorrent":
                continue
            bt += 1
            if (r["proto"], r["client"], r["server"]) not in logged:
                missing.append(f'{r["proto"]} {r["client"]} {r["server"]} {r["kind"]}')
    return bt, missing


# --- refuse_dht ------------------------------------------------------------------------------

def run_refuse_dht(out=None, log=print):
    """A DHT node behind the router; a libtorrent DHT client outside asks it get_peers for a
    refused and for another info-hash: first with the daemon not running (both answered: the
    check can fail), then with it (only the other answered)."""
    net = NETS["refuse-dht"]
    work = Path("/tmp/swarmwall-enforce") / "refuse-dht"
    shutil.rmtree(work, ignore_errors=True)
    rng = random.Random("refuse-dht")
    listed = "%040x" % rng.getrandbits(160)
    other = "%040x" % rng.getrandbits(160)
    result = {"test": "refuse-dht", "listed": listed, "other": other}
    started = time.time()
    with netlab.Lab(net, work) as lab:
        lab.bridge("br1")
        router = lab.router("router", [("br0", net, 1), ("br1", net + 1, 1)])
        nh = lab.host("node", 11, bridge="br0", net=net, gateway=f"10.77.{net}.1")
        ph = lab.host("prober", 11, bridge="br1", net=net + 1, gateway=f"10.77.{net + 1}.1")
        nport = rng.randrange(10000, 65000)
        node = DhtNode(nh, Cfg(port=nport, dht=True, tcp=False, utp=False))
        node.start()
        sw = Swarmwall(lab, router, work, policy_refuse(listed))
        sw.install()
        time.sleep(2)

        def probe(tag):
            r = ph.run(["/usr/bin/python3", str(LIB / "dht_probe.py"), ph.ip,
                        str(rng.randrange(10000, 65000)), f"{nh.ip}:{nport}", listed, other],
                       timeout=60, check=False)
            (work / f"probe-{tag}.log").write_text(r.stdout + r.stderr)
            return json.loads(r.stdout.strip().splitlines()[-1])

        result["without_daemon"] = probe("before")
        sw.start()
        time.sleep(1)
        result["with_daemon"] = probe("after")
        sw.stop()
        sw.remove()
        lab.stop(node.proc)
        result["stats"] = sw.stats()
        result["events"] = [e.get("decision", {}).get("dht") for e in sw.read_events() if e["event"] == "decision"]
    b, a = result["without_daemon"], result["with_daemon"]
    result["ok"] = (b.get(listed) and b.get(other) and a.get(other) and not a.get(listed)
                    and a.get("ping", False))
    result["seconds"] = round(time.time() - started, 1)
    save(result, out)
    return result


# --- other traffic: kill -9, throughput ---------------------------------------------------

def traffic_lab(lab, work):
    net = NETS["traffic"]
    lab.bridge("br1")
    router = lab.router("router", [("br0", net, 1), ("br1", net + 1, 1)])
    client = lab.host("client", 11, bridge="br0", net=net, gateway=f"10.77.{net}.1")
    server = lab.host("server", 11, bridge="br1", net=net + 1, gateway=f"10.77.{net + 1}.1")
    return router, client, server


def iperf_intervals(js):
    """(start, end, bytes) per reported interval of an iperf3 JSON result."""
    return [(i["sum"]["start"], i["sum"]["end"], i["sum"]["bytes"]) for i in js["intervals"]]


@contextlib.contextmanager
def guarded_traffic(name):
    """The traffic topology, swarmwall installed and running ("block all BitTorrent") on the
    router, an HTTP server on port 8080 of the server: yields (lab, work, client, server, sw,
    http)."""
    work = Path("/tmp/swarmwall-enforce") / name
    shutil.rmtree(work, ignore_errors=True)
    with netlab.Lab(NETS["traffic"], work) as lab:
        router, client, server = traffic_lab(lab, work)
        sw = Swarmwall(lab, router, work, POLICY_ALL)
        sw.install()
        sw.start()
        http = server.spawn(["python3", "-m", "http.server", "8080", "--bind", server.ip], "http")
        yield lab, work, client, server, sw, http


def run_kill9(out=None, log=print):
    """An iperf3 transfer through the router while the daemon is killed with SIGKILL: the
    transfer must go on within 1 s, and a new connection must open at once."""
    result = {"test": "kill-9"}
    started = time.time()
    with guarded_traffic("kill9") as (lab, work, client, server, sw, http):
        srv = server.spawn(["iperf3", "-s", "-B", server.ip], "iperf3-server")
        time.sleep(1)
        ip = client.spawn(["iperf3", "-c", server.ip, "-t", "6", "-i", "0.1", "-J",
                           "--logfile", str(work / "iperf.json")], "iperf3")
        time.sleep(2.0)
        killed_at = time.time()
        sw.proc.send_signal(signal.SIGKILL)
        # the daemon runs under `ip netns exec`: kill the whole group hard
        try:
            import os
            os.killpg(sw.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        t = time.time()
        r = client.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                        f"http://{server.ip}:8080/"], check=False, timeout=10)
        result["new_connection_seconds"] = round(time.time() - t, 3)
        result["new_connection_status"] = r.stdout.strip()
        ip.wait(timeout=20)
        lab.stop(srv)
        lab.stop(http)
        sw.remove()
        js = json.loads((work / "iperf.json").read_text())
        start_epoch = js["start"]["timestamp"]["timesecs"]
        kill_rel = killed_at - start_epoch
        iv = iperf_intervals(js)
        # the longest run of empty intervals after the kill
        gap, run_ = 0.0, 0.0
        for s, e, b in iv:
            if e <= kill_rel:
                continue
            run_ = run_ + (e - s) if b == 0 else 0.0
            gap = max(gap, run_)
        result["kill_at_seconds"] = round(kill_rel, 2)
        result["longest_stall_seconds"] = round(gap, 2)
        result["bytes_after_kill"] = sum(b for s, e, b in iv if s >= kill_rel)
    result["seconds"] = round(time.time() - started, 1)
    result["ok"] = (result["longest_stall_seconds"] < 1.0 and result["bytes_after_kill"] > 0
                    and result["new_connection_status"] == "200"
                    and result["new_connection_seconds"] < 1.0)
    save(result, out)
    return result


# The families the daemon's metrics page must have.
ENFORCE_METRICS = ("swarmwall_build_info", "swarmwall_packets_total",
                   "swarmwall_packets_dropped_total", "swarmwall_flows_total",
                   "swarmwall_decisions_total", "swarmwall_queue_overruns_total",
                   "swarmwall_reloads_total", "swarmwall_alerts_total")


def run_reload(out=None, log=print):
    """SIGHUP while new connections go through the router: a bad policy file is rejected (one
    line naming the file and place, the daemon keeps running on the old policy), a good one
    is taken; no connection attempt fails meanwhile."""
    result = {"test": "reload"}
    started = time.time()
    with guarded_traffic("reload") as (lab, work, client, server, sw, http):
        time.sleep(1)
        conns = client.spawn(["/usr/bin/python3", str(LIB / "traffic_probe.py"), "connections",
                              server.ip, "8080", "3000"], "connections")
        bad = 'default = "allow"\n[[rule]]\napp = "bittorrent"\naction = "explode"\n'
        for i in range(10):
            sw.policy.write_text(bad if i % 2 == 0 else policy_hashes("ab" * 20))
            sw.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)
        alive = sw.proc.poll() is None
        conns.wait(timeout=120)
        probe = json.loads((client.dir / "connections.log").read_text().strip().splitlines()[-1])
        time.sleep(1.2)  # the metrics page is published every second
        problems, m = sw.metrics(ENFORCE_METRICS)
        sw.stop()
        sw.remove()
        lab.stop(http)
        reloads = [e for e in sw.read_events() if e["event"] == "reload"]
    failed = [e for e in reloads if not e["ok"]]
    result.update({
        "alive_after_reloads": alive,
        "reloads_ok": len(reloads) - len(failed),
        "reloads_failed": len(failed),
        "failure_message": failed[0]["message"] if failed else None,
        "connections": probe,
        "metrics_problems": problems,
        "metrics_reloads": [m.get('swarmwall_reloads_total{result="ok"}'),
                            m.get('swarmwall_reloads_total{result="failed"}')],
        "seconds": round(time.time() - started, 1),
    })
    result["ok"] = (alive and len(reloads) == 10 and len(failed) == 5
                    and not problems and result["metrics_reloads"] == [5, 5]
                    and "policy.toml:4:" in (result["failure_message"] or "")
                    and "\n" not in result["failure_message"]
                    and probe["ok"] == probe["requests"])
    save(result, out)
    return result


PING = "d1:ad2:id20:" + "a" * 20 + "e1:q4:ping1:t2:aa1:y1:qe"


def run_untracked(out=None, log=print):
    """Packets without a conntrack entry (the router's raw table says NOTRACK): a blocked flow
    must be dropped once per packet, not sent round to the queue again and again."""
    result = {"test": "untracked"}
    started = time.time()
    with guarded_traffic("untracked") as (lab, work, client, server, sw, http):
        router = lab.hosts["router"]
        router.run(["iptables", "-w", "-t", "raw", "-A", "PREROUTING", "-p", "udp", "-j", "NOTRACK"])
        server.run(["iptables", "-w", "-A", "INPUT", "-p", "udp", "--dport", "6881", "-j", "DROP"])
        sent = 5
        client.run(["/usr/bin/python3", "-c",
                    "import socket,time\n"
                    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                    f"for _ in range({sent}):\n"
                    f"    s.sendto({PING!r}.encode(),('{server.ip}',6881)); time.sleep(0.05)"])
        time.sleep(1.5)  # two statistics writes
        arrived = server.run(["iptables", "-w", "-L", "INPUT", "-n", "-v", "-x"]).stdout
        arrived = sum(int(l.split()[0]) for l in arrived.splitlines()[2:] if "dpt:6881" in l)
        stats = sw.stats()
        problems, m = sw.metrics(ENFORCE_METRICS)
        sw.stop()
        sw.remove()
        stats = sw.stats() or stats
        eve = sw.read_eve()
        records = [json.loads(l) for l in sw.flows.read_text().splitlines() if l.strip()] \
            if sw.flows.exists() else []
    decided = sum(v for k, v in m.items() if k.startswith("swarmwall_decisions_total{"))
    result.update({"sent": sent, "arrived": arrived, "judged": stats.get("packets"),
                   "dropped": stats.get("packets_dropped"), "seconds": round(time.time() - started, 1),
                   "metrics_problems": problems,
                   "metrics_judged_dropped_decided": [m.get("swarmwall_packets_total"),
                                                      m.get("swarmwall_packets_dropped_total"),
                                                      decided],
                   # EVE: a flow event per record written, a DHT event per ping judged.
                   "eve_flows_records_dht": [len(eve.get("flow", [])), len(records),
                                             len(eve.get("bittorrent_dht", []))]})
    # The metrics page says what the statistics file says.
    in_stats = sum(n for acts in stats.get("decisions", {}).values() for n in acts.values())
    result["ok"] = (arrived == 0 and result["judged"] == sent and result["dropped"] == sent
                    and not problems and in_stats > 0
                    and result["metrics_judged_dropped_decided"] == [sent, sent, in_stats]
                    and result["eve_flows_records_dht"] == [len(records), len(records), sent]
                    and len(records) > 0)
    save(result, out)
    return result



POLICY_REJECT = 'default = "allow"\n[[rule]]\napp = "bittorrent"\naction = "reject"\n'

# A peer that listens for BitTorrent on TCP and UDP port 6881: it reports what reached it.
PEER = """
import json, select, socket, sys, time
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((sys.argv[1], 6881)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((sys.argv[1], 6881))
got = {"tcp_bytes": 0, "udp_datagrams": 0}
conns = []
end = time.time() + float(sys.argv[2])
while time.time() < end:
    r, _, _ = select.select([t, u, *conns], [], [], 0.1)
    for x in r:
        if x is t:
            conns.append(t.accept()[0])
        elif x is u:
            u.recvfrom(2048); got["udp_datagrams"] += 1
        else:
            try:
                d = x.recv(4096)
            except OSError:
                d = b""
            got["tcp_bytes"] += len(d)
            if not d:
                conns.remove(x)
print(json.dumps(got), flush=True)
"""

# The other side: a BitTorrent handshake over TCP and a DHT ping over UDP; how each ended.
KNOCK = """
import json, socket, sys
host = sys.argv[1]
res = {}
c = socket.create_connection((host, 6881), timeout=3)
c.sendall(b"\\x13BitTorrent protocol" + bytes(8) + bytes(range(20)) + b"-XX0000-" + bytes(12))
try:
    res["tcp"] = "answered" if c.recv(100) else "closed"
except ConnectionResetError:
    res["tcp"] = "reset"
except socket.timeout:
    res["tcp"] = "timeout"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.connect((host, 6881))
u.send(sys.argv[2].encode())
try:
    u.recv(2048); res["udp"] = "answered"
except ConnectionRefusedError:
    res["udp"] = "refused"
except socket.timeout:
    res["udp"] = "timeout"
print(json.dumps(res), flush=True)
"""


def run_reject(out=None, log=print):
    """Policy "reject" on a host running a client (hooks input and output): a peer's
    BitTorrent handshake is answered with a TCP reset, its DHT query with ICMP port
    unreachable — the answer the kernel makes leaves through the output hook, where it must
    not be taken for a packet of the rejected flow — and nothing reaches the client."""
    result = {"test": "reject"}
    started = time.time()
    work = Path("/tmp/swarmwall-enforce") / "reject"
    shutil.rmtree(work, ignore_errors=True)
    with netlab.Lab(NETS["traffic"], work) as lab:
        router, client, server = traffic_lab(lab, work)
        (work / "sw").mkdir(parents=True)
        sw = Swarmwall(lab, server, work / "sw", POLICY_REJECT)
        sw.install(hooks=("input", "output"))
        sw.start()
        peer = server.spawn(["/usr/bin/python3", "-c", PEER, server.ip, "9"], "peer")
        time.sleep(0.5)
        knock = json.loads(client.run(["/usr/bin/python3", "-c", KNOCK, server.ip, PING],
                                      timeout=20).stdout.strip().splitlines()[-1])
        peer.wait(timeout=20)
        got = json.loads((server.dir / "peer.log").read_text().strip().splitlines()[-1])
        time.sleep(1.2)  # a statistics write
        stats = sw.stats()
        sw.stop()
        sw.remove()
        stats = sw.stats() or stats
    result.update({"answers": knock, "reached_client": got, "judged": stats.get("packets"),
                   "dropped": stats.get("packets_dropped"),
                   "seconds": round(time.time() - started, 1)})
    result["ok"] = (knock == {"tcp": "reset", "udp": "refused"}
                    and got == {"tcp_bytes": 0, "udp_datagrams": 0})
    save(result, out)
    return result
