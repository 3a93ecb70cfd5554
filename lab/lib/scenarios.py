"""The lab's scenarios: who runs what, configured how, and what the ground truth is.

Every BitTorrent scenario runs with well-known ports (`fixed`: 6969 for the tracker, each
client's default listen port) and with random ports (`random`: tracker and every client on
ports drawn from 10000-64999), so that no score can come from port numbers.
"""

import datetime
import json
import random
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import background, dhtcheck, labels, netlab, proxies, shrink, torrent
from .clients import (Aria2, Cfg, DhtNode, DhtSwarm, Libtorrent, QbtTracker, Qbittorrent,
                      Rtorrent, Tracker, Transmission)

DEFAULT_PORT = {Transmission: 51413}
PROXY_PORT = {"socks5": 1080, "http": 8888}


@dataclass
class Peer:
    kind: type
    seed: bool = False
    cfg: dict = field(default_factory=dict)
    magnet: bool = False
    # behind the scenario's proxy, with no other route to the swarm
    proxied: bool = False


@dataclass
class Scenario:
    name: str
    net: int
    about: str
    peers: list
    tracker: str = "http"      # "http", "udp", "http+udp" (two tiers) or None
    dht_bootstrap: bool = False
    # bare DHT nodes besides the bootstrap one
    dht_nodes: int = 0
    notes: tuple = ()
    timeout: float = 120.0
    # "socks5" (Dante) or "http" (tinyproxy): proxied peers reach the swarm only through it
    # (uses nets `net` and `net + 1`)
    proxy: str = None
    # IPv6 only (fd77:<net>::/64; the tracker is qBittorrent's embedded one)
    ip6: bool = False
    # link MTU of every host (small: the kernel fragments larger UDP datagrams)
    mtu: int = None
    # "v1" (mktorrent, one torrent) or "v2" (a v2-only and a hybrid torrent, by libtorrent)
    torrents: str = "v1"


def _all(kinds, seed_kind, **cfg):
    return [Peer(seed_kind, seed=True, cfg=dict(cfg))] + [Peer(k, cfg=dict(cfg)) for k in kinds]


LEECHERS = [Transmission, Aria2, Libtorrent, Qbittorrent, Rtorrent]
V6_TCP_LEECHERS = [Transmission, Aria2, Libtorrent, Qbittorrent, Rtorrent]
V6_TRANSMISSION_UDP = (
    "transmission 3.00 is not here: it opens its IPv6 UDP socket (uTP, DHT) only when the host "
    "has a global unicast address (2000::/3), and the lab's are ULA (fd77::/16); in a first run "
    "it announced and got the peers, but sent no UDP packet, and answered qBittorrent's uTP "
    "SYNs with ICMPv6 port unreachable")
V6_DHT_NOTES = (
    V6_TRANSMISSION_UDP + "; with a magnet link "
    "here it logged \"DHT fd77:…: Address family for hostname not supported\" and got nothing",
    "rtorrent 0.9.8 is not here: with a magnet link and the bootstrap node added it sent no DHT "
    "packet over IPv6 and got nothing")

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

PROXY_NOTES = (
    "the proxied leechers sit on isolated ports of br0 with no route but the proxy's inside "
    "address; the proxy host (forwarding off) has a leg on br1, where the tracker, seeders and "
    "DHT live; the capture holds both bridges (merged)",
    "every proxied leecher reaches the swarm from the proxy's one outside address: the "
    "libtorrent seeders allow several connections per IP",
    "behind a proxy, libtorrent and qBittorrent announce port=1 and accept no incoming "
    "connection: every peer connection is an outgoing one through the proxy",
)


def _socks5(name, net, enc, about):
    return Scenario(
        name, net, about,
        [Peer(Libtorrent, seed=True, cfg=dict(encryption=enc, utp=True, dht=True)),
         Peer(Libtorrent, seed=True, cfg=dict(encryption=enc, dht=True)),
         Peer(Libtorrent, proxied=True, cfg=dict(encryption=enc, utp=True, dht=True)),
         Peer(Libtorrent, proxied=True, cfg=dict(encryption=enc, tcp=False, utp=True, dht=True)),
         Peer(Qbittorrent, proxied=True, cfg=dict(encryption=enc, utp=True, dht=True))],
        tracker="http+udp", dht_bootstrap=True, dht_nodes=8, proxy="socks5", timeout=90.0,
        notes=PROXY_NOTES + (
            "the torrent has two tiers, opentracker's HTTP and UDP announce URLs on one port; "
            "HTTP announces and peers go through SOCKS5 CONNECT, UDP announces, DHT and uTP "
            "through UDP ASSOCIATE (Dante relays from its outside address, one port per "
            "association)",
            "the uTP-only libtorrent leecher (TCP off) can reach the seeders only by uTP "
            "through the UDP relay",
            "qBittorrent has no DHT bootstrap setting: it learns DHT nodes from its peers' "
            "PORT messages"))


def _http_proxy(name, net, enc, about):
    return Scenario(
        name, net, about,
        [Peer(Libtorrent, seed=True, cfg=dict(encryption=enc)),
         Peer(Libtorrent, seed=True, cfg=dict(encryption=enc)),
         Peer(Libtorrent, proxied=True, cfg=dict(encryption=enc)),
         Peer(Qbittorrent, proxied=True, cfg=dict(encryption=enc))],
        tracker="http", proxy="http", timeout=90.0,
        notes=PROXY_NOTES + (
            "peers go through CONNECT, announces as GET http://tracker:port/announce?... "
            "(absolute URI) that tinyproxy forwards; an HTTP proxy carries no UDP, so no DHT, "
            "uTP or UDP tracker here",
            "aria2 is not in this scenario: its --all-proxy covers only its announces, its peer "
            "connections go direct (LAB-NOTES) and have no route here"))


V6_NOTES = (
    "IPv6 only: every host has fd77:<net>::<n>/64 (nodad) and no IPv4 address",
    "the tracker is qBittorrent's embedded HTTP tracker (qbittorrent-nox with no torrent): "
    "Debian's opentracker is built IPv4-only",
)

SCENARIOS.update({s.name: s for s in [
    _socks5("socks5", 140, "plain", "SOCKS5 (Dante): libtorrent and qBittorrent behind it with "
            "no other route; peers and HTTP announces by CONNECT, UDP announces, DHT and uTP by "
            "UDP ASSOCIATE; plaintext"),
    _socks5("socks5-mse", 142, "require-rc4", "the socks5 scenario with MSE/PE (RC4) required "
            "by every client"),
    _http_proxy("http-proxy", 144, "plain", "HTTP proxy (tinyproxy): libtorrent and qBittorrent "
                "behind it with no other route; peers by CONNECT, announces as absolute-URI "
                "GETs; plaintext"),
    _http_proxy("http-proxy-mse", 146, "require-rc4", "the http-proxy scenario with MSE/PE (RC4) "
                "required by every client"),
    Scenario("tcp-plain-v6", 101, "tcp-plain over IPv6 only: plaintext peer wire, HTTP tracker",
             _all(V6_TCP_LEECHERS, Transmission, encryption="plain"), ip6=True, notes=V6_NOTES),
    Scenario("utp-v6", 102, "utp over IPv6 only: libtorrent with TCP off, qBittorrent uTP-only",
             [Peer(Libtorrent, seed=True, cfg=dict(tcp=False, utp=True)),
              Peer(Libtorrent, cfg=dict(tcp=False, utp=True)),
              Peer(Qbittorrent, cfg=dict(tcp=False, utp=True))], ip6=True,
             notes=V6_NOTES + (V6_TRANSMISSION_UDP,)),
    Scenario("dht-magnet-v6", 103, "dht-magnet over IPv6 only: magnet links through a lab DHT "
             "(BEP 32 nodes6), PEX, uTP and TCP",
             [Peer(Libtorrent, seed=True, cfg=dict(dht=True, pex=True, utp=True)),
              Peer(Libtorrent, magnet=True, cfg=dict(dht=True, pex=True, utp=True)),
              Peer(Aria2, magnet=True, cfg=dict(dht=True, pex=True))],
             tracker=None, dht_bootstrap=True, dht_nodes=32, timeout=150.0, ip6=True,
             notes=V6_NOTES[:1] + V6_DHT_NOTES),
    Scenario("v2", 104, "BitTorrent v2: a v2-only and a hybrid torrent (libtorrent creates both), "
             "each leecher downloads both through the HTTP tracker",
             [Peer(Libtorrent, seed=True, cfg=dict(encryption="prefer", utp=True)),
              Peer(Libtorrent, cfg=dict(utp=True)),
              Peer(Libtorrent, cfg=dict(encryption="require-rc4")),
              Peer(Qbittorrent, cfg=dict(utp=True))],
             torrents="v2",
             notes=("v2 handshakes and announces carry the first 20 bytes of the SHA-256 "
                    "info-hash; a hybrid torrent is announced under both its v1 and that hash",
                    "transmission 3.00, aria2 1.36 and rtorrent 0.9.8 do not support v2: not in "
                    "this scenario")),
    Scenario("dht-frag", 105, "dht-magnet with a 296-byte link MTU: DHT replies with nodes "
             "(and uTP/TCP data) are IP-fragmented by the sending kernel",
             [Peer(Libtorrent, seed=True, cfg=dict(dht=True, pex=True, utp=True)),
              Peer(Libtorrent, magnet=True, cfg=dict(dht=True, pex=True, utp=True)),
              Peer(Transmission, magnet=True, cfg=dict(dht=True, pex=True, utp=True)),
              Peer(Aria2, magnet=True, cfg=dict(dht=True, pex=True))],
             tracker=None, dht_bootstrap=True, dht_nodes=32, timeout=150.0, mtu=296,
             notes=("every link has MTU 296: a UDP datagram of more than 268 bytes leaves its "
                    "sender as IP fragments (Linux fragments locally when DF is not set); "
                    "labels put every fragment in the flow of its datagram (reassembled by IP "
                    "identification)",)),
]})

PROXY_SCENARIOS = ["socks5", "socks5-mse", "http-proxy", "http-proxy-mse"]
V6_SCENARIOS = ["tcp-plain-v6", "utp-v6", "dht-magnet-v6"]
NEW_BT_SCENARIOS = PROXY_SCENARIOS + V6_SCENARIOS + ["v2", "dht-frag"]
# docs/accuracy.md (lab/accuracy) scores BT_SCENARIOS; `lab/run all` runs everything.
ALL = BT_SCENARIOS + NEW_BT_SCENARIOS + ["background", "obfuscated", "proxy-background"]
FIXED_ONLY = ("background", "obfuscated", "proxy-background")


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
    if name == "proxy-background":
        return background.run_proxy(prefix, work, net=150, log=log)
    sc = SCENARIOS[name]
    net = sc.net + (20 if ports == "random" else 0)
    rng = random.Random(f"{name}-{ports}-{seed}")
    pick = (lambda k: rng.randrange(10000, 65000)) if ports == "random" else (
        lambda k: DEFAULT_PORT.get(k, 6881))
    started = time.time()
    with netlab.Lab(net, work, ip6=sc.ip6, mtu=sc.mtu) as lab:
        # With a proxy: the proxied leechers on br0 (isolated ports: they reach only the
        # proxy), the proxy on both bridges (forwarding off), everything else on br1.
        far = {}
        proxy = None
        if sc.proxy:
            lab.bridge("br1")
            far = dict(bridge="br1", net=net + 1)
            ph = lab.router("proxy", [("br0", net, 1), ("br1", net + 1, 1)], forward=False)
            pport = PROXY_PORT[sc.proxy] if ports == "fixed" else rng.randrange(10000, 65000)
            proxy = proxies.KINDS[sc.proxy](ph, ph.ips[0], ph.ips[1], pport)
        contents = [torrent.make_content(work / "content" / f"swarmwall-lab-{tag}.bin",
                                         size_kb << 10, f"{name}-{seed}")]
        tracker = None
        announce = []
        if sc.tracker:
            th = lab.host("tracker", 2, **far)
            tport = 6969 if ports == "fixed" else rng.randrange(10000, 65000)
            tracker = (QbtTracker if sc.ip6 else Tracker)(th, tport, [])
            announce = [tracker.announce(t) for t in sc.tracker.split("+")]
        torrents = []  # (path, magnet, content, {v1, v2, v2_truncated, wire})
        if sc.torrents == "v2":
            contents.append(torrent.make_content(work / "content" / f"swarmwall-lab-{tag}-hybrid.bin",
                                                 size_kb << 10, f"{name}-{seed}-hybrid"))
            for c, mode in zip(contents, ("v2", "hybrid")):
                t = work / f"{mode}.torrent"
                _, hashes = torrent.make_torrent_v2(c, t, mode, announce)
                hashes["kind"] = mode
                torrents.append((t, None, c, hashes))
        else:
            _, ih = torrent.make_torrent(contents[0], work / "file.torrent", announce)
            torrents.append((work / "file.torrent", torrent.magnet(ih, contents[0].name), contents[0],
                             {"kind": "v1", "v1": ih, "v2": None, "v2_truncated": None, "wire": [ih]}))
        ih = torrents[0][3]["wire"][0]
        wire_hashes = [h for t in torrents for h in t[3]["wire"]]
        bootstrap = []
        dht_nodes = []
        swarm = None
        if sc.dht_bootstrap:
            bh = lab.host("dht-boot", 3, **far)
            bport = pick(DhtNode)
            dht_nodes.append(DhtNode(bh, Cfg(port=bport, dht=True, tcp=False, utp=False)))
            bootstrap = [bh.endpoint(bport)]
            if sc.dht_nodes:
                sh = lab.host("dht-nodes", 4, **far)
                swarm = DhtSwarm(sh, 200, sc.dht_nodes, pick(DhtNode), bootstrap[0])
        clients = []
        for i, p in enumerate(sc.peers):
            role = "seed" if p.seed else "leech"
            where = dict(isolated=True) if p.proxied else far
            h = lab.host(f"{role}{i}-{p.kind.__name__.lower()}", 11 + i, **where)
            cfg = Cfg(port=pick(p.kind), bootstrap=list(bootstrap), **p.cfg)
            if p.proxied:
                cfg = replace(cfg, proxy={"type": sc.proxy, "host": proxy.internal, "port": proxy.port})
            if cfg.encryption not in p.kind.encryptions:
                cfg = replace(cfg, encryption="require-rc4" if cfg.encryption.startswith("require") else "prefer")
            first, rest = torrents[0], torrents[1:]
            clients.append(p.kind(h, cfg, first[0], first[2], p.seed,
                                  magnet=first[1] if p.magnet and not p.seed else None,
                                  extra=[(t, m if p.magnet and not p.seed else None, c)
                                         for t, m, c, _ in rest]))
        lab.capture(f"{prefix}.pcap", bridges=("br0", "br1") if sc.proxy else ("br0",))
        if proxy:
            proxy.start()
        if tracker:
            tracker.infohashes = list(wire_hashes)
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
        every = lambda c: all(c.verified(x) == 1.0 for _, _, x, _ in torrents)
        done = (lambda c: c.done() and every(c)) if len(torrents) > 1 else (lambda c: c.done())
        complete = netlab.wait_until(lambda: all(done(c) for c in leechers), sc.timeout)
        time.sleep(2)
        fractions = {c.host.name: (round(c.fraction(), 3) if len(torrents) == 1 else
                                   [round(c.verified(x), 3) for _, _, x, _ in torrents])
                     for c in leechers}
        node_ids = {}
        for c in clients + dht_nodes:
            st = c.host.dir / "status.json"
            if st.exists():
                ids = json.loads(st.read_text()).get("dht_node_ids")
                if ids:
                    node_ids[c.host.ip] = ids
        lt_hashes = {}
        for c in clients:
            st = c.host.dir / "status.json"
            if st.exists():
                lt_hashes[c.host.name] = json.loads(st.read_text()).get("info_hashes")
        for c in reversed(clients):
            lab.stop(c.proc)
        for n in dht_nodes + ([swarm] if swarm else []):
            lab.stop(n.proc)
        if tracker:
            lab.stop(tracker.proc)
        if proxy:
            lab.stop(proxy.proc)
        time.sleep(1)
        lab.stop_capture()
        hosts = []
        if proxy:
            hosts.append({"name": proxy.host.name, "ip": proxy.internal, "ips": proxy.host.ips,
                          "role": proxy.describe()["role"], "software": proxy.version(),
                          "config": proxy.describe()})
        if tracker:
            hosts.append({"name": tracker.host.name, "ip": tracker.host.ip, "role": "tracker",
                          "software": tracker.version(), "config": tracker.describe()})
        for n in dht_nodes + ([swarm] if swarm else []):
            hosts.append({"name": n.host.name, "ip": n.host.ip, "role": "dht-node",
                          "software": DhtNode.version(), "config": n.describe()})
        for c in clients:
            hosts.append({"name": c.host.name, "ip": c.host.ip, "role": "bt-client",
                          "software": c.version(), "config": c.describe(),
                          "completed": c.seed or done(c)})
        client_ips = [c.host.ip for c in clients]
        proxied_ips = [c.host.ip for c, p in zip(clients, sc.peers) if p.proxied]
        bt_ips = client_ips + [n.host.ip for n in dht_nodes]
        bt_ips += swarm.ips if swarm else []
        if proxy:
            # Far side: what the proxy relays, it sends from its outside address.
            bt_ips.append(proxy.external)
        rules = [
            labels.Rule("icmp", "other:icmp", "icmp", "*", "*", basis="ICMP is never BitTorrent"),
            labels.Rule("icmp6", "other:icmp6", "icmp6", "*", "*",
                        basis="ICMPv6 (neighbour discovery, MLD) is never BitTorrent"),
            labels.Rule("igmp", "other:igmp", "igmp", "*", "*", basis="IGMP membership reports"),
        ]
        bt_rules = []
        if tracker:
            for kind in sc.tracker.split("+"):
                proto = "tcp" if kind == "http" else "udp"
                bt_rules.append(labels.Rule(
                    f"tracker-{kind}", f"bittorrent:tracker-{kind}", proto, bt_ips,
                    [tracker.host.ip], b_port=tracker.port,
                    basis=f"{tracker.software}'s {kind.upper()} port; only BT clients talk to it"))
        lsd_groups = ([labels.LSD_GROUP6] if sc.ip6 else
                      [labels.LSD_GROUP, f"10.77.{net}.255", "255.255.255.255"])
        bt_rules += [
            labels.Rule("lsd", "bittorrent:lsd", "udp", bt_ips, lsd_groups, b_port=6771,
                        basis="BEP 14 multicast group and port"),
            labels.Rule("peer-tcp", "bittorrent:peer-tcp*", "tcp", bt_ips, bt_ips,
                        refine="bt-tcp-handshake",
                        basis="TCP between BitTorrent clients: peer wire; plain/MSE from the bytes"),
            labels.Rule("peer-udp", "bittorrent:udp*", "udp", bt_ips, bt_ips, refine="bt-udp",
                        basis="UDP between BitTorrent clients: DHT and/or uTP, from the bytes"),
        ]
        if proxy:
            rules.append(labels.Rule(
                f"{proxy.kind}-proxy", "bittorrent:<inner>", "tcp", proxied_ips, [proxy.internal],
                b_port=proxy.port, refine="proxy-tcp", inner=bt_rules,
                basis=f"{proxy.software} on the proxy host: the only way out for the proxied "
                      "clients; the label is what the tunnel carries (inner rules)"))
            if sc.proxy == "socks5":
                rules.append(labels.Rule(
                    "socks5-udp", "bittorrent:<inner>", "udp", proxied_ips, [proxy.internal],
                    refine="socks5-udp", inner=bt_rules,
                    basis="SOCKS5 UDP ASSOCIATE relay: one row per target"))
        rules += bt_rules
        notes = list(sc.notes) + [f"all leechers complete: {complete}",
                                  f"fraction downloaded per leecher: {fractions}"]
        family = f"fd77:{net}::/64" if sc.ip6 else f"10.77.{net}.0/24"
        if sc.proxy:
            family += f" (clients) + 10.77.{net + 1}.0/24 (proxy outside and swarm)"
        extra = {"about": sc.about, "ports": ports, "infohash": ih, "content_kib": size_kb,
                 "ip": 6 if sc.ip6 else 4}
        extra["capture_dropped"] = lab.capture_dropped
        if sc.mtu:
            extra["mtu"] = sc.mtu
        if sc.torrents == "v2" or len(torrents) > 1:
            extra["torrents"] = [dict(t[3], name=t[2].name) for t in torrents]
            extra["infohashes"] = wire_hashes
            extra["libtorrent_info_hashes"] = lt_hashes
        dht = None
        if sc.dht_bootstrap:
            dht = dhtcheck.lookups(f"{prefix}.pcap", wire_hashes)
            extra["dht_torrents"] = wire_hashes
            extra["dht_node_ids"] = node_ids
            extra["dht_node_ids_seen"] = dht["node_ids_seen"]
            extra["dht_lookups"] = dht["per_sender"]
            extra["dht_lookups_basis"] = dhtcheck.BASIS
        counts = labels.write(prefix, tag, family, hosts, rules, notes, extra)
        frag = labels.fragment_count(f"{prefix}.pcap") if sc.mtu else None
    r = {"scenario": tag, "pcap": f"{prefix}.pcap", "complete": complete,
         "fractions": fractions, "seconds": round(time.time() - started, 1),
         "labels": counts, "infohash": ih,
         "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if dht:
        r["dht_lookups"] = dht["summary"]
    if frag is not None:
        r["ip_fragments"] = frag
    return r
