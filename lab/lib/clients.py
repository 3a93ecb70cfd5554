"""Drivers for the real BitTorrent software of the lab (all from Debian packages).

Each client is configured explicitly for a scenario — listen port, encryption, TCP/uTP, DHT,
LSD, PEX — and started in its host's namespace. `done()` says whether a leecher has the whole
file, byte for byte.

Encryption modes, mapped onto each client's own settings:
  plain              prefer (or only allow) plaintext
  prefer             prefer MSE/PE, accept plaintext
  require-rc4        MSE/PE only, RC4 for the payload
  require-plaintext  MSE/PE handshake only, then plaintext payload (where a client offers it)
"""

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import netlab, torrent

LIB = Path(__file__).resolve().parent


def deb_version(package):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return r.stdout.strip() or "not installed"


@dataclass
class Cfg:
    port: int
    encryption: str = "plain"
    tcp: bool = True
    utp: bool = False
    dht: bool = False
    lsd: bool = False
    pex: bool = False
    bootstrap: list = field(default_factory=list)
    # the torrent announces to a UDP tracker (aria2 needs its DHT switched on for that)
    udp_tracker: bool = False
    # a proxy for everything ({type: socks5 | http | ..., host, port}); libtorrent, qBittorrent
    proxy: dict = None


def split_endpoint(ep):
    """("host", port) of "ip:port" or "[ipv6]:port"."""
    host, _, port = ep.rpartition(":")
    return host.strip("[]"), int(port)


class Client:
    software = "?"
    package = "?"
    has_utp = False
    has_dht = True
    has_lsd = True
    encryptions = ("plain", "prefer", "require-rc4")

    def __init__(self, host, cfg, torrent_path, content, seed, magnet=None, extra=()):
        """`extra`: more torrents for the same client, as (torrent path, magnet or None,
        content path) — downloaded (or seeded) alongside the first."""
        self.host = host
        self.cfg = cfg
        self.torrent = Path(torrent_path) if torrent_path else None
        self.magnet = magnet
        self.content = Path(content)
        self.seed = seed
        self.extra = [(Path(t) if t else None, m, Path(c)) for t, m, c in extra]
        self.dl = host.dir / "data"
        self.dl.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self._done = False
        if seed:
            for c in [self.content] + [c for _, _, c in self.extra]:
                shutil.copyfile(c, self.dl / c.name)

    def extra_sources(self):
        """What to add besides the first torrent: magnet links or .torrent paths."""
        return [m or str(t) for t, m, _ in self.extra]

    def verified(self, content, piece_len=1 << 16):
        """The fraction of `content`'s pieces present in the download, byte for byte (a
        preallocated or partly written file counts only what really arrived; the content is
        pseudo-random, so zeros never match)."""
        content = Path(content)
        total = max(1, -(-content.stat().st_size // piece_len))
        for name in (content.name, content.name + ".part"):
            f = self.dl / name
            if f.exists():
                break
        else:
            return 0.0
        have = 0
        with open(content, "rb") as a, open(f, "rb") as b:
            while True:
                x = a.read(piece_len)
                if not x:
                    break
                if b.read(piece_len) == x:
                    have += 1
        return have / total

    @classmethod
    def version(cls):
        return f"{cls.software} {deb_version(cls.package)}"

    def describe(self):
        """The configuration, for the labels file."""
        c = self.cfg
        d = {"role": "seeder" if self.seed else "leecher", "listen": c.port,
             "encryption": c.encryption, "tcp": c.tcp, "utp": c.utp and self.has_utp,
             "dht": c.dht, "lsd": c.lsd, "pex": c.pex}
        if self.magnet:
            d["magnet"] = True
        if c.bootstrap:
            d["bootstrap"] = c.bootstrap
        if c.proxy:
            d["proxy"] = dict(c.proxy)
        if self.host.ip6:
            d["ip"] = 6
        return d

    def start(self):
        raise NotImplementedError

    def done(self):
        """Whether the whole file is there, identical to the original."""
        if self._done or self.seed:
            return True
        f = self.dl / self.content.name
        try:
            if f.stat().st_size != self.content.stat().st_size:
                return False
        except FileNotFoundError:
            return False
        if any(self.dl.glob("*.aria2")) or any(self.dl.glob("*.part")):
            return False
        self._done = torrent.sha256(f) == torrent.sha256(self.content)
        return self._done

    def fraction(self):
        """How much of the file has arrived (by size on disk; for reports only)."""
        if self.done():
            return 1.0
        f = self.dl / self.content.name
        try:
            return min(1.0, f.stat().st_size / self.content.stat().st_size)
        except FileNotFoundError:
            return 0.0


class Transmission(Client):
    software = "transmission-daemon"
    package = "transmission-daemon"
    has_utp = True

    def start(self):
        c, h = self.cfg, self.host
        conf = h.dir / "transmission"
        conf.mkdir(exist_ok=True)
        enc = {"plain": 0, "prefer": 1, "require-rc4": 2}[c.encryption]
        settings = {
            "download-dir": str(self.dl), "incomplete-dir-enabled": False,
            "peer-port": c.port, "peer-port-random-on-start": False,
            "port-forwarding-enabled": False,
            **({"bind-address-ipv6": h.ip} if h.ip6 else {"bind-address-ipv4": h.ip}),
            "encryption": enc, "utp-enabled": c.utp, "dht-enabled": c.dht,
            "lpd-enabled": c.lsd, "pex-enabled": c.pex,
            # With no IPv4 address but loopback, getaddrinfo's AI_ADDRCONFIG (libevent's
            # bind) finds no 127.0.0.1: an IPv6-only host serves RPC on ::1.
            "rpc-enabled": True, "rpc-bind-address": "::1" if h.ip6 else "127.0.0.1", "rpc-port": 9091,
            "rpc-authentication-required": False, "rpc-whitelist-enabled": False,
            "rpc-host-whitelist-enabled": False, "start-added-torrents": True,
            "message-level": 2, "ratio-limit-enabled": False, "idle-seeding-limit-enabled": False,
            "speed-limit-up-enabled": False, "speed-limit-down-enabled": False,
            "cache-size-mb": 4, "prefetch-enabled": False,
        }
        (conf / "settings.json").write_text(json.dumps(settings, indent=1))
        if c.bootstrap:
            # tr-dht.c reads "host port" lines from dht.bootstrap in the config directory.
            (conf / "dht.bootstrap").write_text(
                "".join("%s %d\n" % split_endpoint(b) for b in c.bootstrap))
        self.proc = h.spawn(["transmission-daemon", "-f", "-g", str(conf)], "transmission")
        rpc = ["transmission-remote", "[::1]:9091" if h.ip6 else "127.0.0.1:9091"]
        if not netlab.wait_until(lambda: h.run(rpc + ["-l"], check=False).returncode == 0, 15):
            raise RuntimeError(f"{h}: transmission RPC did not come up")
        for what in [self.magnet or str(self.torrent)] + self.extra_sources():
            h.run(rpc + ["-a", what, "-w", str(self.dl)])
        if self.seed:
            h.run(rpc + ["-t", "all", "-v"], check=False)


class Aria2(Client):
    software = "aria2c"
    package = "aria2"
    encryptions = ("plain", "prefer", "require-rc4", "require-plaintext")

    def start(self):
        c, h = self.cfg, self.host
        crypto = {
            "plain": ["--bt-require-crypto=false", "--bt-min-crypto-level=plain"],
            "prefer": ["--bt-require-crypto=false", "--bt-min-crypto-level=plain"],
            "require-rc4": ["--bt-require-crypto=true", "--bt-min-crypto-level=arc4"],
            "require-plaintext": ["--bt-require-crypto=true", "--bt-min-crypto-level=plain"],
        }[c.encryption]
        b = lambda v: "true" if v else "false"
        dht4, dht6 = (False, c.dht) if h.ip6 else (c.dht or c.udp_tracker, False)
        argv = ["aria2c", "--no-conf", f"--dir={self.dl}", f"--listen-port={c.port}",
                f"--dht-listen-port={c.port}", f"--enable-dht={b(dht4)}",
                f"--enable-dht6={b(dht6)}",
                f"--dht-file-path={h.dir / 'dht.dat'}", f"--dht-file-path6={h.dir / 'dht6.dat'}",
                f"--bt-enable-lpd={b(c.lsd)}",
                f"--enable-peer-exchange={b(c.pex)}", "--seed-ratio=0.0", "--seed-time=1000",
                "--file-allocation=none", "--summary-interval=0", "--console-log-level=notice",
                "--bt-stop-timeout=0", "--enable-rpc=false", "--auto-save-interval=1",
                f"--bt-external-ip={h.ip}"] + crypto
        if h.ip6:
            argv.append(f"--dht-listen-addr6={h.ip}")
        for node in c.bootstrap[:1]:
            if h.ip6:
                argv.append(f"--dht-entry-point6={node}")  # "[ip]:port"
            else:
                argv.append(f"--dht-entry-point={node}")
        if self.seed:
            argv += ["--check-integrity=true", "--bt-seed-unverified=true"]
        argv.append(self.magnet or str(self.torrent))
        argv += self.extra_sources()
        self.proc = h.spawn(argv, "aria2c")


class Libtorrent(Client):
    software = "libtorrent-rasterbar (python3-libtorrent)"
    package = "python3-libtorrent"
    has_utp = True
    encryptions = ("plain", "prefer", "require-rc4", "require-plaintext")

    def start(self):
        c, h = self.cfg, self.host
        conf = {
            "listen": h.ip, "port": c.port, "tcp": c.tcp, "utp": c.utp, "dht": c.dht,
            "lsd": c.lsd, "pex": c.pex, "encryption": c.encryption, "bootstrap": c.bootstrap,
            "save": str(self.dl), "seed": self.seed, "peer_timeout": 20,
        }
        if c.proxy:
            conf["proxy"] = c.proxy
        if self.magnet:
            conf["magnet"] = self.magnet
        elif self.torrent:
            conf["torrent"] = str(self.torrent)
        conf["extra"] = [{"magnet": m} if m else {"torrent": str(t)} for t, m, _ in self.extra]
        path = h.dir / "lt.json"
        path.write_text(json.dumps(conf))
        self.status = h.dir / "status.json"
        self.proc = h.spawn(["/usr/bin/python3", str(LIB / "lt_node.py"), str(path)], "libtorrent")

    def describe(self):
        d = super().describe()
        d["tcp"] = self.cfg.tcp
        return d


class DhtNode(Libtorrent):
    """A libtorrent DHT node with no torrent: the lab's bootstrap node."""

    def __init__(self, host, cfg):
        self.host, self.cfg, self.seed = host, cfg, True
        self.magnet = self.torrent = None
        self.extra = []
        self.dl = host.dir / "data"
        self.dl.mkdir(parents=True, exist_ok=True)

    def describe(self):
        d = {"role": "dht-node", "listen": self.cfg.port, "dht": True}
        if self.cfg.bootstrap:
            d["bootstrap"] = self.cfg.bootstrap
        return d

    def done(self):
        return True


class DhtSwarm:
    """Many bare libtorrent DHT nodes on extra addresses of one host, in one process: a lab
    DHT big enough for clients that wait for several good nodes before searching."""

    software = DhtNode.software
    package = DhtNode.package

    def __init__(self, host, first_octet, count, port, bootstrap):
        self.host, self.port, self.bootstrap = host, port, bootstrap
        self.ips = [host.add_address(first_octet + i) for i in range(count)]

    def start(self):
        argv = ["/usr/bin/python3", str(LIB / "lt_dht_nodes.py"), str(self.port),
                self.bootstrap or "-"] + self.ips
        self.proc = self.host.spawn(argv, "dht-nodes")

    def describe(self):
        return {"role": "dht-nodes", "addresses": self.ips, "listen": self.port,
                "bootstrap": self.bootstrap}


class Qbittorrent(Client):
    software = "qbittorrent-nox"
    package = "qbittorrent-nox"
    has_utp = True
    has_dht = True

    def start(self):
        c, h = self.cfg, self.host
        prof = h.dir / "qbt"
        conf = prof / "qBittorrent" / "config"
        conf.mkdir(parents=True, exist_ok=True)
        enc = {"plain": 2, "prefer": 0, "require-rc4": 1}[c.encryption]
        proto = "Both" if c.tcp and c.utp else ("UTP" if c.utp else "TCP")
        b = lambda v: "true" if v else "false"
        # Behind a proxy no interface binding: with one, its uTP through the SOCKS5 UDP relay
        # broke (LAB-NOTES). 4.5.2 keys: Network/Proxy/* (Type None|HTTP|SOCKS5|SOCKS4),
        # BitTorrent/Session/ProxyPeerConnections, .../ProxyHostnameLookup.
        bind = [] if c.proxy else [f"Session\\Interface=eth0", f"Session\\InterfaceAddress={h.ip}"]
        proxy = []
        if c.proxy:
            auth = bool(c.proxy.get("user"))
            proxy = ["[Network]", f"Proxy\\Type={c.proxy['type'].split('_')[0].upper()}",
                     f"Proxy\\IP={c.proxy['host']}", f"Proxy\\Port={c.proxy['port']}",
                     f"Proxy\\Authentication={b(auth)}", "Proxy\\OnlyForTorrents=false",
                     f"Proxy\\Username={c.proxy.get('user', '')}",
                     f"Proxy\\Password={c.proxy.get('password', '')}", "PortForwardingEnabled=false", ""]
        (conf / "qBittorrent.conf").write_text("\n".join([
            "[LegalNotice]", "Accepted=true", "",
            "[BitTorrent]",
            f"Session\\Port={c.port}", f"Session\\Encryption={enc}", f"Session\\BTProtocol={proto}",
            f"Session\\DHTEnabled={b(c.dht)}", f"Session\\LSDEnabled={b(c.lsd)}",
            f"Session\\PeXEnabled={b(c.pex)}", f"Session\\DefaultSavePath={self.dl}",
            "Session\\AnonymousModeEnabled=false", "Session\\QueueingSystemEnabled=false",
            "Session\\AnnounceToAllTrackers=true", "Session\\AnnounceToAllTiers=true",
            f"Session\\ProxyPeerConnections={b(bool(c.proxy))}",
            f"Session\\ProxyHostnameLookup={b(bool(c.proxy))}",
            *bind,
            "", *proxy, "[Preferences]", "WebUI\\Enabled=false", "Connection\\UPnP=false",
            # No GeoIP database download (download.db-ip.com): through a proxy it would be a
            # CONNECT to the outside world.
            "Connection\\ResolvePeerCountries=false",
            "General\\Locale=en", "",
        ]))
        argv = ["qbittorrent-nox", f"--profile={prof}", f"--save-path={self.dl}"]
        if self.seed:
            argv.append("--skip-hash-check")
        argv.append(self.magnet or str(self.torrent))
        argv += self.extra_sources()
        self.proc = h.spawn(argv, "qbittorrent", env={"HOME": str(prof), "QT_QPA_PLATFORM": "offscreen"})


class Rtorrent(Client):
    software = "rtorrent"
    package = "rtorrent"
    has_utp = False
    has_lsd = False
    encryptions = ("plain", "prefer", "require-rc4", "require-plaintext")

    def start(self):
        c, h = self.cfg, self.host
        session = h.dir / "rtorrent-session"
        session.mkdir(exist_ok=True)
        enc = {
            "plain": "none",
            "prefer": "allow_incoming,try_outgoing,enable_retry",
            "require-rc4": "allow_incoming,try_outgoing,require,require_RC4",
            "require-plaintext": "allow_incoming,try_outgoing,require,prefer_plaintext",
        }[c.encryption]
        rc = h.dir / "rtorrent.rc"
        rc.write_text("\n".join([
            f"directory.default.set = {self.dl}",
            f"session.path.set = {session}",
            f"network.port_range.set = {c.port}-{c.port}",
            "network.port_random.set = no",
            # rtorrent 0.9.8 refuses an IPv6 bind address ("not an af_inet address")
            *([] if h.ip6 else [f"network.bind_address.set = {h.ip}",
                                f"network.local_address.set = {h.ip}"]),
            f"protocol.encryption.set = {enc}",
            f"dht.mode.set = {'on' if c.dht else 'disable'}",
            f"dht.port.set = {c.port}",
            f"protocol.pex.set = {'yes' if c.pex else 'no'}",
            "trackers.use_udp.set = yes",
            "pieces.hash.on_completion.set = no",
            "system.daemon.set = true",
            f"log.open_file = \"main\", {h.dir / 'rtorrent-main.log'}",
            "log.add_output = \"info\", \"main\"",
            # DHT nodes can be added only once the DHT runs, after the configuration is read.
            *[f"schedule2 = lab_dht_{i}, 2, 0, \"dht.add_node={n}\"" for i, n in enumerate(c.bootstrap)],
            *[f"load.start_verbose = {x}" for x in [self.magnet or self.torrent] + self.extra_sources()],
            "",
        ]))
        self.proc = h.spawn(["rtorrent", "-n", "-o", f"import={rc}"], "rtorrent",
                            env={"HOME": str(h.dir), "TERM": "dumb"})


class Tracker:
    """opentracker: HTTP and UDP on one port, whitelisting the lab's info-hashes."""

    software = "opentracker"
    package = "opentracker"

    def __init__(self, host, port, infohashes):
        self.host, self.port, self.infohashes = host, port, infohashes

    @classmethod
    def version(cls):
        return f"{cls.software} {deb_version(cls.package)}"

    def start(self):
        h = self.host
        # opentracker refuses to keep root: it chroots into its directory and becomes nobody.
        root = h.dir / "chroot"
        root.mkdir(exist_ok=True)
        root.chmod(0o755)
        wl = root / "whitelist"
        wl.write_text("".join(f"{ih}\n" for ih in self.infohashes))
        wl.chmod(0o644)
        self.proc = h.spawn(["opentracker", "-i", h.ip, "-p", str(self.port), "-P", str(self.port),
                             "-w", "whitelist", "-d", str(root), "-u", "nobody"], "opentracker",
                            cwd=str(root))
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(f"{h}: opentracker exited: " + (h.dir / "opentracker.log").read_text())

    def describe(self):
        return {"role": "tracker", "http": f"{self.port}/tcp", "udp": f"{self.port}/udp",
                "whitelist": list(self.infohashes)}

    def announce(self, scheme="http"):
        return f"{scheme}://{self.host.endpoint(self.port)}/announce"


class QbtTracker:
    """qBittorrent's embedded HTTP tracker (qbittorrent-nox with no torrent): the lab's IPv6
    tracker — Debian's opentracker is built IPv4-only ("Tracker is V4 only!"). It listens on
    every address (dual stack), answers compact `peers`/`peers6`, and has no whitelist."""

    software = "qbittorrent-nox (embedded tracker)"
    package = "qbittorrent-nox"

    def __init__(self, host, port, infohashes):
        self.host, self.port, self.infohashes = host, port, infohashes

    @classmethod
    def version(cls):
        return f"{cls.software} {deb_version(cls.package)}"

    def start(self):
        h = self.host
        prof = h.dir / "qbt-tracker"
        conf = prof / "qBittorrent" / "config"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "qBittorrent.conf").write_text("\n".join([
            "[LegalNotice]", "Accepted=true", "",
            "[BitTorrent]", "TrackerEnabled=true", "Session\\DHTEnabled=false",
            "Session\\LSDEnabled=false", "Session\\PeXEnabled=false", "Session\\Port=1",
            "Session\\Interface=lo", "",
            "[Preferences]", f"Advanced\\trackerPort={self.port}", "WebUI\\Enabled=false",
            "Connection\\UPnP=false", "General\\Locale=en", "",
        ]))
        self.proc = h.spawn(["qbittorrent-nox", f"--profile={prof}"], "qbt-tracker",
                            env={"HOME": str(prof), "QT_QPA_PLATFORM": "offscreen"})
        ok = netlab.wait_until(lambda: h.run(["ss", "-ltnH", f"sport = :{self.port}"],
                                             check=False).stdout.strip() != "", 15)
        if not ok:
            raise RuntimeError(f"{h}: qBittorrent's tracker not listening on {self.port}")

    def describe(self):
        return {"role": "tracker", "http": f"{self.port}/tcp", "udp": None,
                "whitelist": None, "note": "qBittorrent's embedded tracker"}

    def announce(self, scheme="http"):
        assert scheme == "http"
        return f"http://{self.host.endpoint(self.port)}/announce"
