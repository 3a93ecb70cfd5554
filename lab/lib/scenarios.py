"""The lab's scenarios: who runs what, configured how, and what the ground truth is.

Every BitTorrent scenario runs with well-known ports (`fixed`: 6969 for the tracker, each
client's default listen port) and with random ports (`random`: tracker and every client on
ports drawn from 10000-64999), so that no score can come from port numbers.
"""

import datetime
import random
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import background, labels, netlab, shrink, torrent
from .clients import (Aria2, Cfg, DhtNode, DhtSwarm, Libtorrent, Qbittorrent, Rtorrent,
                      Tracker, Transmission)

DEFAULT_PORT = {Transmission: 51413}


@dataclass
class Peer:
    kind: type
    seed: bool = False
    cfg: dict = field(default_factory=dict)
    magnet: bool = False


@dataclass
class Scenario:
    name: str
    net: int
    about: str
    peers: list
    tracker: str = "http"      # "http", "udp" or None
    dht_bootstrap: bool = False
    # bare DHT nodes besides the bootstrap one
    dht_nodes: int = 0
    notes: tuple = ()
    timeout: float = 120.0


def _all(kinds, seed_kind, **cfg):
    return [Peer(seed_kind, seed=True, cfg=dict(cfg))] + [Peer(k, cfg=dict(cfg)) for k in kinds]


LEECHERS = [Transmission, Aria2, Libtorrent, Qbittorrent, Rtorrent]

SCENARIOS = {s.name: s for s in [
    Scenario("tcp-plain", 11, "HTTP tracker; plaintext peer wire over TCP between every client",
             _all(LEECHERS, Transmission, encryption="plain")),
    Scenario("tcp-mse", 12, "HTTP tracker; MSE/PE with RC4 required by every client that has it",
             _all([Transmission, Aria2, Libtorrent, Qbittorrent, Rtorrent], Libtorrent,
                  encryption="require-rc4")),
    Scenario("mse-plaintext", 13, "HTTP tracker; MSE/PE handshake required, plaintext payload "
             "selected (libtorrent, aria2, rtorrent offer it)",
             _all([Aria2, Libtorrent, Rtorrent], Libtorrent, encryption="require-plaintext")),
    Scenario("utp", 14, "HTTP tracker; uTP only (TCP disabled in libtorrent, uTP-only in "
             "qBittorrent; transmission prefers uTP but can fall back to TCP)",
             [Peer(Libtorrent, seed=True, cfg=dict(tcp=False, utp=True)),
              Peer(Libtorrent, cfg=dict(tcp=False, utp=True)),
              Peer(Transmission, cfg=dict(utp=True)),
              Peer(Qbittorrent, cfg=dict(tcp=False, utp=True))]),
    Scenario("dht-magnet", 15, "no tracker: a lab DHT bootstrap node, magnet links, PEX on, "
             "uTP and TCP (DHT and uTP share each client's UDP socket)",
             [Peer(Libtorrent, seed=True, cfg=dict(dht=True, pex=True, utp=True)),
              Peer(Libtorrent, magnet=True, cfg=dict(dht=True, pex=True, utp=True)),
              Peer(Transmission, magnet=True, cfg=dict(dht=True, pex=True, utp=True)),
              Peer(Aria2, magnet=True, cfg=dict(dht=True, pex=True)),
              Peer(Rtorrent, magnet=True, cfg=dict(dht=True, pex=True))],
             tracker=None, dht_bootstrap=True, dht_nodes=32, timeout=150.0,
             notes=("transmission 3.00 searches the DHT only once its routing table holds more "
                    "than 8 nodes, 4 of them good: the lab runs 32 bare DHT nodes (one process, "
                    "addresses .200-.231) besides the bootstrap node",)),
    Scenario("udp-tracker", 16, "UDP tracker (BEP 15); plaintext peers",
             _all([Transmission, Aria2, Libtorrent, Qbittorrent, Rtorrent], Transmission,
                  encryption="plain", udp_tracker=True),
             tracker="udp",
             notes=("aria2 runs with --enable-dht=true: its manual says that option also "
                    "enables UDP tracker support; it has no DHT entry point and no DHT peer",)),
    Scenario("lsd", 17, "Local Service Discovery only (no tracker, no DHT)",
             [Peer(Libtorrent, seed=True, cfg=dict(lsd=True)),
              Peer(Transmission, cfg=dict(lsd=True)),
              Peer(Libtorrent, cfg=dict(lsd=True)),
              Peer(Qbittorrent, cfg=dict(lsd=True))],
             tracker=None),
    Scenario("mixed", 18, "every client, encryption preferred, HTTP tracker, DHT, PEX and uTP "
             "where the client has them",
             [Peer(Transmission, seed=True, cfg=dict(encryption="prefer", dht=True, pex=True, utp=True)),
              Peer(Libtorrent, seed=True, cfg=dict(encryption="prefer", dht=True, pex=True, utp=True)),
              Peer(Transmission, cfg=dict(encryption="prefer", dht=True, pex=True, utp=True)),
              Peer(Aria2, cfg=dict(encryption="prefer", dht=True, pex=True)),
              Peer(Libtorrent, cfg=dict(encryption="prefer", dht=True, pex=True, utp=True)),
              Peer(Qbittorrent, cfg=dict(encryption="prefer", dht=True, pex=True, utp=True)),
              Peer(Rtorrent, cfg=dict(encryption="prefer", dht=True, pex=True))],
             dht_bootstrap=True, dht_nodes=4),
]}

BT_SCENARIOS = list(SCENARIOS)
ALL = BT_SCENARIOS + ["background", "obfuscated"]


def versions(kinds):
    return {k.software: k.version() for k in kinds}


def run(name, ports="fixed", out_dir="lab/out", size_mb=4, seed=1, work_root=None, log=print,
        size_kb=None, small=False):
    """Runs one scenario; returns a dict describing what happened. `size_kb` overrides
    `size_mb`; `small` shrinks the kept capture (see shrink.py) after labelling."""
    r = _run(name, ports, out_dir, size_kb or size_mb * 1024, seed, work_root, log)
    if small:
        pcap = Path(r["pcap"])
        shrink.shrink(pcap, pcap)
    return r


def _run(name, ports, out_dir, size_kb, seed, work_root, log):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = name if ports == "fixed" else f"{name}-random"
    prefix = out_dir / tag
    work = Path(work_root or "/tmp/swarmwall-lab") / tag
    shutil.rmtree(work, ignore_errors=True)
    if name == "background":
        return background.run(prefix, work, net=19, log=log)
    if name == "obfuscated":
        return background.run_obfuscated(prefix, work, net=29, log=log)
    sc = SCENARIOS[name]
    net = sc.net + (20 if ports == "random" else 0)
    rng = random.Random(f"{name}-{ports}-{seed}")
    pick = (lambda k: rng.randrange(10000, 65000)) if ports == "random" else (
        lambda k: DEFAULT_PORT.get(k, 6881))
    started = time.time()
    with netlab.Lab(net, work) as lab:
        content = torrent.make_content(work / "content" / f"swarmwall-lab-{tag}.bin",
                                       size_kb << 10, f"{name}-{seed}")
        tracker = None
        announce = []
        if sc.tracker:
            th = lab.host("tracker", 2)
            tport = 6969 if ports == "fixed" else rng.randrange(10000, 65000)
            tracker = Tracker(th, tport, [])
            announce = [tracker.announce(sc.tracker)]
        _, ih = torrent.make_torrent(content, work / "file.torrent", announce)
        mag = torrent.magnet(ih, content.name)
        bootstrap = []
        dht_nodes = []
        swarm = None
        if sc.dht_bootstrap:
            bh = lab.host("dht-boot", 3)
            bport = pick(DhtNode)
            dht_nodes.append(DhtNode(bh, Cfg(port=bport, dht=True, tcp=False, utp=False)))
            bootstrap = [f"{bh.ip}:{bport}"]
            if sc.dht_nodes:
                sh = lab.host("dht-nodes", 4)
                swarm = DhtSwarm(sh, 200, sc.dht_nodes, pick(DhtNode), bootstrap[0])
        clients = []
        for i, p in enumerate(sc.peers):
            role = "seed" if p.seed else "leech"
            h = lab.host(f"{role}{i}-{p.kind.__name__.lower()}", 11 + i)
            cfg = Cfg(port=pick(p.kind), bootstrap=list(bootstrap), **p.cfg)
            if cfg.encryption not in p.kind.encryptions:
                cfg = replace(cfg, encryption="require-rc4" if cfg.encryption.startswith("require") else "prefer")
            clients.append(p.kind(h, cfg, work / "file.torrent", content, p.seed,
                                  magnet=mag if p.magnet and not p.seed else None))
        lab.capture(f"{prefix}.pcap")
        if tracker:
            tracker.infohashes = [ih]
            tracker.start()
        for n in dht_nodes:
            n.start()
        if swarm:
            swarm.start()
        if dht_nodes:
            time.sleep(2)
        for c in clients:
            c.start()
            time.sleep(0.3)
        leechers = [c for c in clients if not c.seed]
        complete = netlab.wait_until(lambda: all(c.done() for c in leechers), sc.timeout)
        time.sleep(2)
        fractions = {c.host.name: round(c.fraction(), 3) for c in leechers}
        for c in reversed(clients):
            lab.stop(c.proc)
        for n in dht_nodes + ([swarm] if swarm else []):
            lab.stop(n.proc)
        time.sleep(1)
        lab.stop_capture()
        hosts = []
        if tracker:
            hosts.append({"name": tracker.host.name, "ip": tracker.host.ip, "role": "tracker",
                          "software": Tracker.version(), "config": tracker.describe()})
        for n in dht_nodes + ([swarm] if swarm else []):
            hosts.append({"name": n.host.name, "ip": n.host.ip, "role": "dht-node",
                          "software": DhtNode.version(), "config": n.describe()})
        for c in clients:
            hosts.append({"name": c.host.name, "ip": c.host.ip, "role": "bt-client",
                          "software": c.version(), "config": c.describe(),
                          "completed": c.seed or c.done()})
        bt_ips = [c.host.ip for c in clients] + [n.host.ip for n in dht_nodes]
        bt_ips += swarm.ips if swarm else []
        rules = [
            labels.Rule("icmp", "other:icmp", "icmp", "*", "*", basis="ICMP is never BitTorrent"),
            labels.Rule("igmp", "other:igmp", "igmp", "*", "*", basis="IGMP membership reports"),
        ]
        if tracker:
            proto = "tcp" if sc.tracker == "http" else "udp"
            rules.append(labels.Rule(f"tracker-{sc.tracker}", f"bittorrent:tracker-{sc.tracker}", proto,
                                     bt_ips, [tracker.host.ip], b_port=tracker.port,
                                     basis=f"opentracker's {sc.tracker.upper()} port; only BT clients talk to it"))
        rules += [
            labels.Rule("lsd", "bittorrent:lsd", "udp", bt_ips,
                        [labels.LSD_GROUP, f"10.77.{net}.255", "255.255.255.255"], b_port=6771,
                        basis="BEP 14 multicast group and port"),
            labels.Rule("peer-tcp", "bittorrent:peer-tcp*", "tcp", bt_ips, bt_ips,
                        refine="bt-tcp-handshake",
                        basis="TCP between BitTorrent clients: peer wire; plain/MSE from the bytes"),
            labels.Rule("peer-udp", "bittorrent:udp*", "udp", bt_ips, bt_ips, refine="bt-udp",
                        basis="UDP between BitTorrent clients: DHT and/or uTP, from the bytes"),
        ]
        notes = list(sc.notes) + [f"all leechers complete: {complete}",
                                  f"fraction downloaded per leecher: {fractions}"]
        extra = {"about": sc.about, "ports": ports, "infohash": ih, "content_kib": size_kb}
        counts = labels.write(prefix, tag, f"10.77.{net}.0/24", hosts, rules, notes, extra)
    return {"scenario": tag, "pcap": f"{prefix}.pcap", "complete": complete,
            "fractions": fractions, "seconds": round(time.time() - started, 1),
            "labels": counts, "infohash": ih,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
