"""The lab's proxies (Debian packages): Dante as a SOCKS5 server (CONNECT and UDP ASSOCIATE,
no authentication) and tinyproxy as an HTTP proxy (CONNECT to any port, absolute-URI
requests), each on a host with one leg on the clients' bridge (`internal`) and one on the
swarm's (`external`), forwarding off: what crosses it, it relays itself.
"""

import subprocess
import time

from .clients import deb_version


class Dante:
    """danted: SOCKS5 on `internal`:`port`, connections and UDP relays out of `external`."""

    software = "dante-server"
    package = "dante-server"
    kind = "socks5"

    def __init__(self, host, internal, external, port=1080):
        self.host, self.internal, self.external, self.port = host, internal, external, port
        self.proc = None
        self.conf = host.dir / "danted.conf"

    @classmethod
    def version(cls):
        return f"{cls.software} {deb_version(cls.package)}"

    def config(self):
        return "\n".join([
            f"logoutput: {self.host.dir / 'danted.log'}",
            f"internal: {self.internal} port = {self.port}",
            f"external: {self.external}",
            # No authentication: clients arrive with method 0 (RFC 1928 "no authentication").
            "socksmethod: none",
            "clientmethod: none",
            "user.privileged: root",
            "user.unprivileged: nobody",
            # One UDP ASSOCIATE carries datagrams to many targets (DHT, uTP, UDP trackers):
            # do not connect(2) the relay's outside socket to the first one.
            "udp.connectdst: no",
            "timeout.negotiate: 30",
            "timeout.io: 0",
            "client pass {", "  from: 0.0.0.0/0 to: 0.0.0.0/0", "  log: error", "}",
            "socks pass {", "  from: 0.0.0.0/0 to: 0.0.0.0/0",
            "  command: connect udpassociate bindreply udpreply", "  log: error", "}",
            "",
        ])

    def start(self):
        self.conf.write_text(self.config())
        self.proc = self.host.spawn(["danted", "-f", str(self.conf), "-p",
                                     str(self.host.dir / "danted.pid"), "-N", "2"], "danted")
        self._wait()

    def _wait(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.host}: danted exited: " +
                                   (self.host.dir / "danted.log").read_text(errors="replace")[-2000:])
            r = self.host.run(["ss", "-ltnH", f"sport = :{self.port}"], check=False)
            if r.stdout.strip():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.host}: danted not listening on {self.port} within 10 s")

    def describe(self):
        return {"role": "socks5-proxy", "listen": f"{self.internal}:{self.port}",
                "external": self.external, "auth": "none",
                "commands": ["connect", "udpassociate"], "config": self.config().splitlines()}


class Tinyproxy:
    """tinyproxy: HTTP proxy on `internal`:`port`, no ConnectPort line (CONNECT to any
    port), no Allow line (every client), outgoing connections bound to `external`."""

    software = "tinyproxy"
    package = "tinyproxy-bin"
    kind = "http"

    def __init__(self, host, internal, external, port=8888):
        self.host, self.internal, self.external, self.port = host, internal, external, port
        self.proc = None
        self.dir = host.dir / "tinyproxy"
        self.conf = self.dir / "tinyproxy.conf"

    @classmethod
    def version(cls):
        return f"{cls.software} {deb_version(cls.package)}"

    def config(self):
        return "\n".join([
            "User nobody", "Group nogroup",
            f"Port {self.port}", f"Listen {self.internal}", f"Bind {self.external}",
            "Timeout 600", "MaxClients 200", "DisableViaHeader Yes",
            f'LogFile "{self.dir / "tinyproxy.log"}"', "LogLevel Info",
            f'PidFile "{self.dir / "tinyproxy.pid"}"',
            "",
        ])

    def start(self):
        self.dir.mkdir(exist_ok=True)
        self.dir.chmod(0o777)  # tinyproxy writes its log as nobody
        self.conf.write_text(self.config())
        self.proc = self.host.spawn(["tinyproxy", "-d", "-c", str(self.conf)], "tinyproxy")
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.host}: tinyproxy exited: " +
                                   (self.host.dir / "tinyproxy.log").read_text(errors="replace")[-2000:])
            r = self.host.run(["ss", "-ltnH", f"sport = :{self.port}"], check=False)
            if r.stdout.strip():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.host}: tinyproxy not listening on {self.port} within 10 s")

    def describe(self):
        return {"role": "http-proxy", "listen": f"{self.internal}:{self.port}",
                "external": self.external, "auth": "none",
                "connect_ports": "any (no ConnectPort line)", "config": self.config().splitlines()}


KINDS = {"socks5": Dante, "http": Tinyproxy}


def tool_version(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr) else "?"
