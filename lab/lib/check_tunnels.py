#!/usr/bin/python3
"""Checks the tunnel labels of a proxy capture against tshark's own dissection.

usage: check_tunnels.py OUT/NAME     (reads NAME.pcap, NAME.flows.csv, NAME.labels.json)

- every TCP row with a socks5:/socks4: tunnel: tshark's SOCKS dissector (`-d tcp.port==P,socks`)
  must show the same command and target; a UDP ASSOCIATE row must be command 3;
- every http-connect:/http-proxy: row: tshark's HTTP dissector must show `CONNECT host:port`
  or an absolute URI to that host and port;
- inner kinds: a row labelled peer-tcp or peer-tcp-mse-plaintext must hold the plaintext
  handshake ("\\x13BitTorrent protocol"), a peer-tcp-mse or -nopayload one must not; a
  tracker-http row must hold "GET /announce" or "GET http://...announce";
- every SOCKS5 UDP relay row: the datagrams of its 5-tuple whose SOCKS header (read from
  tshark's udp.payload) names its target must number its `packets`, and DHT (a "1:y1:" in the
  inner datagram) / uTP (a uTP header) must be in the label exactly when present;
- the rows of a relay 5-tuple must add up to tshark's packet count of that 5-tuple.
Prints one line per check that failed and a summary; exit status 1 if any failed.
"""

import csv
import ipaddress
import json
import subprocess
import sys
from collections import Counter, defaultdict


def tshark(pcap, args):
    r = subprocess.run(["tshark", "-r", pcap, "-n"] + args, capture_output=True, text=True,
                       timeout=600)
    return [l.split("\t") for l in r.stdout.splitlines()]


def endpoint(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main(prefix):
    pcap = f"{prefix}.pcap"
    meta = json.load(open(f"{prefix}.labels.json"))
    rows = list(csv.DictReader(open(f"{prefix}.flows.csv")))
    proxies = {}
    for h in meta["hosts"]:
        if h["role"] in ("socks5-proxy", "http-proxy"):
            ip, port = h["config"]["listen"].rsplit(":", 1)
            proxies[(ip, int(port))] = h["role"]
    fails, checked = [], Counter()

    def fail(row, why):
        fails.append(f"{row['proto']} {row['ip_a']}:{row['port_a']} {row['ip_b']}:{row['port_b']} "
                     f"{row['label']} {row['tunnel']}: {why}")

    # --- tshark's view of each proxy connection, keyed by (client ip, client port) ----------
    seen, socks_req = {}, {}
    for (pip, pport), role in proxies.items():
        if role == "socks5-proxy":
            for f in tshark(pcap, ["-d", f"tcp.port=={pport},socks", "-Y",
                                   f"socks && ip.dst=={pip} && tcp.dstport=={pport}", "-T", "fields",
                                   "-e", "ip.src", "-e", "tcp.srcport", "-e", "socks.version",
                                   "-e", "socks.command", "-e", "socks.dst", "-e", "socks.dstV6",
                                   "-e", "socks.remote_name", "-e", "socks.v4a_dns_name",
                                   "-e", "socks.port", "-e", "socks.dstport"]):
                f += [""] * (10 - len(f))
                src, sport, ver, cmd, dst, dst6, name, name4a, dport, dport4 = f[:10]
                dport = dport or dport4
                # the dissector fills the request's fields over the client's packets: merge
                # the first non-empty value of each
                m = socks_req.setdefault((src, sport), {})
                for k, v in (("ver", ver), ("cmd", cmd), ("dst", name or name4a or dst6 or dst),
                             ("port", dport)):
                    if v and k not in m:
                        m[k] = v
            for (src, sport), m in socks_req.items():
                if "cmd" in m:
                    seen[(src, sport)] = (f"socks{m.get('ver', '?')}", int(m["cmd"]),
                                          endpoint(m.get("dst", "?"), m.get("port", "0")))
        else:
            for f in tshark(pcap, ["-d", f"tcp.port=={pport},http", "-Y",
                                   f"http.request && ip.dst=={pip} && tcp.dstport=={pport}",
                                   "-T", "fields", "-e", "ip.src", "-e", "tcp.srcport",
                                   "-e", "http.request.method", "-e", "http.request.uri"]):
                src, sport, method, uri = (f + [""] * 4)[:4]
                if (src, sport) in seen:
                    continue
                if method == "CONNECT":
                    seen[(src, sport)] = ("http-connect", 0, uri)
                elif uri.startswith("http://"):
                    auth = uri[7:].split("/", 1)[0]
                    if not auth.rsplit(":", 1)[-1].isdigit() or auth.endswith("]"):
                        auth += ":80"
                    seen[(src, sport)] = ("http-proxy", 0, auth)
    # TCP connections that carry the plaintext handshake / an announce
    hs, ann = set(), set()
    for f in tshark(pcap, ["-Y", 'tcp && frame contains "BitTorrent protocol"', "-T", "fields",
                           "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport",
                           "-e", "ipv6.src", "-e", "ipv6.dst"]):
        f += [""] * 6
        a, b = (f[0] or f[4], f[1]), (f[2] or f[5], f[3])
        hs.add(frozenset([a, b]))
    for f in tshark(pcap, ["-Y", 'tcp && (frame contains "GET /announce" || '
                           'frame matches "GET http://[^ ]*/announce")', "-T", "fields",
                           "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport"]):
        ann.add(frozenset([(f[0], f[1]), (f[2], f[3])]))

    relay_rows = defaultdict(list)
    for row in rows:
        t = row.get("tunnel", "")
        key = frozenset([(row["ip_a"], row["port_a"]), (row["ip_b"], row["port_b"])])
        if row["proto"] == "udp" and t.startswith("socks5:"):
            relay_rows[(row["ip_a"], row["port_a"], row["ip_b"], row["port_b"])].append(row)
            continue
        if row["proto"] != "tcp":
            continue
        client = None
        for (pip, pport) in proxies:
            if (row["ip_b"], int(row["port_b"])) == (pip, pport):
                client = (row["ip_a"], row["port_a"])
            elif (row["ip_a"], int(row["port_a"])) == (pip, pport):
                client = (row["ip_b"], row["port_b"])
        lab = row["label"]
        if client is not None:
            checked["proxy connections"] += 1
            ts = seen.get(client)
            if lab == "non-bittorrent:socks5-udp-associate":
                if not ts or ts[1] != 3:
                    fail(row, f"tshark: {ts}, expected UDP ASSOCIATE")
                continue
            if not t:
                if lab != "unlabeled":
                    fail(row, "a proxy connection without tunnel")
                continue
            kind, target = t.split(":", 1)
            if not ts or ts[0] != kind.replace("socks4a", "socks4") or ts[2] != target:
                fail(row, f"tshark sees {ts}")
        # inner / ordinary kind checks
        if lab in ("bittorrent:peer-tcp", "bittorrent:peer-tcp-mse-plaintext"):
            checked["handshake present"] += 1
            if key not in hs:
                fail(row, "no plaintext handshake in the capture")
        elif lab in ("bittorrent:peer-tcp-mse", "bittorrent:peer-tcp-nopayload"):
            checked["handshake absent"] += 1
            if key in hs:
                fail(row, "a plaintext handshake in the capture")
        elif lab == "bittorrent:tracker-http":
            checked["announce present"] += 1
            if key not in ann:
                fail(row, "no GET .../announce in the capture")

    # --- SOCKS5 UDP relays --------------------------------------------------------------
    for (ca, cp, ra, rp), group in relay_rows.items():
        per, total = Counter(), 0
        kinds = defaultdict(set)
        ipf = "ipv6" if ":" in ca else "ip"
        flt = f"udp && {ipf}.addr=={ca} && {ipf}.addr=={ra} && udp.port=={cp} && udp.port=={rp}"
        # one line per datagram (IP fragments reassembled by tshark): count its IP packets
        for f in tshark(pcap, ["-Y", flt, "-T", "fields", "-e", "udp.payload", "-e", "ip.fragment.count",
                               "-e", "ipv6.fragment.count"]):
            f += ["", "", ""]
            n = int(f[1] or f[2] or 1)
            total += n
            b = bytes.fromhex(f[0]) if f[0] else b""
            if len(b) < 10 or b[:2] != b"\0\0":
                per["?"] += n
                continue
            at = b[3]
            if at == 1:
                host, k = str(ipaddress.IPv4Address(b[4:8])), 8
            elif at == 4:
                host, k = str(ipaddress.IPv6Address(b[4:20])), 20
            else:
                host, k = b[5:5 + b[4]].decode(), 5 + b[4]
            target = endpoint(host, int.from_bytes(b[k:k + 2], "big"))
            per[target] += n
            inner = b[k + 2:]
            if inner[:1] == b"d" and b"1:y1:" in inner:
                kinds[target].add("dht")
            elif len(inner) >= 20 and inner[0] & 15 == 1 and inner[0] >> 4 <= 4:
                kinds[target].add("utp")
        rows_total = sum(int(r["packets"]) for r in group)
        checked["udp relay 5-tuples"] += 1
        if rows_total != total:
            fail(group[0], f"rows add up to {rows_total} packets, tshark counts {total}")
        for r in group:
            checked["udp relay targets"] += 1
            target = r["tunnel"].split(":", 1)[1]
            if per[target] != int(r["packets"]):
                fail(r, f"tshark: {per[target]} datagrams to/from {target}")
            lab = r["label"]
            if ("dht" in lab.split(":")[-1].split("+")) != ("dht" in kinds[target]):
                fail(r, f"DHT seen by tshark payloads: {'dht' in kinds[target]}")
            if ("peer-utp" in lab) != ("utp" in kinds[target]):
                fail(r, f"uTP header seen: {'utp' in kinds[target]}")
    for line in fails:
        print("MISMATCH", line)
    print(f"{prefix}: {sum(checked.values())} checks ({dict(checked)}), {len(fails)} mismatches")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
