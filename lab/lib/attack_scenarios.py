"""Attack scenarios: a small real swarm, an attacker (and for reflection a victim) in their own
namespaces, one capture with its ground truth (`attack-CATEGORY.truth.json`).

Timeline of every scenario: the swarm runs ~15 s normally, the attack (lib/attackgen.py, run
inside the attacker's namespace, or the switch namespace for the on-path attacker) lasts
~20-25 s, the swarm runs ~10 s more, then everything stops and the capture is read back (with
the lab's own parser over scapy's raw pcap reader, nothing of swarmwall) to record what the
real clients did in reply (`observed`).

Nets: 200-206 (one per category) and 210 (churn); no scenario of scenarios.py, enforce_lab.py,
background.py, watch or make-nflog-capture uses them. Hosts: tracker .2, DHT bootstrap .3, bare
DHT nodes .4 (+ .60-.75), clients .11-.14, victim .40, attacker .50 (and .51).

Every client host's egress is shaped (tc tbf, 1.5 Mbit/s) and the content is 24 MiB, so the
swarm is still transferring during the attack and after it.
"""

import datetime
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

from . import netlab, torrent
from .attackgen import bdec
from .clients import Aria2, Cfg, DhtNode, DhtSwarm, Libtorrent, Tracker, Transmission, deb_version

LIB = Path(__file__).resolve().parent
PY = "/usr/bin/python3"
GEN = str(LIB / "attackgen.py")

CATEGORIES = ["utp-forged", "utp-reflection", "dht-reflection", "dht-sybil", "dht-eclipse",
              "peer-list-poisoning", "reset-injection"]
NETS = {c: 200 + i for i, c in enumerate(CATEGORIES)}
CHURN_NET = 210

PORT = {Libtorrent: 6881, Transmission: 51413, Aria2: 6881}
RATE_KBIT = 1500
SIZE_MIB = 24
NORMAL_S, AFTER_S = 15, 10

# ---------------------------------------------------------------------------------------------
# reading captures (Ethernet / IPv4 / TCP / UDP / ARP), with scapy's raw reader


class Pkt:
    __slots__ = ("ts", "src", "dst", "proto", "sport", "dport", "ttl", "ip_len", "payload",
                 "flags", "seq", "arp_op", "arp_tpa", "arp_spa", "smac", "dmac", "icmp_type")


def packets(pcap):
    from scapy.utils import RawPcapReader
    for data, meta in RawPcapReader(str(pcap)):
        p = Pkt()
        p.ts = meta.sec + meta.usec / 1e6 if hasattr(meta, "sec") else meta[0] + meta[1] / 1e6
        p.dmac, p.smac = data[0:6].hex(":"), data[6:12].hex(":")
        et = struct.unpack(">H", data[12:14])[0]
        p.sport = p.dport = p.ttl = p.ip_len = p.flags = p.seq = p.arp_op = p.icmp_type = None
        p.payload = b""
        p.arp_tpa = p.arp_spa = None
        if et == 0x0806 and len(data) >= 42:
            p.proto = "arp"
            p.arp_op = struct.unpack(">H", data[20:22])[0]
            p.arp_spa = socket.inet_ntoa(data[28:32])
            p.arp_tpa = socket.inet_ntoa(data[38:42])
            p.src, p.dst = p.arp_spa, p.arp_tpa
            yield p
            continue
        if et != 0x0800 or len(data) < 34:
            continue
        ip = data[14:]
        ihl = (ip[0] & 0x0F) * 4
        p.ip_len = struct.unpack(">H", ip[2:4])[0]
        p.ttl = ip[8]
        proto = ip[9]
        p.src, p.dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        frag = struct.unpack(">H", ip[6:8])[0] & 0x1FFF
        l4 = ip[ihl:p.ip_len] if p.ip_len else ip[ihl:]
        if proto == 6 and not frag and len(l4) >= 20:
            p.proto = "tcp"
            p.sport, p.dport, p.seq = struct.unpack(">HHI", l4[:8])
            off = (l4[12] >> 4) * 4
            p.flags = l4[13]
            p.payload = l4[off:]
        elif proto == 17 and not frag and len(l4) >= 8:
            p.proto = "udp"
            p.sport, p.dport = struct.unpack(">HH", l4[:4])
            p.payload = l4[8:]
        elif proto == 1:
            p.proto = "icmp"
            p.icmp_type = l4[0] if l4 else None
            p.payload = l4
        else:
            p.proto = str(proto)
        yield p


def utp_type(payload):
    """BEP 29 packet type (0-4) if the UDP payload looks like uTP, else None."""
    if len(payload) >= 20 and payload[0] & 0x0F == 1 and payload[0] >> 4 <= 4 and payload[1] in (0, 1, 2, 3):
        return payload[0] >> 4
    return None


UTP_NAMES = {0: "ST_DATA", 1: "ST_FIN", 2: "ST_STATE", 3: "ST_RESET", 4: "ST_SYN"}


def krpc(payload):
    if payload[:1] != b"d":
        return None
    try:
        d, end = bdec(payload)
    except (ValueError, IndexError, KeyError):
        return None
    return d if isinstance(d, dict) and b"y" in d else None


def rate_max(times, window=10.0):
    """The largest number of `times` in any `window`-second window."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


# ---------------------------------------------------------------------------------------------
# the swarm


def versions():
    return {"libtorrent": Libtorrent.version(), "transmission": Transmission.version(),
            "aria2": Aria2.version(), "opentracker": Tracker.version(),
            "scapy": f"python3-scapy {deb_version('python3-scapy')}",
            "tcpdump": f"tcpdump {deb_version('tcpdump')}"}


def shape(h, kbit=RATE_KBIT):
    h.run(["tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", f"{kbit}kbit",
           "burst", "32kb", "latency", "300ms"])


def mac_of(h, dev="eth0"):
    return h.run(["cat", f"/sys/class/net/{dev}/address"]).stdout.strip()


class Swarm:
    """Tracker, optional DHT (bootstrap + bare nodes), the clients; started by `start()`."""

    def __init__(self, lab, work, tag, clients, dht=False, dht_nodes=0, size_mib=SIZE_MIB,
                 rate_kbit=RATE_KBIT, tracker=True, seed=1):
        self.lab, self.work = lab, work
        self.content = torrent.make_content(work / "content" / f"swarmwall-attack-{tag}.bin",
                                            size_mib << 20, f"attack-{tag}-{seed}")
        self.tracker = None
        announce = []
        if tracker:
            th = lab.host("tracker", 2)
            self.tracker = Tracker(th, 6969, [])
            announce = [self.tracker.announce("http")]
        _, self.ih = torrent.make_torrent(self.content, work / "file.torrent", announce)
        self.torrent = work / "file.torrent"
        if self.tracker:
            self.tracker.infohashes = [self.ih]
        self.dht_nodes, self.swarm, self.bootstrap = [], None, []
        if dht:
            bh = lab.host("dht-boot", 3)
            self.dht_nodes.append(DhtNode(bh, Cfg(port=6881, dht=True, tcp=False, utp=False)))
            self.bootstrap = [bh.endpoint(6881)]
            if dht_nodes:
                sh = lab.host("dht-nodes", 4)
                self.swarm = DhtSwarm(sh, 60, dht_nodes, 6881, self.bootstrap[0])
        self.clients, self.late = [], []
        for i, (kind, seed_, cfg, late) in enumerate(clients):
            role = "seed" if seed_ else "leech"
            h = lab.host(f"{role}{i}-{kind.__name__.lower()}", 11 + i)
            shape(h, rate_kbit)
            c = kind(h, Cfg(port=PORT[kind], bootstrap=list(self.bootstrap), **cfg), self.torrent,
                     self.content, seed_)
            c.late = late
            self.clients.append(c)
        self.rate_kbit, self.size_mib = rate_kbit, size_mib

    def start(self):
        if self.tracker:
            self.tracker.start()
        for n in self.dht_nodes:
            n.start()
        if self.swarm:
            self.swarm.start()
        if self.dht_nodes:
            time.sleep(2)
        for c in self.clients:
            if not c.late:
                c.start()
                time.sleep(0.3)

    def start_late(self):
        for c in self.clients:
            if c.late and c.proc is None:
                c.start()

    def stop(self):
        for c in reversed(self.clients):
            if c.proc:
                self.lab.stop(c.proc)
        for n in self.dht_nodes + ([self.swarm] if self.swarm else []):
            self.lab.stop(n.proc)
        if self.tracker:
            self.lab.stop(self.tracker.proc)

    def dht_hosts(self):
        """(ip, port, mac, what) of every DHT node: bootstrap, bare nodes, clients with DHT."""
        out = []
        for n in self.dht_nodes:
            out.append((n.host.ip, 6881, mac_of(n.host), "libtorrent DHT bootstrap node"))
        if self.swarm:
            m = mac_of(self.swarm.host)
            out += [(ip, 6881, m, "libtorrent bare DHT node") for ip in self.swarm.ips]
        for c in self.clients:
            if c.cfg.dht and not c.late:
                out.append((c.host.ip, c.cfg.port, mac_of(c.host), c.software))
        return out

    def describe(self):
        hosts = []
        if self.tracker:
            hosts.append({"name": self.tracker.host.name, "ip": self.tracker.host.ip, "role": "tracker",
                          "software": self.tracker.version(), "config": self.tracker.describe()})
        for n in self.dht_nodes:
            hosts.append({"name": n.host.name, "ip": n.host.ip, "role": "dht-bootstrap",
                          "software": DhtNode.version(), "config": n.describe()})
        if self.swarm:
            hosts.append({"name": self.swarm.host.name, "ips": self.swarm.ips, "role": "dht-nodes",
                          "software": DhtNode.version(), "config": self.swarm.describe()})
        for c in self.clients:
            d = {"name": c.host.name, "ip": c.host.ip, "role": "bt-client", "software": c.version(),
                 "config": c.describe(), "egress_kbit": self.rate_kbit}
            if c.late:
                d["late"] = True
            try:
                # verified pieces, byte for byte (libtorrent's files are sparse, full size)
                d["verified_at_end"] = round(c.verified(c.content), 3)
            except OSError:
                pass
            hosts.append(d)
        return hosts


def gen(lab, host, args, report, timeout):
    """Runs attackgen in `host`'s namespace (or the switch namespace if host is None),
    blocking, bounded; returns its report."""
    argv = [PY, GEN] + args + ["--report", str(report)]
    if host is None:
        p = subprocess.Popen(["ip", "netns", "exec", lab.switch] + argv, start_new_session=True,
                             stdout=open(lab.work / "attackgen-switch.log", "ab"),
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        lab.procs.append(("switch:attackgen", p))
    else:
        p = host.spawn(argv, "attackgen")
    return p


def wait_gen(lab, p, report, timeout):
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        lab.stop(p)
        raise RuntimeError(f"attackgen did not finish within {timeout} s")
    if p.returncode != 0 or not Path(report).exists():
        log = ""
        for f in lab.work.rglob("attackgen*.log"):
            log += f.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"attackgen failed (exit {p.returncode}):\n{log}")
    return json.loads(Path(report).read_text())


def tcpdump_in(lab, host, path, snaplen=0):
    """tcpdump on a host's own link (inside its namespace); a process of the lab (stopped by
    PID at teardown). Returns once it captures."""
    log = host.dir / "tcpdump.log"
    p = host.spawn(["tcpdump", "-i", "eth0", "-n", "-U", "-B", "16384", "-s", str(snaplen),
                    "-w", str(path)], "tcpdump")
    if not netlab.wait_until(lambda: "listening on" in log.read_text(errors="replace"), 10, 0.05):
        raise RuntimeError("tcpdump on the victim link did not start")
    return p


def stop_sigint(lab, p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lab.stop(p)


# ---------------------------------------------------------------------------------------------
# scenarios


def _lt(seed=False, late=False, **cfg):
    return (Libtorrent, seed, cfg, late)


def _tr(seed=False, late=False, **cfg):
    return (Transmission, seed, cfg, late)


SWARMS = {
    "utp-forged": dict(clients=[_lt(True, utp=True), _lt(utp=True), _tr(utp=True)]),
    "utp-reflection": dict(clients=[_lt(True, utp=True), _lt(utp=True), _tr(utp=True)]),
    "dht-reflection": dict(clients=[_lt(True, utp=True, dht=True), _lt(utp=True, dht=True),
                                    _tr(utp=True, dht=True)], dht=True, dht_nodes=12),
    "dht-sybil": dict(clients=[_lt(True, utp=True, dht=True), _lt(utp=True, dht=True),
                               _tr(utp=True, dht=True)], dht=True, dht_nodes=12),
    "dht-eclipse": dict(clients=[_lt(True, utp=True, dht=True), _lt(utp=True, dht=True),
                                 _tr(utp=True, dht=True), _lt(late=True, utp=True, dht=True)],
                        dht=True, dht_nodes=12),
    "peer-list-poisoning": dict(clients=[_lt(True, pex=True), _lt(pex=True), _tr(pex=True)]),
    "reset-injection": dict(clients=[_lt(True, tcp=True, utp=True), _lt(tcp=True, utp=False),
                                     _tr(utp=False), _lt(tcp=False, utp=True)]),
}

DESCRIPTIONS = {
    "utp-forged": "uTP ST_DATA packets (type 0, version 1) with random connection ids, seq_nr "
                  "and ack_nr, never preceded by a SYN, each carrying a BitTorrent handshake for "
                  "the swarm's info-hash and random bytes, from spoofed sources that exist on no "
                  "host plus bogons, to two real clients' uTP ports, ~50 packets/s for 20 s",
    "utp-reflection": "uTP reflection (Adamsky et al., WOOT 2015): per forged connection, ST_SYN "
                      "spoofed from the victim (new source port, new connection id) to a real "
                      "client's uTP port, ~100 ms later ST_DATA from the same victim port with "
                      "a random ack_nr and a BitTorrent handshake; the victim runs no BitTorrent "
                      "and never acknowledges",
    "dht-reflection": "KRPC get_peers (the swarm's info-hash) and find_node spoofed from the "
                      "victim's address and one UDP port, fresh 2-byte transaction ids, to the "
                      "lab's DHT nodes and clients in turn, ~20 queries/s for 20 s; the capture "
                      "is the victim's link: responses arrive there, the spoofed queries do not",
    "dht-sybil": "from one real address and several UDP ports, KRPC ping / find_node / get_peers "
                 "to the real clients' DHT ports, every message with a fresh random node id, "
                 "every 8th a near-twin of one base id (1-2 bytes changed)",
    "dht-eclipse": "node ids sharing their first 40 bits with the swarm's info-hash, one per "
                   "(address, port) socket on two attacker addresses, send ping / find_node / "
                   "get_peers to the real clients and the bootstrap node for ~20 s and answer "
                   "every query with nodes lists of more such ids; a libtorrent leecher joins "
                   "5 s into the attack and looks the info-hash up",
    "peer-list-poisoning": "plaintext peer connections (extension bit) to two real leechers, "
                           "BEP 10 extension handshakes offering ut_pex, then 3 ut_pex "
                           "messages over ~20 s each adding 50 peers in one /24 that has no "
                           "host and 4 bogons",
    "reset-injection": "an on-path attacker in the switch namespace sniffs the bridge and "
                       "injects TCP RSTs spoofed from the side receiving the payload, with its "
                       "exact next sequence number, and uTP ST_RESETs with the right connection "
                       "id, all with TTL 37 (the real peers: 64), into live connections between "
                       "real clients, several times over ~20 s",
}


def run(category, out_dir, work_root="/tmp/swarmwall-lab-attacks", log=print):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = NETS[category]
    work = Path(work_root) / category
    shutil.rmtree(work, ignore_errors=True)
    pcap = out_dir / f"attack-{category}.pcap"
    truth_path = out_dir / f"attack-{category}.truth.json"
    started = time.time()
    spec = dict(SWARMS[category])
    with netlab.Lab(net, work) as lab:
        sw = Swarm(lab, work, category, **spec)
        attacker = lab.host("attacker", 50)
        victim = lab.host("victim", 40) if category in ("utp-reflection", "dht-reflection") else None
        extra = {}
        if category == "dht-reflection":
            # scored: the victim's link; the bridge is kept for reference (no truth.json)
            lab.capture(out_dir / "dht-reflection-bridge.pcap")
            extra["victim_tcpdump"] = tcpdump_in(lab, victim, pcap)
        else:
            lab.capture(pcap)
        cap_start = time.time()
        sw.start()
        time.sleep(NORMAL_S)
        report = work / "attack-report.json"
        r = ATTACKS[category](lab, sw, attacker, victim, report, extra)
        time.sleep(AFTER_S)
        sw.stop()
        time.sleep(1)
        if "victim_tcpdump" in extra:
            stop_sigint(lab, extra.pop("victim_tcpdump"))
        lab.stop_capture()
        cap_end = time.time()
        hosts = sw.describe()
        attacker_ips = [attacker.ip] + extra.pop("attacker_extra_ips", [])
        hosts.append({"name": attacker.name, "ip": attacker.ip, "role": "attacker",
                      "ips": attacker_ips, "software": "lab/lib/attackgen.py (scapy)"})
        if victim:
            hosts.append({"name": victim.name, "ip": victim.ip, "role": "victim",
                          "software": "none (no BitTorrent, nothing listening on UDP)"})
    # reading the capture back (namespaces gone, files kept)
    obs = OBSERVE[category](pcap, r, sw, extra)
    truth = {
        "category": category,
        "infohash": sw.ih,
        "attack_start": r["start"],
        "attack_end": r["end"],
        "attackers": extra.get("attackers", attacker_ips),
        "spoofed_sources": extra.get("spoofed_sources", []),
        "victims": extra.get("victims", []),
        "targets": extra.get("targets", []),
        "capture": pcap.name,
        "capture_point": extra.get("capture_point", "bridge"),
        "capture_start": cap_start,
        "capture_end": cap_end,
        "description": DESCRIPTIONS[category],
        "observed": obs,
        "net": f"10.77.{net}.0/24",
        "content_mib": sw.size_mib,
        "egress_kbit_per_client": sw.rate_kbit,
        "hosts": hosts,
        "versions": versions(),
        "generator": {k: v for k, v in r.items() if k not in ("sent",)},
        "phases_s": {"normal": NORMAL_S, "after": AFTER_S},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    truth.update(extra.get("truth", {}))
    truth_path.write_text(json.dumps(truth, indent=1, default=str) + "\n")
    secs = round(time.time() - started, 1)
    log(f"{category}: {secs} s, {pcap} ({pcap.stat().st_size >> 10} KiB), attack "
        f"{r['start']:.3f}-{r['end']:.3f}; observed: {obs.get('summary')}")
    return {"category": category, "seconds": secs, "pcap": str(pcap), "truth": str(truth_path),
            "summary": obs.get("summary")}


def ep(ip, port, mac=None):
    return f"{ip}:{port}" + (f"@{mac}" if mac else "")


# --- 1 -----------------------------------------------------------------------------------------


def attack_utp_forged(lab, sw, attacker, victim, report, extra):
    targets = [c for c in sw.clients if c.cfg.utp][:1] + [c for c in sw.clients if isinstance(c, Transmission)]
    net = lab.net
    bogons = ["0.1.2.3", "127.9.9.9", "240.1.2.3", "169.254.7.7"]
    args = ["utp-forged", "--infohash", sw.ih, "--spoof-prefix", f"10.77.{net}",
            "--spoof-first", "200", "--spoof-count", "50", "--rate", "50", "--duration", "20"]
    for c in targets:
        args += ["--target", ep(c.host.ip, c.cfg.port, mac_of(c.host))]
    for b in bogons:
        args += ["--bogon", b]
    p = gen(lab, attacker, args, report, 60)
    r = wait_gen(lab, p, report, 60)
    extra.update(targets=[{"ip": c.host.ip, "port": c.cfg.port, "proto": "udp (uTP)",
                           "software": c.version()} for c in targets],
                 attackers=[attacker.ip], spoofed_sources=r["sources"],
                 truth={"spoofed_sources_note": f"10.77.{net}.200-.249 exist on no host; "
                        "bogons 0.1.2.3, 127.9.9.9, 240.1.2.3, 169.254.7.7; frames sent from "
                        f"the attacker's MAC ({mac_of(attacker)})"})
    extra["target_objs"] = targets
    return r


def observe_utp_forged(pcap, r, sw, extra):
    ih = bytes.fromhex(sw.ih)
    spoofed = set(r["sources"])
    targets = {c.host.ip: c for c in extra["target_objs"]}
    got = Counter()
    srcs = set()
    times = []
    replies = defaultdict(Counter)
    arp = defaultdict(set)
    arp_n = Counter()
    icmp = Counter()
    for p in packets(pcap):
        if p.proto == "udp" and p.src in spoofed and p.dst in targets:
            if utp_type(p.payload) == 0 and ih in p.payload[20:88]:
                got[p.dst] += 1
                srcs.add(p.src)
                times.append(p.ts)
        elif p.proto == "udp" and p.src in targets and p.dst in spoofed:
            replies[p.src][UTP_NAMES.get(utp_type(p.payload), "other")] += 1
        elif p.proto == "arp" and p.arp_op == 1 and p.arp_spa in targets and p.arp_tpa in spoofed:
            arp[p.arp_spa].add(p.arp_tpa)
            arp_n[p.arp_spa] += 1
        elif p.proto == "icmp" and p.src in targets and p.dst in spoofed:
            icmp[p.src] += 1
    per = {}
    texts = []
    for ip, c in targets.items():
        sw_name = c.software.split()[0]
        per[ip] = {"software": c.version(), "forged_st_data_received": got[ip],
                   "udp_replies_to_spoofed_sources": dict(replies[ip]),
                   "arp_requests_for_spoofed_sources": arp_n[ip],
                   "spoofed_addresses_arped": len(arp[ip]), "icmp_to_spoofed": icmp[ip]}
        texts.append(f"{sw_name} ({ip}) got {got[ip]} forged ST_DATA and sent "
                     f"{sum(replies[ip].values())} UDP packets to the spoofed sources "
                     f"({dict(replies[ip]) or 'none'}), {arp_n[ip]} ARP requests for "
                     f"{len(arp[ip])} of them (unanswered: no such host)")
    dur = (max(times) - min(times)) if len(times) > 1 else 0
    return {"forged_packets_in_capture": sum(got.values()), "generator_sent": r["packets"],
            "distinct_spoofed_sources_in_capture": len(srcs),
            "rate_pps": round(sum(got.values()) / dur, 1) if dur else None,
            "first": min(times) if times else None, "last": max(times) if times else None,
            "per_target": per,
            "summary": f"{sum(got.values())} forged ST_DATA from {len(srcs)} spoofed sources; "
                       + "; ".join(texts)}


# --- 2 -----------------------------------------------------------------------------------------


def attack_utp_reflection(lab, sw, attacker, victim, report, extra):
    targets = [c for c in sw.clients if isinstance(c, Libtorrent) and c.seed] + \
              [c for c in sw.clients if isinstance(c, Transmission)]
    args = ["utp-reflection", "--victim", victim.ip, "--infohash", sw.ih, "--connections", "20",
            "--gap", "0.6", "--data-delay", "0.1"]
    for c in targets:
        args += ["--target", ep(c.host.ip, c.cfg.port, mac_of(c.host))]
    p = gen(lab, attacker, args, report, 90)
    r = wait_gen(lab, p, report, 90)
    extra.update(targets=[{"ip": c.host.ip, "port": c.cfg.port, "proto": "udp (uTP)",
                           "software": c.version()} for c in targets],
                 attackers=[attacker.ip], spoofed_sources=[victim.ip],
                 victims=[{"ip": victim.ip, "ports": sorted(x["victim_port"] for x in r["connections"])}],
                 truth={"victim_note": "the victim namespace runs no BitTorrent and has no UDP "
                        "listener: its kernel may answer with ICMP port unreachable "
                        "(rate-limited), it never sends uTP"})
    extra["target_objs"] = targets
    extra["victim_ip"] = victim.ip
    return r


def observe_utp_reflection(pcap, r, sw, extra):
    v = extra["victim_ip"]
    conns = {(x["target"].split(":")[0], x["victim_port"]): x for x in r["connections"]}
    inb = defaultdict(lambda: {"packets": 0, "bytes": 0})
    out = defaultdict(lambda: {"packets": 0, "bytes": 0, "types": Counter(), "data_seqs": Counter(),
                               "handshake": False})
    icmp_from_v = 0
    for p in packets(pcap):
        if p.proto == "udp" and p.src == v and (p.dst, p.sport) in conns:
            k = (p.dst, p.sport)
            inb[k]["packets"] += 1
            inb[k]["bytes"] += p.ip_len
        elif p.proto == "udp" and p.dst == v and (p.src, p.dport) in conns:
            k = (p.src, p.dport)
            o = out[k]
            o["packets"] += 1
            o["bytes"] += p.ip_len
            t = utp_type(p.payload)
            o["types"][UTP_NAMES.get(t, "other")] += 1
            if t == 0:
                o["data_seqs"][struct.unpack(">H", p.payload[16:18])[0]] += 1
                if b"BitTorrent protocol" in p.payload:
                    o["handshake"] = True
        elif p.proto == "icmp" and p.src == v:
            icmp_from_v += 1
    per_client = {}
    texts = []
    for c in extra["target_objs"]:
        ip = c.host.ip
        ks = [k for k in conns if k[0] == ip]
        n = len(ks)
        pk = [out[k]["packets"] for k in ks]
        by = sum(out[k]["bytes"] for k in ks)
        bin_ = sum(inb[k]["bytes"] for k in ks)
        types = Counter()
        for k in ks:
            types.update(out[k]["types"])
        answered = sum(1 for k in ks if out[k]["packets"])
        with_data = sum(1 for k in ks if out[k]["types"].get("ST_DATA"))
        retrans = sum(sum(x - 1 for x in out[k]["data_seqs"].values() if x > 1) for k in ks)
        hs = sum(1 for k in ks if out[k]["handshake"])
        per_client[ip] = {
            "software": c.version(), "forged_connections": n,
            "forged_packets_in": sum(inb[k]["packets"] for k in ks), "forged_bytes_in": bin_,
            "connections_answered": answered, "connections_with_st_data": with_data,
            "connections_with_bt_handshake": hs,
            "packets_to_victim": sum(pk), "bytes_to_victim": by,
            "packets_per_connection": {"min": min(pk) if pk else 0, "max": max(pk) if pk else 0,
                                       "mean": round(sum(pk) / n, 2) if n else 0},
            "bytes_per_connection_mean": round(by / n, 1) if n else 0,
            "by_type": dict(types), "st_data_retransmissions": retrans,
            "bytes_out_over_in": round(by / bin_, 2) if bin_ else None,
        }
        sw_name = c.software.split()[0]
        texts.append(f"{sw_name} ({ip}): {answered}/{n} forged connections answered, "
                     f"{sum(pk)} packets / {by} bytes to the victim ({dict(types)}), "
                     f"{hs} with its BitTorrent handshake, {retrans} ST_DATA retransmissions, "
                     f"out/in bytes {per_client[ip]['bytes_out_over_in']}")
    return {"per_client": per_client, "icmp_from_victim": icmp_from_v,
            "per_connection": {f"{k[0]}<-{v}:{k[1]}": {"out_packets": out[k]["packets"],
                                                     "out_bytes": out[k]["bytes"],
                                                     "types": dict(out[k]["types"])}
                               for k in conns},
            "summary": "; ".join(texts) + f"; victim sent {icmp_from_v} ICMP"}


# --- 3 -----------------------------------------------------------------------------------------


def attack_dht_reflection(lab, sw, attacker, victim, report, extra):
    refl = sw.dht_hosts()
    vport = 27015
    args = ["dht-reflection", "--victim", f"{victim.ip}:{vport}", "--infohash", sw.ih,
            "--rate", "20", "--duration", "20"]
    for ip, port, mac, _ in refl:
        args += ["--reflector", ep(ip, port, mac)]
    p = gen(lab, attacker, args, report, 60)
    r = wait_gen(lab, p, report, 60)
    extra.update(targets=[{"ip": ip, "port": port, "proto": "udp (DHT)", "software": what}
                          for ip, port, _, what in refl],
                 attackers=[attacker.ip], spoofed_sources=[victim.ip],
                 victims=[{"ip": victim.ip, "ports": [vport]}],
                 capture_point="victim link",
                 truth={"capture_point_note": "tcpdump inside the victim's namespace on its "
                        "only interface: it sees the reflectors' responses, not the spoofed "
                        "queries (attacker -> reflectors)",
                        "bridge_capture": "dht-reflection-bridge.pcap (reference, not scored)"})
    extra["victim_ip"], extra["victim_port"] = victim.ip, vport
    extra["refl"] = refl
    return r


def observe_dht_reflection(pcap, r, sw, extra):
    v, vp = extra["victim_ip"], extra["victim_port"]
    ih = bytes.fromhex(sw.ih)
    resp = Counter()
    resp_bytes = 0
    times = []
    kinds = Counter()
    values = 0
    icmp = 0
    other_in = 0
    queries_in = Counter()
    for p in packets(pcap):
        if p.proto == "udp" and p.dst == v and p.dport == vp:
            d = krpc(p.payload)
            if d is not None and d.get(b"y") in (b"r", b"e"):
                resp[p.src] += 1
                resp_bytes += p.ip_len
                times.append(p.ts)
                kinds[d[b"y"].decode()] += 1
                if isinstance(d.get(b"r"), dict) and b"values" in d[b"r"]:
                    values += 1
            elif d is not None and d.get(b"y") == b"q":
                queries_in[d.get(b"q", b"?").decode(errors="replace")] += 1
            else:
                other_in += 1
        elif p.proto == "icmp" and p.src == v:
            icmp += 1
    bridge = Path(pcap).with_name("dht-reflection-bridge.pcap")
    q_n = q_bytes = 0
    if bridge.exists():
        for p in packets(bridge):
            if p.proto == "udp" and p.src == v and p.sport == vp:
                d = krpc(p.payload)
                if d is not None and d.get(b"y") == b"q":
                    q_n += 1
                    q_bytes += p.ip_len
    amp = round(resp_bytes / q_bytes, 2) if q_bytes else None
    return {"responses_on_victim_link": sum(resp.values()), "response_bytes": resp_bytes,
            "distinct_reflectors_answering": len(resp), "per_reflector": dict(resp),
            "responses_by_type": dict(kinds), "get_peers_responses_with_values": values,
            "max_responses_in_10s": rate_max(times), "icmp_from_victim": icmp,
            "spoofed_queries_on_bridge": q_n, "spoofed_query_bytes_on_bridge": q_bytes,
            "bandwidth_amplification": amp, "other_udp_to_victim_port": other_in,
            "queries_to_victim": dict(queries_in),
            "queries_to_victim_note": "DHT nodes that took the victim (the spoofed queries' "
                                      "node id at its address) into their routing tables query it",
            "summary": f"{r['packets']} spoofed queries sent ({q_n} seen on the bridge, "
                       f"{q_bytes} bytes); the victim's link got {sum(resp.values())} responses "
                       f"({resp_bytes} bytes, max {rate_max(times)} in 10 s) from {len(resp)} of "
                       f"{len(extra['refl'])} reflectors; amplification {amp}; the victim's "
                       f"kernel sent {icmp} ICMP; {sum(queries_in.values())} KRPC queries to the "
                       f"victim from nodes that took it into their routing tables"}


# --- 4 -----------------------------------------------------------------------------------------


def attack_dht_sybil(lab, sw, attacker, victim, report, extra):
    targets = [c for c in sw.clients if c.cfg.dht]
    ports = [40001, 40002, 40003, 40004]
    args = ["dht-sybil", "--source", attacker.ip, "--infohash", sw.ih, "--rate", "8",
            "--duration", "20", "--twins-every", "8"]
    for p_ in ports:
        args += ["--port", str(p_)]
    for c in targets:
        args += ["--target", ep(c.host.ip, c.cfg.port)]
    p = gen(lab, attacker, args, report, 60)
    r = wait_gen(lab, p, report, 60)
    extra.update(targets=[{"ip": c.host.ip, "port": c.cfg.port, "proto": "udp (DHT)",
                           "software": c.version()} for c in targets],
                 attackers=[attacker.ip])
    extra["target_objs"], extra["attacker_ip"] = targets, attacker.ip
    return r


def observe_dht_sybil(pcap, r, sw, extra):
    a = extra["attacker_ip"]
    targets = {c.host.ip: c for c in extra["target_objs"]}
    ids, times = [], []
    qs = Counter()
    rep = Counter()
    back_q = Counter()
    for p in packets(pcap):
        if p.proto != "udp":
            continue
        if p.src == a and p.dst in targets:
            d = krpc(p.payload)
            if d and d.get(b"y") == b"q":
                ids.append((p.ts, d[b"a"][b"id"].hex()))
                qs[d[b"q"].decode()] += 1
        elif p.dst == a and p.src in targets:
            d = krpc(p.payload)
            if d and d.get(b"y") in (b"r", b"e"):
                rep[p.src] += 1
            elif d and d.get(b"y") == b"q":
                back_q[(p.src, d[b"q"].decode())] += 1
    best10 = 0
    for i, (t, _) in enumerate(ids):
        best10 = max(best10, len({x for tt, x in ids if t <= tt < t + 10}))
    per = {ip: {"software": c.version(), "replies_to_attacker": rep[ip],
                "queries_back_to_attacker": {q: n for (s, q), n in back_q.items() if s == ip}}
           for ip, c in targets.items()}
    return {"queries_in_capture": len(ids), "by_query": dict(qs),
            "distinct_node_ids": len({x for _, x in ids}), "max_distinct_ids_in_10s": best10,
            "near_twins": r.get("twins"), "source_ports": r.get("ports"), "per_target": per,
            "summary": f"{len(ids)} queries ({dict(qs)}) from {a} with {len({x for _, x in ids})} "
                       f"distinct node ids (max {best10} in 10 s, {len(r.get('twins', []))} "
                       f"near-twins); replies: " + ", ".join(
                           f"{c.software.split()[0]} {ip} {rep[ip]}" for ip, c in targets.items())
                       + f"; queries back to the attacker: {sum(back_q.values())}"}


# --- 5 -----------------------------------------------------------------------------------------


def attack_dht_eclipse(lab, sw, attacker, victim, report, extra):
    a2 = attacker.add_address(51)
    targets = [c for c in sw.clients if c.cfg.dht and not c.late]
    dht_targets = [(c.host.ip, c.cfg.port) for c in targets] + \
                  [(n.host.ip, 6881) for n in sw.dht_nodes]
    ports = [6881, 6882, 6883, 6884, 6885, 6886]
    args = ["dht-eclipse", "--infohash", sw.ih, "--rate", "12", "--duration", "22",
            "--address", attacker.ip, "--address", a2, "--extra-ids", "8"]
    for p_ in ports:
        args += ["--port", str(p_)]
    for ip, port in dht_targets:
        args += ["--target", ep(ip, port)]
    p = gen(lab, attacker, args, report, 60)
    time.sleep(5)
    sw.start_late()  # a leecher joining now looks the info-hash up during the attack
    r = wait_gen(lab, p, report, 60)
    late = [c for c in sw.clients if c.late]
    extra.update(targets=[{"ip": ip, "port": port, "proto": "udp (DHT)"} for ip, port in dht_targets]
                 + [{"ip": c.host.ip, "port": c.cfg.port, "proto": "udp (DHT)",
                     "software": c.version(), "note": "joined 5 s into the attack; not sent to, "
                     "reached through the lookups"} for c in late],
                 attackers=[attacker.ip, a2], attacker_extra_ips=[a2])
    extra["attacker_ips"] = [attacker.ip, a2]
    return r


def observe_dht_eclipse(pcap, r, sw, extra):
    ih = bytes.fromhex(sw.ih)
    att = set(extra["attacker_ips"])
    clients = {c.host.ip: c for c in sw.clients}
    ids = set()
    q_out = Counter()
    lookups = Counter()
    lookups_to_sybils = Counter()
    lookup_times = []
    replies_from_attacker = 0
    nodes_in_answers = set()
    client_replies = Counter()
    for p in packets(pcap):
        if p.proto != "udp":
            continue
        d = krpc(p.payload)
        if not d:
            continue
        y = d.get(b"y")
        if p.src in att:
            if y == b"q":
                q_out[d[b"q"].decode()] += 1
                ids.add(d[b"a"][b"id"])
            elif y == b"r":
                replies_from_attacker += 1
                nodes = d[b"r"].get(b"nodes", b"")
                for i in range(0, len(nodes) - 25, 26):
                    nodes_in_answers.add(nodes[i:i + 20])
        if y == b"q" and d.get(b"q") == b"get_peers" and isinstance(d.get(b"a"), dict) \
                and d[b"a"].get(b"info_hash") == ih and p.src not in att:
            who = clients[p.src].host.name if p.src in clients else p.src
            lookups[who] += 1
            lookup_times.append(p.ts)
            if p.dst in att:
                lookups_to_sybils[who] += 1
        if y == b"r" and p.dst in att and p.src not in att:
            client_replies[p.src] += 1
    pref = lambda x: sum(1 for y in x if y[:5] == ih[:5])
    return {"attack_queries": sum(q_out.values()), "by_query": dict(q_out),
            "ids_sharing_40_bits_sent": pref(ids), "ids_in_nodes_answers": len(nodes_in_answers),
            "ids_in_answers_sharing_40_bits": pref(nodes_in_answers),
            "answers_from_attacker": replies_from_attacker,
            "replies_to_attacker": dict(client_replies),
            "get_peers_for_infohash_by_sender": dict(lookups),
            "get_peers_for_infohash_sent_to_sybils": dict(lookups_to_sybils),
            "first_lookup": min(lookup_times) if lookup_times else None,
            "summary": f"{sum(q_out.values())} queries ({dict(q_out)}) from {len(att)} addresses "
                       f"with {pref(ids)} ids sharing 40 bits with the info-hash; "
                       f"{replies_from_attacker} answers carrying {pref(nodes_in_answers)} such "
                       f"ids; get_peers for the info-hash in the capture: "
                       f"{sum(lookups.values())} ({dict(lookups)}), "
                       f"{sum(lookups_to_sybils.values())} of them to the sybils "
                       f"({dict(lookups_to_sybils)})"}


# --- 6 -----------------------------------------------------------------------------------------


def attack_peer_list_poisoning(lab, sw, attacker, victim, report, extra):
    targets = [c for c in sw.clients if not c.seed]
    net = lab.net
    bogons = ["0.0.0.5", "127.0.0.1", "224.0.0.9", "240.0.0.1"]
    args = ["peer-list-poisoning", "--infohash", sw.ih, "--fake-prefix", f"10.77.{net}",
            "--fake-first", "100", "--fake-count", "50", "--fake-port", "6881", "--repeats", "3",
            "--hold", "21"]
    for b in bogons:
        args += ["--bogon", b]
    for c in targets:
        args += ["--target", ep(c.host.ip, c.cfg.port)]
    p = gen(lab, attacker, args, report, 90)
    r = wait_gen(lab, p, report, 90)
    extra.update(targets=[{"ip": c.host.ip, "port": c.cfg.port, "proto": "tcp (peer wire)",
                           "software": c.version()} for c in targets],
                 attackers=[attacker.ip],
                 truth={"fake_peers": r["fake_peers"],
                        "fake_peers_note": f"10.77.{net}.100-.149 exist on no host; bogons "
                        + ", ".join(bogons), "first_pex": r.get("first_pex")})
    extra["target_objs"], extra["attacker_ip"] = targets, attacker.ip
    return r


def observe_peer_list_poisoning(pcap, r, sw, extra):
    a = extra["attacker_ip"]
    targets = {c.host.ip: c for c in extra["target_objs"]}
    fake = {x.split(":")[0] for x in r["fake_peers"]}
    pex_msgs = Counter()
    arp = defaultdict(set)
    syn = defaultdict(set)
    closed, att_closed = {}, {}
    for p in packets(pcap):
        if p.proto == "tcp" and p.src == a and p.dst in targets and b"5:added" in p.payload:
            pex_msgs[p.dst] += p.payload.count(b"5:added")
        elif p.proto == "tcp" and p.src in targets and p.dst == a and p.flags & 0x05:
            closed.setdefault(p.src, ("FIN" if p.flags & 1 else "RST", p.ts))
        elif p.proto == "tcp" and p.src == a and p.dst in targets and p.flags & 0x05:
            att_closed.setdefault(p.dst, ("FIN" if p.flags & 1 else "RST", p.ts))
        elif p.proto == "arp" and p.arp_op == 1 and p.arp_spa in targets and p.arp_tpa in fake:
            arp[p.arp_spa].add(p.arp_tpa)
        elif p.proto == "tcp" and p.src in targets and p.dst in fake and p.flags & 0x02:
            syn[p.src].add(p.dst)
    per = {}
    texts = []
    for ip, c in targets.items():
        conn = next((x for x in r["connections"] if x.get("target", "").startswith(ip + ":")), {})
        per[ip] = {"software": c.version(), "ut_pex_messages_in_capture": pex_msgs[ip],
                   "their_ut_pex_id": conn.get("their_ut_pex_id"), "error": conn.get("error"),
                   "fake_peers_tried_arp": len(arp[ip]), "fake_peers_tried_syn": len(syn[ip]),
                   "target_fin_or_rst": closed.get(ip), "attacker_fin_or_rst": att_closed.get(ip),
                   "closed_first_by": (None if ip not in closed and ip not in att_closed else
                                       "target" if closed.get(ip, (0, 1e18))[1] < att_closed.get(ip, (0, 1e18))[1]
                                       else "attacker")}
        sw_name = c.software.split()[0]
        texts.append(f"{sw_name} ({ip}): {pex_msgs[ip]} ut_pex in the capture (its ut_pex id "
                     f"{conn.get('their_ut_pex_id')}), then tried {len(arp[ip])} of the fake "
                     f"peers (ARP, unanswered)"
                     + f"; the connection was closed first by the {per[ip]['closed_first_by']}")
    return {"per_target": per, "summary": "; ".join(texts)}


# --- 7 -----------------------------------------------------------------------------------------


def attack_reset_injection(lab, sw, attacker, victim, report, extra):
    peers = [c.host.ip for c in sw.clients]
    args = ["reset-injection", "--iface", "br0", "--duration", "22", "--injections", "6",
            "--ttl", "37", "--settle", "1"]
    for ip in peers:
        args += ["--peer", ip]
    p = gen(lab, None, args, report, 60)
    r = wait_gen(lab, p, report, 60)
    if not r.get("injections"):
        raise RuntimeError("reset-injection: no live connection to inject into")
    extra.update(targets=sorted({x["dst"] for x in r["injections"]}),
                 attackers=["on-path (the switch namespace, no address of its own)"],
                 spoofed_sources=sorted({x["src"].split(":")[0] for x in r["injections"]}),
                 truth={"injections": r["injections"],
                        "attacker_note": "scapy in the switch namespace, frames sent on br0 with "
                        "the spoofed peer's MAC; TTL 37 (the real peers send 64)"})
    return r


def observe_reset_injection(pcap, r, sw, extra):
    """Per injection: the forged packet in the capture, then (5 s) what each side did. The
    side the reset was sent to ("reset side") took it if, for TCP, its kernel then answers the
    other peer's segments with real RSTs (TTL 64), for uTP, it stops sending on that socket
    pair; frames already queued in its shaped egress (tc tbf) still leave for a few ms."""
    inj = r["injections"]
    ttl = r["ttl"]
    pk = [p for p in packets(pcap) if p.proto in ("tcp", "udp")]
    after = []
    for x in inj:
        s_ip, s_port = x["src"].rsplit(":", 1)
        d_ip, d_port = x["dst"].rsplit(":", 1)
        s_port, d_port = int(s_port), int(d_port)
        proto = "tcp" if x["kind"] == "tcp-rst" else "udp"
        fwd, back = (s_ip, s_port, d_ip, d_port), (d_ip, d_port, s_ip, s_port)
        in_cap = [p for p in pk if p.proto == proto and p.ttl == ttl and
                  (p.src, p.sport, p.dst, p.dport) == fwd]
        t0 = x["t"]
        later = [p for p in pk if p.proto == proto and t0 < p.ts <= t0 + 5 and p.ttl != ttl
                 and (p.src, p.sport, p.dst, p.dport) in (fwd, back)]
        from_spoofed = [p for p in later if p.src == s_ip]
        from_reset = [p for p in later if p.src == d_ip]
        rst_from_reset = [p for p in from_reset if proto == "tcp" and p.flags & 0x04]
        reset_payload = [p for p in from_reset if p.payload and not (proto == "tcp" and p.flags & 0x04)]
        active = any(p.src == d_ip and t0 - 1 <= p.ts <= t0 and p.ttl != ttl and p.proto == proto
                     and (p.src, p.sport, p.dst, p.dport) == back for p in pk)
        if proto == "tcp":
            took = bool(rst_from_reset)
        elif not active:
            took = None  # the reset side had sent nothing on it for 1 s: cannot tell
        else:
            took = not [p for p in from_reset if p.ts > t0 + 0.5]
        after.append({
            "injection": x, "in_capture": len(in_cap),
            "real_ttl_of_spoofed_side": x.get("real_ttl"),
            "took_effect": took,
            "reset_side_real_rsts_next_5s": len(rst_from_reset),
            "reset_side_payload_packets_next_5s": len(reset_payload),
            "reset_side_last_payload_after_ms": round((max(p.ts for p in reset_payload) - t0) * 1000)
            if reset_payload else None,
            "spoofed_peer_packets_next_5s": len(from_spoofed),
            "spoofed_peer_payload_bytes_next_5s": sum(len(p.payload) for p in from_spoofed),
        })
    tcp = [a for a in after if a["injection"]["kind"] == "tcp-rst"]
    utp = [a for a in after if a["injection"]["kind"] == "utp-reset"]
    lag = [a["reset_side_last_payload_after_ms"] for a in after if a["reset_side_last_payload_after_ms"] is not None]
    txt = (f"{len(tcp)} TCP RST and {len(utp)} uTP ST_RESET injected with TTL {ttl} "
           f"({sum(a['in_capture'] for a in after)} in the capture; the spoofed peers' real TTL "
           f"{sorted({a['real_ttl_of_spoofed_side'] for a in after})}); "
           f"{sum(1 for a in tcp if a['took_effect'])}/{len(tcp)} TCP RSTs took effect (the reset "
           f"side's kernel then answered the other peer with real RSTs, TTL 64), "
           f"{sum(1 for a in utp if a['took_effect'])}/{len(utp)} uTP resets (the reset side stopped "
           f"sending; {sum(1 for a in utp if a['took_effect'] is None)} on an idle connection: "
           f"cannot tell); the spoofed peer kept sending on "
           f"{sum(1 for a in after if a['spoofed_peer_packets_next_5s'])}/{len(after)}; queued "
           f"payload from the reset side kept leaving for up to {max(lag) if lag else 0} ms")
    return {"injections": after, "tcp_connections_seen": r.get("tcp_connections_seen"),
            "utp_connections_seen": r.get("utp_connections_seen"), "summary": txt}


ATTACKS = {
    "utp-forged": attack_utp_forged, "utp-reflection": attack_utp_reflection,
    "dht-reflection": attack_dht_reflection, "dht-sybil": attack_dht_sybil,
    "dht-eclipse": attack_dht_eclipse, "peer-list-poisoning": attack_peer_list_poisoning,
    "reset-injection": attack_reset_injection,
}
OBSERVE = {
    "utp-forged": observe_utp_forged, "utp-reflection": observe_utp_reflection,
    "dht-reflection": observe_dht_reflection, "dht-sybil": observe_dht_sybil,
    "dht-eclipse": observe_dht_eclipse, "peer-list-poisoning": observe_peer_list_poisoning,
    "reset-injection": observe_reset_injection,
}


# ---------------------------------------------------------------------------------------------
# churn: an ordinary swarm that must raise no alert


def churn(minutes, out_dir, work_root="/tmp/swarmwall-lab-attacks", log=print, snaplen=200):
    """Tracker, DHT bootstrap + 16 bare nodes, two torrents, six clients (libtorrent ×3,
    transmission ×2, aria2) with DHT, PEX and uTP where they have them; two join late; every
    interval one client is stopped and a new process started in its place (fresh state: new
    peer id, new DHT id, download from zero). Egress shaped (tc tbf, 2 Mbit/s per client),
    snaplen 200."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(work_root) / "churn"
    shutil.rmtree(work, ignore_errors=True)
    pcap = out_dir / "churn.pcap"
    started = time.time()
    total = minutes * 60.0
    events = []
    with netlab.Lab(CHURN_NET, work) as lab:
        th = lab.host("tracker", 2)
        tracker = Tracker(th, 6969, [])
        ann = [tracker.announce("http")]
        contents = [torrent.make_content(work / "content" / f"churn-{x}.bin", 8 << 20, f"churn-{x}")
                    for x in "ab"]
        tors = []
        for i, c in enumerate(contents):
            t = work / f"churn-{i}.torrent"
            _, ih = torrent.make_torrent(c, t, ann)
            tors.append((t, ih, c))
        tracker.infohashes = [ih for _, ih, _ in tors]
        bh = lab.host("dht-boot", 3)
        boot = DhtNode(bh, Cfg(port=6881, dht=True, tcp=False, utp=False))
        bootstrap = [bh.endpoint(6881)]
        sh = lab.host("dht-nodes", 4)
        swarm = DhtSwarm(sh, 60, 16, 6881, bootstrap[0])
        full = dict(dht=True, pex=True, utp=True, encryption="prefer")
        plan = [  # kind, seed, torrents (indexes), late start (fraction of the run)
            (Libtorrent, True, [0, 1], 0.0),
            (Transmission, True, [1, 0], 0.0),
            (Libtorrent, False, [0, 1], 0.0),
            (Transmission, False, [0, 1], 0.0),
            (Aria2, False, [0], 0.25),
            (Libtorrent, False, [1, 0], 0.45),
        ]
        clients = []
        for i, (kind, seed, idx, late) in enumerate(plan):
            h = lab.host(f"{'seed' if seed else 'leech'}{i}-{kind.__name__.lower()}", 11 + i)
            shape(h, 2000)
            cfg = dict(full)
            if kind is Aria2:
                cfg.pop("utp")
            first, rest = tors[idx[0]], [tors[j] for j in idx[1:]]
            c = kind(h, Cfg(port=PORT[kind], bootstrap=list(bootstrap), **cfg), first[0], first[2],
                     seed, extra=[(t, None, ct) for t, _, ct in rest])
            c.late = late
            clients.append(c)
        lab.capture(pcap, snaplen=snaplen)
        t0 = time.time()
        tracker.start()
        boot.start()
        swarm.start()
        time.sleep(2)
        for c in clients:
            if c.late == 0.0:
                c.start()
                events.append({"t": time.time(), "event": "start", "host": c.host.name})
                time.sleep(0.3)
        # restarts: leechers (and one seeder) in turn, about every total/8 s (at least 20 s)
        gap = max(20.0, total / 8)
        restart_at = [t0 + gap * (k + 1) for k in range(int(total // gap))]
        order = [2, 3, 4, 5, 0]
        k = 0
        while time.time() < t0 + total:
            now = time.time()
            for c in clients:
                if c.late and c.proc is None and now >= t0 + c.late * total:
                    c.start()
                    events.append({"t": time.time(), "event": "late start", "host": c.host.name})
            if restart_at and now >= restart_at[0]:
                restart_at.pop(0)
                c = clients[order[k % len(order)]]
                k += 1
                if c.proc is not None and now + 5 < t0 + total:
                    lab.stop(c.proc)
                    events.append({"t": time.time(), "event": "stop", "host": c.host.name})
                    _reset_state(c)
                    time.sleep(2)
                    c.start()
                    events.append({"t": time.time(), "event": "restart (new process, fresh state)",
                                   "host": c.host.name})
            if pcap.exists() and pcap.stat().st_size > (950 << 20):
                events.append({"t": time.time(), "event": "capture size limit reached: stop"})
                break
            time.sleep(1)
        for c in reversed(clients):
            if c.proc:
                lab.stop(c.proc)
        for p in (boot, swarm, tracker):
            lab.stop(p.proc)
        time.sleep(1)
        lab.stop_capture()
        hosts = [{"name": c.host.name, "ip": c.host.ip, "software": c.version(),
                  "config": c.describe(), "late_fraction": c.late} for c in clients]
        hosts += [{"name": th.name, "ip": th.ip, "role": "tracker", "software": tracker.version()},
                  {"name": bh.name, "ip": bh.ip, "role": "dht-bootstrap", "software": DhtNode.version()},
                  {"name": sh.name, "ips": swarm.ips, "role": "dht-nodes", "software": DhtNode.version()}]
    truth = {"category": "none", "infohashes": [ih for _, ih, _ in tors], "infohash": tors[0][1],
             "capture": pcap.name, "capture_point": "bridge", "snaplen": snaplen,
             "minutes": minutes, "capture_start": t0, "events": events, "hosts": hosts,
             "description": "ordinary swarm with churn: no attack; every alert is a false alert",
             "versions": versions(), "net": f"10.77.{CHURN_NET}.0/24",
             "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    (out_dir / "churn.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    secs = round(time.time() - started, 1)
    log(f"churn: {secs} s, {pcap} ({pcap.stat().st_size >> 20} MiB), {len(events)} events")
    return truth


def _reset_state(c):
    """Wipes a client's downloads and state so that the next process starts afresh."""
    h = c.host
    if not c.seed:
        shutil.rmtree(c.dl, ignore_errors=True)
        c.dl.mkdir(parents=True, exist_ok=True)
        c._done = False
    for name in ("transmission", "dht.dat", "status.json"):
        p = h.dir / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
    c.proc = None
